"""The importer's state: the ONNX graph, constants, the tensor -> layer map, and helpers.

Every ONNX tensor maps to an IR layer plus a view of its data (see accelsim.ir.onnx.views);
`ImportState` holds those maps and the lookups every handler uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from accelsim.errors import AccelsimError, ImportErrorOnnx
from accelsim.ir.builder import NetworkBuilder, resolve_padding

__all__ = ["CLAMP_OPS", "PASSTHROUGH_OPS", "ImportState", "require_onnx", "sanitise"]

#: Ops that clamp their input; a chain of them amounting to relu or relu6 is an activation.
CLAMP_OPS = ("Relu", "Clip", "Min", "Max")
PASSTHROUGH_OPS = ("Identity", "Dropout")
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



def sanitise(name: str) -> str:
    """A node name reduced to letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


class ImportState:
    """The graph being imported and what has been built from it so far."""

    def __init__(self, model: Any) -> None:
        self.onnx = require_onnx()
        from onnx import numpy_helper

        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        self.builder = NetworkBuilder(sanitise(self.graph.name) or "onnx_model")
        self.consts: dict[str, np.ndarray] = {}
        self.missing: list[str] = []  # initializers with shapes but no data
        for init in self.graph.initializer:
            self.consts[init.name] = self._initializer(init, numpy_helper)
        self.env: dict[str, str] = {}  # ONNX tensor -> IR layer producing it
        # ONNX tensor -> chw, hwc, nhwc, grouped or shuffled (absent: natural)
        self.view: dict[str, str] = {}
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
        self.shuffle: dict[str, tuple[str, int]] = {}  # tensor -> (grouped/shuffled, groups)
        self.handlers: dict[str, Callable[[Any, str], None]] = {}

    def _initializer(self, init: Any, numpy_helper: Any) -> np.ndarray:
        """An initializer's array; zeros of its shape when it has no data (weights stripped
        to keep only shapes), remembered in `missing`."""
        stripped = not (init.raw_data or init.float_data or init.int64_data or init.int32_data
                        or init.double_data or init.data_location)
        if stripped and math.prod(init.dims) > 0:
            self.missing.append(init.name)
            dtype = self.onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
            return np.zeros(tuple(init.dims), dtype)
        try:
            return np.asarray(numpy_helper.to_array(init))
        except (ValueError, OSError) as exc:
            raise ImportErrorOnnx(
                f"initializer {init.name!r} (shape {list(init.dims)}) has no usable data: "
                f"{exc}; if the model keeps its weights in an external data file, put "
                "that file beside the .onnx file"
            ) from None

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
                     "hwc": "a flattened", "grouped": "a channel-grouped (5-D)",
                     "shuffled": "a channel-shuffled (5-D)"}[view]
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
        if view in ("grouped", "shuffled"):
            (h, w, c), groups = shape, self.shuffle[name][1]
            inner = [groups, c // groups] if view == "grouped" else [c // groups, groups]
            return [1, *inner, h, w]
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
        base = sanitise(node.name) or f"{node.op_type.lower()}_{index}"
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

    def _emit(self, name: str, out: str, params: dict[str, np.ndarray] | None = None) -> None:
        self.env[out] = name
        if params:
            self.builder.params[name] = params

