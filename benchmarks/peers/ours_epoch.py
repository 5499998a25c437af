"""``analog-ep train ARGS...`` in-process, plus the CPU seconds of its training epochs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/peers/ours_epoch.py --set algorithm=pc ... --json

Runs the unchanged CLI (same code path, same ``seconds_per_epoch`` as the console script) and
prints its ``--json`` summary with ``epoch_cpu_seconds`` added: the process CPU time (all
threads) of each ``Trainer.run_epoch`` minus that of the evaluation inside it. On a machine shared
with other jobs the wall-clock epoch time includes waiting for a core; the CPU time does not.
Also adds the torch version and thread count.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time

import torch

import analog_ep
from analog_ep import cli
from analog_ep.train.loop import Trainer

_cpu: list[float] = []
_wall: list[float] = []
_acc: list[float] = []
_eval_cpu = [0.0]
_eval_wall = [0.0]
_run_epoch, _evaluate = Trainer.run_epoch, Trainer.evaluate


def _timed_run_epoch(self, *args, **kwargs):
    c0, e0, w0, ew0 = time.process_time(), _eval_cpu[0], time.perf_counter(), _eval_wall[0]
    row = _run_epoch(self, *args, **kwargs)
    _cpu.append(time.process_time() - c0 - (_eval_cpu[0] - e0))
    _wall.append(time.perf_counter() - w0 - (_eval_wall[0] - ew0))
    _acc.append(row.get("test_accuracy"))
    return row


def _timed_evaluate(self, *args, **kwargs):
    c0, w0 = time.process_time(), time.perf_counter()
    out = _evaluate(self, *args, **kwargs)
    _eval_cpu[0] += time.process_time() - c0
    _eval_wall[0] += time.perf_counter() - w0
    return out


def main() -> None:
    Trainer.run_epoch, Trainer.evaluate = _timed_run_epoch, _timed_evaluate
    sys.argv = ["analog-ep", "train", *sys.argv[1:]]
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf):
        try:
            cli.run()
        except SystemExit as e:
            code = e.code or 0
    text = buf.getvalue()
    if code:
        sys.stdout.write(text)
        raise SystemExit(code)
    summary = json.loads(text.strip().splitlines()[-1])
    summary.update(side="analog_ep", epoch_cpu_seconds=_cpu[0] if len(_cpu) == 1 else _cpu,
                   epoch_wall_seconds=_wall, epoch_test_accuracy=_acc,
                   versions={"torch": torch.__version__, "python": sys.version.split()[0],
                             "analog_ep": analog_ep.__version__, "analog_ep_path": os.path.dirname(analog_ep.__file__)},
                   torch_threads=torch.get_num_threads(),
                   threads={k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")})
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
