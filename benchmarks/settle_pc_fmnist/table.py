"""Print the record's table from the runs' --json lines and results.h5 (settle time per phase)."""
import json, sys
from pathlib import Path
import h5py, numpy as np
D = Path("benchmarks/settle_pc_fmnist")
for n in ("pc_iter", "pc_settle", "pc_settle_8tau", "ep_iter", "ep_settle"):
    f = D / f"{n}.json"
    if not f.exists() or not f.read_text().strip():
        print(n, "missing"); continue
    d = json.loads(f.read_text().strip().splitlines()[-1])
    extra = {}
    with h5py.File(D / "runs" / n / "results.h5", "r") as h:
        def walk(name, obj):
            if isinstance(obj, h5py.Dataset) and ("settle_time" in name or "converged_fraction" in name or "sweeps" in name):
                extra[name] = np.asarray(obj).tolist()
        h.visititems(walk)
    print(n, "test_acc", d["test_accuracy"], "seconds", round(d["seconds"], 1),
          "energy/sample J", d.get("energy_per_sample_j"), "latency/sample s", d.get("latency_per_sample_s"))
    for k, v in extra.items():
        print("   ", k, v)
