"""Integer-mode arithmetic: symmetric per-tensor quantisation, accumulation, requantisation.

The scheme, chosen so that a tiled schedule replay is bit-exact with a whole-layer run:

- Every tensor t is held as integers q with real value ``q * s_t``, ``|q| <= 2**(b-1) - 1``
  (symmetric, so -2**(b-1) is never used). ``s_t = max|t| / (2**(b-1) - 1)`` is calibrated
  from a float32 run on the same input, per layer output (``b = activation_bits``).
- A layer's batch-norm is folded into its weights and bias first; the folded weights are
  quantised per tensor to ``weight_bits``; the bias to the accumulator scale
  ``s_in * s_w`` as a plain integer.
- A conv or dense layer accumulates ``sum(q_in * q_w) + q_bias`` exactly (int64, or
  float32 / float64 when every partial sum provably stays within 2**24 / below 2**53,
  which is exact and uses BLAS). A final accumulator outside the signed
  ``accumulator_bits`` range is an overflow: it is counted per layer and reported, and
  the exact value is kept (never wrapped or clipped). Pool sums are checked the same way.
- Requantisation is a pure element-wise function of the accumulator:
  ``q_out = clip(rint(act(acc * (s_acc / s_out) + offset / s_out)))`` with round half to
  even (`numpy.rint`). Values clipped to the activation range are counted as saturations.
  Because nothing depends on neighbouring elements, tiling cannot change a result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.errors import ConfigError
from accelsim.ir.layers import Layer
from accelsim.ir.ops import activation as activations
from accelsim.reference import kernels
from accelsim.reference.kernels import Padding4
from accelsim.reference.weights import LayerParams

__all__ = [
    "REAL_KERNELS",
    "IntLayerOutput",
    "Precision",
    "QuantLayer",
    "accumulate",
    "calibrate_layer",
    "finish_accumulator",
    "fold_batch_norm",
    "int_layer",
    "qmax",
    "quantize",
    "requantize",
]

#: Largest integer float64 represents exactly, so integer sums below it need no int64.
_EXACT_FLOAT64 = 2**53
#: float32 represents every integer up to this magnitude exactly.
_EXACT_FLOAT32 = 2**24


@dataclass(frozen=True)
class Precision:
    """Bit widths of the integer datapath: activations, weights and the MAC accumulator."""

    activation_bits: int = 8
    weight_bits: int = 8
    accumulator_bits: int = 32

    def __post_init__(self) -> None:
        for name in ("activation_bits", "weight_bits"):
            value = getattr(self, name)
            if not 2 <= value <= 16:
                raise ConfigError(f"precision.{name}: must be between 2 and 16, got {value}")
        if not 2 <= self.accumulator_bits <= 64:
            raise ConfigError(
                f"precision.accumulator_bits: must be between 2 and 64, got "
                f"{self.accumulator_bits}"
            )


def qmax(bits: int) -> int:
    """Largest magnitude of a symmetric signed `bits`-bit integer: 2**(bits-1) - 1."""
    return int(2 ** (bits - 1) - 1)


def scale_for(max_abs: float, bits: int) -> float:
    """Per-tensor scale mapping max-abs onto the largest integer (1.0 for an all-zero tensor)."""
    return float(max_abs) / qmax(bits) if max_abs > 0 else 1.0


def quantize(x: np.ndarray, scale: float, bits: int) -> np.ndarray:
    """Round x / scale half to even and clip to the symmetric range, as int64."""
    limit = qmax(bits)
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) / scale), -limit, limit).astype(
        np.int64
    )


def requantize(
    acc: np.ndarray, acc_scale: float | np.ndarray, out_scale: float, bits: int,
    activation: str = "none", offset: float | np.ndarray = 0.0,
    act_params: tuple[float, ...] = (), consume: bool = False,
) -> tuple[np.ndarray, int]:
    """Integers at `out_scale` for the real values ``act(acc * acc_scale + offset)``.

    Element-wise and deterministic (round half to even); returns the integers as float64
    (exact: at most 16 bits) and how many elements were clipped to the `bits`-bit range.
    relu and relu6 clamp in the output scale; other activations apply to the real values
    (float64). `consume` lets a float64 `acc` the caller no longer needs be overwritten.
    """
    if activation not in activations.FREE_ACTIVATIONS:
        real = np.asarray(acc, dtype=np.float64) * np.asarray(acc_scale)
        if np.any(offset):
            real += np.asarray(offset)
        values = activations.apply(real, activation, act_params) / out_scale
        activation = "none"
    else:
        factor = np.asarray(acc_scale) / out_scale
        if consume and acc.dtype == np.float64 and np.shape(factor) in ((), acc.shape[-1:]):
            values = np.multiply(acc, factor, out=acc)
        else:
            values = np.asarray(acc, dtype=np.float64) * factor
        if np.any(offset):
            values += np.asarray(offset) / out_scale
    if activation in ("relu", "relu6"):  # np.clip: the same values as np.maximum, faster
        np.clip(values, 0.0, 6.0 / out_scale if activation == "relu6" else np.inf, out=values)
    rounded = np.rint(values, out=values)
    limit = qmax(bits)
    saturated = _beyond(rounded, limit, activation in ("relu", "relu6"))
    if saturated:
        np.clip(rounded, -limit, limit, out=rounded)
    return rounded, saturated


def _beyond(rounded: np.ndarray, limit: int, nonnegative: bool) -> int:
    """How many elements exceed +-limit (a max or min pass first: usually none do)."""
    count = 0
    if rounded.size and rounded.max() > limit:
        count += int(np.count_nonzero(rounded > limit))
    if rounded.size and not nonnegative and rounded.min() < -limit:
        count += int(np.count_nonzero(rounded < -limit))
    return count


def fold_batch_norm(
    layer: Layer, params: LayerParams, eps: float, dtype: type[np.floating] = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias of a conv or dense layer with its batch-norm folded in, as `dtype`.

    ``bn(w.x + b) = (w * f).x + (b - mean) * f + shift`` with ``f = scale / sqrt(var + eps)``
    per output channel (the last axis of the weight).
    """
    weight = params["weight"].astype(dtype, copy=False)
    bias = params.get("bias", np.zeros(layer.out_channels)).astype(dtype)
    if not layer.batch_norm:
        return weight, bias
    factor = params["bn_scale"] / np.sqrt(params["bn_var"].astype(dtype) + dtype(eps))
    return weight * factor, (bias - params["bn_mean"]) * factor + params["bn_shift"]


