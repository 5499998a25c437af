"""A small study on the embedded digits set, end to end: a sweep over weight read noise on the
memristor card (2 x 2 seeds, run by two worker processes), its table, a comparison of digital EP,
analog EP and the backprop twins, and one HTML report for each. Run:
python examples/04_study_digits.py OUT_DIR   (about half a minute on 2 cores)"""

import sys
import tempfile
from pathlib import Path

import yaml

from analog_ep.report.html import render_report
from analog_ep.study.compare import run_compare
from analog_ep.study.sweep import run_sweep

if __name__ == "__main__":  # the sweep's worker processes import this file: run only here
    out = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="analog-ep-study-"))
    out.mkdir(parents=True, exist_ok=True)
    small = {"train.epochs": 2, "model.hidden": [64]}
    spec = out / "noise.yaml"
    spec.write_text(yaml.safe_dump({"base": {"device": "memristor", "set": small},
                                    "grid": {"analog.w_noise_std": [0.0, 0.05]}, "seeds": [0, 1]}))
    summary = run_sweep(spec, out / "sweep", workers=2, log=print)
    print("sweep table:", summary["table"])
    print("sweep report:", render_report(out / "sweep")["out"])
    comparison = run_compare(None, ["analog.device=memristor"] + [f"{k}={v}" for k, v in small.items()],
                             seeds=1, out=out / "compare", log=print)
    for row in comparison["rows"]:
        print(f"{row['name']:12s} test accuracy {row['test_accuracy_mean']:.4f}")
    print("compare report:", render_report(out / "compare")["out"])
