"""Vectorised NumPy kernels on batched channels-last arrays: (B, H, W, C) and (B, N).

Every kernel takes its input array and its geometry (stride, explicit padding
``(top, bottom, left, right)``) as arguments and never reads a Layer, so a schedule
replay can call it on a tile: an interior tile is passed with its halo already included
and padding ``(0, 0, 0, 0)``, an edge tile with the part of the padding it touches.

The kernels keep the input dtype: float32 for the float reference, int64 or exactly
integer-valued float64 for integer mode (see `accelsim.reference.quant`). The only
Python loops are over the taps of a kernel window (at most kh * kw iterations), never
over pixels or channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "NO_PADDING",
    "Padding4",
    "add",
    "avg_pool",
    "batch_norm",
    "channel_shuffle",
    "concat",
    "conv2d",
    "conv_transpose2d",
    "dense",
    "depthwise_conv2d",
    "flatten",
    "global_avg_pool",
    "global_sum",
    "max_pool",
    "pad",
    "pointwise_conv2d",
    "multiply",
    "relu",
    "relu6",
    "resize",
    "softmax",
    "subtract",
    "window_count",
    "window_sum",
]

Padding4 = tuple[int, int, int, int]
NO_PADDING: Padding4 = (0, 0, 0, 0)
#: Elements per block of rows in the depthwise kernel (128 Ki float32 = 512 KiB).
_BLOCK_ELEMENTS = 128 * 1024


def pad(x: np.ndarray, padding: Padding4, value: float | int = 0) -> np.ndarray:
    """Pad rows and columns of (B, H, W, C) by (top, bottom, left, right) with `value`.

    One copy into a new array and a fill of the four borders: what `np.pad` computes,
    without its per-call bookkeeping (half its time on a batch-1 feature map).
    """
    top, bottom, left, right = padding
    if not any(padding):
        return x
    b, h, w, c = x.shape
    out = np.empty((b, top + h + bottom, left + w + right, c), dtype=x.dtype)
    out[:, top : top + h, left : left + w] = x
    for border in (out[:, :top], out[:, top + h :], out[:, top : top + h, :left],
                   out[:, top : top + h, left + w :]):
        border.fill(value)
    return out


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """A read-only view (B, OH, OW, C, kh, kw) of every window of an already padded input."""
    view = sliding_window_view(x, kernel, axis=(1, 2))
    return view[:, :: stride[0], :: stride[1]]


def _taps(
    x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]
) -> list[tuple[int, int, np.ndarray]]:
    """Per kernel tap (i, j), the (B, OH, OW, C) slice of a padded input that tap reads.

    With a stride, the input is first split into stride[0] * stride[1] contiguous phases
    (one copy of the input in total) so every tap is a unit-stride slice of one phase;
    NumPy then runs long inner loops over whole rows instead of C-element pieces.
    """
    sh, sw = stride
    oh = (x.shape[1] - kernel[0]) // sh + 1
    ow = (x.shape[2] - kernel[1]) // sw + 1
    phases: dict[tuple[int, int], np.ndarray] = {}
    taps = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            key = (i % sh, j % sw)
            if key not in phases:
                phases[key] = x if stride == (1, 1) else np.ascontiguousarray(
                    x[:, key[0] :: sh, key[1] :: sw])
            phase = phases[key]
            taps.append((i, j, phase[:, i // sh : i // sh + oh, j // sw : j // sw + ow]))
    return taps


def pointwise_conv2d(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A 1x1, stride-1 convolution as one matrix product: (B*H*W, C) @ (C, cout)."""
    cin, cout = weight.shape[-2], weight.shape[-1]
    out = np.matmul(x.reshape(-1, cin), weight.reshape(cin, cout))
    return out.reshape(*x.shape[:-1], cout)


