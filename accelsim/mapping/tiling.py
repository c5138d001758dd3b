"""Tile geometry and the tile search for layers whose working set does not fit in SRAM.

A tile is a box of the output: a band of samples, a band of output rows and a range of
output channels. Its input is the matching band of input rows plus the halo the kernel
needs, and all input channels (conv, dense) or the same channels (depthwise, pools,
element-wise ops). Two loop orders are searched:

* `weights_outer`: for each channel group, load its filters once and stream every
  spatial tile's input past them (inputs are re-read once per channel group unless
  the layer is channel-wise);
* `rows_outer`: for each spatial tile, load its input once and stream the channel
  groups' filters past it (filters are re-read once per spatial tile).

The search picks the plan with the least DRAM traffic, then the fewest tiles. It is
analytical: for each distinct channel-tile size it binary-searches the tallest row
band that fits, because taller bands never add traffic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from accelsim.errors import ScheduleError
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer, Shape
from accelsim.ir.ops import traits
from accelsim.ir.ops.traits import hwc, window_span

__all__ = ["STREAM", "Keep", "Sizes", "TilePlan", "bands", "channel_tiles", "channel_wise",
           "hwc", "input_channels", "input_region_cols", "input_region_rows",
           "least_network_traffic", "search_tiles", "spatial_tiles", "splits_input_channels",
           "tile_peak"]

Span = tuple[int, int]
LoopOrder = Literal["weights_outer", "rows_outer"]


def channel_wise(layer: Layer) -> bool:
    """True when output channel k needs only input channel k (depthwise, pools, adds...)."""
    return traits(layer.op).channel_wise(layer)


def _row_tileable(layer: Layer) -> bool:
    """Ops whose output rows can be computed from a band of input rows."""
    return traits(layer.op).row_tileable and len(layer.output_shape) == 3


def _input_span(layer: Layer, out: Span, axis: int, index: int | None = None) -> Span:
    """Input rows (axis 0) or columns (axis 1) that output span `out` reads from input
    `index` (None: the union over inputs), clipped to the input (halo included)."""
    indices = range(len(layer.input_shapes)) if index is None else (index,)
    if not _row_tileable(layer):
        return (0, max(hwc(layer.input_shapes[i])[axis] for i in indices))
    spans = [traits(layer.op).input_span(layer, out, axis, i) for i in indices]
    return (min(s[0] for s in spans), max(s[1] for s in spans))


def input_region_rows(layer: Layer, rows: Span, index: int | None = None) -> Span:
    """Input rows [r0, r1) that output rows `rows` read, clipped to the input (halo included);
    from input `index`, or the union over inputs."""
    return _input_span(layer, rows, 0, index)


def input_region_cols(layer: Layer, cols: Span, index: int | None = None) -> Span:
    """Input columns that output columns `cols` read, clipped to the input (halo included);
    from input `index`, or the union over inputs."""
    return _input_span(layer, cols, 1, index)


def input_channels(layer: Layer, channels: Span, index: int | None = None) -> Span:
    """Input channels output channels `channels` read, from input `index` (None: a span
    covering what every input needs)."""
    op = traits(layer.op)
    indices = range(max(len(layer.input_shapes), 1)) if index is None else (index,)
    if not layer.input_shapes:
        return channels
    spans = [op.channels_read(layer, channels, i) for i in indices]
    spans = [s for s in spans if s[1] > s[0]] or spans[:1]
    return (min(s[0] for s in spans), max(s[1] for s in spans))


@dataclass(frozen=True)
class Sizes:
    """Byte sizes of tensors and filters at the configured bit widths and batch."""

    activation_bits: int
    weight_bits: int
    accumulator_bits: int
    batch: int = 1

    def elements_bytes(self, elements: int) -> int:
        """Bytes of `elements` activations (rounded up to whole bytes)."""
        return math.ceil(elements * self.activation_bits / 8)

    def fmap_bytes(self, shape: Shape) -> int:
        """Bytes of a whole feature map for the whole batch."""
        return self.elements_bytes(math.prod(shape) * self.batch)

    def weight_bytes(self, layer: Layer, channels: Span | None = None,
                     reduce: Span | None = None) -> int:
        """Bytes of the filters (weights at weight_bits, biases at accumulator_bits).

        Biases include the one folding a batch-norm creates (`Layer.stores_bias`).
        `channels` selects output channels; `reduce` selects input channels (a chunk of a
        split tile), whose filter rows carry the biases only in the last chunk. Shares are
        exact: weights split evenly over output channels and over input channels.
        """
        return _weight_bytes(layer, self.weight_bits, self.accumulator_bits, channels, reduce)

    def accumulator_bytes(self, elements: int) -> int:
        """Bytes of `elements` partial sums held at accumulator_bits."""
        return math.ceil(elements * self.accumulator_bits / 8)

    def region_bytes(self, shape: Shape, samples: Span, rows: Span, channels: Span,
                     cols: Span | None = None) -> int:
        """Bytes of a box of a feature map of per-sample `shape` (all columns by default)."""
        width = cols[1] - cols[0] if cols is not None else hwc(shape)[1]
        elements = (samples[1] - samples[0]) * (rows[1] - rows[0]) * width * (
            channels[1] - channels[0])
        return self.elements_bytes(elements)


@functools.lru_cache(maxsize=65536)
def _weight_bytes(layer: Layer, weight_bits: int, accumulator_bits: int, channels: Span | None,
                  reduce: Span | None) -> int:
    """`Sizes.weight_bytes`, cached: schedules ask for the same filters many times."""
    if not layer.is_weighted:
        return 0
    k0, k1 = channels if channels is not None else (0, layer.out_channels)
    cin = hwc(layer.input_shape)[2]
    i0, i1 = reduce if reduce is not None else (0, cin)
    weights = layer.weight_count * (k1 - k0) * (i1 - i0) // (layer.out_channels * cin)
    bias = (k1 - k0) if layer.stores_bias and i1 == cin else 0
    return math.ceil((weights * weight_bits + bias * accumulator_bits) / 8)


def bands(total: int, step: int) -> list[Span]:
    return [(i, min(i + step, total)) for i in range(0, total, step)]


def spatial_tiles(batch: int, rows: int, sample_step: int, row_step: int) -> list[
        tuple[Span, Span]]:
    """(samples, rows) bands covering the batch and every output row."""
    return [(s, r) for s in bands(batch, sample_step) for r in bands(rows, row_step)]


def channel_tiles(channels: int, step: int) -> list[Span]:
    """Output-channel ranges of `step` channels (the last may be shorter)."""
    return bands(channels, step)


@dataclass(frozen=True)
class Keep:
    """What a tiled layer keeps whole in SRAM instead of streaming it tile by tile.

    `inputs`: how many of the layer's distinct inputs are already resident and stay so
    (tiles read them in place: no DRAM reads); `output`: the output is allocated whole and
    the tiles fill it (no DRAM writes). What is kept occupies SRAM for the whole layer, so
    the caller searches with the capacity left beside it.
    """

    inputs: int = 0
    output: bool = False


STREAM = Keep()


@dataclass(frozen=True)
class TilePlan:
    """A chosen tiling: steps per dimension, loop order, its DRAM traffic and SRAM peak."""

    sample_step: int
    row_step: int
    channel_step: int
    order: LoopOrder | Literal["input_channels_inner"]
    read_bytes: int
    write_bytes: int
    peak_bytes: int
    tiles: int
    in_channel_step: int = 0  # 0: input channels not split
    col_step: int = 0  # 0: every tile spans all output columns
    keep: Keep = STREAM

    def describe(self, layer: Layer, batch: int) -> str:
        """E.g. 'rows 8/56 x ch 64/128 (7 tiles, weights_outer)'."""
        h, _, c = hwc(layer.output_shape)
        parts = []
        if batch > 1:
            parts.append(f"samples {self.sample_step}")
        parts.append(f"rows {self.row_step}/{h}")
        if self.col_step:
            parts.append(f"cols {self.col_step}/{hwc(layer.output_shape)[1]}")
        parts.append(f"ch {self.channel_step}/{c}")
        if self.in_channel_step:
            parts.append(f"in-ch {self.in_channel_step}/{hwc(layer.input_shape)[2]}")
        return f"{' x '.join(parts)} ({self.tiles} tiles, {self.order})"


def _band_sizes(total: int, step: int) -> list[tuple[int, int]]:
    """(how many, size) of the bands of `total` split into `step`s: full ones, remainder."""
    return [(n, size) for n, size in ((total // step, step), (1, total % step)) if n and size]


@functools.lru_cache(maxsize=4096)
def _channel_groups(layer: Layer, channel_step: int, order: str) -> list[tuple[int, int, int]]:
    """(how many, output channels, input channels held) over the layer's channel tiles.

    A tile holds the input channels its output channels read (for a grouped conv, the
    groups it spans, which depends on where it starts), or, in rows_outer order on a layer
    that is not channel-wise, every input channel (loaded once per spatial tile).
    """
    co = hwc(layer.output_shape)[2]
    everything = input_channels(layer, (0, co))
    kinds: dict[tuple[int, int], int] = {}
    for k0, k1 in channel_tiles(co, channel_step):
        span = everything if order == "rows_outer" and not channel_wise(layer) \
            else input_channels(layer, (k0, k1))
        key = (k1 - k0, span[1] - span[0])
        kinds[key] = kinds.get(key, 0) + 1
    return [(count, ch, width) for (ch, width), count in kinds.items()]


def _evaluate(layer: Layer, sizes: Sizes, sample_step: int, row_step: int, channel_step: int,
              order: LoopOrder, col_step: int = 0, keep: Keep = STREAM) -> TilePlan:
    """Traffic and peak SRAM of one candidate tiling, in closed form over its bands.

    Every tile holds its input regions, its channel group's filters and its output at
    once. Channel-wise layers read each input channel once whatever the order; other
    layers re-read the input per channel group when channel groups are the outer loop.
    Filters are re-read per spatial tile when spatial tiles are outer and there is more
    than one channel group. Kept inputs and a kept output move nothing and are not part of
    a tile's peak (they occupy SRAM beside the tiles, see Keep).
    """
    co = hwc(layer.output_shape)[2]
    streamed = len(dict.fromkeys(layer.inputs)) - keep.inputs
    writes = 0 if keep.output else 1
    in_area, out_area = _areas(layer, row_step, col_step)
    sample_bands = _band_sizes(sizes.batch, sample_step)
    channel_groups = _channel_groups(layer, channel_step, order)
    bits = sizes.activation_bits
    read = write = peak = 0
    for n_s, samples in sample_bands:
        for n_c, ch, width in channel_groups:
            inp = streamed * np.ceil(samples * in_area * width * bits / 8)
            out = writes * np.ceil(samples * out_area * ch * bits / 8)
            here = inp + sizes.weight_bytes(layer, (0, ch)) + out
            peak = max(peak, int(here.max()))
            write += n_s * n_c * int(out.sum())
            if channel_wise(layer) or order == "weights_outer":
                read += n_s * n_c * int(inp.sum())
        if not channel_wise(layer) and order == "rows_outer":
            full = input_channels(layer, (0, co))
            read += n_s * streamed * int(
                np.ceil(samples * in_area * (full[1] - full[0]) * bits / 8).sum())
    n_spatial = sum(n for n, _ in sample_bands) * len(in_area)
    n_groups = sum(n for n, _, _ in channel_groups)
    weight_reads = n_spatial if order == "rows_outer" and n_groups > 1 else 1
    read += sizes.weight_bytes(layer) * weight_reads
    return TilePlan(sample_step, row_step, channel_step, order, read, write, peak,
                    n_spatial * n_groups, col_step=col_step, keep=keep)


@functools.lru_cache(maxsize=65536)
def _axis_pairs(layer: Layer, step: int, axis: int) -> frozenset[tuple[int, int]]:
    """The distinct (input size incl. halo, output size) of the bands of `_axis_bands`,
    in plain integers (the peak check runs thousands of times per search)."""
    ins, outs = _axis_bands(layer, step, axis)
    return frozenset(zip(ins.tolist(), outs.tolist(), strict=True))


def tile_peak(layer: Layer, sizes: Sizes, sample_step: int, row_step: int, channel_step: int,
              order: LoopOrder, col_step: int = 0, keep: Keep = STREAM) -> int:
    """The SRAM peak of a candidate tiling: `_evaluate(...).peak_bytes`, without traffic."""
    streamed = len(dict.fromkeys(layer.inputs)) - keep.inputs
    writes = 0 if keep.output else 1
    bits = sizes.activation_bits
    areas = {(ri * ci, ro * co) for ri, ro in _axis_pairs(layer, row_step, 0)
             for ci, co in _axis_pairs(layer, col_step, 1)}
    peak = 0
    for _, samples in _band_sizes(sizes.batch, sample_step):
        for _, ch, width in _channel_groups(layer, channel_step, order):
            filters = sizes.weight_bytes(layer, (0, ch))
            for in_area, out_area in areas:
                inp = streamed * -(-samples * in_area * width * bits // 8)
                out = writes * -(-samples * out_area * ch * bits // 8)
                peak = max(peak, inp + filters + out)
    return peak


def _fits(layer: Layer, sizes: Sizes, capacity: int, samples: int, rows: int, channels: int,
          order: LoopOrder, keep: Keep) -> bool:
    return tile_peak(layer, sizes, samples, rows, channels, order, keep=keep) <= capacity


def _largest(predicate: Callable[[int], bool], lo: int, hi: int) -> int:
    """Largest x in [lo, hi] with predicate(x) true (predicate monotone, true-then-false);
    lo - 1 when none."""
    if not predicate(lo):
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if predicate(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _spatial_steps(layer: Layer, sizes: Sizes, capacity: int, channels: int,
                   order: LoopOrder, keep: Keep) -> tuple[int, int] | None:
    """Tallest fitting (samples, rows) band for a channel step, or None if none fits."""
    ho = hwc(layer.output_shape)[0]
    if _fits(layer, sizes, capacity, 1, ho, channels, order, keep):
        most = _largest(lambda b: _fits(layer, sizes, capacity, b, ho, channels, order, keep),
                        1, sizes.batch)
        return most, ho
    if not _row_tileable(layer):
        return None
    rows = _largest(lambda r: _fits(layer, sizes, capacity, 1, r, channels, order, keep),
                    1, ho - 1)
    return (1, rows) if rows >= 1 else None


def _candidates(layer: Layer, sizes: Sizes, capacity: int, order: LoopOrder,
                keep: Keep) -> list[TilePlan]:
    """Pruned candidates for one loop order.

    Smaller channel groups only ever let spatial bands grow. When the input is read
    once whatever the grouping (channel-wise layers, rows_outer), traffic depends only on
    the spatial bands, so the best plan is the tallest band reachable (found with
    one-channel groups) with the fewest groups that still reach it. Otherwise (weights_outer
    on a conv) every extra group re-reads the input, so the fewest groups that fit win;
    a couple more are tried in case taller bands save more halo than they cost.
    """
    co = hwc(layer.output_shape)[2]
    if layer.op in ("softmax", "flatten"):
        steps = _spatial_steps(layer, sizes, capacity, co, order, keep)
        return [] if steps is None else [_evaluate(layer, sizes, *steps, co, order, keep=keep)]
    if channel_wise(layer) or order == "rows_outer":
        steps = _spatial_steps(layer, sizes, capacity, 1, order, keep)
        if steps is None:
            return []
        channels = _largest(
            lambda c: _spatial_steps(layer, sizes, capacity, c, order, keep) == steps, 1, co)
        return [_evaluate(layer, sizes, *steps, channels, order, keep=keep)]
    plans: list[TilePlan] = []
    for groups in range(1, co + 1):
        channels = math.ceil(co / groups)
        if plans and channels == plans[-1].channel_step:
            continue
        steps = _spatial_steps(layer, sizes, capacity, channels, order, keep)
        if steps is not None:
            plans.append(_evaluate(layer, sizes, *steps, channels, order, keep=keep))
        if len(plans) == 3:
            break
    return plans


def _axis_bands(layer: Layer, step: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(input size incl. halo, output size) of each band of `step` output rows (axis 0) or
    columns (axis 1); step 0 means one band of the whole axis, reading the whole input."""
    out_size = hwc(layer.output_shape)[axis]
    if step == 0 or not _row_tileable(layer):
        starts = np.arange(0, out_size, step or out_size)
        ends = np.minimum(starts + (step or out_size), out_size)
        widest = max((hwc(s)[axis] for s in layer.input_shapes), default=out_size)
        return np.full(len(starts), widest), ends - starts
    starts = np.arange(0, out_size, step)
    ends = np.minimum(starts + step, out_size)
    if traits(layer.op).input_span is not window_span:  # upsampling, broadcasting inputs
        spans = [_input_span(layer, (int(a), int(b)), axis) for a, b in zip(starts, ends,
                                                                            strict=True)]
        return np.array([b - a for a, b in spans]), ends - starts
    k, stride, before = layer.kernel[axis], layer.stride[axis], layer.padding[2 * axis]
    size = layer.input_shape[axis]
    inputs = np.minimum((ends - 1) * stride - before + k, size) - np.maximum(
        starts * stride - before, 0)
    return inputs, ends - starts


