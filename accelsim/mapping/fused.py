"""The `fused` policy: run the groups of a fusion plan band by band, depth first.

Within a group, band k of every layer is computed before band k + 1 of any, in the
group's layer order; each layer's output lives as row-band buffers (of one sample, or of
the whole batch when the plan's bands span it), each freed right after the last compute
that reads it, so a feature map inside a group takes only its line buffer. Band buffers
of the group's input are loaded from DRAM just before their first reader; the sink's
bands are stored to DRAM as they are computed. Filters the plan keeps resident are loaded
when the group starts and freed when it ends; the others are loaded per band in
output-channel chunks. Every action goes through SramTracker, which puts each buffer in
the on-chip level holding its operand (loaded bands: inputs; computed bands: outputs;
filters: weights) and enforces that level's capacity.

Actions belong to the layer that performs them: a band is allocated, computed and stored
by its producer and loaded (or freed after reading) by its consumer. Layers interleave,
so the schedule records its execution order (`Schedule.order`).

The policy also builds the layer-by-layer `liveness` schedule and keeps it when it moves
fewer DRAM bytes (or when no fused plan fits), so `fused` never moves more than `liveness`.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from accelsim.errors import ScheduleError
from accelsim.ir.graph import Network
from accelsim.mapping.fusion import (
    FusionPlan,
    Graph,
    GroupGeometry,
    GroupPlan,
    band_bounds,
    group_geometry,
    plan_fusion,
)
from accelsim.mapping.memory import Capacity, MemorySpec, as_spec
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
    Sizes,
    bands,
    channel_tiles,
    hwc,
    input_channels,
    input_region_rows,
    least_network_traffic,
)

__all__ = ["emit_plan", "fused_schedule"]

Span = tuple[int, int]
Builder = Callable[[Network, Sizes, Capacity, BuildOptions], Schedule]
#: A fused schedule of more compute steps than this would take long to build: the
#: layer-by-layer schedule (which has the same kind of limit) is used instead.
MAX_COMPUTES = 100_000


@dataclass
class _Box:
    """One band buffer: rows (and a channel range, None = all) of samples of a tensor."""

    tensor: str
    samples: Span
    rows: Span
    channels: Span | None
    bytes: int
    external: bool  # loaded from DRAM (the group's input) rather than computed

    @property
    def region(self) -> Region:
        return Region(self.samples, self.rows, self.channels)

    @property
    def buffer(self) -> str:
        return buffer_name("fmap", self.tensor, self.region)


@dataclass
class _Op:
    """One compute of the group: a row band and channel chunk of one layer's output."""

    layer: str
    samples: Span
    rows: Span
    channels: Span
    reads: list[_Box]
    out: _Box
    weights: Region | None  # streamed filter chunk this compute uses (None: resident)
    first_of_chunk: bool
    last_of_chunk: bool


