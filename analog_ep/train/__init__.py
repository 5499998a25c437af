"""Training: build (config -> objects), loop, checkpoints."""

from .build import build_model, build_optimizer
from .loop import Trainer, fit, make_trainer, resume_trainer

__all__ = ["Trainer", "build_model", "build_optimizer", "fit", "make_trainer", "resume_trainer"]
