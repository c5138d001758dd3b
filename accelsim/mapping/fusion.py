"""Depth-first fusion: row-band geometry of layer groups and the search for groups.

A fused group is a run of consecutive layers (in the network's topological order) that
executes band by band: a band is `band_rows` output rows of the group's last layer (its
sink), and the rows every earlier layer must provide for it follow backwards through
kernels, strides and padding (`tiling.input_region_rows`, vectorised here over bands).
Only the sink's output leaves the group (written to DRAM); every other tensor of the
group lives in SRAM as a line buffer: a few rows, allocated when produced, freed when
every consumer has read past them. Between two bands, the halo rows the next band reads
again are either kept (`cached`) or computed again (`recompute`, which holds fewer rows
at once but costs MACs and re-reads the group's input halo from DRAM).

The search is a dynamic programme over the layer order: `best[j]` is the least cost of
running layers [0, j) as a sequence of groups; a group [i, j) is a candidate when every
layer but its sink is consumed only inside it, and for each candidate a few band heights
(powers of two up to the sink's height), both halo modes and bands of one sample or of
the whole batch are tried. Cost is DRAM
bytes, then recomputed MACs, then the number of bands. A candidate is kept only if an
upper bound of its SRAM occupancy at every compute (line buffers at their tallest,
resident filters, the streamed filter chunk) fits the capacity, so the emitted schedule
never exceeds it. Filters are resident for the whole group when they fit (smallest
first); the others are streamed once per band in output-channel chunks.

With several on-chip levels (a MemorySpec), each part of that bound lives in the level
holding its operand: the bands of the group's inputs, loaded from DRAM, in the level
holding `inputs`; the line buffers of its own layers and the sink's bands in the level
holding `outputs`; filters in the level holding `weights`. Parts in one level add up,
and every level's sum must fit its capacity (with one shared level: the sum of all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.mapping.memory import Capacity, MemorySpec, as_spec
from accelsim.mapping.tiling import Sizes, _row_tileable, hwc

__all__ = ["FusionPlan", "GroupGeometry", "GroupPlan", "HaloMode", "Parts", "Rows", "levels_fit",
           "group_geometry", "plan_fusion"]

HaloMode = Literal["cached", "recompute"]


@dataclass(frozen=True)
class Graph:
    """What fusion reads of a network at given element sizes, looked up once."""

    layers: dict[str, Layer]
    consumers: dict[str, tuple[str, ...]]
    order: tuple[str, ...]  # the layers (network inputs excluded) in execution order
    weights: dict[str, int]  # filter bytes of each layer
    channel_weights: dict[str, int]  # filter bytes of one output channel
    row_bytes: dict[str, int]  # bound on the bytes of one row of one sample of each tensor

    @classmethod
    def of(cls, net: Network, sizes: Sizes) -> Graph:
        layers = {n: net.layer(n) for n in net.order}
        return cls(layers, {n: t.consumers for n, t in net.tensors().items()},
                   tuple(n for n in net.order if layers[n].op != "input"),
                   {n: sizes.weight_bytes(layer) for n, layer in layers.items()},
                   {n: sizes.weight_bytes(layer, (0, 1)) for n, layer in layers.items()},
                   {n: _row_bytes_bound(layer, sizes) for n, layer in layers.items()})


def _row_bytes_bound(layer: Layer, sizes: Sizes) -> int:
    """Bytes of one row of one sample of a layer's output, rounded up per channel when
    elements are not whole bytes, so any split of the row into buffers fits in it."""
    _, width, channels = hwc(layer.output_shape)
    return sizes.elements_bytes(width * channels) + (channels if sizes.activation_bits % 8
                                                     else 0)


@dataclass(frozen=True)
class Rows:
    """Per-sample row spans of one tensor over a group's bands (arrays of length bands).

    In band k the tensor holds rows [lo[k], hi[k]) while its consumers run, produces rows
    [start[k], hi[k]) and keeps rows [keep[k], hi[k]) for later bands (cached halos).
    """

    lo: np.ndarray
    start: np.ndarray
    hi: np.ndarray
    keep: np.ndarray

    @cached_property
    def produced_rows(self) -> int:
        """Rows produced (or loaded) over all bands, halo rows computed again included."""
        return int((self.hi - self.start).sum())

    @cached_property
    def tallest(self) -> int:
        """Most rows held during a band."""
        return max(int((self.hi - self.lo).max()), 0)

    @cached_property
    def tallest_halo(self) -> int:
        """Most rows kept from one band to the next."""
        return max(int((self.hi - self.keep).max()), 0)


def _window(layer: Layer) -> tuple[int, int, int, int]:
    """(kernel, stride, top padding, input rows) of the layer's row window; a layer that
    needs its whole input for any output row gets a window of the whole input."""
    rows = hwc(layer.input_shape)[0]
    if not _row_tileable(layer):
        return rows, 0, 0, rows
    return layer.kernel[0], layer.stride[0], layer.padding[0], rows


def _first_input_row(layer: Layer, first: np.ndarray) -> np.ndarray:
    kernel, stride, pad, _ = _window(layer)
    return np.maximum(first * stride - pad, 0)


def _input_end(layer: Layer, end: np.ndarray) -> np.ndarray:
    """Input rows needed below output end `end` (every band ends at least one row in):
    (end - 1) * stride - pad + kernel, clipped to the input."""
    kernel, stride, pad, rows = _window(layer)
    return np.minimum(end * stride + (kernel - stride - pad), rows)


def _rows_from_consumers(height: int, consumers: list[tuple[Layer, Rows]],
                         mode: HaloMode) -> Rows:
    """The rows a tensor of `height` rows must provide for its consumers' bands."""
    (first, rows), rest = consumers[0], consumers[1:]
    hi = _input_end(first, rows.hi)
    lo = _first_input_row(first, rows.start if mode == "cached" else rows.lo)
    for layer, r in rest:
        hi = np.maximum(hi, _input_end(layer, r.hi))
        lo = np.minimum(lo, _first_input_row(layer, r.start if mode == "cached" else r.lo))
    hi[-1] = height  # the last band finishes every row, needed or not
    if mode == "cached":
        start, keep = np.empty_like(hi), np.empty_like(hi)
        start[0], start[1:] = 0, hi[:-1]
        keep[:-1], keep[-1] = lo[1:], height
        return Rows(lo, start, hi, keep)
    lo[0] = 0
    hi[:-1] = np.maximum(hi[:-1], lo[1:])  # no row left between two bands
    return Rows(lo, lo, hi, hi)


