"""Constant folding: constant subgraphs and shape-only subgraphs evaluated at import.

Nodes whose inputs are all constants are run with `onnx.reference.ReferenceEvaluator`
(the ONNX specification's own implementation); Shape of a feature map is its static shape
with batch 1, and CastLike only needs its target's type. A node the evaluator rejects is
one ImportErrorOnnx naming it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accelsim.errors import ImportErrorOnnx
from accelsim.ir.onnx.state import ImportState

__all__ = ["FOLDABLE_OPS", "Constants"]

#: Ops evaluated at import when every input is a constant (Shape: when its input's shape
#: is known); others with constant inputs are layers' parameters, read by their handlers.
FOLDABLE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice",
                "Reshape", "Mul", "Add", "Sub", "Div", "Identity", "Constant", "Sqrt",
                "Reciprocal", "Neg", "Transpose", "Expand", "CastLike", "ConstantOfShape",
                "Range", "Equal", "Where", "Floor", "Ceil", "Pow", "ReduceProd", "Size",
                "Split")


class Constants(ImportState):
    """Fold constant nodes into `consts`."""

    def _fold(self, node: Any) -> bool:
        """Evaluate a constant or shape-computing node; False if it is not constant."""
        if node.op_type not in FOLDABLE_OPS or node.domain not in ("", "ai.onnx"):
            return False
        first = self._resolve(node.input[0]) if node.input else ""
        if node.op_type == "Shape" and first not in self.consts:
            if first not in self.env:
                return False
            attrs = self._attrs(node)
            shape = np.array(self._onnx_shape(node.input[0]), np.int64)
            self.consts[node.output[0]] = shape[attrs.get("start", 0):attrs.get("end",
                                                                                 len(shape))]
            return True
        if node.op_type == "CastLike":  # the target may be a feature map: only its type counts
            if first not in self.consts:
                return False
            target = self.consts.get(self._resolve(node.input[1]), np.zeros(0, np.float32))
            self.consts[node.output[0]] = self.consts[first].astype(target.dtype)
            return True
        names = [self._resolve(t) for t in node.input if t]
        if not all(t in self.consts for t in names):
            return False
        values = {t: self.consts[self._resolve(t)] for t in node.input if t}
        for out, value in zip(node.output, self._evaluate(node, values), strict=False):
            self.consts[out] = np.asarray(value)
        return True

    def _evaluate(self, node: Any, values: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The outputs of one node on constant inputs, by the ONNX reference evaluator."""
        from onnx.reference import ReferenceEvaluator

        helper = self.onnx.helper
        inputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
            value.dtype), None) for name, value in values.items()]
        outputs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
        graph = helper.make_graph([node], "fold", inputs, outputs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            return list(ReferenceEvaluator(model).run(None, values))
        except Exception as exc:  # the evaluator raises ValueError, TypeError, IndexError...
            shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in values.items())
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ImportErrorOnnx(
                f"{self._where(node)}: cannot evaluate this constant node on inputs "
                f"{shapes or 'none'}: {reason}") from None
