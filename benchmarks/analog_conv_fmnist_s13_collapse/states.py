"""The free equilibrium of a finished run's checkpoint, per layer (session 13, issue 20, helper D).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/analog_conv_fmnist_s13_collapse/states.py RUN_DIR [RUN_DIR ...]

Rebuilds each run with ``resume_trainer`` (its own config and stored card; nothing is written) and
relaxes the free phase from zeros exactly as evaluation does (``rule.predict``'s solver call) on
the first 512 test images. Per layer it prints the mean state, the fraction of units at the
activation's lower end (0) and upper end (1), and the input dependence: the std over samples of
each unit, averaged over units (0 means the layer's state is the same for every image); for the
output, the class predicted and its spread."""
import sys

import torch
import yaml

from analog_ep.config import load_config
from analog_ep.train.loop import load_checkpoint, resume_trainer

torch.set_num_threads(1)
for run in sys.argv[1:]:
    ckpt = load_checkpoint(f"{run}/checkpoint.pt")
    cfg = load_config(None, [], base=yaml.safe_load(ckpt["config_yaml"]))
    tr = resume_trainer(run, cfg, out_dir="/tmp/D_states_unused")
    xs, ys = [], []
    for x, y in tr.batches(tr.test_set, None):
        xs.append(x); ys.append(y)
        if sum(len(a) for a in xs) >= 512:
            break
    x, y = torch.cat(xs)[:512], torch.cat(ys)[:512]
    m, sol = tr.model, cfg.solver
    m.eval()
    with torch.no_grad():
        m.begin_batch()
        m.begin_phase("inference")
        s, st = tr.rule.solver(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=sol.free_iters, tol=sol.tol,
                               damping=sol.damping)
        out = m.output(s)
    print(f"== {run}: test acc on 512 {float((out.argmax(1) == y).double().mean()):.3f}, sweeps {float(st.steps.double().mean()):.2f}")
    for k, v in enumerate(s):
        v = v.double().flatten(1)
        print(f"  layer {k} {tuple(s[k].shape[1:])}: mean {float(v.mean()):.4f} at0 {float((v.abs() < 1e-6).double().mean()):.3f} "
              f"at1 {float(((v - 1).abs() < 1e-6).double().mean()):.3f} unit std over samples {float(v.std(0).mean()):.5f}")
    print("  output mean per class", [round(float(a), 3) for a in out.mean(0)], "predicted counts",
          torch.bincount(out.argmax(1), minlength=out.shape[1]).tolist())
