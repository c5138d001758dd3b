"""Handlers of the ONNX operators that become IR layers, one method per operator family."""

from __future__ import annotations

import math
from typing import Any, NoReturn

import numpy as np

from accelsim.errors import ImportErrorOnnx
from accelsim.ir.onnx.patterns import SPECIAL_ACTIVATIONS, Patterns
from accelsim.ir.onnx.views import Views

__all__ = ["Handlers"]


class Handlers(Patterns, Views):
    """Conv, Gemm/MatMul, activations, batch-norm, element-wise, pools, softmax."""

    def _bias(self, node: Any) -> np.ndarray | None:
        """A Conv or ConvTranspose node's bias (input 2), if it has one."""
        if len(node.input) > 2 and node.input[2]:
            return self._const(node.input[2], node, "the bias").astype(np.float32).reshape(-1)
        return None

    def _weighted_tail(self, node: Any, name: str, weight: np.ndarray, bias: np.ndarray | None,
                       rank: int, affine: bool = True) -> tuple[dict[str, Any],
                                                                dict[str, np.ndarray]]:
        """The fused tail of a weighted node and its parameters with the tail folded in:
        (tail, params) for a weight of layout (..., output channels)."""
        tail = self._tail(node.output[0], int(weight.shape[-1]), rank, affine=affine)
        weight, bias = self._fold_affine(tail, weight, bias)
        params = {"weight": np.ascontiguousarray(weight, dtype=np.float32)}
        if bias is not None:
            params["bias"] = np.asarray(bias, np.float32).copy()
        if tail["bn"] is not None:
            params.update(self._bn_vectors(tail["bn"], name))
        return tail, params

    def _conv(self, node: Any, name: str) -> None:
        source, pre = self.pads.get(self._resolve(node.input[0]), (node.input[0], (0, 0, 0, 0)))
        x = self._layer(source, node)
        weight = self._const(node.input[1], node, "the weight")
        if weight.ndim != 4:
            raise ImportErrorOnnx(f"{self._where(node)}: only 2-D convolutions are supported")
        attrs = self._attrs(node)
        window = self._window(node, x, (int(weight.shape[2]), int(weight.shape[3])), pre)
        w = weight.transpose(2, 3, 1, 0).astype(np.float32)
        tail, params = self._weighted_tail(node, name, w, self._bias(node), 4)
        self.builder.conv2d(
            name, x, int(weight.shape[0]), window["kernel"], window["stride"], window["padding"],
            int(attrs.get("group", 1)), "bias" in params, tail["bn"] is not None, tail["act"],
            tail["act_params"],
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
        tail, params = self._weighted_tail(node, name, matrix, bias, 2)
        self.builder.dense(name, x, int(matrix.shape[1]), "bias" in params,
                           tail["bn"] is not None, tail["act"], tail["act_params"])
        self._emit(name, tail["out"], params)

    def _activation(self, node: Any, name: str) -> None:
        """A standalone activation: a clamp chain, a sigmoid-like op, or x * gate(x)."""
        if node.op_type in SPECIAL_ACTIVATIONS:
            x = self._layer(node.input[0], node)
            gated = self._self_gated(node.input[0])
            if gated is not None and gated[1][0] == self.index:
                self.done.update(gated[1])
                layer = self.builder.activation(name, x, gated[0])
                self._emit(layer, self.graph.node[gated[1][1]].output[0])
                return
            kind, params = SPECIAL_ACTIVATIONS[node.op_type], self._activation_params(node)
            self._emit(self.builder.activation(name, x, kind, params), node.output[0])
            return
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
        self.builder.add(name, xs, tail["act"], tail["act_params"])
        self._emit(name, tail["out"])

    def _binary(self, node: Any, name: str) -> None:
        """Mul or Sub of two feature maps (a 1x1 map broadcasts: squeeze-excite)."""
        if any(self._resolve(t) in self.consts for t in node.input):
            self._affine_alone(node, name)
        xs = [self._layer(t, node) for t in node.input]
        tail = self._tail(node.output[0], 0, 0, affine=False, bn=False)
        method = self.builder.mul if node.op_type == "Mul" else self.builder.sub
        method(name, xs, tail["act"], tail["act_params"])
        self._emit(name, tail["out"])

    def _affine_alone(self, node: Any, name: str) -> NoReturn:
        raise ImportErrorOnnx(
            f"{self._where(node)}: {node.op_type} of a feature map is only supported as a "
            "per-channel constant right after a Conv, Gemm or MatMul (folded into its weights)"
        )

    def _global_pool(self, node: Any, name: str) -> None:
        x = self._layer(node.input[0], node)
        method = self.builder.global_max_pool if node.op_type == "GlobalMaxPool" else \
            self.builder.global_avg_pool
        self._emit(method(name, x), node.output[0])

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
        if attrs.get("count_include_pad", 0) and any(window["padding"]):
            raise ImportErrorOnnx(
                f"{self._where(node)}: count_include_pad=1 with padding is not supported"
            )
        if len([o for o in node.output if o]) > 1:
            raise ImportErrorOnnx(f"{self._where(node)}: the Indices output is not supported")
        kind = "avg_pool" if node.op_type == "AveragePool" else "max_pool"
        self.builder.pool(name, x, kind, window["kernel"], window["stride"], window["padding"],
                          bool(attrs.get("ceil_mode", 0)))
        self._emit(name, node.output[0])


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

    # ---- channels ------------------------------------------------------------------------
    def _channel_axis(self, node: Any, axis: int, what: str) -> None:
        """ImportErrorOnnx unless `axis` is the channel axis of an NCHW map."""
        if axis % 4 != 1:
            raise ImportErrorOnnx(f"{self._where(node)}: {what} is supported along the "
                                  f"channels (axis 1) of feature maps only, got axis {axis}")

    def _concat(self, node: Any, name: str) -> None:
        """Concat of feature maps along channels: a concat layer (a view, no copy)."""
        self._channel_axis(node, int(self._attrs(node).get("axis", 1)), "Concat")
        xs = [self._layer(t, node) for t in node.input if t]
        if any(len(self.builder.shape(x)) != 3 for x in xs):
            raise ImportErrorOnnx(f"{self._where(node)}: Concat of vectors is not supported")
        self._emit(self.builder.concat(name, xs), node.output[0])

    def _split(self, node: Any, name: str) -> None:
        """Split of a map's channels: one channel_slice per used output."""
        attrs = self._attrs(node)
        x = self._layer(node.input[0], node)
        self._channel_axis(node, int(attrs.get("axis", 0)), "Split")
        channels = self.builder.shape(x)[-1]
        if "split" in attrs:
            sizes = [int(v) for v in attrs["split"]]
        elif len(node.input) > 1 and node.input[1]:
            sizes = [int(v) for v in self._const(node.input[1], node, "split").reshape(-1)]
        else:
            step = -(-channels // len(node.output))
            sizes = [min(step, channels - i * step) for i in range(len(node.output))]
        start = 0
        for i, (out, size) in enumerate(zip(node.output, sizes, strict=True)):
            if out and (out in self.consumers or out in self.graph_outputs):
                self._emit(self.builder.channel_slice(f"{name}_{i}", x, start, start + size),
                           out)
            start += size

    def _slice(self, node: Any, name: str) -> None:
        """Slice of a map's channels with step 1: a channel_slice."""
        x = self._layer(node.input[0], node)
        channels = self.builder.shape(x)[-1]
        inputs = list(node.input) + ["", ""]
        if self.opset < 10:
            attrs = self._attrs(node)
            starts, ends = list(attrs["starts"]), list(attrs["ends"])
            axes = list(attrs.get("axes", range(len(starts))))
            steps = [1] * len(starts)
        else:
            starts, ends = (self._const(inputs[i], node, what).reshape(-1).tolist()
                            for i, what in ((1, "starts"), (2, "ends")))
            axes = (self._const(inputs[3], node, "axes").reshape(-1).tolist() if inputs[3]
                    else list(range(len(starts))))
            steps = (self._const(inputs[4], node, "steps").reshape(-1).tolist() if inputs[4]
                     else [1] * len(starts))
        if len(axes) != 1 or steps != [1]:
            raise ImportErrorOnnx(f"{self._where(node)}: only a step-1 Slice of one axis (the "
                                  f"channels) is supported, got axes {axes}, steps {steps}")
        self._channel_axis(node, int(axes[0]), "Slice")
        start, stop = (int(v) + channels if int(v) < 0 else int(v) for v in (starts[0], ends[0]))
        start, stop = min(start, channels), min(stop, channels)
        self._emit(self.builder.channel_slice(name, x, start, stop), node.output[0])

    # ---- upsampling ----------------------------------------------------------------------
    def _conv_transpose(self, node: Any, name: str) -> None:
        """ConvTranspose (2-D, dilation 1, explicit pads and output_padding)."""
        x = self._layer(node.input[0], node)
        weight = self._const(node.input[1], node, "the weight")
        attrs = self._attrs(node)
        if weight.ndim != 4 or any(int(d) != 1 for d in attrs.get("dilations", [1, 1])):
            raise ImportErrorOnnx(f"{self._where(node)}: only 2-D ConvTranspose without "
                                  "dilation is supported")
        if "output_shape" in attrs or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET",
                                                                               "NOTSET"):
            raise ImportErrorOnnx(f"{self._where(node)}: ConvTranspose with output_shape or "
                                  "auto_pad is not supported (give pads)")
        groups = int(attrs.get("group", 1))
        pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
        cout = int(weight.shape[1]) * groups
        w = weight.transpose(2, 3, 0, 1).astype(np.float32)  # (kh, kw, cin, cout / groups)
        # per-channel affine tails fold into the weight only when its last axis is Cout
        tail, params = self._weighted_tail(node, name, w, self._bias(node), 4, groups == 1)
        self.builder.conv_transpose(
            name, x, cout, (int(weight.shape[2]), int(weight.shape[3])),
            tuple(int(v) for v in attrs.get("strides", [1, 1])),
            (pads[0], pads[2], pads[1], pads[3]), tuple(attrs.get("output_padding", [0, 0])),
            groups, "bias" in params, tail["bn"] is not None, tail["act"], tail["act_params"])
        self._emit(name, tail["out"], params)

    def _resize_scales(self, node: Any, shape: tuple[int, ...]) -> list[float]:
        """The (N, C, H, W) scales of a Resize or Upsample, from scales or sizes."""
        inputs = list(node.input) + ["", "", ""]
        if node.op_type == "Upsample" and self.opset < 9:
            return [float(v) for v in self._attrs(node)["scales"]]
        if node.op_type == "Upsample" or self.opset < 11:
            return self._const(inputs[1], node, "scales").reshape(-1).tolist()
        if inputs[2] and self._const(inputs[2], node, "scales").size:
            return self._const(inputs[2], node, "scales").reshape(-1).tolist()
        sizes = self._const(inputs[3], node, "sizes").reshape(-1).tolist()
        h, w, c = shape
        return [sizes[0], sizes[1] / c, sizes[2] / h, sizes[3] / w]

    def _resize(self, node: Any, name: str) -> None:
        """Resize/Upsample by integer factors: nearest (floor) or linear (half-pixel)."""
        x = self._layer(node.input[0], node)
        attrs = {k: v.decode() if isinstance(v, bytes) else v
                 for k, v in self._attrs(node).items()}
        scales = self._resize_scales(node, self.builder.shape(x))
        factors = [int(round(v)) for v in scales[2:]]
        mode = attrs.get("mode", "nearest")
        ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
        half_pixel = ctm in ("half_pixel", "pytorch_half_pixel")
        nearest = mode == "nearest" and (
            (ctm == "asymmetric" and attrs.get("nearest_mode", "round_prefer_floor") == "floor")
            or (half_pixel and attrs.get("nearest_mode", "round_prefer_floor").startswith(
                "round")))
        if (scales[:2] != [1, 1] or any(f < 1 or abs(f - v) > 1e-6 for f, v in
                                        zip(factors, scales[2:], strict=True))
                or not (nearest or (mode == "linear" and half_pixel))):
            raise ImportErrorOnnx(
                f"{self._where(node)}: only upsampling of H and W by integer factors, nearest "
                "(asymmetric + floor, or half-pixel) or linear (half-pixel), is supported; got "
                f"scales {scales}, mode {mode}, coordinate_transformation_mode {ctm}")
        layer = self.builder.resize(name, x, factors, "nearest" if nearest else "bilinear")
        self._emit(layer, node.output[0])

    def _prelu(self, node: Any, name: str) -> None:
        """PRelu with a constant slope per channel (or one for all)."""
        x = self._layer(node.input[0], node)
        channels = self.builder.shape(x)[-1]
        slope = self._const(node.input[1], node, "the slope").astype(np.float32).reshape(-1)
        if slope.size not in (1, channels):
            raise ImportErrorOnnx(f"{self._where(node)}: PRelu slope must have one value or "
                                  f"one per channel ({channels}), got {slope.size}")
        params = {"slope": np.broadcast_to(slope, (channels,)).copy()}
        self._emit(self.builder.prelu(name, x), node.output[0], params)
