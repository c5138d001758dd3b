"""The operand rule replay checks: every buffer lives in an on-chip level that holds it."""

from __future__ import annotations

from accelsim.config.memory import Operand
from accelsim.errors import ReplayError
from accelsim.mapping.schedule import Schedule

__all__ = ["check_level"]


def check_level(schedule: Schedule, layer: str, buffer: str, level: str,
                operand: Operand) -> None:
    """Raise ReplayError unless `buffer`, holding `operand`, may live in `level`."""
    if schedule.memory is None:
        if level:
            raise ReplayError(f"layer {layer}: {buffer} placed in level {level!r}, but the "
                              "on-chip store is one shared SRAM")
        return
    found = [lv for lv in schedule.memory.levels if lv.name == level]
    if not found:
        names = ", ".join(lv.name for lv in schedule.memory.levels)
        raise ReplayError(f"layer {layer}: {buffer} placed in unknown level {level!r} "
                          f"(levels: {names})")
    if operand not in found[0].holds:
        raise ReplayError(f"layer {layer}: {buffer} holds {operand} but is placed in {level}, "
                          f"which holds only {', '.join(found[0].holds)}")