def _sink_rows(height: int, band_rows: int, mode: HaloMode) -> Rows:
    ends = np.minimum(np.arange(1, math.ceil(height / band_rows) + 1) * band_rows, height)
    starts = np.concatenate(([0], ends[:-1]))
    return Rows(starts, starts, ends, ends)


@dataclass(frozen=True)
class GroupGeometry:
    """Rows of every tensor a group touches (its layers' outputs and external inputs)."""

    layers: tuple[str, ...]
    externals: tuple[str, ...]
    band_rows: int
    mode: HaloMode
    rows: dict[str, Rows]

    @property
    def bands(self) -> int:
        return len(self.rows[self.layers[-1]].hi)


def _consumers_in(graph: Graph, tensor: str, members: set[str], rows: dict[str, Rows]
                  ) -> list[tuple[Layer, Rows]]:
    return [(graph.layers[c], rows[c]) for c in graph.consumers[tensor] if c in members]


def group_geometry(graph: Graph, layers: tuple[str, ...], band_rows: int, mode: HaloMode,
                   inner: dict[str, Rows] | None = None) -> GroupGeometry:
    """Band rows of a group of `layers` (in order, the last one the sink).

    `inner` caches the rows of the group's own tensors between calls for groups with the
    same sink, band height and mode: they depend only on their consumers, all inside.
    """
    inner = {} if inner is None else inner
    members = set(layers)
    if layers[-1] not in inner:
        sink = graph.layers[layers[-1]]
        inner[sink.name] = _sink_rows(hwc(sink.output_shape)[0], band_rows, mode)
    for name in reversed(layers[:-1]):
        if name not in inner:
            inner[name] = _rows_from_consumers(hwc(graph.layers[name].output_shape)[0],
                                               _consumers_in(graph, name, members, inner), mode)
    rows = {n: inner[n] for n in layers}
    externals = tuple(dict.fromkeys(src for name in layers for src in graph.layers[name].inputs
                                    if src not in members))
    for src in externals:
        rows[src] = _rows_from_consumers(hwc(graph.layers[src].output_shape)[0],
                                         _consumers_in(graph, src, members, rows), mode)
    return GroupGeometry(layers, externals, band_rows, mode, rows)


