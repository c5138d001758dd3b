"""Traffic, link time and energy of each on-chip level, for every scheduled layer.

Bytes written into a level: every byte loaded into it from DRAM and every output byte a
compute step writes into it. Bytes read from a level: every byte stored from it to DRAM and
every input and filter byte a compute step reads from it (once per step: reuse inside the
array is free here). Split input channels add a read and a write of the partial-sum tile
per chunk in the level holding partial sums. A level's link time is the longer of its
reads / read_bandwidth and its writes / write_bandwidth (separate ports; unlimited: 0);
the levels work in parallel, so the slowest link bounds a layer's compute.
"""

from __future__ import annotations

import numpy as np

from accelsim.config.memory import MemoryLevel, store_levels
from accelsim.config.models import HardwareConfig
from accelsim.mapping.schedule import Alloc, Compute, Load, Schedule, Store
from accelsim.sim.energy import level_energy

__all__ = ["level_columns", "level_energy_j", "level_traffic", "link_times", "store_of"]


def store_of(hardware: HardwareConfig) -> tuple[MemoryLevel, ...]:
    """The levels of the on-chip store (the `sram` shorthand: one level named sram)."""
    return store_levels(hardware.levels)


def level_traffic(schedule: Schedule, levels: tuple[MemoryLevel, ...]) -> np.ndarray:
    """Bytes (layers, levels, 2): [..., 0] read from each level, [..., 1] written into it."""
    index = {lv.name: i for i, lv in enumerate(levels)}
    index[""] = 0  # one shared SRAM: actions carry no level
    sizes: dict[str, int] = {}
    where: dict[str, int] = {}
    out = np.zeros((len(schedule.layers), len(levels), 2), dtype=np.int64)
    for li, ls in enumerate(schedule.layers):
        for action in ls.actions:
            if isinstance(action, Load | Alloc):
                sizes[action.buffer] = action.bytes
                where[action.buffer] = index[action.level]
                out[li, where[action.buffer], 1] += action.bytes
            elif isinstance(action, Store):
                out[li, where[action.buffer], 0] += action.bytes
            elif isinstance(action, Compute):
                for b in (*action.inputs, action.weights):
                    if b is not None:
                        out[li, where[b], 0] += sizes[b]
                if action.accumulator:  # partial sums: read, add, write back
                    out[li, where[action.accumulator], 0] += sizes[action.accumulator]
                    out[li, where[action.accumulator], 1] += sizes[action.accumulator]
    return out


def link_times(traffic: np.ndarray, levels: tuple[MemoryLevel, ...]) -> np.ndarray:
    """Per layer, seconds the slowest level link needs for its traffic (0: unlimited)."""
    times = np.zeros(traffic.shape[0])
    for i, lv in enumerate(levels):
        for side, bandwidth in ((0, lv.read_bandwidth), (1, lv.write_bandwidth)):
            if bandwidth is not None:
                times = np.maximum(times, traffic[:, i, side] / bandwidth)
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
    return tuple(f"{lv.name}_{side}_bytes" for lv in store_of(hardware)
                 for side in ("read", "write"))
