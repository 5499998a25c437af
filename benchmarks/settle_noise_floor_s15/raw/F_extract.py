import h5py, json, sys
for tag in sys.argv[1:]:
    for w in ("0", "0.02", "0.05"):
        base = f"/tmp/F_runs/{tag}_w{w}"
        try:
            f = h5py.File(base + "/results.h5", "r"); j = json.load(open(base + ".json"))
        except Exception as e:
            print(tag, w, "missing", e); continue
        e = f["epochs"]
        ph = ("free", "nudge+", "nudge-", "eval")
        steps = " / ".join(f"{e[p + '_mean_steps'][-1]:.1f}" for p in ph)
        sett = " / ".join(f"{e[p + '_settled_fraction'][-1]:.2f}" for p in ph)
        conv = " / ".join(f"{e[p + '_converged_fraction'][-1]:.2f}" for p in ph)
        print(f"| {tag} | {w} | {j['test_accuracy']:.4f} | {steps} | {sett} | {conv} | {j['seconds']:.0f} |")
