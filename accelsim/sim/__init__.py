"""Simulation: compute models, per-layer costs and `simulate`."""

from __future__ import annotations

from accelsim.sim.cost import LayerCost, layer_times
from accelsim.sim.simulate import (
    LAYER_COLUMNS,
    SimResult,
    cost_schedule,
    layer_compute,
    simulate,
    sizes_for,
)

__all__ = ["LAYER_COLUMNS", "LayerCost", "SimResult", "cost_schedule", "layer_compute",
           "layer_times", "simulate", "sizes_for"]
