"""Traffic, link time and energy of each on-chip level, for every scheduled layer.

Bytes written into a level: every byte loaded into it from DRAM and every output byte a
compute step writes into it. Bytes read from a level: every byte stored from it to DRAM and
every input and filter byte a compute step reads from it (once per step: reuse inside the
array is free here). Split input channels add a read and a write of the partial-sum tile
per chunk in the level holding partial sums. A level's link time is the longer of its
reads / read_bandwidth and its writes / write_bandwidth (separate ports; unlimited: 0);
the levels work in parallel, so the slowest link bounds a layer's compute.

With `hardware.memory` and a PE array, a conv or dense compute step reads its inputs and
filters as often as its dataflow makes the array read them (accelsim.sim.buffers) instead
of once, and row folds add partial-sum writes and read-backs in the output's level. A
per-PE level (register file) holding an operand is read once per MAC for it (partial sums:
read and written per MAC; outputs: each finished output written and read once) and
written with what the store delivers of it; its bandwidths are per PE. The `sram`
shorthand keeps the once-per-step rule.

A per-PE level must hold what one PE keeps of its operands (`check_per_pe`): in a
systolic array every PE holds one element of each operand at a time, the stationary one
(ws: a weight, os: a partial sum, is: an input) for a whole fold, the others for the
cycle they pass through. A mapping that needs more than the level has is refused, as
Timeloop and ZigZag refuse mappings that do not fit.
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.config.memory import MemoryLevel, store_levels
from accelsim.config.models import HardwareConfig
from accelsim.errors import ScheduleError
from accelsim.ir.graph import Network
from accelsim.mapping.schedule import Alloc, Compute, Load, Schedule, Store
from accelsim.sim.buffers import ArrayTraffic
from accelsim.sim.energy import level_energy
from accelsim.sim.pe_array import layer_gemm

__all__ = ["ArrayUse", "check_per_pe", "level_columns", "level_energy_j", "level_traffic",
           "link_times", "per_pe_need", "store_of"]

#: The operand a PE keeps for a whole fold, by dataflow (the others pass through).
STATIONARY = {"os": "partial_sums", "ws": "weights", "is": "inputs"}


#: Per scheduled layer (pass): the array's buffer traffic, None for a weightless op.
ArrayUse = list[ArrayTraffic | None]


def store_of(hardware: HardwareConfig) -> tuple[MemoryLevel, ...]:
    """The levels of the on-chip store (the `sram` shorthand: one level named sram)."""
    return store_levels(hardware.levels)


def level_traffic(schedule: Schedule, levels: tuple[MemoryLevel, ...],
                  array: ArrayUse | None = None, macs_bits: tuple[int, int, int] = (8, 8, 32)
                  ) -> np.ndarray:
    """Bytes (layers, levels, 2): [..., 0] read from each level, [..., 1] written into it.

    `array`: the PE array's traffic per layer (dataflow counts; None: each buffer read once
    per compute step). `macs_bits`: bits an input, a weight and a partial sum take (what a
    per-PE level moves per MAC)."""
    index = {lv.name: i for i, lv in enumerate(levels)}
    index[""] = 0  # one shared SRAM: actions carry no level
    sizes: dict[str, int] = {}
    where: dict[str, int] = {}
    out = np.zeros((len(schedule.layers), len(levels), 2), dtype=np.int64)
    macs = [sum(a.macs for a in ls.actions if isinstance(a, Compute)) for ls in schedule.layers
            ] if array is not None else []
    # Once-per-step bytes add up in plain integers ([li][2 * level + side]): far cheaper
    # than NumPy element updates; the array's dataflow counts go into `out` directly.
    once = [[0] * (2 * len(levels)) for _ in schedule.layers]
    for li, action in schedule.steps():
        here = once[li]
        if isinstance(action, Load | Alloc):
            sizes[action.buffer] = action.bytes
            where[action.buffer] = index[action.level]
            here[2 * where[action.buffer] + 1] += action.bytes
        elif isinstance(action, Store):
            here[2 * where[action.buffer]] += action.bytes
        elif isinstance(action, Compute):
            use = array[li] if array is not None else None
            if use is None:
                for b in (*action.inputs, action.weights):
                    if b is not None:
                        here[2 * where[b]] += sizes[b]
            else:
                _array_step(out[li], where, sizes, action, use, macs[li], levels, macs_bits)
            if action.accumulator:  # partial sums: read, add, write back
                here[2 * where[action.accumulator]] += sizes[action.accumulator]
                here[2 * where[action.accumulator] + 1] += sizes[action.accumulator]
    out += np.array(once, dtype=np.int64).reshape(out.shape)
    return out


def _array_step(out: np.ndarray, where: dict[str, int], sizes: dict[str, int],
                action: Compute, use: ArrayTraffic,
                layer_macs: int, levels: tuple[MemoryLevel, ...],
                macs_bits: tuple[int, int, int]) -> None:
    """One compute step's share of the array's traffic, into `out` (levels, 2)."""
    share = action.macs / layer_macs if layer_macs else 0.0
    fills = {"inputs": round(share * use.input_reads),
             "weights": round(share * use.weight_reads)}
    out[where[action.inputs[0]], 0] += fills["inputs"]
    if action.weights is not None:
        out[where[action.weights], 0] += fills["weights"]
    psum_level = next(i for i, lv in enumerate(levels)
                      if not lv.per_pe and "partial_sums" in lv.holds)
    out[psum_level, :] += round(share * use.psum_writes)  # a row fold's, read by the next
    per_mac = dict(zip(("inputs", "weights", "partial_sums"), macs_bits, strict=True))
    for i, lv in enumerate(levels):
        if not lv.per_pe:
            continue
        for operand in lv.holds:
            if operand == "outputs":  # each finished output element leaves a PE once
                out[i, :] += sizes[action.output]
                continue
            moved = round(action.macs * per_mac[operand] / 8)
            if operand in fills:
                out[i, 0] += moved
                out[i, 1] += fills[operand]
            else:
                out[i, :] += moved


def per_pe_need(level: MemoryLevel, hardware: HardwareConfig) -> tuple[int, list[str]]:
    """(bytes, what) one PE keeps in per-PE `level`: one element of each operand it holds,
    outputs and partial sums being the same element (the wider of the two)."""
    p, dataflow = hardware.precision, hardware.compute.dataflow
    bits = {"inputs": p.activation_bits, "weights": p.weight_bits,
            "partial_sums": p.accumulator_bits, "outputs": p.activation_bits}
    held = [op for op in ("inputs", "weights", "partial_sums", "outputs") if op in level.holds]
    if "partial_sums" in held and "outputs" in held:
        held.remove("outputs" if bits["partial_sums"] >= bits["outputs"] else "partial_sums")
    what = [f"{op.replace('_', ' ').rstrip('s')} at {bits[op]} bits "
            f"{'kept for a fold' if STATIONARY[dataflow] == op else 'passing through'}"
            for op in held]
    return math.ceil(sum(bits[op] for op in held) / 8), what


def check_per_pe(net: Network, hardware: HardwareConfig) -> None:
    """Raise ScheduleError when a layer on the PE array needs more bytes in a per-PE level
    than its capacity, naming the level, the layer and both figures."""
    c = hardware.compute
    layer = next((lv for lv in net.layers() if layer_gemm(lv) is not None), None)
    if layer is None:
        return
    for lv in hardware.levels:
        if not lv.per_pe:
            continue
        need, what = per_pe_need(lv, hardware)
        if need > lv.capacity:
            raise ScheduleError(
                f"hardware.memory.{lv.name}.capacity: layer {layer.name} on the "
                f"{c.pe_rows}x{c.pe_cols} {c.dataflow} array needs {need} B per PE in "
                f"{lv.name} (one {', one '.join(what)}); {lv.name} has {lv.capacity} B "
                "per PE")


def link_times(traffic: np.ndarray, levels: tuple[MemoryLevel, ...], pes: int = 1
               ) -> np.ndarray:
    """Per layer, seconds the slowest level link needs for its traffic (0: unlimited); a
    per-PE level's bandwidth is per PE, `pes` of them in parallel."""
    times = np.zeros(traffic.shape[0])
    for i, lv in enumerate(levels):
        for side, bandwidth in ((0, lv.read_bandwidth), (1, lv.write_bandwidth)):
            if bandwidth is not None:
                total = bandwidth * (pes if lv.per_pe else 1)
                times = np.maximum(times, traffic[:, i, side] / total)
    return times


def level_energy_j(traffic: np.ndarray, levels: tuple[MemoryLevel, ...]) -> np.ndarray:
    """Per layer and level, joules of its reads and writes (layers, levels)."""
    per_byte = np.array([level_energy(lv) for lv in levels], dtype=float).reshape(-1, 2)
    return traffic[:, :, 0] * per_byte[:, 0] + traffic[:, :, 1] * per_byte[:, 1]


def level_columns(hardware: HardwareConfig) -> tuple[str, ...]:
    """Extra layers.csv columns: a read/write byte pair per level (none for the shorthand,
    whose one level is sram_read_bytes / sram_write_bytes)."""
    if hardware.memory is None:
        return ()
    return tuple(f"{lv.name}_{side}_bytes" for lv in hardware.levels
                 for side in ("read", "write"))
