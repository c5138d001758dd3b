"""Channel movement: concat, channel_slice, channel_shuffle, and where views live.

A concat is a view in space: its producers write their channel slices of one buffer and
the concat itself moves nothing. A channel_slice of channels [start, stop)
(``Layer.channel_range``; ONNX Split and Slice) is a view of that channel range of its
input. channel_shuffle (ShuffleNet's reshape-transpose-reshape with ``groups``) moves
every element once: output channel k*groups + g is input channel g*(C/groups) + k.

`plan_views` decides, for a whole network, which buffer every feature map lives in. Each
tensor lives in one *root* buffer at a channel offset. Concats are visited last first; a
concat places each input at its offset of the concat's own place, so nested concats
(``concat(concat(a, b), c)``) share the outermost buffer. A concat whose inputs already
sit side by side, in order, in one buffer (DenseNet's ``concat(x0..xk)`` for every k,
each a prefix of the last) is a view of that range and places nothing. A concat copies
all its inputs (``Layer.concat_copies``; vector work of its output elements, a buffer of
its own) when one input cannot be placed: the network input (it arrives in DRAM on its
own), a channel slice (already a view of another buffer), an input listed twice, an input
another concat already placed elsewhere, or a fused activation on the concat. One tensor
lives in one buffer, so incompatible concats of the same tensor fall back to this copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accelsim.ir.ops.traits import OpTraits, Span

if TYPE_CHECKING:
    from accelsim.ir.layers import Layer

__all__ = ["CHANNEL_OPS", "ChannelViews", "concat_offsets", "mark_copies", "plan_views",
           "shuffle_order"]


def concat_offsets(layer: Layer) -> list[int]:
    """First output channel of each input of a concat."""
    offsets, total = [], 0
    for shape in layer.input_shapes:
        offsets.append(total)
        total += shape[-1]
    return offsets


@dataclass(frozen=True)
class ChannelViews:
    """Where every feature map lives: `home` maps a tensor held inside another tensor's
    buffer to (that root, its first channel there); `copies` maps a concat that copies its
    inputs to the reason; `views` names the layers that write nothing (view concats and
    channel slices)."""

    home: Mapping[str, tuple[str, int]]
    copies: Mapping[str, str]
    views: frozenset[str]

    def root(self, tensor: str) -> str:
        """The tensor whose buffer holds `tensor` (itself when it has its own)."""
        return self.home.get(tensor, (tensor, 0))[0]

    def offset(self, tensor: str) -> int:
        """The first channel of `tensor` in its root's buffer."""
        return self.home.get(tensor, (tensor, 0))[1]


def _why_copy(layer: Layer, by_name: Mapping[str, Layer], home: Mapping[str, tuple[str, int]],
              place: tuple[str, int]) -> str:
    """Why concat `layer`, placed at `place`, cannot hold its inputs as views ('' if it can)."""
    if layer.activation != "none":
        return f"concat {layer.name} applies {layer.activation} to what it joins"
    for index, (src, offset) in enumerate(zip(layer.inputs, concat_offsets(layer),
                                              strict=True)):
        op = by_name[src].op
        if op == "input":
            return f"{src} is the network input (it arrives in DRAM on its own)"
        if op == "channel_slice":
            return f"{src} is a channel slice (a view of another buffer)"
        if src in layer.inputs[:index]:
            return f"{src} is concatenated twice"
        want = (place[0], place[1] + offset)
        if home.get(src, want) != want:
            root, at = home[src]
            size = by_name[src].output_shape[-1]
            return f"{src} already lives in channels {at}-{at + size} of {root}"
    return ""


def _sits_in_order(layer: Layer, home: Mapping[str, tuple[str, int]]) -> tuple[str, int] | None:
    """(root, first channel) when every input of concat `layer` already sits there side by
    side in order (the concat is then a view of that range), else None."""
    spots = [home.get(src) for src in layer.inputs]
    first = spots[0]
    if first is None or layer.activation != "none":
        return None
    for spot, offset in zip(spots, concat_offsets(layer), strict=True):
        if spot != (first[0], first[1] + offset):
            return None
    return first


def plan_views(layers: Sequence[Layer]) -> ChannelViews:
    """The buffer of every feature map of a network given in execution order (see module)."""
    by_name = {layer.name: layer for layer in layers}
    home: dict[str, tuple[str, int]] = {}
    copies: dict[str, str] = {}
    for layer in reversed(layers):
        if layer.op != "concat":
            continue
        if layer.name not in home:
            shared = _sits_in_order(layer, home)
            if shared is not None:
                home[layer.name] = shared
                continue
        place = home.get(layer.name, (layer.name, 0))
        reason = _why_copy(layer, by_name, home, place)
        if reason:
            copies[layer.name] = reason
            continue
        for src, offset in zip(layer.inputs, concat_offsets(layer), strict=True):
            home[src] = (place[0], place[1] + offset)
    for layer in layers:
        if layer.op == "channel_slice":
            root, at = home.get(layer.inputs[0], (layer.inputs[0], 0))
            home[layer.name] = (root, at + layer.channel_range[0])
    views = frozenset(layer.name for layer in layers if layer.op == "channel_slice" or (
        layer.op == "concat" and layer.name not in copies))
    return ChannelViews(home, copies, views)


def mark_copies(layers: Sequence[Layer]) -> list[Layer]:
    """The layers with `concat_copies` set on the concats `plan_views` makes copy."""
    copies = plan_views(layers).copies
    return [dataclasses.replace(layer, concat_copies=layer.name in copies)
            if layer.op == "concat" else layer for layer in layers]


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
    OpTraits("concat", "channel concatenation (a view; a copy when its inputs cannot all be "
             "views)", vector_elements=lambda layer: layer.output_elements * layer.concat_copies,
             channel_wise=lambda layer: False, input_channels=_concat_channels,
             onnx_ops=("Concat",)),
    OpTraits("channel_slice", "channels [start, stop) of a map (a view)",
             vector_elements=lambda layer: 0, channel_wise=lambda layer: False,
             input_channels=_slice_channels, onnx_ops=("Split", "Slice")),
    OpTraits("channel_shuffle", "ShuffleNet channel shuffle", channel_wise=lambda layer: False,
             onnx_ops=("Reshape", "Transpose")),
)