@dataclass(frozen=True, eq=False)
class QuantLayer:
    """Calibrated integer state of one layer: its scales and, if weighted, integer weights.

    `weight` holds integer values in the float layout of weights.py, in the dtype the
    layer accumulates in exactly: float32 or float64 when `exact_float` (every partial
    sum provably within 2**24, resp. below 2**53), int64 otherwise; `accumulator_bound`
    is the largest |accumulator| (bias included) any input in range can produce (None:
    unknown, so every accumulator is checked for overflow).
    `bias` is int64 at scale ``in_scales[0] * weight_scale``. A standalone batch-norm
    keeps its per-channel real `factor` and `offset`; a PReLU its real slopes
    (`real_params`).
    """

    out_scale: float
    in_scales: tuple[float, ...]
    precision: Precision
    weight: np.ndarray | None = None
    weight_scale: float = 1.0
    bias: np.ndarray | None = None
    exact_float: bool = True
    accumulator_bound: int | None = None
    factor: np.ndarray | None = None
    offset: np.ndarray | None = None
    real_params: Mapping[str, np.ndarray] | None = None


def _products_bound(weight: np.ndarray, precision: Precision) -> int:
    """Largest |sum of input * weight products| any input in range gives one output."""
    per_output = math.prod(weight.shape[:-1])
    return qmax(precision.activation_bits) * qmax(precision.weight_bits) * per_output


def _accumulator_bound(weight: np.ndarray, bias: np.ndarray, precision: Precision) -> int:
    """Largest |accumulator| any input in range can produce for this layer."""
    return _products_bound(weight, precision) + int(np.abs(bias).max(initial=0))


def _accumulate_dtype(weight: np.ndarray, bias: np.ndarray, precision: Precision
                      ) -> type[np.number]:
    """The narrowest dtype in which this layer's multiply-accumulate is exact.

    Every partial sum of integer products is bounded by the products bound, so a float
    type sums them exactly when that bound is an integer it represents: float32 up to
    2**24 (every layer of an 8-bit MobileNet: float32 BLAS and half the memory traffic),
    float64 below 2**53, else int64. The bias is added afterwards, exactly: in float64
    when the whole accumulator stays below 2**53, else in int64.
    """
    if _accumulator_bound(weight, bias, precision) >= _EXACT_FLOAT64:
        return np.int64
    return np.float32 if _products_bound(weight, precision) <= _EXACT_FLOAT32 else np.float64


