"""Write a Network and its weights as an ONNX model (NCHW, dynamic batch), for ORT checks.

The inverse of `accelsim.ir.onnx_import`: each conv or dense layer becomes Conv/Gemm,
then BatchNormalization and its activation when fused (Relu, Clip(0, 6), Sigmoid,
HardSigmoid, x * HardSigmoid(x) for hard-swish, x * Sigmoid(x) for SiLU, LeakyRelu); a
dense layer reading a feature map gets a Flatten, with its weight rows reordered from the
IR's (h, w, c) flattening to ONNX's (c, h, w). Transposed convs become ConvTranspose,
resizes Resize, concat Concat, channel slices Slice, channel shuffles ShuffleNet's
Reshape-Transpose-Reshape. Each layer's final ONNX tensor is named after the layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from accelsim.errors import GraphError
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.ir.onnx_import import require_onnx
from accelsim.ir.ops.activation import DEFAULT_PARAMS

__all__ = ["network_to_onnx"]

OPSET = 13
#: ONNX IR version matching opset 13, old enough for any onnxruntime that runs opset 13.
IR_VERSION = 7


class _Writer:
    """Collects nodes and initialisers; every method returns the tensor it produced."""

    def __init__(self, net: Network, params: dict[str, dict[str, np.ndarray]]) -> None:
        self.onnx = require_onnx()
        self.net, self.params = net, params
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.onnx.numpy_helper.from_array(np.array(value, order="C"), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs: Any) -> str:
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def tail(self, layer: Layer, x: str) -> str:
        """The fused batch-norm and activation of `layer` after its main node's output x."""
        steps = (["bn"] if layer.batch_norm else []) + (
            [layer.activation] if layer.activation != "none" else []
        )
        for i, step in enumerate(steps):
            out = layer.name if i == len(steps) - 1 else f"{layer.name}_{step}"
            x = self.step(layer, step, x, out)
        return x

    def step(self, layer: Layer, step: str, x: str, out: str) -> str:
        n = layer.name
        if step == "bn":
            p = self.params[n]
            names = [self.const(f"{n}_{k}", p[k]) for k in ("bn_scale", "bn_shift", "bn_mean",
                                                            "bn_var")]
            return self.node("BatchNormalization", [x, *names], out, f"{n}_bn",
                             epsilon=self.net.bn_epsilon)
        if step == "relu":
            return self.node("Relu", [x], out, f"{n}_relu")
        if step == "relu6":
            bounds = [self.const(f"{n}_min", np.array(0.0, np.float32)),
                      self.const(f"{n}_max", np.array(6.0, np.float32))]
            return self.node("Clip", [x, *bounds], out, f"{n}_relu6")
        if step == "leaky_relu":
            alpha = (layer.act_params or DEFAULT_PARAMS["leaky_relu"])[0]
            return self.node("LeakyRelu", [x], out, f"{n}_leaky", alpha=alpha)
        if step == "sigmoid":
            return self.node("Sigmoid", [x], out, f"{n}_sigmoid")
        if step == "hard_sigmoid":
            alpha, beta = layer.act_params or DEFAULT_PARAMS["hard_sigmoid"]
            return self.node("HardSigmoid", [x], out, f"{n}_hsig", alpha=alpha, beta=beta)
        if step == "hard_swish":
            gate = self.node("HardSigmoid", [x], f"{n}_gate", f"{n}_hsig", alpha=1 / 6,
                             beta=0.5)
        else:  # silu
            gate = self.node("Sigmoid", [x], f"{n}_gate", f"{n}_sigmoid")
        return self.node("Mul", [x, gate], out, f"{n}_{step}")

    def main_output(self, layer: Layer) -> str:
        """Name of the main node's output: the layer's name unless a tail follows."""
        has_tail = layer.batch_norm or layer.activation != "none"
        return f"{layer.name}_pre" if has_tail else layer.name

    def layer(self, layer: Layer) -> None:
        n, xs, out = layer.name, list(layer.inputs), self.main_output(layer)
        p = self.params.get(n, {})
        pads = [layer.padding[0], layer.padding[2], layer.padding[1], layer.padding[3]]
        if layer.op in ("conv2d", "depthwise_conv2d"):
            inputs = [xs[0], self.const(f"{n}_W", p["weight"].transpose(3, 2, 0, 1))]
            if layer.use_bias:
                inputs.append(self.const(f"{n}_B", p["bias"]))
            self.node("Conv", inputs, out, n, kernel_shape=list(layer.kernel),
                      strides=list(layer.stride), pads=pads, group=layer.groups)
        elif layer.op == "conv_transpose":
            inputs = [xs[0], self.const(f"{n}_W", p["weight"].transpose(2, 3, 0, 1))]
            if layer.use_bias:
                inputs.append(self.const(f"{n}_B", p["bias"]))
            top, bottom, left, right = layer.padding  # a negative crop is output padding
            extra = [max(-bottom, 0), max(-right, 0)]
            self.node("ConvTranspose", inputs, out, n, kernel_shape=list(layer.kernel),
                      strides=list(layer.stride), group=layer.groups, output_padding=extra,
                      pads=[top, left, bottom + extra[0], right + extra[1]])
        elif layer.op == "dense":
            x, weight = xs[0], p["weight"]
            if len(layer.input_shape) == 3:
                h, w, c = layer.input_shape
                weight = weight.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
                x = self.node("Flatten", [x], f"{n}_flat", f"{n}_flatten", axis=1)
            inputs = [x, self.const(f"{n}_W", weight)]
            if layer.use_bias:
                inputs.append(self.const(f"{n}_B", p["bias"]))
            self.node("Gemm", inputs, out, n)
        elif layer.op in ("avg_pool", "max_pool"):
            op = "AveragePool" if layer.op == "avg_pool" else "MaxPool"
            self.node(op, xs, out, n, kernel_shape=list(layer.kernel),
                      strides=list(layer.stride), pads=pads)
        elif layer.op == "global_avg_pool":
            self.node("GlobalAveragePool", xs, out, n)
        elif layer.op == "add":
            total = xs[0]
            for i, other in enumerate(xs[1:], start=1):
                target = out if i == len(xs) - 1 else f"{n}_sum{i}"
                total = self.node("Add", [total, other], target, f"{n}_{i}" if i > 1 else n)
        elif layer.op in ("sub", "mul"):
            self.node(layer.op.capitalize(), xs, out, n)
        elif layer.op in MOVEMENT_EXPORTS:
            MOVEMENT_EXPORTS[layer.op](self, layer, xs, out)
        elif layer.op == "activation":
            self.node("Identity", xs, out, n)
        elif layer.op == "batch_norm":
            self.step(layer, "bn", xs[0], out)
        elif layer.op == "flatten":
            if math.prod(layer.input_shape[:-1]) != 1:
                raise GraphError(
                    f"{self.net.name}: layer {n!r}: exporting a flatten of a spatial map is "
                    "not supported (NCHW and NHWC flatten orders differ)"
                )
            self.node("Flatten", xs, out, n, axis=1)
        elif layer.op == "softmax":
            self.node("Softmax", xs, out, n, axis=-1)
        else:
            raise GraphError(f"{self.net.name}: cannot export op {layer.op!r} of layer {n!r}")
        self.tail(layer, out)

    def value_info(self, name: str, shape: tuple[int, ...]) -> Any:
        dims: list[Any] = ["N", shape[2], shape[0], shape[1]] if len(shape) == 3 \
            else ["N", *shape]
        return self.onnx.helper.make_tensor_value_info(name, self.onnx.TensorProto.FLOAT, dims)


