"""The analog storage backend: one synapse's weight on an array of simulated crossbar tiles.

A synapse owns its storage (DESIGN section 2); the builder gives a synapse an
:class:`AnalogStorage` instead of the digital one. The storage holds the device state and is the
only thing that changes it:

* **Reads** (forward and transposed, dense and conv) go through the periphery in physical order
  (:mod:`.reads`): noise management (optional abs-max input scaling), DAC on the driven lines,
  the weight as this read sees it (weight read noise), the per-tile analog product with IR drop,
  output noise, the ADC of each tile for each read, then the digital sum of the tiles' partials.
* **Noise policy.** Weight read noise is drawn per read, per relaxation phase or per mini-batch.
  Under ``per_phase`` and ``per_batch`` the forward and the transposed reads of the synapse see
  the *same* draw, so the transposed read stays the adjoint of the forward read and the
  relaxation keeps descending one energy. Draws come from generators on the weight's device
  seeded by a hash of (seed, tile, batch, phase, read, purpose).
* **Updates.** :meth:`commit` takes the change the optimizer proposed (:attr:`proposal`) and
  :meth:`apply_update` sends it as pulses
  (:mod:`.engine`): ``pulsed`` with ``pulse_scheme`` ``rounded`` (per-device counts, stochastic
  or deterministic rounding, at most ``bl`` per update) or ``bitstream`` (aihwkit's stochastic
  pulse trains built from the update's outer-product vectors), ``mixed`` (a digital accumulator
  chi transfers whole pulses, at most ``bl`` per update, and keeps the remainder) or ``ideal``
  (the exact change within the device bounds; ablation). Bit-stream trains reach the devices by
  ``pulse_accumulation``: ``net`` (one net count per device per batch) or ``per_vector``
  (aihwkit's vector-by-vector update, :func:`.engine.per_vector_pulses`); ``bl_management``
  adapts each vector's train length (aihwkit's ``update_bl_management``). Pulses are counted per tile array
  (``pulses``) and per device (``wear``): the endurance and energy proxy.
* **Backprop through the tile** (the BP twin differentiates forward reads with autograd; EP and
  PC do not differentiate through reads, and gradcheck's references switch to ``ideal``): the
  value is the analog read; ``bp_backward: analog`` (aihwkit, ``simulator/tiles/functions.py``)
  makes the input gradient the analog transposed read of the output gradient (a real read:
  noise, DAC, ADC, counted), ``ideal`` the straight-through estimator (the ideal product's
  gradient, not aihwkit's). The weight gradient is the ideal outer product either way.
  Transposed reads (``linear_t``, ``conv_t``) keep the straight-through gradient.
* **Read counters** ``reads`` and ``bm_rereads`` (int64 buffers on the weight's device, in the
  state dict): tile reads per (sample, tile, conv patch) and bound-management re-reads.
* **Event counters** ``events`` (:class:`~analog_ep.synapses.counters.EventCounter`, in the state
  dict): per phase and read kind the reads' hardware events from the tile geometry (row blocks of
  ``max_rows`` lines, channel-aligned for convs, times column blocks of ``max_cols``, split by
  ``periphery.tiling``) and the re-reads; per update the set / reset pulses, rows written, row
  slots and pulse rounds (device tensors). ``count_events: false`` (``events.enabled``) skips
  all counting, these buffers' too. :meth:`g_mean_us` gives the cells' mean conductance.

The stored weight is ``W = w_scale (w_dev + write_offset)`` with ``w_dev`` in the device's
relative units, held nowhere else: ``weight`` computes it (cached until the devices change).
The parameter that receives gradients and optimizer state, ``param`` (``proposal``), holds the
change the optimizer proposes: zero between updates, the proposed ``delta`` after the
optimizer's step, which :meth:`commit` turns into pulses (storage protocol,
:mod:`analog_ep.synapses.storage`). ``w_scale`` is the weight mapping's digital scale
(:class:`~analog_ep.analog.cards.WeightMapping`, aihwkit's ``MappingParameter``): ``identity``
programs the weights unscaled (``w_scale = 1``, aihwkit's default; weights beyond a device's
bounds clip at programming); ``omega`` maps the initial ``max |W|`` onto ``omega`` device units
(``w_scale = max |W| / omega``, aihwkit's ``weight_scaling_omega``), with ``omega`` defaulting
to ``weight_range`` times the device's smaller bound (the mapping of older runs).
Weights are set onto the devices by :meth:`program_weights` only (programming noise, and
aihwkit's write noise on set).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..synapses.counters import EventCounter, dense_geometry, update_kind
from . import engine as E
from . import kernels as K
from . import periphery as P
from . import reads as R
from . import streams as S
from .pair import drift, program, to_conductances
from .periphery import NoisePolicy, PeripheryParams
from .population import STATE_FIELDS as _STATE_FIELDS
from .population import DeviceState, sample_device_state, settle
from .rules import DeviceParams, nominal_dw_min, weight_scale

# purposes of the random streams of one tile (the last element of every stream key)
_DRAWS, _PROGRAM, _ROUND, _PULSE, _WRITE, _BITS, _W_NOISE, _OUT_FWD, _OUT_T, _BM_PASS = range(10)

BP_BACKWARDS = ("analog", "ideal")
_PER_BATCH, _PER_READ = NoisePolicy.PER_BATCH.value, NoisePolicy.PER_READ.value   # looked up once, not per read

_GENERATORS: dict = {}
"""One ``torch.Generator`` per device for the read-noise draws, reseeded with each draw's key."""


class _AnalogBackward(torch.autograd.Function):
    """A forward read whose backward is aihwkit's: the input gradient is the analog transposed
    read of the output gradient (``read_t``, through the periphery: a real read with its own
    noise), the weight gradient the ideal outer product (``w_grad``; it becomes pulses)."""

    @staticmethod
    def forward(ctx, x, w, y, read_t, w_grad):
        ctx.save_for_backward(x)
        ctx.read_t, ctx.w_grad = read_t, w_grad
        return y.detach().clone()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        gx = ctx.read_t(g) if ctx.needs_input_grad[0] else None
        gw = ctx.w_grad(x, g) if ctx.needs_input_grad[1] else None
        return gx, gw, None, None, None



