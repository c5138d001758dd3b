"""OpTraits: everything the IR, the mapping and the cost models need to know about one op.

Each operator family module (conv, dense, pool, elementwise, activation, channels, resize,
shape) builds an OpTraits per op and registers it; every stage asks the registry instead of
testing op names. Defaults describe a weightless, channel-wise, row-tileable element-wise
op, so a new element-wise op states only what differs. Spans are half-open [start, stop).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accelsim.ir.layers import Layer

__all__ = ["OpTraits", "Span", "elementwise_span", "hwc", "same_padding", "window_padding",
           "window_span", "zero"]

Span = tuple[int, int]
Shape = tuple[int, ...]


def hwc(shape: Shape) -> tuple[int, int, int]:
    """A tensor shape as (rows, cols, channels): vectors are 1 x 1 x N."""
    if len(shape) == 3:
        return (shape[0], shape[1], shape[2])
    return (1, 1, math.prod(shape))


def zero(layer: Layer) -> int:
    """A count that is 0 for this op."""
    return 0


def elementwise_span(layer: Layer, out: Span, axis: int, index: int = 0) -> Span:
    """Element-wise ops read the same rows (or columns); a broadcast (1-row) input, row 0."""
    size = hwc(layer.input_shapes[index])[axis]
    return out if size == hwc(layer.output_shape)[axis] else (0, size)


def window_span(layer: Layer, out: Span, axis: int, index: int = 0) -> Span:
    """Rows (axis 0) or columns (axis 1) a sliding window over `out` reads, clipped."""
    k, stride, before = layer.kernel[axis], layer.stride[axis], layer.padding[2 * axis]
    first = out[0] * stride - before
    last = (out[1] - 1) * stride - before + k  # exclusive
    return (max(first, 0), min(last, hwc(layer.input_shape)[axis]))


def window_padding(layer: Layer, out: Span, got: Span, axis: int) -> tuple[int, int]:
    """The padding a window tile sees: what the layer pads, as far as the tile reaches."""
    k, stride, before = layer.kernel[axis], layer.stride[axis], layer.padding[2 * axis]
    first = out[0] * stride - before
    last = (out[1] - 1) * stride - before + k
    return (got[0] - first, last - got[1])


def same_padding(layer: Layer, out: Span, got: Span, axis: int) -> tuple[int, int]:
    """Ops without a window take the layer's own padding on every tile."""
    return (layer.padding[2 * axis], layer.padding[2 * axis + 1])


def _all_channels(layer: Layer, channels: Span, index: int = 0) -> Span:
    return (0, hwc(layer.input_shapes[index])[2])


def _output_elements(layer: Layer) -> int:
    return layer.output_elements


@dataclass(frozen=True)
class OpTraits:
    """The traits of one op.

    - ``macs``, ``weight_count``: multiply-accumulates and filter coefficients per sample;
      ``vector_elements``: elements of non-MAC work per sample (costed at
      ``compute.vector_rate``; a fused activation adds its output elements elsewhere).
    - ``weighted``: carries filters (conv, dense); ``spatial``: tiles see a padding that
      depends on where they are (``tile_padding``).
    - ``channel_wise(layer)``: output channel k reads input channel k only;
      ``input_channels(layer, span, index)``: the channels of input `index` an
      output-channel span reads.
    - ``row_tileable``: output rows come from a band of input rows, given by
      ``input_span(layer, out, axis, index)`` (halo included, clipped to the input).
    - ``splits_input_channels``: input channels can be split into partial sums.
    - ``param_shapes``: the op's own parameter arrays (weights.py layout) besides the bias
      and batch-norm vectors every weighted layer may carry.
    - ``onnx_ops``: the ONNX operators imported as this op (documentation and --check).
    """

    name: str
    description: str
    macs: Callable[[Layer], int] = zero
    weight_count: Callable[[Layer], int] = zero
    vector_elements: Callable[[Layer], int] = _output_elements
    weighted: bool = False
    spatial: bool = False
    channel_wise: Callable[[Layer], bool] = lambda layer: True
    input_channels: Callable[[Layer, Span, int], Span] | None = None
    row_tileable: bool = True
    input_span: Callable[[Layer, Span, int, int], Span] = elementwise_span
    tile_padding: Callable[[Layer, Span, Span, int], tuple[int, int]] = same_padding
    splits_input_channels: Callable[[Layer], bool] = lambda layer: False
    param_shapes: Callable[[Layer], dict[str, Shape]] = lambda layer: {}
    onnx_ops: tuple[str, ...] = ()

    def channels_read(self, layer: Layer, channels: Span, index: int = 0) -> Span:
        """Channels of input `index` output channels `channels` read (all unless the op says)."""
        if self.input_channels is not None:
            return self.input_channels(layer, channels, index)
        return channels if self.channel_wise(layer) else _all_channels(layer, channels, index)
