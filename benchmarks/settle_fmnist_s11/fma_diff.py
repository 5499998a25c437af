"""max |fused settle step - torch loop| after two EP training steps (float32; the cases of
tests/unit/test_settle_kernel.py) under the running torch capability; run it with
ATEN_CPU_CAPABILITY=default for a CPU without FMA:

    ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/settle_fmnist_s11/fma_diff.py
"""
import sys, torch
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests")); sys.path.insert(0, str(ROOT / "tests" / "unit"))
import test_settle_kernel as T
from analog_ep.solvers import settle as ST
print("capability", torch.backends.cpu.get_cpu_capability())
real = ST._fused_steps
for reads in T.READS:
    a, sa, _ = T._train(T.READS[reads])
    ST._fused_steps = lambda *x: None
    b, sb, _ = T._train(T.READS[reads])
    ST._fused_steps = real
    dw = max(((p - q).abs() / q.abs().clamp_min(1e-30)).max().item() for p, q in zip(a, b))
    dwa = max((p - q).abs().max().item() for p, q in zip(a, b))
    same_steps = all(torch.equal(x[k].steps, y[k].steps) for x, y in zip(sa, sb) for k in x)
    dr = max((x[k].residual - y[k].residual).abs().max().item() for x, y in zip(sa, sb) for k in x)
    print(f"{reads}: weights max abs {dwa:.2e}, steps equal {same_steps}, residual max abs {dr:.2e}")
