"""CPU time of one relaxation phase's set-up, measured directly: the trained solver (rule.solver, the config's stop
rule and floor threshold) called with iters=0 (no sweep: stopper, sweep plan, fused sweep buffers, stats, counting),
free and nudged, digital and the memristor card, 64 samples; and one free sweep for scale. Usage (repo root):
OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/phase_setup.py"""
import time, torch, json
torch.set_num_threads(1)
from analog_ep.config import load_config
from analog_ep.data import load_data
from analog_ep.train.loop import make_trainer, one_hot
S = ["data.root=/work/shared/data/fashion-mnist", "data.train_size=640", "data.test_size=64"]
out = {}
for name, extra in (("digital", []), ("analog", ["analog.device=memristor"])):
    cfg = load_config("configs/hopfield_mlp_fmnist.yaml", S + extra)
    data = load_data(cfg.data, cfg.seed)
    tr = make_trainer(cfg, None, data=data)
    x, y = data[0].batch(slice(0, 64))
    for i in range(3): tr.train_step(x, y)
    m, solver, sol = tr.model, tr.rule.solver, cfg.solver
    tgt = one_hot(y, 10, x.dtype)
    def t(f, n=300):
        f(); c0 = time.process_time()
        for _ in range(n): f()
        return round((time.process_time() - c0) / n * 1e3, 4)
    with torch.no_grad():
        const = m.const_drive(x)
        free, _ = solver(m, const, m.zero_state(64, x), iters=30, tol=sol.tol)
        out[name] = {"free_setup_ms": t(lambda: solver(m, const, free, iters=0, tol=sol.tol)),
                     "nudged_setup_ms": t(lambda: solver(m, const, free, beta=0.5, target=tgt, iters=0, tol=sol.tol)),
                     "one_sweep_free_ms": t(lambda: solver(m, const, free, iters=1, tol=0.0))}
print(json.dumps(out))
