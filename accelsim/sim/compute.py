"""Compute models: how long a layer's multiply-adds and vector work take.

* ideal: MACs / mac_rate (every MAC unit busy every cycle; the 004 method).
* pe_array: cycles from mapping the layer onto a pe_rows x pe_cols systolic array with
  the configured dataflow and depthwise mapping (folds, fill and drain), divided by the
  clock.

Non-MAC work (pools, element-wise ops, sigmoid-like activations: `Layer.vector_elements`)
runs on a vector unit at `compute.vector_rate` elements/s. The vector unit processes the
MAC array's outputs as they stream out, so a layer takes the longer of the two times.
`scale` multiplies a layer's work (a fused group's recomputed halo rows); PE-array cycles
stay whole, so the time is the scaled cycles, rounded, over the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from accelsim.config.models import ComputeConfig
from accelsim.ir.layers import Layer

__all__ = ["ComputeModel", "Work", "compute_model"]


@dataclass(frozen=True)
class Work:
    """A layer's compute: cycles (0 when the model has no clock), seconds, utilisation."""

    cycles: int
    time_s: float
    utilization: float


class ComputeModel(Protocol):
    """(layer, batch, scale) -> the Work of `batch` samples of the layer, times `scale`."""

    def __call__(self, layer: Layer, batch: int, scale: float = 1.0) -> Work: ...


def _ideal(config: ComputeConfig) -> ComputeModel:
    rate, vector = config.peak_mac_rate, config.effective_vector_rate

    def work(layer: Layer, batch: int, scale: float = 1.0) -> Work:
        macs = layer.macs * batch
        return Work(0, max(macs * scale / rate, layer.vector_elements * batch * scale / vector),
                    1.0 if macs else 0.0)

    return work


def _pe_array(config: ComputeConfig) -> ComputeModel:
    from accelsim.sim.pe_array import PEArray, layer_cycles

    assert config.pe_rows and config.pe_cols and config.clock
    array = PEArray(config.pe_rows, config.pe_cols, config.dataflow, config.depthwise)
    clock, vector = config.clock, config.effective_vector_rate

    def work(layer: Layer, batch: int, scale: float = 1.0) -> Work:
        result = layer_cycles(layer, array, batch)
        cycles = result.cycles if scale == 1 else round(result.cycles * scale)
        return Work(cycles, max(cycles / clock, layer.vector_elements * batch * scale / vector),
                    result.utilization)

    return work


def compute_model(config: ComputeConfig) -> ComputeModel:
    """The compute model the config selects: pe_array when it gives an array, else ideal."""
    return _pe_array(config) if config.is_pe_array else _ideal(config)
