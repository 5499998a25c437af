"""Analog tile arrays: the backend that puts one synapse's weights on simulated crossbars.

An :class:`AnalogTile` is attached as ``synapse.tile`` (and becomes its backend); the synapse keeps calling
``backend.linear / linear_t / conv / conv_t`` with its ``weight``, which the tile keeps equal to
the *effective* weight stored by the devices::

    W = w_scale * (w_dev + write_offset)      (w_dev in the device's relative units)

Reads go through the periphery of every tile (:mod:`.tiles`, :mod:`.periphery`): weight read
noise, DAC on the inputs, per-tile partial sums, output noise and ADC on each partial sum, IR
drop; noise is redrawn per read, per phase or per batch (:class:`NoiseStreams`). Converter
bounds and noise are in device units (``w_dev * x``), so a card means the same on every layer.

Updates never write ``W`` directly: :meth:`AnalogTile.update` turns a desired change ``dW`` into
signed pulse counts per device and applies them through the device's update rule
(:func:`.devices.apply_pulses`):

* ``pulsed``: ``n = round(dW / (w_scale dw_min))``, stochastic or deterministic rounding;
* ``mixed`` (mixed precision, Nandakumar et al. 2018): a digital accumulator ``chi += dW /
  w_scale`` transfers whole pulses ``n = trunc(chi / dw_min)`` and keeps the remainder;
* ``ideal``: ``w_dev += dW / w_scale`` exactly (clipped to the device bounds), for ablations.

Pulses are counted per tile array (the endurance and energy proxy).

The weight scale maps the initialization onto the device range: the initial ``max |W|``
becomes ``weight_range`` times the device's smaller bound (aihwkit's weight scaling).
"""

from __future__ import annotations

import torch
from torch import nn

from . import periphery as P
from .devices import (DeviceParams, DeviceState, _STATE_FIELDS, apply_pulses, nominal_dw_min, program,
                      redraw_write_noise, sample_device_state, settle, weight_scale)
from .tiles import check_tile_shape, conv_read, conv_read_t, linear_read, linear_read_t


