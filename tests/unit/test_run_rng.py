"""The random states a checkpoint saves are the run's own (session 17, task N).

torch seeds its global CPU generator from the operating system's entropy in every new process
(``torch.initial_seed()`` differs run to run), and a checkpoint saves that generator's state
(``torch_rng``, restored on resume). Before session 17 no run seeded it, so two runs of the same
command saved different ``torch_rng`` (``benchmarks/rng_state_s17.md``), and a code path that drew
from it would have trained differently in every process. ``make_trainer`` now seeds it from the
run's seed. Here a ``torch.manual_seed(k)`` before a run stands in for a process's entropy seed.
"""

import os
import signal

import pytest
import torch

from analog_ep.config import load_config
from analog_ep.errors import Preempted
from analog_ep.train.checkpoint import load_checkpoint
from analog_ep.train.loop import fit, make_trainer, resume_trainer

# the random-sign estimator draws from the run's estimator generator (est_rng) and augmentation
# from the epoch's stream (the partial checkpoint's aug_rng): every generator a checkpoint saves moves
BASE = ["data.train_size=48", "data.test_size=16", "data.batch_size=16", "model.hidden=[16]", "train.epochs=2",
        "data.augment=[flip,crop]", "ep.estimator=random_sign", "solver.free_iters=8", "solver.nudge_iters=4"]
RUN_DEPENDENT = ("seconds", "eval_seconds", "started")  # wall-clock times and the start time


def _flat(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flat(v, f"{path}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _flat(v, f"{path}[{i}]")
    else:
        yield path, obj


def _differences(a: dict, b: dict) -> list[str]:
    """The entries (paths) in which two checkpoints differ, wall-clock times left out."""
    fa, fb = dict(_flat(a)), dict(_flat(b))
    out = []
    for k in sorted(fa.keys() | fb.keys()):
        if k.rsplit("/", 1)[-1] in RUN_DEPENDENT:
            continue
        x, y = fa.get(k), fb.get(k)
        same = (torch.is_tensor(x) and torch.is_tensor(y) and x.dtype == y.dtype and torch.equal(x, y)) \
            if torch.is_tensor(x) or torch.is_tensor(y) else x == y
        if not same:
            out.append(k)
    return out


def _run(folder, process_seed: int, over=(), stop=None, on_draw=None):
    """Train ``BASE + over`` in ``folder`` in a "process" whose global generator starts at
    ``process_seed``; ``stop=(epoch, batch)``: SIGTERM after that batch (a preempted run, its
    checkpoint mid-epoch); ``on_draw``: called after every batch. Returns the checkpoint."""
    torch.manual_seed(process_seed)
    t = make_trainer(load_config(None, BASE + list(over)), folder)

    def on_batch(epoch, i):
        if on_draw is not None:
            on_draw(epoch, i)
        if stop == (epoch, i):
            os.kill(os.getpid(), signal.SIGTERM)

    t.on_batch = on_batch
    if stop is None:
        fit(t, progress=False)
    else:
        with pytest.raises(Preempted):
            fit(t, progress=False)
    return load_checkpoint(folder / "checkpoint.pt")


@pytest.mark.parametrize("stop", [None, (1, 1)], ids=["finished", "preempted-mid-epoch"])
def test_two_identical_runs_save_the_same_random_states(tmp_path, stop):
    """Failed before session 17: ``torch_rng`` differed (the process's entropy seed)."""
    a = _run(tmp_path / "a", 1, stop=stop)
    b = _run(tmp_path / "b", 2, stop=stop)
    assert (a["partial"] is not None) == (stop is not None)
    assert _differences(a, b) == []
    for key in ("torch_rng", "est_rng"):
        assert torch.equal(a[key], b[key]), key
    if stop is not None:
        assert torch.equal(a["partial"]["aug_rng"], b["partial"]["aug_rng"])
    # a different run seed: a different global stream (the seed is the run's, not a constant)
    c = _run(tmp_path / "c", 1, over=["seed=1"], stop=stop)
    assert not torch.equal(a["torch_rng"], c["torch_rng"]) and not torch.equal(a["est_rng"], c["est_rng"])


def test_a_resumed_run_ends_as_the_uninterrupted_one_with_every_saved_state(tmp_path):
    """Preempted mid-epoch in one process and resumed in another: the final checkpoint equals
    the uninterrupted run's in every entry, the random states included."""
    ref = _run(tmp_path / "ref", 1)
    _run(tmp_path / "cut", 2, stop=(1, 0))
    torch.manual_seed(3)
    again = resume_trainer(tmp_path / "cut", load_config(None, BASE))
    assert again.partial is not None and again.partial["step"] == 1
    fit(again, progress=False)
    assert _differences(ref, load_checkpoint(tmp_path / "cut" / "checkpoint.pt")) == []


def test_a_draw_from_the_global_generator_is_part_of_the_run(tmp_path):
    """The day a code path reads torch's global generator during training (here: a draw after
    every batch), two runs draw the same numbers, and a resumed run draws after its checkpoint
    what the uninterrupted run drew there."""
    def drawer(log):
        return lambda epoch, i: log.append((epoch, i, torch.rand(()).item()))

    ref, other, cut, resumed = [], [], [], []
    _run(tmp_path / "ref", 1, on_draw=drawer(ref))
    _run(tmp_path / "other", 2, on_draw=drawer(other))
    assert len(ref) == 6 and other == ref
    _run(tmp_path / "cut", 2, stop=(1, 0), on_draw=drawer(cut))
    torch.manual_seed(3)
    again = resume_trainer(tmp_path / "cut", load_config(None, BASE))
    again.on_batch = drawer(resumed)
    fit(again, progress=False)
    assert cut == ref[:4] and resumed == ref[4:]


@pytest.mark.parametrize("over", [[], ["analog.device=memristor"]], ids=["digital", "memristor"])
def test_training_draws_nothing_from_the_global_generator(tmp_path, over):
    """Every random draw of a run comes from its own seeded generators and streams: training
    leaves torch's global generator where :func:`make_trainer` seeded it."""
    t = make_trainer(load_config(None, BASE + over), tmp_path / "run")
    seeded = torch.get_rng_state()
    fit(t, progress=False)
    assert torch.equal(torch.get_rng_state(), seeded)
    assert torch.equal(load_checkpoint(tmp_path / "run" / "checkpoint.pt")["torch_rng"], seeded)