def depthwise_conv2d(
    x: np.ndarray, weight: np.ndarray, stride: tuple[int, int] = (1, 1),
    padding: Padding4 = NO_PADDING,
) -> np.ndarray:
    """Depthwise convolution, weight (kh, kw, 1, C): a multiply-sum over the kernel taps.

    Each tap multiplies a strided (B, OH, OW, C) slice by its C coefficients; summing the
    kh * kw products is cheaper than reducing a window view, which walks memory across C.
    The coefficients are repeated along a whole output row first, so every operand is
    contiguous over (OW, C) and NumPy runs one long inner loop per row instead of
    C-element pieces (3x faster at C = 32; the products and sums are the same).
    """
    kernel = (weight.shape[0], weight.shape[1])
    taps = _taps(pad(x, padding), kernel, stride)
    b, oh, ow, c = taps[0][2].shape
    out = np.empty((b, oh, ow, c), dtype=np.result_type(x, weight))
    row_weight = np.ascontiguousarray(
        np.broadcast_to(weight[:, :, 0, None, :], (*kernel, ow, c)), dtype=out.dtype)
    # Blocks of output rows small enough for the accumulator to stay in cache across taps.
    rows = max(1, _BLOCK_ELEMENTS // (b * ow * c))
    scratch = np.empty((b, min(rows, oh), ow, c), dtype=out.dtype)
    for top in range(0, oh, rows):
        block, part = out[:, top : top + rows], scratch[:, : min(rows, oh - top)]
        np.multiply(taps[0][2][:, top : top + rows], row_weight[0, 0], out=block)
        for i, j, window in taps[1:]:
            np.multiply(window[:, top : top + rows], row_weight[i, j], out=part)
            block += part
    return out


def conv2d(
    x: np.ndarray, weight: np.ndarray, stride: tuple[int, int] = (1, 1),
    padding: Padding4 = NO_PADDING, groups: int = 1,
) -> np.ndarray:
    """2-D convolution of (B, H, W, Cin) with weight (kh, kw, Cin/groups, Cout), no bias.

    Dispatches to the pointwise matmul, the depthwise tap sum, an im2col matrix product
    (groups == 1) or a grouped einsum; all give the same result up to float rounding.
    """
    kh, kw, cin_g, cout = weight.shape
    if groups == x.shape[-1] == cout and cin_g == 1:
        return depthwise_conv2d(x, weight, stride, padding)
    xp = pad(x, padding)
    if (kh, kw) == (1, 1) and groups == 1:
        return pointwise_conv2d(xp[:, :: stride[0], :: stride[1]], weight)
    windows = _windows(xp, (kh, kw), stride)
    b, oh, ow = windows.shape[:3]
    if groups == 1:
        cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(b * oh * ow, kh * kw * cin_g)
        return np.matmul(cols, weight.reshape(-1, cout)).reshape(b, oh, ow, cout)
    grouped = windows.reshape(b, oh, ow, groups, cin_g, kh, kw)
    kernel = weight.reshape(kh, kw, cin_g, groups, cout // groups)
    out = np.einsum("bhwgcij,ijcgo->bhwgo", grouped, kernel, optimize=True)
    return out.reshape(b, oh, ow, cout)


def dense(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fully connected layer: flatten each sample (C order of NHWC), then (B, K) @ (K, N)."""
    return np.matmul(x.reshape(x.shape[0], -1), weight)


def window_sum(
    x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
    padding: Padding4 = NO_PADDING,
) -> np.ndarray:
    """Sum of each pooling window, padding counted as zeros.

    A window covering the whole unpadded input (a global pool written as a pool) is one
    reduction instead of kh * kw slice additions.
    """
    if padding == NO_PADDING and kernel == x.shape[1:3]:
        return x.sum(axis=(1, 2), keepdims=True, dtype=x.dtype)  # the taps' type, as below
    taps = _taps(pad(x, padding), kernel, stride)
    out = taps[0][2].copy()
    for _, _, window in taps[1:]:
        out += window
    return out


def window_count(
    size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
    padding: Padding4 = NO_PADDING,
) -> np.ndarray:
    """How many real (non-padding) inputs each window of an (H, W) map covers: (1, OH, OW, 1)."""
    ones = np.ones((1, size[0], size[1], 1), dtype=np.int64)
    return window_sum(ones, kernel, stride, padding)


def avg_pool(
    x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
    padding: Padding4 = NO_PADDING,
) -> np.ndarray:
    """Average pooling that divides by the number of real inputs in each window.

    This is ONNX AveragePool with ``count_include_pad=0`` (and TensorFlow's `same`
    average pooling): padding neither adds to the sum nor to the divisor.
    """
    total = window_sum(x, kernel, stride, padding)
    count = window_count((x.shape[1], x.shape[2]), kernel, stride, padding)
    return (total / count).astype(x.dtype, copy=False)


def max_pool(
    x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
    padding: Padding4 = NO_PADDING,
) -> np.ndarray:
    """Max pooling; padding never wins (it is the dtype's lowest value)."""
    lowest = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else -np.inf
    taps = _taps(pad(x, padding, lowest), kernel, stride)
    out = taps[0][2].copy()
    for _, _, window in taps[1:]:
        np.maximum(out, window, out=out)
    return out


def global_sum(x: np.ndarray) -> np.ndarray:
    """Sum over rows and columns, keeping (B, 1, 1, C)."""
    return x.sum(axis=(1, 2), keepdims=True)


def global_avg_pool(x: np.ndarray) -> np.ndarray:
    """Mean over rows and columns, keeping (B, 1, 1, C)."""
    return x.mean(axis=(1, 2), keepdims=True, dtype=x.dtype)


def add(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Element-wise sum, a (B, 1, 1, C) array broadcasting over rows and columns."""
    out = np.broadcast_to(inputs[0], np.broadcast_shapes(*(x.shape for x in inputs))).copy()
    for other in inputs[1:]:
        out += other
    return out


def subtract(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """First minus second, broadcasting a (B, 1, 1, C) array."""
    return np.subtract(inputs[0], inputs[1])


def multiply(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Element-wise product, broadcasting a (B, 1, 1, C) array (the squeeze-excite scale)."""
    return np.multiply(inputs[0], inputs[1])


def concat(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenation along channels (the last axis)."""
    return np.concatenate(list(inputs), axis=-1)


def channel_shuffle(x: np.ndarray, groups: int) -> np.ndarray:
    """ShuffleNet's shuffle: (.., g, C/g) channels transposed to (.., C/g, g)."""
    *lead, c = x.shape
    return np.ascontiguousarray(
        x.reshape(*lead, groups, c // groups).swapaxes(-1, -2)).reshape(x.shape)


def _crop(x: np.ndarray, crop: Padding4) -> np.ndarray:
    """Remove (top, bottom, left, right) rows and columns; negative amounts add zeros."""
    top, bottom, left, right = crop
    x = pad(x, (max(-top, 0), max(-bottom, 0), max(-left, 0), max(-right, 0)))
    top, bottom, left, right = (max(v, 0) for v in crop)
    return x[:, top : x.shape[1] - bottom, left : x.shape[2] - right]


def conv_transpose2d(
    x: np.ndarray, weight: np.ndarray, stride: tuple[int, int], crop: Padding4,
    groups: int = 1,
) -> np.ndarray:
    """Transposed convolution, weight (kh, kw, Cin, Cout/groups), no bias.

    Every kernel tap scatters a (B, H, W, Cout) product into the stride-spaced positions
    of the full (H - 1) * stride + kh output, which `crop` then trims (negative: pads).
    """
    kh, kw, cin, cout_g = weight.shape
    b, h, w, _ = x.shape
    sh, sw = stride
    full = np.zeros((b, (h - 1) * sh + kh, (w - 1) * sw + kw, cout_g * groups),
                    dtype=np.result_type(x, weight))
    grouped = x.reshape(b, h, w, groups, cin // groups)
    for i in range(kh):
        for j in range(kw):
            tap = weight[i, j].reshape(groups, cin // groups, cout_g)
            product = np.einsum("bhwgc,gco->bhwgo", grouped, tap).reshape(b, h, w, -1)
            full[:, i : i + (h - 1) * sh + 1 : sh, j : j + (w - 1) * sw + 1 : sw] += product
    return _crop(full, crop)


def _bilinear_axis(x: np.ndarray, scale: int, axis: int) -> np.ndarray:
    """Half-pixel linear interpolation by an integer factor along `axis` (edges clamped)."""
    n = x.shape[axis]
    coord = (np.arange(n * scale) + 0.5) / scale - 0.5
    low = np.floor(coord).astype(np.int64)
    frac = (coord - low).astype(x.dtype)
    shape = [1] * x.ndim
    shape[axis] = n * scale
    lo = np.take(x, np.clip(low, 0, n - 1), axis=axis)
    hi = np.take(x, np.clip(low + 1, 0, n - 1), axis=axis)
    return lo * (1 - frac.reshape(shape)) + hi * frac.reshape(shape)


def resize(x: np.ndarray, scale: tuple[int, int], mode: str, crop: Padding4 = NO_PADDING
           ) -> np.ndarray:
    """Upsample (B, H, W, C) by integer factors, nearest or bilinear, then crop a tile."""
    if mode == "nearest":
        out = np.repeat(np.repeat(x, scale[0], axis=1), scale[1], axis=2)
    else:
        out = _bilinear_axis(_bilinear_axis(x, scale[0], 1), scale[1], 2)
    return _crop(out, crop)


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0)."""
    return np.maximum(x, 0)


def relu6(x: np.ndarray) -> np.ndarray:
    """min(max(x, 0), 6)."""
    return np.clip(x, 0, 6)


def batch_norm(
    x: np.ndarray, scale: np.ndarray, shift: np.ndarray, mean: np.ndarray, var: np.ndarray,
    eps: float, out: np.ndarray | None = None,
) -> np.ndarray:
    """Inference batch-norm over the last axis: scale * (x - mean) / sqrt(var + eps) + shift.

    Computed as one multiply and one add per element (``x * f + (shift - mean * f)``);
    `out` may be `x` itself to work in place.
    """
    factor = scale / np.sqrt(var + eps)
    y = np.multiply(x, factor.astype(x.dtype), out=out)
    y += (shift - mean * factor).astype(x.dtype)
    return y


def flatten(x: np.ndarray) -> np.ndarray:
    """(B, H, W, C) -> (B, H*W*C) in C order, the IR's flatten."""
    return x.reshape(x.shape[0], -1)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so exp never overflows."""
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
