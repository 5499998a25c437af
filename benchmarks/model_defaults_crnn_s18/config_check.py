"""Check that a run's stored config equals what the plain command resolves to today, key by key.
usage: config_check.py RUN_DIR --set k=v [--set k=v ...]   (the run's --set list, without --out)"""
import sys

import yaml

from analog_ep.config import load_config, to_dict
from analog_ep.config.typed import leaf_keys
from analog_ep.results.store import read_results

run, sets = sys.argv[1], [a for a in sys.argv[2:] if a != "--set"]
stored = yaml.safe_load(read_results(f"{run}/results.h5")["config_yaml"])
now = to_dict(load_config(None, sets))


def get(d, dotted):
    for p in dotted.split("."):
        d = d.get(p) if isinstance(d, dict) else None
    return d


keys = sorted(set(leaf_keys(stored, "")) | set(leaf_keys(now, "")))
diff = [(k, get(stored, k), get(now, k)) for k in keys if get(stored, k) != get(now, k)]
print(f"{run}: {len(keys)} keys, {len(diff)} differ", *(f"  {k}: stored {a!r}, now {b!r}" for k, a, b in diff), sep="\n")
