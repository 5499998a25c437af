"""Where a whole training epoch's time goes, inside ``train``'s own loop (``Trainer.run_epoch``):
the Fashion-MNIST Hopfield MLP 784-500-10 on ``--train`` images (default 10k, batch 64), digital
and the memristor card with its periphery (numba kernels, one thread), each a fresh trainer of the
same seed, run back to back ``--rounds`` times (alternating which goes first). Timers (wall,
``time.perf_counter``) wrap the loop's own calls, nothing else changes:

``data`` (the batch iterator), ``begin_batch``, ``rule.step`` split into ``begin_phase``,
``const_drive`` (the input layer's read), ``solver.free`` / ``solver.nudged`` (the relaxations,
their phase setup included: noise keys, floor threshold, stopper, sweep plan; reported again
split into ``sweep_loop`` (the sweeps) and ``phase_setup`` (the rest), outside the sum), ``phase_estimate``
(the gradient and its terms) and the rule's rest (zero state, warm-start copy, output);
``apply_updates`` split into ``optimizer.step`` and ``commit`` (per storage: the pulsed update,
the storage sync) and its rest; the step's rest (one-hot, loss, correct); ``_accumulate`` (stats
bookkeeping); ``_check_finite`` (the ``log_every`` host read); the loop's rest (progress bar,
hooks). ``epoch_loop`` is the loop's wall time as the epoch row records it (``seconds``); after it
the end-of-epoch bookkeeping and the evaluation (``eval_seconds``) are reported apart.
Per-step figures are ms (loop parts divided by the number of steps). Usage (repo root):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/epoch_parts.py [--clock wall|cpu] [--rounds N] [--train N] [key=value ...]

``--cold``: no warm-up steps before the first round, so the first trainer's first step pays the
process's one-time costs (numba's import and kernel loads, torch's first calls), as a ``train``
command's first epoch does (``first_step_ms``). ``--clock cpu`` times with ``time.process_time`` (less sensitive to a loaded machine; the loop's
total then is its CPU time, from ``run_epoch``'s start to the loop's end).

Prints one JSON line per round and model, and a last line with the medians.
"""
import dataclasses, json, statistics, sys, time

import torch

torch.set_num_threads(1)
from analog_ep.algorithms import ep as EP
from analog_ep.config import AnalogConfig, load_config
from analog_ep.data import load_data
from analog_ep.train import loop as L
from analog_ep.solvers import base as SB, hopfield as SH
from analog_ep.train.loop import make_trainer

args = sys.argv[1:]
rounds, ntrain, clock_name, cold = 2, 10000, "wall", False
while args and args[0].startswith("--"):
    if args[0] == "--cold":
        cold, args = True, args[1:]
    elif args[0] == "--clock":
        clock_name, args = args[1], args[2:]
    elif args[0] == "--rounds":
        rounds, args = int(args[1]), args[2:]
    elif args[0] == "--train":
        ntrain, args = int(args[1]), args[2:]
    else:
        sys.exit(f"unknown option {args[0]}")
S = ["data.root=/work/shared/data/fashion-mnist", f"data.train_size={ntrain}", "data.test_size=1000",
     "train.epochs=1", "compute.kernels=auto"] + args
base = load_config("configs/hopfield_mlp_fmnist.yaml", S)
cfgs = {"digital": dataclasses.replace(base, analog=AnalogConfig(), device={}),
        "analog": load_config("configs/hopfield_mlp_fmnist.yaml", S + ["analog.device=memristor"])}
data = load_data(base.data, base.seed)

acc: dict = {}
step_times: list = []
clock = {"wall": time.perf_counter, "cpu": time.process_time}[clock_name]
where = {"pre": ""}  # "eval:" while the evaluation runs (its reads and relaxations counted apart)


def timed(name, f):
    def g(*a, **k):
        t0 = clock()
        try:
            return f(*a, **k)
        finally:
            key = where["pre"] + name
            acc[key] = acc.get(key, 0.0) + clock() - t0
    return g


def timed_iter(name, it):
    while True:
        t0 = clock()
        try:
            item = next(it)
        except StopIteration:
            key = where["pre"] + name
            acc[key] = acc.get(key, 0.0) + clock() - t0
            return
        key = where["pre"] + name
        acc[key] = acc.get(key, 0.0) + clock() - t0
        yield item


orig_estimate, orig_accumulate, orig_apply = EP.phase_estimate, L._accumulate, L.apply_updates
EP.phase_estimate = timed("phase_estimate", orig_estimate)
L._accumulate = timed("_accumulate", orig_accumulate)
L.apply_updates = timed("apply_updates", orig_apply)
SB.sweep_loop = timed("sweep_loop", SB.sweep_loop)   # the generic sweep's loop (run_sweeps) ...
SH.sweep_loop = timed("sweep_loop", SH.sweep_loop)   # ... and the fused sweep's (run_fused)


