"""The NumPy reference executor: run a Network on a batch, in float32 or integer mode.

`run` executes the whole network in `Network.order` and keeps every layer's output;
`Session` prepares the weights once for many runs, as an ONNX Runtime session does
(float32: batch-norm folded; int: also calibrated and quantised once).
`run_layer` executes one layer on explicit input arrays; a schedule replay calls it per
tile with a `padding` override (an interior tile carries its halo and gets no padding),
and in integer mode with the layer's calibrated `QuantLayer` from a previous `run`.

Integer mode (``mode="int"``) first runs float32 on a calibration input (`run`: the same
input) to calibrate every tensor's scale, then runs the integer datapath of
`accelsim.reference.quant`; its `values` and `outputs` are dequantised floats, its
`int_values` the raw integers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

from accelsim.errors import ConfigError, GraphError
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.ir.ops import activation as activations
from accelsim.reference import kernels
from accelsim.reference.kernels import Padding4
from accelsim.reference.quant import (
    REAL_KERNELS,
    IntLayerOutput,
    Precision,
    QuantLayer,
    accumulate,
    calibrate_layer,
    fold_batch_norm,
    int_layer,
)
from accelsim.reference.weights import LayerParams, Params, check_params, params_for

__all__ = ["ExecResult", "LayerOutput", "Mode", "Session", "activate", "run", "run_layer"]

Mode = Literal["float32", "int"]
MODES: tuple[str, ...] = ("float32", "int")
#: run_layer's result: the same record in both modes (counts are 0 in float32).
LayerOutput = IntLayerOutput


@dataclass
class ExecResult:
    """Every layer's output of one run, the network outputs and integer-mode diagnostics.

    `values` maps each layer name to a float32 (B, ...) array (dequantised in int mode);
    `outputs` holds the subset that are network outputs. In int mode, `int_values` are the
    integer tensors, `quant` the calibrated per-layer state, `overflows` the accumulator
    overflows of every layer with an accumulator (weighted layers and pool sums) and
    `saturations` the elements clipped on requantisation, per layer.
    """

    mode: str
    values: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    int_values: dict[str, np.ndarray] = field(default_factory=dict)
    quant: dict[str, QuantLayer] = field(default_factory=dict)
    overflows: dict[str, int] = field(default_factory=dict)
    saturations: dict[str, int] = field(default_factory=dict)

    @property
    def total_overflows(self) -> int:
        """Accumulator overflows summed over layers."""
        return sum(self.overflows.values())


def activate(x: np.ndarray, kind: str, params: tuple[float, ...] = ()) -> np.ndarray:
    """Apply a fused or standalone non-linearity (in place for relu and relu6)."""
    return activations.apply(x, kind, params)


def _bn(x: np.ndarray, p: LayerParams, eps: float) -> np.ndarray:
    return kernels.batch_norm(x, p["bn_scale"], p["bn_shift"], p["bn_mean"], p["bn_var"], eps)


def _weighted(layer: Layer, xs: list[np.ndarray], p: LayerParams, padding: Padding4,
              eps: float) -> np.ndarray:
    """Conv or dense with its batch-norm folded into weight and bias, then the activation.

    Folding (``w * f``, ``(b - mean) * f + shift``) is exact algebra and saves two passes
    over the output; it is also what ONNX Runtime does, so results agree to float rounding.
    """
    weight: np.ndarray = p["weight"]
    bias: np.ndarray | None = p.get("bias")
    if layer.batch_norm and "bn_scale" in p:  # a Session has folded it already
        weight, bias = fold_batch_norm(layer, p, eps, np.float32)
    y = accumulate(layer, xs[0], weight, padding)
    if bias is not None:
        y += bias
    return activate(y, layer.activation, layer.act_params)


FloatKernel = Callable[[Layer, list[np.ndarray], LayerParams, Padding4, float], np.ndarray]


def _real(layer: Layer, xs: list[np.ndarray], p: LayerParams, padding: Padding4,
          eps: float) -> np.ndarray:
    """A REAL_KERNELS op in float32, then its fused activation."""
    y = REAL_KERNELS[layer.op](layer, xs, padding, p)
    return activate(y, layer.activation, layer.act_params)


#: Float32 implementation of every op: (layer, inputs, params, padding, bn_epsilon) -> output.
FLOAT_KERNELS: Mapping[str, FloatKernel] = {
    **{op: _real for op in REAL_KERNELS},
    "input": lambda layer, xs, p, pad, eps: xs[0],  # _run_float casts the feeds
    "conv2d": _weighted,
    "depthwise_conv2d": _weighted,
    "conv_transpose": _weighted,
    "dense": _weighted,
    "avg_pool": lambda layer, xs, p, pad, eps: kernels.avg_pool(
        xs[0], layer.kernel, layer.stride, pad),
    "max_pool": lambda layer, xs, p, pad, eps: kernels.max_pool(
        xs[0], layer.kernel, layer.stride, pad),
    "global_avg_pool": lambda layer, xs, p, pad, eps: kernels.global_avg_pool(xs[0]),
    "add": lambda layer, xs, p, pad, eps: activate(kernels.add(xs), layer.activation,
                                                   layer.act_params),
    "activation": lambda layer, xs, p, pad, eps: activate(xs[0].copy(), layer.activation,
                                                          layer.act_params),
    "batch_norm": lambda layer, xs, p, pad, eps: _bn(xs[0], p, eps),
    "flatten": lambda layer, xs, p, pad, eps: kernels.flatten(xs[0]),
    "softmax": lambda layer, xs, p, pad, eps: kernels.softmax(xs[0]),
}


def run_layer(
    layer: Layer,
    inputs: list[np.ndarray],
    layer_params: LayerParams | None = None,
    padding: Padding4 | None = None,
    quant_state: QuantLayer | None = None,
    bn_epsilon: float = 1e-3,
) -> LayerOutput:
    """Compute one layer on explicit batched inputs, in the order of `layer.inputs`.

    `layer_params` are the layer's float arrays (weights.py layout; unused in int mode).
    `padding` overrides `layer.padding` for convs and pools: pass ``(0, 0, 0, 0)`` with an
    input slice that already covers the halo. With `quant_state` the inputs are integer
    tensors and the result is integer, with its overflow and saturation counts.
    """
    pad = layer.padding if padding is None else padding
    if quant_state is not None:
        return int_layer(layer, inputs, quant_state, pad)
    return LayerOutput(FLOAT_KERNELS[layer.op](layer, inputs, layer_params or {}, pad,
                                               bn_epsilon))


def _inputs(net: Network, x: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map each network input to its array, checking (B, *per-sample shape)."""
    given = dict(x) if isinstance(x, Mapping) else {net.inputs[0]: x} \
        if len(net.inputs) == 1 else {}
    if set(given) != set(net.inputs):
        raise GraphError(
            f"{net.name}: expected arrays for inputs {list(net.inputs)}, got {list(given)}"
        )
    batch: set[int] = set()
    for name, array in given.items():
        shape = net.layer(name).output_shape
        if np.ndim(array) != len(shape) + 1 or tuple(np.shape(array)[1:]) != shape:
            raise GraphError(
                f"{net.name}: input {name!r} must be a (batch, {', '.join(map(str, shape))}) "
                f"array, got shape {np.shape(array)}"
            )
        batch.add(np.shape(array)[0])
    if len(batch) != 1:
        raise GraphError(f"{net.name}: inputs disagree on the batch size: {sorted(batch)}")
    return {name: np.asarray(array) for name, array in given.items()}


