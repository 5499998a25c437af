"""Summarize raw/*.jsonl of sat_probe.py / fb_probe.py as markdown rows.
python benchmarks/model_defaults_crnn_s15/table.py raw/scan1.jsonl [...]"""
import json
import sys


def f(v):
    return ".00" if 0 < v < 0.005 else ("0" if v == 0 else f"{v:.2f}".lstrip("0"))


for path in sys.argv[1:]:
    for line in open(path):
        d = json.loads(line)
        conv = d["converged"] if not isinstance(d["converged"], list) else sum(d["converged"]) / len(d["converged"])
        sw = d.get("mean_sweeps", None) or sum(d["sweeps"]) / len(d["sweeps"])
        print("|", d["tag"], "|", d.get("eps", ""), "|", " ".join(f(v) for v in d["ff_at1"][:10]), "|",
              " ".join(f(v) for v in d["eq_at1"]), "|", d["eq_minus_ff_at1"], "|",
              f'{d["out_sample_std_eq"]:.2g} / {d["out_sample_std_ff"]:.2g}', "|",
              f'{d["acc_eq"]} / {d["acc_ff"]}', "|", f"{conv:.2f} / {sw:.0f}", "|", d.get("ref_dist", ""), "|")
