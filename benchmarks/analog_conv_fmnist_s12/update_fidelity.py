"""Intended against applied weight change per layer of dchn_vgg5 32-64-64-64 on the memristor card
(session 12, issue 20, helper K2).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/analog_conv_fmnist_s12/update_fidelity.py [-S steps] UPDATE [--set k=v ...]

UPDATE: ``pulsed`` or ``mixed`` (``analog.update``). Runs the training's own steps
(``Trainer.train_step``: EP estimate, optimizer step into each storage's proposal, ``commit``) on the
first S batches of the record's protocol (seed 0, beta 0.3 unless overridden) and, around each
storage's ``commit``, records the intended change (the optimizer's proposal, effective units) and
the applied one (``effective_weight()`` after minus before), plus the storage's pulse counter.
Per layer it prints, per step and summed over the S steps: cosine(applied, intended), norm ratio
|applied| / |intended|, the projection slope <applied, intended> / |intended|^2 (the mean fraction
of the intended change that lands), the fraction of entries whose intended change is below one
pulse (|delta| / w_scale < dw_min), and pulses sent, |applied - intended| / |intended| and the error's component along -w per step
(-<applied - intended, w> / |w|^2: soft bounds make up and down pulses unequal, a pull towards zero
that grows with the pulses sent)."""
import json, sys, time

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

torch.set_num_threads(1)
args = sys.argv[1:]
S = 5
if args[:1] == ["-S"]:
    S, args = int(args[1]), args[2:]
update, extra = args[0], [a for a in args[1:] if a != "--set"]
BASE = ["model.name=dchn_vgg5", "model.channels=[32,64,64,64]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=1000",
        "compute.kernels=numba", "seed=0", "analog.device=memristor", "ep.beta=0.3", f"analog.update={update}"]
tr = make_trainer(load_config(None, BASE + extra), None)
stores = tr.model.ep_storages()
LABELS = ["conv1", "conv2", "conv3", "conv4", "dense"]
rec = {i: [] for i in range(len(stores))}


def wrap(i, st):
    orig = st.commit

    def commit(vectors=None):
        with torch.no_grad():
            before = st.effective_weight().clone()
            intended = st.proposal.detach().clone()
            p0 = int(st.pulses)
        orig(vectors)
        with torch.no_grad():
            applied = st.effective_weight() - before
        rec[i].append((intended, applied, int(st.pulses) - p0, float(st.w_scale) * float(st.dw_min),
                       float(before.abs().max()), before))
    st.commit = commit


for i, st in enumerate(stores):
    wrap(i, st)


def cos(a, b):
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), 0))


t0 = time.time()
it = iter(tr.batches(tr.train_set, None))
for s in range(S):
    x, y = next(it)
    tr.train_step(x, y)
out = {"update": update, "overrides": extra, "steps": S, "layers": {}}
print(f"== analog.update={update} {extra} steps {S} ({time.time() - t0:.0f} s)")
print("layer  | per step: cos  norm-ratio  slope | summed over steps: cos  norm-ratio  slope | sub-pulse frac | "
      "|intended| rms / pulse | pulses/step | pulses per weight per step | |applied - intended| / |intended| | "
      "decay of the error along -w per step")
for i, lab in enumerate(LABELS[:len(stores)]):
    r = rec[i]
    per = [(cos(a, d), float(a.norm() / d.norm()), float((a * d).sum() / (d * d).sum())) for d, a, *_ in r]
    D = sum(d for d, *_ in r)
    A = sum(a for _, a, *_ in r)
    unit = r[0][3]
    sub = sum(float((d.abs() < unit).float().mean()) for d, *_ in r) / len(r)
    rel = sum(float(d.pow(2).mean().sqrt()) / unit for d, *_ in r) / len(r)
    pulses = sum(q[2] for q in r) / len(r)
    # the applied change's error (applied - intended) along -w: a decay towards zero per step
    decay = sum(float(-((a - d) * w).sum() / (w * w).sum()) for d, a, _, _, _, w in r) / len(r)
    err = sum(float((a - d).norm() / d.norm()) for d, a, *_ in r) / len(r)
    n = r[0][0].numel()
    pc = [sum(v[k] for v in per) / len(per) for k in range(3)]
    tot = (cos(A, D), float(A.norm() / D.norm()), float((A * D).sum() / (D * D).sum()))
    print(f"{lab:6} | {pc[0]:6.3f} {pc[1]:7.3f} {pc[2]:7.3f} | {tot[0]:6.3f} {tot[1]:7.3f} {tot[2]:7.3f} | "
          f"{sub:6.3f} | {rel:8.4f} | {pulses:10.0f} | {pulses / n:7.4f} | {err:6.3f} | {decay:.2e}")
    out["layers"][lab] = {"per_step_cos": [round(v[0], 4) for v in per], "per_step_norm_ratio": [round(v[1], 4) for v in per],
                          "per_step_slope": [round(v[2], 4) for v in per],
                          "per_step_intended_rms": [float(d.pow(2).mean().sqrt()) for d, *_ in r],
                          "per_step_w_rms": [float(q[5].pow(2).mean().sqrt()) for q in r], "summed_cos": round(tot[0], 4),
                          "summed_norm_ratio": round(tot[1], 4), "summed_slope": round(tot[2], 4),
                          "sub_pulse_fraction": round(sub, 4), "intended_rms_over_pulse": round(rel, 5),
                          "pulses_per_step": pulses, "weights": n, "pulse_effective": unit,
                          "w_abs_max": round(r[0][4], 4), "error_over_intended": round(err, 4),
                          "decay_per_step": decay}
out["seconds"] = round(time.time() - t0, 1)
print("JSON " + json.dumps(out), flush=True)
