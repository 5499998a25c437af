"""Rows of section 4c from raw/grad_scan*.jsonl.
python benchmarks/model_defaults_crnn_s15/grad_table.py raw/grad_scan1.jsonl ..."""
import json
import sys

for path in sys.argv[1:]:
    for line in open(path):
        d = json.loads(line)
        print("|", d["tag"], "|", d.get("dtype", "torch.float64").replace("torch.", ""), "|", d["eps"], "|", d["beta"], "|",
              "yes" if d.get("aux_local") else "no", "|", " ".join(f"{v:.2f}" for v in d["cos_ep_bp"]), "|",
              " ".join(f"{v:.2g}" for v in d["norm_ratio_ep_bp"]), "|",
              " ".join(f"{v:.0e}" for v in d.get("disp_per_beta", [])) or "-", "|",
              "/".join(str(v) for v in d["sweeps_free_plus_minus"]), "|")