def instrument(tr):
    m = tr.model
    for name in ("begin_batch", "begin_phase", "const_drive"):
        setattr(m, name, timed(name, getattr(m, name)))
    solver = tr.rule.solver

    def solve(model, const, states, **k):
        return timed("solver.nudged" if k.get("beta") else "solver.free", solver)(model, const, states, **k)
    tr.rule.solver = solve
    tr.rule.step = timed("rule.step", tr.rule.step)
    ts = tr.train_step

    def train_step(*a, **k):
        t0 = clock()
        try:
            return ts(*a, **k)
        finally:
            step_times.append(clock() - t0)
    tr.train_step = timed("train_step", train_step)
    tr._check_finite = timed("_check_finite", tr._check_finite)
    tr.optimizer.step = timed("optimizer.step", tr.optimizer.step)
    for st in m.ep_storages():
        st.commit = timed("commit", st.commit)
    gb = tr._global_batches
    tr._global_batches = lambda *a, **k: timed_iter("data", gb(*a, **k))
    cr = tr._check_replicas

    def loop_end():  # called right after the loop (bar.close()): the loop's end on this clock
        acc["loop_end"] = clock()
        return cr()
    tr._check_replicas = loop_end
    ev = tr.evaluate

    def evaluate(*a, **k):
        where["pre"] = "eval:"
        try:
            return ev(*a, **k)
        finally:
            where["pre"] = ""
    tr.evaluate = timed("evaluate", evaluate)


def one(model_name):
    tr = make_trainer(cfgs[model_name], None, data=data)
    instrument(tr)
    acc.clear()
    step_times.clear()
    t0 = clock()
    row = tr.run_epoch(progress=False)
    total = clock() - t0
    a = dict(acc)
    steps = -(-len(data[0]) // base.data.batch_size)
    loop = a["loop_end"] - t0   # = row["seconds"] on the wall clock (t0 there is run_epoch's start)
    parts = {
        "data": a.get("data", 0.0),
        "begin_batch": a.get("begin_batch", 0.0),
        "begin_phase": a.get("begin_phase", 0.0),
        "const_drive": a.get("const_drive", 0.0),
        "solver.free": a.get("solver.free", 0.0),
        "solver.nudged": a.get("solver.nudged", 0.0),
        "phase_estimate": a.get("phase_estimate", 0.0),
        "optimizer.step": a.get("optimizer.step", 0.0),
        "commit": a.get("commit", 0.0),
        "_accumulate": a.get("_accumulate", 0.0),
        "_check_finite": a.get("_check_finite", 0.0),
    }
    ev = a.get("evaluate", 0.0)
    # the relaxations split: their sweep loops, and their phase setup (stopper, sweep plan, fused
    # sweep buffers, floor threshold, DAC of the start state) with the solver wrapper's counting
    parts["sweep_loop"] = a.get("sweep_loop", 0.0)
    parts["phase_setup"] = parts["solver.free"] + parts["solver.nudged"] - parts["sweep_loop"]
    parts["rule.rest"] = (a.get("rule.step", 0.0) - parts["begin_phase"] - parts["const_drive"] - parts["solver.free"]
                          - parts["solver.nudged"] - parts["phase_estimate"])
    parts["apply_updates.rest"] = a.get("apply_updates", 0.0) - parts["optimizer.step"] - parts["commit"]
    parts["train_step.rest"] = (a.get("train_step", 0.0) - a.get("rule.step", 0.0) - a.get("apply_updates", 0.0)
                                - parts["begin_batch"])
    parts["loop.rest"] = loop - (parts["data"] + a.get("train_step", 0.0) + parts["_accumulate"] + parts["_check_finite"])
    split = ("sweep_loop", "phase_setup")   # parts of solver.free + solver.nudged: not in the sum
    per_step = {k: round(v / steps * 1e3, 3) for k, v in parts.items()}
    out = {"model": model_name, "clock": clock_name, "steps": steps, "epoch_loop_s": round(loop, 3),
           "row_seconds": round(row["seconds"], 3),
           "sum_parts_s": round(sum(v for k, v in parts.items() if k not in split), 3), "eval_s": round(ev, 3),
           "run_epoch_s": round(total, 3), "after_loop_s": round(total - loop - ev, 3),
           "test_accuracy": row.get("test_accuracy"), "free_mean_steps": row.get("free_mean_steps"),
           "first_step_ms": round(step_times[0] * 1e3, 1),
           "median_step_ms": round(statistics.median(step_times) * 1e3, 3),
           "ms_per_step": per_step, "load": open("/proc/loadavg").read().split()[:3]}
    return out


for m in () if cold else cfgs:  # warm-up (numba's compile or cache load, torch's first calls): a few steps, one prediction
    w = make_trainer(cfgs[m], None, data=data)
    for i in range(3):
        w.train_step(*data[0].batch(slice(64 * i, 64 * (i + 1))))
    w.evaluate(data[1])
res = {"digital": [], "analog": []}
for r in range(rounds):
    for m in (("analog", "digital") if r % 2 == 0 else ("digital", "analog")):
        o = one(m)
        o["round"] = r
        res[m].append(o)
        print(json.dumps(o), flush=True)
med = {}
for m, rows in res.items():
    keys = rows[0]["ms_per_step"].keys()
    med[m] = {"epoch_loop_s": statistics.median(r["epoch_loop_s"] for r in rows),
              "ms_per_step": {k: round(statistics.median(r["ms_per_step"][k] for r in rows), 3) for k in keys}}
med["ratio_epoch_loop"] = round(med["analog"]["epoch_loop_s"] / med["digital"]["epoch_loop_s"], 3)
med["diff_ms_per_step"] = {k: round(med["analog"]["ms_per_step"][k] - med["digital"]["ms_per_step"][k], 3)
                           for k in med["analog"]["ms_per_step"]}
print(json.dumps({"args": args, "rounds": rounds, "median": med}))
