"""The ONNX importer: one pass over the topologically ordered nodes, building layers."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from accelsim.errors import ImportErrorOnnx
from accelsim.ir.graph import Network
from accelsim.ir.onnx.constants import FOLDABLE_OPS, Constants
from accelsim.ir.onnx.handlers import Handlers
from accelsim.ir.onnx.state import NHWC_TO_NCHW, require_onnx, sanitise

__all__ = ["HANDLED_OPS", "check_onnx", "load_onnx", "unsupported_nodes"]


class Importer(Handlers, Constants):
    """Handlers by ONNX op type, the graph inputs and the node loop."""

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self.handlers: dict[str, Callable[[Any, str], None]] = {
            op: getattr(self, method) for op, method in HANDLERS.items()}

    def inputs(self) -> None:
        for value in self.graph.input:
            if value.name in self.consts:
                continue
            dims = value.type.tensor_type.shape.dim
            sizes = [d.dim_value for d in dims[1:]]
            if any(s <= 0 for s in sizes) or len(sizes) not in (1, 3):
                shown = [d.dim_value or d.dim_param or "?" for d in dims]
                raise ImportErrorOnnx(
                    f"ONNX input {value.name!r}: shape {shown} must be (N, C, H, W), "
                    "(N, H, W, C) read through a Transpose, or (N, F), with static sizes "
                    "besides the batch"
                )
            readers = [self.graph.node[i] for i in self.consumers.get(value.name, [])]
            nhwc = len(sizes) == 3 and bool(readers) and all(
                r.op_type == "Transpose" and list(self._attrs(r).get("perm", [])) == NHWC_TO_NCHW
                for r in readers)
            if len(sizes) == 1:
                shape: tuple[int, ...] = (sizes[0],)
            else:
                shape = tuple(sizes) if nhwc else (sizes[1], sizes[2], sizes[0])
            name = sanitise(value.name) or "input"
            self._emit(self.builder.input(name, shape), value.name)
            if nhwc:
                self.view[value.name] = "nhwc"

    def run(self) -> Network:
        self.inputs()
        for index, node in enumerate(self.graph.node):  # constants first: Clip bounds, ...
            if node.op_type != "Shape" and self._fold(node):
                self.done.add(index)
        unsupported = unsupported_nodes(self.graph)
        if unsupported:
            op, node, output = unsupported[0]
            more = (f" (and {len(unsupported) - 1} more unsupported nodes: accelsim summary "
                    "--check lists them)") if len(unsupported) > 1 else ""
            raise ImportErrorOnnx(f"ONNX node {node!r} ({op}): unsupported operator {op!r} "
                                  f"(output {output!r}){more}")
        for index, node in enumerate(self.graph.node):
            if index in self.done or self._fold(node):
                continue
            self.index = index
            self.handlers[node.op_type](node, self._name(node, index))
        eps = min(self.bn_eps.values(), default=1e-3)
        for layer, layer_eps in self.bn_eps.items():
            self.builder.params[layer]["bn_var"] += np.float32(layer_eps - eps)
        net = self.builder.build(bn_epsilon=eps)
        net.missing_weights = tuple(self.missing)
        if self.missing:
            net.params = {}
        return net


#: The handler method of every supported ONNX operator (constant folding aside).
HANDLERS: dict[str, str] = {
    "Conv": "_conv", "ConvTranspose": "_conv_transpose", "Gemm": "_dense", "MatMul": "_dense",
    "Relu": "_activation", "Clip": "_activation", "Min": "_activation", "Max": "_activation",
    "Sigmoid": "_activation", "HardSigmoid": "_activation", "HardSwish": "_activation",
    "LeakyRelu": "_activation", "PRelu": "_prelu", "BatchNormalization": "_batch_norm",
    "Add": "_add", "Sub": "_binary", "Mul": "_binary", "Div": "_affine_alone",
    "GlobalAveragePool": "_global_pool", "GlobalMaxPool": "_global_pool",
    "ReduceMean": "_reduce_mean", "AveragePool": "_pool", "MaxPool": "_pool",
    "Concat": "_concat", "Split": "_split", "Slice": "_slice", "Resize": "_resize",
    "Upsample": "_resize", "Flatten": "_view_op", "Reshape": "_view_op",
    "Squeeze": "_view_op", "Unsqueeze": "_view_op", "Transpose": "_view_op", "Pad": "_pad",
    "Softmax": "_softmax", "Identity": "_passthrough", "Dropout": "_passthrough",
    "Cast": "_cast",
}
#: Every ONNX operator the importer handles or folds.
HANDLED_OPS: frozenset[str] = frozenset(HANDLERS) | frozenset(FOLDABLE_OPS)


def unsupported_nodes(graph: Any) -> list[tuple[str, str, str]]:
    """(op type, node name, first output) of every node no handler or fold accepts."""
    return [(node.op_type, node.name or "(unnamed)", node.output[0] if node.output else "")
            for node in graph.node
            if node.domain not in ("", "ai.onnx") or node.op_type not in HANDLED_OPS]



def _read(source: str | os.PathLike[str] | Any) -> Any:
    """An onnx.ModelProto from a path (ImportErrorOnnx if unreadable) or as given."""
    onnx = require_onnx()
    if not isinstance(source, str | os.PathLike):
        return source
    if not os.path.exists(source):
        raise ImportErrorOnnx(f"{source}: no such ONNX file")
    try:
        return onnx.load(os.fspath(source))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise ImportErrorOnnx(f"{source}: not a readable ONNX model: {exc}") from None


def check_onnx(source: str | os.PathLike[str] | Any) -> list[tuple[str, str, str]]:
    """Every node of an ONNX model (path or ModelProto) no handler or fold accepts:
    (op type, node name, first output), in graph order."""
    return unsupported_nodes(_read(source).graph)


def load_onnx(source: str | os.PathLike[str] | Any) -> Network:
    """Read an ONNX model (a path or an onnx.ModelProto) into a Network with its weights."""
    return Importer(_read(source)).run()