def _areas(layer: Layer, row_step: int, col_step: int) -> tuple[np.ndarray, np.ndarray]:
    """(input area incl. halo, output area) of each spatial tile, rows x columns."""
    in_rows, out_rows = _axis_bands(layer, row_step, 0)
    in_cols, out_cols = _axis_bands(layer, col_step, 1)
    return np.outer(in_rows, in_cols).ravel(), np.outer(out_rows, out_cols).ravel()


def splits_input_channels(layer: Layer) -> bool:
    """Layers whose input channels can be split into chunks of partial sums."""
    return traits(layer.op).splits_input_channels(layer)


def _evaluate_split(layer: Layer, sizes: Sizes, row_step: int, channel_step: int,
                    in_step: int) -> TilePlan:
    """One output tile (one sample, a row band, a channel group) at a time; inside it, the
    input-channel chunks: each loads its input region and filter rows and adds into a
    resident partial-sum tile (accumulator_bits); the last chunk writes the output tile.

    Inputs are re-read once per channel group, filters once per spatial tile.
    """
    co = hwc(layer.output_shape)[2]
    cin = hwc(layer.input_shape)[2]
    in_area, out_area = _areas(layer, row_step, 0)
    groups = _band_sizes(co, channel_step)
    chunks = _band_sizes(cin, in_step)
    bits = sizes.activation_bits
    read = write = peak = 0
    for n_c, ch in groups:
        psum = np.ceil(out_area * ch * sizes.accumulator_bits / 8)
        out = np.ceil(out_area * ch * bits / 8)
        write += n_c * int(out.sum())
        for n_i, ic in chunks:
            inp = np.ceil(in_area * ic * bits / 8)
            filters = sizes.weight_bytes(layer, (0, ch), (0, ic))
            # The last chunk also holds its biases and the output tile it finishes into.
            bias = sizes.accumulator_bytes(ch) if layer.stores_bias else 0
            peak = max(peak, int((inp + psum + out).max()) + filters + bias)
            read += n_c * n_i * (int(inp.sum()) + filters * len(in_area))
        if layer.stores_bias:  # the last chunk's filter rows carry the biases
            read += n_c * len(in_area) * sizes.accumulator_bytes(ch)
    tiles = len(in_area) * sum(n for n, _ in groups) * sum(n for n, _ in chunks)
    return TilePlan(1, row_step, channel_step, "input_channels_inner", read * sizes.batch,
                    write * sizes.batch, peak, tiles * sizes.batch, in_step)


