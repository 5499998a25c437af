"""Per-sample residual traces of every relaxation of a training run, by phase (analysis of the stop
rules; session 10). Record (repo root, PYTHONPATH=TREE for another tree):

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/stop_trace.py OUT.pt train -c ... --json
    python benchmarks/speed_fmnist/stop_trace.py --summary OUT.pt

The recording wraps ``Stopper.record`` / ``Stopper.update`` (a copy of each sweep's per-sample
residual) and ``EnergyNetwork.begin_phase`` (the phase's name); the run itself is unchanged.
The summary prints per phase the samples' mean stop sweep (``steps``), the batch's sweeps (the
slowest sample's) and the median / 90th-percentile residual by sweep."""
import collections, sys

import torch

torch.set_num_threads(1)


def record(out: str, argv: list[str]) -> None:
    import analog_ep.models.base as MB
    import analog_ep.solvers.base as B
    from analog_ep.cli import app

    phase, traces = {"p": None}, []
    begin = MB.EnergyNetwork.begin_phase

    def begin_phase(self, name, *a, **k):
        phase["p"] = name
        return begin(self, name, *a, **k)

    init, rec, upd = B.Stopper.__init__, B.Stopper.record, B.Stopper.update

    def init_(self, *a, **k):
        init(self, *a, **k)
        self._trace = []
        traces.append((phase["p"], self._trace))

    def rec_(self, n, r):
        self._trace.append(r.detach().clone())
        return rec(self, n, r)

    def upd_(self, n, r, *a, **k):
        self._trace.append(r.detach().clone())
        return upd(self, n, r, *a, **k)

    MB.EnergyNetwork.begin_phase, B.Stopper.__init__, B.Stopper.record, B.Stopper.update = begin_phase, init_, rec_, upd_
    try:
        app(argv, standalone_mode=False)
    except SystemExit:
        pass
    torch.save([(p, torch.stack(t).T) for p, t in traces if t], out)


def summary(path: str) -> None:
    by = collections.defaultdict(list)
    for p, t in torch.load(path):
        by[p].append(t)
    torch.set_printoptions(precision=4, linewidth=200, sci_mode=False)
    for p in ("free", "nudge+", "nudge-"):
        ts = by[p]
        n = min(t.shape[1] for t in ts[20:])
        print(p, "relaxations", len(ts), "batch sweeps", round(sum(t.shape[1] for t in ts) / len(ts), 2))
        print("  median residual by sweep", torch.stack([t[:, :n].median(0).values for t in ts[20:]]).mean(0))
        print("  q90 residual by sweep   ", torch.stack([t[:, :n].quantile(0.9, 0) for t in ts[20:]]).mean(0))


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2])
    else:
        record(sys.argv[1], sys.argv[2:])
