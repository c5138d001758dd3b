"""Compute models: how long a layer's multiply-adds take on the configured compute unit.

* ideal: MACs / mac_rate (every MAC unit busy every cycle; the 004 method).
* pe_array: cycles from mapping the layer onto a pe_rows x pe_cols systolic array with
  the configured dataflow (folds, fill and drain), divided by the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from accelsim.config.models import ComputeConfig
from accelsim.ir.layers import Layer

__all__ = ["ComputeModel", "Work", "compute_model"]


@dataclass(frozen=True)
class Work:
    """A layer's compute: cycles (0 when the model has no clock), seconds, utilisation."""

    cycles: int
    time_s: float
    utilization: float


ComputeModel = Callable[[Layer, int], Work]


def _ideal(config: ComputeConfig) -> ComputeModel:
    rate = config.peak_mac_rate

    def work(layer: Layer, batch: int) -> Work:
        macs = layer.macs * batch
        return Work(0, macs / rate, 1.0 if macs else 0.0)

    return work


def _pe_array(config: ComputeConfig) -> ComputeModel:
    from accelsim.sim.pe_array import PEArray, layer_cycles

    assert config.pe_rows and config.pe_cols and config.clock
    array = PEArray(config.pe_rows, config.pe_cols, config.dataflow)
    clock = config.clock

    def work(layer: Layer, batch: int) -> Work:
        result = layer_cycles(layer, array, batch)
        return Work(result.cycles, result.cycles / clock, result.utilization)

    return work


def compute_model(config: ComputeConfig) -> ComputeModel:
    """The compute model the config selects: pe_array when it gives an array, else ideal."""
    return _pe_array(config) if config.is_pe_array else _ideal(config)
