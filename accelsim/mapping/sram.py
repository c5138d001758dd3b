"""SramTracker: the SRAM as policies see it while they build a schedule.

Every action goes through it, so occupancy, the peak and the capacity invariant are
accounted in one place: an action that would exceed capacity raises ScheduleError,
which is a bug in a policy, never a result. With several on-chip levels (MemorySpec) each
buffer is placed in the level that holds its operand and each level's capacity is enforced.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from accelsim.config.memory import Operand
from accelsim.errors import ScheduleError
from accelsim.mapping.memory import MemorySpec, as_spec
from accelsim.mapping.schedule import (
    Action,
    Alloc,
    Compute,
    Free,
    LayerSchedule,
    Load,
    Region,
    Store,
)

__all__ = ["Resident", "SramTracker", "buffer_name"]


_PREFIX = {"weights": "w", "fmap": "fmap", "psum": "psum"}


@functools.lru_cache(maxsize=1 << 16)
def buffer_name(kind: str, tensor: str, region: Region) -> str:
    """Canonical buffer name: 'fmap:x', 'w:conv1@c0-32', 'fmap:x@r0-8', 'psum:y@r0-1'."""
    prefix = _PREFIX[kind]
    label = region.label()
    return f"{prefix}:{tensor}@{label}" if label else f"{prefix}:{tensor}"


class Resident(NamedTuple):
    """A buffer held in SRAM: its name, what it holds (kind, tensor, region), its size and
    the level it lives in ("" with one shared SRAM). A named tuple: one is made per
    buffer taken, tens of thousands per schedule."""

    buffer: str
    kind: str
    tensor: str
    region: Region
    size: int
    level: str = ""


#: Buffer kind and how it arrives -> the operand it is: loaded feature maps are inputs,
#: allocated ones outputs.
_OPERAND: dict[tuple[str, bool], Operand] = {
    ("fmap", True): "inputs", ("weights", True): "weights", ("fmap", False): "outputs",
    ("psum", False): "partial_sums"}


class SramTracker:
    """Resident buffers, their sizes and levels; records each action into the current layer."""

    def __init__(self, capacity: int | MemorySpec) -> None:
        self.spec = as_spec(capacity)
        self.shared = self.spec.shared
        self.capacity = self.spec.total
        self.resident: dict[str, Resident] = {}
        self.used = 0
        self.used_in: dict[str, int] = {lv.name: 0 for lv in self.spec.levels}
        self.layer: LayerSchedule | None = None
        self.order: list[int] = []  # LayerSchedule.index - 1 of each action, as recorded

    def level_for(self, kind: str, loaded: bool) -> str:
        """The level a buffer of `kind` lives in, loaded from DRAM or allocated."""
        return self.spec.level_of(_OPERAND[kind, loaded])

    def free_in(self, level: str) -> int:
        """Bytes still free in `level`."""
        return self.spec.capacity(level) - self.used_in[level]

    def begin(self, layer: LayerSchedule) -> None:
        """Start recording actions for `layer`."""
        self.layer = layer
        layer.peak_sram_bytes = self.used

    def switch(self, layer: LayerSchedule) -> None:
        """Record the next actions for `layer`, which may already hold some (fused groups)."""
        self.layer = layer
        layer.peak_sram_bytes = max(layer.peak_sram_bytes, self.used)

    def end(self) -> None:
        """Close the current layer, noting what stays resident after it."""
        assert self.layer is not None
        self.layer.end_sram_bytes = self.used
        self.layer = None

    def _record(self, action: Action) -> None:
        layer = self.layer
        assert layer is not None, "actions must happen inside a layer"
        layer.actions.append(action)
        self.order.append(layer.index - 1)
        if self.used > layer.peak_sram_bytes:
            layer.peak_sram_bytes = self.used

    def _take(self, buffer: str, kind: str, tensor: str, region: Region, size: int,
              level: str) -> None:
        if buffer in self.resident:
            raise ScheduleError(f"buffer {buffer} is already resident")
        if size > self.spec.capacity(level) - self.used_in[level]:
            raise ScheduleError(
                f"internal error: {buffer} ({size} B) would exceed the capacity of {level} "
                f"({self.used_in[level]} + {size} > {self.spec.capacity(level)} B)"
            )
        self.resident[buffer] = Resident(buffer, kind, tensor, region, size, level)
        self.used += size
        self.used_in[level] += size

    def fits(self, size: int, level: str | None = None) -> bool:
        """True if `size` more bytes fit right now in `level` (None: the first level, the
        whole SRAM when there is one)."""
        return size <= self.free_in(level or self.spec.levels[0].name)

    def load(self, kind: str, tensor: str, region: Region, size: int, owner: str = "") -> str:
        """DRAM -> SRAM for layer `owner` (default: the layer being recorded); returns the
        buffer name."""
        buffer = buffer_name(kind, tensor, region)
        level = self.level_for(kind, loaded=True)
        self._take(buffer, kind, tensor, region, size, level)
        self._record(Load(buffer, tensor, "weights" if kind == "weights" else "fmap", region,
                          size, owner, "" if self.shared else level))
        return buffer

    def alloc(self, tensor: str, region: Region, size: int, kind: str = "fmap") -> str:
        """Reserve SRAM for an output (tile) or, kind 'psum', its partial sums."""
        buffer = buffer_name(kind, tensor, region)
        level = self.level_for(kind, loaded=False)
        self._take(buffer, kind, tensor, region, size, level)
        self._record(Alloc(buffer, tensor, region, size, "" if self.shared else level))
        return buffer

    def store(self, buffer: str, tensor: str, region: Region, reason: str = "",
              size: int | None = None) -> None:
        """SRAM -> DRAM copy of a resident buffer, or of the `size` bytes of `region` it
        holds (a writer's slice of a concat's buffer); it stays resident."""
        self._record(Store(buffer, tensor, region,
                           self.resident[buffer].size if size is None else size, reason))

    def free(self, buffer: str) -> None:
        """Release a resident buffer."""
        gone = self.resident.pop(buffer)
        size = gone.size
        self.used -= size
        self.used_in[gone.level] -= size
        self._record(Free(buffer, size))

    def compute(self, action: Compute) -> None:
        """Record a compute step (all its buffers must be resident)."""
        for buffer in (*action.inputs, action.weights, action.output, action.accumulator):
            if buffer is not None and buffer not in self.resident:
                raise ScheduleError(f"internal error: {action.layer} computes with "
                                    f"non-resident buffer {buffer}")
        self._record(action)