def _concat(w: _Writer, layer: Layer, xs: list[str], out: str) -> None:
    w.node("Concat", xs, out, layer.name, axis=1)


def _channel_slice(w: _Writer, layer: Layer, xs: list[str], out: str) -> None:
    n = layer.name
    bounds = [w.const(f"{n}_{k}", np.array([v], np.int64))
              for k, v in (("start", layer.channel_range[0]), ("stop", layer.channel_range[1]),
                           ("axis", 1))]
    w.node("Slice", [xs[0], *bounds], out, n)


def _channel_shuffle(w: _Writer, layer: Layer, xs: list[str], out: str) -> None:
    n, (h, wd, c), g = layer.name, layer.output_shape, layer.groups
    grouped = w.const(f"{n}_grouped", np.array([-1, g, c // g, h, wd], np.int64))
    flat = w.const(f"{n}_flat", np.array([-1, c, h, wd], np.int64))
    x = w.node("Reshape", [xs[0], grouped], f"{n}_g", f"{n}_group")
    x = w.node("Transpose", [x], f"{n}_t", f"{n}_transpose", perm=[0, 2, 1, 3, 4])
    w.node("Reshape", [x, flat], out, n)


def _resize(w: _Writer, layer: Layer, xs: list[str], out: str) -> None:
    n = layer.name
    scales = w.const(f"{n}_scales", np.array([1, 1, *layer.stride], np.float32))
    if layer.mode == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                 "nearest_mode": "floor"}
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    w.node("Resize", [xs[0], "", scales], out, n, **attrs)


def _prelu(w: _Writer, layer: Layer, xs: list[str], out: str) -> None:
    slope = w.params[layer.name]["slope"].reshape(-1, 1, 1)
    w.node("PRelu", [xs[0], w.const(f"{layer.name}_slope", slope)], out, layer.name)


#: Weightless ops that move or resample data, by op: (writer, layer, inputs, output).
MOVEMENT_EXPORTS: dict[str, Callable[[_Writer, Layer, list[str], str], None]] = {
    "concat": _concat, "channel_slice": _channel_slice, "channel_shuffle": _channel_shuffle,
    "resize": _resize, "prelu": _prelu,
}


def network_to_onnx(net: Network, params: dict[str, dict[str, np.ndarray]]) -> Any:
    """An onnx.ModelProto computing `net` with `params` (weights.py layout), opset 13."""
    writer = _Writer(net, params)
    for layer in net.layers():
        if layer.op != "input":
            writer.layer(layer)
    helper = writer.onnx.helper
    graph = helper.make_graph(
        writer.nodes, net.name,
        [writer.value_info(n, net.layer(n).output_shape) for n in net.inputs],
        [writer.value_info(n, net.layer(n).output_shape) for n in net.outputs],
        writer.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="accelsim")
    model.ir_version = IR_VERSION
    return model
