"""Configuration: frozen dataclasses, YAML loading, ``--set`` overrides (no torch import)."""

from .loader import apply_overrides, dump_yaml, from_dict, load_chip_file, load_config, read_yaml, to_dict
from .schema import AnalogConfig, ChipConfig, ComputeConfig, DataConfig, EPConfig, ModelConfig, PCConfig, RBPConfig, RunConfig, SolverConfig, TrainConfig

__all__ = [
    "AnalogConfig", "ChipConfig", "ComputeConfig", "DataConfig", "EPConfig", "ModelConfig", "PCConfig", "RBPConfig", "RunConfig", "SolverConfig", "TrainConfig",
    "apply_overrides", "dump_yaml", "from_dict", "load_chip_file", "load_config", "read_yaml", "to_dict",
]
