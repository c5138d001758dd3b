"""The schedule: for every layer, the ordered list of moves and computes it performs.

A schedule is data, not behaviour: the simulator costs it, the report prints it and the
reference executor replays it with a bounded SRAM to prove it computes the network.

Actions name SRAM *buffers*: a whole tensor ("fmap:conv1"), a tile of one
("fmap:conv1@r0-8,c0-32,b0-1") or a layer's filters ("w:conv1@c0-32"). Loads copy DRAM
to SRAM, stores copy SRAM to DRAM, allocs reserve SRAM for an output being computed,
frees release SRAM without writing anything back.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from accelsim.mapping.memory import MemorySpec

__all__ = [
    "Action",
    "Alloc",
    "Compute",
    "Free",
    "LayerSchedule",
    "Load",
    "Region",
    "Schedule",
    "Store",
    "Tile",
    "TensorPlacement",
]

Span = tuple[int, int]


class Region(NamedTuple):
    """A box of a tensor: samples [b0, b1), rows [r0, r1), channels [c0, c1), columns
    [w0, w1); None = all.

    For filters, `channels` is the output-channel range, `reduce` the input-channel range
    (when a tile splits input channels) and rows/samples are None. A named tuple: a
    schedule makes, hashes and compares one per buffer, tens of thousands at a small SRAM
    (so it also equals a plain tuple of the same five spans: make regions with Region).
    """

    samples: Span | None = None
    rows: Span | None = None
    channels: Span | None = None
    reduce: Span | None = None
    cols: Span | None = None

    def label(self) -> str:
        """Short text such as 'r0-8,c0-32' used in buffer names ('' when whole)."""
        parts = []
        if self.samples is not None:
            parts.append(f"b{self.samples[0]}-{self.samples[1]}")
        if self.rows is not None:
            parts.append(f"r{self.rows[0]}-{self.rows[1]}")
        if self.cols is not None:
            parts.append(f"w{self.cols[0]}-{self.cols[1]}")
        if self.channels is not None:
            parts.append(f"c{self.channels[0]}-{self.channels[1]}")
        if self.reduce is not None:
            parts.append(f"i{self.reduce[0]}-{self.reduce[1]}")
        return ",".join(parts)


@dataclass(frozen=True)
class Tile:
    """The part of a layer's output one Compute produces: samples, output rows, channels.

    `reduce` is the input-channel chunk when a tile splits input channels: the compute
    then adds that chunk's partial sums into an accumulator buffer. `cols` is the band of
    output columns when a tile splits columns (None: all of them).
    """

    samples: Span
    rows: Span
    channels: Span
    reduce: Span | None = None
    cols: Span | None = None


@dataclass(frozen=True)
class Load:
    """Copy `region` of `tensor` from DRAM into SRAM buffer `buffer`.

    `owner` is the layer the bytes are for when they are loaded early, during another
    layer (a prefetch); "" means the layer whose actions hold the load. `level`: the
    on-chip level the buffer lives in ("" with a single shared SRAM).
    """

    buffer: str
    tensor: str
    kind: Literal["fmap", "weights"]
    region: Region
    bytes: int
    owner: str = ""
    level: str = ""


@dataclass(frozen=True)
class Store:
    """Copy SRAM buffer `buffer` (holding `region` of `tensor`) to DRAM."""

    buffer: str
    tensor: str
    region: Region
    bytes: int
    reason: str = ""


@dataclass(frozen=True)
class Alloc:
    """Reserve SRAM buffer `buffer` for `region` of `tensor`, produced by the next compute,
    in on-chip level `level` ("" with a single shared SRAM)."""

    buffer: str
    tensor: str
    region: Region
    bytes: int
    level: str = ""


@dataclass(frozen=True)
class Free:
    """Release SRAM buffer `buffer` (its contents are dropped, not written back)."""

    buffer: str
    bytes: int


@dataclass(frozen=True)
class Compute:
    """Compute `tile` of `layer` reading the listed input and weight buffers into `output`.

    With an `accumulator` (input channels split), the tile's partial sums are added into
    that buffer (at accumulator_bits); the chunk that ends the input channels then
    finishes the sums into `output`, earlier chunks have `output` == `accumulator`.
    """

    layer: str
    tile: Tile
    inputs: tuple[str, ...]
    weights: str | None
    output: str
    macs: int
    accumulator: str | None = None


Action = Load | Store | Alloc | Free | Compute


@dataclass
class LayerSchedule:
    """Everything one layer does, in order, plus the facts the report needs about it."""

    index: int
    name: str
    actions: list[Action] = field(default_factory=list)
    tiling: str = "none"
    spill_reason: str = ""
    spills: int = 0
    peak_sram_bytes: int = 0
    end_sram_bytes: int = 0
    group: str = ""  # the fusion group the layer ran in ("" when it ran alone)
    recomputed_macs: int = 0  # MACs of halo rows computed again (in its Compute macs)
    #: Where the output lives when not in a buffer of its own: a view's channels of the
    #: buffer holding it, or why a concat copies its inputs ("" otherwise).
    layout: str = ""
    #: The samples this pass of the layer runs over when the batch runs in sub-batches
    #: (None: the whole batch).
    samples: Span | None = None

    def sample_count(self, batch: int) -> int:
        """How many samples this pass of the layer computes."""
        return batch if self.samples is None else self.samples[1] - self.samples[0]

    @property
    def dram_read_bytes(self) -> int:
        """Bytes moved DRAM -> SRAM by this layer."""
        return sum(a.bytes for a in self.actions if isinstance(a, Load))

    @property
    def dram_write_bytes(self) -> int:
        """Bytes moved SRAM -> DRAM by this layer."""
        return sum(a.bytes for a in self.actions if isinstance(a, Store))

    @property
    def transfers(self) -> int:
        """Number of separate DRAM transfers (each pays the DRAM latency once)."""
        return sum(1 for a in self.actions if isinstance(a, Load | Store))

    @property
    def tiles(self) -> int:
        """Number of compute steps (1 when the layer is not tiled)."""
        return sum(1 for a in self.actions if isinstance(a, Compute))


@dataclass(frozen=True)
class TensorPlacement:
    """Where one tensor lived: size, producer/last-use layer indices, placement, spills."""

    tensor: str
    kind: Literal["fmap", "weights"]
    size_bytes: int
    produced_at: int
    last_use_at: int
    placement: str
    spill_reason: str = ""


@dataclass
class Schedule:
    """A whole network's schedule under one policy and SRAM capacity."""

    policy: str
    capacity_bytes: int
    batch: int
    layers: list[LayerSchedule]
    tensors: list[TensorPlacement]
    #: Execution order when layers interleave (fused groups): the position in `layers` of
    #: the layer owning each next action. None: every layer's actions run in layer order.
    order: list[int] | None = None
    #: Samples per pass of the whole network (== batch unless the batch runs in sub-batches;
    #: then `layers` holds every layer once per pass, in execution order).
    sub_batch: int = 0
    #: The on-chip levels and their capacities (None: one shared SRAM of capacity_bytes).
    memory: MemorySpec | None = None

    def level_capacity(self, level: str) -> int:
        """Bytes of on-chip level `level` ("": the single shared SRAM)."""
        return self.capacity_bytes if not level or self.memory is None else (
            self.memory.capacity(level))

    def passes(self) -> dict[str, list[int]]:
        """Layer name -> indices into `layers` of its passes, in network order."""
        out: dict[str, list[int]] = {}
        for i, ls in enumerate(self.layers):
            out.setdefault(ls.name, []).append(i)
        return out

    def steps(self) -> Iterator[tuple[int, Action]]:
        """(position of the owning layer, action) in execution order."""
        if self.order is None:
            for i, ls in enumerate(self.layers):
                for action in ls.actions:
                    yield i, action
            return
        cursor = [0] * len(self.layers)
        for i in self.order:
            yield i, self.layers[i].actions[cursor[i]]
            cursor[i] += 1

    @property
    def peak_sram_bytes(self) -> int:
        """Highest SRAM occupancy at any moment of the run."""
        return max((ls.peak_sram_bytes for ls in self.layers), default=0)

    @property
    def spills(self) -> int:
        """Number of eviction or spill events."""
        return sum(ls.spills for ls in self.layers)

    def owner_lookup(self) -> Callable[[str, int], int]:
        """owner(name, at): the position of the pass of layer `name` at or after `at` (the
        layer a load made at position `at` for layer `name` is charged to)."""
        passes = self.passes()

        def owner(name: str, at: int) -> int:
            return passes[name][bisect.bisect_left(passes[name], at)]

        return owner

    def owners(self) -> list[list[int]]:
        """Per layer, per action: the index of the layer the action is charged to (a
        prefetched load counts for the layer it is for, everything else where it happens)."""
        owner = self.owner_lookup()
        return [[owner(a.owner, i) if isinstance(a, Load) and a.owner else i
                 for a in ls.actions] for i, ls in enumerate(self.layers)]

    def traffic(self) -> list[tuple[int, int, int]]:
        """(DRAM read bytes, DRAM write bytes, transfers) per layer, by owner."""
        totals = [[0, 0, 0] for _ in self.layers]
        owner = self.owner_lookup()
        for i, ls in enumerate(self.layers):
            here = totals[i]
            for a in ls.actions:
                if isinstance(a, Store):
                    here[1] += a.bytes
                    here[2] += 1
                elif isinstance(a, Load):
                    row = totals[owner(a.owner, i)] if a.owner else here
                    row[0] += a.bytes
                    row[2] += 1
        return [(r, w, t) for r, w, t in totals]
