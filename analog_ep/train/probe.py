"""Run a probe on a trainer itself and put its state back afterwards, without copying its weights.

:func:`~analog_ep.train.first_phase.first_phase_check` runs the start of a run's first training step
(up to the first settle phase's step decision) on the trainer it is about to train. Until session
10 it ran on a deep copy of the trainer, which held every weight, conductance and device
parameter twice at the start of a run (on a GPU, twice the model's memory). :func:`preserved`
instead remembers what the start of a step can change and restores it on the way out:

- **the state's bindings**: every attribute of every object the trainer reaches (the trainer, its
  model and its modules, storages, counters, rule, optimizer, configs; not its data sets, which a
  step only reads), and the contents of every list, dict and set among them (host counters,
  caches, the optimizer's ``param_groups``), shallow: a cache a step builds is dropped again, a
  counter a step bumps takes its old value, a list it appends to gets its old items;
- **the streams**: every ``torch.Generator`` reached (``get_state`` / ``set_state``), torch's
  global generator and, on CUDA, the device's; the counter-based read noise of the storages is
  their counters (restored as bindings above);
- **the tensors**: a tensor of at most :data:`SAVED_NUMEL` elements (event counters, read and
  pulse counters, per-phase sums: state whose size does not grow with the model) is cloned and
  written back on the way out (always: a numba kernel writing through a tensor's ``.numpy()`` view
  does not move its version counter); a larger tensor (weights, conductances, device parameters:
  one value per crossbar cell) is shared read-only and must come out with its version counter
  unchanged, else :class:`RuntimeError` names it (a probe that wrote a weight would have changed
  the run: a defect, never silently kept). The guard sees torch's writes only: a numba write
  through a ``.numpy()`` view of a large tensor leaves its version counter alone, so the probe must
  stop before any kernel that writes weights (the pulse update: it stops before
  ``apply_updates``);
- **numpy arrays** reached (host-side state of the kernels) are copied whole, whatever their size,
  and copied back: numba writes to them are restored like any other.

``extra``: more objects to restore the same way (module-level state keyed by the model, such as
the settle's step log). ``tests/unit/test_settle_step.py`` proves the trainer bit-identical after
the first-phase check (a plain hash of every leaf it reaches, before and after) and the run's
weights equal to a run without the check.
"""

from __future__ import annotations

import collections
import contextlib
from typing import Any, Iterator

import numpy as np
import torch

SAVED_NUMEL = 256
"""Tensors of at most this many elements are saved and restored by value; larger ones are shared
read-only (their version counter checked)."""

_ATOMS = (int, float, complex, bool, str, bytes, type(None))


def _descends(o: Any) -> bool:
    """Objects whose attributes are the trainer's state: this package's own objects, torch
    modules and optimizers (configs and dataclasses of the package included)."""
    mod = type(o).__module__ or ""
    return mod.startswith("analog_ep") or isinstance(o, (torch.nn.Module, torch.optim.Optimizer))


class _Snapshot:
    def __init__(self, roots: list, skip: set[int]):
        self.bindings: list[tuple[Any, dict]] = []  # objects' __dict__, shallow
        self.lists: list[tuple[list, list]] = []
        self.dicts: list[tuple[dict, list]] = []
        self.sets: list[tuple[set, set]] = []
        self.gens: list[tuple[torch.Generator, torch.Tensor]] = []
        self.small: list[tuple[torch.Tensor, int | None, torch.Tensor]] = []
        self.large: list[tuple[str, torch.Tensor, int]] = []
        self.arrays: list[tuple[np.ndarray, np.ndarray]] = []
        seen = set(skip)
        stack = collections.deque([(r, "trainer" if i == 0 else f"extra[{i - 1}]") for i, r in enumerate(roots)])
        while stack:  # breadth first: a tensor is named by its shortest path from the trainer
            o, path = stack.popleft()
            if isinstance(o, _ATOMS) or id(o) in seen:
                continue
            seen.add(id(o))
            if isinstance(o, torch.Tensor):
                self._tensor(o, path)
            elif isinstance(o, torch.Generator):
                self.gens.append((o, o.get_state()))
            elif isinstance(o, np.ndarray):
                self.arrays.append((o, o.copy()))
            elif isinstance(o, dict):
                items = list(o.items())
                self.dicts.append((o, items))
                stack.extend((v, f"{path}[{k!r}]") for k, v in items)
            elif isinstance(o, list):
                self.lists.append((o, list(o)))
                stack.extend((v, f"{path}[{i}]") for i, v in enumerate(o))
            elif isinstance(o, tuple):
                stack.extend((v, f"{path}[{i}]") for i, v in enumerate(o))
            elif isinstance(o, set):
                self.sets.append((o, set(o)))
                stack.extend((v, path) for v in o)
            elif _descends(o) and isinstance(getattr(o, "__dict__", None), dict):
                d = dict(o.__dict__)
                self.bindings.append((o, d))
                stack.extend((v, f"{path}.{k}") for k, v in d.items())

    def _tensor(self, t: torch.Tensor, path: str) -> None:
        if t.device.type == "meta":
            return
        version = _version(t)
        if t.numel() <= SAVED_NUMEL or version is None:
            self.small.append((t, version, t.detach().clone()))
        else:
            self.large.append((path, t, version))

    def restore(self) -> None:
        for o, d in self.bindings:
            o.__dict__.clear()
            o.__dict__.update(d)
        for lst, items in self.lists:
            lst[:] = items
        for d, items in self.dicts:
            d.clear()
            d.update(items)
        for s, items in self.sets:
            s.clear()
            s.update(items)
        for g, state in self.gens:
            g.set_state(state)
        for a, saved in self.arrays:
            a[...] = saved
        with torch.no_grad():
            for t, _, saved in self.small:  # unconditionally: numba's writes through .numpy() move no version
                t.copy_(saved)
        wrote = [path for path, t, version in self.large if _version(t) != version]
        if wrote:
            raise RuntimeError(f"a probe of the trainer wrote {wrote[0]} in place (shared read-only: "
                               f"{len(wrote)} tensor(s)); the probe must stop before any update")


def _version(t: torch.Tensor) -> int | None:
    try:
        return t._version
    except RuntimeError:  # an inference tensor keeps no version counter: saved by value
        return None


@contextlib.contextmanager
def preserved(trainer, extra: tuple = ()) -> Iterator[None]:
    """Within: ``trainer`` may run (a part of) a training step; on the way out (also on an
    exception) its state is what it was (module docstring). ``extra``: more roots."""
    skip = {id(trainer.train_set), id(trainer.test_set)}
    snap = _Snapshot([trainer, *extra], skip)
    cpu = torch.get_rng_state()
    dev = trainer.device
    cuda = torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, dev)
        snap.restore()


__all__ = ["SAVED_NUMEL", "preserved"]
