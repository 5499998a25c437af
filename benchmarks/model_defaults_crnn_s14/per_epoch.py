"""Per-epoch record of this session's vgg_crnn runs (python per_epoch.py TAG...: one JSON line each
from /tmp/V14/runs/TAG/results.h5; s12's and s13's script with this session's run folder)."""
import json
import sys

import h5py

KEYS = ("test_accuracy", "test_loss", "train_accuracy", "train_loss", "seconds", "eval_seconds",
        "free_converged_fraction", "free_mean_steps", "nudge+_mean_steps", "nudge+_converged_fraction",
        "nudge-_mean_steps", "nudge-_converged_fraction")
for tag in sys.argv[1:]:
    e = h5py.File(f"/tmp/V14/runs/{tag}/results.h5", "r")["epochs"]
    print(json.dumps({"tag": tag, **{k: [round(float(v), 4) for v in e[k][()]] for k in KEYS if k in e}}))
