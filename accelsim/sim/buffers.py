"""Buffer accesses a PE array makes per dataflow, counted the way SCALE-Sim counts them.

A layer lowered to `repeats` GEMMs (M x K) x (K x N) (accelsim.sim.pe_array) runs as
ceil(Sr / rows) x ceil(Sc / cols) folds. From the demand matrices of SCALE-Sim v2's
systolic_compute_{os,ws,is}.py, in elements, per GEMM (fr, fc: row and column folds):

    os (Sr=M, Sc=N):  ifmap M*K*fc   filter K*N*fr   ofmap M*N
    ws (Sr=K, Sc=N):  ifmap M*K*fc   filter K*N      ofmap M*N*fr
    is (Sr=K, Sc=M):  ifmap K*M      filter K*N*fc   ofmap M*N*fr

The operand held stationary is read once; the streamed ones once per fold across the
other spatial dimension. When K is spatial (ws, is) every row fold writes an M x N block
of partial sums: here the first fr - 1 of them are written at accumulator precision and
read back by the next fold, the last is the finished output (SCALE-Sim counts every
fold's write as one word and no read-back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.ir.layers import Layer
from accelsim.mapping.tiling import Sizes
from accelsim.sim.pe_array import PEArray, layer_gemm

__all__ = ["ArrayTraffic", "array_traffic", "element_accesses"]


@dataclass(frozen=True)
class ArrayTraffic:
    """Bytes a layer's array reads from / writes to on-chip buffers, by operand."""

    input_reads: int
    weight_reads: int
    output_writes: int
    psum_writes: int  # partial-sum blocks between row folds (each also read back once)


def element_accesses(m: int, n: int, k: int, array: PEArray) -> tuple[int, int, int]:
    """(ifmap reads, filter reads, ofmap writes) in elements of one GEMM, as SCALE-Sim."""
    sr, sc = {"os": (m, n), "ws": (k, n), "is": (k, m)}[array.dataflow]
    fr, fc = math.ceil(sr / array.rows), math.ceil(sc / array.cols)
    if array.dataflow == "os":
        return m * k * fc, k * n * fr, m * n
    if array.dataflow == "ws":
        return m * k * fc, k * n, m * n * fr
    return k * m, k * n * fc, m * n * fr


def array_traffic(layer: Layer, batch: int, array: PEArray, sizes: Sizes) -> ArrayTraffic | None:
    """The layer's buffer traffic on `array` for `batch` samples; None for weightless ops."""
    gemm = layer_gemm(layer, batch)
    if gemm is None:
        return None
    ifmap, weights, ofmap = element_accesses(gemm.m, gemm.n, gemm.k, array)
    finished = gemm.m * gemm.n
    act, acc = sizes.activation_bits, sizes.accumulator_bits
    return ArrayTraffic(
        input_reads=math.ceil(gemm.repeats * ifmap * act / 8),
        weight_reads=math.ceil(gemm.repeats * weights * sizes.weight_bits / 8),
        output_writes=math.ceil(gemm.repeats * finished * act / 8),
        psum_writes=math.ceil(gemm.repeats * (ofmap - finished) * acc / 8),
    )