#: Feature-map bytes while a layer computes: (bands of the group's inputs, loaded from
#: DRAM; line buffers of the group's own tensors).
Parts = tuple[int, int]


def occupancy_bounds(graph: Graph, geometry: GroupGeometry) -> dict[str, Parts]:
    """Per layer of the group: upper bounds of the feature-map bytes on chip while it
    computes (filters excluded), split into the group's inputs and its own tensors.

    Every tensor holds at most its tallest halo, except the layer's own output and the
    tensors produced before it that a layer from it onwards still reads, which hold at
    most their tallest band.
    """
    position = {name: i for i, name in enumerate(geometry.layers)}
    out = []
    for tensors in (geometry.externals, geometry.layers):
        halo = {t: geometry.rows[t].tallest_halo * graph.row_bytes[t] for t in tensors}
        band = {t: geometry.rows[t].tallest * graph.row_bytes[t] for t in tensors}
        live = np.zeros(len(geometry.layers) + 1, dtype=np.int64)
        for t in tensors:
            readers = [position[c] for c in graph.consumers[t] if c in position]
            if not readers:
                continue
            first = position[t] + 1 if t in position else 0
            live[first] += band[t] - halo[t]
            live[max(readers) + 1] -= band[t] - halo[t]
        out.append(sum(halo.values()) + np.cumsum(live))
    return {name: (int(out[0][i]), int(out[1][i]) + (
        geometry.rows[name].tallest - geometry.rows[name].tallest_halo) * graph.row_bytes[name])
        for i, name in enumerate(geometry.layers)}


def levels_fit(spec: MemorySpec, inputs: int, outputs: int, weights: int) -> bool:
    """True when feature maps loaded (`inputs`), feature maps computed (`outputs`) and
    filters, each in the level holding them, fit every level."""
    if spec.shared:
        return inputs + outputs + weights <= spec.total
    return spec.fits({"inputs": inputs, "outputs": outputs, "weights": weights})


@dataclass(frozen=True)
class GroupPlan:
    """One fused group as chosen: its layers, band height, halo mode and filter placement."""

    layers: tuple[str, ...]
    band_rows: int
    mode: HaloMode
    resident_weights: frozenset[str]
    dram_bytes: int
    recomputed_macs: int
    samples: int = 1  # samples a band spans: 1 (bands per sample) or the whole batch
    passes: int = 1  # bands run in all (band count x groups of samples)

    @property
    def label(self) -> str:
        """Name of the group in reports: 'first..last', or the layer alone."""
        return self.layers[0] if len(self.layers) == 1 else f"{self.layers[0]}..{self.layers[-1]}"


@dataclass(frozen=True)
class FusionPlan:
    """The groups covering every layer in order, and their planned DRAM bytes in total."""

    groups: tuple[GroupPlan, ...]
    dram_bytes: int

    @property
    def least_computes(self) -> int:
        """Compute steps the schedule will have at least: one per layer and band."""
        return sum(g.passes * len(g.layers) for g in self.groups)


def _heights(rows: int) -> list[int]:
    """Band heights tried for a sink of `rows` rows: tallest first, powers of two."""
    return sorted({min(1 << p, rows) for p in range(rows.bit_length() + 1)}, reverse=True)


