"""Element-wise arithmetic of feature maps: add, sub, mul.

An input may broadcast over rows and columns ((1, 1, C) against (H, W, C): the
squeeze-excite scale); channels must agree. Vector work: one operation per output element
per extra input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accelsim.ir.ops.traits import OpTraits

if TYPE_CHECKING:
    from accelsim.ir.layers import Layer

__all__ = ["ELEMENTWISE_OPS"]


def _work(layer: Layer) -> int:
    return layer.output_elements * (len(layer.inputs) - 1)


ELEMENTWISE_OPS: tuple[OpTraits, ...] = tuple(
    OpTraits(name, text, vector_elements=_work, onnx_ops=(onnx,))
    for name, text, onnx in (
        ("add", "sum of two or more maps (a residual add), broadcasting 1x1 maps", "Add"),
        ("sub", "difference of two maps, broadcasting 1x1 maps", "Sub"),
        ("mul", "product of two maps, broadcasting 1x1 maps (squeeze-excite)", "Mul"),
    )
)
