"""Does an epoch's test pass compile numba kernels that the first training step did not?
(session 17, task S)

    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/sigterm_latency_s17/eval_kernels.py

Builds dchn_vgg5 16-32-64-64 on the memristor card (numba kernels, 32 Fashion-MNIST images), runs
one training step, then the test pass, and prints the numba cache's data files and the kernel
modules' dispatcher overloads after each: with an empty ``NUMBA_CACHE_DIR`` a file the pass adds
is a kernel the pass compiled.
"""

from __future__ import annotations

import glob
import importlib
import os

from numba.core.registry import CPUDispatcher

from analog_ep.analog import kernels as K
from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

A = ["model.name=dchn_vgg5", "model.channels=[16,32,64,64]", "data.name=fashion_mnist",
     "data.root=/work/shared/data/fashion-mnist", "compute.kernels=numba", "data.train_size=32",
     "data.test_size=32", "train.epochs=1", "seed=0", "analog.device=memristor"]


def overloads() -> int:
    n = 0
    for name in K._KERNEL_MODULES:
        m = importlib.import_module(name, K.__name__)
        n += sum(len(v.overloads) for v in vars(m).values() if isinstance(v, CPUDispatcher))
    return n


def cache_files() -> list[str]:
    return sorted(glob.glob(os.environ["NUMBA_CACHE_DIR"] + "/**/*.nbc", recursive=True))


def main() -> None:
    t = make_trainer(load_config(None, A), "/tmp/S17_eval_kernels_run")
    for x, y, n in t._global_batches(t.train_set, None):
        t.train_step(x, y, n)
        break
    files_b, over_b = cache_files(), overloads()
    t.evaluate(t.test_set)
    files_c, over_c = cache_files(), overloads()
    print(f"after the step: {len(files_b)} cache data files, {over_b} overloads; after the test pass: "
          f"{len(files_c)} files, {over_c} overloads; new files: {[os.path.basename(f) for f in files_c if f not in files_b]}")


if __name__ == "__main__":
    main()
