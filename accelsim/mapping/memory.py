"""MemorySpec: the on-chip store as mapping sees it, one record per level with its capacity.

The store is the outermost depth of `hardware.memory` (the levels next to DRAM, shared by
the array); per-PE levels are inside the array and never hold whole buffers. Each operand
lives in the one store level that holds it: feature maps loaded from DRAM in the level
holding `inputs`, outputs a layer computes in the level holding `outputs` (a consumer then
reads them in place), filters in the level holding `weights`, partial sums in the level
holding `partial_sums`. With one shared level (the `sram` shorthand) everything lives in it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from accelsim.config.memory import OPERANDS, Operand, store_levels
from accelsim.config.models import HardwareConfig

__all__ = ["Capacity", "MemorySpec", "StoreLevel", "as_spec", "memory_spec"]


@dataclass(frozen=True)
class StoreLevel:
    """One level of the on-chip store: its name, bytes, the operands it holds, and whether
    it may hold two tile buffer sets at once (double buffering in overlap mode)."""

    name: str
    capacity: int
    holds: tuple[Operand, ...] = OPERANDS
    double_buffer: bool = True


@dataclass(frozen=True)
class MemorySpec:
    """The on-chip store: its levels, each operand in exactly one of them."""

    levels: tuple[StoreLevel, ...]

    def __post_init__(self) -> None:
        for operand in OPERANDS:
            owners = [lv.name for lv in self.levels if operand in lv.holds]
            assert len(owners) == 1, f"{operand} must live in exactly one level, got {owners}"

    @property
    def total(self) -> int:
        """Bytes of the whole store."""
        return sum(lv.capacity for lv in self.levels)

    @property
    def shared(self) -> bool:
        """True when one level holds everything (the single-SRAM model)."""
        return len(self.levels) == 1

    @functools.cached_property
    def _holder(self) -> dict[Operand, str]:
        """Operand -> the name of the level holding it (looked up on every buffer)."""
        return {op: next(lv.name for lv in self.levels if op in lv.holds) for op in OPERANDS}

    @functools.cached_property
    def _capacities(self) -> dict[str, int]:
        """Level name -> its bytes (the first level of a name, as a scan would find)."""
        out: dict[str, int] = {}
        for lv in self.levels:
            out.setdefault(lv.name, lv.capacity)
        return out

    def level_of(self, operand: Operand) -> str:
        """The name of the level that holds `operand`."""
        return self._holder[operand]

    def capacity(self, level: str) -> int:
        """Bytes of level `level`."""
        return self._capacities[level]

    @property
    def smallest(self) -> int:
        """Bytes of the smallest level: a tile whose whole peak fits in it fits every level."""
        return min(lv.capacity for lv in self.levels)

    def ways(self, level: str, ways: int) -> int:
        """Tile buffer sets `level` holds when tiles take `ways` of them: 1 unless it
        double-buffers."""
        return ways if next(lv for lv in self.levels if lv.name == level).double_buffer else 1

    def ahead(self, operand: Operand) -> bool:
        """True when `operand`'s next tile may be loaded while the current tile computes."""
        return next(lv for lv in self.levels if operand in lv.holds).double_buffer

    def per_level(self, need: dict[Operand, int]) -> dict[str, int]:
        """Operand bytes summed per level they live in."""
        out: dict[str, int] = {}
        for operand, size in need.items():
            level = self.level_of(operand)
            out[level] = out.get(level, 0) + size
        return out

    def fits(self, need: dict[Operand, int]) -> bool:
        """True when each operand's bytes, summed per level, fit that level's capacity."""
        return all(size <= self.capacity(level) for level, size in self.per_level(need).items())


#: What mapping accepts as the on-chip store: a spec, or bytes of one shared SRAM.
Capacity = int | MemorySpec


def as_spec(capacity: Capacity) -> MemorySpec:
    """A spec from a spec or a plain capacity (one shared level of that many bytes)."""
    if isinstance(capacity, MemorySpec):
        return capacity
    return MemorySpec((StoreLevel("sram", capacity),))


def memory_spec(hardware: HardwareConfig) -> MemorySpec:
    """The store of `hardware`: its outermost levels (the `sram` shorthand: one level)."""
    return MemorySpec(tuple(StoreLevel(lv.name, lv.capacity, lv.holds, lv.double_buffer)
                            for lv in store_levels(hardware.levels)))
