"""The random part of one read through the memristor card's periphery (abs-max noise management,
7-bit DAC, output noise 0.06 / sqrt(m), 9-bit ADC at +-12) as the relaxation sees it: two reads of
the same input differ by sqrt(2) times it. Measured per m (and with an 11-bit ADC) on a 64 -> 64
layer of one tile, in device units (divided by w_scale and the noise-management scale), beside the
closed form the noise-floor stop uses, sqrt(sigma^2 / m + step^2 / 12), and sigma / sqrt(m).

    python benchmarks/analog_noise_budget_s13/read_spread.py
"""

import math

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer


def spread(*extra) -> tuple[float, float]:
    cfg = load_config(None, ["data.name=digits", "data.batch_size=8", "data.train_size=16", "data.test_size=8",
                             "model.hidden=[64]", "analog.device=memristor", "analog.max_rows=512",
                             "analog.max_cols=512", "compute.accelerator=cpu", "compute.kernels=torch", *extra])
    tr = make_trainer(cfg, None)
    syn = list(tr.model.all_synapses())[0]                     # 64 inputs -> 64 hidden, one tile
    x = torch.rand(2048, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tr.model.begin_batch()
        tr.model.begin_phase("free")
        a, b = syn.read(x), syn.read(x)
    scale = syn.storage.w_scale * x.abs().amax(1, keepdim=True)   # abs-max noise management, inp_bound 1
    d = (a - b) / (math.sqrt(2) * scale)
    p = syn.storage.periph
    step = 12.0 / (2 ** (p.out_bits - 1) - 1)
    return float(d.std()), math.sqrt(p.read_noise_std ** 2 + step * step / 12), p.read_noise_std


print("| setting | sigma / sqrt(m) | measured random std per read (device units) | closed form sqrt(sigma^2/m + step^2/12) |")
print("|---|---|---|---|")
for label, extra in [("m 1", ()), ("m 4", ("analog.read_integration=4",)), ("m 16", ("analog.read_integration=16",)),
                     ("m 64", ("analog.read_integration=64",)), ("noise off", ("analog.out_noise_std=0",)),
                     ("m 64, 11-bit ADC", ("analog.read_integration=64", "analog.out_bits=11")),
                     ("m 16, 11-bit ADC", ("analog.read_integration=16", "analog.out_bits=11"))]:
    measured, closed, sigma = spread(*extra)
    print(f"| {label} | {sigma:.4f} | {measured:.4f} | {closed:.4f} |")
