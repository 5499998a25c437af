"""Counter-based random streams: the one source of the simulator's hashed random numbers.

A stream is named by a 64-bit key (a Python int) that callers derive from integers such as
``(seed, tile, step, purpose)`` with :func:`stream_key`, on the host, once per update or read.
The pulse engine (:mod:`.engine`) draws its rounding uniforms, cycle-to-cycle normals, bit-stream
trains and write noise from the counter streams below; the storage (:mod:`.storage`) seeds its
read-noise generators with :func:`stream_key` of ``(seed, tile, purpose, batch, phase, read)``.

The draw ``counter`` of element ``index`` is the splitmix64 finalizer (Steele, Lea & Flood,
OOPSLA 2014) of ``index * golden + stream_key(key, counter)``, computed with torch int64 ops on
the tensor's device (wraparound multiply; logical right shift = arithmetic shift, then mask),
then mapped to a uniform in (0, 1) or to a normal by Box-Muller. So a value depends only on
``(key, index, counter)``: not on which other indices are requested, on the path, on thread
counts or on the device. The words and the uniforms (built bit by bit, exactly) are
bit-identical on CPU and CUDA; the normals go through ``log`` / ``cos``, whose last bit may
differ between the two devices.

Seeded ``torch.Generator`` helpers (:func:`as_generator`, :func:`generator_key`) turn a user's
seed or generator into a generator or a stream key.
"""

from __future__ import annotations

import math
import operator
from typing import Optional, Union

import torch

Generatorish = Union[torch.Generator, int, None]

_M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_KEY0 = 0x6A09E667F3BCC909  # fractional bits of sqrt(2): the empty key


def signed64(v: int) -> int:
    """A 64-bit pattern as the int64 value torch stores for it."""
    v &= _M64
    return v - (1 << 64) if v >> 63 else v


GOLDEN_S, _MIX1_S, _MIX2_S = signed64(GOLDEN), signed64(_MIX1), signed64(_MIX2)


def _mix_int(z: int) -> int:
    """splitmix64's finalizer on a Python int (a bijection of 64-bit words)."""
    z &= _M64
    z = ((z ^ (z >> 30)) * _MIX1) & _M64
    z = ((z ^ (z >> 27)) * _MIX2) & _M64
    return z ^ (z >> 31)


def stream_key(*values: int) -> int:
    """A 64-bit stream key (a Python int in ``[0, 2**64)``) from integers, e.g. ``(seed, tile,
    step, purpose)``.

    Each value is absorbed with two rounds of the splitmix64 finalizer, so the key depends on
    every value and on their order, and ``stream_key(k, c)`` is unrelated to ``stream_key(k,
    c + 1)``. Values are taken modulo 2**64 (negative ints are fine); non-integers raise
    TypeError."""
    return extend_key(_KEY0, *values)


def extend_key(h: int, *values: int) -> int:
    """The key of ``(prefix..., *values)`` from the key ``h = stream_key(*prefix)``: absorbing is
    sequential, so ``extend_key(stream_key(*a), *b) == stream_key(*a, *b)`` (callers cache the key
    of a common prefix and absorb only the values that change)."""
    for v in values:
        h = _mix_int(h + GOLDEN)
        h = _mix_int(h ^ (operator.index(v) & _M64))
    return h


# --------------------------------------------------------------------------------------------
# counter-based streams (torch integer ops on the tensor's device)


def mix_(z: torch.Tensor, t: Optional[torch.Tensor] = None) -> torch.Tensor:
    """splitmix64's finalizer on an int64 tensor, in place (wraparound multiply; logical right
    shift = arithmetic shift, then mask); ``t`` is an optional scratch tensor like ``z``."""
    if t is None:
        t = torch.empty_like(z)
    for shift, mult in ((30, _MIX1_S), (27, _MIX2_S), (31, None)):
        torch.bitwise_right_shift(z, shift, out=t)
        t.bitwise_and_((1 << (64 - shift)) - 1)
        z.bitwise_xor_(t)
        if mult is not None:
            z.mul_(mult)
    return z


