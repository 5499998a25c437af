"""The same Hopfield network trained three ways on the embedded digits set: digital EP, EP on
simulated memristor crossbars (pulsed and mixed-precision updates), and the backprop twin.
Run: python examples/03_analog_vs_digital.py"""

import tempfile

from analog_ep.config import load_config
from analog_ep.train import fit, make_trainer

runs = {
    "digital EP": [],
    "analog EP, pulsed (memristor)": ["analog.device=memristor"],
    "analog EP, mixed precision": ["analog.device=memristor", "analog.update=mixed"],
    "analog EP, 6-bit DAC / 8-bit ADC, 2% read noise": ["analog.device=memristor", "analog.inp_bits=6",
                                                         "analog.inp_bound=4", "analog.out_bits=8",
                                                         "analog.out_bound=20", "analog.w_noise_std=0.02"],
    "backprop twin": ["algorithm=bp"],
}
with tempfile.TemporaryDirectory() as out:
    for i, (name, overrides) in enumerate(runs.items()):
        trainer = make_trainer(load_config(None, overrides + ["train.epochs=5"]), f"{out}/{i}")
        fit(trainer, progress=False)
        last = trainer.history[-1]
        pulses = sum(v for k, v in last.items() if k.startswith("pulses_"))
        extra = f", {pulses / 1e6:.2f} M pulses" if pulses else ""
        print(f"{name:50s} test accuracy {last['test_accuracy']:.4f}{extra}")
