"""Placement policies: build a Schedule for a network, an SRAM capacity and element sizes.

* `liveness` (default): a feature map occupies SRAM from its producer to its last
  consumer; filters are loaded when their layer runs and freed after it; the network
  input is read from DRAM and its outputs written to DRAM. When the live set would
  exceed capacity, the resident feature map whose next use is furthest away is evicted
  (written back if DRAM has no copy yet) and re-read when needed (Belady's rule).
* `accumulate`: the method of the 004 report: every layer's output and filters are
  added to SRAM and never freed; when the next layer would exceed capacity, everything
  resident is written to DRAM and occupancy starts again (the layer's input is then
  read back, which the report omits).

Both run a layer whose own working set cannot fit through the tile search; a tiled layer
reads inputs that are already resident in place and keeps its output whole in SRAM when
that costs the least traffic. A policy is a `Rules` object: the shared `_Builder` asks it
what to do at each step and never tests a policy's name.

Concats and channel slices are views (accelsim.ir.ops.channels.plan_views): a concat's
buffer is reserved whole when its first producer runs, each producer computes into its
channel slice, the view itself does nothing, and the buffer lives until nothing later
reads a tensor in it or writes into it. "Feature map" above means such a root buffer, or
a slice of one read back after an eviction.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from accelsim.config.memory import Operand
from accelsim.errors import ScheduleError
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.mapping.batching import sub_batched
from accelsim.mapping.build_facts import facts_of, store_facts_of
from accelsim.mapping.fused import fused_schedule
from accelsim.mapping.memory import Capacity
from accelsim.mapping.options import BuildOptions
from accelsim.mapping.schedule import (
    Compute,
    LayerSchedule,
    Region,
    Schedule,
    TensorPlacement,
    Tile,
)
from accelsim.mapping.sram import SramTracker, buffer_name
from accelsim.mapping.tiling import (
    STREAM,
    Keep,
    Sizes,
    TilePlan,
    bands,
    channel_tiles,
    hwc,
    input_channels,
    input_region_cols,
    input_region_rows,
    search_tiles,
    spatial_tiles,
)

__all__ = ["POLICIES", "build_schedule"]

WHOLE = Region()
#: A schedule of more tiles than this would take minutes and gigabytes to build: refused.
MAX_SCHEDULE_TILES = 100_000

@dataclass(frozen=True)
class _Spec:
    """A load to issue: what, which region, how many bytes, and the buffer it fills."""

    kind: str
    tensor: str
    region: Region
    size: int

    @functools.cached_property
    def buffer(self) -> str:
        return buffer_name(self.kind, self.tensor, self.region)


class _Job(NamedTuple):
    """One tile: its output box, the loads it starts, what it reads, what it frees after."""

    tile: Tile
    loads: list[_Spec]
    inputs: tuple[str, ...]  # the buffers the tile reads its inputs from
    weights: _Spec | None
    frees: list[str]


class Rules:
    """What a policy decides; the builder calls these hooks and nothing else of it."""

    name = ""
    #: Filters stay resident after their layer (the 004 method) instead of being freed.
    keeps_filters = False
    #: Later layers' filters may be loaded early (overlap); the 004 method never does.
    prefetches = True

    def before(self, b: _Builder, layer: Layer, at: int) -> None:
        """Called before a layer that runs whole."""

    def before_tiled(self, b: _Builder, layer: Layer) -> None:
        """Called before a layer that must be tiled."""

    def after(self, b: _Builder, layer: Layer, at: int) -> None:
        """Called after every layer."""
        b.emit_output(layer, at)


class _Liveness(Rules):
    name = "liveness"

    def after(self, b: _Builder, layer: Layer, at: int) -> None:
        b.release_inputs(layer, at)


class _Accumulate(Rules):
    name = "accumulate"
    keeps_filters = True
    prefetches = False

    def before(self, b: _Builder, layer: Layer, at: int) -> None:
        moved, _ = b.whole_placement(layer)
        missing = {w for s in layer.inputs for w in b.homes.writers_in(s)
                   if w not in b.where or b.where[w] in moved}
        need: dict[Operand, int] = {
            "inputs": sum(b.fmap_bytes(w) for w in missing),
            "weights": b.filter_bytes(layer.name), "outputs": b.output_need(layer)}
        new = sum(need.values())
        if not all(b.sram.fits(size, level)
                   for level, size in b.sram.spec.per_level(need).items()):
            b.spill_all(f"occupancy {b.sram.used} B + {new} B for {layer.name} exceeds "
                        f"{b.sram.capacity} B: everything resident written to DRAM")

    def before_tiled(self, b: _Builder, layer: Layer) -> None:
        b.spill_all(f"{layer.name} cannot fit whole: tiled")


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class _Builder:
    """Shared state of one schedule build: the network, sizes, SRAM and DRAM copies.

    Feature maps live in root buffers (`Homes`): a root's buffer is reserved whole when
    its first writer runs ("fmap:root"), each writer computes into its channel slice, and
    views (concats, channel slices) read the slices in place. A writer's slice evicted
    to DRAM comes back as a buffer of its own ("fmap:root@cA-B"). `held` says which
    writers' data each resident feature-map buffer holds, `where` the reverse.
    """

    def __init__(self, net: Network, sizes: Sizes, capacity: Capacity, rules: Rules,
                 options: BuildOptions) -> None:
        self.net = net
        self.rules = rules
        self.options = options
        self.prefetched: dict[str, str] = {}  # layer -> its filters' buffer, loaded early
        self.extra: list[int] = []  # per layer: bytes of early filters resident during it
        self.ahead = 0  # where the look-ahead for early filters resumes (prefetch_filters)
        self.sizes = sizes
        self.sram = SramTracker(capacity)
        facts, store = facts_of(net), store_facts_of(net, sizes, self.sram.spec)
        self.tensors, self.homes, self.position = facts.tensors, facts.homes, facts.position
        self.computed, self.output_writers = facts.computed, facts.output_writers
        self._reservations, self._layouts = facts.reservations, facts.layouts
        self._fmap_bytes, self._filter_bytes = store.fmap_bytes, store.filter_bytes
        self.plans = store.plans  # layer -> its full-capacity tiling
        self.may_tile = store.may_tile  # layers that may have to tile (end prefetching)
        self.in_dram: set[str] = set(net.inputs)  # writers whose slice DRAM holds
        self.held: dict[str, set[str]] = {}  # resident fmap buffer -> writers it holds
        self.where: dict[str, str] = {}  # writer -> the resident buffer holding its slice
        self.layers: list[LayerSchedule] = []
        self.placement: dict[str, str] = {}
        self.spill_reason: dict[str, str] = {}
        self.current: LayerSchedule | None = None

    # ---- helpers ----------------------------------------------------------------------
    def fmap_bytes(self, tensor: str) -> int:
        return self._fmap_bytes[tensor]

    def filter_bytes(self, layer: str) -> int:
        """Bytes of a layer's whole filters (`Sizes.weight_bytes`; 0 for a weightless op)."""
        return self._filter_bytes[layer]

    def reservation(self, tensor: str) -> str:
        """The whole buffer of the root holding `tensor`."""
        return self._reservations[self.homes.roots[tensor]]

    def is_resident(self, tensor: str) -> bool:
        return all(w in self.where for w in self.homes.writers_in(tensor))

    def buffers_for(self, tensor: str) -> list[str]:
        """The resident buffers holding slices of `tensor`."""
        return list(dict.fromkeys(self.where[w] for w in self.homes.writers_in(tensor)
                                  if w in self.where))

    def output_need(self, layer: Layer) -> int:
        """Bytes the layer's output takes beside what is resident: its root's whole buffer
        unless that is reserved already."""
        if self.reservation(layer.name) in self.sram.resident:
            return 0
        return self.fmap_bytes(self.homes.roots[layer.name])

    def next_use(self, tensor: str, after: int) -> int:
        """Position of the next consumer of `tensor` after `after` (large if none)."""
        for consumer in self.tensors[tensor].consumers:
            if self.position[consumer] > after:
                return self.position[consumer]
        return len(self.net.order) + 1

    def used_later(self, tensor: str, at: int) -> bool:
        """True when a layer after position `at` reads `tensor`."""
        return self.next_use(tensor, at) <= len(self.net.order)

    def buffer_next_use(self, buffer: str, after: int) -> int:
        """When a buffer is next needed: the next read of a tensor overlapping the slices it
        holds, or (a root's whole buffer) its next writer."""
        root = self.sram.resident[buffer].tensor
        spans = [self.homes.spans[w] for w in self.held[buffer]]
        uses = [self.next_use(m, after) for m in self.homes.members[root]
                if any(_overlap(self.homes.spans[m], s) for s in spans)]
        if buffer == self.reservation(root):
            uses += [self.position[w] for w in self.homes.writers[root]
                     if self.position[w] > after]
        return min(uses, default=len(self.net.order) + 1)

    def root_used_later(self, root: str, at: int) -> bool:
        """True when a tensor of `root` is read, or a writer of it runs, after `at`."""
        return any(self.used_later(m, at) for m in self.homes.members[root]) or any(
            self.position[w] > at for w in self.homes.writers[root])

    def write_back(self, buffer: str, reason: str, only: set[str] | None = None) -> None:
        """Store the slices a resident buffer holds that DRAM has no copy of yet."""
        root = self.sram.resident[buffer].tensor
        for w in sorted(self.held[buffer], key=self.position.__getitem__):
            if w not in self.in_dram and (only is None or w in only):
                self.sram.store(buffer, root, self.homes.slice_region(w), reason,
                                self.fmap_bytes(w))
                self.in_dram.add(w)

    def free_buffer(self, buffer: str) -> None:
        """Release a feature-map buffer and forget the slices it held."""
        self.sram.free(buffer)
        for w in self.held.pop(buffer):
            del self.where[w]

    def wrote(self, writer: str, buffer: str) -> None:
        """Record that `writer` computed its slice into `buffer`."""
        self.held[buffer].add(writer)
        self.where[writer] = buffer

    def note_spill(self, reason: str) -> None:
        assert self.current is not None
        self.current.spills += 1
        self.current.spill_reason = "; ".join(filter(None, [self.current.spill_reason,
                                                             reason]))

    def evict(self, buffer: str, reason: str) -> None:
        """Write back (if needed) and free a resident feature-map buffer."""
        self.write_back(buffer, reason)
        for w in self.held[buffer]:
            self.placement[w] = "sram, spilled to dram"
            self.spill_reason[w] = reason
        self.free_buffer(buffer)
        self.note_spill(reason)

    def _label(self, buffer: str) -> str:
        r = self.sram.resident[buffer]
        return f"{r.tensor}@{r.region.label()}" if r.region != WHOLE else r.tensor

    def make_room(self, size: int, pinned: set[str], at: int, for_what: str,
                  levels: tuple[str, ...] = ()) -> None:
        """Evict feature-map buffers (not `pinned`), furthest next use first, until `size`
        more bytes fit in each of `levels` (default: every level)."""
        levels = levels or tuple(lv.name for lv in self.sram.spec.levels)
        while not all(self.sram.fits(size, level) for level in levels):
            short = {level for level in levels if not self.sram.fits(size, level)}
            victims = [b for b in self.held
                       if b not in pinned and self.sram.resident[b].level in short]
            if not victims:
                raise ScheduleError(f"internal error: nothing to evict for {for_what}")
            victim = max(victims, key=lambda b: (self.buffer_next_use(b, at), -min(
                (self.position[w] for w in self.held[b]), default=0)))
            nxt = self.buffer_next_use(victim, at)
            when = (f"next used by layer {nxt}" if nxt <= len(self.net.order)
                    else "no later use")
            self.evict(victim, f"evicted {self._label(victim)} ({when}) to make room for "
                               f"{for_what}")

    def spill_all(self, reason: str) -> None:
        """The 004 method's overflow: write every resident buffer to DRAM, free them all."""
        for r in list(self.sram.resident.values()):
            if r.buffer in self.held:
                self.write_back(r.buffer, reason)
                for w in self.held[r.buffer]:
                    self.placement[w] = "sram, spilled to dram"
                    self.spill_reason[w] = reason
                self.free_buffer(r.buffer)
            else:
                self.sram.free(r.buffer)  # filters are clean copies of DRAM: dropped
        self.note_spill(reason)

    def bring(self, tensor: str, pinned: set[str], at: int) -> None:
        """Load the slices of `tensor` SRAM lacks (each into a buffer of its own), pinning
        them and the resident ones."""
        pinned.update(self.buffers_for(tensor))
        for w in self.homes.writers_in(tensor):
            if w in self.where:
                continue
            size = self.fmap_bytes(w)
            self.make_room(size, pinned, at, f"input {tensor}",
                           (self.sram.spec.level_of("inputs"),))
            buffer = self.sram.load("fmap", self.homes.roots[w], self.homes.slice_region(w),
                                    size)
            self.held[buffer] = set()
            self.wrote(w, buffer)
            pinned.add(buffer)

    def reserve(self, layer: Layer, pinned: set[str], at: int) -> str:
        """The whole buffer of the layer's root, allocated if it is not resident yet."""
        buffer = self.reservation(layer.name)
        if buffer not in self.sram.resident:
            root = self.homes.roots[layer.name]
            size = self.fmap_bytes(root)
            self.make_room(size, pinned, at, f"output of {layer.name}",
                           (self.sram.spec.level_of("outputs"),))
            self.sram.alloc(root, WHOLE, size)
            self.held[buffer] = set()
        pinned.add(buffer)
        return buffer

    def flush(self, tensor: str, reason: str) -> None:
        """Store the resident slices of `tensor` DRAM lacks, before it streams from DRAM."""
        for w in self.homes.writers_in(tensor):
            if w in self.where and w not in self.in_dram:
                self.write_back(self.where[w], reason, {w})

    def input_buffers(self, layer: Layer) -> tuple[str, ...]:
        """The resident buffers a compute reads the layer's inputs from."""
        return tuple(dict.fromkeys(b for s in layer.inputs for b in self.buffers_for(s)))

    # ---- one layer, whole ------------------------------------------------------------
    def run_whole(self, layer: Layer, at: int, crowding: list[str]) -> None:
        """Inputs resident, filters loaded, output's buffer reserved, one compute;
        `crowding`: the input buffers `whole_now` found must leave the output's level."""
        self.crowding_inputs(layer, crowding)
        pinned = set(self.input_buffers(layer))
        if self.reservation(layer.name) in self.sram.resident:
            pinned.add(self.reservation(layer.name))
        for src in dict.fromkeys(layer.inputs):
            self.bring(src, pinned, at)
        weights = self.prefetched.pop(layer.name, None)
        if layer.is_weighted and weights is None:
            size = self.filter_bytes(layer.name)
            self.make_room(size, pinned, at, f"filters of {layer.name}",
                           (self.sram.spec.level_of("weights"),))
            weights = self.sram.load("weights", layer.name, WHOLE, size)
        out = self.reserve(layer, pinned, at)
        self.prefetch_filters()
        ho = hwc(layer.output_shape)
        tile = Tile((0, self.sizes.batch), (0, ho[0]), (0, ho[2]))
        self.sram.compute(Compute(layer.name, tile, self.input_buffers(layer), weights, out,
                                  layer.macs * self.sizes.batch))
        self.wrote(layer.name, out)
        self.placement.setdefault(layer.name, "sram")
        if weights is not None and not self.rules.keeps_filters:
            self.sram.free(weights)

    def whole_placement(self, layer: Layer) -> tuple[list[str], dict[str, int]]:
        """How the layer would run whole now: the resident input buffers to move out of the
        output's level (they crowd it; read again into the input level) and the bytes it
        then needs per level. With one shared level nothing moves."""
        spec = self.sram.spec
        out_level, in_level = spec.level_of("outputs"), spec.level_of("inputs")
        need = {lv.name: 0 for lv in spec.levels}
        need[spec.level_of("weights")] += self.filter_bytes(layer.name)
        out = self.reservation(layer.name)
        counted = {out}
        if out in self.sram.resident:
            need[self.sram.resident[out].level] += self.sram.resident[out].size
        else:
            need[out_level] += self.output_need(layer)
        crowding = []
        for src in dict.fromkeys(layer.inputs):
            for w in self.homes.writers_in(src):
                buffer = self.where.get(w)
                if buffer is None:
                    need[in_level] += self.fmap_bytes(w)
                elif buffer not in counted:
                    counted.add(buffer)
                    r = self.sram.resident[buffer]
                    need[r.level] += r.size
                    if r.level == out_level != in_level:
                        crowding.append(buffer)
        moved = []
        while crowding and need[out_level] > spec.capacity(out_level):
            victim = crowding.pop()
            moved.append(victim)
            size = self.sram.resident[victim].size
            need[out_level] -= size
            need[in_level] += size
        return moved, need

    def whole_now(self, layer: Layer) -> list[str] | None:
        """The input buffers to move out of the output's level if the layer can run whole
        given where its inputs are now (`whole_placement`), else None."""
        moved, need = self.whole_placement(layer)
        capacity = self.sram.spec.capacity
        return moved if all(size <= capacity(level) for level, size in need.items()) else None

    def crowding_inputs(self, layer: Layer, victims: list[str]) -> None:
        """Evict resident inputs that sit in the output's level and leave it no room there
        (a level holding outputs but not inputs): they are read again into the input level."""
        for victim in victims:
            label = self._label(victim)
            self.evict(victim, f"{label} shares {self.sram.spec.level_of('outputs')} with "
                               f"the output of {layer.name}: read again into the input level")

    def prefetch_filters(self) -> None:
        """Load later layers' filters now, where the serial schedule leaves room for them.

        A layer's filters are loaded early only if, through every layer until they are
        used, the serial schedule's SRAM peak plus what is already loaded early plus them
        fits the capacity: the serial schedule's every other decision then stays valid, so
        the transfers are the same, only earlier. Layers that tile (or may: `may_tile`)
        end the look-ahead.
        """
        peaks = self.options.reference_peaks
        if (self.options.buffering == "none" or len(peaks) != len(self.computed)
                or not self.rules.prefetches or not self.sram.spec.shared):
            return
        here = len(self.layers) - 1
        if len(self.extra) < len(peaks):
            self.extra = [0] * len(peaks)
        # Layers up to `ahead` were passed over before (weightless or already loaded early)
        # and still would be: start after them, so the look-ahead stays linear in depth.
        for later in range(max(here + 1, self.ahead), len(peaks)):
            self.ahead = later
            name = self.computed[later]
            nxt = self.net.layer(name)
            if name in self.plans or name in self.may_tile:
                return
            if not nxt.is_weighted or name in self.prefetched:
                continue
            size = self.filter_bytes(name)
            if not self.sram.fits(size):  # the cheaper test first: either one ends it
                return
            window = range(here, later)
            if any(peaks[j] + self.extra[j] + size > self.sram.capacity for j in window):
                return
            for j in window:
                self.extra[j] += size
            self.prefetched[name] = self.sram.load("weights", name, WHOLE, size,
                                                   owner=name)


    def release_inputs(self, layer: Layer, at: int) -> None:
        """Free the roots of the layer's inputs (and its own) that nothing reads or writes
        later; store the network outputs among them."""
        roots = [self.homes.roots[s] for s in layer.inputs] + [self.homes.roots[layer.name]]
        for root in dict.fromkeys(roots):
            if not self.root_used_later(root, at):
                self.retire(root)

    def emit_output(self, layer: Layer, at: int) -> None:
        """A network output is written to DRAM and its buffers freed, once nothing later
        uses its root."""
        root = self.homes.roots[layer.name]
        if (any(not self.tensors[m].consumers for m in self.homes.members[root])
                and not self.root_used_later(root, at)):
            self.retire(root)

    def retire(self, root: str) -> None:
        """Store the network outputs a dead root holds and free all of its buffers."""
        for buffer in [b for b in self.held if self.sram.resident[b].tensor == root]:
            self.retire_buffer(buffer)

    def retire_buffer(self, buffer: str) -> None:
        """Store the network-output slices of a buffer nothing needs any more, free it."""
        outputs = self.held[buffer] & self.output_writers
        self.write_back(buffer, "", outputs)
        root = self.sram.resident[buffer].tensor
        for m in self.homes.members[root]:
            if not self.tensors[m].consumers and set(self.homes.writers_in(m)) & outputs:
                self.placement[m] = "sram, written to dram (network output)"
        self.free_buffer(buffer)

    # ---- one layer, tiled ----------------------------------------------------------
    def tile_choice(self, layer: Layer, at: int, ways: int) -> tuple[TilePlan, list[str]]:
        """The tiling with the least traffic, counting what keeping or streaming costs.

        Resident inputs may stay (tiles read them in place) or be evicted (written back if
        DRAM has no copy, and re-read later if another layer needs them); the output may be
        kept whole (its consumers then read it from SRAM) or streamed (each tile stored, and
        read back by a later layer). Each choice is searched with the SRAM left beside what
        it keeps, one tile buffer set per `ways`. Returns the plan and the inputs to evict.
        """
        sources = list(dict.fromkeys(layer.inputs))
        resident = [s for s in sources if self.is_resident(s)]
        output = self.fmap_bytes(layer.name)
        consumed = bool(self.tensors[layer.name].consumers)
        best: tuple[int, int, TilePlan, list[str]] | None = None
        for kept in ([resident, []] if resident else [[]]):
            evicted = [s for s in resident if s not in kept]
            penalty = sum(self.fmap_bytes(s) * (
                any(w not in self.in_dram for w in self.homes.writers_in(s))
                + self.used_later(s, at)) for s in evicted)
            for keep_output in ([True, False] if consumed else [False]):
                room = self.tile_room(layer, kept, keep_output, ways)
                if room <= 0:
                    continue
                keep = Keep(len(kept), keep_output)
                try:
                    plan = (self.plans[layer.name] if keep == STREAM and ways == 1
                            and layer.name in self.plans else
                            search_tiles(layer, self.sizes, room, keep))
                except ScheduleError:
                    continue
                cost = plan.read_bytes + plan.write_bytes + penalty + (
                    0 if keep_output or not consumed else output)
                if best is None or (cost, plan.tiles) < best[:2]:
                    best = (cost, plan.tiles, plan, evicted)
        if best is None:
            raise ScheduleError(f"internal error: no tiling of {layer.name} fits")
        return best[2], best[3]

    def tile_room(self, layer: Layer, kept: list[str], keep_output: bool, ways: int = 1
                  ) -> int:
        """Bytes a tile may take beside the kept inputs' buffers and (when `keep_output`) the
        output's whole buffer, one tile buffer set per `ways` in levels that double-buffer:
        with several levels, the least left in any of them, so every part of a tile fits."""
        fixed = {lv.name: 0 for lv in self.sram.spec.levels}
        buffers = dict.fromkeys(b for s in kept for b in self.buffers_for(s))
        for buffer in buffers:
            fixed[self.sram.resident[buffer].level] += self.sram.resident[buffer].size
        out = self.reservation(layer.name)
        if keep_output and out not in buffers:
            if out in self.sram.resident:
                fixed[self.sram.resident[out].level] += self.sram.resident[out].size
            else:
                fixed[self.sram.spec.level_of("outputs")] += self.output_need(layer)
        return min((self.sram.spec.capacity(level) - used) // self.sram.spec.ways(level, ways)
                   for level, used in fixed.items())

    def run_tiled(self, layer: Layer, at: int) -> TilePlan:
        """Run the layer tile by tile, reading resident inputs in place.

        With `full` buffering, tiles are also searched for two buffer sets, and when that
        moves no more bytes the next tile's loads are issued before the current tile
        computes, so both buffers are really held.
        """
        plan, evicted = self.tile_choice(layer, at, 1)
        double = False
        if self.options.buffering == "full" and (self.sram.spec.ahead("inputs")
                                                 or self.sram.spec.ahead("weights")):
            try:
                halves, halves_evicted = self.tile_choice(layer, at, 2)
            except ScheduleError:
                halves = None
            if (halves is not None and not halves.in_channel_step
                    and halves.read_bytes + halves.write_bytes
                    <= plan.read_bytes + plan.write_bytes):
                plan, evicted, double = halves, halves_evicted, True
        for src in evicted:
            for buffer in self.buffers_for(src):
                self.evict(buffer, f"{layer.name} is tiled: its input {src} streams from DRAM")
        ways = 2 if double else 1
        kept = {s for s in layer.inputs if self.is_resident(s)}
        for src in dict.fromkeys(layer.inputs):
            if src not in kept:
                self.flush(src, f"{layer.name} is tiled: its input {src} streams from DRAM")
        pinned = {b for s in kept for b in self.buffers_for(s)}
        out = self.reserve(layer, pinned, at) if plan.keep.output else None
        sets: dict[int, list[str]] = {}  # levels by the tile buffer sets they hold
        for lv in self.sram.spec.levels:
            sets.setdefault(self.sram.spec.ways(lv.name, ways), []).append(lv.name)
        for held, levels in sets.items():
            self.make_room(plan.peak_bytes * held, pinned, at, f"tiles of {layer.name}",
                           tuple(levels))
        if plan.in_channel_step:
            self._run_split(layer, plan)
        else:
            self._run_jobs(layer, self._jobs(layer, plan, kept), double, out)
        if out is None:
            self.in_dram.add(layer.name)
        else:
            self.wrote(layer.name, out)
        buffering = ", double-buffered" if double else ""
        where = "sram" if out is not None else "dram"
        self.placement[layer.name] = (
            f"{where} (tiled: {plan.describe(layer, self.sizes.batch)}{buffering})")
        return plan

    def _run_jobs(self, layer: Layer, jobs: list[_Job], double: bool, out: str | None) -> None:
        """Emit tiles in order; double-buffered, each tile's loads into levels that
        double-buffer precede the previous compute, the others follow it."""
        self._do_loads(jobs[0])
        for i, job in enumerate(jobs):
            if double and i + 1 < len(jobs):
                self._do_loads(jobs[i + 1], ahead=True)
            self._compute_tile(layer, job, out)
            for buffer in job.frees:
                self.sram.free(buffer)
            if i + 1 < len(jobs):
                self._do_loads(jobs[i + 1], ahead=False if double else None)

    def _run_split(self, layer: Layer, plan: TilePlan) -> None:
        """Output tiles one at a time, input-channel chunks innermost into partial sums."""
        ho, wo, co = hwc(layer.output_shape)
        cin = hwc(layer.input_shape)[2]
        src = layer.inputs[0]
        root, out_root = self.homes.roots[src], self.homes.roots[layer.name]
        chunks = channel_tiles(cin, plan.in_channel_step)
        for samples, rows in spatial_tiles(self.sizes.batch, ho, 1, plan.row_step):
            in_rows = input_region_rows(layer, rows)
            for ch in channel_tiles(co, plan.channel_step):
                region = Region(samples, rows, ch)
                elements = (samples[1] - samples[0]) * (rows[1] - rows[0]) * wo * (ch[1] - ch[0])
                psum = self.sram.alloc(layer.name, region, self.sizes.accumulator_bytes(elements),
                                       "psum")
                out = psum
                placed = self.homes.region(layer.name, region)
                for ic in chunks:
                    fmap = self.sram.load("fmap", root,
                                          self.homes.region(src, Region(samples, in_rows, ic)),
                                          self.sizes.region_bytes(self.tensors[src].shape,
                                                                  samples, in_rows, ic))
                    weights = self.sram.load("weights", layer.name, Region(channels=ch, reduce=ic),
                                             self.sizes.weight_bytes(layer, ch, ic))
                    if ic[1] == cin:
                        out = self.sram.alloc(out_root, placed, self.sizes.region_bytes(
                            layer.output_shape, samples, rows, ch))
                    share = (samples[1] - samples[0]) * (rows[1] - rows[0]) * (ch[1] - ch[0]) * (
                        ic[1] - ic[0])
                    self.sram.compute(Compute(layer.name, Tile(samples, rows, ch, ic), (fmap,),
                                              weights, out, layer.macs * share // (ho * co * cin),
                                              accumulator=psum))
                    self.sram.free(fmap)
                    self.sram.free(weights)
                self.sram.free(psum)
                self.sram.store(out, out_root, placed)
                self.sram.free(out)

    def _jobs(self, layer: Layer, plan: TilePlan, kept: set[str]) -> list[_Job]:
        """The tiles in loop order, each with the loads it starts and the frees it ends."""
        ho, wo, co = hwc(layer.output_shape)
        columns: list[tuple[int, int] | None] = (
            list(bands(wo, plan.col_step)) if plan.col_step else [None])
        spatial = [(samples, rows, cols) for samples, rows in spatial_tiles(
            self.sizes.batch, ho, plan.sample_step, plan.row_step) for cols in columns]
        groups = channel_tiles(co, plan.channel_step)
        jobs: list[_Job] = []
        if plan.order == "weights_outer":
            for ch in groups:
                weights = self._weights_spec(layer, ch, len(groups))
                for i, (samples, rows, cols) in enumerate(spatial):
                    specs = self._input_specs(layer, samples, rows, ch, cols, kept)
                    inputs = list(dict.fromkeys(specs.values()))
                    last = i == len(spatial) - 1
                    jobs.append(_Job(Tile(samples, rows, ch, cols=cols),
                                     ([weights] if weights and i == 0 else []) + inputs,
                                     self._reads(layer, specs), weights,
                                     [s.buffer for s in inputs] + ([weights.buffer]
                                                                   if weights and last else [])))
            return jobs
        whole = self._weights_spec(layer, (0, co), 1) if len(groups) == 1 else None
        filters = [whole or self._weights_spec(layer, ch, len(groups)) for ch in groups]
        for t, (samples, rows, cols) in enumerate(spatial):
            specs = self._input_specs(layer, samples, rows, (0, co), cols, kept)
            inputs = list(dict.fromkeys(specs.values()))
            for g, ch in enumerate(groups):
                weights = filters[g]
                first_w = weights if weights and (whole is None or (t == 0 and g == 0)) else None
                last_w = weights and (whole is None or (t == len(spatial) - 1))
                loads = (inputs if g == 0 else []) + ([first_w] if first_w else [])
                frees = ([weights.buffer] if weights and last_w else []) + (
                    [s.buffer for s in inputs] if g == len(groups) - 1 else [])
                jobs.append(_Job(Tile(samples, rows, ch, cols=cols), loads,
                                 self._reads(layer, specs), weights, frees))
        return jobs

    def _reads(self, layer: Layer, loaded: dict[str, _Spec]) -> tuple[str, ...]:
        """The buffers a tile reads its inputs from: their loaded regions, or the resident
        buffers holding them."""
        return tuple(dict.fromkeys(
            b for s in layer.inputs
            for b in ([loaded[s].buffer] if s in loaded else self.buffers_for(s))))

    def _weights_spec(self, layer: Layer, ch: tuple[int, int], groups: int) -> _Spec | None:
        if not layer.is_weighted:
            return None
        region = WHOLE if groups == 1 else Region(channels=ch)
        return _Spec("weights", layer.name, region, self.sizes.weight_bytes(layer, ch))

    def _input_specs(self, layer: Layer, samples: tuple[int, int], rows: tuple[int, int],
                     ch: tuple[int, int], cols: tuple[int, int] | None,
                     kept: set[str]) -> dict[str, _Spec]:
        """Loads of the streamed inputs' regions a tile reads (kept inputs load nothing),
        by input; each input's own region (a broadcast or concatenated input needs less than
        others), in its root's coordinates (two inputs with one region share one load)."""
        specs: dict[str, _Spec] = {}
        for src in dict.fromkeys(layer.inputs):
            if src in kept:
                continue
            at = [i for i, name in enumerate(layer.inputs) if name == src]

            def union(span_of: Callable[[int], tuple[int, int]], at: list[int] = at
                      ) -> tuple[int, int]:
                spans = [span_of(i) for i in at]
                return min(lo for lo, _ in spans), max(hi for _, hi in spans)

            in_rows = union(lambda i: input_region_rows(layer, rows, i))
            in_cols = (union(lambda i: input_region_cols(layer, cols, i))
                       if cols is not None else None)
            span = union(lambda i: input_channels(layer, ch, i))
            region = self.homes.region(src, Region(samples, in_rows, span, cols=in_cols))
            spec = _Spec("fmap", self.homes.roots[src], region,
                         self.sizes.region_bytes(self.tensors[src].shape, samples, in_rows,
                                                 span, in_cols))
            specs[src] = spec
        return specs

    def _do_loads(self, job: _Job, ahead: bool | None = None) -> None:
        """The job's loads; `ahead` True / False: only those into levels that do / do not
        double-buffer."""
        for spec in job.loads:
            if ahead is None or self.sram.spec.ahead(
                    "weights" if spec.kind == "weights" else "inputs") == ahead:
                self.sram.load(spec.kind, spec.tensor, spec.region, spec.size)

    def _compute_tile(self, layer: Layer, job: _Job, whole_out: str | None) -> None:
        """One tile: into the output's whole buffer if kept, else a tile buffer stored out."""
        tile = job.tile
        samples, rows, ch, cols = tile.samples, tile.rows, tile.channels, tile.cols
        root = self.homes.roots[layer.name]
        region = self.homes.region(layer.name, Region(samples, rows, ch, cols=cols))
        out = whole_out or self.sram.alloc(root, region, self.sizes.region_bytes(
            layer.output_shape, samples, rows, ch, cols))
        ho, wo, co = hwc(layer.output_shape)
        width = cols[1] - cols[0] if cols is not None else wo
        share = (samples[1] - samples[0]) * (rows[1] - rows[0]) * width * (ch[1] - ch[0])
        macs = layer.macs * share // (ho * wo * co)
        self.sram.compute(Compute(layer.name, tile, job.inputs,
                                  job.weights.buffer if job.weights else None, out, macs))
        if whole_out is None:
            self.sram.store(out, root, region)
            self.sram.free(out)

    # ---- the whole network -----------------------------------------------------------
    def layout(self, name: str) -> str:
        """A view's place in its root's buffer, or why a concat copies ('' otherwise)."""
        return self._layouts[name]

    def finish(self) -> Schedule:
        placements = []
        for name, tensor in self.tensors.items():
            last = max((self.position[c] for c in tensor.consumers), default=self.position[name])
            layout = self.layout(name)
            where = ("dram (network input)" if name in self.net.inputs else
                     self.placement.get(name, "sram"))
            placements.append(TensorPlacement(
                name, "fmap", self.fmap_bytes(name), self.position[name], last,
                f"{where} ({layout})" if layout else where, self.spill_reason.get(name, "")))
            layer = self.net.layer(name)
            if layer.is_weighted:
                placements.append(TensorPlacement(
                    f"{name}.weights", "weights", self.filter_bytes(name),
                    self.position[name], self.position[name],
                    "dram, loaded into sram for its layer"))
        return Schedule(self.rules.name, self.sram.capacity, self.sizes.batch, self.layers,
                        placements, memory=None if self.sram.spec.shared else self.sram.spec)

    def check_tile_budget(self) -> None:
        """Refuse a schedule of too many tiles before emitting anything, so an SRAM too
        small for some later layer fails at once, not after minutes (the tilings of the
        layers that cannot run whole were searched with the build facts, `store_facts_of`,
        when the builder was made)."""
        tiles = sum(plan.tiles for plan in self.plans.values()) * self.options.passes
        if tiles > MAX_SCHEDULE_TILES:
            worst = max(self.plans.values(), key=lambda p: p.tiles)
            passes = f" x {self.options.passes} passes" if self.options.passes > 1 else ""
            name = next(n for n, p in self.plans.items() if p is worst)
            raise ScheduleError(
                f"{self.net.name} would need {tiles:,} tiles in {self.sram.capacity} bytes of "
                f"SRAM at batch {self.sizes.batch}{passes} (more than {MAX_SCHEDULE_TILES:,}; "
                f"{worst.tiles:,} in layer {name!r}); raise hardware.sram.capacity")

    def run(self) -> Schedule:
        """Every layer in order: whole when its working set fits, else tiled; a view does
        nothing (its readers read the slices it names)."""
        self.check_tile_budget()
        for at, name in enumerate(self.net.order):
            layer = self.net.layer(name)
            if layer.op == "input":
                continue
            ls = LayerSchedule(len(self.layers) + 1, name, layout=self.layout(name))
            self.layers.append(ls)
            self.current = ls
            self.sram.begin(ls)
            if not self.homes.is_view(name):
                self.run_layer(layer, at)
            self.rules.after(self, layer, at)
            if at == len(self.net.order) - 1:
                self.drain()
            self.sram.end()
        return self.finish()

    def run_layer(self, layer: Layer, at: int) -> None:
        """One layer that computes: whole when its working set fits, else tiled."""
        crowding = None if layer.name in self.plans else self.whole_now(layer)
        if crowding is not None:
            recorded = len(self.sram.order)
            self.rules.before(self, layer, at)
            # a spill may have sent inputs from the output level to DRAM: recheck (only
            # actions change where buffers are, so none recorded means nothing changed)
            if len(self.sram.order) != recorded:
                crowding = self.whole_now(layer)
        if crowding is None:
            self.rules.before_tiled(self, layer)
            assert self.current is not None
            self.current.tiling = self.run_tiled(layer, at).describe(layer, self.sizes.batch)
        else:
            self.run_whole(layer, at, crowding)

    def drain(self) -> None:
        """End of the inference: write back network outputs still resident, free the rest."""
        for r in list(self.sram.resident.values()):
            if r.buffer in self.held:
                self.retire_buffer(r.buffer)
            else:
                self.sram.free(r.buffer)


