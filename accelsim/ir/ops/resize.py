"""Resize (upsampling) by integer factors: nearest or bilinear (half-pixel centres).

``Layer.stride`` holds the (rows, cols) scale factors and ``Layer.mode`` the mode. Output
row o reads input row o // s (nearest) or rows floor((o + 0.5) / s - 0.5) and the next,
clamped (bilinear). A tile resizes its input band and crops: with integer factors every
output element then sees the same inputs and weights as in the whole map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accelsim.ir.ops.traits import OpTraits, Span, hwc

if TYPE_CHECKING:
    from accelsim.ir.layers import Layer

__all__ = ["RESIZE_MODES", "RESIZE_OPS"]

RESIZE_MODES: tuple[str, ...] = ("nearest", "bilinear")


def _span(layer: Layer, out: Span, axis: int, index: int = 0) -> Span:
    s, size = layer.stride[axis], hwc(layer.input_shape)[axis]
    if layer.mode == "nearest":
        return (out[0] // s, (out[1] - 1) // s + 1)
    first = (2 * out[0] + 1 - s) // (2 * s)  # floor((o + 0.5) / s - 0.5)
    last = (2 * (out[1] - 1) + 1 - s) // (2 * s) + 2
    return (max(first, 0), min(last, size))


def _crop(layer: Layer, out: Span, got: Span, axis: int) -> tuple[int, int]:
    s = layer.stride[axis]
    before = out[0] - got[0] * s
    return (before, (got[1] - got[0]) * s - before - (out[1] - out[0]))


RESIZE_OPS: tuple[OpTraits, ...] = (
    OpTraits("resize", "upsampling by integer factors (nearest, bilinear)",
             vector_elements=lambda layer: layer.output_elements * (
                 1 if layer.mode == "nearest" else 4),
             spatial=True, input_span=_span, tile_padding=_crop,
             onnx_ops=("Resize", "Upsample")),
)
