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

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from accelsim.errors import ScheduleError
from accelsim.ir.layers import Layer, Shape

__all__ = ["Sizes", "TilePlan", "channel_wise", "hwc", "input_region_rows", "search_tiles",
           "spatial_tiles", "channel_tiles", "splits_input_channels", "tile_input_bytes"]

Span = tuple[int, int]
LoopOrder = Literal["weights_outer", "rows_outer"]


def hwc(shape: Shape) -> tuple[int, int, int]:
    """A tensor shape as (rows, cols, channels): vectors are 1 x 1 x N."""
    if len(shape) == 3:
        return (shape[0], shape[1], shape[2])
    return (1, 1, math.prod(shape))


def channel_wise(layer: Layer) -> bool:
    """True when output channel k needs only input channel k (depthwise, pools, adds...)."""
    return layer.op not in ("conv2d", "dense", "softmax", "flatten") or (
        layer.op == "conv2d" and layer.groups == layer.in_channels == layer.out_channels
    )


def _row_tileable(layer: Layer) -> bool:
    """Ops whose output rows can be computed from a band of input rows."""
    return layer.op not in ("dense", "softmax", "flatten", "input") and len(
        layer.output_shape) == 3


def input_region_rows(layer: Layer, rows: Span) -> Span:
    """Input rows [r0, r1) that output rows `rows` read, clipped to the input (halo included)."""
    if not _row_tileable(layer):
        return (0, hwc(layer.input_shape)[0])
    kh, sh, top = layer.kernel[0], layer.stride[0], layer.padding[0]
    height = layer.input_shape[0]
    first = rows[0] * sh - top
    last = (rows[1] - 1) * sh - top + kh  # exclusive
    return (max(first, 0), min(last, height))


