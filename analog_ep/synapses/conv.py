"""Convolutional synapses: ``Conv`` (conv2d), ``ConvPool`` (max-pool of a conv) and ``Skip``
(1x1 strided conv), all with analytic read / transposed read / correlate (no autograd).

For a weight ``W`` of shape (C_out, C_in, k, k) with stride ``s`` and zero padding ``p``:

==============  ==============================================================================
``read``        ``W * x``: ``conv2d(x, W, s, p)``
``read_t``      ``W *^T y``: ``conv_transpose2d(y, W, s, p, output_padding=(H + 2p - k) mod s)``,
                the exact adjoint, shaped exactly like the pre node also for odd sizes
``correlate``   ``sum_b d<y_b, W * x_b>/dW``: the conv weight gradient
                (``aten.convolution_backward``, the kernel behind ``torch.nn.grad.conv2d_weight``)
==============  ==============================================================================

``ConvPool`` is the DCHN coupling ``<s_post, P(W * s_pre)>`` with ``P`` a max-pool (Scellier et
al. 2023; Laborieux et al. 2021). Max-pool is piecewise linear, so at the current pre state the
coupling is the linear map ``y -> <y, S_idx(W * x)>`` where ``S_idx`` selects the argmax of each
window; its gradient in ``x`` is ``W *^T U_idx(y)`` (``U_idx`` = max-unpool with the same
indices), which is what the node update needs. The indices are recomputed from the ``pre`` given
to ``read_t`` / ``correlate``, never taken from an older state.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .base import Synapse


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Conv arithmetic: ``floor((size + 2 padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def _check_in_shape(name: str, in_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(in_shape) != 3 or any(int(d) < 1 for d in in_shape):
        raise ConfigError(f"{name}: in_shape {tuple(in_shape)} must be (channels, height, width) "
                          f"with positive sizes")
    return tuple(int(d) for d in in_shape)  # type: ignore[return-value]


def _check_positive(name: str, **values: int) -> None:
    for key, v in values.items():
        lo = 0 if key == "padding" else 1
        if int(v) != v or v < lo:
            raise ConfigError(f"{name}: {key}={v!r} must be an integer >= {lo}")


def _uniform_weight(shape: tuple[int, ...], gain: float, generator: torch.Generator | None) -> torch.Tensor:
    """U(-gain/sqrt(fan_in), gain/sqrt(fan_in)), fan_in = C_in k k (as :class:`Dense`)."""
    fan_in = math.prod(shape[1:])
    bound = gain / math.sqrt(fan_in)
    return (torch.rand(*shape, generator=generator) * 2 - 1) * bound


class Conv(Synapse):
    """Convolutional coupling ``<s_post, W * s_pre>`` between nodes of shape (C, H, W).

    ``read = conv2d(pre, W, stride, padding)``; ``read_t`` its exact adjoint (transposed conv with
    the output padding that restores ``in_shape``); ``correlate`` the batch-summed weight gradient.
    Weight (out_channels, C_in, k, k) initialized U(±gain/sqrt(C_in k²)).
    """

    def __init__(self, in_shape: tuple[int, ...], out_channels: int, kernel_size: int = 3,
                 stride: int = 1, padding: int = 1, gain: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        name = type(self).__name__
        c, h, w = _check_in_shape(name, in_shape)
        _check_positive(name, out_channels=out_channels, kernel_size=kernel_size, stride=stride,
                        padding=padding)
        self.in_shape = (c, h, w)
        self.kernel_size = int(kernel_size)
        self.stride = int(stride)
        self.padding = int(padding)
        ho = _conv_out(h, self.kernel_size, self.stride, self.padding)
        wo = _conv_out(w, self.kernel_size, self.stride, self.padding)
        if ho < 1 or wo < 1:
            raise ConfigError(f"{name}: in_shape {self.in_shape} is too small for kernel_size "
                              f"{kernel_size} with padding {padding} (conv output {ho}x{wo})")
        self.conv_shape = (int(out_channels), ho, wo)
        self._map_shape = (c, h, w)  # the conv's own input (a subclass may pad its pre node into it)
        self.out_shape = self.conv_shape
        # conv_transpose2d maps ho back to (ho-1)s - 2p + k; the rest of the input rows (never
        # read by the conv when s > 1) get zero: output_padding = (h + 2p - k) mod s < s.
        self._output_padding = ((h + 2 * self.padding - self.kernel_size) % self.stride,
                                (w + 2 * self.padding - self.kernel_size) % self.stride)
        self._init_storage(_uniform_weight((int(out_channels), c, self.kernel_size, self.kernel_size),
                                           gain, generator))

    # -------------------------------------------------------------- the three primitives
    def _conv(self, pre: torch.Tensor) -> torch.Tensor:
        return self.storage.conv(pre, self.stride, self.padding)

    def _conv_t(self, post: torch.Tensor) -> torch.Tensor:
        return self.storage.conv_t(post, self.stride, self.padding, self._output_padding)

    def _conv_w(self, grad_out: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """``sum_b d<grad_out_b, W * pre_b>/dW`` (the kernel of ``torch.nn.grad.conv2d_weight``)."""
        self.storage.events.correlate(grad_out.shape[0] * grad_out.shape[2] * grad_out.shape[3])
        return torch.ops.aten.convolution_backward(
            grad_out, pre, self.weight, None, (self.stride,) * 2, (self.padding,) * 2, (1, 1),
            False, (0, 0), 1, (False, True, False))[1]

    # -------------------------------------------------------------- protocol
    def read(self, pre: torch.Tensor) -> torch.Tensor:
        return self._conv(pre)

    def read_floor(self, direction: str) -> tuple[float, float | None] | None:
        """The storage's floor of the ``conv_forward`` / ``conv_transposed`` read
        (:meth:`~analog_ep.analog.storage.AnalogStorage.read_floor`). Forward: every output pixel
        is one read (its channel blocks' partials add); a max-pool after it (:class:`ConvPool`)
        selects one of a window's noisy reads, whose spread is at most one read's (the max is
        1-Lipschitz; equal where one element leads the window by more than the noise), so the
        same floor. Transposed: each forward output pixel is one read of a patch, and the fold
        adds the independent partials of every patch that covers an input pixel: ``fold`` is
        the most patches any pixel receives (:attr:`fold_cover`; interior pixels of a stride-1
        3x3 conv: 9), the largest floor on the pre node."""
        return self.storage.read_floor("conv_" + direction, self.fold_cover if direction == "transposed" else 1)

    def weight_floor(self, direction: str) -> tuple | None:
        """The weight read noise of a conv read, ``(cw, norm)`` (``cw`` the storage's
        :meth:`~analog_ep.analog.storage.AnalogStorage.weight_floor`; None without). A read sees
        one fresh draw ``W + delta`` (:meth:`~analog_ep.analog.storage.AnalogStorage._read_weight`),
        shared by every patch and every sample of the read. Forward: output ``(j, p)`` gains
        ``sum_i delta_ji x_i`` over its input patch ``p`` (all channels, the padding's zeros add
        nothing; the channel blocks' tiles add their parts digitally), std ``cw ||x_p||_2``.
        Transposed: input pixel ``q`` of channel ``c`` gains ``sum_{p covers q} sum_j
        delta_{j, c, q - p} y_jp``: distinct patches reach ``q`` through distinct kernel taps, so
        the terms are independent, std ``cw sqrt(sum_{p covers q} ||y_p||^2)`` (the fold of the
        per-pixel energies, :meth:`cover_energy`). The floor is per sample: ``norm`` is the largest
        such norm over the node's pixels (:meth:`patch_norm` / :meth:`cover_norm`), a bound on
        every element's std, as the output-noise term's ``max |x|`` scale is. The patches share one
        draw, so their errors are correlated (overlapping patches through the same taps, and
        every pixel through the same kernel); the band is still a bound: the node's band is set
        for independent entries (``solver.noise_band: max``), and for a centred Gaussian vector
        ``P(max_i |X_i| / sigma_i <= t) >= prod_i P(|X_i| / sigma_i <= t)`` whatever its
        correlations (Sidak, J. Amer. Statist. Assoc. 62, 1967), so the largest of correlated
        noise-only changes exceeds the band no more often than independent ones would."""
        cw = self.storage.weight_floor()
        if cw <= 0:
            return None
        return cw, (self.patch_norm if direction == "forward" else self.cover_norm)

    def patch_norm(self, x: torch.Tensor) -> torch.Tensor:
        """Per sample the largest input patch's L2 norm of the forward read of ``x`` (B, C, H, W):
        ``max_p sqrt(sum_{c, taps of p} x^2)``, the channels' squares summed and then the conv
        of that one-channel map with a ones kernel (the read's stride and padding)."""
        e = x.square().sum(1, keepdim=True)
        k = self.kernel_size
        s = F.conv2d(e, e.new_ones((1, 1, k, k)), stride=self.stride, padding=self.padding)
        return s.amax((1, 2, 3)).sqrt()

    def cover_energy(self, e: torch.Tensor) -> torch.Tensor:
        """``e`` (B, 1, Ho, Wo) the per-pixel energy ``||y_p||^2`` of a transposed read's input ->
        per input pixel ``q`` the sum over the patches that cover it (the fold of ``e`` through a
        ones kernel: ``conv_transpose2d`` with the read's stride, padding and output padding)."""
        k = self.kernel_size
        return F.conv_transpose2d(e, e.new_ones((1, 1, k, k)), stride=self.stride, padding=self.padding,
                                  output_padding=self._output_padding)

    def cover_norm(self, y: torch.Tensor) -> torch.Tensor:
        """Per sample the largest ``sqrt(sum_{p covers q} ||y_p||_2^2)`` over the pixels ``q`` of the
        transposed read of ``y`` (the post state): :meth:`cover_energy` of its channel-summed squares."""
        return self.cover_energy(y.square().sum(1, keepdim=True)).amax((1, 2, 3)).sqrt()

    @functools.cached_property
    def fold_cover(self) -> int:
        """The most conv patches that cover one input pixel (the transposed read's fold adds that
        many partials there): per spatial axis the most output positions ``o`` with ``0 <= i +
        padding - o stride < kernel_size`` over the input positions ``i``, the two axes' product.
        Computed once per synapse (its shapes are fixed at construction), at its first use."""
        k, s, p = self.kernel_size, self.stride, self.padding
        cover = 1
        for n_in, n_out in zip(self.map_shape[1:], self.conv_shape[1:]):
            cover *= max(sum(1 for o in range(n_out) if 0 <= i + p - o * s < k) for i in range(n_in))
        return cover

    def read_t(self, post: torch.Tensor, pre: torch.Tensor | None = None) -> torch.Tensor:
        return self._conv_t(post)

    def correlate(self, post: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        return self._conv_w(post, pre)

    def _vectors(self, grad_out: torch.Tensor, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One (d, x) pair per sample and output pixel: ``d`` the output channels at the pixel,
        ``x`` the input patch (C_in k k) the pixel reads."""
        b, c_out = grad_out.shape[:2]
        d = grad_out.reshape(b, c_out, -1).transpose(1, 2).reshape(-1, c_out)
        cols = F.unfold(pre, self.kernel_size, padding=self.padding, stride=self.stride)
        x = cols.transpose(1, 2).reshape(-1, cols.shape[1])
        return d, x

    def update_vectors(self, post: torch.Tensor, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._vectors(post, pre)

    @property
    def map_shape(self) -> tuple[int, ...]:
        return self._map_shape

    def weight_map(self, weight: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The convolution alone (a max-pool after it, :class:`ConvPool`, only selects outputs,
        so the coupling's gain is at most the convolution's)."""
        return F.conv2d(v, weight, None, self.stride, self.padding)

    def weight_map_t(self, weight: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(u, weight, None, self.stride, self.padding, self._output_padding)

    def extra_repr(self) -> str:
        return (f"in_shape={self.in_shape}, out_shape={self.out_shape}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class Skip(Conv):
    """1x1 strided convolution coupling ``k -> k+2`` of Hopfield-ResNet (E P & Srinivasan 2025):
    (C_in, H, W) -> (C_out, ceil(H/stride), ceil(W/stride)), padding 0.

    ``out_shape`` is the shape of the target node; it must match the conv arithmetic.
    """

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], stride: int = 2,
                 gain: float = 1.0, generator: torch.Generator | None = None):
        in_shape = _check_in_shape("Skip", in_shape)
        out_shape = tuple(int(d) for d in out_shape)
        _check_positive("Skip", stride=stride)
        expect = (out_shape[0] if out_shape else 0, _conv_out(in_shape[1], 1, stride, 0),
                  _conv_out(in_shape[2], 1, stride, 0))
        if len(out_shape) != 3 or out_shape[0] < 1 or out_shape != expect:
            raise ConfigError(f"Skip: a skip between incompatible nodes: in_shape {in_shape} with a "
                              f"1x1 stride-{stride} conv gives (C, {expect[1]}, {expect[2]}), not "
                              f"out_shape {out_shape}")
        super().__init__(in_shape, out_shape[0], kernel_size=1, stride=stride, padding=0, gain=gain,
                         generator=generator)


class ConvPool(Conv):
    """DCHN coupling ``<s_post, P(W * s_pre)>``: stride-1 conv then ``pool`` x ``pool`` max-pool
    (Scellier et al. 2023, eq. of the VGG Hopfield network).

    ``read(x) = P(W * x)``; ``read_t(y, x) = W *^T U_idx(x)(y)`` and
    ``correlate(y, x) = sum_b d<U_idx(x)(y_b), W * x_b>/dW``, with ``idx(x)`` the argmax indices
    of ``P`` on ``W * x`` for the given ``x``. This is the gradient of the coupling in ``x`` / ``W``
    wherever the argmax is unique (max-pool is piecewise linear).

    Index cache: ``read_t`` and ``correlate`` need ``W * x`` only for its argmax. The last
    indices are kept with a key made of ``x``'s memory address, shape, strides and autograd
    version counter and the weight's address and version counter; the cache pins ``x``'s and
    ``W``'s storage, so the address cannot be reused by another tensor while the entry lives.
    Any in-place change through the tensor or its views (``copy_``, optimizer steps,
    ``load_state_dict``) or replacing ``weight.data`` invalidates it. Writes through
    ``tensor.data`` bypass version counters: call :meth:`clear_cache` after them, or pass
    ``cache=False``. Pooled values are returned from the cache at most once and never while
    autograd needs a graph.
    """

    def __init__(self, in_shape: tuple[int, ...], out_channels: int, kernel_size: int = 3,
                 padding: int = 1, pool: int = 2, gain: float = 1.0,
                 generator: torch.Generator | None = None, cache: bool = True):
        super().__init__(in_shape, out_channels, kernel_size=kernel_size, stride=1, padding=padding,
                         gain=gain, generator=generator)
        _check_positive("ConvPool", pool=pool)
        self.pool = int(pool)
        c, ho, wo = self.conv_shape
        if ho % self.pool or wo % self.pool:
            raise ConfigError(f"ConvPool: in_shape {self.in_shape} gives a conv output {self.conv_shape} "
                              f"that the {pool}x{pool} max-pooling cannot divide; use spatial sizes "
                              f"that are multiples of {pool}")
        self.out_shape = (c, ho // self.pool, wo // self.pool)
        self.cache = bool(cache)
        self._cache: tuple | None = None

    def clear_cache(self) -> None:
        """Forget the cached pooling indices (needed only after writes through ``.data``)."""
        self._cache = None

    # -------------------------------------------------------------- pooling and its cache
    def _key(self, pre: torch.Tensor):
        w = self.weight
        if not self.cache or pre.is_inference() or w.is_inference():
            return None
        return (tuple(pre.shape), pre.stride(), pre.dtype, pre.device, pre._version, w._version)

    def _lookup(self, pre: torch.Tensor, key):
        c = self._cache
        if key is None or c is None:
            return None
        c_key, c_pre, c_w, pooled, idx = c
        if (c_key == key and c_pre.data_ptr() == pre.data_ptr()
                and c_w.data_ptr() == self.weight.data_ptr()):
            return pooled, idx
        return None

    def _pool(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.storage.max_pool(self._conv(pre), self.pool)

    def _store(self, key, pre: torch.Tensor, pooled: torch.Tensor | None, idx: torch.Tensor) -> None:
        if key is not None:
            self._cache = (key, pre.detach(), self.weight.detach(), pooled, idx)

    def _indices(self, pre: torch.Tensor) -> torch.Tensor:
        """Argmax indices of the max-pool of ``W * pre`` (flat within each H x W plane)."""
        key = self._key(pre)
        hit = self._lookup(pre, key)
        if hit is not None:
            return hit[1]
        with torch.no_grad():
            pooled, idx = self._pool(pre)
        self._store(key, pre, pooled, idx)  # pooled never handed out yet: read may use it once
        return idx

    def _unpool(self, post: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        if pre is None:
            raise ValueError("ConvPool.read_t/correlate need the current pre-synaptic state `pre` "
                             "(the unpooling indices depend on it)")
        return F.max_unpool2d(post, self._indices(pre), self.pool, self.pool,
                              output_size=self.conv_shape[1:])

    # -------------------------------------------------------------- protocol
    def read(self, pre: torch.Tensor) -> torch.Tensor:
        if self.pool == 1:
            return self._conv(pre)
        key = self._key(pre)
        needs_graph = torch.is_grad_enabled() and (pre.requires_grad or self.weight.requires_grad)
        hit = self._lookup(pre, key)
        if hit is not None and hit[0] is not None and not needs_graph:
            pooled, idx = hit
            self._cache = self._cache[:3] + (None, idx)  # hand the cached values out only once
            return pooled
        pooled, idx = self._pool(pre)
        self._store(key, pre, None, idx)
        return pooled

    def read_t(self, post: torch.Tensor, pre: torch.Tensor | None = None) -> torch.Tensor:
        if self.pool == 1:
            return self._conv_t(post)
        return self._conv_t(self._unpool(post, pre))

    def cover_energy(self, e: torch.Tensor) -> torch.Tensor:
        """The transposed read unpools its input first (one value per pool window, at the argmax
        of the pre state's conv), so an input pixel ``q`` receives at most one patch per window:
        ``sum over the windows w some patch of which covers q of ||y_w||^2``, the largest this
        read can see whatever the argmax (each window's maximum may sit at any of its pixels).
        With stride 1 the patches of window ``w`` cover the input pixels ``w pool - padding + [0,
        kernel + pool - 1)``: the fold of ``e`` (the pooled map's energies) through a ones kernel
        of ``kernel + pool - 1`` at stride ``pool``, exactly the pre node's size. An upper bound on
        the actual argmax's sum (that argmax is a noisy read's and not known to the floor; at a
        3x3 kernel and 2x2 pool a pixel meets up to 4 windows where one argmax's patches give it
        1 to 4 of them)."""
        if self.pool == 1:
            return super().cover_energy(e)
        k = self.kernel_size + self.pool - 1
        return F.conv_transpose2d(e, e.new_ones((1, 1, k, k)), stride=self.pool, padding=self.padding)

    def correlate(self, post: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        if self.pool == 1:
            return self._conv_w(post, pre)
        return self._conv_w(self._unpool(post, pre), pre)

    def update_vectors(self, post: torch.Tensor, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._vectors(post if self.pool == 1 else self._unpool(post, pre), pre)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", pool={self.pool}"