class AnalogTile(nn.Module):
    """Device state, periphery and update rule of one synapse's weight on a tile array."""

    def __init__(self, weight: torch.Tensor, params: DeviceParams, periph: P.PeripheryParams,
                 max_rows: int = 512, max_cols: int = 512, update: str = "pulsed",
                 rounding: str = "stochastic", weight_range: float = 0.5, seed: int = 0,
                 kernel: str = "torch"):
        super().__init__()
        check_tile_shape(max_rows, max_cols)
        self.params = params
        self.periph = periph
        self.max_rows, self.max_cols = int(max_rows), int(max_cols)
        self.update_mode, self.rounding, self.kernel = update, rounding, kernel
        self.dw_min = nominal_dw_min(params)
        gen = torch.Generator().manual_seed(int(seed))
        state = sample_device_state(params, weight.shape, gen, dtype=weight.dtype)
        for k in _STATE_FIELDS:
            self.register_buffer(f"dev_{k}", getattr(state, k))
        bound = min(abs(params.w_max), abs(params.w_min))
        w_abs = float(weight.detach().abs().max())
        self.w_scale = (w_abs / (weight_range * bound)) if w_abs > 0 else 1.0
        self.register_buffer("w_dev", program(weight.detach() / self.w_scale, state, params, gen))
        self.register_buffer("write_offset", torch.zeros_like(weight))
        self.register_buffer("chi", torch.zeros_like(weight))
        self.register_buffer("pulses", torch.zeros((), dtype=torch.int64))
        self.update_gen = torch.Generator().manual_seed(int(seed) + 1)
        self.noise = P.NoiseStreams(int(seed) + 2, periph.noise_policy)
        self._noisy = periph.w_noise_std > 0 or periph.out_noise_std > 0
        self._w_unit = weight_scale(params)

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> DeviceState:
        return DeviceState(**{k: getattr(self, f"dev_{k}") for k in _STATE_FIELDS})

    def effective_weight(self) -> torch.Tensor:
        return self.w_scale * (self.w_dev + self.write_offset)

    def get_extra_state(self) -> dict:
        return {"w_scale": self.w_scale, "update_rng": self.update_gen.get_state(),
                "noise": self.noise.state_dict()}

    def set_extra_state(self, state: dict) -> None:
        self.w_scale = float(state["w_scale"])
        self.update_gen.set_state(state["update_rng"])
        self.noise.load_state_dict(state["noise"])

    def begin_batch(self) -> None:
        self.noise.next_batch()

    def begin_phase(self) -> None:
        self.noise.next_phase()

    # ------------------------------------------------------------------ periphery
    def _read_weight(self, w: torch.Tensor, stream: int) -> torch.Tensor:
        std = self.periph.w_noise_std
        if std <= 0:
            return w
        g = self.noise.generator(stream)
        return w + (std * self._w_unit * self.w_scale) * torch.randn(w.shape, generator=g, dtype=w.dtype)

    def _dac(self, x: torch.Tensor) -> torch.Tensor:
        return P.dac(x, self.periph)

    def _adc_fn(self, stream: int):
        p, s = self.periph, self.w_scale
        if p.out_bits is None and p.out_bound is None and p.out_noise_std <= 0:
            return lambda t: t
        g = self.noise.generator(stream) if p.out_noise_std > 0 else None

        def adc(t: torch.Tensor) -> torch.Tensor:
            t = t / s
            if g is not None:
                t = t + p.out_noise_std * torch.randn(t.shape, generator=g, dtype=t.dtype)
            return s * P.adc(t, p)

        return adc

    def _ir(self, y: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.periph.ir_drop <= 0:
            return y
        return P.apply_ir_drop(y, x, w, self.periph.ir_drop, max(float(x.abs().max()), 1e-12),
                               self.w_scale * self._w_unit)

    # ------------------------------------------------------------------ reads (backend protocol)
    def linear(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        w = self._read_weight(w, 0)
        y = linear_read(x, w, self.max_rows, self._dac, self._adc_fn(1))
        return self._ir(y, x, w)

    def linear_t(self, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        w = self._read_weight(w, 2)
        return linear_read_t(y, w, self.max_cols, self._dac, self._adc_fn(3))

    def conv(self, x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
        w = self._read_weight(w, 0)
        return conv_read(x, w, stride, padding, self.max_rows, self._dac, self._adc_fn(1))

    def conv_t(self, y: torch.Tensor, w: torch.Tensor, stride: int, padding: int, output_padding) -> torch.Tensor:
        w = self._read_weight(w, 2)
        return conv_read_t(y, w, stride, padding, output_padding, self.max_cols, self._dac, self._adc_fn(3))

    # ------------------------------------------------------------------ updates
    def pulse_counts(self, dw_dev: torch.Tensor) -> torch.Tensor:
        """Signed pulses per device for a desired change ``dw_dev`` (device units)."""
        if self.update_mode == "mixed":
            self.chi += dw_dev
            n = torch.trunc(self.chi / self.dw_min)
            self.chi -= n * self.dw_min
            return n.to(torch.int64)
        r = dw_dev / self.dw_min
        if self.rounding == "stochastic":
            lo = torch.floor(r)
            u = torch.rand(r.shape, generator=self.update_gen, dtype=r.dtype)
            return (lo + (u < (r - lo)).to(r.dtype)).to(torch.int64)
        return torch.round(r).to(torch.int64)

    @torch.no_grad()
    def update(self, delta_w: torch.Tensor) -> torch.Tensor:
        """Apply the desired change ``delta_w`` (effective units) through the devices; return the
        new effective weight."""
        dw_dev = delta_w / self.w_scale
        state = self.state
        if self.update_mode == "ideal":
            self.w_dev.copy_(settle(self.w_dev + dw_dev, state, self.params))
            return self.effective_weight()
        if self.kernel == "fused" and self.w_dev.device.type == "cpu":
            # rounding, pulses and write noise in one parallel numba pass, in place (w_dev is
            # always settled), random numbers seeded by one draw from update_gen
            # (kernels.fused_update); mixed: whole pulses from chi first
            from .kernels import draw_seed, fused_update

            change = self.pulse_counts(dw_dev) if self.update_mode == "mixed" else dw_dev
            _, total = fused_update(self.w_dev, change, self.dw_min, state, self.params,
                                    draw_seed(self.update_gen), self.rounding,
                                    write_offset=self.write_offset, out=self.w_dev, settled=True)
            self.pulses += total
            return self.effective_weight()
        n = self.pulse_counts(dw_dev)
        if bool((n != 0).any()):
            self.pulses += n.abs().sum()
            self.w_dev.copy_(apply_pulses(self.w_dev, n, state, self.params, self.update_gen, backend=self.kernel))
            self.write_offset.copy_(redraw_write_noise(self.write_offset, n, self.params, self.update_gen))
        return self.effective_weight()

    def extra_repr(self) -> str:
        return (f"rule={self.params.rule}, update={self.update_mode}, tiles={self.max_rows}x{self.max_cols}, "
                f"w_scale={self.w_scale:.4g}")

