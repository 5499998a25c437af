"""Fused read kernels: which implementation runs a crossbar read (``compute.kernels``).

The torch reads of :mod:`analog_ep.analog.reads` are the reference and the CUDA path. On CPU
tensors a read may instead run a fused numba kernel (:mod:`.numba_reads`, built from the same
periphery definitions, in the same physical order): the DAC (with abs-max noise management,
per tile or per layer: one pass over the inputs),
each tile's product (BLAS, as torch), then one pass per read over the partials that applies IR
drop, output noise (a counter-based normal generator inside the kernel, :mod:`.normal`), each
tile's ADC and the digital sum of the tiles' partials.

``compute.kernels`` (:data:`MODES`):

* ``torch``: the torch reads everywhere (the reference).
* ``numba``: the fused kernels wherever a read kind has one; numba must be installed
  (``pip install 'analog-ep[numba]'``), else a ConfigError at configuration.
* ``auto`` (default): numba where a read or engine step has a kernel, the tensor is on the CPU
  and numba is installed (:data:`AUTO_NUMBA`), torch otherwise (always torch on CUDA). Measured
  (``benchmarks/speed_fmnist.md``, session 5; ``benchmarks/kernels_numba.md``): with the fused
  pulse rounds the kernels make the memristor 784-500-10 EP step 26-28 % cheaper in CPU time than
  torch (18-20 % before them; with the read path's one-tile plan), above the 20 % bar set for making them the default. Installing
  numba therefore changes a noisy analog run's output-noise stream (same distribution, seeded)
  and the last bit of some pulses; ``compute.kernels: torch`` keeps the reference.

The pulse engine's rounded counts (:func:`analog_ep.analog.engine.rounded_counts`) have a fused
kernel too (:mod:`.numba_engine`, chosen by :func:`select_engine` under the same mode): one pass
instead of about fifteen tensor passes, bit-identical counts (so no stream changes there); and
the compact pulse rounds (:func:`analog_ep.analog.engine.apply_counts`) of the rules with an
affine pulse (ConstantStep, LinearStep, SoftBounds) run as one fused pass over the devices with
the torch engine's cycle-to-cycle stream (equal to float rounding of its normals: float32 evaluates
``log`` / ``cos`` as polynomials). A whole
rounded or mixed update of such a rule (the change, the counts, the pulses, wear, the pulse total
and the event statistic) is one kernel call (session 8: :func:`analog_ep.analog.engine.fused_update`,
kind ``pulsed_update``; the same bits as those kernels step by step), reported under the steps it
runs (``rounded_counts``, ``apply_counts``).

The max-pool that follows an analog conv read (``ConvPool``) has a kernel too
(:func:`select_pool`, kind ``max_pool``): the same values and indices as ``F.max_pool2d`` on the
stage's NCHW output in one pass (session 9).

Which reads have a kernel (:func:`select` is the one place that decides): the four read kinds
(``dense_forward``, ``dense_transposed``, ``conv_forward``, ``conv_transposed``) on CPU tensors
of float32 / float64, when the output stage is not ideal (an ideal output stage is one BLAS call,
nothing to fuse) and the read takes its plain path; the general path of :mod:`.reads`
(``_managed``) runs in a kernel only for dense reads with per-tile noise management
(``nm_scope: tile``) and no bound management. Bound management (iterative re-reads, shift) and
convolutions with per-tile noise management fall back to torch, as do reads whose output-noise
draw carries no stream key (``randn.key``: the storage's output-noise draws carry theirs).

**Noise.** The kernels do not call ``torch.randn``: the output noise of element ``e`` of a read
is a function of the read's stream key (the storage's ``(seed, tile, purpose, batch, phase,
read)`` key), the global sample index (data parallel: ``randn.rows``) and ``e``
(:mod:`.normal`). Runs are reproducible and independent of threads; the values differ from the
torch reference's draws (same distribution: tested statistically). Noiseless reads equal the
torch reads to float rounding.

:func:`ran` reports which implementation each read kind last used (``bench`` prints it).

**Planned reads** (session 7). A relaxation's dense read (autograd off) that a fused one-tile
kernel runs skips the per-read dispatch: the storage asks :func:`dense_plan` once per read site
(checked against the periphery, mode, dtype, lines, device and ``w_scale``) and then calls
:func:`.numba_reads.one_tile_read` directly with the phase's stream key, which the kernel extends
by the read index (no host hash, no draw object per read). Same kernels, same arguments: the same
bits, counts and noise stream as the general path (``tests/unit/test_kernels_planned_reads.py``).
With numba's pool at one thread (``NUMBA_NUM_THREADS=1``) the kernels run one-thread drivers of
the same row bodies (no parallel region to enter).
"""

