"""The fully connected layer: (in_features, units) over the flattened input."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from accelsim.ir.ops.traits import OpTraits

if TYPE_CHECKING:
    from accelsim.ir.layers import Layer

__all__ = ["DENSE_OPS"]


def _weights(layer: Layer) -> int:
    return math.prod(layer.input_shape) * layer.out_channels


DENSE_OPS: tuple[OpTraits, ...] = (
    OpTraits("dense", "fully connected layer over the flattened input", macs=_weights,
             weight_count=_weights, vector_elements=lambda layer: 0, weighted=True,
             channel_wise=lambda layer: False, row_tileable=False,
             splits_input_channels=lambda layer: True,
             param_shapes=lambda layer: {"weight": (math.prod(layer.input_shape),
                                                    layer.out_channels)},
             onnx_ops=("Gemm", "MatMul")),
)
