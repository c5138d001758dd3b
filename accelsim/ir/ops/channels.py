"""Channel movement: concat, channel_slice, channel_shuffle.

concat is a view: its producers write their channel slices of one output buffer, so it
does no vector work (a schedule still holds its inputs and output as buffers). A
channel_slice of channels [start, stop) (``Layer.channel_range``; ONNX Split and Slice) is
also a view. channel_shuffle (ShuffleNet's reshape-transpose-reshape with ``groups``)
moves every element once: output channel k*groups + g is input channel g*(C/groups) + k.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accelsim.ir.ops.traits import OpTraits, Span

if TYPE_CHECKING:
    from accelsim.ir.layers import Layer

__all__ = ["CHANNEL_OPS", "concat_offsets", "shuffle_order"]


def concat_offsets(layer: Layer) -> list[int]:
    """First output channel of each input of a concat."""
    offsets, total = [], 0
    for shape in layer.input_shapes:
        offsets.append(total)
        total += shape[-1]
    return offsets


def _concat_channels(layer: Layer, channels: Span, index: int) -> Span:
    """The part of input `index` inside output channels `channels` (empty if none)."""
    offset, size = concat_offsets(layer)[index], layer.input_shapes[index][-1]
    lo = min(max(channels[0] - offset, 0), size)
    return (lo, max(lo, min(channels[1] - offset, size)))


def _slice_channels(layer: Layer, channels: Span, index: int) -> Span:
    start = layer.channel_range[0]
    return (start + channels[0], start + channels[1])


def shuffle_order(channels: int, groups: int) -> list[int]:
    """Input channel of each output channel of a channel shuffle."""
    per = channels // groups
    return [g * per + k for k in range(per) for g in range(groups)]


CHANNEL_OPS: tuple[OpTraits, ...] = (
    OpTraits("concat", "channel concatenation (a view: no copy)",
             vector_elements=lambda layer: 0, channel_wise=lambda layer: False,
             input_channels=_concat_channels, onnx_ops=("Concat",)),
    OpTraits("channel_slice", "channels [start, stop) of a map (a view)",
             vector_elements=lambda layer: 0, channel_wise=lambda layer: False,
             input_channels=_slice_channels, onnx_ops=("Split", "Slice")),
    OpTraits("channel_shuffle", "ShuffleNet channel shuffle", channel_wise=lambda layer: False,
             onnx_ops=("Reshape", "Transpose")),
)
