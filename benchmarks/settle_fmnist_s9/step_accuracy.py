import sys, math, torch
sys.path.insert(0, "/tmp/D")  # old_settle.py: the pre-branch solver (see step_accuracy.txt)
import old_settle
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer, one_hot
from analog_ep.solvers.settle import relax_settle
sets = ["analog.device=memristor", "analog.relaxation=settle", "data.root=/work/shared/data/fashion-mnist",
        "analog.w_noise_std=0", "analog.out_noise_std=0"] + sys.argv[1:]
cfg = load_config("configs/hopfield_mlp_fmnist.yaml", sets)
tr, _, info = load_data(cfg.data, cfg.seed)
t = make_trainer(cfg, None, data=(tr, tr, info))
m = t.model
x, y = tr.batch(slice(0, 64)); yy = one_hot(y, 10, x.dtype)
const = m.const_drive(x)
TAU = 1e-7
ref, st = relax_settle(m, const, m.zero_state(64, x), iters=400, tol=1e-6, tau_s=TAU, dt_s=TAU / 100)
print("ref conv", st.converged.float().mean().item(), "t", st.settle_time_s.mean().item())
refn, stn = relax_settle(m, const, ref, beta=0.5, target=yy, iters=400, tol=1e-6, tau_s=TAU, dt_s=TAU / 100, t_max_s=200*TAU)
print("ref nudge conv", stn.converged.float().mean().item(), "t", stn.settle_time_s.mean().item())
def d(a, b): return max((p - q).abs().max().item() for p, q in zip(a, b))
for name, fn in (("old_euler", old_settle.relax_settle), ("exp", relax_settle)):
    for div in (100, 10, 4, 2, 1):
        if name == "old_euler" and div not in (100, 10, 1): continue
        for tol in (1e-4, 1e-6):
            s, st = fn(m, const, m.zero_state(64, x), iters=400, tol=tol, tau_s=TAU, dt_s=TAU / div)
            sn, stn2 = fn(m, const, ref, beta=0.5, target=yy, iters=400, tol=tol, tau_s=TAU, dt_s=TAU / div, t_max_s=200*TAU)
            print(f"{name:9s} dt=tau/{div:<3d} tol {tol:g}: free t {st.settle_time_s.mean().item()*1e6:.3f} us steps {st.sweeps} conv {st.converged.float().mean().item():.2f} dist {d(s, ref):.2e} | nudge+ t {stn2.settle_time_s.mean().item()*1e6:.3f} us steps {stn2.sweeps} dist {d(sn, refn):.2e}")
