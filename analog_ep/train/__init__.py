"""Training: build (config -> objects), loop, checkpoints."""

from .build import build_model, build_optimizer, build_solver
from .loop import Trainer, fit, make_trainer, resume_trainer

__all__ = ["Trainer", "build_model", "build_optimizer", "build_solver", "fit", "make_trainer", "resume_trainer"]
