"""On-chip memory levels (`hardware.memory`): what each buffer holds, its size, links, energy.

Levels are listed outermost (next to DRAM) first. Levels that hold different operands side
by side (an input, a weight and an output buffer) are siblings: they share a `level`
number. Sizes are bytes, bandwidths bytes/s (a `B/cycle` figure is converted at the
compute clock by HardwareConfig), energies joules per byte.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from accelsim.units import parse_quantity

__all__ = ["OPERANDS", "MemoryLevel", "Operand", "check_levels", "depth", "per_cycle_bandwidths",
           "per_cycle_levels", "store_levels"]

Operand = Literal["inputs", "weights", "outputs", "partial_sums"]
#: What a level may hold: feature maps read, filters, feature maps written, accumulators.
OPERANDS: tuple[Operand, ...] = ("inputs", "weights", "outputs", "partial_sums")
_PER_CYCLE = re.compile(r"^\s*(.+?)\s*/\s*cycle\s*$")


def _size(value: object) -> int:
    """A capacity in whole bytes ('512 KiB' is fine, '0.3 B' is not)."""
    number = parse_quantity(value, "size")
    if number != int(number):
        raise ValueError("must be a whole number of bytes")
    return int(number)


#: Bytes/s read from or written into a level ('B/cycle' is converted by HardwareConfig).
Rate = Annotated[float, BeforeValidator(lambda v: parse_quantity(v, "bandwidth")),
                 Field(gt=0, le=1e15, json_schema_extra={"unit_kind": "bandwidth"})]
#: Joules per byte.
PerByte = Annotated[float, BeforeValidator(lambda v: parse_quantity(v, "energy")),
                    Field(ge=0, le=1e-6, json_schema_extra={"unit_kind": "energy"})]


class MemoryLevel(BaseModel):
    """One on-chip buffer: name, capacity (per PE when per_pe), operands held, links, energy.

    read_bandwidth / write_bandwidth: bytes/s moved out of / into the level (None:
    unlimited). read_energy / write_energy: J per byte (None: the capacity-dependent model
    of accelsim.sim.energy).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True,
                              use_attribute_docstrings=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    """The level's name (a letter, then letters, digits or _); layers.csv columns use it."""
    capacity: Annotated[int, BeforeValidator(_size), Field(gt=0, le=2**40, json_schema_extra={
        "unit_kind": "size"})]
    """Bytes (per PE when per_pe), '256 KiB'; from 1 B to 1 TiB."""
    holds: tuple[Operand, ...] = OPERANDS
    """Operands the level holds: inputs, weights, outputs, partial_sums (default all)."""
    read_bandwidth: Rate | None = None
    """Bytes/s read out of the level, '64 GB/s' or '16 B/cycle' at the clock; None: unlimited."""
    write_bandwidth: Rate | None = None
    """Bytes/s written into the level; None: unlimited."""
    read_energy: PerByte | None = None
    """Joules per byte read; None: the capacity-dependent model (docs/model.md)."""
    write_energy: PerByte | None = None
    """Joules per byte written; None: the capacity-dependent model."""
    double_buffer: Annotated[bool, Field(strict=True)] = True
    """In overlap mode, may hold the next tile's data while the current tile computes (two
    tile buffer sets); false: one tile at a time (store levels only)."""
    per_pe: Annotated[bool, Field(strict=True)] = False
    """Storage replicated in every PE (a register file or scratchpad); capacity per PE, at
    least one element of each operand it holds (needs a PE array)."""
    level: Annotated[int, Field(ge=0, le=64, strict=True)] | None = None
    """Depth number: siblings side by side share one; None: the position in the list."""

    @model_validator(mode="after")
    def _holds(self) -> MemoryLevel:
        if not self.holds or len(set(self.holds)) != len(self.holds):
            raise ValueError(f"holds: give each of {', '.join(OPERANDS)} at most once, and at "
                             "least one")
        if self.per_pe and not self.double_buffer:
            raise ValueError(f"{self.name}: double_buffer applies to the store levels that "
                             "hold tiles; a per_pe level holds no tiles")
        return self


