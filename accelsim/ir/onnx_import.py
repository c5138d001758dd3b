"""Import an ONNX CNN (MobileNet-style) as a Network with its weights.

ONNX tensors are NCHW with a batch dimension; the IR is per-sample NHWC, so an input
(N, C, H, W) becomes (H, W, C) and the batch size is ignored (it may be dynamic). Weights
are transposed to the layout of `accelsim.reference.weights` and stored in
`Network.params`: Conv W (cout, cin/g, kh, kw) -> (kh, kw, cin/g, cout); Gemm/MatMul
B -> (in_features, units), its rows reordered from ONNX's (c, h, w) flattening to the
IR's (h, w, c) when a spatial map is flattened into it.

Fusions, done only when the producer's output has a single consumer and is not a graph
output: Conv/Gemm/MatMul + BatchNormalization -> ``batch_norm=True``; a following Relu or
Clip(0, 6) -> ``activation``; MatMul + Add of a constant -> bias; Add + Relu/Clip ->
activation. Flatten or a flattening Reshape feeding only Gemm/MatMul disappears (dense
layers flatten their input). Identity and Dropout are skipped. Shape-only subgraphs
(Shape, Gather, Unsqueeze, Concat, ...) are evaluated with NumPy from the static shapes,
taking the batch size as 1. Batch-norms with different epsilons are imported exactly by
moving the difference into their variance.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from accelsim.errors import AccelsimError, ImportErrorOnnx
from accelsim.ir.builder import NetworkBuilder, resolve_padding
from accelsim.ir.graph import Network

__all__ = ["load_onnx", "require_onnx"]

ACTIVATION_OPS = ("Relu", "Clip")
PASSTHROUGH_OPS = ("Identity", "Dropout")
#: Ops evaluated with NumPy when every input is a constant (Shape: when its input is known).
FOLDABLE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice",
                "Reshape", "Mul", "Add", "Sub", "Div", "Identity", "Constant")


def require_onnx() -> Any:
    """The `onnx` module, or AccelsimError telling how to install it."""
    try:
        import onnx
    except ImportError:
        raise AccelsimError(
            "ONNX support needs the onnx package: pip install accelsim[onnx]"
        ) from None
    return onnx


def _sanitise(name: str) -> str:
    """A node name reduced to letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