class _Boxes:
    """Band buffers of one tensor and samples (one band's, when halos are recomputed),
    sorted by first row, to find the ones a tile reads."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.rows: list[list[_Box]] = []

    def add(self, box: _Box) -> None:
        if self.starts and self.starts[-1] == box.rows[0]:
            self.rows[-1].append(box)
            return
        self.starts.append(box.rows[0])
        self.rows.append([box])

    def covering(self, rows: Span, channels: Span, full: int) -> list[_Box]:
        """Buffers that hold part of rows x channels."""
        found = []
        for i in range(max(bisect_right(self.starts, rows[0]) - 1, 0), len(self.starts)):
            if self.starts[i] >= rows[1]:
                break
            for box in self.rows[i]:
                if box.rows[1] <= rows[0]:
                    continue
                c0, c1 = box.channels or (0, full)
                if c0 < channels[1] and channels[0] < c1:
                    found.append(box)
        return found


class _GroupEmitter:
    """Turns one group of the plan into actions on the shared tracker."""

    def __init__(self, graph: Graph, sizes: Sizes, tracker: SramTracker,
                 schedules: dict[str, LayerSchedule], plan: GroupPlan) -> None:
        self.graph, self.sizes, self.sram, self.schedules = graph, sizes, tracker, schedules
        self.plan = plan
        self.geometry = group_geometry(graph, plan.layers, plan.band_rows, plan.mode)
        self.chunk = self._channel_chunks()

    def _channel_chunks(self) -> dict[str, int]:
        """Output channels per streamed filter chunk: as many as fit in the filters' level
        beside the resident filters and the bands that share that level."""
        bounds = band_bounds(self.graph, self.geometry, self.plan.samples)
        resident = sum(self.graph.weights[n] for n in self.plan.resident_weights)
        spec = self.sram.spec
        level = spec.level_of("weights")
        shares = (spec.level_of("inputs") == level, spec.level_of("outputs") == level)
        chunks = {}
        for name in self.plan.layers:
            layer = self.graph.layers[name]
            channels = hwc(layer.output_shape)[2]
            if not layer.is_weighted or name in self.plan.resident_weights:
                chunks[name] = channels
                continue
            room = spec.capacity(level) - resident - sum(
                part for part, shared in zip(bounds[name], shares, strict=True) if shared)
            fitting = [c for c in _halvings(channels)
                       if self.sizes.weight_bytes(layer, (0, c)) <= room]
            if not fitting:
                raise ScheduleError(f"internal error: no filter chunk of {name} fits")
            chunks[name] = fitting[0]
        return chunks

    # ---- planning the computes ------------------------------------------------------
    def _row_chunks(self, tensor: str, band: int) -> list[Span]:
        """Rows a tensor gets in a band, split where later bands stop reading."""
        rows = self.geometry.rows[tensor]
        first, end = int(rows.start[band]), int(rows.hi[band])
        if first >= end:
            return []
        if self.geometry.mode == "recompute":
            return [(first, end)]
        cuts = sorted({int(v) for v in rows.lo if first < v < end})
        edges = [first, *cuts, end]
        return list(zip(edges[:-1], edges[1:], strict=False))

    def _box(self, tensor: str, samples: Span, rows: Span, channels: Span | None,
             external: bool) -> _Box:
        shape = self.graph.layers[tensor].output_shape
        span = channels or (0, hwc(shape)[2])
        size = self.sizes.region_bytes(shape, samples, rows, span)
        return _Box(tensor, samples, rows, channels, size, external)

    def plan_ops(self) -> list[_Op]:
        """Every compute of the group in execution order, with the buffers it reads."""
        geometry = self.geometry
        recompute = geometry.mode == "recompute"
        index: dict[tuple[str, int, int], _Boxes] = {}

        def boxes(tensor: str, samples: Span, band: int) -> _Boxes:
            return index.setdefault((tensor, samples[0], band if recompute else 0), _Boxes())

        ops: list[_Op] = []
        for samples in bands(self.sizes.batch, self.plan.samples):
            for band in range(geometry.bands):
                for src in geometry.externals:
                    for rows in self._row_chunks(src, band):
                        boxes(src, samples, band).add(self._box(src, samples, rows, None, True))
                for name in geometry.layers:
                    ops += self._layer_ops(name, samples, band, boxes)
        return ops

    def _layer_ops(self, name: str, samples: Span, band: int,
                   boxes: Callable[[str, Span, int], _Boxes]) -> list[_Op]:
        layer = self.graph.layers[name]
        chunks = self._row_chunks(name, band)
        channels = hwc(layer.output_shape)[2]
        groups = channel_tiles(channels, self.chunk[name])
        streamed = layer.is_weighted and name not in self.plan.resident_weights
        ops = []
        for ch in groups:
            whole = ch == (0, channels)
            for i, rows in enumerate(chunks):
                reads = []
                need = input_region_rows(layer, rows)
                for src in dict.fromkeys(layer.inputs):
                    span = input_channels(layer, ch)
                    full = hwc(self.graph.layers[src].output_shape)[2]
                    reads += boxes(src, samples, band).covering(need, span, full)
                out = self._box(name, samples, rows, None if whole else ch, False)
                weights = (Region() if whole else Region(channels=ch)) if streamed else None
                ops.append(_Op(name, samples, rows, ch, reads, out, weights, i == 0,
                               i == len(chunks) - 1))
        for op in sorted(ops, key=lambda op: (op.rows, op.channels)):
            boxes(name, samples, band).add(op.out)
        return ops

    # ---- emitting ---------------------------------------------------------------------
    def _on(self, name: str) -> None:
        self.sram.switch(self.schedules[name])

    def _done(self, name: str) -> None:
        self.schedules[name].end_sram_bytes = self.sram.used

    def emit(self) -> None:
        """Record the group's actions: resident filters, then every compute in order."""
        ops = self.plan_ops()
        last_read: dict[int, int] = {}
        for i, op in enumerate(ops):
            for box in op.reads:
                last_read[id(box)] = i
        for name in self.plan.layers:
            if name in self.plan.resident_weights:
                self._on(name)
                self.sram.load("weights", name, Region(), self.graph.weights[name])
                self._done(name)
        loaded: set[int] = set()
        sink = self.plan.layers[-1]
        for i, op in enumerate(ops):
            self._emit_op(op, i, last_read, loaded, sink)
        for name in self.plan.layers:
            if name in self.plan.resident_weights:
                self._on(name)
                self.sram.free(buffer_name("weights", name, Region()))
                self._done(name)

    def _emit_op(self, op: _Op, i: int, last_read: dict[int, int], loaded: set[int],
                 sink: str) -> None:
        layer = self.graph.layers[op.layer]
        self._on(op.layer)
        weights = buffer_name("weights", op.layer, op.weights) if op.weights else None
        if op.weights is not None and op.first_of_chunk:
            size = self.sizes.weight_bytes(layer, op.weights.channels)
            self.sram.load("weights", op.layer, op.weights, size)
        if op.weights is None and layer.is_weighted:
            weights = buffer_name("weights", op.layer, Region())
        reads = list({id(b): b for b in op.reads}.values())
        for box in reads:
            if box.external and id(box) not in loaded:
                self.sram.load("fmap", box.tensor, box.region, box.bytes)
                loaded.add(id(box))
        out = self.sram.alloc(op.layer, op.out.region, op.out.bytes)
        count = op.samples[1] - op.samples[0]
        self.sram.compute(Compute(op.layer, Tile(op.samples, op.rows, op.channels),
                                  tuple(b.buffer for b in reads), weights, out,
                                  count * _macs(layer.macs, hwc(layer.output_shape), op.rows,
                                                op.channels)))
        if op.layer == sink:
            self.sram.store(out, op.layer, op.out.region)
        if id(op.out) not in last_read:
            self.sram.free(out)
        for box in reads:
            if last_read[id(box)] == i:
                self.sram.free(box.buffer)
        if op.weights is not None and op.last_of_chunk:
            self.sram.free(buffer_name("weights", op.layer, op.weights))
        self._done(op.layer)