def recomputed_macs(graph: Graph, geometry: GroupGeometry, batch: int) -> dict[str, int]:
    """MACs of rows each layer computes more than once (0 when halos are cached)."""
    extra = {}
    for name in geometry.layers:
        layer = graph.layers[name]
        height = hwc(layer.output_shape)[0]
        extra[name] = layer.macs * (geometry.rows[name].produced_rows - height) // height * batch
    return extra


def _passes(geometry: GroupGeometry, batch: int, samples: int) -> int:
    """How many bands run in all: per band height, once per group of `samples` samples."""
    return geometry.bands * math.ceil(batch / samples)


def _choose_weights(graph: Graph, sizes: Sizes, spec: MemorySpec, geometry: GroupGeometry,
                    bounds: dict[str, Parts], samples: int) -> frozenset[str] | None:
    """Filters kept for the whole group (smallest first while everything fits); None when
    even streaming every filter in one-channel chunks does not fit."""
    chunk = graph.channel_weights
    if any(not levels_fit(spec, *bounds[n], chunk[n]) for n in geometry.layers):
        return None
    if _passes(geometry, sizes.batch, samples) == 1:
        return frozenset()  # one band: loading filters with their layer costs nothing more
    resident: set[str] = set()
    total = 0
    weighted = sorted((n for n in geometry.layers if graph.weights[n]),
                      key=graph.weights.__getitem__)
    for name in weighted:
        size = graph.weights[name]
        trial = resident | {name}
        if all(levels_fit(spec, *bounds[n], total + size + (0 if n in trial else chunk[n]))
               for n in geometry.layers):
            resident, total = trial, total + size
        else:
            break
    return frozenset(resident)


def band_bounds(graph: Graph, geometry: GroupGeometry, samples: int) -> dict[str, Parts]:
    """`occupancy_bounds` for bands that span `samples` samples."""
    return {n: (a * samples, b * samples)
            for n, (a, b) in occupancy_bounds(graph, geometry).items()}


def plan_group(graph: Graph, sizes: Sizes, capacity: Capacity, geometry: GroupGeometry,
               samples: int = 1) -> GroupPlan | None:
    """The plan of one group's geometry with bands of `samples` samples (filters placed,
    DRAM bytes counted), or None if it cannot fit."""
    bounds = band_bounds(graph, geometry, samples)
    resident = _choose_weights(graph, sizes, as_spec(capacity), geometry, bounds, samples)
    if resident is None:
        return None
    passes = _passes(geometry, sizes.batch, samples)
    layers, batch = geometry.layers, sizes.batch
    dram = sum(sizes.elements_bytes(geometry.rows[t].produced_rows * math.prod(
        hwc(graph.layers[t].output_shape)[1:]) * batch) for t in geometry.externals)
    dram += sizes.fmap_bytes(graph.layers[layers[-1]].output_shape)
    for name in layers:
        dram += graph.weights[name] * (1 if name in resident else passes)
    return GroupPlan(layers, geometry.band_rows, geometry.mode, resident, dram,
                     sum(recomputed_macs(graph, geometry, batch).values()), samples, passes)


