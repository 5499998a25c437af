"""The same Hopfield network trained several ways on the embedded digits set: digital EP, EP on
simulated memristor crossbars (the card's aihwkit-default periphery; rounded, mixed-precision and
bit-stream updates; read noise shared per phase), and the backprop twin, digital and on the same
tiles. Run: python examples/03_analog_vs_digital.py"""

import tempfile

from analog_ep.config import load_config
from analog_ep.train import fit, make_trainer

runs = {
    "digital EP": [],
    "analog EP, rounded pulses (memristor)": ["analog.device=memristor"],
    "analog EP, mixed precision": ["analog.device=memristor", "analog.update=mixed"],
    "analog EP, bit-stream pulse trains": ["analog.device=memristor", "analog.pulse_scheme=bitstream",
                                           "train.momentum=0", "train.lr=0.02"],
    "analog EP, 2% read noise shared per phase": ["analog.device=memristor", "analog.w_noise_std=0.02",
                                                   "analog.noise_policy=per_phase"],
    "backprop twin": ["algorithm=bp"],
    "backprop twin on the same tiles": ["algorithm=bp", "analog.device=memristor"],
}
with tempfile.TemporaryDirectory() as out:
    for i, (name, overrides) in enumerate(runs.items()):
        trainer = make_trainer(load_config(None, overrides + ["train.epochs=5"]), f"{out}/{i}")
        fit(trainer, progress=False)
        pulses = sum(trainer.pulse_counts())
        extra = f", {pulses / 1e6:.2f} M pulses" if pulses else ""
        print(f"{name:45s} test accuracy {trainer.history[-1]['test_accuracy']:.4f}{extra}")