#: Per layer in `Network.order`, the tensors no later layer reads (network outputs excepted).
Drops = list[tuple[str, ...]]


def _drops(net: Network) -> Drops:
    """After each layer, which earlier outputs can be freed in an outputs-only run."""
    last: dict[str, int] = {}
    for index, layer in enumerate(net.layers()):
        last[layer.name] = index
        last.update({name: index for name in layer.inputs})
    drops: list[list[str]] = [[] for _ in last]
    for name, index in last.items():
        if name not in net.outputs:
            drops[index].append(name)
    return [tuple(names) for names in drops]


def _run_float(net: Network, feeds: dict[str, np.ndarray], params: Params,
               drops: Drops | None = None, dtype: type[np.floating] = np.float32
               ) -> ExecResult:
    """Every layer in order, in `dtype` (the params' type); with `drops`, intermediates are
    freed once no longer read."""
    values: dict[str, np.ndarray] = {}
    for index, layer in enumerate(net.layers()):
        xs = ([feeds[layer.name].astype(dtype, copy=False)] if layer.op == "input"
              else [values[i] for i in layer.inputs])
        values[layer.name] = run_layer(layer, xs, params.get(layer.name), None, None,
                                       net.bn_epsilon).values
        for name in drops[index] if drops else ():
            del values[name]
    return ExecResult(np.dtype(dtype).name, values, {n: values[n] for n in net.outputs})


