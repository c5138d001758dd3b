"""Convolutions: conv2d, depthwise_conv2d (groups = channels) and conv_transpose.

A transposed convolution scatters every input pixel through the kernel: its uncropped
output has (H - 1) * stride + k rows, of which ``padding`` crops (top, bottom, left,
right); output padding is stored as a negative crop. MACs = input elements x output
channels / groups x kernel area. Weight layouts (weights.py): conv (kh, kw, cin/g, cout),
conv_transpose (kh, kw, cin, cout/g).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accelsim.ir.ops.traits import OpTraits, Span, hwc, window_padding, window_span

if TYPE_CHECKING:
    from accelsim.ir.layers import Layer

__all__ = ["CONV_OPS", "scatter_conv"]


def _conv_weights(layer: Layer) -> int:
    kh, kw = layer.kernel
    return kh * kw * (layer.in_channels // layer.groups) * layer.out_channels


def _conv_macs(layer: Layer) -> int:
    kh, kw = layer.kernel
    return layer.output_elements * kh * kw * (layer.in_channels // layer.groups)


def _grouped_channels(layer: Layer, channels: Span, index: int = 0) -> Span:
    """A grouped conv's output channels read the input groups they span."""
    cin = hwc(layer.input_shape)[2]
    per_in, per_out = cin // layer.groups, layer.out_channels // layer.groups
    g0, g1 = channels[0] // per_out, (channels[1] - 1) // per_out + 1
    return (g0 * per_in, g1 * per_in)


def _is_depthwise(layer: Layer) -> bool:
    return layer.groups == layer.in_channels == layer.out_channels


def _transposed_span(layer: Layer, out: Span, axis: int, index: int = 0) -> Span:
    """Input rows whose scattered kernel reaches output rows `out`: ceil-derived first row."""
    k, stride, crop = layer.kernel[axis], layer.stride[axis], layer.padding[2 * axis]
    size = hwc(layer.input_shape)[axis]
    first = max(-((-(out[0] + crop - k + 1)) // stride), 0)  # ceil((o0 + crop - k + 1) / s)
    last = min((out[1] - 1 + crop) // stride + 1, size)
    if first >= last:  # rows between scattered kernels (k < stride): one row, cropped away
        first = min(first, size - 1)
        last = first + 1
    return (first, last)


def _transposed_crop(layer: Layer, out: Span, got: Span, axis: int) -> tuple[int, int]:
    """(crop before, crop after) of the uncropped output of input rows `got` (negative: pad)."""
    k, stride, crop = layer.kernel[axis], layer.stride[axis], layer.padding[2 * axis]
    before = out[0] + crop - got[0] * stride
    produced = (got[1] - got[0] - 1) * stride + k
    return (before, produced - before - (out[1] - out[0]))


def _transposed_weights(layer: Layer) -> int:
    kh, kw = layer.kernel
    return kh * kw * layer.in_channels * (layer.out_channels // layer.groups)


def _transposed_macs(layer: Layer) -> int:
    kh, kw = layer.kernel
    return layer.input_elements * (layer.out_channels // layer.groups) * kh * kw


def _conv_shapes(layer: Layer) -> dict[str, tuple[int, ...]]:
    kh, kw = layer.kernel
    return {"weight": (kh, kw, layer.in_channels // layer.groups, layer.out_channels)}


def _transposed_shapes(layer: Layer) -> dict[str, tuple[int, ...]]:
    kh, kw = layer.kernel
    return {"weight": (kh, kw, layer.in_channels, layer.out_channels // layer.groups)}


def scatter_conv(layer: Layer) -> Layer:
    """A transposed conv as the 1x1 conv of its scatter GEMM: every input pixel times
    kh * kw * Cout / groups filters (same MACs and weights), for tools without one."""
    from dataclasses import replace

    kh, kw = layer.kernel
    h, w, _ = layer.input_shape
    return replace(layer, op="conv2d", kernel=(1, 1), stride=(1, 1), padding=(0, 0, 0, 0),
                   output_shape=(h, w, kh * kw * layer.out_channels), activation="none",
                   act_params=(), batch_norm=False, use_bias=False)


def _conv(name: str, description: str, **extra: Any) -> OpTraits:
    """Traits shared by conv2d and depthwise_conv2d."""
    return OpTraits(name, description, macs=_conv_macs, weight_count=_conv_weights,
                    vector_elements=lambda layer: 0, weighted=True, spatial=True,
                    input_span=window_span, tile_padding=window_padding,
                    param_shapes=_conv_shapes, onnx_ops=("Conv",), **extra)


CONV_OPS: tuple[OpTraits, ...] = (
    _conv("conv2d", "2-D convolution (any groups)", channel_wise=_is_depthwise,
          input_channels=lambda layer, ch, i: ch if _is_depthwise(layer) else _grouped_channels(
              layer, ch), splits_input_channels=lambda layer: layer.groups == 1),
    _conv("depthwise_conv2d", "depthwise convolution (groups = channels)"),
    OpTraits(
        "conv_transpose", "transposed 2-D convolution (upsampling)", macs=_transposed_macs,
        weight_count=_transposed_weights, vector_elements=lambda layer: 0, weighted=True,
        spatial=True, channel_wise=lambda layer: False, input_channels=_grouped_channels,
        input_span=_transposed_span, tile_padding=_transposed_crop,
        param_shapes=_transposed_shapes, onnx_ops=("ConvTranspose",)),
)
