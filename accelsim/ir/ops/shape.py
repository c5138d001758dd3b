"""Ops that only reshape or normalise whole vectors: input, flatten, softmax."""

from __future__ import annotations

from accelsim.ir.ops.traits import OpTraits

__all__ = ["SHAPE_OPS"]

SHAPE_OPS: tuple[OpTraits, ...] = (
    OpTraits("input", "the network input", vector_elements=lambda layer: 0, row_tileable=False),
    OpTraits("flatten", "(H, W, C) to (H*W*C,)", vector_elements=lambda layer: 0,
             channel_wise=lambda layer: False, row_tileable=False,
             onnx_ops=("Flatten", "Reshape")),
    # exp, sum and divide per element
    OpTraits("softmax", "softmax over the last dimension",
             vector_elements=lambda layer: 3 * layer.output_elements,
             channel_wise=lambda layer: False, row_tileable=False, onnx_ops=("Softmax",)),
)
