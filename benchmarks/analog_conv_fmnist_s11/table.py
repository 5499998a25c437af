"""Markdown tables from ep_snr.py's raw files (their JSON lines):

    python benchmarks/analog_conv_fmnist_s11/table.py benchmarks/analog_conv_fmnist_s11/raw/snr_r3*.txt"""
import json, sys

rows = {}
for path in sys.argv[1:]:
    for line in open(path):
        if line.startswith("JSON "):
            r = json.loads(line[5:])
            rows[r["setting"]] = r
print("| setting | beta | conv1 | conv2 | conv3 | conv4 | dense | b1 | b2 | b3 | b4 | b5 | mean of 3: conv1-4 | draw vs draw: conv1-4 | node dev / signal 1-5 | sweeps f/+/- (draw 0) |")
print("|---|---|" + "---|" * 14)
for name, r in rows.items():
    c = r["cos_to_digital"]
    cell = lambda i: (f"{c[0][i]:.2f}" if min(x[i] for x in c) == max(x[i] for x in c)
                      else f"{min(x[i] for x in c):.2f}..{max(x[i] for x in c):.2f}")
    sw = r["sweeps_analog"][0]
    pair = r["r0_vs_r1"]
    print(f"| {name} | {r['beta']} | " + " | ".join(cell(i) for i in range(10))
          + " | " + " ".join(f"{v:.2f}" for v in r["mean_to_digital"][:4])
          + " | " + " ".join(f"{v:.2f}" for v in pair[:4])
          + " | " + " ".join(f"{n['dev'] / n['signal']:.1f}" for n in r["nodes"])
          + f" | {sw['free']}/{sw['nudge+']}/{sw['nudge-']} |")
