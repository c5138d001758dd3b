"""Buffer accesses a PE array makes per dataflow, counted the way SCALE-Sim counts them.

A layer lowered to `repeats` GEMMs (M x K) x (K x N) (accelsim.sim.pe_array) runs as
ceil(Sr / rows) x ceil(Sc / cols) folds. From the demand matrices of SCALE-Sim v2's
systolic_compute_{os,ws,is}.py, in elements, per GEMM (fr, fc: row and column folds):

    os (Sr=M, Sc=N):  ifmap M*K*fc   filter K*N*fr   ofmap M*N
    ws (Sr=K, Sc=N):  ifmap M*K*fc   filter K*N      ofmap M*N*fr
    is (Sr=K, Sc=M):  ifmap K*M      filter K*N*fc   ofmap M*N*fr

The operand held stationary is read once; the streamed ones once per fold across the
other spatial dimension. A depthwise conv mapped spatially lays G groups side by side in
the columns (Sc = G*N in os and ws, G*M in is). No operand is shared across groups, so a
column fold reads the streamed ifmap (os, ws) or filter (is) once per group it touches:
that count takes the sum over column folds of the groups each touches in place of fc,
and the other two counts are G times those of one group.

When K is spatial (ws, is) every row fold writes an M x N block of partial sums: here the
first fr - 1 of them are written at accumulator precision and read back by the next fold,
the last is the finished output (SCALE-Sim counts every fold's write as one word and no
read-back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.ir.layers import Layer
from accelsim.mapping.tiling import Sizes
from accelsim.sim.pe_array import PEArray, layer_gemm

__all__ = ["ArrayTraffic", "array_traffic", "element_accesses", "group_spans"]


@dataclass(frozen=True)
class ArrayTraffic:
    """Bytes a layer's array reads from / writes to on-chip buffers, by operand."""

    input_reads: int
    weight_reads: int
    output_writes: int
    psum_writes: int  # partial-sum blocks between row folds (each also read back once)


def _floor_sum(n: int, m: int, a: int, b: int) -> int:
    """Sum of (a * i + b) // m for i in 0 .. n-1 (a, b >= 0, m >= 1), in O(log) steps."""
    total = 0
    while n > 0:
        if a >= m:
            total += n * (n - 1) // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        top = a * n + b
        if top < m:
            break
        n, b, m, a = top // m, top % m, a, m
    return total


def group_spans(groups: int, width: int, cols: int) -> int:
    """How many groups the column folds touch, summed over the folds, when `groups` blocks
    of `width` columns lie side by side (ceil(width / cols) for one group).

    Fold f covers columns f*cols .. min((f+1)*cols, W) - 1 (W = groups * width) and touches
    groups first // width .. last // width; the sums of those floors are floor sums.
    """
    columns = groups * width
    folds = -(-columns // cols)
    lasts = _floor_sum(folds - 1, width, cols, cols - 1) + (columns - 1) // width
    return folds + lasts - _floor_sum(folds, width, cols, 0)


def element_accesses(m: int, n: int, k: int, array: PEArray, spread: int = 1
                     ) -> tuple[int, int, int]:
    """(ifmap reads, filter reads, ofmap writes) in elements of one GEMM, as SCALE-Sim,
    or of `spread` GEMMs laid side by side in the columns (a spatial depthwise run)."""
    g = spread
    if array.dataflow == "os":
        fr = math.ceil(m / array.rows)
        return m * k * group_spans(g, n, array.cols), g * k * n * fr, g * m * n
    fr = math.ceil(k / array.rows)
    if array.dataflow == "ws":
        return m * k * group_spans(g, n, array.cols), g * k * n, g * m * n * fr
    return g * k * m, k * n * group_spans(g, m, array.cols), g * m * n * fr


def array_traffic(layer: Layer, batch: int, array: PEArray, sizes: Sizes) -> ArrayTraffic | None:
    """The layer's buffer traffic on `array` for `batch` samples; None for weightless ops."""
    gemm = layer_gemm(layer, batch, array.depthwise)
    if gemm is None:
        return None
    ifmap, weights, ofmap = element_accesses(gemm.m, gemm.n, gemm.k, array, gemm.spread)
    finished = gemm.spread * gemm.m * gemm.n
    act, acc = sizes.activation_bits, sizes.accumulator_bits
    return ArrayTraffic(
        input_reads=math.ceil(gemm.repeats * ifmap * act / 8),
        weight_reads=math.ceil(gemm.repeats * weights * sizes.weight_bits / 8),
        output_writes=math.ceil(gemm.repeats * finished * act / 8),
        psum_writes=math.ceil(gemm.repeats * (ofmap - finished) * acc / 8),
    )
