"""Print one JSON line per epoch of each given run folder: test accuracy and relaxation / adjoint
statistics (from results.h5). Usage: python benchmarks/model_defaults_hopfield_s7/rbp_epochs.py RUN_DIR..."""
import json
import sys

import h5py

KEYS = ("epoch", "test_accuracy", "train_accuracy", "seconds", "eval_converged_fraction", "free_mean_steps",
        "free_converged_fraction", "adjoint_mean_steps", "adjoint_converged_fraction")
for run in sys.argv[1:]:
    with h5py.File(f"{run}/results.h5", "r") as f:
        ep = f["epochs"]
        for i in range(len(ep["epoch"]) if "epoch" in ep else 0):
            row = {k: round(float(ep[k][i]), 4) for k in KEYS if k in ep}
            print(json.dumps({"run": run.rstrip("/").split("/")[-1], "status": f.attrs.get("status"), **row}))
