"""Run files and hardware configs: pydantic models and the strict YAML loader."""

from __future__ import annotations

from accelsim.config.loader import (
    apply_overrides,
    find_config,
    load_hardware,
    load_run,
    resolved_yaml,
)
from accelsim.config.models import (
    POLICIES,
    ComputeConfig,
    DramConfig,
    EnergyConfig,
    HardwareConfig,
    ModelRef,
    PrecisionConfig,
    RunConfig,
    SimulationConfig,
    SramConfig,
)

__all__ = [
    "POLICIES",
    "ComputeConfig",
    "DramConfig",
    "EnergyConfig",
    "HardwareConfig",
    "ModelRef",
    "PrecisionConfig",
    "RunConfig",
    "SimulationConfig",
    "SramConfig",
    "apply_overrides",
    "find_config",
    "load_hardware",
    "load_run",
    "resolved_yaml",
]
