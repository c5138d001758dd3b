"""Systolic-array compute cycles, modelled the way SCALE-Sim v3 counts them.

A conv or dense layer is lowered to a GEMM: M output pixels (times the batch) by N filters,
reducing over K = kh * kw * Cin / groups. The dataflow decides which two of (M, N, K) are
laid out spatially over the array's rows and columns (Sr, Sc) and which is streamed in
time (T); the GEMM is cut into ceil(Sr / rows) * ceil(Sc / cols) folds that run one after
another, each paying its own pipeline fill and drain. A grouped conv runs its groups one
after another, as SCALE-Sim's depthwise mode does; with `depthwise="spatial"` a depthwise
conv (one input channel per group) instead lays its groups side by side next to the
filters (os, ws) or the output pixels (is), as ZigZag unrolls G. A transposed conv is
the GEMM of its scatter: M input pixels (times the batch) by N = kh * kw * Cout / groups,
reducing over K = Cin / groups. Pools, adds and other weightless ops take 0 PE cycles:
they run on the vector unit (accelsim.sim.compute). Pure integer arithmetic, no
config: docs/pe_array.md derives the formulas from SCALE-Sim's source.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from accelsim.errors import ConfigError
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer

__all__ = [
    "DATAFLOWS",
    "DEPTHWISE_MAPPINGS",
    "ComputeCycles",
    "Dataflow",
    "Depthwise",
    "Gemm",
    "PEArray",
    "fold_cycles",
    "is_depthwise",
    "layer_cycles",
    "layer_gemm",
    "network_cycles",
]

Dataflow = Literal["os", "ws", "is"]
DATAFLOWS: tuple[str, ...] = get_args(Dataflow)
#: How a depthwise conv maps: `channel`, one channel after another (SCALE-Sim's depthwise
#: mode); `spatial`, channels side by side across the array (ZigZag's G unrolling).
Depthwise = Literal["channel", "spatial"]
DEPTHWISE_MAPPINGS: tuple[str, ...] = get_args(Depthwise)


@dataclass(frozen=True)
class PEArray:
    """A rows x cols grid of multiply-accumulate units running one dataflow.

    os: output stationary, ws: weight stationary, is: input stationary. `depthwise`: how
    depthwise convs map (DEPTHWISE_MAPPINGS).
    """

    rows: int
    cols: int
    dataflow: Dataflow = "os"
    depthwise: Depthwise = "channel"

    def __post_init__(self) -> None:
        for field_name in ("rows", "cols"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"PE array {field_name} must be an integer >= 1, got {value!r}")
        if self.dataflow not in DATAFLOWS:
            raise ConfigError(
                f"PE array dataflow must be one of {', '.join(DATAFLOWS)}, got {self.dataflow!r}"
            )
        if self.depthwise not in DEPTHWISE_MAPPINGS:
            raise ConfigError(f"PE array depthwise must be one of "
                              f"{', '.join(DEPTHWISE_MAPPINGS)}, got {self.depthwise!r}")

    @property
    def pes(self) -> int:
        """Number of multiply-accumulate units."""
        return self.rows * self.cols


@dataclass(frozen=True)
class Gemm:
    """A layer as `repeats` runs of `spread` GEMMs (M x K) times (K x N) side by side.

    m: output pixels times batch; n: filters per group; k: reduction length per group;
    repeats: groups run one after another (1 for a plain conv or dense, C for a depthwise
    conv mapped channel by channel); spread: groups laid side by side in one run (C for a
    depthwise conv mapped spatially, else 1).
    """

    m: int
    n: int
    k: int
    repeats: int = 1
    spread: int = 1

    def spatial_temporal(self, dataflow: Dataflow) -> tuple[int, int, int]:
        """(Sr, Sc, T) of one run under `dataflow`, as SCALE-Sim's topology_utils maps a
        GEMM; spread groups widen the columns (filters in os and ws, pixels in is)."""
        g = self.spread
        if dataflow == "os":
            return self.m, g * self.n, self.k
        if dataflow == "ws":
            return self.k, g * self.n, self.m
        return self.k, g * self.m, self.n


@dataclass(frozen=True)
class ComputeCycles:
    """PE-array cycles of one layer, with the mapping that produced them.

    `cycles` counts every cycle the array is busy, fill and drain included (SCALE-Sim
    reports the 0-based index of the last cycle, i.e. one less per GEMM it simulates).
    """

    cycles: int
    folds: int
    macs: int
    pes: int
    sr: int = 0
    sc: int = 0
    t: int = 0
    repeats: int = 0

    @property
    def utilization(self) -> float:
        """MACs done over MACs the array could have done in `cycles` (0.0 when idle)."""
        return self.macs / (self.cycles * self.pes) if self.cycles else 0.0


#: Cycles of one fold by dataflow, from the demand-matrix heights in SCALE-Sim v3's
#: systolic_compute_{os,ws,is}.py: (array rows, array cols, T) -> cycles.
FOLD_CYCLES: dict[str, Callable[[int, int, int], int]] = {
    "os": lambda rows, cols, t: rows + cols + t - 2,
    "ws": lambda rows, cols, t: 2 * rows + cols + t - 2,
    "is": lambda rows, cols, t: 2 * rows + cols + t - 2,
}


def fold_cycles(sr: int, sc: int, t: int, array: PEArray) -> tuple[int, int]:
    """(folds, cycles) of one GEMM mapped as Sr x Sc spatially and T in time."""
    folds = math.ceil(sr / array.rows) * math.ceil(sc / array.cols)
    return folds, folds * FOLD_CYCLES[array.dataflow](array.rows, array.cols, t)


def is_depthwise(layer: Layer) -> bool:
    """True for a conv whose every group reads one input channel (any depth multiplier)."""
    return (layer.op in ("conv2d", "depthwise_conv2d")
            and 1 < layer.groups == layer.in_channels)


def layer_gemm(layer: Layer, batch: int = 1, depthwise: Depthwise = "channel") -> Gemm | None:
    """The GEMM a conv or dense layer lowers to; None for weightless ops. `depthwise`:
    whether a depthwise conv's groups run one after another or side by side."""
    if layer.op in ("conv2d", "depthwise_conv2d"):
        ho, wo, cout = layer.output_shape
        kh, kw = layer.kernel
        g = layer.groups
        m, n, k = batch * ho * wo, cout // g, kh * kw * (layer.in_channels // g)
        if depthwise == "spatial" and is_depthwise(layer):
            return Gemm(m, n, k, spread=g)
        return Gemm(m, n, k, g)
    if layer.op == "conv_transpose":
        h, w, cin = layer.input_shape
        kh, kw = layer.kernel
        g = layer.groups
        return Gemm(batch * h * w, kh * kw * layer.out_channels // g, cin // g, g)
    if layer.op == "dense":
        return Gemm(batch, layer.out_channels, math.prod(layer.input_shape))
    return None


@functools.lru_cache(maxsize=4096, typed=True)  # typed: True is not the batch 1
def layer_cycles(layer: Layer, array: PEArray, batch: int = 1) -> ComputeCycles:
    """PE-array cycles of `layer` for `batch` samples; weightless ops cost 0 cycles
    (cached: every simulation of a network asks again for each layer)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be an integer >= 1, got {batch!r}")
    gemm = layer_gemm(layer, batch, array.depthwise)
    if gemm is None:
        return ComputeCycles(0, 0, 0, array.pes)
    sr, sc, t = gemm.spatial_temporal(array.dataflow)
    folds, cycles = fold_cycles(sr, sc, t, array)
    return ComputeCycles(
        cycles=gemm.repeats * cycles,
        folds=gemm.repeats * folds,
        macs=batch * layer.macs,
        pes=array.pes,
        sr=sr,
        sc=sc,
        t=t,
        repeats=gemm.repeats,
    )


def network_cycles(net: Network, array: PEArray, batch: int = 1) -> dict[str, ComputeCycles]:
    """`layer_cycles` of every layer of `net`, keyed by name, in execution order."""
    return {layer.name: layer_cycles(layer, array, batch) for layer in net.layers()}
