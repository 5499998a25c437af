"""Train the default Hopfield MLP on the embedded digits set with centered EP, then compare
with its backprop twin (same initialization, data order and seed). Run: python examples/01_train_digits.py"""

import tempfile

from analog_ep.config import load_config
from analog_ep.train import fit, make_trainer

with tempfile.TemporaryDirectory() as out:
    for algorithm in ("ep", "bp"):
        cfg = load_config(None, [f"algorithm={algorithm}", "train.epochs=5"])
        trainer = make_trainer(cfg, f"{out}/{algorithm}")
        fit(trainer, progress=False)
        last = trainer.history[-1]
        print(f"{algorithm}: test accuracy {last['test_accuracy']:.4f} "
              f"({sum(r['seconds'] for r in trainer.history):.1f} s training)")
