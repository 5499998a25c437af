"""Summarise dchn_sample_probe output: per nudged phase, the samples that 'tip' (a hidden node moved
more than 5x the phase's median over samples of max|s - s_free| / beta, i.e. an O(1) jump to
another fixed point instead of linear response), and the largest such ratio."""
import json
import statistics
import sys

for line in open(sys.argv[1]):
    r = json.loads(line)
    m = r["moved_over_beta"][:-1]  # hidden nodes
    n = len(m[0])
    tipped = set()
    worst = 0.0
    for node in m:
        med = statistics.median(node)
        for i, v in enumerate(node):
            if v > 5 * med:
                tipped.add(i)
                worst = max(worst, v / med)
    print(f'beta {r["beta"]:+g}: sweeps {r["sweeps"]}, converged {sum(r["converged"])}/{n}, tipped {len(tipped)}/{n} '
          f'{sorted(tipped)}, worst ratio to median {worst:.0f}x, sat changes of tipped '
          f'{[r["sat_changes"][i] for i in sorted(tipped)]}')