def _halvings(channels: int) -> list[int]:
    """Chunk sizes tried for streamed filters, largest first: all, then halving."""
    sizes = [channels]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def _macs(per_sample: int, shape: tuple[int, int, int], rows: Span, channels: Span) -> int:
    """MACs of a tile (one sample), shared out so any partition of rows and channels sums
    exactly to the layer's MACs."""
    height, _, count = shape
    band = per_sample * rows[1] // height - per_sample * rows[0] // height
    return band * channels[1] // count - band * channels[0] // count


def emit_plan(net: Network, sizes: Sizes, capacity: Capacity, plan: FusionPlan) -> Schedule:
    """The schedule of a fusion plan: every group band by band, in order."""
    graph = Graph.of(net, sizes)
    schedules = {name: LayerSchedule(i + 1, name) for i, name in enumerate(graph.order)}
    spec: MemorySpec = as_spec(capacity)
    tracker = SramTracker(spec)
    for group in plan.groups:
        emitter = _GroupEmitter(graph, sizes, tracker, schedules, group)
        emitter.emit()
        _describe(graph, sizes, schedules, emitter.geometry, group, emitter.chunk)
    if tracker.resident:
        raise ScheduleError(f"internal error: left resident: {sorted(tracker.resident)}")
    _note_cuts(graph, schedules, plan)
    return Schedule("fused", spec.total, sizes.batch, list(schedules.values()),
                    _placements(net, sizes, plan, spec), tracker.order,
                    memory=None if spec.shared else spec)


