"""sha256 of a run's trained state (``checkpoint.pt``: every tensor of the model's state dict, the
optimizer's state, the warm start) and its last history row's losses and accuracies: the same
digest for two trees means bit-identical training. Usage: python weights_sha.py RUN_DIR [LABEL]"""
import hashlib, json, sys

import torch

ck = torch.load(sys.argv[1] + "/checkpoint.pt", map_location="cpu", weights_only=False)
h = hashlib.sha256()


def feed(obj):
    if isinstance(obj, torch.Tensor):
        h.update(obj.detach().contiguous().cpu().numpy().tobytes())
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            h.update(str(k).encode())
            feed(obj[k])
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            feed(v)


feed(ck["model"]); feed(ck["optimizer"]["state"]); feed(ck["warm"])
row = ck["history"][-1]
keys = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "free_mean_steps", "pulses_per_step")
print(json.dumps({"label": sys.argv[2] if len(sys.argv) > 2 else sys.argv[1], "sha256": h.hexdigest()[:16],
                  **{k: row.get(k) for k in keys}}))
