"""Hand-built ONNX MobileNets (onnx.helper only), written the way PyTorch exports them.

They are independent of accelsim's exporter and zoo, so importing them checks the
importer against a second description of the same architectures. `materialise` refills
the tensors the framework-fixture generators strip.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import ModelProto, TensorProto, helper, numpy_helper

__all__ = ["CIFAR_TABLE", "cifar_mobilenet_onnx", "materialise", "mobilenet_v2_blocks_onnx",
           "single_node_onnx"]

#: ONNX ops whose input 1 is a weight the fixture generators strip.
WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")

# (depthwise stride, pointwise output channels) of the 13 separable blocks of the CIFAR
# MobileNet (004 document, Table 1): 28x28x3 input, first conv 3x3/1 to 32 channels.
CIFAR_TABLE = [(1, 64), (2, 64), (1, 128), (1, 256), (1, 256), (1, 256), (1, 256),
               (1, 256), (1, 256), (1, 256), (1, 256), (1, 256), (2, 256)]


class Graph:
    """A tiny helper that names tensors and collects nodes and random initialisers."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def rand(self, name: str, shape: tuple[int, ...], scale: float) -> str:
        return self.const(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def node(self, op: str, inputs: list[str], out: str, name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv_bn(self, name: str, x: str, cin: int, cout: int, k: int, stride: int,
                group: int = 1, act: str | None = "relu", eps: float = 1e-5) -> str:
        """Conv (no bias) + BatchNormalization + Relu/Clip, PyTorch-style symmetric pads."""
        fan_in = cin // group * k * k
        w = self.rand(f"{name}.weight", (cout, cin // group, k, k), np.sqrt(2 / fan_in))
        y = self.node("Conv", [x, w], f"{name}_conv_out", name, kernel_shape=[k, k],
                      strides=[stride, stride], pads=[k // 2] * 4, group=group,
                      dilations=[1, 1])
        bn = [self.const(f"{name}.bn.scale", self.rng.uniform(0.5, 1.5, cout).astype("f4")),
              self.const(f"{name}.bn.bias", self.rng.normal(0, 0.1, cout).astype("f4")),
              self.const(f"{name}.bn.mean", self.rng.normal(0, 0.1, cout).astype("f4")),
              self.const(f"{name}.bn.var", self.rng.uniform(0.5, 1.5, cout).astype("f4"))]
        y = self.node("BatchNormalization", [y, *bn], f"{name}_bn_out", f"{name}_bn",
                      epsilon=eps)
        if act == "relu":
            return self.node("Relu", [y], f"{name}_out", f"{name}_relu")
        if act == "relu6":
            low = self.const(f"{name}.min", np.array(0.0, np.float32))
            high = self.const(f"{name}.max", np.array(6.0, np.float32))
            return self.node("Clip", [y, low, high], f"{name}_out", f"{name}_clip")
        return y

    def model(self, name: str, x: str, shape: list, out: str, classes: int) -> ModelProto:
        graph = helper.make_graph(
            self.nodes, name, [helper.make_tensor_value_info(x, TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", classes])],
            self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 7
        return model


def cifar_mobilenet_onnx(seed: int = 0, classes: int = 10) -> ModelProto:
    """The CIFAR MobileNet v1: conv+BN+Relu layers, AveragePool 7x7, Flatten, Gemm, Softmax."""
    g = Graph(seed)
    x = g.conv_bn("conv1", "input", 3, 32, 3, 1)
    channels = 32
    for i, (stride, out) in enumerate(CIFAR_TABLE, start=1):
        x = g.conv_bn(f"conv_dw_{i}", x, channels, channels, 3, stride, group=channels)
        x = g.conv_bn(f"conv_pw_{i}", x, channels, out, 1, 1)
        channels = out
    x = g.node("AveragePool", [x], "pooled", "avg_pool", kernel_shape=[7, 7], strides=[7, 7])
    x = g.node("Flatten", [x], "flat", "flatten", axis=1)
    w = g.rand("fc.weight", (classes, channels), np.sqrt(2 / channels))  # Linear: (out, in)
    b = g.rand("fc.bias", (classes,), 0.1)
    x = g.node("Gemm", [x, w, b], "logits", "fc", transB=1)
    x = g.node("Softmax", [x], "probs", "softmax", axis=1)
    return g.model("cifar_mobilenet", "input", ["batch", 3, 28, 28], x, classes)


def mobilenet_v2_blocks_onnx(seed: int = 0, classes: int = 7) -> ModelProto:
    """A MobileNetV2 stem and three inverted-residual blocks (two with residual adds).

    Clip(0, 6) takes its bounds from initialisers; the head flattens with PyTorch's
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape; one Dropout and one Identity sit in
    the graph; batch-norm epsilons differ between layers.
    """
    g = Graph(seed)
    x = g.conv_bn("stem", "image", 3, 16, 3, 2, act="relu6")  # 32x32 -> 16x16
    channels = 16
    for i, (out, stride, eps) in enumerate([(16, 1, 1e-5), (24, 2, 1e-3), (24, 1, 1e-5)]):
        name = f"features.{i}"
        y = g.conv_bn(f"{name}.expand", x, channels, channels * 6, 1, 1, act="relu6", eps=eps)
        y = g.conv_bn(f"{name}.dw", y, channels * 6, channels * 6, 3, stride,
                      group=channels * 6, act="relu6")
        y = g.conv_bn(f"{name}.project", y, channels * 6, out, 1, 1, act=None, eps=eps)
        if stride == 1 and channels == out:
            y = g.node("Add", [x, y], f"{name}.sum", f"{name}/Add")
        x, channels = y, out
    x = g.node("Identity", [x], "features_out", "identity")
    x = g.node("GlobalAveragePool", [x], "gap", "")  # unnamed: op + index fallback
    shape = g.node("Shape", [x], "shape", "/Shape")
    zero = g.const("zero", np.array(0, np.int64))
    batch = g.node("Gather", [shape, zero], "batch", "/Gather", axis=0)
    axes = g.const("axes", np.array([0], np.int64))
    batch = g.node("Unsqueeze", [batch, axes], "batch_1d", "/Unsqueeze")
    minus_one = g.const("minus_one", np.array([-1], np.int64))
    target = g.node("Concat", [batch, minus_one], "target", "/Concat", axis=0)
    x = g.node("Reshape", [x, target], "flat", "/Reshape")
    x = g.node("Dropout", [x], "dropped", "/Dropout")
    w = g.rand("classifier.weight", (classes, channels), np.sqrt(2 / channels))
    b = g.rand("classifier.bias", (classes,), 0.1)
    x = g.node("Gemm", [x, w, b], "logits", "classifier", transB=1)
    x = g.node("Softmax", [x], "probs", "softmax", axis=1)
    return g.model("mobilenet_v2_blocks", "image", ["batch", 3, 32, 32], x, classes)


def single_node_onnx(op: str, **attrs) -> ModelProto:
    """Input (N, 4, 8, 8) -> one `op` node (with a 3x3 weight if it is a Conv) -> output."""
    g = Graph(0)
    inputs = ["x"]
    if op == "Conv":
        inputs.append(g.rand("w", (4, 4, 3, 3), 0.1))
    g.node(op, inputs, "y", f"my/{op}.0", **attrs)
    graph = helper.make_graph(
        g.nodes, "single", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                          ["N", 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    return model


def materialise(path: Path, seed: int = 0) -> ModelProto:
    """The fixture with its stripped tensors refilled (seeded): He-normal weights and
    trained-looking batch-norms (scale and variance in [0.5, 1.5], shift and mean ~ 0)."""
    model = onnx.load(str(path))
    reader = {node.input[1]: node for node in model.graph.node if node.op_type in WEIGHTED}
    bn_role = {t: i for node in model.graph.node if node.op_type == "BatchNormalization"
               for i, t in enumerate(node.input[1:5])}
    rng = np.random.default_rng(seed)
    for init in model.graph.initializer:
        if init.doc_string != "stripped":
            continue
        dims = tuple(init.dims)
        if init.name in bn_role:  # scale, shift, mean, variance
            values = (rng.uniform(0.5, 1.5, dims) if bn_role[init.name] in (0, 3)
                      else rng.normal(0.0, 0.1, dims))
            init.CopyFrom(numpy_helper.from_array(values.astype(np.float32), init.name))
            continue
        node = reader[init.name]
        transposed = node.op_type == "Gemm" and any(
            a.name == "transB" and a.i for a in node.attribute)
        fan_in = {"Conv": math.prod(dims[1:]), "ConvTranspose": dims[0],
                  "Gemm": dims[1] if transposed else dims[0], "MatMul": dims[0]}[node.op_type]
        values = rng.normal(0.0, math.sqrt(2.0 / fan_in), dims)
        init.CopyFrom(numpy_helper.from_array(values.astype(np.float32), init.name))
    return model