def _calibrate(net: Network, params: Params, calibration: dict[str, np.ndarray],
               precision: Precision) -> dict[str, QuantLayer]:
    """Every layer's integer state from the float32 outputs of a calibration run."""
    quant: dict[str, QuantLayer] = {}
    views = net.views  # a view shares its root's scale: its integers are the root's
    peaks: dict[str, float] = {}
    for layer in net.layers():
        root = views.root(layer.name)
        if root not in peaks:
            peaks[root] = float(np.abs(calibration[root]).max())
        quant[layer.name] = calibrate_layer(
            layer, params.get(layer.name, {}), peaks[root],
            tuple(quant[i].out_scale for i in layer.inputs), precision, net.bn_epsilon,
        )
    return quant


def _run_int(net: Network, feeds: dict[str, np.ndarray], quant: dict[str, QuantLayer],
             drops: Drops, every_layer: bool) -> ExecResult:
    """The integer datapath with calibrated `quant`, keeping every layer or the outputs.

    Layers read their inputs' exact float64 form where the producer had one (the same
    integers as `int_values`, without an int64 -> float conversion per reader); that
    form is freed after its last reader either way.
    """
    ints: dict[str, np.ndarray] = {}
    exact: dict[str, np.ndarray] = {}
    result = ExecResult("int", {}, {}, ints, dict(quant))
    for index, layer in enumerate(net.layers()):
        state = quant[layer.name]
        xs = [feeds[layer.name]] if layer.op == "input" else [exact[i] for i in layer.inputs]
        out = run_layer(layer, xs, quant_state=state)
        ints[layer.name] = out.values
        exact[layer.name] = out.values if out.exact is None else out.exact
        if every_layer or layer.name in net.outputs:
            result.values[layer.name] = (exact[layer.name] * state.out_scale).astype(np.float32)
        result.saturations[layer.name] = out.saturations
        if layer.is_weighted or layer.op in ("avg_pool", "global_avg_pool"):
            result.overflows[layer.name] = out.overflows
        for name in drops[index]:
            del exact[name]
            if not every_layer:
                del ints[name]
    result.outputs.update({n: result.values[n] for n in net.outputs})
    return result


def _row_bias(bias: np.ndarray, width: int) -> np.ndarray:
    """A (C,) bias repeated along an output row, (W, C): adding it to a (B, H, W, C) output
    runs one W * C-long inner loop per row instead of W loops of C (0.5 ms less per run
    of MobileNet v1 224; the sums are the same)."""
    return np.ascontiguousarray(np.broadcast_to(bias, (width, bias.shape[-1])))


@functools.cache
def _blas_controller() -> Any:
    """The process's BLAS thread pools, found once (threadpoolctl scans loaded libraries)."""
    import threadpoolctl

    return threadpoolctl.ThreadpoolController()


def _one_blas_thread() -> AbstractContextManager[object]:
    """Limit BLAS to one thread for a run (restored afterwards).

    A batch-1 CNN's GEMMs are small (0.1-2 ms each on one core for MobileNet v1 224):
    when other processes compete for the cores, a second BLAS thread's wake-ups and
    barriers made each of them 10-40x slower on a shared 2-core machine, so the executor
    stays on one core (benchmarks/bench_executor.py compares it with onnxruntime on one
    thread and on its default threads, with and without added load).
    """
    return cast(AbstractContextManager[object],
                _blas_controller().limit(limits=1, user_api="blas"))