def _split_candidates(layer: Layer, sizes: Sizes, capacity: int) -> list[TilePlan]:
    """Tilings that also split input channels, for layers nothing else fits.

    Traffic does not depend on the chunk size in this loop order, only on the output
    tiles; so output tiles are chosen with one-channel chunks (the most room), then the
    largest chunk that still fits them is taken (the fewest steps).
    """
    ho, _, co = hwc(layer.output_shape)
    cin = hwc(layer.input_shape)[2]
    best: TilePlan | None = None
    for channels in sorted({math.ceil(co / g) for g in range(1, co + 1)}, reverse=True):
        def fits(r: int, channels: int = channels) -> bool:
            return _evaluate_split(layer, sizes, r, channels, 1).peak_bytes <= capacity
        if not _row_tileable(layer):
            rows = ho if fits(ho) else 0
        else:
            rows = _largest(fits, 1, ho)
        if rows < 1:
            continue
        plan = _evaluate_split(layer, sizes, rows, channels, 1)
        if best is None or plan.read_bytes + plan.write_bytes < best.read_bytes + \
                best.write_bytes:
            best = plan
    if best is None:
        return []
    step = _largest(lambda i: _evaluate_split(layer, sizes, best.row_step, best.channel_step,
                                              i).peak_bytes <= capacity, 1, cin)
    return [_evaluate_split(layer, sizes, best.row_step, best.channel_step, step)]