class _Importer:
    """One pass over the topologically ordered ONNX nodes, building layers as it goes."""

    def __init__(self, model: Any) -> None:
        self.onnx = require_onnx()
        from onnx import numpy_helper

        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        self.builder = NetworkBuilder(_sanitise(self.graph.name) or "onnx_model")
        self.consts: dict[str, np.ndarray] = {
            init.name: numpy_helper.to_array(init) for init in self.graph.initializer
        }
        self.env: dict[str, str] = {}  # ONNX tensor -> IR layer producing it
        self.chw: dict[str, tuple[int, int, int]] = {}  # flattened-in-(c, h, w)-order tensors
        self.alias: dict[str, str] = {}
        self.done: set[int] = set()
        self.bn_eps: dict[str, float] = {}
        self.graph_outputs = {o.name for o in self.graph.output}
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(self.graph.node):
            for t in node.input:
                self.consumers.setdefault(t, []).append(i)
        self.handlers: dict[str, Callable[[Any, str], None]] = {
            "Conv": self._conv, "Gemm": self._dense, "MatMul": self._dense,
            "Relu": self._activation, "Clip": self._activation,
            "BatchNormalization": self._batch_norm, "Add": self._add,
            "GlobalAveragePool": self._global_pool, "AveragePool": self._pool,
            "MaxPool": self._pool, "Flatten": self._flatten, "Reshape": self._reshape,
            "Softmax": self._softmax, "Identity": self._passthrough,
            "Dropout": self._passthrough,
        }

    # ---- tensors -----------------------------------------------------------------------
    def _resolve(self, tensor: str) -> str:
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def _layer(self, tensor: str, node: Any) -> str:
        """The IR layer holding a dynamic ONNX tensor."""
        name = self._resolve(tensor)
        if name not in self.env:
            raise ImportErrorOnnx(
                f"{self._where(node)}: input {tensor!r} is not a feature map produced by an "
                "imported node"
            )
        return self.env[name]

    def _const(self, tensor: str, node: Any, what: str) -> np.ndarray:
        name = self._resolve(tensor)
        if name not in self.consts:
            raise ImportErrorOnnx(f"{self._where(node)}: {what} ({tensor!r}) must be a constant")
        return self.consts[name]

    def _scalar(self, tensor: str, node: Any, what: str) -> float:
        value = self._const(tensor, node, what)
        if value.size != 1:
            raise ImportErrorOnnx(f"{self._where(node)}: {what} must be a scalar")
        return float(value.reshape(-1)[0])

    def _onnx_shape(self, tensor: str) -> list[int]:
        """The NCHW shape of a dynamic tensor with batch size 1."""
        name = self._resolve(tensor)
        if name in self.chw:
            return [1, math.prod(self.chw[name])]
        shape = self.builder.shape(self.env[name])
        if len(shape) == 3:
            return [1, shape[2], shape[0], shape[1]]
        return [1, *shape]

    def _readers(self, tensor: str) -> list[str]:
        """Op types reading `tensor` through Identity/Dropout; "output" for a graph output."""
        found = ["output"] if tensor in self.graph_outputs else []
        for i in self.consumers.get(tensor, []):
            node = self.graph.node[i]
            is_passthrough = node.op_type in PASSTHROUGH_OPS
            found += self._readers(node.output[0]) if is_passthrough else [node.op_type]
        return found

    def _sole_consumer(self, tensor: str) -> int | None:
        """Index of the one node reading `tensor` (looking through Identity/Dropout)."""
        while True:
            readers = self.consumers.get(tensor, [])
            if len(readers) != 1 or tensor in self.graph_outputs:
                return None
            node = self.graph.node[readers[0]]
            if node.op_type not in PASSTHROUGH_OPS:
                return readers[0]
            self.done.add(readers[0])
            self.alias[node.output[0]] = tensor
            tensor = node.output[0]

    # ---- names and attributes ------------------------------------------------------------
    @staticmethod
    def _where(node: Any) -> str:
        return f"ONNX node {node.name or '(unnamed)'!r} ({node.op_type})"

    def _name(self, node: Any, index: int) -> str:
        base = _sanitise(node.name) or f"{node.op_type.lower()}_{index}"
        name, n = base, 1
        while self._taken(name):
            n += 1
            name = f"{base}_{n}"
        return name

    def _taken(self, name: str) -> bool:
        try:
            self.builder.shape(name)
        except AccelsimError:
            return False
        return True

    def _attrs(self, node: Any) -> dict[str, Any]:
        helper = self.onnx.helper
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def _window(self, node: Any, x: str, kernel: tuple[int, int]) -> dict[str, Any]:
        """kernel, stride and explicit padding of a Conv or pool node."""
        attrs = self._attrs(node)
        dilations = list(attrs.get("dilations", [1, 1]))
        if any(d != 1 for d in dilations):
            raise ImportErrorOnnx(
                f"{self._where(node)}: dilations {dilations} are not supported (only 1)"
            )
        stride = tuple(int(s) for s in attrs.get("strides", [1, 1]))
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        h, w, _ = self.builder.shape(x)
        padding: tuple[int, int, int, int]
        if auto_pad == "NOTSET":
            p = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
            padding = (p[0], p[2], p[1], p[3])  # ONNX: [top, left, bottom, right]
        elif auto_pad == "VALID":
            padding = (0, 0, 0, 0)
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            t, b, left, r = resolve_padding("same", (h, w), kernel, (stride[0], stride[1]),
                                            node.name)
            padding = (t, b, left, r) if auto_pad == "SAME_UPPER" else (b, t, r, left)
        else:
            raise ImportErrorOnnx(f"{self._where(node)}: unknown auto_pad {auto_pad!r}")
        return {"kernel": kernel, "stride": stride, "padding": padding}

    def _activation_kind(self, node: Any) -> str | None:
        """relu or relu6 for a Relu or Clip(0, 6) node, None for any other node."""
        if node.op_type == "Relu":
            return "relu"
        if node.op_type != "Clip":
            return None
        attrs = self._attrs(node)
        low, high = attrs.get("min", -np.inf), attrs.get("max", np.inf)
        inputs = list(node.input) + ["", ""]
        if inputs[1]:
            low = self._scalar(inputs[1], node, "Clip min")
        if inputs[2]:
            high = self._scalar(inputs[2], node, "Clip max")
        if low == 0 and high == 6:
            return "relu6"
        if low == 0 and high == np.inf:
            return "relu"
        return None

    # ---- fusion --------------------------------------------------------------------------
    def _tail(self, tensor: str, bias_add: bool = False, bn: bool = True) -> dict[str, Any]:
        """Absorb a following bias Add, BatchNormalization and activation; their details."""
        found: dict[str, Any] = {"out": tensor, "bias": None, "bn": None, "act": "none"}
        index = self._sole_consumer(tensor)

        def absorb(i: int) -> int | None:
            self.done.add(i)
            found["out"] = self.graph.node[i].output[0]
            return self._sole_consumer(found["out"])

        if bias_add and index is not None and self.graph.node[index].op_type == "Add":
            node = self.graph.node[index]
            other = [t for t in node.input if self._resolve(t) != self._resolve(tensor)]
            if len(other) == 1 and self._resolve(other[0]) in self.consts:
                found["bias"] = self.consts[self._resolve(other[0])].reshape(-1)
                index = absorb(index)
        if bn and index is not None and self.graph.node[index].op_type == "BatchNormalization":
            found["bn"] = self.graph.node[index]
            index = absorb(index)
        if index is not None and self._activation_kind(self.graph.node[index]) is not None:
            found["act"] = self._activation_kind(self.graph.node[index])
            absorb(index)
        return found

    def _bn_vectors(self, node: Any, layer: str) -> dict[str, np.ndarray]:
        attrs = self._attrs(node)
        if attrs.get("training_mode", 0):
            raise ImportErrorOnnx(f"{self._where(node)}: training_mode=1 is not supported")
        self.bn_eps[layer] = float(attrs.get("epsilon", 1e-5))
        keys = ("bn_scale", "bn_shift", "bn_mean", "bn_var")
        return {
            key: self._const(t, node, key).astype(np.float32).reshape(-1)
            for key, t in zip(keys, node.input[1:5], strict=True)
        }

    def _emit(self, name: str, out: str, params: dict[str, np.ndarray] | None = None) -> None:
        self.env[out] = name
        if params:
            self.builder.params[name] = params

    # ---- handlers ------------------------------------------------------------------------
    def _conv(self, node: Any, name: str) -> None:
        x = self._layer(node.input[0], node)
        weight = self._const(node.input[1], node, "the weight")
        attrs = self._attrs(node)
        window = self._window(node, x, (int(weight.shape[2]), int(weight.shape[3])))
        params = {"weight": weight.transpose(2, 3, 1, 0).astype(np.float32)}
        if len(node.input) > 2 and node.input[2]:
            params["bias"] = self._const(node.input[2], node, "the bias").astype(np.float32)
        tail = self._tail(node.output[0])
        if tail["bn"] is not None:
            params.update(self._bn_vectors(tail["bn"], name))
        self.builder.conv2d(
            name, x, int(weight.shape[0]), window["kernel"], window["stride"], window["padding"],
            int(attrs.get("group", 1)), "bias" in params, tail["bn"] is not None, tail["act"],
        )
        self._emit(name, tail["out"], params)

    def _dense(self, node: Any, name: str) -> None:
        source = self._resolve(node.input[0])
        x = self._layer(source, node)
        matrix = self._const(node.input[1], node, "the weight matrix").astype(np.float32)
        bias = None
        if node.op_type == "Gemm":
            attrs = self._attrs(node)
            if attrs.get("transA", 0):
                raise ImportErrorOnnx(f"{self._where(node)}: transA=1 is not supported")
            matrix = (matrix.T if attrs.get("transB", 0) else matrix) * attrs.get("alpha", 1.0)
            if len(node.input) > 2 and node.input[2]:
                c = self._const(node.input[2], node, "C") * attrs.get("beta", 1.0)
                bias = np.broadcast_to(c, (matrix.shape[1],))
        elif len(self.builder.shape(x)) != 1 and source not in self.chw:
            raise ImportErrorOnnx(f"{self._where(node)}: MatMul needs a flattened input")
        features = math.prod(self.builder.shape(x))
        if matrix.ndim != 2 or matrix.shape[0] != features:
            raise ImportErrorOnnx(
                f"{self._where(node)}: weight matrix {matrix.shape} does not match "
                f"{features} input features"
            )
        if source in self.chw:
            c, h, w = self.chw[source]
            matrix = matrix.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(features, -1)
        tail = self._tail(node.output[0], bias_add=node.op_type == "MatMul")
        bias = tail["bias"] if bias is None else bias
        params = {"weight": np.ascontiguousarray(matrix)}
        if bias is not None:
            params["bias"] = np.asarray(bias, np.float32).copy()
        if tail["bn"] is not None:
            params.update(self._bn_vectors(tail["bn"], name))
        self.builder.dense(name, x, int(matrix.shape[1]), bias is not None,
                           tail["bn"] is not None, tail["act"])
        self._emit(name, tail["out"], params)

    def _activation(self, node: Any, name: str) -> None:
        kind = self._activation_kind(node)
        if kind is None:
            raise ImportErrorOnnx(
                f"{self._where(node)}: only Clip(0, 6) (relu6) and Clip(0, inf) are supported"
            )
        self._emit(self.builder.activation(name, self._layer(node.input[0], node), kind),
                   node.output[0])

    def _batch_norm(self, node: Any, name: str) -> None:
        x = self._layer(node.input[0], node)
        params = self._bn_vectors(node, name)
        self._emit(self.builder.batch_norm(name, x), node.output[0], params)

    def _add(self, node: Any, name: str) -> None:
        if any(self._resolve(t) in self.consts for t in node.input):
            raise ImportErrorOnnx(
                f"{self._where(node)}: Add of a constant is only supported as a MatMul bias"
            )
        xs = [self._layer(t, node) for t in node.input]
        tail = self._tail(node.output[0], bn=False)
        self.builder.add(name, xs, tail["act"])
        self._emit(name, tail["out"])

    def _global_pool(self, node: Any, name: str) -> None:
        self._emit(self.builder.global_avg_pool(name, self._layer(node.input[0], node)),
                   node.output[0])

    def _pool(self, node: Any, name: str) -> None:
        attrs = self._attrs(node)
        x = self._layer(node.input[0], node)
        kernel = tuple(int(k) for k in attrs["kernel_shape"])
        window = self._window(node, x, (kernel[0], kernel[1]))
        if attrs.get("ceil_mode", 0):
            raise ImportErrorOnnx(f"{self._where(node)}: ceil_mode=1 is not supported")
        if attrs.get("count_include_pad", 0) and any(window["padding"]):
            raise ImportErrorOnnx(
                f"{self._where(node)}: count_include_pad=1 with padding is not supported"
            )
        if len([o for o in node.output if o]) > 1:
            raise ImportErrorOnnx(f"{self._where(node)}: the Indices output is not supported")
        kind = "avg_pool" if node.op_type == "AveragePool" else "max_pool"
        self.builder.pool(name, x, kind, window["kernel"], window["stride"], window["padding"])
        self._emit(name, node.output[0])

    def _flatten_to_vector(self, node: Any, name: str) -> None:
        """(B, ...) -> (B, features): an alias for dense consumers, else a flatten layer."""
        source = self._resolve(node.input[0])
        x = self._layer(source, node)
        shape = self.builder.shape(x)
        out = node.output[0]
        if len(shape) == 1:
            self.alias[out] = source
            return
        if source in self.chw:
            self.env[out], self.chw[out] = x, self.chw[source]
            return
        readers = self._readers(out)
        if readers and set(readers) <= {"Gemm", "MatMul"}:
            # no layer: dense flattens its input; remember ONNX's (c, h, w) order
            self.env[out] = x
            self.chw[out] = (shape[2], shape[0], shape[1])
            return
        if shape[0] * shape[1] != 1:
            raise ImportErrorOnnx(
                f"{self._where(node)}: flattening a {shape[0]}x{shape[1]} map for anything "
                "but Gemm/MatMul is not supported (NCHW and NHWC orders differ)"
            )
        self._emit(self.builder.flatten(name, x), out)

    def _flatten(self, node: Any, name: str) -> None:
        if self._attrs(node).get("axis", 1) != 1:
            raise ImportErrorOnnx(f"{self._where(node)}: only Flatten with axis=1 is supported")
        self._flatten_to_vector(node, name)

    def _reshape(self, node: Any, name: str) -> None:
        target = self._const(node.input[1], node, "the target shape").astype(np.int64)
        before = self._onnx_shape(node.input[0])
        if not self._attrs(node).get("allowzero", 0):
            target = np.array([before[i] if t == 0 else t for i, t in enumerate(target)])
        after = list(np.empty(before, dtype=np.int8).reshape(target).shape)
        if after == before:
            self.alias[node.output[0]] = self._resolve(node.input[0])
        elif after == [1, math.prod(before)]:
            self._flatten_to_vector(node, name)
        else:
            raise ImportErrorOnnx(
                f"{self._where(node)}: Reshape to {target.tolist()} is not supported "
                "(only flattening to (batch, -1))"
            )

    def _softmax(self, node: Any, name: str) -> None:
        x = self._layer(node.input[0], node)
        shape = self.builder.shape(x)
        axis = int(self._attrs(node).get("axis", -1 if self.opset >= 13 else 1))
        if axis % (len(shape) + 1) != 1 or math.prod(shape) != shape[-1]:
            raise ImportErrorOnnx(
                f"{self._where(node)}: Softmax is supported over the features of a vector only"
            )
        self._emit(self.builder.softmax(name, x), node.output[0])

    def _passthrough(self, node: Any, name: str) -> None:
        if len([o for o in node.output if o]) > 1 and node.output[1] in self.consumers:
            raise ImportErrorOnnx(f"{self._where(node)}: the Dropout mask is not supported")
        self.alias[node.output[0]] = self._resolve(node.input[0])

    # ---- constant folding ------------------------------------------------------------------
    def _fold(self, node: Any) -> bool:
        """Evaluate a shape-computing node with NumPy; False if it is not constant."""
        if node.op_type not in FOLDABLE_OPS:
            return False
        if node.op_type == "Shape":
            if self._resolve(node.input[0]) not in self.env:
                return False
            values = [np.array(self._onnx_shape(node.input[0]), np.int64)]
        else:
            names = [self._resolve(t) for t in node.input if t]
            if not all(t in self.consts for t in names):
                return False
            values = [self.consts[t] for t in names]
        attrs = self._attrs(node)
        result = _evaluate(node.op_type, values, attrs, self.opset, self.onnx)
        self.consts[node.output[0]] = np.asarray(result)
        return True

    # ---- driver ----------------------------------------------------------------------------
    def inputs(self) -> None:
        for value in self.graph.input:
            if value.name in self.consts:
                continue
            dims = value.type.tensor_type.shape.dim
            sizes = [d.dim_value for d in dims[1:]]
            if any(s <= 0 for s in sizes) or len(sizes) not in (1, 3):
                shown = [d.dim_value or d.dim_param or "?" for d in dims]
                raise ImportErrorOnnx(
                    f"ONNX input {value.name!r}: shape {shown} must be (N, C, H, W) or (N, F) "
                    "with static sizes besides the batch"
                )
            shape = (sizes[1], sizes[2], sizes[0]) if len(sizes) == 3 else (sizes[0],)
            name = _sanitise(value.name) or "input"
            self._emit(self.builder.input(name, shape), value.name)

    def run(self) -> Network:
        self.inputs()
        for index, node in enumerate(self.graph.node):
            if index in self.done or self._fold(node):
                continue
            handler = self.handlers.get(node.op_type)
            if handler is None or node.domain not in ("", "ai.onnx"):
                raise ImportErrorOnnx(f"{self._where(node)}: unsupported operator "
                                      f"{node.op_type!r}")
            handler(node, self._name(node, index))
        eps = min(self.bn_eps.values(), default=1e-3)
        for layer, layer_eps in self.bn_eps.items():
            self.builder.params[layer]["bn_var"] += np.float32(layer_eps - eps)
        return self.builder.build(bn_epsilon=eps)


