"""What the teacher gives the auxiliary readouts (python crnn_teacher_targets.py RUN_DIR...): on the
2,000 training images of the row, the teacher's accuracy and the soft targets
(1 - a) onehot(y) + a softmax(logits / T) for a in {0.5, 0.9}, T in {1, 4}: mean probability on the
label, mean largest probability, mean entropy (nats; ln 10 = 2.303 is uniform). One JSON line per run."""
import json
import math
import sys

import torch

from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer

torch.manual_seed(0)
for run in sys.argv[1:]:
    cfg = load_config(None, ["model.name=vgg_crnn", "data.name=fashion_mnist", "data.root=/work/shared/data/fashion-mnist",
                             "model.channels=[8,16,32,32,32]", "data.train_size=2000", "data.test_size=1000",
                             f"ep.teacher={run}"])
    tr = make_trainer(cfg, f"/tmp/E11/probe_teacher")
    x, y = tr.train_set.x, tr.train_set.y
    onehot = torch.nn.functional.one_hot(y, 10).to(x.dtype)
    logits = torch.cat([tr.teacher.logits(x[i:i + 250]) for i in range(0, len(x), 250)])
    row = {"teacher": run, "train_acc": round(float((logits.argmax(1) == y).float().mean()), 4)}
    for a in (0.5, 0.9, 1.0):
        for t in (1.0, 4.0):
            p = (1 - a) * onehot + a * torch.softmax(logits / t, 1)
            ent = -(p.clamp_min(1e-12).log() * p).sum(1).mean()
            row[f"a{a}_T{t:g}"] = {"p_label": round(float((p * onehot).sum(1).mean()), 4),
                                    "p_max": round(float(p.max(1).values.mean()), 4), "entropy": round(float(ent), 4)}
    print(json.dumps(row))
