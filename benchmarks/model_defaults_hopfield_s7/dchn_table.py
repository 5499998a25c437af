"""Print a dchn gradcheck JSON as a table: per beta, per-layer cosine and rel. error, sat changes, nudged sweeps."""
import json, sys
for f in sys.argv[1:]:
    r = json.loads(open(f).read().strip().splitlines()[-1])
    print(f, "free conv", r.get("free_converged_fraction"), "sweeps", r.get("free_sweeps"))
    by = {}
    for row in r["layers"]:
        by.setdefault(row["beta"], []).append(row)
    ph = {}
    for p in r.get("nudged", []):
        ph.setdefault(p["beta"], []).append(f'{p["phase"]} {p["sweeps"]} sw conv {p["converged_fraction"]:.2f}')
    for b, rows in by.items():
        print(f"beta {b}: cos " + ", ".join(f'{x["cosine"]:.3f}' for x in rows) + " | rel " +
              ", ".join(f'{x["rel_error"]:.3f}' for x in rows) + f' | sat {rows[0]["saturation_changes"]} | ' + "; ".join(ph.get(b, [])))
