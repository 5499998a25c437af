"""Knowledge-distillation teacher: any finished analog-ep run (e.g. the backprop twin)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from ..config import load_config
from ..errors import ConfigError
from .build import build_model, build_solver
from .checkpoint import load_checkpoint


class Teacher:
    """Loads ``DIR/checkpoint.pt`` with its own config and gives logits for a batch: the
    feed-forward twin for a backprop run, the free fixed point (relaxed from zeros) for EP."""

    def __init__(self, run_dir: str | Path, in_shape: tuple[int, ...], num_classes: int,
                 device: torch.device | None = None):
        ckpt = load_checkpoint(Path(run_dir) / "checkpoint.pt")
        self.cfg = load_config(None, [], base=yaml.safe_load(ckpt["config_yaml"]))
        self.model = build_model(self.cfg, in_shape, num_classes, ckpt.get("device"), device=device)
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise ConfigError(f"ep.teacher: the run in {run_dir} does not fit this data "
                              f"({in_shape}, {num_classes} classes): {str(e).splitlines()[0]}") from e
        self.model.eval()
        self.solver = build_solver(self.cfg, device)

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        self.model.begin_batch()  # an analog teacher redraws its read noise as its policy says
        self.model.begin_phase()
        if self.cfg.algorithm == "bp":
            return self.model.ff_forward(x)
        s, _ = self.solver(self.model, self.model.const_drive(x), self.model.zero_state(x.shape[0], x),
                           iters=self.cfg.solver.free_iters, tol=self.cfg.solver.tol, damping=self.cfg.solver.damping)
        return self.model.output(s)

    def soft_targets(self, x: torch.Tensor, y_onehot: torch.Tensor, alpha: float, temperature: float) -> torch.Tensor:
        """``(1 - alpha) onehot(y) + alpha softmax(logits / T)``."""
        return (1 - alpha) * y_onehot + alpha * torch.softmax(self.logits(x) / temperature, dim=1)