def calibrate_layer(
    layer: Layer, params: LayerParams, out_max_abs: float,
    in_scales: tuple[float, ...], precision: Precision, eps: float,
) -> QuantLayer:
    """Quantisation state of `layer` from its float output's max-abs and its inputs' scales.

    `params` is the layer's entry of weights.py (checked by the caller; empty if none).
    """
    out_scale = scale_for(out_max_abs, precision.activation_bits)
    if layer.is_weighted:
        weight, bias = fold_batch_norm(layer, params, eps)
        w_scale = scale_for(float(np.abs(weight).max(initial=0)), precision.weight_bits)
        q_weight = quantize(weight, w_scale, precision.weight_bits)
        q_bias = np.rint(bias / (in_scales[0] * w_scale)).astype(np.int64)
        dtype = _accumulate_dtype(q_weight, q_bias, precision)
        return QuantLayer(out_scale, in_scales, precision, q_weight.astype(dtype), w_scale,
                          q_bias, dtype is not np.int64,
                          _accumulator_bound(q_weight, q_bias, precision))
    if layer.op == "batch_norm":
        factor = params["bn_scale"] / np.sqrt(params["bn_var"].astype(np.float64) + eps)
        offset = params["bn_shift"] - params["bn_mean"] * factor
        return QuantLayer(out_scale, in_scales, precision, factor=factor, offset=offset)
    if layer.op == "prelu":
        return QuantLayer(out_scale, in_scales, precision, real_params=dict(params))
    return QuantLayer(out_scale, in_scales, precision)


@dataclass(frozen=True)
class IntLayerOutput:
    """One layer's integer result with its overflow and saturation counts (additive over tiles)."""

    values: np.ndarray
    overflows: int = 0
    saturations: int = 0
    #: The same integers as float64 when the kernel had them so: a consumer that needs
    #: floats (the next layer's multiply-accumulate, dequantisation) converts from this.
    exact: np.ndarray | None = None


def _checked(acc: np.ndarray, state: QuantLayer) -> int:
    """How many accumulator values fall outside the signed accumulator range."""
    half = 2 ** (state.precision.accumulator_bits - 1)
    return int(np.count_nonzero((acc < -half) | (acc > half - 1)))


def _finish(acc: np.ndarray, layer: Layer, state: QuantLayer,
            acc_scale: float | np.ndarray, offset: float | np.ndarray = 0.0,
            activation: str | None = None, check: bool = True, consume: bool = False
            ) -> IntLayerOutput:
    """Count overflows (if `check`), requantise (`consume`: in place), package the result."""
    overflows = _checked(acc, state) if check else 0
    rounded, saturated = requantize(acc, acc_scale, state.out_scale,
                                    state.precision.activation_bits,
                                    layer.activation if activation is None else activation,
                                    offset, layer.act_params, consume)
    return IntLayerOutput(rounded.astype(np.int64), overflows, saturated, rounded)


def accumulate(layer: Layer, x: np.ndarray, weight: np.ndarray, padding: Padding4
               ) -> np.ndarray:
    """The multiply-accumulate of a weighted layer (no bias): conv, transposed conv, dense."""
    if layer.op == "dense":
        return kernels.dense(x, weight)
    if layer.op == "conv_transpose":
        return kernels.conv_transpose2d(x, weight, layer.stride, padding, layer.groups)
    return kernels.conv2d(x, weight, layer.stride, padding, layer.groups)


IntKernel = Callable[[Layer, list[np.ndarray], QuantLayer, Padding4], IntLayerOutput]


def finish_accumulator(layer: Layer, acc: np.ndarray, state: QuantLayer) -> IntLayerOutput:
    """Check and requantise a weighted layer's accumulator (bias already added)."""
    return _finish(acc, layer, state, state.in_scales[0] * state.weight_scale)


def _int_weighted(layer: Layer, xs: list[np.ndarray], state: QuantLayer,
                  padding: Padding4) -> IntLayerOutput:
    """Accumulate exactly, add the bias, check for overflow and requantise.

    With an exact float accumulator the bias is added in float64 (exact: every value is
    below 2**53), and the overflow check is skipped when the bound proves none can occur.
    """
    assert state.weight is not None and state.bias is not None
    acc = accumulate(layer, xs[0].astype(state.weight.dtype, copy=False), state.weight,
                     padding)
    if not state.exact_float:
        return finish_accumulator(layer, acc.astype(np.int64) + state.bias, state)
    total = acc.astype(np.float64, copy=False)
    total += state.bias
    bound = state.accumulator_bound
    may_overflow = bound is None or bound >= 2 ** (state.precision.accumulator_bits - 1)
    return _finish(total, layer, state, state.in_scales[0] * state.weight_scale,
                   check=may_overflow, consume=True)


def _int_avg_pool(layer: Layer, xs: list[np.ndarray], state: QuantLayer,
                  padding: Padding4) -> IntLayerOutput:
    acc = kernels.window_sum(xs[0], layer.kernel, layer.stride, padding)
    count = kernels.window_count(xs[0].shape[1:3], layer.kernel, layer.stride, padding)
    return _finish(acc, layer, state, state.in_scales[0] / count)