class _Search:
    """The dynamic programme's state: the graph, per-(sink, height, mode) line-buffer rows
    computed once and extended downwards, and the groups known not to fit."""

    def __init__(self, net: Network, sizes: Sizes, spec: MemorySpec) -> None:
        self.graph = Graph.of(net, sizes)
        self.sizes, self.spec = sizes, spec
        self.weight_room = spec.capacity(spec.level_of("weights"))
        self.order = self.graph.order
        position = {n: i for i, n in enumerate(self.order)}
        self.last_reader = {n: max((position[c] for c in self.graph.consumers[n]),
                                   default=-1) for n in self.order}
        self.rows: dict[tuple[int, int, str], dict[str, Rows]] = {}
        # (j, rows, mode) -> position -> bytes of the halos of inner tensors from there on
        self.halos: dict[tuple[int, int, str], dict[int, int]] = {}
        # (j, rows, mode, samples) -> largest i known not to fit / smallest i known to
        self.unfit: dict[tuple[int, int, str, int], int] = {}
        self.checked: dict[tuple[int, int, str, int], int] = {}

    def _inner(self, key: tuple[int, int, str], p: int, members: set[str]) -> Rows:
        """Rows of the tensor at position p for sink `key` (computed once, from the sink
        down: its readers' rows exist already)."""
        j, band_rows, mode = key
        graph = self.graph
        inner = self.rows.setdefault(key, {})
        halos = self.halos.setdefault(key, {j - 1: 0})
        if not inner:
            sink = graph.layers[self.order[j - 1]]
            inner[sink.name] = _sink_rows(hwc(sink.output_shape)[0], band_rows,
                                          mode)  # type: ignore[arg-type]
        name = self.order[p]
        if name not in inner:
            inner[name] = _rows_from_consumers(hwc(graph.layers[name].output_shape)[0],
                                               _consumers_in(graph, name, members, inner),
                                               mode)  # type: ignore[arg-type]
            halos[p] = halos[p + 1] + self._extra(name, inner[name])[1]
        return inner[name]

    def _reach(self, key: tuple[int, int, str], i: int, samples: int) -> bool:
        """False (and noted) when group [i, j) cannot fit with bands of `samples` samples
        because the halos held from some layer on plus its band and its reader's (in the
        output level), with the filter chunk either computes with (in the filter level),
        exceed the capacity; that only grows with the group, so longer groups are ruled out
        too. Rows are built only as far down as this check gets."""
        fits = (*key, samples)
        if self.unfit.get(fits, -1) >= i:
            return False
        graph, members = self.graph, set(self.order[i:key[0]])
        for p in range(self.checked.get(fits, key[0] - 1) - 1, i - 1, -1):
            name = self.order[p]
            rows = self._inner(key, p, members)
            inner, halos = self.rows[key], self.halos[key]
            readers = [(c, inner[c]) for c in graph.consumers[name] if c in members]
            held = samples * (halos[p] + self._extra(name, rows)[0])
            if not levels_fit(self.spec, 0, held, graph.channel_weights[name]) or any(
                    not levels_fit(self.spec, 0, held + samples * self._extra(c, r)[0],
                             graph.channel_weights[c]) for c, r in readers):
                self.unfit[fits] = p
                return False
            self.checked[fits] = p
        return True

    def _extra(self, name: str, rows: Rows) -> tuple[int, int]:
        """(bytes a tensor's band holds beyond its halo, bytes of its halo), one sample."""
        size = self.graph.row_bytes[name]
        return (rows.tallest - rows.tallest_halo) * size, rows.tallest_halo * size

    def best_group(self, i: int, j: int, floor: int, weights: int, budget: float
                   ) -> GroupPlan | None:
        """The cheapest plan of group [i, j) over band heights, halo modes and samples per
        band that moves less than `budget` bytes; stops early when a plan reaches `floor`,
        the least the group can move. Heights are skipped without building their rows when
        the filters (`weights` bytes) that cannot all stay resident would, streamed once
        per band, already reach the budget."""
        height = hwc(self.graph.layers[self.order[j - 1]].output_shape)[0]
        best: GroupPlan | None = None
        streamed = max(0, weights - self.weight_room)
        batch = self.sizes.batch
        for samples in sorted({1, batch}, reverse=True):
            for rows in _heights(height):
                passes = math.ceil(height / rows) * math.ceil(batch / samples)
                if floor + (passes - 1) * streamed >= min(budget, best.dram_bytes if best
                                                          else budget):
                    continue
                # Halos are recomputed only where keeping them does not fit.
                plan = (self._plan(i, j, rows, "cached", samples)
                        or self._plan(i, j, rows, "recompute", samples))
                if plan is None:
                    continue
                if best is None or (plan.dram_bytes, plan.recomputed_macs) < (
                        best.dram_bytes, best.recomputed_macs):
                    best = plan
                if best.dram_bytes == floor and best.recomputed_macs == 0:
                    return best
        return best

    def _plan(self, i: int, j: int, rows: int, mode: HaloMode, samples: int
              ) -> GroupPlan | None:
        """Plan of group [i, j) at one height, mode and samples per band, None if it does
        not fit."""
        key = (j, rows, mode)
        if not self._reach(key, i, samples):
            return None  # this group, or a shorter one with the same sink, does not fit
        geometry = group_geometry(self.graph, self.order[i:j], rows, mode,
                                  self.rows.setdefault(key, {}))
        plan = plan_group(self.graph, self.sizes, self.spec, geometry, samples)
        if plan is None:
            self.unfit[(*key, samples)] = i
        return plan