def _evaluate(op: str, values: list[np.ndarray], attrs: dict[str, Any], opset: int,
              onnx: Any) -> np.ndarray:
    """NumPy semantics of the foldable shape ops."""
    if op == "Constant":
        if "value" in attrs:
            return np.asarray(onnx.numpy_helper.to_array(attrs["value"]))
        return np.asarray(next(iter(attrs.values())))
    if op in ("Shape", "Identity"):
        return values[0]
    if op == "Gather":
        return np.take(values[0], values[1], axis=attrs.get("axis", 0))
    if op in ("Unsqueeze", "Squeeze"):
        axes: list[int] | None = (
            attrs.get("axes") if opset < 13 or len(values) < 2 else values[1].tolist()
        )
        if op == "Squeeze":
            return np.squeeze(values[0], axis=None if axes is None else tuple(axes))
        out, axes = values[0], list(axes or [])
        for axis in sorted(a % (out.ndim + len(axes)) for a in axes):
            out = np.expand_dims(out, axis)
        return out
    if op == "Concat":
        return np.concatenate([np.atleast_1d(v) for v in values], axis=attrs.get("axis", 0))
    if op == "Cast":
        return values[0].astype(onnx.helper.tensor_dtype_to_np_dtype(attrs["to"]))
    if op == "Slice":
        data, starts, ends = values[:3]
        dims = values[3] if len(values) > 3 else np.arange(len(starts))
        steps = values[4] if len(values) > 4 else np.ones(len(starts), np.int64)
        index = [slice(None)] * data.ndim
        for s, e, a, st in zip(starts, ends, dims, steps, strict=True):
            index[int(a)] = slice(int(s), int(e), int(st))
        return data[tuple(index)]
    if op == "Reshape":
        return values[0].reshape(values[1])
    arithmetic = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract}
    if op in arithmetic:
        return arithmetic[op](values[0], values[1])
    return values[0] // values[1] if values[0].dtype.kind in "iu" else values[0] / values[1]


def load_onnx(source: str | os.PathLike[str] | Any) -> Network:
    """Read an ONNX model (a path or an onnx.ModelProto) into a Network with its weights."""
    onnx = require_onnx()
    if isinstance(source, str | os.PathLike):
        if not os.path.exists(source):
            raise ImportErrorOnnx(f"{source}: no such ONNX file")
        try:
            model = onnx.load(os.fspath(source))
        except Exception as exc:  # onnx raises DecodeError and friends
            raise ImportErrorOnnx(f"{source}: not a readable ONNX model: {exc}") from None
    else:
        model = source
    return _Importer(model).run()