def _describe(graph: Graph, sizes: Sizes, schedules: dict[str, LayerSchedule],
              geometry: GroupGeometry, group: GroupPlan, chunk: dict[str, int]) -> None:
    """Group label, tiling text and recomputed MACs of each layer of a group."""
    sink = graph.layers[group.layers[-1]]
    height = hwc(sink.output_shape)[0]
    for name in group.layers:
        ls, layer = schedules[name], graph.layers[name]
        ls.group = group.label
        parts = []
        per = "per sample" if group.samples == 1 else f"of {group.samples} samples"
        if geometry.bands > 1:
            parts.append(f"fused: bands of {group.band_rows}/{height} rows of {sink.name} "
                         f"({geometry.bands} {per}, halos {group.mode})")
        channels = hwc(layer.output_shape)[2]
        if chunk[name] < channels:
            parts.append(f"filters streamed in chunks of {chunk[name]}/{channels} channels")
        ls.tiling = "; ".join(parts) or "none"
        done = sum(a.macs for a in ls.actions if isinstance(a, Compute))
        ls.recomputed_macs = done - layer.macs * sizes.batch


def _note_cuts(graph: Graph, schedules: dict[str, LayerSchedule], plan: FusionPlan) -> None:
    """A group output read by several later groups (a skip connection cut between its
    readers) goes through DRAM; say so on its producer's row."""
    group_of = {name: g.label for g in plan.groups for name in g.layers}
    for group in plan.groups:
        sink = group.layers[-1]
        readers = list(dict.fromkeys(group_of[c] for c in graph.consumers[sink]))
        if len(readers) > 1:
            ls = schedules[sink]
            ls.spills += 1
            ls.spill_reason = (f"{sink} is read by {len(readers)} fused groups "
                               f"({', '.join(readers)}): stored to DRAM once, loaded by each")


def _placements(net: Network, sizes: Sizes, plan: FusionPlan,
                spec: MemorySpec) -> list[TensorPlacement]:
    """Where every feature map and filter lived under the plan (levels by name when there
    are several)."""
    bands, filters = (("sram", "sram") if spec.shared else
                      (spec.level_of("outputs"), spec.level_of("weights")))
    position = {name: i for i, name in enumerate(net.order)}
    group_of = {name: g for g in plan.groups for name in g.layers}
    tensors = net.tensors()
    result = []
    for name, tensor in tensors.items():
        layer = net.layer(name)
        last = max((position[c] for c in tensor.consumers), default=position[name])
        if name in net.inputs:
            where = "dram (network input)"
        elif name == group_of[name].layers[-1]:
            where = f"dram (output of fused group {group_of[name].label})"
        else:
            where = f"{bands} line buffer (fused group {group_of[name].label})"
        result.append(TensorPlacement(name, "fmap", sizes.fmap_bytes(tensor.shape),
                                      position[name], last, where))
        if layer.is_weighted:
            group = group_of[name]
            kept = (f"{filters} for fused group {group.label}" if name in group.resident_weights
                    else "dram, loaded per band")
            result.append(TensorPlacement(f"{name}.weights", "weights",
                                          sizes.weight_bytes(layer), position[name],
                                          position[name], kept))
    return result


def _dram_bytes(schedule: Schedule) -> int:
    return sum(ls.dram_read_bytes + ls.dram_write_bytes for ls in schedule.layers)


def fused_schedule(net: Network, sizes: Sizes, capacity: Capacity, options: BuildOptions,
                   layer_by_layer: Builder) -> Schedule:
    """The fused schedule, or the `layer_by_layer` one (relabelled) when that moves fewer
    DRAM bytes or no fused plan fits.

    The choice compares serial schedules, so every buffering makes the same one; a
    layer-by-layer schedule that runs ahead gets its own serial schedule's peaks as its
    reference (the fused one's would not bound its occupancy). With several on-chip
    levels, bands and filters live in the levels holding their operands.
    """
    plan = plan_fusion(net, sizes, capacity)
    if plan is not None and plan.least_computes > MAX_COMPUTES:
        plan = None  # too many bands to build quickly: layer by layer decides
    fused = emit_plan(net, sizes, capacity, plan) if plan is not None else None
    floor = least_network_traffic(net, sizes)
    if fused is not None and _dram_bytes(fused) <= floor:
        return fused
    try:
        alone = layer_by_layer(net, sizes, capacity, BuildOptions(passes=options.passes))
    except ScheduleError:
        if fused is None:
            raise
        return fused
    if fused is not None and _dram_bytes(fused) <= _dram_bytes(alone):
        return fused
    if options.buffering != "none":
        peaks = tuple(ls.peak_sram_bytes for ls in alone.layers)
        alone = layer_by_layer(net, sizes, capacity, dataclasses.replace(
            options, reference_peaks=peaks))
    return dataclasses.replace(alone, policy="fused")
