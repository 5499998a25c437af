"""Signal against read noise in dchn_vgg5's EP estimate on the memristor card (session 11, issue 20,
helper H; adapted from ``benchmarks/speed_fmnist/s11_conv_grad.py``).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/analog_conv_fmnist_s11/ep_snr.py [-R N] [-B N] SETTING ...

For each SETTING (a name from ``SETTINGS`` below: the family defaults, or one knob changed), one
Fashion-MNIST batch (``-B`` images, default 32) and the model at its initialisation (seed 0):

* the analog model (``--device memristor``, numba, the training's solver ``rule.solver``) runs
  ``ep_gradient`` ``R`` times (default 3), each with other read-noise streams (the storages' batch
  counter moved on), from zeros, exactly as a training step does;
* its digital twin (the same config without a card, the non-``analog.*`` overrides kept) gets the
  analog model's stored weights (``effective_weight``: what the devices hold) and biases, and runs
  the same ``ep_gradient`` once (digital reads are exact: no draws).

Prints per parameter tensor (conv weights 1-4, dense weight, biases of nodes 1-5) the cosine of each
analog estimate to the digital one, the cosine of the mean of the R analog estimates to it, and
the cosine between two analog draws; and per node k the signal ``rms(s+_k - s-_k) / (2 beta)`` of
the digital phases against the analog phases' deviation from it, ``rms((s+ - s-)_analog - (s+ -
s-)_digital) / (2 beta)`` (one draw), plus ``rms(s_free analog - s_free digital)``. One JSON line per
setting goes to stdout too (``JSON {...}``)."""
import copy, json, sys, time

import torch

from analog_ep.algorithms.ep import ep_gradient
from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

torch.set_num_threads(1)

SETTINGS = {
    "default": [],
    "beta0.3": ["ep.beta=0.3"],
    "beta0.5": ["ep.beta=0.5"],
    "per_phase": ["analog.noise_policy=per_phase"],
    "per_batch": ["analog.noise_policy=per_batch"],
    "out_noise0": ["analog.out_noise_std=0"],
    "out_noise0.02": ["analog.out_noise_std=0.02"],
    "out_noise0.01": ["analog.out_noise_std=0.01"],
    "bits_up": ["analog.inp_bits=10", "analog.out_bits=12"],
    "nudge20_full": ["solver.stop=tol"],                           # every phase runs its whole budget (60 / 20)
    "nudge60_full": ["solver.stop=tol", "solver.nudge_iters=60"],  # and 3x the nudged sweeps
    # the twin check: no output noise, 16-bit converters, no ADC clipping: analog ~ digital
    "ideal_periph": ["analog.out_noise_std=0", "analog.inp_bits=16", "analog.out_bits=16", "analog.out_bound=1000"],
    # the same with every phase at its whole budget (60 / 20 sweeps), as the digital twin runs them
    "ideal_full": ["analog.out_noise_std=0", "analog.inp_bits=16", "analog.out_bits=16", "analog.out_bound=1000",
                   "solver.stop=tol"],
    "out_noise0_full": ["analog.out_noise_std=0", "solver.stop=tol"],
    "per_batch_full": ["analog.noise_policy=per_batch", "solver.stop=tol"],
    "per_phase_full": ["analog.noise_policy=per_phase", "solver.stop=tol"],
    "beta0.5_full": ["ep.beta=0.5", "solver.stop=tol"],
    "per_batch_beta0.3": ["analog.noise_policy=per_batch", "ep.beta=0.3"],
    "per_batch_beta0.3_full": ["analog.noise_policy=per_batch", "ep.beta=0.3", "solver.stop=tol"],
    "long_full": ["solver.stop=tol", "solver.free_iters=300", "solver.nudge_iters=100"],
    "ideal_long_full": ["analog.out_noise_std=0", "analog.inp_bits=16", "analog.out_bits=16", "analog.out_bound=1000",
                        "solver.stop=tol", "solver.free_iters=300", "solver.nudge_iters=100"],
}
IDEAL = ["analog.out_noise_std=0", "analog.inp_bits=24", "analog.out_bits=24", "analog.out_bound=100"]
"""A near-ideal periphery (the twin check): no output noise, 24-bit converters (ADC step 100 / (2^23 - 1) ~ 1e-5
device units; ideal_periph's 16 bits over +-1000 had a 0.03 step, coarser than the card's)."""
SETTINGS.update({
    "ideal24": IDEAL, "ideal24_full": IDEAL + ["solver.stop=tol"],
    "ideal24_long_full": IDEAL + ["solver.stop=tol", "solver.free_iters=300", "solver.nudge_iters=100"],
    "quant_hi_noise0": ["analog.out_noise_std=0", "analog.inp_bits=12", "analog.out_bits=14"],
    "out_bound3": ["analog.out_bound=3"],
    "out_bound3_noise0": ["analog.out_bound=3", "analog.out_noise_std=0"],
    "beta0.8": ["ep.beta=0.8"],   # < 1: the centered mse nudge's -beta phase divides by 1 - beta
    "quant_hi_noise0_full": ["analog.out_noise_std=0", "analog.inp_bits=12", "analog.out_bits=14", "solver.stop=tol"],
    "beta0.5_noise0": ["ep.beta=0.5", "analog.out_noise_std=0"],
    "settle": ["analog.relaxation=settle"],   # node circuits integrate the reads: converters at the equilibrium only
    "out_bound3_bm": ["analog.out_bound=3", "analog.bound_management=iterative"],
})
LONG = ["solver.free_iters=300", "solver.nudge_iters=100"]
"""The long digital reference: the twin relaxed 300 free / 100 nudged sweeps (or to tol 1e-4)."""

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
    if n not in SETTINGS:
        sys.exit(f"unknown setting {n}; choose from {', '.join(SETTINGS)}")

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
    extra = SETTINGS[name]
    atr = make_trainer(load_config(None, BASE + ["analog.device=memristor"] + extra), None)
    twins = []
    for more in ([], LONG):
        dtr = make_trainer(load_config(None, BASE + [e for e in extra if not e.startswith("analog.")] + more), None)
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