def hash_words(scaled_index: torch.Tensor, key: int, counter: int,
          t: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The 64-bit words of ``(key, index, counter)`` (a new tensor); ``scaled_index = index *
    golden`` (int64)."""
    return mix_(torch.add(scaled_index, signed64(stream_key(key, counter))), t)


def _scaled(index: torch.Tensor) -> torch.Tensor:
    if index.dtype != torch.int64:
        index = index.to(torch.int64)
    return index * GOLDEN_S


_RANGE_CACHE: dict = {}


def scaled_range(numel: int, device: torch.device) -> torch.Tensor:
    """``arange(numel) * golden`` (cached per size and device: the flat indices of a layer)."""
    k = (int(numel), str(device))
    t = _RANGE_CACHE.get(k)
    if t is None:
        if len(_RANGE_CACHE) >= 64:
            _RANGE_CACHE.clear()
        t = torch.arange(int(numel), dtype=torch.int64, device=device).mul_(GOLDEN_S)
        _RANGE_CACHE[k] = t
    return t


_M23 = (1 << 23) - 1
_ONE_F32 = 0x3F800000  # the bits of 1.0f: (bits | a) reads as 1 + a 2^-23


def _lanes(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The low and high 32-bit halves of 64-bit words, as int32 views (little-endian, as on
    every CPU and GPU torch runs on)."""
    z32 = z.reshape(-1).view(torch.int32).view(-1, 2)
    return z32[:, 0], z32[:, 1]


def _f23(lane: torch.Tensor, offset: float) -> torch.Tensor:
    """``a 2^-23 + (1 - offset)`` in float32, ``a`` the low 23 bits of an int32 lane: the bits of
    ``1 + a 2^-23`` (the exponent of 1.0 or-ed in), then one exact subtraction."""
    a = torch.bitwise_and(lane, _M23).bitwise_or_(_ONE_F32)
    return a.view(torch.float32).sub_(offset)


def _uniform_from(z: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float64 uniforms in (0, 1) from hash words (``z`` is consumed): ``(a + 1/2) 2^-52``, ``a``
    the top 52 bits (exact)."""
    a = torch.bitwise_right_shift(z, 12, out=z).bitwise_and_((1 << 52) - 1)
    return a.to(torch.float64).add_(0.5).mul_(2.0 ** -52).to(dtype)


def normal_from(z: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Standard normals from hash words (shape kept) by Box-Muller, ``sqrt(-2 log u1) cos(2 pi
    u2)``, ``u1`` from the word's high 32 bits, ``u2`` from its low 32 bits. float64: a lane ``s``
    read as signed int32 gives ``(s + 2^31 + 1/2) 2^-32`` (u1) and ``(s + 2^31) 2^-32`` (u2);
    tails to 6.7 sigma. Other dtypes (float32, then cast): ``(a + 1/2) 2^-23`` and ``a 2^-23``
    from the low 23 bits ``a`` of each lane; tails to 5.8 sigma."""
    lo, hi = _lanes(z)
    if dtype == torch.float64:
        u1 = hi.to(torch.float64).add_(2.0 ** 31 + 0.5).mul_(2.0 ** -32)
        th = lo.to(torch.float64).add_(2.0 ** 31).mul_(2.0 * math.pi * 2.0 ** -32)
    else:
        u1 = _f23(hi, 1.0 - 2.0 ** -24)
        th = _f23(lo, 1.0).mul_(2.0 * math.pi)
    x = u1.log_().mul_(-2.0).sqrt_().mul_(th.cos_()).view(z.shape)
    return x if x.dtype == dtype else x.to(dtype)


def counter_uniform(key: int, index: torch.Tensor, counter: int,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniform numbers in (0, 1), one per element of the integer tensor ``index`` (same shape
    and device), a pure function of ``(key, index, counter)``.

    float64: ``(a + 1/2) 2^-52`` with ``a`` the top 52 bits of the word of ``index``. Other
    dtypes (float32, then cast): ``(a + 1/2) 2^-23`` with ``a`` the low 23 bits of one 32-bit
    half of the word of ``index // 2``: the low half for even ``index``, the high half for odd
    (one hash serves two elements)."""
    index = index if index.dtype == torch.int64 else index.to(torch.int64)
    if dtype == torch.float64:
        return _uniform_from(hash_words(_scaled(index), key, counter), dtype)
    lo, hi = _lanes(hash_words(_scaled(index >> 1), key, counter))
    lane = torch.where((index.reshape(-1) & 1).bool(), hi, lo)
    u = _f23(lane, 1.0 - 2.0 ** -24).view(index.shape)
    return u if dtype == torch.float32 else u.to(dtype)


def uniform_range(numel: int, device, key: int, counter: int, dtype: torch.dtype) -> torch.Tensor:
    """``counter_uniform(key, arange(numel), counter, dtype)`` (fast: cached indices, and the
    int32 view of the words is already in index order)."""
    if dtype == torch.float64:
        return _uniform_from(hash_words(scaled_range(numel, device), key, counter), dtype)
    z = hash_words(scaled_range((numel + 1) // 2, device), key, counter)
    u = _f23(z.view(torch.int32)[:numel], 1.0 - 2.0 ** -24)
    return u if dtype == torch.float32 else u.to(dtype)


def counter_normal(key: int, index: torch.Tensor, counter: int,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal numbers, one per element of ``index`` (same shape and device), a pure
    function of ``(key, index, counter)`` (Box-Muller on one 64-bit hash word)."""
    return normal_from(hash_words(_scaled(index), key, counter), dtype)


# --------------------------------------------------------------------------------------------
# seeds and generators


def as_generator(generator: Generatorish, device=None) -> Optional[torch.Generator]:
    """``int`` -> a new seeded ``torch.Generator``; a generator or ``None`` passes through."""
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator(device=device or "cpu").manual_seed(generator)
    return generator


def generator_key(generator: Generatorish = None) -> int:
    """A 64-bit stream key for the engine from a seed or a generator.

    ``int`` -> ``stream_key(seed)`` (a pure function of the seed); a ``torch.Generator`` -> one
    63-bit draw from it (so it advances and a resumed generator continues the sequence);
    ``None`` -> one draw from torch's global generator."""
    if isinstance(generator, int) and not isinstance(generator, bool):
        return stream_key(generator)
    if generator is None:
        return int(torch.randint(0, 2 ** 63 - 1, (1,)).item())
    return int(torch.randint(0, 2 ** 63 - 1, (1,), generator=generator,
                             device=generator.device).item())


__all__ = ["Generatorish", "stream_key", "extend_key", "counter_uniform", "counter_normal", "as_generator",
           "generator_key",
           # the primitives the pulse engine builds its fused draws from
           "GOLDEN", "GOLDEN_S", "signed64", "mix_", "hash_words", "scaled_range", "normal_from",
           "uniform_range"]
