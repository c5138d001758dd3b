"""NetworkBuilder: the one place where layers are created and shapes are inferred.

The model zoo, model files and the ONNX importer all build networks through it, so
`same`/`valid`/explicit padding, output sizes and shape checks have one definition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from accelsim.errors import GraphError
from accelsim.ir.graph import Network
from accelsim.ir.layers import Activation, Layer, Shape
from accelsim.ir.ops.activation import ACTIVATION_KINDS
from accelsim.ir.ops.resize import RESIZE_MODES

__all__ = ["NetworkBuilder", "Padding", "resolve_padding"]

Padding = str | int | Sequence[int]
ACTIVATIONS: tuple[str, ...] = ACTIVATION_KINDS


def _pair(value: int | Sequence[int], what: str, layer: str) -> tuple[int, int]:
    """Read an int or a 2-sequence as (rows, cols)."""
    if isinstance(value, int):
        pair = (value, value)
    else:
        seq = tuple(int(v) for v in value)
        if len(seq) != 2:
            raise GraphError(f"layer {layer!r}: {what} must be one integer or two, got {value}")
        pair = (seq[0], seq[1])
    if min(pair) < 1:
        raise GraphError(f"layer {layer!r}: {what} must be >= 1, got {value}")
    return pair


def resolve_padding(
    padding: Padding, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
    layer: str,
) -> tuple[int, int, int, int]:
    """Turn `same`, `valid`, an int or (t, b, l, r) into explicit (top, bottom, left, right).

    `same` follows TensorFlow: output = ceil(input / stride), the extra pad at the end.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise GraphError(
                f"layer {layer!r}: padding must be same, valid, an integer or "
                f"[top, bottom, left, right], got {padding!r}"
            )
        pads = []
        for n, k, s in zip(size, kernel, stride, strict=True):
            out = math.ceil(n / s)
            total = max((out - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        return (pads[0][0], pads[0][1], pads[1][0], pads[1][1])
    if isinstance(padding, int):
        values: tuple[int, ...] = (padding,) * 4
    else:
        values = tuple(int(p) for p in padding)
        if len(values) == 2:
            values = (values[0], values[0], values[1], values[1])
    if len(values) != 4 or min(values) < 0:
        raise GraphError(
            f"layer {layer!r}: explicit padding must be non-negative [top, bottom, left, right], "
            f"got {padding!r}"
        )
    return (values[0], values[1], values[2], values[3])


def _window_out(n: int, k: int, s: int, before: int, after: int) -> int:
    """Output length of a sliding window (floor division, as every framework does)."""
    return (n + before + after - k) // s + 1


def _ceil_extra(n: int, k: int, s: int, before: int, after: int) -> int:
    """Extra end padding that makes floor division give ceil_mode's output length.

    ceil_mode rounds the window count up, but (as PyTorch and ONNX do) drops a last
    window that would start in the end padding.
    """
    out = -(-(n + before + after - k) // s) + 1
    if (out - 1) * s >= n + before:
        out -= 1
    return max((out - 1) * s + k - (n + before + after), 0)


class NetworkBuilder:
    """Append layers one at a time; each call infers and checks the output shape.

    Every method returns the new layer's name, so calls chain: `x = b.conv2d("c1", x, ...)`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._layers: list[Layer] = []
        self._shapes: dict[str, Shape] = {}
        self.params: dict[str, dict[str, np.ndarray]] = {}

    # ---- helpers ---------------------------------------------------------------------
    def shape(self, tensor: str) -> Shape:
        """Output shape of an existing layer; GraphError if there is none by that name."""
        try:
            return self._shapes[tensor]
        except KeyError:
            known = ", ".join(self._shapes) or "none yet"
            raise GraphError(
                f"{self.name}: unknown input {tensor!r} (layers so far: {known})"
            ) from None

    def _add(self, layer: Layer) -> str:
        if layer.name in self._shapes:
            raise GraphError(f"{self.name}: layer name {layer.name!r} is used twice")
        if any(d <= 0 for d in layer.output_shape):
            raise GraphError(
                f"{self.name}: layer {layer.name!r} would have an empty output "
                f"{layer.output_shape} (input {layer.input_shape}); the input resolution "
                "is too small for this network"
            )
        self._layers.append(layer)
        self._shapes[layer.name] = layer.output_shape
        return layer.name

    def _feature_map(self, name: str, x: str) -> tuple[int, int, int]:
        shape = self.shape(x)
        if len(shape) != 3:
            raise GraphError(
                f"{self.name}: layer {name!r} needs an (H, W, C) input, but {x!r} is {shape}"
            )
        return (shape[0], shape[1], shape[2])

    @staticmethod
    def _activation(name: str, activation: str) -> Activation:
        if activation not in ACTIVATIONS:
            raise GraphError(
                f"layer {name!r}: activation must be one of {', '.join(ACTIVATIONS)}, "
                f"got {activation!r}"
            )
        return activation  # type: ignore[return-value]

    # ---- layers ----------------------------------------------------------------------
    def input(self, name: str, shape: Sequence[int]) -> str:
        """The network input, per sample, e.g. (224, 224, 3)."""
        out = tuple(int(d) for d in shape)
        return self._add(Layer(name, "input", (), (), out))

    def conv2d(
        self,
        name: str,
        x: str,
        filters: int,
        kernel: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 1,
        padding: Padding = "same",
        groups: int = 1,
        use_bias: bool = False,
        batch_norm: bool = False,
        activation: str = "none",
        act_params: Sequence[float] = (),
    ) -> str:
        """A 2-D convolution; groups == in == out channels makes it `depthwise_conv2d`."""
        h, w, c = self._feature_map(name, x)
        k = _pair(kernel, "kernel", name)
        s = _pair(stride, "stride", name)
        self._check_groups(name, c, filters, groups)
        pad = resolve_padding(padding, (h, w), k, s, name)
        out = (
            _window_out(h, k[0], s[0], pad[0], pad[1]),
            _window_out(w, k[1], s[1], pad[2], pad[3]),
            int(filters),
        )
        op = "depthwise_conv2d" if groups > 1 and groups == c == filters else "conv2d"
        return self._add(
            Layer(name, op, (x,), ((h, w, c),), out, k, s, pad, groups, use_bias, batch_norm,
                  self._activation(name, activation), tuple(act_params))
        )

    def _check_groups(self, name: str, channels: int, filters: int, groups: int) -> None:
        """Input and output channels must be positive multiples of the groups."""
        if filters < 1 or groups < 1 or channels % groups or filters % groups:
            raise GraphError(
                f"{self.name}: layer {name!r}: channels in ({channels}) and out ({filters}) "
                f"must be positive multiples of groups ({groups})"
            )

    def conv_transpose(
        self, name: str, x: str, filters: int, kernel: int | Sequence[int] = 2,
        stride: int | Sequence[int] = 2, padding: Sequence[int] = (0, 0, 0, 0),
        output_padding: Sequence[int] = (0, 0), groups: int = 1, use_bias: bool = False,
        batch_norm: bool = False, activation: str = "none", act_params: Sequence[float] = (),
    ) -> str:
        """A transposed convolution: (H - 1) * stride + kernel - crop + output_padding rows.

        `padding` (top, bottom, left, right) crops the scattered output, as ONNX pads do;
        `output_padding` (rows, cols) adds rows and columns at the end.
        """
        h, w, c = self._feature_map(name, x)
        k = _pair(kernel, "kernel", name)
        s = _pair(stride, "stride", name)
        self._check_groups(name, c, filters, groups)
        crop = resolve_padding(tuple(padding), (h, w), k, s, name)
        extra = tuple(int(v) for v in output_padding)
        if len(extra) != 2 or min(extra) < 0 or extra[0] >= s[0] or extra[1] >= s[1]:
            raise GraphError(f"layer {name!r}: output_padding must be two integers in "
                             f"[0, stride), got {list(output_padding)}")
        pad = (crop[0], crop[1] - extra[0], crop[2], crop[3] - extra[1])
        out = ((h - 1) * s[0] + k[0] - pad[0] - pad[1], (w - 1) * s[1] + k[1] - pad[2] - pad[3],
               int(filters))
        return self._add(Layer(name, "conv_transpose", (x,), ((h, w, c),), out, k, s, pad,
                               groups, use_bias, batch_norm, self._activation(name, activation),
                               tuple(act_params)))

    def depthwise_conv2d(
        self, name: str, x: str, kernel: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
        padding: Padding = "same", use_bias: bool = False, batch_norm: bool = False,
        activation: str = "none",
    ) -> str:
        """A depthwise convolution: one filter per input channel (groups = channels)."""
        c = self._feature_map(name, x)[2]
        return self.conv2d(name, x, c, kernel, stride, padding, c, use_bias, batch_norm,
                           activation)

    def dense(
        self, name: str, x: str, units: int, use_bias: bool = True, batch_norm: bool = False,
        activation: str = "none", act_params: Sequence[float] = (),
    ) -> str:
        """A fully connected layer over the flattened input."""
        shape = self.shape(x)
        if units < 1:
            raise GraphError(f"{self.name}: layer {name!r}: units must be >= 1, got {units}")
        return self._add(
            Layer(name, "dense", (x,), (shape,), (int(units),), use_bias=use_bias,
                  batch_norm=batch_norm, activation=self._activation(name, activation),
                  act_params=tuple(act_params))
        )

    def pool(
        self, name: str, x: str, kind: str, kernel: int | Sequence[int],
        stride: int | Sequence[int] | None = None, padding: Padding = "valid",
        ceil_mode: bool = False,
    ) -> str:
        """avg_pool or max_pool with the given window (stride defaults to the window).

        `ceil_mode` rounds the output size up (PyTorch, ONNX); it is stored as extra
        bottom/right padding, which max pooling never picks and average pooling never counts.
        """
        if kind not in ("avg_pool", "max_pool"):
            raise GraphError(f"layer {name!r}: pool kind must be avg_pool or max_pool")
        h, w, c = self._feature_map(name, x)
        k = _pair(kernel, "kernel", name)
        s = _pair(stride if stride is not None else k, "stride", name)
        pad = resolve_padding(padding, (h, w), k, s, name)
        if ceil_mode:
            pad = (pad[0], pad[1] + _ceil_extra(h, k[0], s[0], pad[0], pad[1]),
                   pad[2], pad[3] + _ceil_extra(w, k[1], s[1], pad[2], pad[3]))
        out = (_window_out(h, k[0], s[0], pad[0], pad[1]),
               _window_out(w, k[1], s[1], pad[2], pad[3]), c)
        return self._add(Layer(name, kind, (x,), ((h, w, c),), out, k, s, pad))

    def global_avg_pool(self, name: str, x: str) -> str:
        """Average over all rows and columns, keeping (1, 1, C)."""
        h, w, c = self._feature_map(name, x)
        return self._add(Layer(name, "global_avg_pool", (x,), ((h, w, c),), (1, 1, c),
                               kernel=(h, w), stride=(h, w)))

    def global_max_pool(self, name: str, x: str) -> str:
        """Maximum over all rows and columns: a max_pool whose window is the whole map."""
        h, w, _ = self._feature_map(name, x)
        return self.pool(name, x, "max_pool", (h, w))

    def _elementwise(self, op: str, name: str, inputs: Sequence[str], activation: str,
                     act_params: Sequence[float] = ()) -> str:
        """add, sub, mul: equal shapes, or (1, 1, C) inputs broadcast over a (H, W, C) map."""
        shapes = tuple(self.shape(i) for i in inputs)
        if len(shapes) < 2 or (op != "add" and len(shapes) != 2):
            count = "at least two inputs" if op == "add" else "exactly two inputs"
            raise GraphError(f"{self.name}: {op} layer {name!r} needs {count}")
        out = max(shapes, key=math.prod)
        for shape in shapes:
            if shape != out and not (len(shape) == len(out) == 3 and shape[:2] == (1, 1)
                                     and shape[2] == out[2]):
                detail = ", ".join(f"{i} {s}" for i, s in zip(inputs, shapes, strict=True))
                raise GraphError(
                    f"{self.name}: {op} layer {name!r} has mismatched shapes: {detail} (only "
                    "equal shapes, or a 1x1 map broadcast over rows and columns)")
        return self._add(Layer(name, op, tuple(inputs), shapes, out,
                               activation=self._activation(name, activation),
                               act_params=tuple(act_params)))

    def add(self, name: str, inputs: Sequence[str], activation: str = "none",
            act_params: Sequence[float] = ()) -> str:
        """Element-wise sum of two or more maps (a residual add); 1x1 maps broadcast."""
        return self._elementwise("add", name, inputs, activation, act_params)

    def sub(self, name: str, inputs: Sequence[str], activation: str = "none",
            act_params: Sequence[float] = ()) -> str:
        """Element-wise difference of two maps; a 1x1 map broadcasts."""
        return self._elementwise("sub", name, inputs, activation, act_params)

    def mul(self, name: str, inputs: Sequence[str], activation: str = "none",
            act_params: Sequence[float] = ()) -> str:
        """Element-wise product of two maps; a 1x1 map broadcasts (squeeze-excite scale)."""
        return self._elementwise("mul", name, inputs, activation, act_params)

    def activation(self, name: str, x: str, kind: str, params: Sequence[float] = ()) -> str:
        """A standalone non-linearity (see accelsim.ir.ops.activation for the kinds)."""
        shape = self.shape(x)
        return self._add(Layer(name, "activation", (x,), (shape,), shape,
                               activation=self._activation(name, kind), act_params=tuple(params)))

    def prelu(self, name: str, x: str) -> str:
        """Parametric ReLU with one learnt slope per channel (params key ``slope``)."""
        shape = self.shape(x)
        return self._add(Layer(name, "prelu", (x,), (shape,), shape))

    def concat(self, name: str, inputs: Sequence[str]) -> str:
        """Channel concatenation of maps with equal rows and columns (one input is allowed)."""
        shapes = tuple(self._feature_map(name, i) for i in inputs)
        if not shapes or len({s[:2] for s in shapes}) != 1:
            detail = ", ".join(f"{i} {s}" for i, s in zip(inputs, shapes, strict=True))
            raise GraphError(f"{self.name}: concat layer {name!r} needs one or more maps of "
                             f"equal rows and columns, got {detail or 'none'}")
        out = (shapes[0][0], shapes[0][1], sum(s[2] for s in shapes))
        return self._add(Layer(name, "concat", tuple(inputs), shapes, out))

    def channel_slice(self, name: str, x: str, start: int, stop: int) -> str:
        """Channels [start, stop) of a map."""
        h, w, c = self._feature_map(name, x)
        if not 0 <= start < stop <= c:
            raise GraphError(f"{self.name}: layer {name!r}: channel range [{start}, {stop}) "
                             f"must lie in [0, {c}) and not be empty")
        return self._add(Layer(name, "channel_slice", (x,), ((h, w, c),), (h, w, stop - start),
                               channel_range=(start, stop)))

    def channel_shuffle(self, name: str, x: str, groups: int) -> str:
        """ShuffleNet's channel shuffle of `groups` groups."""
        shape = self._feature_map(name, x)
        if groups < 1 or shape[2] % groups:
            raise GraphError(f"{self.name}: layer {name!r}: {shape[2]} channels do not split "
                             f"into {groups} groups")
        return self._add(Layer(name, "channel_shuffle", (x,), (shape,), shape, groups=groups))

    def resize(self, name: str, x: str, scale: int | Sequence[int], mode: str = "nearest"
               ) -> str:
        """Upsampling by integer factors (rows, cols), nearest or bilinear (half-pixel)."""
        h, w, c = self._feature_map(name, x)
        s = _pair(scale, "scale", name)
        if mode not in RESIZE_MODES:
            raise GraphError(f"layer {name!r}: resize mode must be one of "
                             f"{', '.join(RESIZE_MODES)}, got {mode!r}")
        return self._add(Layer(name, "resize", (x,), ((h, w, c),), (h * s[0], w * s[1], c),
                               stride=s, mode=mode))

    def batch_norm(self, name: str, x: str) -> str:
        """A standalone batch-norm (per-channel scale and shift); foldable into its producer."""
        shape = self.shape(x)
        return self._add(Layer(name, "batch_norm", (x,), (shape,), shape))

    def flatten(self, name: str, x: str) -> str:
        """Flatten (H, W, C) to (H*W*C,)."""
        shape = self.shape(x)
        return self._add(Layer(name, "flatten", (x,), (shape,), (math.prod(shape),)))

    def softmax(self, name: str, x: str) -> str:
        """Softmax over the last dimension."""
        shape = self.shape(x)
        return self._add(Layer(name, "softmax", (x,), (shape,), shape))

    # ---- result ------------------------------------------------------------------------
    def build(self, bn_epsilon: float = 1e-3) -> Network:
        """The checked Network, layers in the order they were added."""
        return Network.from_layers(self.name, list(self._layers), self.params, bn_epsilon)