def _int_global_avg_pool(layer: Layer, xs: list[np.ndarray], state: QuantLayer,
                         padding: Padding4) -> IntLayerOutput:
    acc = kernels.global_sum(xs[0])
    return _finish(acc, layer, state, state.in_scales[0] / (xs[0].shape[1] * xs[0].shape[2]))


def _int_max_pool(layer: Layer, xs: list[np.ndarray], state: QuantLayer,
                  padding: Padding4) -> IntLayerOutput:
    best = kernels.max_pool(xs[0], layer.kernel, layer.stride, padding)
    return _finish(best, layer, state, state.in_scales[0], check=False)


def _int_add(layer: Layer, xs: list[np.ndarray], state: QuantLayer,
             padding: Padding4) -> IntLayerOutput:
    total = kernels.add([x * s for x, s in zip(xs, state.in_scales, strict=True)])
    return _finish(total, layer, state, 1.0, check=False)


def _int_rescale(layer: Layer, xs: list[np.ndarray], state: QuantLayer,
                 padding: Padding4) -> IntLayerOutput:
    """activation, flatten: the same integers moved to the output scale (and activated)."""
    x = kernels.flatten(xs[0]) if layer.op == "flatten" else xs[0]
    return _finish(x, layer, state, state.in_scales[0], check=False)


def _int_batch_norm(layer: Layer, xs: list[np.ndarray], state: QuantLayer,
                    padding: Padding4) -> IntLayerOutput:
    assert state.factor is not None and state.offset is not None
    return _finish(xs[0], layer, state, state.in_scales[0] * state.factor, state.offset,
                   check=False)


def _int_softmax(layer: Layer, xs: list[np.ndarray], state: QuantLayer,
                 padding: Padding4) -> IntLayerOutput:
    probabilities = kernels.softmax(xs[0] * state.in_scales[0])
    return _finish(probabilities, layer, state, 1.0, check=False)


RealKernel = Callable[[Layer, list[np.ndarray], Padding4, Mapping[str, np.ndarray]],
                     np.ndarray]

#: Weightless ops whose integer result is their real result (computed on dequantised
#: inputs, exact in float64 for these data movements and products) requantised: the same
#: functions are the float32 kernels. (layer, inputs, padding, params) -> output.
REAL_KERNELS: Mapping[str, RealKernel] = {
    "sub": lambda layer, xs, pad, p: kernels.subtract(xs),
    "mul": lambda layer, xs, pad, p: kernels.multiply(xs),
    "concat": lambda layer, xs, pad, p: kernels.concat(xs),
    "channel_slice": lambda layer, xs, pad, p: xs[0][..., slice(*layer.channel_range)],
    "channel_shuffle": lambda layer, xs, pad, p: kernels.channel_shuffle(xs[0], layer.groups),
    "resize": lambda layer, xs, pad, p: kernels.resize(xs[0], layer.stride, layer.mode, pad),
    "prelu": lambda layer, xs, pad, p: activations.prelu(xs[0], p["slope"]),
}


def _int_real(layer: Layer, xs: list[np.ndarray], state: QuantLayer,
              padding: Padding4) -> IntLayerOutput:
    """A REAL_KERNELS op on dequantised inputs, requantised to the output scale."""
    real = [x * s for x, s in zip(xs, state.in_scales, strict=True)]
    values = REAL_KERNELS[layer.op](layer, real, padding, state.real_params or {})
    return _finish(values, layer, state, 1.0, check=False)


#: Integer implementation of every op except `input` (quantised by the executor).
INT_KERNELS: Mapping[str, IntKernel] = {
    **{op: _int_real for op in REAL_KERNELS},
    "conv2d": _int_weighted,
    "depthwise_conv2d": _int_weighted,
    "conv_transpose": _int_weighted,
    "dense": _int_weighted,
    "avg_pool": _int_avg_pool,
    "max_pool": _int_max_pool,
    "global_avg_pool": _int_global_avg_pool,
    "add": _int_add,
    "activation": _int_rescale,
    "flatten": _int_rescale,
    "batch_norm": _int_batch_norm,
    "softmax": _int_softmax,
}


def int_layer(layer: Layer, inputs: list[np.ndarray], state: QuantLayer,
              padding: Padding4) -> IntLayerOutput:
    """One layer in integer mode on int64 inputs (already padded tiles allowed)."""
    if layer.op == "input":
        return IntLayerOutput(quantize(inputs[0], state.out_scale,
                                       state.precision.activation_bits))
    return INT_KERNELS[layer.op](layer, inputs, state, padding)
