"""Print a gradcheck JSON (analog-ep gradcheck --json) as rows: beta, cosines and rel. errors per layer."""
import json
import sys

for path in sys.argv[1:]:
    d = json.loads(open(path).read().strip().splitlines()[-1])
    print(path, "free sweeps", d["free_sweeps"], "free conv", d["free_converged_fraction"])
    betas = sorted({l["beta"] for l in d["layers"]}, reverse=True)
    for b in betas:
        ls = [l for l in d["layers"] if l["beta"] == b]
        nud = [(n["phase"], n["sweeps"], n["converged_fraction"]) for n in d["nudged"] if n["beta"] == b]
        print(f"  beta {b}: cos {', '.join('%.3f' % l['cosine'] for l in ls)} | rel {', '.join('%.3g' % l['rel_error'] for l in ls)}"
              f" | sat {ls[0]['saturation_changes']} | nudged {nud}")
