"""Layout views: Transpose, Flatten, Reshape, Squeeze and Unsqueeze change how a tensor's
data is seen (natural NCHW, "chw"/"hwc" flattened, "nhwc" channels-last), not the data,
so they add no layer unless a real flatten is needed. Identity, Dropout and Cast to
float32 are skipped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from accelsim.errors import ImportErrorOnnx
from accelsim.ir.onnx.state import NCHW_TO_NHWC, NHWC_TO_NCHW, ImportState

__all__ = ["Views"]


class Views(ImportState):
    """Handlers of the view-changing ops."""

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
        elif view == "grouped" and perm == [0, 2, 1, 3, 4]:  # ShuffleNet's channel shuffle
            self.env[out], self.view[out] = self.env[source], "shuffled"
            self.shuffle[out] = ("shuffled", self.shuffle[source][1])
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
        elif (view is None and len(shape) == 3 and len(after) == 5 and after[0] == 1
              and after[1] * after[2] == shape[2] and after[3:] == [shape[0], shape[1]]):
            self.env[out], self.view[out] = x, "grouped"
            self.shuffle[out] = ("grouped", after[1])
        elif view == "shuffled" and after == [1, shape[2], shape[0], shape[1]]:
            self._emit(self.builder.channel_shuffle(name, x, self.shuffle[source][1]), out)
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

