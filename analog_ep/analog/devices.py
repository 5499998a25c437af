"""Driving a device population from user code: seeded pulses, write noise, response curves.

The functions a user, a plot or the ``devices`` command calls on a population of devices
(``w`` and a :class:`.population.DeviceState`) with a seed or a ``torch.Generator``: each is a
thin wrapper over the pulse engine (:mod:`.engine`) with the stream key
:func:`.streams.generator_key` of its generator. Training does not come through here: the
storage (:mod:`.storage`) calls the engine with its own stream keys.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..errors import ConfigError
from .engine import apply_counts, write_noise
from .population import DeviceState, sample_device_state, settle
from .rules import DeviceParams
from .streams import Generatorish, generator_key, stream_key


def _as_counts(n_pulses, w: torch.Tensor) -> torch.Tensor:
    n = torch.as_tensor(n_pulses, device=w.device)
    if n.is_floating_point():
        n = torch.round(n)
    return n.to(torch.int64).expand(w.shape)


def apply_pulses(w: torch.Tensor, n_pulses, state: DeviceState, params: DeviceParams,
                 generator: Generatorish = None, *, closed_form: bool = True,
                 path: Optional[str] = None) -> torch.Tensor:
    """Apply a signed number of pulses to every device (n > 0 up, n < 0 down); return new ``w``.

    A thin wrapper over :func:`.engine.apply_counts` with the stream key
    :func:`.streams.generator_key` ``(generator)``: ``w`` is first :func:`.population.settle`-d
    (clipped to the device bounds, stuck devices pinned); each pulse follows the device's rule
    with its cycle-to-cycle noise (pulse ``k`` of device ``i`` draws ``streams.counter_normal(key,
    i, k)``), is clipped to the bounds and rounded to the level grid when ``n_states`` is set.
    Stuck devices never move. Never returns NaN for finite input. ``closed_form=False`` forces
    the per-pulse rounds even where the exact closed form applies; ``path`` picks the engine's
    ``"compact"`` or ``"masked"`` rounds (both for tests).
    """
    if tuple(state.shape) != tuple(w.shape):
        raise ValueError(f"device state has shape {tuple(state.shape)}, weights {tuple(w.shape)}")
    n = _as_counts(n_pulses, w)
    return apply_counts(w, n, state, params, generator_key(generator), path=path,
                        closed_form=closed_form)


def redraw_write_noise(offset: torch.Tensor, n_pulses, params: DeviceParams,
                       generator: Generatorish = None) -> torch.Tensor:
    """aihwkit write noise: the weight reads see is ``w + offset``; every device that received a
    pulse gets a fresh ``offset = write_noise_std * dw_min * xi``, the others keep theirs
    (:func:`.engine.write_noise` with the key :func:`.streams.generator_key`)."""
    if getattr(params, "write_noise_std", 0.0) <= 0:
        return offset
    return write_noise(offset, _as_counts(n_pulses, offset), params, generator_key(generator))


def response(params: DeviceParams, n_pulses: int, n_devices: int = 100, seed: int = 0) -> dict:
    """Pulse response from w = 0: ``n_pulses`` up pulses, then ``n_pulses`` down pulses.

    Returns JSON-ready lists over the ``2 n_pulses + 1`` points (the start included):
    ``pulses`` (cumulative pulse count), ``w_mean`` and ``w_std`` (population std, ddof 0) over
    ``n_devices`` devices drawn from ``seed``; the cycle-to-cycle noise of pulse ``k`` comes from
    the engine stream ``stream_key(seed, 1, k)``.
    """
    if n_pulses < 0 or n_devices < 1:
        raise ConfigError(f"response: need n_pulses >= 0 and n_devices >= 1, got {n_pulses}, {n_devices}")
    state = sample_device_state(params, (n_devices,), seed, dtype=torch.float64)
    w = settle(torch.zeros(n_devices, dtype=torch.float64), state, params)
    ws = [w]
    ones = torch.ones(n_devices, dtype=torch.int32)
    for sign in (1, -1):
        for _ in range(n_pulses):
            w = apply_counts(w, sign * ones, state, params, stream_key(seed, 1, len(ws)))
            ws.append(w)
    ws = torch.stack(ws)
    return {"pulses": list(range(2 * n_pulses + 1)), "w_mean": ws.mean(1).tolist(),
            "w_std": ws.std(1, correction=0).tolist()}


__all__ = ["apply_pulses", "redraw_write_noise", "response"]
