"""Where and how the training path computes: the torch device, read precision, determinism and
the data-parallel process group (DESIGN section 9).

``compute.accelerator`` picks the torch device (``auto``: CUDA when present); under
``torchrun`` (``WORLD_SIZE`` > 1 in the environment) each rank joins one process group (NCCL on
CUDA, gloo on CPU) and takes ``cuda:LOCAL_RANK``. Models are always built on the CPU from the
seeded CPU generator (the same initial weights whatever the device) and then moved.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .errors import ConfigError


def resolve_accelerator(name: str) -> torch.device:
    """The torch device for ``compute.accelerator`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``);
    a ConfigError when CUDA is asked for and absent. Under torchrun ``cuda`` and ``auto`` (with
    CUDA) mean ``cuda:LOCAL_RANK``, elsewhere the current CUDA device (a local sweep worker sets
    its own: one point per GPU)."""
    local = int(os.environ.get("LOCAL_RANK", "0")) if world_size() > 1 else None
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        name = "cuda"
    if not name.startswith("cuda"):
        raise ConfigError(f"compute.accelerator: unknown accelerator {name!r}; valid: auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise ConfigError(f"compute.accelerator: {name!r} asked for, but this torch ({torch.__version__}) sees no CUDA "
                          "device; use compute.accelerator=cpu (or auto)")
    if name.startswith("cuda:") and local is not None:
        raise ConfigError(f"compute.accelerator: {name!r} would put every torchrun rank on one GPU; use cuda or auto "
                          "(rank r takes cuda:LOCAL_RANK) and choose GPUs with CUDA_VISIBLE_DEVICES")
    # plain "cuda": this rank's GPU under torchrun, else the current device (a sweep worker's own)
    index = int(name[5:]) if name.startswith("cuda:") else (local if local is not None else torch.cuda.current_device())
    if index >= torch.cuda.device_count():
        raise ConfigError(f"compute.accelerator: {name!r} but only {torch.cuda.device_count()} CUDA device(s) "
                          f"are visible; use cuda:0..cuda:{torch.cuda.device_count() - 1}")
    return torch.device("cuda", index)


def configure(compute, device: torch.device) -> None:
    """Global kernel settings for ``compute`` (precision, determinism and the read kernels,
    ``compute.kernels``) on ``device``."""
    from .analog.kernels import set_mode
    set_mode(getattr(compute, "kernels", "auto"))
    tf32 = compute.precision == "tf32"
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    if compute.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


COMPILE_BACKEND = "inductor"
"""The ``torch.compile`` backend of ``compute.compile`` (tests swap in ``aot_eager``, which
traces the same graphs without generating code)."""


def compiled(fn):
    """``fn`` compiled for ``compute.compile`` (:data:`COMPILE_BACKEND`)."""
    return torch.compile(fn, backend=COMPILE_BACKEND)


PRECISIONS: dict[str, tuple[torch.dtype | None, torch.dtype | None]] = {
    "fp32": (None, None),
    "tf32": (None, None),       # TensorFloat-32 is a CUDA matmul switch (:func:`configure`)
    "bf16": (None, torch.bfloat16),
    "fp64": (torch.float64, None),
}
"""``compute.precision`` -> ``(run dtype, read dtype)``: the dtype the whole digital run is cast to
(model, states, batches, optimizer state; None = as built: float32) and the dtype digital reads
round their operands to (None = the operands' own)."""


def run_dtype(precision: str) -> torch.dtype | None:
    """The dtype of the whole run's floating-point tensors (None = as built: float32)."""
    return PRECISIONS[precision][0]


def read_dtype(precision: str) -> torch.dtype | None:
    """The dtype digital reads round their operands to (None = the operands' own)."""
    return PRECISIONS[precision][1]


def check_every(solver_cfg, device: torch.device) -> int:
    """Sweeps between convergence checks: ``solver.check_every``, or 1 for one CPU process (a
    check costs nothing there) and 8 on CUDA or under torchrun (where each check is a device sync
    or an all-reduce over the ranks)."""
    if solver_cfg.check_every is not None:
        return int(solver_cfg.check_every)
    return 1 if device.type == "cpu" and world_size() == 1 else 8


# --------------------------------------------------------------------------- data parallel


def world_size() -> int:
    """Processes of the torchrun job (1 outside torchrun)."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


@dataclass
class Dist:
    """This process's place in a data-parallel job: ``rank`` of ``world`` processes (rank 0
    writes results and checkpoints). ``sync_convergence``: the solvers and the current step's
    ranks all hold samples, so the relaxations and-combine their convergence flags over the
    ranks (set by the trainer per step)."""

    rank: int = 0
    world: int = 1
    sync_convergence: bool = False

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's rows of a global batch of ``n`` (contiguous, sizes differing by at most
        one: the first ``n % world`` ranks take one more)."""
        base, extra = divmod(n, self.world)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))

    def all_reduce_(self, tensors: list[torch.Tensor]) -> None:
        """Sum ``tensors`` over the ranks, in place (one flattened all-reduce)."""
        if not self.active or not tensors:
            return
        import torch.distributed as dist

        flat = torch.cat([t.reshape(-1).to(torch.float64) for t in tensors])
        dist.all_reduce(flat)
        i = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[i:i + n].view(t.shape).to(t.dtype))
            i += n

    def all_true(self, flag: torch.Tensor) -> torch.Tensor:
        """``flag`` (a bool scalar tensor) and-ed over the ranks."""
        if not self.active:
            return flag
        import torch.distributed as dist

        v = flag.to(torch.int32).reshape(1)
        dist.all_reduce(v, op=dist.ReduceOp.MIN)
        return v[0].bool()

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()


_DIST = Dist()


def current() -> Dist:
    """The data-parallel context of this process (rank 0 of 1 until :func:`init_distributed`)."""
    return _DIST


def init_distributed(device: torch.device) -> Dist:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (NCCL for CUDA, gloo for CPU);
    idempotent. Returns the context (a single-process one outside torchrun)."""
    global _DIST
    n = world_size()
    if n <= 1:
        _DIST = Dist()
        return _DIST
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    _DIST = Dist(dist.get_rank(), dist.get_world_size())
    return _DIST


__all__ = ["PRECISIONS", "Dist", "check_every", "configure", "current", "init_distributed", "read_dtype",
           "resolve_accelerator", "run_dtype", "world_size"]
