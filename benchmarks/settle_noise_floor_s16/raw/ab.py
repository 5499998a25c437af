"""In-process A/B: one relax_async free phase + one nudged phase, fused sweep (FUSED True) against the
generic sweep (FUSED False), alternating, same model copy state, MLP 784-500-10 on the memristor card
with w_noise_std 0.05, noise_z 3 (max band), numba kernels. Prints per-phase CPU times and sweeps."""
import copy, time, sys, torch
from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer
from analog_ep.solvers import hopfield as H
from analog_ep.analog import kernels as K
cfg = load_config(None, ["data.name=synthetic", "data.shape=[1,28,28]", "data.train_size=256", "data.test_size=64",
                         "model.hidden=[500]", "data.batch_size=64", "analog.device=memristor", "analog.w_noise_std=0.05",
                         "compute.accelerator=cpu", "compute.kernels=numba"])
tr = make_trainer(cfg, None)
K.set_mode("numba")
x, y = next(iter(tr.batches(tr.train_set, None)))
y = torch.nn.functional.one_hot(y, 10).to(x.dtype)
kw = dict(tol=1e-4, stop="noise_floor", noise_patience=3, noise_drop=0.05, noise_z=3.0, noise_band="max")
def run(fused):
    H.FUSED = fused
    model = copy.deepcopy(tr.model)
    with torch.no_grad():
        model.begin_batch(); model.begin_phase("free")
        const = model.const_drive(x)
        t0 = time.process_time()
        free, st = H.relax_async(model, const, model.zero_state(x.shape[0], x), iters=30, **kw)
        model.begin_phase("nudge+")
        _, nst = H.relax_async(model, const, [s.clone() for s in free], beta=0.5, target=y, iters=10, **kw)
        t = time.process_time() - t0
    return t, st.sweeps + nst.sweeps, free
for f in (True, False):   # warm-up (numba compile)
    run(f)
res = {True: [], False: []}
sw = {}
for rep in range(int(sys.argv[1]) if len(sys.argv) > 1 else 15):
    for f in ((True, False) if rep % 2 == 0 else (False, True)):
        t, n, s = run(f)
        res[f].append(t); sw.setdefault(f, n)
import statistics as S
for f in (True, False):
    print(("fused" if f else "generic"), "median CPU s per free+nudge", round(S.median(res[f]), 5), "sweeps", sw[f],
          "per sweep ms", round(1000 * S.median(res[f]) / sw[f], 4))
print("generic / fused", round(S.median(res[False]) / S.median(res[True]), 3))
