"""Knowledge-distillation teacher: any finished analog-ep run (e.g. the backprop twin)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..algorithms.rules import build_rule
from ..errors import ConfigError
from .build import build_model
from .checkpoint import load_checkpoint, stored_config


class Teacher:
    """Loads ``DIR/checkpoint.pt`` with its own config and gives logits for a batch: the
    prediction of the run's own learning rule (the feed-forward twin for backprop, the free
    fixed point relaxed from zeros for EP on a Hopfield energy)."""

    def __init__(self, run_dir: str | Path, in_shape: tuple[int, ...], num_classes: int,
                 device: torch.device | None = None):
        path = Path(run_dir) / "checkpoint.pt"
        ckpt = load_checkpoint(path)
        self.cfg = stored_config(ckpt, path=path)
        self.model = build_model(self.cfg, in_shape, num_classes, ckpt.get("device"), device=device)
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise ConfigError(f"ep.teacher: the run in {run_dir} does not fit this data "
                              f"({in_shape}, {num_classes} classes): {str(e).splitlines()[0]}") from e
        self.model.eval()
        self.rule = build_rule(self.cfg, self.model, device)

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's prediction (its own learning rule's, :meth:`LearningRule.predict`), in
        ``x``'s dtype (a teacher runs at its own run's ``compute.precision``: fp32 or fp64)."""
        self.model.begin_batch()  # an analog teacher redraws its read noise as its policy says
        return self.rule.predict(x.to(self.model.biases[0].dtype))[0].to(x.dtype)

    def soft_targets(self, x: torch.Tensor, y_onehot: torch.Tensor, alpha: float, temperature: float) -> torch.Tensor:
        """``(1 - alpha) onehot(y) + alpha softmax(logits / T)``."""
        return (1 - alpha) * y_onehot + alpha * torch.softmax(self.logits(x) / temperature, dim=1)