def _builder(rules: Rules) -> Callable[[Network, Sizes, Capacity, BuildOptions], Schedule]:
    """A registry entry: build a schedule with these rules."""
    def build(net: Network, sizes: Sizes, capacity: Capacity, options: BuildOptions) -> Schedule:
        schedule = _Builder(net, sizes, capacity, rules, options).run()
        return dataclasses.replace(schedule, sub_batch=sizes.batch)
    return build


_LIVENESS = _builder(_Liveness())

#: Policy name -> schedule builder. Names match accelsim.config.POLICIES.
POLICIES: dict[str, Callable[[Network, Sizes, Capacity, BuildOptions], Schedule]] = {
    "liveness": _LIVENESS,
    "accumulate": _builder(_Accumulate()),
    "fused": partial(fused_schedule, layer_by_layer=_LIVENESS),
}


def build_schedule(net: Network, sizes: Sizes, capacity: Capacity, policy: str = "liveness",
                   options: BuildOptions | None = None) -> Schedule:
    """Schedule `net` on an SRAM of `capacity` bytes with the named policy."""
    try:
        builder = POLICIES[policy]
    except KeyError:
        raise ScheduleError(
            f"unknown policy {policy!r}; known: {', '.join(POLICIES)}") from None
    options = options or BuildOptions()

    def one_pass(net: Network, sizes: Sizes, capacity: Capacity, peaks: tuple[int, ...],
                 passes: int) -> Schedule:
        return builder(net, sizes, capacity, dataclasses.replace(
            options, reference_peaks=peaks, passes=passes))

    return sub_batched(one_pass, net, sizes, capacity, options.sub_batch,
                       options.reference_peaks)
