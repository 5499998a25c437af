"""Signal against read noise in dchn_vgg5's EP estimate on the memristor card, by ``solver.end_reads``
(session 12, issue 20, helper K; H's ``benchmarks/analog_conv_fmnist_s11/ep_snr.py`` with settings
``b<beta>_k<K>`` and a digital twin that never averages).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/analog_conv_fmnist_s12/ep_snr_k.py [-R N] [-B N] SETTING ...

SETTING: ``b<beta>_k<K>`` (``ep.beta=<beta>``, ``solver.end_reads=<K>``, family defaults otherwise),
optionally ``_full`` (``solver.stop=tol``: whole budgets) or ``_noise0`` (``analog.out_noise_std=0``).
The analog model runs the training's solver (its phases' ends averaged over K sweeps) R times on
other read-noise streams; its digital twin (the devices' weights, exact reads) runs the same
``ep_gradient`` at the same beta with ``end_reads`` 1 (the same reference for every K), and a long
twin (300 / 100 sweeps) as in H's script. Output as H's script (one ``JSON`` line per setting)."""
import copy, json, sys, time

import torch

from analog_ep.algorithms.ep import ep_gradient
from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

torch.set_num_threads(1)

LONG = ["solver.free_iters=300", "solver.nudge_iters=100"]
"""The long digital reference: the twin relaxed 300 free / 100 nudged sweeps (or to tol 1e-4)."""


def overrides(name):
    """``b<beta>_k<K>[_full|_noise0]`` -> the config overrides."""
    parts = name.split("_")
    beta, k = float(parts[0][1:]), int(parts[1][1:])
    out = [f"ep.beta={beta}", f"solver.end_reads={k}"]
    for p in parts[2:]:
        out += {"full": ["solver.stop=tol"], "noise0": ["analog.out_noise_std=0"]}[p]
    return out


args = sys.argv[1:]
R, B = 3, 32
while args and args[0] in ("-R", "-B"):
    if args[0] == "-R":
        R = int(args[1])
    else:
        B = int(args[1])
    args = args[2:]
names = args or ["default"]
for n in names:
    try:
        overrides(n)
    except (ValueError, KeyError, IndexError):
        sys.exit(f"bad setting {n}: use b<beta>_k<K>[_full|_noise0], e.g. b0.3_k4")

BASE = ["model.name=dchn_vgg5", "model.channels=[32,64,64,64]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", f"data.batch_size={B}", f"data.train_size={2 * B}",
        f"data.test_size={B}", "compute.kernels=numba", "seed=0"]
LABELS = ["conv1", "conv2", "conv3", "conv4", "dense", "b1", "b2", "b3", "b4", "b5"]


def cos(a, b):
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), 0))


def rms(t):
    return float(t.pow(2).mean().sqrt())


def estimate(tr, model):
    cfg = tr.cfg
    x, y = next(iter(tr.batches(tr.train_set, None)))
    target = torch.nn.functional.one_hot(y, 10).to(x.dtype)
    return ep_gradient(model, x, target, model.zero_state(x.shape[0], x), tr.rule.solver, beta=cfg.ep.beta,
                       estimator=cfg.ep.estimator, free_iters=cfg.solver.free_iters,
                       nudge_iters=cfg.solver.nudge_iters, tol=cfg.solver.tol, damping=cfg.solver.damping,
                       generator=torch.Generator().manual_seed(0))