class AnalogStorage(nn.Module):
    """Device state, periphery and pulse updates of one synapse's weight on a tile array."""

    def __init__(self, weight: torch.Tensor, params: DeviceParams, periph: PeripheryParams, *,
                 max_rows: int = 512, max_cols: int = 512, update: str = "pulsed",
                 pulse_scheme: str = "rounded", rounding: str = "stochastic", bl: int = 31,
                 update_management: bool = True, weight_range: float = 0.5, seed: int = 0,
                 tile_index: int = 0, mapping: str = "omega", omega: float | None = None,
                 bp_backward: str = "analog", pulse_accumulation: str = "net", bl_management: bool = False):
        super().__init__()
        self.params, self.periph = params, periph
        self.max_rows, self.max_cols = int(max_rows), int(max_cols)
        self.update_mode, self.pulse_scheme, self.rounding = update, pulse_scheme, rounding
        self.bl, self.update_management = int(bl), bool(update_management)
        if pulse_accumulation not in E.ACCUMULATIONS:
            raise ConfigError(f"pulse_accumulation: unknown accumulation {pulse_accumulation!r}; valid: "
                              f"{', '.join(E.ACCUMULATIONS)}")
        if pulse_accumulation == "per_vector" and update == "pulsed" and pulse_scheme != "bitstream":
            raise ConfigError(f"pulse_accumulation: per_vector applies each example's pulse trains, and pulse_scheme "
                              f"{pulse_scheme} has no trains (rounded counts); use pulse_scheme bitstream or net")
        self.pulse_accumulation, self.bl_management = pulse_accumulation, bool(bl_management)
        self.seed, self.tile_index = int(seed), int(tile_index)
        if bp_backward not in BP_BACKWARDS:
            raise ValueError(f"bp_backward: must be one of {', '.join(BP_BACKWARDS)}, got {bp_backward!r}")
        self.bp_backward = bp_backward
        self.dw_min = nominal_dw_min(params)
        self.g_unit = weight_scale(params)
        device = weight.device  # draws and programming happen on the CPU (seeded), then move there
        weight = weight.detach().cpu()
        gen = torch.Generator().manual_seed(S.stream_key(self.seed, self.tile_index, _DRAWS))
        state = sample_device_state(params, weight.shape, gen, dtype=weight.dtype)
        for k in _STATE_FIELDS:
            self.register_buffer(f"dev_{k}", getattr(state, k))
        if mapping == "identity":
            if omega is not None:
                raise ValueError(f"the identity mapping takes no omega, got {omega!r}")
            self.w_scale = 1.0
        elif mapping == "omega":
            if omega is None:  # the legacy mapping: weight_range x the device's smaller bound
                bound = min(abs(params.w_max), abs(params.w_min))
                omega = weight_range * bound
            w_abs = float(weight.abs().max())
            self.w_scale = (w_abs / omega) if w_abs > 0 else 1.0
        else:
            raise ValueError(f"unknown weight mapping {mapping!r}; valid: identity, omega")
        self.mapping, self.omega = mapping, omega
        self.has_write_noise = getattr(params, "write_noise_std", 0.0) > 0
        self.register_buffer("w_dev", torch.empty_like(weight))
        self.register_buffer("write_offset", torch.zeros_like(weight) if self.has_write_noise else None)
        self.programs = 0  # programmings so far (a key of their random streams)
        self.program_weights(weight, generator=gen)
        self.register_buffer("chi", torch.zeros_like(weight) if update == "mixed" else None)
        self.register_buffer("pulses", torch.zeros((), dtype=torch.int64))
        self.register_buffer("reads", torch.zeros((), dtype=torch.int64))
        self.register_buffer("bm_rereads", torch.zeros((), dtype=torch.int64))
        # the counters' values when the ranks last summed them (data parallel; not saved: a loaded
        # checkpoint's counters are already global sums)
        self.register_buffer("_summed", torch.zeros(2, dtype=torch.int64), persistent=False)
        self.register_buffer("wear", torch.zeros(weight.shape, dtype=torch.int32))
        self.proposal = nn.Parameter(torch.zeros_like(weight))
        kind, rows, cols = dense_geometry(weight.shape)
        if kind == "conv":
            kk = weight.shape[2] * weight.shape[3]
            tile_rows = [c * kk for c in R.conv_block_sizes(weight.shape[1], tuple(weight.shape[2:]), self.max_rows,
                                                              periph.tiling)]
        else:
            tile_rows = R.split_sizes(rows, self.max_rows, periph.tiling)
        self.events = EventCounter(kind, rows, cols, tile_rows, R.split_sizes(cols, self.max_cols, periph.tiling),
                                   analog=True)
        self._w_eff: torch.Tensor | None = None  # weight cache, dropped whenever the devices change
        self.to(device)
        self.step = 0               # updates applied (a key of the pulse streams)
        self.batch = self.phase = self.read_count = 0   # read-noise counters
        self._w_cache: tuple | None = None
        self.rows: tuple[int, int] | None = None  # data parallel: (first row, global batch) of this rank

    # ------------------------------------------------------------------ programming
    @torch.no_grad()
    def program_weights(self, weight: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Program target weights (effective units, the weight's shape) onto the devices: the one
        way weights are set (construction, and a later deploy), so programming noise is applied
        the same everywhere.

        1. ``w_dev = settle(weight / w_scale + prog_noise_std * g_unit * xi)`` (:func:`.pair.program`:
           our Gaussian programming error of the stored weight; ``xi`` from ``generator``, or from a
           generator seeded by ``(seed, tile, program, k)`` for the k-th programming);
        2. aihwkit's write noise on set (``PulsedRPUDevice::onSetWeights`` in
           ``src/rpucuda/rpu_pulsed_device.cpp``: clip to the bounds, persistent weight = target,
           then ``applyUpdateWriteNoise``): when the card has ``write_noise_std > 0`` and
           ``apply_write_noise_on_set`` (default true), every device's apparent weight gets a fresh
           offset ``write_noise_std * dw_min * counter_normal(key, i, 0)``, ``key = (seed, tile,
           program, k)``; without it the offset is 0 (apparent = persistent)."""
        k = self.programs
        self.programs += 1
        state, params = self.state, self.params
        target = weight.detach().to(device=self.w_dev.device, dtype=self.w_dev.dtype) / self.w_scale
        if generator is None:
            generator = torch.Generator(device=target.device).manual_seed(
                S.stream_key(self.seed, self.tile_index, _PROGRAM, k, 1) & ((1 << 63) - 1))
        self.w_dev.copy_(program(target, state, params, generator))
        if self.write_offset is not None:
            self.write_offset.zero_()
            if getattr(params, "apply_write_noise_on_set", True):
                key = S.stream_key(self.seed, self.tile_index, _PROGRAM, k)
                every = torch.ones((), dtype=torch.int32, device=target.device)
                self.write_offset.copy_(E.write_noise(self.write_offset, every, params, key, path="masked"))
        self._sync()

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> DeviceState:
        """The devices' state over the ``dev_*`` buffers; one object while the buffers stay the
        same tensors (a kernel keeps its per-device arrays on it, :func:`.kernels.numba_engine.
        _rule_arrays`), a new one when they are replaced (``.to()``, a load that assigns)."""
        b = self._buffers
        s = self.__dict__.get("_state_obj")
        if s is None or any(getattr(s, k) is not b[f"dev_{k}"] for k in _STATE_FIELDS):
            s = self.__dict__["_state_obj"] = DeviceState(**{k: b[f"dev_{k}"] for k in _STATE_FIELDS})
        return s

    @property
    def wants_vectors(self) -> bool:
        """True when updates need the outer-product vectors (bit-stream pulse trains)."""
        return self.update_mode == "pulsed" and self.pulse_scheme == "bitstream"

    param_holds_weight = False
    read_dtype = None
    """Reads go through the tiles and the periphery: the digital read precision does not apply."""

    def effective_weight(self) -> torch.Tensor:
        w = self.w_dev if self.write_offset is None else self.w_dev + self.write_offset
        return self.w_scale * w

    def _stored(self) -> torch.Tensor:
        """The weight the devices hold (no autograd), computed once per device change."""
        if self._w_eff is None:
            with torch.no_grad():
                self._w_eff = self.effective_weight()
        return self._w_eff

    @property
    def weight(self) -> torch.Tensor:
        """The weight the devices hold; with autograd on, plus :attr:`proposal` (zero), so the
        backprop twin's gradient of the weight lands on the parameter."""
        w = self._stored()
        return w + self.proposal if torch.is_grad_enabled() and self.proposal.requires_grad else w

    @property
    def param(self) -> nn.Parameter:
        return self.proposal

    def _sync(self) -> None:
        """The devices changed: drop the cached weight and the shared noisy weight (plain
        attributes, set in ``__dict__``: ``nn.Module.__setattr__`` cost more than the small layer's
        update kernel's share of it)."""
        d = self.__dict__
        d["_w_eff"] = None
        d["_w_cache"] = None

    def _apply(self, fn, *args, **kwargs):
        """``.to()``, ``.double()``, ...: the cached weights (and the read counter) follow the
        buffers they come from."""
        self._flush_reads()
        self._read_counter = None
        out = super()._apply(fn, *args, **kwargs)
        self._sync()
        return out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A checkpoint written before the storage protocol holds ``weight`` (a float copy of the
        stored weight, rebuilt here from the devices) and no ``proposal`` (zero between
        updates): such runs still resume."""
        c = self.__dict__.get("_read_counter")
        if c is not None:
            c.pending = 0  # the loaded counts replace the ones kept on the host
        if prefix + "weight" in state_dict and prefix + "proposal" not in state_dict:
            state_dict[prefix + "proposal"] = torch.zeros_like(state_dict.pop(prefix + "weight"))
        for k in ("reads", "bm_rereads"):  # checkpoints from before the read counters: none counted
            if prefix + k not in state_dict:
                state_dict[prefix + k] = torch.zeros((), dtype=torch.int64)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        with torch.no_grad():
            self._summed.copy_(torch.stack([self.reads, self.bm_rereads]))

    @torch.no_grad()
    def sum_counters(self, all_reduce_) -> None:
        """Data parallel: each rank reads its own shard of every batch, so the read counters
        (``reads``, ``bm_rereads``) grow by different amounts on the ranks. ``all_reduce_`` (a sum
        over the ranks, in place) adds up every rank's increments since the last call, so every
        replica then holds the whole chip's counts (and the replicas agree again)."""
        now = torch.stack([self.reads, self.bm_rereads])
        inc = [now - self._summed]
        all_reduce_(inc)
        total = self._summed + inc[0].to(torch.int64)
        self.reads.copy_(total[0])
        self.bm_rereads.copy_(total[1])
        self._summed.copy_(total)
        self.events.sum_over_ranks(all_reduce_)

    def set_rows(self, rows: tuple[int, int] | None) -> None:
        self.rows = rows

    def get_extra_state(self) -> dict:
        return {"w_scale": self.w_scale, "step": self.step, "batch": self.batch, "phase": self.phase,
                "read": self.read_count, "programs": self.programs}

    def set_extra_state(self, state: dict) -> None:
        self.w_scale = float(state["w_scale"])
        self.step, self.batch = int(state["step"]), int(state["batch"])
        self.phase, self.read_count = int(state["phase"]), int(state["read"])
        self.programs = int(state.get("programs", 1))  # checkpoints before program_weights: programmed once
        self._sync()  # the buffers were just loaded

    def begin_batch(self) -> None:
        """A mini-batch starts (read-noise policy). The counters are plain attributes, written
        into ``__dict__`` (as :meth:`_sync`, :meth:`_next_read`): ``nn.Module.__setattr__``'s checks
        cost more than the rest of a phase's setup here."""
        d = self.__dict__
        d["batch"] = self.batch + 1
        d["phase"] = d["read_count"] = 0
        d["_w_cache"] = None

    def begin_phase(self, name: str | None = None) -> None:
        """A relaxation phase starts (read-noise policy); the events count under ``name`` (None:
        the phase they count under stays). Plain attributes, as :meth:`begin_batch`."""
        d = self.__dict__
        d["phase"] = self.phase + 1
        d["read_count"] = 0
        if self.periph.noise_policy != _PER_BATCH:
            d["_w_cache"] = None
        if name is not None:
            self.events.set_phase(name)

    # ------------------------------------------------------------------ noise draws
    def _key_prefix(self, purpose: int) -> tuple[int, bool]:
        """``(h, absorb)``: a read-noise draw of ``purpose`` has the key ``h`` or, with ``absorb``
        (``per_read``), ``extend_key(h, read)`` (:meth:`_key`). ``h`` is the key of the prefix
        common to a phase's (``per_batch``: a batch's) reads, cached (absorbing is sequential:
        :func:`.streams.extend_key`), so a read hashes only its index."""
        policy = self.periph.noise_policy
        per_batch = policy == _PER_BATCH
        ck = (purpose, self.batch, -1 if per_batch else self.phase)
        cache = self.__dict__.get("_key_cache")
        if cache is None:
            cache = self.__dict__["_key_cache"] = {}
        h = cache.get(ck)
        if h is None:
            if len(cache) > 32:
                cache.clear()
            h = cache[ck] = (S.stream_key(self.seed, self.tile_index, purpose, self.batch) if per_batch else
                             S.stream_key(self.seed, self.tile_index, purpose, self.batch, self.phase))
        return h, policy == _PER_READ

    def _key(self, purpose: int, read: int = 0) -> int:
        """The stream key of a read-noise draw: ``stream_key(seed, tile, purpose, batch[, phase[,
        read]])`` by the noise policy (:meth:`_key_prefix`)."""
        h, absorb = self._key_prefix(purpose)
        return S.extend_key(h, read) if absorb else h

    def _randn(self, key: int, shape, like: torch.Tensor) -> torch.Tensor:
        """Standard normals from torch's generator seeded with ``key`` (a generator per device,
        reseeded for every draw: the values of a fresh generator seeded so, without building one
        per read)."""
        g = _GENERATORS.get(like.device)
        if g is None:
            g = _GENERATORS[like.device] = torch.Generator(device=like.device)
        g.manual_seed(key)
        return torch.randn(tuple(shape), generator=g, dtype=like.dtype, device=like.device)

    def _read_weight(self, read: int) -> torch.Tensor:
        """The weight as this read sees it: ``W + w_noise_std * g_unit * w_scale * xi``; one draw
        shared by every read (forward and transposed) of the phase / batch under those
        policies, a fresh draw per read under ``per_read``."""
        w = self._stored()
        std = self.periph.w_noise_std
        if std <= 0:
            return w
        shared = self.periph.noise_policy != NoisePolicy.PER_READ.value
        if shared and self._w_cache is not None:
            return self._w_cache
        noisy = w + (std * self.g_unit * self.w_scale) * self._randn(self._key(_W_NOISE, read), w.shape, w)
        if shared:
            self._w_cache = noisy
        return noisy

    def _out_randn(self, purpose: int, read: int, like: torch.Tensor):
        """Output-noise draws of one read (shape (B, ...), B the batch). Data parallel
        (``rows = (start, n)`` set by the trainer): the draw of the whole global batch of ``n``
        rows, of which this rank's shard takes rows ``start:start + B``, so every sample sees the
        noise it sees in one process and no two ranks share a draw."""
        if self.periph.read_noise_std <= 0:
            return None
        key = self._key(purpose, read)

        def draw(shape, bm_pass: int = 0):
            k = key if bm_pass == 0 else S.stream_key(key, _BM_PASS, bm_pass)  # a re-read's own draw
            rows = self.rows
            if rows is None or shape[0] == rows[1]:
                return self._randn(k, shape, like)
            start, n = rows
            return self._randn(k, (n,) + tuple(shape[1:]), like)[start:start + shape[0]]
        draw.key, draw.rows = key, self.rows  # the stream a fused kernel draws this read's noise from
        return draw

    def _next_read(self) -> int:
        read = self.read_count + 1
        object.__setattr__(self, "read_count", read)   # a plain int: no nn.Module.__setattr__ per read
        return read

    def _planned(self, kind: str, x: torch.Tensor):
        """The fused one-tile plan ``(plan, run)`` of a relaxation read of ``kind``
        (:func:`.kernels.dense_plan`: where :func:`.kernels.select` runs the read in numba and it
        fits one tile), cached per read kind and checked against the periphery (by identity: the
        cache holds it), ``compute.kernels``, the input's dtype, lines and device and ``w_scale``;
        None for every other read."""
        sites = self.__dict__.get("_sites")
        if sites is None:
            sites = self.__dict__["_sites"] = {}
        p = self.periph
        ck = (K.mode(), x.dtype, x.shape[1], x.is_cpu, self.w_scale)
        hit = sites.get(kind)
        if hit is not None and hit[0] is p and hit[1] == ck:
            return hit[2]
        plan = K.dense_plan(kind, p, x, self.max_rows if kind == "dense_forward" else self.max_cols, self.w_scale)
        sites[kind] = (p, ck, plan)
        return plan

    def _planned_read(self, kind: str, x: torch.Tensor, planned) -> torch.Tensor:
        """A relaxation's dense read through its cached fused plan (:meth:`_planned`): the same
        read index, read weight, counts and output-noise stream as :meth:`_analog` with the
        kernel of :mod:`.reads`, without the per-read draw object, kernel selection and key hash
        (the kernel extends the phase's key by the read index: :func:`.kernels.numba_reads.one_tile_read`)."""
        plan, run = planned
        count, purpose = self._PLANNED_READS[kind]
        w, key, read, absorb, row0 = self._read_parts(kind, count, purpose, x.shape[0])
        return run(x, w, plan, key, read, absorb, row0)

    def _read_parts(self, kind: str, count: str, purpose: int, batch: int) -> tuple:
        """A planned read's bookkeeping, in its order (the read index, the weight this read sees,
        the read and event counts, the ran-report, the output-noise stream): ``(w_t, key, read,
        absorb, row0)``, the tile's (lines x outputs) weights and the stream arguments of
        :func:`.kernels.numba_reads.one_tile_read`. The one copy :meth:`_planned_read` and a fused
        sweep (:meth:`sweep_read_parts`) share."""
        read = self._next_read()
        w = self._read_weight(read)
        c = self.counter
        if c is not None:
            c.vector_reads(count, batch, 1)
        K.mark_ran(kind, "numba")
        if self.periph.read_noise_std > 0:
            key, absorb = self._key_prefix(purpose)
            rows = self.rows
            row0 = rows[0] if rows is not None and rows[1] != batch else 0
        else:
            key, absorb, row0 = 0, False, 0
        if count == "forward":   # the tile's (lines x outputs) view, made once per weight tensor
            wt = self.__dict__.get("_w_t")
            if wt is None or wt[0] is not w:
                wt = self.__dict__["_w_t"] = (w, w.t())
            w = wt[1]
        return w, key, read, absorb, row0

    _PLANNED_READS = {"dense_forward": ("forward", _OUT_FWD), "dense_transposed": ("transposed", _OUT_T)}
    """The planned read kinds (:meth:`_planned_read`, a fused sweep's reads): (count kind,
    output-noise purpose)."""

    def sweep_read_plan(self, kind: str, x: torch.Tensor):
        """The one-tile kernel plan (:func:`.kernels.numba_reads.one_tile_plan`) of a relaxation read
        of ``kind`` (``dense_forward`` / ``dense_transposed``) of ``x``, as :meth:`_planned` gives it
        to :meth:`linear` / :meth:`linear_t`, or None where that read takes another path (torch
        kernels, several tiles, IR drop, autograd on): a fused sweep
        (:mod:`.kernels.numba_sweep`) runs only reads this returns a plan for."""
        if torch.is_grad_enabled() or kind not in self._PLANNED_READS:
            return None
        planned = self._planned(kind, x)
        return None if planned is None else planned[0]

    def sweep_read_parts(self, kind: str, batch: int) -> tuple:
        """A fused sweep's read of ``kind`` on ``batch`` samples, less the kernel: the bookkeeping
        of :meth:`_planned_read` (:meth:`_read_parts`), returned as ``(w_t, key, read, absorb,
        row0)``: the tile's (lines x outputs) weights and the arguments of
        :func:`.kernels.numba_reads.one_tile_read`."""
        count, purpose = self._PLANNED_READS[kind]
        return self._read_parts(kind, count, purpose, batch)

    # ------------------------------------------------------------------ reads
    def _analog(self, x: torch.Tensor, fn) -> torch.Tensor:
        """Run one read ``fn(x, w_read, read)`` (the weight as this read sees it, the read's index).
        Noise management (``abs_max``, either scope) is the read's (:mod:`.reads`), so a fused
        kernel runs it with the DAC."""
        read = self._next_read()
        if not torch.is_grad_enabled():   # a relaxation's reads: already without autograd
            return fn(x.detach(), self._read_weight(read), read)
        with torch.no_grad():
            return fn(x.detach(), self._read_weight(read), read)

    @property
    def noisy_reads(self) -> bool:
        """Whether this storage's reads have a noise floor (``solver.stop: noise_floor``): read
        noise (weight or output) or a quantizing converter (bits), which keep an iterative
        relaxation's residual from falling to zero."""
        p = self.periph
        return p.w_noise_std > 0 or p.read_noise_std > 0 or p.inp_bits is not None or p.out_bits is not None

    _FLOOR_READS = {
        "dense_forward": (2, False, lambda st: R.split_sizes(st.weight.shape[1], st.max_rows, st.periph.tiling)),
        "dense_transposed": (2, False, lambda st: R.split_sizes(st.weight.shape[0], st.max_cols, st.periph.tiling)),
        "conv_forward": (4, True, lambda st: R.conv_block_sizes(st.weight.shape[1], tuple(st.weight.shape[2:]),
                                                                  st.max_rows, st.periph.tiling)),
        "conv_transposed": (4, True, lambda st: R.split_sizes(st.weight.shape[0], st.max_cols, st.periph.tiling)),
    }
    """The read kinds with a noise floor (:meth:`read_floor`) -> (the weight's dims, whether the read
    is one crossbar read per conv patch, its tiles' line counts: the tiling of :mod:`.reads`)."""

    def read_floor(self, kind: str, fold: int = 1) -> tuple[float, float | None] | None:
        """The noise floor one relaxation read of ``kind`` (``dense_forward`` / ``dense_transposed``
        / ``conv_forward`` / ``conv_transposed``) puts on an output, the std of what two reads of
        the same input differ by over ``sqrt(2)``: ``(c, nm_bound)``, the std in effective (drive)
        units is ``c`` times the read's noise-management scale ``max(max |x|, 1e-30) / nm_bound``
        per sample (the DAC's, :func:`.reads._nm_layer`), or ``c`` itself where ``nm_bound`` is
        None (no noise management). ``c = w_scale sqrt(fold T (read_noise_std^2 + step^2 / 12))``
        (``read_noise_std = out_noise_std / sqrt(read_integration)``, the periphery's one effective
        output noise, :attr:`.periphery.PeripheryParams.read_noise_std`): per tile output the output noise (``noise_policy: per_read`` only: a draw shared by a
        phase's or batch's sweeps sets no floor between them) and the ADC's rounding error (step
        ``out_bound / (2^(out_bits - 1) - 1)``, uniform), summed digitally over the read's ``T``
        tiles (conv forward: its channel blocks; transposed: its column blocks), in device units
        times ``w_scale`` (module doc of :mod:`.periphery`); ``fold`` independent such partials
        add into the output (a transposed conv read's fold: the patches that cover the input
        pixel, :meth:`~analog_ep.synapses.conv.Conv.read_floor`). Weight read noise
        (``w_noise_std``) is the separate term :meth:`weight_floor` (it scales with another norm
        of the input); None where the read has no single scale
        (per-tile noise management over several tiles, or per conv patch) or the kind is not
        one of :attr:`_FLOOR_READS` for this weight."""
        spec = self._FLOOR_READS.get(kind)
        if spec is None or spec[0] != self.weight.dim():
            return None
        _, per_patch, sizes = spec
        p = self.periph
        tiles = len(sizes(self))
        nm = p.noise_management == "abs_max"
        if nm and p.nm_scope != "layer" and (tiles > 1 or per_patch):
            return None
        step = 0.0
        if p.out_bits is not None and p.out_bound is not None and p.out_bits > 1:
            step = P.converter_step(p.out_bits, p.out_bound)
        # output noise redrawn per read only: under per_phase / per_batch every sweep sees the same
        # draw, which moves the fixed point but puts no sweep-to-sweep floor on the residual
        noise = p.read_noise_std if p.noise_policy == "per_read" else 0.0
        c = self.w_scale * math.sqrt(fold * tiles * (noise ** 2 + step * step / 12.0))
        return c, ((p.inp_bound if p.inp_bound is not None else 1.0) if nm else None)

    def weight_floor(self) -> float:
        """The weight read noise one relaxation read puts on an output, per unit of the L2 norm of
        the input lines it sums (0 where it sets no floor between sweeps): ``w_noise_std g_unit
        w_scale`` under ``noise_policy: per_read``. A read sees ``W + w_noise_std g_unit w_scale
        xi`` (:meth:`_read_weight`, a fresh ``xi`` per read), so output ``j`` gains ``sum_i
        delta_ij x_i``, independent over the weights ``i``, of std ``w_noise_std g_unit w_scale
        ||x||_2`` whatever the tiling (the tiles split the lines ``i``; their digital sum adds the
        parts), and with ``abs_max`` noise management too (the DAC's input ``x / m``, the product
        multiplied back by ``m``: the DAC's rounding of ``x / m`` aside, ``||x||_2`` again). A draw
        shared by a phase's or batch's sweeps (``per_phase`` / ``per_batch``) moves the fixed
        point but puts no sweep-to-sweep floor on the residual: 0. The synapse says which norm a
        read of it takes (:meth:`~analog_ep.synapses.base.Synapse.weight_floor`)."""
        p = self.periph
        if p.noise_policy != NoisePolicy.PER_READ.value:
            return 0.0
        return p.w_noise_std * self.g_unit * self.w_scale

    @property
    def noisy_settle_reads(self) -> bool:
        """Whether a settle's reads (:meth:`settle_reads`) have a noise floor: only analog read noise
        (weight or output), since they bypass the converters, so a noiseless settle on a card with
        DAC and ADC keeps ``solver.stop: noise_floor`` equal to ``tol``."""
        p = self.periph
        return p.w_noise_std > 0 or p.out_noise_std > 0

    _settling = False
    """True within :meth:`settle_reads`."""

    @contextlib.contextmanager
    def settle_reads(self, noise_scale: float = 1.0):
        """Within: reads as a settling circuit makes them (``analog.relaxation: settle``, DESIGN
        section 7c). The node voltages drive the lines and the line currents flow into the nodes
        directly: no DAC quantization, no noise or bound management (they scale around a
        converter), no ADC (bits, bound); the array's physics stays: the tile conductances with
        their weight read noise, the output (current) noise, first-order IR drop and the line
        drivers' range (``inp_bound`` clips the driven voltages; null: none).

        ``noise_scale`` multiplies the read noise when it is white (``noise_policy: per_read``, a
        fresh draw per read): a read of the settle integrates over one integrator step ``dt``
        instead of the reference window the card's per-read std refers to, so its std grows as
        ``sqrt(dt_ref / dt)`` (the settle solver passes that factor; the Hopfield settle's
        exponential Euler step its exact Ornstein-Uhlenbeck form,
        :func:`analog_ep.solvers.settle.white_noise_scale`, ``sqrt(dt_ref / dt)`` to first order). A
        draw shared over a phase or a batch is a static offset, the same at any step: unscaled.
        ``read_integration`` (a discrete read's window) does not apply: a settle with an effective
        m other than 1 (the shortcut or the card's periphery) is refused where the periphery is
        resolved (:func:`analog_ep.train.build.resolve_device`), and the settling reads take the
        card's ``out_noise_std`` scaled by the step alone.

        The continuous reads are not vector reads: nothing is counted for them (the phase is
        priced by its settle time and its one read-out per node, counted by the solver)."""
        p = self.periph
        k = noise_scale if p.noise_policy == NoisePolicy.PER_READ.value else 1.0
        self.periph = dataclasses.replace(p, inp_bits=None, out_bits=None, out_bound=None, noise_management="none",
                                          bound_management="none", w_noise_std=p.w_noise_std * k,
                                          out_noise_std=p.out_noise_std * k, read_integration=1.0)
        self._settling = True
        try:
            yield
        finally:
            self.periph = p
            self._settling = False

    def digitize_state(self, s: torch.Tensor) -> torch.Tensor:
        """A settled node state as the converter that reads it out gives it: quantized at the
        resolution and full scale of the converters that speak state units (the DAC's
        ``inp_bits``, ``inp_bound``: the values the lines are driven with in an iterative
        read), so an update built from it sees the states an iterative phase would."""
        return P.dac(s, self.periph)

    @property
    def counter(self) -> R.ReadCounter | None:
        """The read counters :mod:`.reads` adds to (``reads``, ``bm_rereads`` buffers and the
        event counter; one object, kept until the buffers move); None when counting is off
        (and within :meth:`settle_reads`)."""
        if self._settling:
            return None
        c = self.__dict__.get("_read_counter")
        if c is None:
            c = self._read_counter = R.ReadCounter(self._buffers["reads"], self._buffers["bm_rereads"],
                                                   self.events)
        return c if c.events.enabled else None

    def _flush_reads(self) -> None:
        c = self.__dict__.get("_read_counter")
        if c is not None:
            c.flush()

    def __getattr__(self, name: str):
        if name == "reads":  # the tile reads kept on the host reach the buffer before it is read
            self._flush_reads()
        return super().__getattr__(name)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        self._flush_reads()
        super()._save_to_state_dict(destination, prefix, keep_vars)

    @staticmethod
    def _ste(x: torch.Tensor, w: torch.Tensor, analog: torch.Tensor, ideal) -> torch.Tensor:
        """Straight-through estimator: the analog value, the ideal product's gradient."""
        if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
            y = ideal()
            return y + (analog - y).detach()
        return analog

    def _forward_grad(self, x: torch.Tensor, analog: torch.Tensor, ideal, read_t, w_grad) -> torch.Tensor:
        """A forward read's value with its gradient: ``bp_backward: ideal`` the straight-through
        estimator (:meth:`_ste`); ``analog`` (aihwkit) the analog transposed read ``read_t`` of the
        output gradient as input gradient and the ideal weight gradient ``w_grad(x, g)``."""
        w = self.weight
        if self.bp_backward == "ideal" or not (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)):
            y = self._ste(x, w, analog, ideal)
            if y.requires_grad and self.events.enabled:  # the straight-through gradient: digital products
                self.events.count_backward(y, x.requires_grad, w.requires_grad, self._vectors(x, y))
            return y
        events = self.events

        def w_grad_counted(xi, g):
            events.correlate(self._vectors(xi, g))
            return w_grad(xi, g)
        return _AnalogBackward.apply(x, w, analog, read_t, w_grad_counted)

    @staticmethod
    def _vectors(x: torch.Tensor, y: torch.Tensor) -> int:
        """Vector reads of a forward read ``x -> y``: samples (dense), samples x output pixels (conv)."""
        return y.shape[0] * (y.shape[2] * y.shape[3] if y.dim() == 4 else 1)

    def _dense_t(self, y: torch.Tensor) -> torch.Tensor:
        p = self.periph
        return self._analog(y, lambda ys, w, r: R.dense_read_t(ys, w, p, self.max_cols, self.w_scale, self.g_unit,
                                                                self._out_randn(_OUT_T, r, ys), self.counter))

    def _conv_t(self, y: torch.Tensor, stride, padding, op) -> torch.Tensor:
        p = self.periph
        return self._analog(y, lambda ys, w, r: R.conv_read_t(ys, w, stride, padding, op, p, self.max_cols,
                                                               self.w_scale, self.g_unit,
                                                               self._out_randn(_OUT_T, r, ys), self.counter))

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():   # a relaxation's read: a cached fused plan where one runs it
            planned = self._planned("dense_forward", x)
            if planned is not None:
                return self._planned_read("dense_forward", x, planned)
        p = self.periph
        y = self._analog(x, lambda xs, w, r: R.dense_read(xs, w, p, self.max_rows, self.w_scale, self.g_unit,
                                                           self._out_randn(_OUT_FWD, r, xs), self.counter))
        if not torch.is_grad_enabled():   # no gradient to route (a relaxation's read): the value itself
            return y
        return self._forward_grad(x, y, lambda: x @ self.weight.t(), self._dense_t, lambda xi, g: g.t() @ xi)

    def linear_bias(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """The tile's read, then the digital bias (added after the ADC)."""
        return self.linear(x) + bias

    def linear_t(self, y: torch.Tensor) -> torch.Tensor:
        """Transposed read; its gradient is always the straight-through estimator (the backprop
        twin reads forward only; ``bp_backward`` concerns the forward reads' backward)."""
        if not torch.is_grad_enabled():   # a relaxation's read: a cached fused plan where one runs it
            planned = self._planned("dense_transposed", y)
            if planned is not None:
                return self._planned_read("dense_transposed", y, planned)
        analog = self._dense_t(y)
        if not torch.is_grad_enabled():   # a relaxation's read: the value itself
            return analog
        return self._ste(y, self.weight, analog, lambda: y @ self.weight)

    def conv(self, x: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
        p = self.periph
        y = self._analog(x, lambda xs, w, r: R.conv_read(xs, w, stride, padding, p, self.max_rows, self.w_scale,
                                                          self.g_unit, self._out_randn(_OUT_FWD, r, xs),
                                                          self.counter))
        shape = self.w_dev.shape
        ho, wo = y.shape[2], y.shape[3]
        sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
        kh, kw = shape[2], shape[3]
        pd = (padding, padding) if isinstance(padding, int) else tuple(padding)
        # the output padding that makes the transposed read return x's shape
        op = (x.shape[2] - ((ho - 1) * sh - 2 * pd[0] + kh), x.shape[3] - ((wo - 1) * sw - 2 * pd[1] + kw))
        return self._forward_grad(
            x, y, lambda: torch.nn.functional.conv2d(x, self.weight, stride=stride, padding=padding),
            lambda g: self._conv_t(g, stride, padding, op),
            lambda xi, g: torch.nn.grad.conv2d_weight(xi, shape, g, stride=stride, padding=padding))

    def conv_t(self, y: torch.Tensor, stride: int, padding: int, output_padding) -> torch.Tensor:
        """Transposed conv read; straight-through gradient (as :meth:`linear_t`)."""
        op = tuple(output_padding) if isinstance(output_padding, (tuple, list)) else (output_padding,) * 2
        return self._ste(y, self.weight, self._conv_t(y, stride, padding, op),
                         lambda: torch.nn.functional.conv_transpose2d(y, self.weight, stride=stride,
                                                                      padding=padding, output_padding=op))

    def max_pool(self, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``k`` x ``k`` max-pool (stride ``k``) of a conv read's output with the argmax indices
        (``ConvPool``; digital, after the ADC): the numba kernel where :func:`.kernels.select_pool`
        gives one (the same values and indices), else ``F.max_pool2d``."""
        fn = K.select_pool(y, k)
        return fn(y, k) if fn is not None else F.max_pool2d(y, k, k, return_indices=True)

    # ------------------------------------------------------------------ updates
    @torch.no_grad()
    def commit(self, vectors=None) -> None:
        """Send the change the optimizer proposed (:attr:`proposal`) as pulses, then clear it.

        The change is taken as the optimizer's step on the float weight makes it: the target
        ``W + delta`` formed in the weight's dtype, minus ``W`` (``delta`` rounded to the float
        grid of ``W``: half an ulp of ``W`` at most, far below a pulse). Training before the storage
        protocol stepped a float copy of the weight this way, so recorded analog runs reproduce
        bit for bit (the unrounded ``delta`` moves 2-epoch Fashion-MNIST accuracy by 0.0005).

        Rounded and mixed updates run as one fused pass where ``compute.kernels`` has a kernel for
        them (:meth:`_fused_update`: the same change, counts, pulses and counters)."""
        if self._fused_update(self.proposal.detach(), form=True):
            return
        w = self._stored()
        self.apply_update((w + self.proposal.detach()) - w, vectors)
        self.proposal.zero_()

    @torch.no_grad()
    def apply_update(self, delta: torch.Tensor, vectors=None) -> None:
        """Change the stored weight by about ``delta`` (effective units) the way the devices can.

        ``vectors``: for the bit-stream scheme, ``(d, x)`` with ``delta == d.T @ x`` reshaped to
        the weight (``d`` (N, rows), ``x`` (N, columns)): the vectors whose pulse trains meet on
        the crossbar."""
        if self._fused_update(delta.detach(), form=False):
            return
        self.step += 1
        self.events.update()
        key = S.stream_key(self.seed, self.tile_index, self.step)
        state, params = self.state, self.params
        if self.update_mode == "ideal":  # the exact change: no pulse is sent (none counted)
            self.w_dev.copy_(settle(self.w_dev + delta / self.w_scale, state, params))
            self._sync()
            return
        if self.update_mode == "mixed":
            self.chi.add_(delta / self.w_scale)
            n = torch.trunc(self.chi / self.dw_min).clamp_(-self.bl, self.bl)
            self.chi.sub_(n * self.dw_min)
            n = n.to(torch.int32)
            sent = n.abs()
            rounds = self.bl
        elif self.pulse_scheme == "bitstream":
            if vectors is None:
                raise ValueError("the bit-stream scheme needs the update's vectors (d, x)")
            d, x = vectors
            if self.pulse_accumulation == "per_vector":
                self._per_vector(d, x, key)
                return
            # coincidences of every vector's trains, applied as the step's net count per device
            # (capped at bl): a batch-level approximation of aihwkit's vector-by-vector updates
            # (up and down pulses of different vectors cancel instead of being sent in turn)
            net, _ = E.bitstream_counts(d, x, 1.0 / self.w_scale, self.dw_min, self.bl,
                                        S.stream_key(key, _BITS), self.update_management,
                                        bl_management=self.bl_management)
            n = net.reshape(self.w_dev.shape).clamp_(-self.bl, self.bl)
            sent = n.abs()
            rounds = self.bl
        else:
            n = E.rounded_counts(delta / self.w_scale, self.dw_min, self.rounding, self.bl, S.stream_key(key, _ROUND))
            sent = n.abs()
            rounds = self.bl
        # w_dev is always settled (programmed, then only moved by pulses): update it in place
        E.apply_counts(self.w_dev, n, state, params, S.stream_key(key, _PULSE), rounds=rounds, settled=True,
                       out=self.w_dev)
        if self.write_offset is not None:
            self.write_offset.copy_(E.write_noise(self.write_offset, n, params, S.stream_key(key, _WRITE)))
        self.events.pulses(n)
        self.pulses += sent.sum()
        self.wear += sent.to(torch.int32)
        self._sync()

    def _fused_update(self, src: torch.Tensor, form: bool) -> bool:
        """Rounded and mixed updates in one pass (:func:`.engine.fused_update`): the steps of
        :meth:`apply_update` below (counts, pulses, wear, pulse total, event statistics) on the
        same streams, then the write noise as there. ``src``: the change, or (``form``) the
        proposal, taken as :meth:`commit` takes it and cleared. False when no kernel runs it (the
        step by step path then does)."""
        if self.update_mode == "ideal" or self.wants_vectors:
            return False
        bufs = self.__dict__.get("_fused_bufs")
        if bufs is None or bufs[0].shape != self.w_dev.shape or bufs[0].device != self.w_dev.device:
            bufs = self.__dict__["_fused_bufs"] = (torch.empty(self.w_dev.shape, dtype=torch.int32,
                                                               device=self.w_dev.device),
                                                   torch.empty(5, dtype=torch.int64, device=self.w_dev.device))
        counts, stats = bufs
        pre = self.__dict__.get("_update_key_prefix")
        if pre is None or pre[0] != (self.seed, self.tile_index):
            pre = self.__dict__["_update_key_prefix"] = ((self.seed, self.tile_index),
                                                         S.stream_key(self.seed, self.tile_index))
        key = S.extend_key(pre[1], self.step + 1)     # = stream_key(seed, tile, step + 1), as apply_update's
        ev = self.events
        if not E.fused_update(self.w_dev, src, self.state, self.params, rule=self.update_mode if
                              self.update_mode == "mixed" else "rounded", rounding=self.rounding, form=form,
                              zero=form, we=self._stored() if form else None, chi=self.chi,
                              dw_min=self.dw_min, bl=self.bl, w_scale=self.w_scale,
                              round_key=S.stream_key(key, _ROUND), pulse_key=S.stream_key(key, _PULSE),
                              counts=counts, wear=self.wear, total=self.pulses,
                              stats=stats if ev.enabled else None, tile_rows=ev.tile_rows, tile_cols=ev.tile_cols):
            return False
        self.__dict__["step"] = self.step + 1      # a plain int (no nn.Module.__setattr__)
        ev.update()
        if self.write_offset is not None:
            self.write_offset.copy_(E.write_noise(self.write_offset, counts, self.params, S.stream_key(key, _WRITE)))
        ev.pulses(counts, stats if ev.enabled else None)
        self._sync()
        return True

    def _per_vector(self, d: torch.Tensor, x: torch.Tensor, key: int) -> None:
        """``pulse_accumulation: per_vector``: the batch's vectors pulse the devices one after the
        other (:func:`.engine.per_vector_pulses`, the same trains as the net count's), then the
        devices that got any pulse draw their write noise once (the last of aihwkit's per-pulse
        redraws, same distribution)."""
        d = d.reshape(d.shape[0], -1)
        x = x.reshape(x.shape[0], -1)
        w = self.w_dev.view(d.shape[1], x.shape[1])
        state = self.state if self.w_dev.dim() == 2 else DeviceState(
            **{k: getattr(self, f"dev_{k}").reshape(w.shape) for k in _STATE_FIELDS})
        _, sent = E.per_vector_pulses(w, d, x, 1.0 / self.w_scale, self.dw_min, self.bl, S.stream_key(key, _BITS),
                                      S.stream_key(key, _PULSE), state, self.params, self.update_management,
                                      bl_management=self.bl_management,
                                      on_counts=self.events.pulses if self.events.enabled else None)
        sent = sent.view(self.w_dev.shape)
        if self.write_offset is not None:
            self.write_offset.copy_(E.write_noise(self.write_offset, sent, self.params, S.stream_key(key, _WRITE)))
        self.pulses += sent.sum()
        self.wear += sent
        self._sync()

    def event_record(self, name: str) -> dict:
        """This layer's entry of the event-count record: a differential pair per weight, the
        effective periphery's DAC / ADC bits, the cells' mean conductance now, how updates reach
        the devices (the cost model prices the update by it), the read window in card windows
        (``read_integration``: the cost model prices each read's window by it)."""
        return self.events.record(name, self.periph.inp_bits, self.periph.out_bits, self.g_mean_us(), 2,
                                  update_kind(self.update_mode, self.pulse_scheme), self.bl,
                                  self.periph.read_integration)

    @torch.no_grad()
    def g_mean_us(self) -> float | None:
        """The mean conductance (microsiemens) of the layer's cells now: each weight's apparent
        device value on its differential pair (:func:`.pair.to_conductances`, the card's
        ``g_min_us`` / ``g_max_us`` window), averaged over both cells of every pair; None when
        the card has no window. One host read."""
        g_min, g_max = getattr(self.params, "g_min_us", None), getattr(self.params, "g_max_us", None)
        if g_min is None or g_max is None:
            return None
        w = self.w_dev if self.write_offset is None else self.w_dev + self.write_offset
        g_plus, g_minus = to_conductances(w, self.params)
        return float((g_plus.mean() + g_minus.mean()) / 2)

    # ------------------------------------------------------------------ drift
    def drifted_weight(self, t_s: float, nu: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """The effective weight read ``t_s`` seconds after programming (each conductance of the
        pair drifts with its own exponent, :func:`.pair.drift`). ``nu = (nu_plus, nu_minus)``
        replaces the devices' own exponents (a drift study's fresh draw); nothing is changed."""
        w = self.w_dev if self.write_offset is None else self.w_dev + self.write_offset
        state = self.state
        if nu is not None:
            state = dataclasses.replace(state, nu_plus=nu[0].to(w), nu_minus=nu[1].to(w))
        with torch.no_grad():
            # map onto conductances with the largest device bound as full scale, so devices whose
            # own bounds exceed the nominal ones are not clipped (one host read, at evaluation)
            full = float(torch.maximum(state.w_max.abs().max(), state.w_min.abs().max()))
            return self.w_scale * drift(w, t_s, state, self.params, w_scale=full)

    @contextlib.contextmanager
    def drifted(self, t_s: float, nu: tuple[torch.Tensor, torch.Tensor] | None = None, gain: float = 1.0):
        """Temporarily read the weights ``t_s`` seconds after programming (:meth:`drifted_weight`),
        multiplied by ``gain`` (a drift compensation's scalar); the device state is untouched."""
        with torch.no_grad():
            w = self.drifted_weight(t_s, nu)
            self._sync()
            self._w_eff = w if gain == 1.0 else w * gain
        try:
            yield
        finally:
            self._sync()

    def extra_repr(self) -> str:
        scheme = f", scheme={self.pulse_scheme}, bl={self.bl}" if self.update_mode == "pulsed" else ""
        omega = f", omega={self.omega:.4g}" if self.omega is not None else ""
        return (f"rule={self.params.rule}, update={self.update_mode}{scheme}, "
                f"tiles={self.max_rows}x{self.max_cols}, mapping={self.mapping}{omega}, w_scale={self.w_scale:.4g}")


__all__ = ["AnalogStorage"]
