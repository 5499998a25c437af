"""Configuration: frozen dataclasses, YAML loading, ``--set`` overrides (no torch import)."""

from .loader import apply_overrides, dump_yaml, from_dict, load_config, read_yaml, to_dict
from .schema import AnalogConfig, ComputeConfig, DataConfig, EPConfig, ModelConfig, PCConfig, RunConfig, SolverConfig, TrainConfig

__all__ = [
    "AnalogConfig", "ComputeConfig", "DataConfig", "EPConfig", "ModelConfig", "PCConfig", "RunConfig", "SolverConfig", "TrainConfig",
    "apply_overrides", "dump_yaml", "from_dict", "load_config", "read_yaml", "to_dict",
]