from __future__ import annotations

import importlib
from typing import Callable, Optional

import torch

from ...errors import ConfigError

MODES = ("auto", "torch", "numba")
AUTO_NUMBA = True
"""Whether ``compute.kernels: auto`` takes the numba kernels (where they can run): True since they
take more than 20 % of the CPU time off the memristor EP step (module doc)."""
KINDS = ("dense_forward", "dense_transposed", "conv_forward", "conv_transposed")
INSTALL_HINT = "pip install 'analog-ep[numba]'"

_state = {"mode": "auto"}
_ran: dict = {}
_available: dict = {}
_decided: dict = {}


def numba_available() -> bool:
    """True when numba can be imported (checked once per process)."""
    if "numba" not in _available:
        try:
            importlib.import_module("numba")
            _available["numba"] = True
        except ImportError:
            _available["numba"] = False
    return _available["numba"]


def _wants_numba(m: str) -> bool:
    """Whether ``compute.kernels`` mode ``m`` takes the numba kernels where they can run:
    ``numba``, or ``auto`` while :data:`AUTO_NUMBA`."""
    return m == "numba" or (m == "auto" and AUTO_NUMBA)


def _kernel_tensor(like: torch.Tensor) -> bool:
    """Whether the numba kernels can run on ``like``: a float32 / float64 CPU tensor."""
    return like.device.type == "cpu" and like.dtype in (torch.float32, torch.float64)


def numba_selected(like: torch.Tensor, mode_: Optional[str] = None) -> bool:
    """The one torch-or-numba choice: whether ``compute.kernels`` (``mode_``, default the
    process's) runs a numba kernel on ``like``: the mode takes numba (:func:`_wants_numba`),
    ``like`` is a float32 / float64 CPU tensor and numba is installed. Each caller adds only
    its kernel's own conditions (:func:`select_pool`, :func:`select_engine`, the fused settle
    step); :func:`select` takes the same three parts apart, as it caches its decision per read site."""
    m = _state["mode"] if mode_ is None else mode_
    return _wants_numba(m) and _kernel_tensor(like) and numba_available()