def _input_channels(layer: Layer, channels: Span) -> Span:
    """Input channels output channels `channels` read."""
    cin = hwc(layer.input_shape)[2]
    if channel_wise(layer):
        return channels
    if layer.op == "conv2d" and layer.groups > 1:
        per_in, per_out = cin // layer.groups, layer.out_channels // layer.groups
        g0, g1 = channels[0] // per_out, (channels[1] - 1) // per_out + 1
        return (g0 * per_in, g1 * per_in)
    return (0, cin)


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

        `channels` selects output channels; `reduce` selects input channels (a chunk of a
        split tile), whose filter rows carry the biases only in the last chunk.
        """
        if not layer.is_weighted:
            return 0
        k0, k1 = channels if channels is not None else (0, layer.out_channels)
        cin = hwc(layer.input_shape)[2]
        i0, i1 = reduce if reduce is not None else (0, cin)
        share = (k1 - k0) / layer.out_channels * (i1 - i0) / cin
        weights = round(layer.weight_count * share)
        bias = (k1 - k0) if layer.use_bias and i1 == cin else 0
        return math.ceil((weights * self.weight_bits + bias * self.accumulator_bits) / 8)

    def accumulator_bytes(self, elements: int) -> int:
        """Bytes of `elements` partial sums held at accumulator_bits."""
        return math.ceil(elements * self.accumulator_bits / 8)

    def region_bytes(self, shape: Shape, samples: Span, rows: Span, channels: Span) -> int:
        """Bytes of a box of a feature map of per-sample `shape`."""
        _, w, _ = hwc(shape)
        elements = (samples[1] - samples[0]) * (rows[1] - rows[0]) * w * (
            channels[1] - channels[0])
        return self.elements_bytes(elements)


def _bands(total: int, step: int) -> list[Span]:
    return [(i, min(i + step, total)) for i in range(0, total, step)]


def spatial_tiles(batch: int, rows: int, sample_step: int, row_step: int) -> list[
        tuple[Span, Span]]:
    """(samples, rows) bands covering the batch and every output row."""
    return [(s, r) for s in _bands(batch, sample_step) for r in _bands(rows, row_step)]


def channel_tiles(channels: int, step: int) -> list[Span]:
    """Output-channel ranges of `step` channels (the last may be shorter)."""
    return _bands(channels, step)


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

    def describe(self, layer: Layer, batch: int) -> str:
        """E.g. 'rows 8/56 x ch 64/128 (7 tiles, weights_outer)'."""
        h, _, c = hwc(layer.output_shape)
        parts = []
        if batch > 1:
            parts.append(f"samples {self.sample_step}")
        parts += [f"rows {self.row_step}/{h}", f"ch {self.channel_step}/{c}"]
        if self.in_channel_step:
            parts.append(f"in-ch {self.in_channel_step}/{hwc(layer.input_shape)[2]}")
        return f"{' x '.join(parts)} ({self.tiles} tiles, {self.order})"


def tile_input_bytes(layer: Layer, sizes: Sizes, samples: Span, rows: Span,
                     channels: Span) -> int:
    """Bytes of every input region one output tile reads (halo rows included)."""
    in_rows = input_region_rows(layer, rows)
    span = _input_channels(layer, channels)
    return sum(sizes.region_bytes(shape, samples, in_rows, span) for shape in layer.input_shapes)


def _band_sizes(total: int, step: int) -> list[tuple[int, int]]:
    """(how many, size) of the bands of `total` split into `step`s: full ones, remainder."""
    return [(n, size) for n, size in ((total // step, step), (1, total % step)) if n and size]


def _evaluate(layer: Layer, sizes: Sizes, sample_step: int, row_step: int, channel_step: int,
              order: LoopOrder) -> TilePlan:
    """Traffic and peak SRAM of one candidate tiling, in closed form over its bands.

    Every tile holds its input regions, its channel group's filters and its output at
    once. Channel-wise layers read each input channel once whatever the order; other
    layers re-read the input per channel group when channel groups are the outer loop.
    Filters are re-read per spatial tile when spatial tiles are outer and there is more
    than one channel group.
    """
    _, wo, co = hwc(layer.output_shape)
    in_rows, out_rows = _row_bands(layer, row_step)
    sample_bands = _band_sizes(sizes.batch, sample_step)
    channel_groups = _band_sizes(co, channel_step)
    bits = sizes.activation_bits
    read = write = peak = 0
    for n_s, samples in sample_bands:
        for n_c, ch in channel_groups:
            span = _input_channels(layer, (0, ch))
            inp = sum(
                (np.ceil(samples * in_rows * hwc(shape)[1] * (span[1] - span[0]) * bits / 8)
                 for shape in layer.input_shapes), np.zeros(len(in_rows)))
            out = np.ceil(samples * out_rows * wo * ch * bits / 8)
            tile_peak = inp + sizes.weight_bytes(layer, (0, ch)) + out
            peak = max(peak, int(tile_peak.max()))
            write += n_s * n_c * int(out.sum())
            if channel_wise(layer) or order == "weights_outer":
                read += n_s * n_c * int(inp.sum())
        if not channel_wise(layer) and order == "rows_outer":
            read += n_s * int(inp.sum())
    n_spatial = sum(n for n, _ in sample_bands) * len(in_rows)
    n_groups = sum(n for n, _ in channel_groups)
    weight_reads = n_spatial if order == "rows_outer" and n_groups > 1 else 1
    read += sizes.weight_bytes(layer) * weight_reads
    return TilePlan(sample_step, row_step, channel_step, order, read, write, peak,
                    n_spatial * n_groups)


def _fits(layer: Layer, sizes: Sizes, capacity: int, samples: int, rows: int, channels: int,
          order: LoopOrder) -> bool:
    return _evaluate(layer, sizes, samples, rows, channels, order).peak_bytes <= capacity


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
                   order: LoopOrder) -> tuple[int, int] | None:
    """Tallest fitting (samples, rows) band for a channel step, or None if none fits."""
    ho = hwc(layer.output_shape)[0]
    if _fits(layer, sizes, capacity, 1, ho, channels, order):
        most = _largest(lambda b: _fits(layer, sizes, capacity, b, ho, channels, order),
                        1, sizes.batch)
        return most, ho
    if not _row_tileable(layer):
        return None
    rows = _largest(lambda r: _fits(layer, sizes, capacity, 1, r, channels, order), 1, ho - 1)
    return (1, rows) if rows >= 1 else None


def _candidates(layer: Layer, sizes: Sizes, capacity: int, order: LoopOrder) -> list[TilePlan]:
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
        steps = _spatial_steps(layer, sizes, capacity, co, order)
        return [] if steps is None else [_evaluate(layer, sizes, *steps, co, order)]
    if channel_wise(layer) or order == "rows_outer":
        steps = _spatial_steps(layer, sizes, capacity, 1, order)
        if steps is None:
            return []
        channels = _largest(
            lambda c: _spatial_steps(layer, sizes, capacity, c, order) == steps, 1, co)
        return [_evaluate(layer, sizes, *steps, channels, order)]
    plans: list[TilePlan] = []
    for groups in range(1, co + 1):
        channels = math.ceil(co / groups)
        if plans and channels == plans[-1].channel_step:
            continue
        steps = _spatial_steps(layer, sizes, capacity, channels, order)
        if steps is not None:
            plans.append(_evaluate(layer, sizes, *steps, channels, order))
        if len(plans) == 3:
            break
    return plans


def _row_bands(layer: Layer, row_step: int) -> tuple[np.ndarray, np.ndarray]:
    """(input rows incl. halo, output rows) of each band of `row_step` output rows."""
    ho = hwc(layer.output_shape)[0]
    starts = np.arange(0, ho, row_step)
    ends = np.minimum(starts + row_step, ho)
    if not _row_tileable(layer):
        return np.full(len(starts), hwc(layer.input_shape)[0]), ends - starts
    kh, sh, top = layer.kernel[0], layer.stride[0], layer.padding[0]
    height = layer.input_shape[0]
    in_rows = np.minimum((ends - 1) * sh - top + kh, height) - np.maximum(starts * sh - top, 0)
    return in_rows, ends - starts


def splits_input_channels(layer: Layer) -> bool:
    """Layers whose input channels can be split into chunks of partial sums."""
    return layer.op == "dense" or (layer.op == "conv2d" and layer.groups == 1)


def _evaluate_split(layer: Layer, sizes: Sizes, row_step: int, channel_step: int,
                    in_step: int) -> TilePlan:
    """One output tile (one sample, a row band, a channel group) at a time; inside it, the
    input-channel chunks: each loads its input region and filter rows and adds into a
    resident partial-sum tile (accumulator_bits); the last chunk writes the output tile.

    Inputs are re-read once per channel group, filters once per spatial tile.
    """
    _, wo, co = hwc(layer.output_shape)
    _, win, cin = hwc(layer.input_shape)
    in_rows, out_rows = _row_bands(layer, row_step)
    groups = _band_sizes(co, channel_step)
    chunks = _band_sizes(cin, in_step)
    bits = sizes.activation_bits
    read = write = peak = 0
    for n_c, ch in groups:
        psum = np.ceil(out_rows * wo * ch * sizes.accumulator_bits / 8)
        out = np.ceil(out_rows * wo * ch * bits / 8)
        write += n_c * int(out.sum())
        for n_i, ic in chunks:
            inp = np.ceil(in_rows * win * ic * bits / 8)
            filters = sizes.weight_bytes(layer, (0, ch), (0, ic))
            # The last chunk also holds its biases and the output tile it finishes into.
            bias = sizes.accumulator_bytes(ch) if layer.use_bias else 0
            peak = max(peak, int((inp + psum + out).max()) + filters + bias)
            read += n_c * n_i * (int(inp.sum()) + filters * len(in_rows))
        if layer.use_bias:  # the last chunk's filter rows carry the biases
            read += n_c * len(in_rows) * sizes.accumulator_bytes(ch)
    tiles = len(in_rows) * sum(n for n, _ in groups) * sum(n for n, _ in chunks)
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
    rows_max = ho if _row_tileable(layer) else ho
    best: TilePlan | None = None
    for channels in sorted({math.ceil(co / g) for g in range(1, co + 1)}, reverse=True):
        def fits(r: int, channels: int = channels) -> bool:
            return _evaluate_split(layer, sizes, r, channels, 1).peak_bytes <= capacity
        if not _row_tileable(layer):
            rows = ho if fits(ho) else 0
        else:
            rows = _largest(fits, 1, rows_max)
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


def search_tiles(layer: Layer, sizes: Sizes, capacity: int) -> TilePlan:
    """The least-traffic tiling of `layer` whose every tile fits in `capacity` bytes.

    Raises ScheduleError naming the layer when even a one-row, one-channel tile is too big.
    """
    plans = _candidates(layer, sizes, capacity, "weights_outer") + _candidates(
        layer, sizes, capacity, "rows_outer")
    if not plans and splits_input_channels(layer):
        plans = _split_candidates(layer, sizes, capacity)
    if not plans:
        smallest = _evaluate(layer, sizes, 1, 1 if _row_tileable(layer) else
                             hwc(layer.output_shape)[0], 1, "weights_outer")
        raise ScheduleError(
            f"layer {layer.name!r} ({layer.op}) cannot run in {capacity} bytes of SRAM: its "
            f"smallest tile needs {smallest.peak_bytes} bytes; raise hardware.sram.capacity"
        )
    return min(plans, key=lambda p: (p.read_bytes + p.write_bytes, p.tiles))
