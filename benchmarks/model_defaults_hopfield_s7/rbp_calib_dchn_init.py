import time, torch, math
from analog_ep.config import load_config
from analog_ep.train import make_trainer
from analog_ep.algorithms.rbp import adjoint_gradient
from analog_ep.algorithms.implicit import implicit_gradient
from analog_ep.algorithms.ep import ep_gradient
cfg = load_config(None, ["model.name=dchn_vgg5", "model.channels=[16,32,64,64]", "data.name=fashion_mnist",
    "data.root=/work/shared/data/fashion-mnist", "data.train_size=64", "data.test_size=32", "algorithm=rbp"])
t = make_trainer(cfg, "/tmp/D/calib_run")
m = t.model
x, y = t.train_set.batch(slice(0, 32))
target = torch.nn.functional.one_hot(y, 10).float()
with torch.no_grad():
    t0=time.perf_counter()
    free, st = t.rule.solver(m, m.const_drive(x), m.zero_state(32, x), iters=60, tol=1e-4)
    print("free", st.sweeps, float(st.converged.float().mean()), time.perf_counter()-t0)
    free2, st2 = t.rule.solver(m, m.const_drive(x), free, iters=400, tol=1e-7)
    print("free tight", st2.sweeps, float(st2.converged.float().mean()))
t0=time.perf_counter()
exact, info = implicit_gradient(m, x, target, free2, rtol=1e-7, maxiter=50)
print("gmres", info, time.perf_counter()-t0)
def rel(a,b): return math.sqrt(sum(((u-v)**2).sum().item() for u,v in zip(a,b)))/math.sqrt(sum((v**2).sum().item() for v in b))
def cos_layers(a,b):
    return [round(float((u.reshape(-1)@v.reshape(-1))/(u.norm()*v.norm()+1e-30)),4) for u,v in zip(a[:5],b[:5])]
for rtol in (1e-2, 1e-3, 1e-4):
    t0=time.perf_counter()
    g, s, _ = adjoint_gradient(m, x, target, free2, iters=1000, rtol=rtol, check_every=t.rule.check_every)
    print("rtol", rtol, "sweeps", s.sweeps, "mean steps", float(s.steps.float().mean()), "conv", float(s.converged.float().mean()), "rel", rel(g, exact), "t", time.perf_counter()-t0)
t0=time.perf_counter()
res = ep_gradient(m, x, target, free2, t.rule.solver, beta=0.1, estimator="centered", free_iters=60, nudge_iters=20, tol=1e-4)
print("ep rel", rel(res.grads, exact), cos_layers(res.grads, exact), "t", time.perf_counter()-t0)
