import h5py, json, sys
for base in sys.argv[1:]:
    f = h5py.File(base + "/results.h5", "r"); j = json.load(open(base + ".json"))
    e = f["epochs"]
    ph = ("free", "nudge+", "nudge-", "eval")
    steps = " / ".join(f"{e[p + '_mean_steps'][-1]:.2f}" for p in ph if p + '_mean_steps' in e)
    sett = " / ".join(f"{e[p + '_settled_fraction'][-1]:.3f}" for p in ph if p + '_settled_fraction' in e)
    conv = " / ".join(f"{e[p + '_converged_fraction'][-1]:.2f}" for p in ph if p + '_converged_fraction' in e)
    print(f"| {base.split('/')[-1]} | {j['test_accuracy']:.4f} | {steps} | {sett} | {conv} | {j['seconds']:.0f} |")