for name in names:
    t0 = time.time()
    extra = overrides(name)
    atr = make_trainer(load_config(None, BASE + ["analog.device=memristor"] + extra), None)
    twins = []
    for more in ([], LONG):
        dtr = make_trainer(load_config(None, BASE + [e for e in extra if not e.startswith(("analog.", "solver.end_reads"))] + more), None)
        with torch.no_grad():   # the twin holds what the devices hold
            for a, d in zip(atr.model.all_synapses(), dtr.model.all_synapses()):
                w = a.storage.effective_weight()
                assert tuple(w.shape) == tuple(d.storage.weight.shape), (w.shape, d.storage.weight.shape)
                d.storage.weight.copy_(w)
            for a, d in zip(atr.model.biases, dtr.model.biases):
                d.copy_(a)
        twins.append(estimate(dtr, dtr.model))
    dig, dlong = twins
    beta = atr.cfg.ep.beta
    runs = []
    for r in range(R):
        model = copy.deepcopy(atr.model)
        for _ in range(r + 1):
            model.begin_batch()
        runs.append(estimate(atr, model))
    gd = dig.grads
    to_dig = [[round(cos(res.grads[i], gd[i]), 3) for i in range(len(gd))] for res in runs]
    mean = [torch.stack([res.grads[i] for res in runs]).mean(0) for i in range(len(gd))]
    mean_to_dig = [round(cos(mean[i], gd[i]), 3) for i in range(len(gd))]
    to_long = [[round(cos(res.grads[i], dlong.grads[i]), 3) for i in range(len(gd))] for res in runs]
    mean_to_long = [round(cos(mean[i], dlong.grads[i]), 3) for i in range(len(gd))]
    dig_to_long = [round(cos(gd[i], dlong.grads[i]), 3) for i in range(len(gd))]
    pair = [round(cos(runs[0].grads[i], runs[1].grads[i]), 3) for i in range(len(gd))] if R > 1 else None
    nodes = []
    for k in range(len(dig.free)):
        dd = dig.nudged[0][k] - dig.nudged[1][k]
        da = runs[0].nudged[0][k] - runs[0].nudged[1][k]
        nodes.append({"node": k + 1, "signal": rms(dd) / (2 * beta), "dev": rms(da - dd) / (2 * beta),
                      "free_dev": rms(runs[0].free[k] - dig.free[k]), "free_rms": rms(dig.free[k])})
    sweeps = [{k: s.sweeps for k, s in res.stats.items()} for res in runs]
    print(f"== {name} {extra} beta {beta} B {B} R {R} ({time.time() - t0:.0f} s)")
    print("   tensor        " + " ".join(f"{lab:>6}" for lab in LABELS))
    for r, c in enumerate(to_dig):
        print(f"   r{r} vs digital  " + " ".join(f"{v:6.3f}" for v in c))
    print(f"   mean{R} vs dig  " + " ".join(f"{v:6.3f}" for v in mean_to_dig))
    print("   r0 vs dig-long " + " ".join(f"{v:6.3f}" for v in to_long[0]))
    print(f"   mean{R} vs long  " + " ".join(f"{v:6.3f}" for v in mean_to_long))
    print("   dig vs dig-long " + " ".join(f"{v:6.3f}" for v in dig_to_long))
    if pair:
        print("   r0 vs r1       " + " ".join(f"{v:6.3f}" for v in pair))
    for nd in nodes:
        print(f"   node {nd['node']}: signal {nd['signal']:.3e}  analog dev {nd['dev']:.3e}  "
              f"dev/signal {nd['dev'] / max(nd['signal'], 1e-30):8.2f}  free dev {nd['free_dev']:.3e} (rms {nd['free_rms']:.3e})")
    print(f"   sweeps analog {sweeps}  digital { {k: s.sweeps for k, s in dig.stats.items()} }  digital long "
          f"{ {k: s.sweeps for k, s in dlong.stats.items()} }", flush=True)
    print("JSON " + json.dumps({"setting": name, "overrides": extra, "beta": beta, "B": B, "R": R,
                                "labels": LABELS, "cos_to_digital": to_dig, "mean_to_digital": mean_to_dig,
                                "r0_vs_r1": pair, "cos_to_digital_long": to_long,
                                "mean_to_digital_long": mean_to_long, "digital_to_digital_long": dig_to_long,
                                "sweeps_digital_long": {k: s.sweeps for k, s in dlong.stats.items()}, "nodes": nodes, "sweeps_analog": sweeps,
                                "sweeps_digital": {k: s.sweeps for k, s in dig.stats.items()},
                                "seconds": round(time.time() - t0, 1)}), flush=True)
