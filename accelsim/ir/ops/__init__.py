"""The operator registry: one OpTraits per IR op, from one module per operator family.

`traits(op)` is how every stage (counts, tiling geometry, compute cost, parameter shapes)
learns what an op does. Adding an op: write its OpTraits in a family module, list it
here, give it a NetworkBuilder method, a float kernel (accelsim.reference.executor) and, if
it is neither element-wise nor exact on dequantised values, an integer kernel.
"""

from __future__ import annotations

from accelsim.errors import GraphError
from accelsim.ir.ops.activation import ACTIVATION_OPS
from accelsim.ir.ops.channels import CHANNEL_OPS
from accelsim.ir.ops.conv import CONV_OPS
from accelsim.ir.ops.dense import DENSE_OPS
from accelsim.ir.ops.elementwise import ELEMENTWISE_OPS
from accelsim.ir.ops.pool import POOL_OPS
from accelsim.ir.ops.resize import RESIZE_OPS
from accelsim.ir.ops.shape import SHAPE_OPS
from accelsim.ir.ops.traits import OpTraits

__all__ = ["OPS", "OpTraits", "traits"]

#: Every op the IR knows, by name, in the order docs list them.
OPS: dict[str, OpTraits] = {
    t.name: t for family in (SHAPE_OPS, CONV_OPS, DENSE_OPS, POOL_OPS, ELEMENTWISE_OPS,
                             ACTIVATION_OPS, CHANNEL_OPS, RESIZE_OPS) for t in family
}


def traits(op: str) -> OpTraits:
    """The traits of `op`; GraphError listing the known ops for any other name."""
    try:
        return OPS[op]
    except KeyError:
        raise GraphError(f"unknown op {op!r}; known ops: {', '.join(OPS)}") from None