def depth(levels: tuple[MemoryLevel, ...], index: int) -> int:
    """The level number of levels[index]: its `level`, or its position when not given."""
    given = levels[index].level
    return index if given is None else given


def store_levels(levels: tuple[MemoryLevel, ...]) -> tuple[MemoryLevel, ...]:
    """The outermost depth: the levels next to DRAM, shared by the whole array."""
    return tuple(lv for i, lv in enumerate(levels) if depth(levels, i) == depth(levels, 0))


def check_levels(levels: tuple[MemoryLevel, ...]) -> None:
    """Raise ValueError unless the levels form a hierarchy accelsim can map onto.

    Names are unique; level numbers never decrease down the list; the outermost depth
    (the on-chip store, shared by the whole array) holds each operand in exactly one
    level; any further levels are per-PE storage (register files, scratchpads).
    """
    if not levels:
        raise ValueError("memory: give at least one level")
    names = [lv.name for lv in levels]
    reserved = [n for n in names if n in ("sram", "dram")]
    if reserved:
        raise ValueError(f"memory: level name {reserved[0]!r} is reserved (layers.csv already "
                         "has its columns); name levels for what they hold, e.g. gb, ifmap")
    if len(set(names)) != len(names):
        raise ValueError(f"memory: level names must be unique, got {', '.join(names)}")
    depths = [depth(levels, i) for i in range(len(levels))]
    if depths != sorted(depths):
        raise ValueError(f"memory: list levels outermost first (level numbers {depths} "
                         "must not decrease)")
    store = store_levels(levels)
    if any(lv.per_pe for lv in store):
        raise ValueError(f"memory: the outermost level ({store[0].name}) is shared by the "
                         "array: per_pe levels go inside it")
    for operand in OPERANDS:
        owners = [lv.name for lv in store if operand in lv.holds]
        if len(owners) != 1:
            found = f"{', '.join(owners)} both do" if owners else "none does"
            raise ValueError(f"memory: exactly one outermost level must hold {operand} "
                             f"({found})")
    inner = [lv.name for lv, d in zip(levels, depths, strict=True)
             if d != depths[0] and not lv.per_pe]
    if inner:
        raise ValueError(f"memory: {', '.join(inner)}: levels inside the outermost one must "
                         "be per_pe (a register file or scratchpad in every PE)")


def per_cycle_levels(run: Any) -> list[str]:
    """Names of the levels of raw run-file data whose bandwidths are given in B/cycle."""
    hardware = run.get("hardware") if isinstance(run, dict) else None
    levels = hardware.get("memory") if isinstance(hardware, dict) else None
    if not isinstance(levels, list):
        return []
    return [str(item.get("name")) for item in levels if isinstance(item, dict) and any(
        isinstance(item.get(k), str) and _PER_CYCLE.match(item[k])
        for k in ("read_bandwidth", "write_bandwidth"))]


def per_cycle_bandwidths(data: Any, clock: Any) -> Any:
    """A copy of raw `memory` level data with 'N B/cycle' bandwidths in bytes/s at `clock`."""
    if not isinstance(data, list):
        return data
    out = []
    for item in data:
        if isinstance(item, dict):
            item = dict(item)
            for key in ("read_bandwidth", "write_bandwidth"):
                found = _PER_CYCLE.match(item[key]) if isinstance(item.get(key), str) else None
                if found is None:
                    continue
                if clock is None:
                    raise ValueError(f"memory: {item.get('name', '?')}.{key}: a B/cycle "
                                     "bandwidth needs compute.clock (a PE array)")
                per_cycle = parse_quantity(found.group(1), "size")
                item[key] = per_cycle * parse_quantity(clock, "frequency")
        out.append(item)
    return out