def _column_candidates(layer: Layer, sizes: Sizes, capacity: int, keep: Keep) -> list[TilePlan]:
    """Tilings that also split output columns.

    Column bands add a horizontal halo but let more rows and channels share a tile, which
    can save more re-reads than the halo costs; they compete with full-width tiles on
    traffic. For each order and the first few channel-group sizes that fit, the widest
    band that fits one row is found, then the tallest band of that width.
    """
    ho, wo, co = hwc(layer.output_shape)
    if not _row_tileable(layer) or wo == 1:
        return []
    plans: list[TilePlan] = []
    for order in ("weights_outer", "rows_outer"):
        found = 0
        for channels in sorted({math.ceil(co / g) for g in range(1, co + 1)}, reverse=True):
            def fits(rows: int, cols: int, channels: int = channels,
                     order: LoopOrder = order) -> bool:
                return tile_peak(layer, sizes, 1, rows, channels, order, cols, keep) <= capacity
            cols = _largest(lambda c: fits(1, c), 1, wo - 1)
            if cols < 1:
                continue
            def fits_rows(rows: int, cols: int = cols) -> bool:
                return fits(rows, cols)
            rows = _largest(fits_rows, 1, ho)
            plans.append(_evaluate(layer, sizes, 1, rows, channels, order, cols, keep))
            found += 1
            if found == 4:
                break
    return plans


