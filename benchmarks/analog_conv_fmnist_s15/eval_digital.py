"""eval_digital.py RUN...: a finished analog run's test accuracy as it ran (its card, its periphery)
and the same trained weights (the tiles' effective weights, study.deploy.digital_state) evaluated by the
digital model of the same config (analog.* at defaults, no card): is the card's gap in training or in
inference? One JSON line per run."""
import dataclasses
import json
import sys

import torch
import yaml

from analog_ep.config import dump_yaml, load_config
from analog_ep.config.schema import AnalogConfig
from analog_ep.data import load_data
from analog_ep.study.deploy import digital_state, load_source
from analog_ep.train.loop import make_trainer

for run in sys.argv[1:]:
    ckpt, cfg, status = load_source(run)
    data = load_data(cfg.data, cfg.seed)
    src = make_trainer(cfg, None, data=data, stored_card=ckpt.get("device"))
    src.load(ckpt)
    la, aa, _ = src.evaluate(src.test_set)
    w = digital_state(src.model)
    base = yaml.safe_load(dump_yaml(cfg))
    base["analog"] = dataclasses.asdict(AnalogConfig())
    base["device"] = {}
    dig = make_trainer(load_config(None, [], base=base), None, data=data, weights=w)
    ld, ad, _ = dig.evaluate(dig.test_set)
    print(json.dumps({"run": run, "status": status, "analog_test_acc": aa, "analog_test_loss": la,
                      "digital_eval_test_acc": ad, "digital_eval_test_loss": ld}), flush=True)
