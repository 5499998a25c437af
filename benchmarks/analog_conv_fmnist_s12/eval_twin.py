"""Test accuracy of a trained analog run's weights read exactly (session 12, issue 20, helper K2).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/analog_conv_fmnist_s12/eval_twin.py RUN_DIR ...

For each run folder (a memristor training of the record's protocol): the analog model from its
``checkpoint.pt`` evaluated by ``Trainer.evaluate`` on the 1k test images as the training did
(noisy reads, converters), then its digital twin (the same config without the card; the devices'
effective weights and the biases copied in) evaluated the same way with exact reads. The gap
between the two is what the inference's periphery costs; the twin's accuracy is what the learned
weights are worth."""
import sys, time

import torch
import yaml

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

torch.set_num_threads(1)
for run in sys.argv[1:]:
    t0 = time.time()
    ck = torch.load(f"{run}/checkpoint.pt", map_location="cpu", weights_only=False)
    raw = yaml.safe_load(ck["config_yaml"])
    sets = [f"model.name={raw['model']['name']}", f"model.channels={raw['model']['channels']}".replace(" ", ""),
            "data.name=fashion_mnist", "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000",
            "data.test_size=1000", "compute.kernels=numba", "seed=0", f"ep.beta={raw['ep']['beta']}"]
    extra = [f"analog.update={raw['analog']['update']}", f"solver.end_reads={raw['solver'].get('end_reads', 1)}"]
    atr = make_trainer(load_config(None, sets + ["analog.device=memristor"] + extra), None)
    atr.model.load_state_dict(ck["model"])
    _, acc_a, _ = atr.evaluate(atr.test_set)
    dtr = make_trainer(load_config(None, sets), None)
    with torch.no_grad():
        for a, d in zip(atr.model.all_synapses(), dtr.model.all_synapses()):
            d.storage.weight.copy_(a.storage.effective_weight())
        for a, d in zip(atr.model.biases, dtr.model.biases):
            d.copy_(a)
    _, acc_d, _ = dtr.evaluate(dtr.test_set)
    print(f"{run}: analog (noisy reads) test acc {acc_a:.3f}   digital twin (exact reads) {acc_d:.3f}   "
          f"({time.time() - t0:.0f} s)", flush=True)