def _traffic(plan: TilePlan) -> int:
    return plan.read_bytes + plan.write_bytes


def _once(layer: Layer, sizes: Sizes, keep: Keep = STREAM) -> int:
    """Bytes of reading every streamed input and filter byte and writing a streamed output,
    once each."""
    shapes = list(dict.fromkeys(zip(layer.inputs, layer.input_shapes, strict=True)))
    inputs = sum(sizes.fmap_bytes(shape) for _, shape in shapes[keep.inputs:])
    output = 0 if keep.output else sizes.fmap_bytes(layer.output_shape)
    return inputs + sizes.weight_bytes(layer) + output


def least_network_traffic(net: Network, sizes: Sizes) -> int:
    """DRAM bytes no schedule of `net` can go below: every filter, the network inputs and
    outputs, once each (the bound sub-batching and fusion stop searching at)."""
    weights = sum(sizes.weight_bytes(layer) for layer in net.layers())
    ends = (*net.inputs, *net.outputs)
    return weights + sum(sizes.fmap_bytes(net.layer(n).output_shape) for n in ends)


#: More tiles than this for one layer means the SRAM is absurdly small for the network;
#: the schedule would take minutes to build, so it is refused with a clear error instead.
MAX_TILES = 100_000


@functools.lru_cache(maxsize=4096)
def search_tiles(layer: Layer, sizes: Sizes, capacity: int, keep: Keep = STREAM) -> TilePlan:
    """The least-traffic tiling of `layer` whose every tile fits in `capacity` bytes.

    `capacity` is what is left beside anything kept whole (see Keep). Full-width tiles,
    column bands and (for conv and dense layers that stream their input) input-channel
    chunks all compete: least DRAM traffic, then fewest tiles; column bands are skipped
    when a full-width plan already moves every byte once. Raises ScheduleError naming the
    layer when no tile fits, or when every plan needs more than MAX_TILES tiles.
    """
    plans = _candidates(layer, sizes, capacity, "weights_outer", keep) + _candidates(
        layer, sizes, capacity, "rows_outer", keep)
    if not plans or min(_traffic(p) for p in plans) > _once(layer, sizes, keep):
        plans += _column_candidates(layer, sizes, capacity, keep)
        if keep == STREAM and splits_input_channels(layer):
            plans += _split_candidates(layer, sizes, capacity)
    if not plans:
        smallest = _evaluate(layer, sizes, 1, 1 if _row_tileable(layer) else
                             hwc(layer.output_shape)[0], 1, "weights_outer", keep=keep)
        raise ScheduleError(
            f"layer {layer.name!r} ({layer.op}) cannot run in {capacity} bytes of SRAM: its "
            f"smallest tile needs {smallest.peak_bytes} bytes; raise hardware.sram.capacity"
        )
    usable = [p for p in plans if p.tiles <= MAX_TILES]
    if not usable:
        fewest = min(p.tiles for p in plans)
        raise ScheduleError(
            f"layer {layer.name!r} ({layer.op}) would need {fewest:,} tiles in {capacity} bytes "
            f"of SRAM (more than {MAX_TILES:,}); raise hardware.sram.capacity"
        )
    return min(usable, key=lambda p: (_traffic(p), p.tiles))