class Session:
    """A network with its weights prepared once, for repeated runs, like an ONNX Runtime
    session.

    float32: batch-norm is folded into each conv's or dense layer's weight and bias at
    construction, so `run` only computes (a conv's bias is kept as a whole output row,
    see `_row_bias`). int: the session also runs float32 once on
    `calibration` (a batch like `run`'s input) to fix every tensor's scale, quantises
    the weights and biases, and then every `run` executes only the integer datapath with
    those scales (static quantisation). `run(net, x, mode="int")` is a session
    calibrated on x itself. `float_dtype` np.float64 runs float mode in double precision,
    a reference for judging another float32 runtime's rounding (verify --against).
    """

    def __init__(self, net: Network, params: Params | None = None, seed: int = 0,
                 mode: Mode = "float32", precision: Precision | None = None,
                 calibration: np.ndarray | Mapping[str, np.ndarray] | None = None,
                 float_dtype: type[np.floating] = np.float32) -> None:
        if mode not in MODES:
            raise ConfigError(f"executor mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "int" and calibration is None:
            raise ConfigError("an integer-mode session needs a calibration input batch")
        float_dtype = np.dtype(float_dtype).type
        if float_dtype not in (np.float32, np.float64):
            raise ConfigError(f"float_dtype must be float32 or float64, got {float_dtype!r}")
        if mode == "int" and float_dtype is not np.float32:
            raise ConfigError("an integer-mode session calibrates in float32")
        params = params_for(net, seed) if params is None else params
        check_params(net, params)
        self.net = net
        self.mode = mode
        self.dtype = float_dtype
        self.params: Params = {}
        for name, p in params.items():
            layer = net.layer(name)
            if layer.is_weighted and layer.batch_norm:
                weight, bias = fold_batch_norm(layer, p, net.bn_epsilon, float_dtype)
                p = {"weight": weight, "bias": bias}
            p = {k: v.astype(float_dtype, copy=False) for k, v in p.items()}
            if layer.is_weighted and "bias" in p and len(layer.output_shape) == 3:
                p["bias"] = _row_bias(p["bias"], layer.output_shape[1])
            self.params[name] = p
        self.quant: dict[str, QuantLayer] = {}
        self._drops = _drops(net)
        if calibration is not None and mode == "int":
            with _one_blas_thread():
                reference = _run_float(net, _inputs(net, calibration), self.params)
            self.quant = _calibrate(net, params, reference.values, precision or Precision())

    def run(self, x: np.ndarray | Mapping[str, np.ndarray], every_layer: bool = True
            ) -> ExecResult:
        """Run the network on a batch (see `run`) in the session's mode.

        With ``every_layer=False`` the result holds the network outputs only and each
        intermediate tensor is freed as soon as its last reader has run, as an inference
        runtime does: less memory, and its blocks are reused instead of fresh pages.
        """
        feeds = _inputs(self.net, x)
        with _one_blas_thread():
            if self.mode == "int":
                return _run_int(self.net, feeds, self.quant, self._drops, every_layer)
            return _run_float(self.net, feeds, self.params,
                              None if every_layer else self._drops, self.dtype)


def run(
    net: Network,
    x: np.ndarray | Mapping[str, np.ndarray],
    params: Params | None = None,
    mode: Mode = "float32",
    precision: Precision | None = None,
    seed: int = 0,
) -> ExecResult:
    """Run `net` on a batch: x is (B, H, W, C) for a one-input network, else name -> array.

    `params` defaults to `params_for(net, seed)` (the network's own weights, else random).
    Integer mode calibrates on x itself; `precision` (int mode only) defaults to 8-bit
    activations and weights, 32-bit accumulators.
    """
    return Session(net, params, seed, mode, precision, x if mode == "int" else None).run(x)
