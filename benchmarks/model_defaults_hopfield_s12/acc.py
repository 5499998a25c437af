"""One line per finished run JSON in this folder: name, test accuracy, train accuracy, seconds."""
import glob
import json

for f in sorted(glob.glob("dchn_*.json")):
    if "gradcheck" in f:
        continue
    try:
        d = json.loads(open(f).read().strip().splitlines()[-1])
    except Exception:
        print(f, "(running or empty)")
        continue
    print(f, d.get("status"), "test", d.get("test_accuracy"), "train", round(d.get("train_accuracy") or 0, 4), "s", round(d.get("seconds") or 0))