#: Ops whose output rows follow from a kernel window (or the same rows) of their input,
#: which is what band geometry here derives; a network with any other op (concatenation,
#: channel views, resize, transposed convolution) is scheduled layer by layer.
BANDED_OPS = frozenset({"input", "conv2d", "depthwise_conv2d", "dense", "flatten", "softmax",
                        "activation", "batch_norm", "avg_pool", "max_pool", "global_avg_pool",
                        "add", "sub", "mul"})


def bandable(net: Network) -> bool:
    """True when every layer's band geometry is a window of one input's rows: its op is in
    BANDED_OPS and every input has the output's rows and columns (no broadcasting)."""
    for layer in net.layers():
        if layer.op not in BANDED_OPS:
            return False
        if layer.op in ("add", "sub", "mul") and any(
                shape != layer.output_shape for shape in layer.input_shapes):
            return False
    return True


def plan_fusion(net: Network, sizes: Sizes, capacity: Capacity) -> FusionPlan | None:
    """The least-cost sequence of fused groups covering every layer, or None if some
    layer fits in no group at all, or the network has layers bands cannot describe.
    `capacity`: one shared SRAM's bytes, or the on-chip levels.

    Cost is (DRAM bytes, recomputed MACs, groups). Candidates for a group ending at j are
    tried in order of their lower bound (what was paid before them plus the least the
    group itself can move) and skipped once that bound cannot beat the best found.
    """
    if not bandable(net):
        return None
    search = _Search(net, sizes, as_spec(capacity))
    order = search.order
    best: list[tuple[tuple[int, int, int], int, GroupPlan] | None] = [None] * (len(order) + 1)
    paid = [(0, 0, 0)] + [(0, 0, 0)] * len(order)
    graph, fmap = search.graph, sizes.fmap_bytes
    for j in range(1, len(order) + 1):
        candidates = []
        inputs: set[str] = set()
        weights = 0
        weights_of: dict[int, int] = {}
        output = fmap(graph.layers[order[j - 1]].output_shape)
        for i in range(j - 1, -1, -1):
            if i < j - 1 and not 0 <= search.last_reader[order[i]] < j:
                break  # its output is read after the group (or is a network output)
            inputs = (inputs | set(graph.layers[order[i]].inputs)) - {order[i]}
            weights += graph.weights[order[i]]
            if i == 0 or best[i] is not None:
                # the least group [i, j) can move: its inputs and filters once, its output
                floor = weights + output + sum(fmap(graph.layers[s].output_shape)
                                               for s in inputs)
                before = paid[i]
                candidates.append(((before[0] + floor, before[1], before[2] + 1), floor, i))
                weights_of[i] = weights
        for bound, floor, i in sorted(candidates):
            current = best[j]
            if current is not None and bound >= current[0]:
                break
            before = paid[i]
            budget = current[0][0] - before[0] + 1 if current is not None else math.inf
            plan = search.best_group(i, j, floor, weights_of[i], budget)
            if plan is None:
                continue
            cost = (before[0] + plan.dram_bytes, before[1] + plan.recomputed_macs,
                    before[2] + 1)
            if current is None or cost < current[0]:
                best[j] = (cost, i, plan)
                paid[j] = cost
    if best[-1] is None:
        return None
    groups = []
    j = len(order)
    while j > 0:
        entry = best[j]
        assert entry is not None
        groups.append(entry[2])
        j = entry[1]
    groups.reverse()
    return FusionPlan(tuple(groups), sum(g.dram_bytes for g in groups))
