"""Import an ONNX CNN (MobileNet-style) as a Network with its weights.

ONNX tensors are NCHW with a batch dimension; the IR is per-sample NHWC, so an input
(N, C, H, W) becomes (H, W, C) and the batch size is ignored (it may be dynamic). An
input (N, H, W, C) read only through Transpose(perm 0, 3, 1, 2), as tf2onnx writes Keras
models, becomes (H, W, C) too. Weights are transposed to the layout of
`accelsim.reference.weights` and stored in `Network.params`: Conv W (cout, cin/g, kh, kw)
-> (kh, kw, cin/g, cout); Gemm/MatMul B -> (in_features, units), its rows reordered from
ONNX's (c, h, w) flattening to the IR's (h, w, c) when a spatial map is flattened into it.

Every ONNX tensor maps to an IR layer plus a view of its data: natural (NCHW maps,
(N, F) vectors), "chw" (a map flattened in ONNX order), "hwc" (a map flattened in the
IR's order, e.g. an NHWC map flattened) or "nhwc" (a map transposed to channels-last).
Transpose, Flatten, Reshape, Squeeze and Unsqueeze only change the view; a layer that
cannot read a view raises ImportErrorOnnx. On a 1x1 map every view is the same data.

Fusions, done only when the producer's output has a single consumer and is not a graph
output: Conv/Gemm/MatMul + Mul/Add by per-channel constants (a bias, or a batch-norm
that an exporter decomposed) -> folded into the weights and bias; + BatchNormalization
-> ``batch_norm=True``; + a chain of Relu, Clip, Min and Max by constants that amounts to
relu or relu6 -> ``activation``; Add + such a chain -> activation. A zero Pad read only
by Conv nodes is merged into their padding. ReduceMean over H and W is global_avg_pool.
Flatten or a flattening Reshape feeding only Gemm/MatMul disappears (dense layers flatten
their input). Identity, Dropout and Cast to float are skipped. Constant subgraphs and
shape-only subgraphs (Shape, Gather, Unsqueeze, Concat, ...) are evaluated with NumPy
from the static shapes, taking the batch size as 1. Batch-norms with different epsilons
are imported exactly by moving the difference into their variance.
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

#: Ops that clamp their input; a chain of them amounting to relu or relu6 is an activation.
CLAMP_OPS = ("Relu", "Clip", "Min", "Max")
PASSTHROUGH_OPS = ("Identity", "Dropout")
#: Ops evaluated with NumPy when every input is a constant (Shape: when its input is known).
FOLDABLE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice",
                "Reshape", "Mul", "Add", "Sub", "Div", "Identity", "Constant", "Sqrt",
                "Reciprocal", "Neg", "Transpose", "Expand", "CastLike", "ConstantOfShape")
NCHW_TO_NHWC = [0, 2, 3, 1]
NHWC_TO_NCHW = [0, 3, 1, 2]


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
        self.consts: dict[str, np.ndarray] = {}
        for init in self.graph.initializer:
            try:
                self.consts[init.name] = numpy_helper.to_array(init)
            except (ValueError, OSError) as exc:
                raise ImportErrorOnnx(
                    f"initializer {init.name!r} (shape {list(init.dims)}) has no usable data: "
                    f"{exc}; if the model keeps its weights in an external data file, put "
                    "that file beside the .onnx file"
                ) from None
        self.env: dict[str, str] = {}  # ONNX tensor -> IR layer producing it
        self.view: dict[str, str] = {}  # ONNX tensor -> chw, hwc or nhwc (absent: natural)
        self.alias: dict[str, str] = {}
        self.pads: dict[str, tuple[str, tuple[int, int, int, int]]] = {}  # Pad out -> (in, pad)
        self.done: set[int] = set()
        self.index = 0  # the node being imported
        self.bn_eps: dict[str, float] = {}
        self.graph_outputs = {o.name for o in self.graph.output}
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(self.graph.node):
            for t in node.input:
                self.consumers.setdefault(t, []).append(i)
        self.handlers: dict[str, Callable[[Any, str], None]] = {
            "Conv": self._conv, "Gemm": self._dense, "MatMul": self._dense,
            "Relu": self._activation, "Clip": self._activation, "Min": self._activation,
            "Max": self._activation, "BatchNormalization": self._batch_norm, "Add": self._add,
            "GlobalAveragePool": self._global_pool, "ReduceMean": self._reduce_mean,
            "AveragePool": self._pool, "MaxPool": self._pool, "Flatten": self._view_op,
            "Reshape": self._view_op, "Squeeze": self._view_op, "Unsqueeze": self._view_op,
            "Transpose": self._view_op, "Pad": self._pad, "Softmax": self._softmax,
            "Identity": self._passthrough, "Dropout": self._passthrough, "Cast": self._cast,
            "Mul": self._affine_alone, "Sub": self._affine_alone, "Div": self._affine_alone,
        }

    # ---- tensors -----------------------------------------------------------------------
    def _resolve(self, tensor: str) -> str:
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def _layer(self, tensor: str, node: Any, flat: bool = False) -> str:
        """The IR layer holding a dynamic ONNX tensor, which `node` reads in its natural view.

        `flat` also accepts a map flattened to (N, features) (dense layers read those).
        """
        name = self._resolve(tensor)
        if name not in self.env:
            raise ImportErrorOnnx(
                f"{self._where(node)}: input {tensor!r} is not a feature map produced by an "
                "imported node"
            )
        layer, view = self.env[name], self.view.get(name)
        shape = self.builder.shape(layer)
        if view is None or shape[:2] == (1, 1) or (flat and view in ("chw", "hwc")):
            return layer
        described = {"nhwc": "a channels-last (NHWC) transpose", "chw": "a flattened",
                     "hwc": "a flattened"}[view]
        raise ImportErrorOnnx(
            f"{self._where(node)}: input {tensor!r} is {described} view of the "
            f"{'x'.join(map(str, shape))} map {layer!r}, which this operator cannot read"
        )

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
        """The ONNX shape of a dynamic tensor with batch size 1."""
        name = self._resolve(tensor)
        shape = self.builder.shape(self.env[name])
        view = self.view.get(name)
        if view in ("chw", "hwc"):
            return [1, math.prod(shape)]
        if view == "nhwc":
            return [1, *shape]
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

    def _axes(self, node: Any) -> list[int] | None:
        """The axes of Squeeze/Unsqueeze/ReduceMean: an attribute, or input 1 in newer opsets."""
        attrs = self._attrs(node)
        if "axes" in attrs:
            return [int(a) for a in attrs["axes"]]
        if len(node.input) > 1 and node.input[1]:
            return [int(a) for a in self._const(node.input[1], node, "axes").reshape(-1)]
        return None

    def _window(self, node: Any, x: str, kernel: tuple[int, int],
                pre: tuple[int, int, int, int] = (0, 0, 0, 0)) -> dict[str, Any]:
        """kernel, stride and explicit padding of a Conv or pool node (plus a merged Pad)."""
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
        h, w = h + pre[0] + pre[1], w + pre[2] + pre[3]
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
        padding = (padding[0] + pre[0], padding[1] + pre[1], padding[2] + pre[2],
                   padding[3] + pre[3])
        return {"kernel": kernel, "stride": stride, "padding": padding}

    def _clamp(self, node: Any) -> tuple[float, float] | None:
        """The [low, high] a Relu, Clip or Min/Max-by-a-constant node clamps to, else None."""
        if node.op_type == "Relu":
            return (0.0, np.inf)
        if node.op_type == "Clip":
            attrs = self._attrs(node)
            low, high = float(attrs.get("min", -np.inf)), float(attrs.get("max", np.inf))
            inputs = list(node.input) + ["", ""]
            if inputs[1]:
                low = self._scalar(inputs[1], node, "Clip min")
            if inputs[2]:
                high = self._scalar(inputs[2], node, "Clip max")
            return (low, high)
        if node.op_type in ("Min", "Max") and len(node.input) == 2:
            bounds = [self.consts[self._resolve(t)] for t in node.input
                      if self._resolve(t) in self.consts]
            if len(bounds) != 1 or bounds[0].size != 1:
                return None
            value = float(bounds[0].reshape(-1)[0])
            return (-np.inf, value) if node.op_type == "Min" else (value, np.inf)
        return None

    def _clamp_chain(self, index: int | None) -> tuple[str, list[int]]:
        """The activation made by the longest clamp chain from node `index` and its nodes."""
        low, high = -np.inf, np.inf
        chain: list[int] = []
        best: tuple[str, list[int]] = ("none", [])
        while index is not None:
            node = self.graph.node[index]
            bounds = self._clamp(node) if node.op_type in CLAMP_OPS else None
            if bounds is None:
                break
            low, high = min(max(low, bounds[0]), bounds[1]), max(min(high, bounds[1]), bounds[0])
            chain.append(index)
            kind = {(0.0, np.inf): "relu", (0.0, 6.0): "relu6"}.get((low, high))
            if kind is not None:
                best = (kind, list(chain))
            index = self._sole_consumer(node.output[0])
        return best

    # ---- fusion --------------------------------------------------------------------------
    def _channel_const(self, node: Any, x: str, channels: int, rank: int) -> np.ndarray | None:
        """The per-channel vector a Mul/Add node applies to tensor x, else None."""
        if len(node.input) != 2 or node.op_type not in ("Mul", "Add"):
            return None
        other = [t for t in node.input if self._resolve(t) != self._resolve(x)]
        if len(other) != 1 or self._resolve(other[0]) not in self.consts:
            return None
        value = self.consts[self._resolve(other[0])].astype(np.float64)
        if value.size == 1:
            return np.full(channels, float(value.reshape(-1)[0]))
        if value.ndim > rank or value.size != channels:
            return None
        shape = (1,) * (rank - value.ndim) + value.shape
        return value.reshape(-1) if shape[1] == channels else None

    def _tail(self, tensor: str, channels: int, rank: int, affine: bool = True,
              bn: bool = True) -> dict[str, Any]:
        """Absorb following per-channel Mul/Add, BatchNormalization and activation nodes."""
        found: dict[str, Any] = {"out": tensor, "scale": None, "shift": None, "bn": None,
                                 "act": "none"}
        index = self._sole_consumer(tensor)

        def absorb(i: int) -> int | None:
            self.done.add(i)
            found["out"] = self.graph.node[i].output[0]
            return self._sole_consumer(found["out"])

        while affine and index is not None:
            node = self.graph.node[index]
            vector = self._channel_const(node, found["out"], channels, rank)
            if vector is None:
                break
            scale = np.ones(channels) if found["scale"] is None else found["scale"]
            shift = np.zeros(channels) if found["shift"] is None else found["shift"]
            if node.op_type == "Mul":
                found["scale"], found["shift"] = scale * vector, shift * vector
            else:
                found["scale"], found["shift"] = scale, shift + vector
            index = absorb(index)
        if bn and index is not None and self.graph.node[index].op_type == "BatchNormalization":
            found["bn"] = self.graph.node[index]
            index = absorb(index)
        found["act"], chain = self._clamp_chain(index)
        for i in chain:
            absorb(i)
        return found

    @staticmethod
    def _fold_affine(tail: dict[str, Any], weight: np.ndarray, bias: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
        """Weight (..., cout) and bias after the tail's per-channel scale and shift."""
        if tail["scale"] is None:
            return weight, bias
        scale, shift = tail["scale"], tail["shift"]
        base = np.zeros(len(scale)) if bias is None else bias.astype(np.float64)
        weight = (weight.astype(np.float64) * scale).astype(np.float32)
        return weight, (base * scale + shift).astype(np.float32)

    def _bn_vectors(self, node: Any, layer: str) -> dict[str, np.ndarray]:
        attrs = self._attrs(node)
        if attrs.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
            raise ImportErrorOnnx(f"{self._where(node)}: training-mode batch-norm "
                                  "(training_mode=1 or running-statistics outputs) is not "
                                  "supported; export the model in eval mode")
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
        source, pre = self.pads.get(self._resolve(node.input[0]), (node.input[0], (0, 0, 0, 0)))
        x = self._layer(source, node)
        weight = self._const(node.input[1], node, "the weight")
        if weight.ndim != 4:
            raise ImportErrorOnnx(f"{self._where(node)}: only 2-D convolutions are supported")
        attrs = self._attrs(node)
        window = self._window(node, x, (int(weight.shape[2]), int(weight.shape[3])), pre)
        w = weight.transpose(2, 3, 1, 0).astype(np.float32)
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = self._const(node.input[2], node, "the bias").astype(np.float32).reshape(-1)
        tail = self._tail(node.output[0], int(weight.shape[0]), 4)
        w, bias = self._fold_affine(tail, w, bias)
        params = {"weight": np.ascontiguousarray(w)}
        if bias is not None:
            params["bias"] = bias
        if tail["bn"] is not None:
            params.update(self._bn_vectors(tail["bn"], name))
        self.builder.conv2d(
            name, x, int(weight.shape[0]), window["kernel"], window["stride"], window["padding"],
            int(attrs.get("group", 1)), bias is not None, tail["bn"] is not None, tail["act"],
        )
        self._emit(name, tail["out"], params)

    def _dense(self, node: Any, name: str) -> None:
        source = self._resolve(node.input[0])
        x = self._layer(source, node, flat=True)
        shape = self.builder.shape(x)
        view = self.view.get(source)
        matrix = self._const(node.input[1], node, "the weight matrix").astype(np.float32)
        bias = None
        if node.op_type == "Gemm":
            attrs = self._attrs(node)
            if attrs.get("transA", 0):
                raise ImportErrorOnnx(f"{self._where(node)}: transA=1 is not supported")
            matrix = (matrix.T if attrs.get("transB", 0) else matrix) * attrs.get("alpha", 1.0)
            if len(node.input) > 2 and node.input[2]:
                c = self._const(node.input[2], node, "C") * attrs.get("beta", 1.0)
                bias = np.broadcast_to(c, (matrix.shape[1],)).astype(np.float32)
        if len(shape) == 3 and view is None and shape[:2] != (1, 1):
            raise ImportErrorOnnx(f"{self._where(node)}: {node.op_type} needs a flattened input")
        features = math.prod(shape)
        if matrix.ndim != 2 or matrix.shape[0] != features:
            raise ImportErrorOnnx(
                f"{self._where(node)}: weight matrix {matrix.shape} does not match "
                f"{features} input features"
            )
        if view == "chw":
            h, w, c = shape
            matrix = matrix.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(features, -1)
        tail = self._tail(node.output[0], int(matrix.shape[1]), 2)
        matrix, bias = self._fold_affine(tail, matrix, bias)
        params = {"weight": np.ascontiguousarray(matrix, dtype=np.float32)}
        if bias is not None:
            params["bias"] = np.asarray(bias, np.float32).copy()
        if tail["bn"] is not None:
            params.update(self._bn_vectors(tail["bn"], name))
        self.builder.dense(name, x, int(matrix.shape[1]), bias is not None,
                           tail["bn"] is not None, tail["act"])
        self._emit(name, tail["out"], params)

    def _activation(self, node: Any, name: str) -> None:
        kind, chain = self._clamp_chain(self.index)
        if not chain:
            raise ImportErrorOnnx(
                f"{self._where(node)}: only Relu, Clip(0, 6) and Min/Max by constants that "
                "amount to relu or relu6 are supported"
            )
        self.done.update(chain)
        binary = node.op_type in ("Min", "Max")
        x = self._layer(self._dynamic_input(node) if binary else node.input[0], node)
        self._emit(self.builder.activation(name, x, kind), self.graph.node[chain[-1]].output[0])

    def _dynamic_input(self, node: Any) -> str:
        """The one non-constant input of a binary node."""
        dynamic = [t for t in node.input if t and self._resolve(t) not in self.consts]
        if len(dynamic) != 1:
            raise ImportErrorOnnx(f"{self._where(node)}: expected one non-constant input")
        return dynamic[0]

    def _batch_norm(self, node: Any, name: str) -> None:
        x = self._layer(node.input[0], node)
        params = self._bn_vectors(node, name)
        self._emit(self.builder.batch_norm(name, x), node.output[0], params)

    def _add(self, node: Any, name: str) -> None:
        if any(self._resolve(t) in self.consts for t in node.input):
            raise ImportErrorOnnx(
                f"{self._where(node)}: Add of a constant is only supported right after a "
                "Conv, Gemm or MatMul (folded into its bias)"
            )
        xs = [self._layer(t, node) for t in node.input]
        tail = self._tail(node.output[0], 0, 0, affine=False, bn=False)
        self.builder.add(name, xs, tail["act"])
        self._emit(name, tail["out"])

    def _affine_alone(self, node: Any, name: str) -> None:
        raise ImportErrorOnnx(
            f"{self._where(node)}: {node.op_type} of a feature map is only supported as a "
            "per-channel constant right after a Conv, Gemm or MatMul (folded into its weights)"
        )

    def _global_pool(self, node: Any, name: str) -> None:
        self._emit(self.builder.global_avg_pool(name, self._layer(node.input[0], node)),
                   node.output[0])

    def _reduce_mean(self, node: Any, name: str) -> None:
        source = self._resolve(node.input[0])
        x = self._layer(source, node) if self.view.get(source) != "nhwc" else self.env[source]
        spatial = [1, 2] if self.view.get(source) == "nhwc" else [2, 3]
        given = self._axes(node)
        axes = None if given is None else sorted(a % 4 for a in given)
        if len(self.builder.shape(x)) != 3 or axes != spatial:
            raise ImportErrorOnnx(
                f"{self._where(node)}: ReduceMean is supported over the spatial axes of a "
                f"feature map only (axes {spatial}), got axes {axes}"
            )
        self._emit(self.builder.global_avg_pool(name, x), node.output[0])
        if not self._attrs(node).get("keepdims", 1):
            self.view[node.output[0]] = "chw"  # (N, C): on a 1x1 map every order agrees
        elif spatial == [1, 2]:
            self.view[node.output[0]] = "nhwc"

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

    def _pad(self, node: Any, name: str) -> None:
        """A zero Pad of H and W read only by Conv nodes: merged into their padding."""
        attrs = self._attrs(node)
        mode = attrs.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        inputs = list(node.input) + ["", "", ""]
        if self.opset < 11:
            pads, value = np.array(attrs.get("pads", [])), float(attrs.get("value", 0.0))
        else:
            pads = self._const(inputs[1], node, "pads").astype(np.int64).reshape(-1)
            value = self._scalar(inputs[2], node, "constant_value") if inputs[2] else 0.0
        self._layer(node.input[0], node)
        if inputs[3]:
            axes = [int(a) % 4 for a in self._const(inputs[3], node, "axes").reshape(-1)]
            full = np.zeros(8, np.int64)
            for i, a in enumerate(axes):
                full[a], full[a + 4] = pads[i], pads[i + len(axes)]
            pads = full
        readers = self._readers(node.output[0])
        if (mode != "constant" or value != 0 or len(pads) != 8 or pads[[0, 1, 4, 5]].any()
                or (pads < 0).any() or not readers or set(readers) != {"Conv"}):
            raise ImportErrorOnnx(
                f"{self._where(node)}: only a zero Pad of the spatial axes read by Conv nodes "
                f"is supported (merged into their padding); got mode {mode}, value {value}, "
                f"pads {pads.tolist()}, read by {sorted(set(readers))}"
            )
        top, left, bottom, right = (int(v) for v in pads[[2, 3, 6, 7]])
        self.pads[node.output[0]] = (self._resolve(node.input[0]), (top, bottom, left, right))

    def _view_op(self, node: Any, name: str) -> None:
        """Flatten, Reshape, Squeeze, Unsqueeze and Transpose: a new view of the same data."""
        source = self._resolve(node.input[0])
        if source not in self.env:
            self._layer(source, node)  # raises: not a feature map
        before = self._onnx_shape(source)
        attrs = self._attrs(node)
        out = node.output[0]
        if node.op_type == "Transpose":
            self._transpose(node, source, [int(p) for p in attrs.get("perm", [])], before)
            return
        if node.op_type == "Flatten":
            axis = int(attrs.get("axis", 1)) % len(before)
            after = [math.prod(before[:axis]), math.prod(before[axis:])]
        elif node.op_type == "Reshape":
            target = self._const(node.input[1], node, "the target shape").astype(np.int64)
            if not attrs.get("allowzero", 0):
                target = np.array([before[i] if t == 0 else t for i, t in enumerate(target)])
            after = list(np.empty(before, dtype=np.int8).reshape(target).shape)
        elif node.op_type == "Squeeze":
            given = self._axes(node)
            axes = ([i for i, d in enumerate(before) if d == 1 and i > 0] if given is None
                    else [a % len(before) for a in given])
            after = [d for i, d in enumerate(before) if i not in axes]
        else:
            given = self._axes(node) or []
            after = list(before)
            for axis in sorted(a % (len(before) + len(given)) for a in given):
                after.insert(axis, 1)
        self._reshape_to(node, name, source, before, after, out)

    def _transpose(self, node: Any, source: str, perm: list[int], before: list[int]) -> None:
        view = self.view.get(source)
        out = node.output[0]
        if perm == list(range(len(before))):
            self.alias[out] = source
        elif view is None and len(before) == 4 and perm == NCHW_TO_NHWC:
            self.env[out], self.view[out] = self.env[source], "nhwc"
        elif view == "nhwc" and perm == NHWC_TO_NCHW:
            self.env[out] = self.env[source]
        else:
            raise ImportErrorOnnx(
                f"{self._where(node)}: Transpose perm {perm} of a tensor of shape {before} is "
                "not supported (only NCHW <-> NHWC of a feature map)"
            )

    def _reshape_to(self, node: Any, name: str, source: str, before: list[int],
                    after: list[int], out: str) -> None:
        x = self.env[source]
        shape = self.builder.shape(x)
        view = self.view.get(source)
        if after == before:
            self.alias[out] = source
        elif len(after) == 2 and after[0] == 1 and after[1] == math.prod(before):
            self._flatten_to_vector(node, name, source, out)
        elif len(shape) == 3 and shape[:2] == (1, 1) and after == [1, shape[2], 1, 1]:
            self.env[out] = x  # (N, C) -> (N, C, 1, 1): the natural view of a 1x1 map
        elif len(shape) == 3 and shape[:2] == (1, 1) and after == [1, 1, 1, shape[2]]:
            self.env[out], self.view[out] = x, "nhwc"
        else:
            shown = "x".join(map(str, shape))
            raise ImportErrorOnnx(
                f"{self._where(node)}: {node.op_type} from {before} to {after} (batch 1) is not "
                f"supported for the {shown} tensor {x!r} ({view or 'natural'} view): only "
                "flattening to (batch, features) and (batch, C) <-> (batch, C, 1, 1)"
            )

    def _flatten_to_vector(self, node: Any, name: str, source: str, out: str) -> None:
        """(B, ...) -> (B, features): a view for dense consumers, else a flatten layer."""
        x = self.env[source]
        shape = self.builder.shape(x)
        view = self.view.get(source)
        if len(shape) == 1:
            self.alias[out] = source
            return
        if view in ("chw", "hwc"):
            self.env[out], self.view[out] = x, view
            return
        readers = self._readers(out)
        if readers and set(readers) <= {"Gemm", "MatMul"}:
            # no layer: dense flattens its input; remember the flattening order
            self.env[out], self.view[out] = x, "hwc" if view == "nhwc" else "chw"
            return
        if shape[0] * shape[1] != 1 and view != "nhwc":
            raise ImportErrorOnnx(
                f"{self._where(node)}: flattening a {shape[0]}x{shape[1]} map for anything "
                "but Gemm/MatMul is not supported (NCHW and NHWC orders differ)"
            )
        self._emit(self.builder.flatten(name, x), out)

    def _softmax(self, node: Any, name: str) -> None:
        x = self._layer(node.input[0], node, flat=True)
        shape = self.builder.shape(x)
        rank = len(self._onnx_shape(node.input[0]))
        axis = int(self._attrs(node).get("axis", -1 if self.opset >= 13 else 1))
        if axis % rank != 1 or math.prod(shape) != shape[-1]:
            raise ImportErrorOnnx(
                f"{self._where(node)}: Softmax is supported over the features of a vector only"
            )
        self._emit(self.builder.softmax(name, x), node.output[0])

    def _passthrough(self, node: Any, name: str) -> None:
        if len([o for o in node.output if o]) > 1 and node.output[1] in self.consumers:
            raise ImportErrorOnnx(f"{self._where(node)}: the Dropout mask is not supported")
        self.alias[node.output[0]] = self._resolve(node.input[0])

    def _cast(self, node: Any, name: str) -> None:
        to = self.onnx.helper.tensor_dtype_to_np_dtype(self._attrs(node)["to"])
        if to != np.float32:
            raise ImportErrorOnnx(f"{self._where(node)}: Cast of a feature map to {to} is "
                                  "not supported (only to float32)")
        self._passthrough(node, name)

    # ---- constant folding ------------------------------------------------------------------
    def _fold(self, node: Any) -> bool:
        """Evaluate a constant or shape-computing node with NumPy; False if it is not constant."""
        if node.op_type not in FOLDABLE_OPS:
            return False
        first = self._resolve(node.input[0]) if node.input else ""
        if node.op_type == "Shape" and first in self.consts:
            values = [np.array(self.consts[first].shape, np.int64)]
        elif node.op_type == "Shape":
            if first not in self.env:
                return False
            values = [np.array(self._onnx_shape(node.input[0]), np.int64)]
        elif node.op_type == "CastLike":  # the target may be a feature map: only its dtype counts
            if first not in self.consts:
                return False
            target = self.consts.get(self._resolve(node.input[1]), np.zeros(0, np.float32))
            values = [self.consts[first], target]
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
            name = _sanitise(value.name) or "input"
            self._emit(self.builder.input(name, shape), value.name)
            if nhwc:
                self.view[value.name] = "nhwc"

    def run(self) -> Network:
        self.inputs()
        for index, node in enumerate(self.graph.node):  # constants first: Clip bounds, ...
            if node.op_type != "Shape" and self._fold(node):
                self.done.add(index)
        for index, node in enumerate(self.graph.node):
            if index in self.done or self._fold(node):
                continue
            handler = self.handlers.get(node.op_type)
            if handler is None or node.domain not in ("", "ai.onnx"):
                raise ImportErrorOnnx(f"{self._where(node)}: unsupported operator "
                                      f"{node.op_type!r}")
            self.index = index
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
    if op == "Shape":
        return values[0][attrs.get("start", 0):attrs.get("end", len(values[0]))]
    if op == "Identity":
        return values[0]
    if op == "CastLike":
        return values[0].astype(values[1].dtype)
    if op == "Expand":
        return values[0] * np.ones(tuple(int(d) for d in values[1]), values[0].dtype)
    if op == "ConstantOfShape":
        fill = attrs.get("value")
        value = onnx.numpy_helper.to_array(fill) if fill is not None else np.zeros(1, np.float32)
        return np.full(tuple(int(d) for d in values[0]), value.reshape(-1)[0], value.dtype)
    unary = {"Sqrt": np.sqrt, "Reciprocal": np.reciprocal, "Neg": np.negative}
    if op in unary:
        return np.asarray(unary[op](values[0]))
    if op == "Transpose":
        return np.transpose(values[0], attrs.get("perm"))
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