def check_mode(mode: str, key: str = "compute.kernels") -> None:
    """ConfigError (one line, naming ``key`` and the fix) unless ``mode`` is valid here:
    one of :data:`MODES`, and ``numba`` only where numba is installed."""
    if mode not in MODES:
        raise ConfigError(f"{key}: must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "numba" and not numba_available():
        raise ConfigError(f"{key}: numba asks for the fused CPU kernels, but numba is not installed; "
                          f"install the extra ({INSTALL_HINT}) or set {key}=auto / torch")


def set_mode(mode: str) -> None:
    """Set the process's ``compute.kernels`` (:func:`analog_ep.compute.configure` calls it)."""
    check_mode(mode)
    _state["mode"] = mode


def mode() -> str:
    """The process's ``compute.kernels``."""
    return _state["mode"]


def ran() -> dict:
    """``{read kind: "numba" | "torch"}``: the implementation each read kind used last."""
    return dict(_ran)


def reset_ran() -> None:
    _ran.clear()


def _has_kernel(kind: str, p, like: torch.Tensor, keyed: bool) -> bool:
    """Whether the numba kernel of ``kind`` can run this read (module doc); ``keyed``: the read's
    output-noise draw carries a stream key."""
    if not _kernel_tensor(like):
        return False
    if (p.out_bits is None and p.out_bound is None and p.read_noise_std == 0 and p.ir_drop == 0):
        return False                           # ideal output stage: one BLAS call, nothing to fuse
    forward = kind in ("dense_forward", "conv_forward")
    if forward and p.bound_management != "none" and p.out_bound is not None:
        return False                           # iterative / shift bound management: torch
    if p.noise_management == "abs_max" and p.nm_scope == "tile" and kind.startswith("conv"):
        return False                           # per-(tile, patch) scales of a conv: torch
    if p.read_noise_std > 0 and not keyed:
        return False                           # no stream key to draw the kernel's noise from
    return True


def select(kind: str, p, like: torch.Tensor, randn=None, mode_: Optional[str] = None,
           keyed: Optional[bool] = None) -> Optional[Callable]:
    """The numba kernel that runs read ``kind`` (one of :data:`KINDS`) on ``like``'s device under
    ``compute.kernels`` (``mode_``, default the process's), or None for the torch read.

    ``numba``: the kernel when ``like`` is a CPU tensor and the read has a kernel (else torch;
    numba's absence was refused at configuration); ``auto``: the same when :data:`AUTO_NUMBA` and
    numba is installed, else None; ``torch``: None. ``keyed`` (default: whether ``randn`` has a
    ``key``): the read's output noise has a stream key to draw from."""
    m = _state["mode"] if mode_ is None else mode_
    if not _wants_numba(m):                    # numba_selected's parts: the mode here, the tensor in _has_kernel
        _ran[kind] = "torch"
        return None
    # the decision depends on the read kind, the periphery, the tensor's device and dtype and
    # whether the draw carries a stream key: cached per read site (the periphery by identity)
    if m == "numba":
        check_mode(m)
    have = numba_available()
    if keyed is None:
        keyed = getattr(randn, "key", None) is not None
    ck = (kind, m, have, id(p), like.device.type, like.dtype, keyed)
    hit = _decided.get(ck)
    if hit is not None and hit[0] is p:
        fn = hit[1]
    else:
        fn = None
        if have and _has_kernel(kind, p, like, keyed):
            mod = _available.get("module")
            if mod is None:
                mod = _available["module"] = importlib.import_module(".numba_reads", __name__)
            fn = getattr(mod, kind)
        if len(_decided) > 256:
            _decided.clear()
        _decided[ck] = (p, fn)
    _ran[kind] = "torch" if fn is None else "numba"
    return fn


def select_pool(like: torch.Tensor, k: int, mode_: Optional[str] = None) -> Optional[Callable]:
    """The numba max-pool with indices (:func:`.numba_reads.max_pool`: the values and indices of
    ``F.max_pool2d(like, k, k, return_indices=True)`` in one pass) for an analog conv read's
    output ``like`` under ``compute.kernels`` (as :func:`select`), or None for torch's. It runs
    on NCHW-contiguous float32 / float64 CPU tensors whose H and W ``k`` divides, without autograd
    (aten's NCHW max-pool is several times slower than its channels-last one, which the digital
    storage's reads feed). Reported by :func:`ran` under ``max_pool``."""
    fn = None
    if (numba_selected(like, mode_) and like.dim() == 4 and like.is_contiguous()
            and like.shape[2] % k == 0 and like.shape[3] % k == 0
            and not (like.requires_grad and torch.is_grad_enabled())):
        mod = _available.get("module")
        if mod is None:
            mod = _available["module"] = importlib.import_module(".numba_reads", __name__)
        fn = mod.max_pool
    _ran["max_pool"] = "torch" if fn is None else "numba"
    return fn


DENSE_KINDS = ("dense_forward", "dense_transposed")
"""The read kinds with a one-tile fused plan (:func:`dense_plan`)."""


def dense_plan(kind: str, p, like: torch.Tensor, max_size: int, w_scale: float):
    """The fused one-tile plan of a keyed dense read (``dense_forward`` / ``dense_transposed``) of
    ``like`` (B, lines) on tiles of ``max_size`` lines, when :func:`select` runs it in numba and
    it fits one tile with no IR drop and no per-tile noise management
    (:func:`.numba_reads.one_tile_plan`); None otherwise (the read then takes the path of
    :mod:`analog_ep.analog.reads`). Returned as ``(plan, run)``, ``run`` the reader
    (:func:`.numba_reads.one_tile_read`); the storage caches it per read site and reports each
    read by :func:`mark_ran`."""
    if kind not in DENSE_KINDS or select(kind, p, like, keyed=True) is None:
        return None
    mod = _available["module"]
    plan = mod.one_tile_plan(p, like.dtype, like.shape[1], max_size, w_scale)
    return None if plan is None else (plan, mod.one_tile_read)


def mark_ran(kind: str, impl: str) -> None:
    """Record that read ``kind`` ran under ``impl`` (a cached plan's read, which skips :func:`select`)."""
    _ran[kind] = impl


_KERNEL_MODULES = (".numba_reads", ".numba_engine", ".numba_sweep", ".numba_settle")
"""The kernel modules :func:`warm` imports: the reads (:func:`select`), the pulse engine
(:func:`select_engine`), the fused sweep (``solvers/hopfield.py``) and the fused settle step
(``solvers/settle.py``), each of which a training step on analog tiles may call first."""


def warm(like: torch.Tensor) -> bool:
    """Pay numba's one-time start-up now, where the caller builds a model whose analog tiles the
    kernels will run (``like``: a tensor of that model, as :func:`numba_selected` takes it): import
    numba and the kernel modules and build numba's CPU typing and target contexts, which the first
    kernel call of a process otherwise does (about 0.45 s of CPU on this project's machine, inside
    the first training step: ``benchmarks/speed_fmnist_s11_epoch.md``). Nothing is drawn, counted
    or compiled here: each kernel still loads its compiled code (numba's cache) on its first call.
    Returns whether it ran (False where the numba kernels do not run on ``like``); once per
    process."""
    if not numba_selected(like):
        return False
    if _available.get("warm"):
        return True
    for name in _KERNEL_MODULES:
        importlib.import_module(name, __name__)
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()
    _available["warm"] = True
    return True


ENGINE_KINDS = ("rounded_counts", "apply_counts", "pulsed_update")
_NEEDS_RULE = ("apply_counts", "pulsed_update")   # kernels that run a rule's pulses: affine ones only
_COMPOSITE = ("pulsed_update",)   # runs the other steps in one kernel and reports them (engine.fused_update)


def select_engine(kind: str, like: torch.Tensor, params=None, mode_: Optional[str] = None) -> Optional[Callable]:
    """The numba kernel of pulse-engine step ``kind`` (one of :data:`ENGINE_KINDS`:
    ``rounded_counts``, bit-identical to the torch engine; ``apply_counts``, the compact pulse
    rounds of rules whose ``params.pulse_form`` the kernel runs, equal to float rounding) for
    ``like`` (float32 / float64 CPU tensors), under ``compute.kernels`` as :func:`select` decides
    for reads; None for torch. Reported by :func:`ran` under its kind."""
    fn = None
    if numba_selected(like, mode_):
        mod = _available.get("engine_module")
        if mod is None:
            mod = _available["engine_module"] = importlib.import_module(".numba_engine", __name__)
        if kind not in _NEEDS_RULE or mod.supports(params):
            fn = getattr(mod, kind)
    if kind not in _COMPOSITE:
        _ran[kind] = "torch" if fn is None else "numba"
    return fn


__all__ = ["warm", "dense_plan", "mark_ran", "select_pool", "AUTO_NUMBA", "ENGINE_KINDS", "select_engine", "INSTALL_HINT", "KINDS", "MODES", "check_mode", "mode", "numba_available", "numba_selected", "ran", "reset_ran", "select",
           "set_mode"]
