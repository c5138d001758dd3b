"""Non-linearities (standalone or fused into a layer), batch-norm, PReLU.

`apply` is the one definition of every activation, used by the float executor and by the
integer requantisation (which applies it to real values). Kinds and their parameters
(``Layer.act_params``): relu, relu6, sigmoid, hard_sigmoid (alpha, beta; PyTorch's
Hardsigmoid is 1/6, 0.5), hard_swish (x * hard_sigmoid(x) with 1/6, 0.5), silu (x *
sigmoid(x), also called swish), leaky_relu (alpha). relu and relu6 clamp on the write-back
path and cost nothing; every other fused activation is one vector operation per element.
"""

from __future__ import annotations

import numpy as np

from accelsim.ir.ops.traits import OpTraits

__all__ = ["ACTIVATION_KINDS", "ACTIVATION_OPS", "DEFAULT_PARAMS", "FREE_ACTIVATIONS", "apply",
           "prelu"]

#: Every activation kind, in the order docs list them.
ACTIVATION_KINDS: tuple[str, ...] = ("none", "relu", "relu6", "sigmoid", "hard_sigmoid",
                                     "hard_swish", "silu", "leaky_relu")
#: Kinds that cost no vector work when fused (a clamp on write-back).
FREE_ACTIVATIONS: frozenset[str] = frozenset({"none", "relu", "relu6"})
#: Parameters of the kinds that take them, when none are given.
DEFAULT_PARAMS: dict[str, tuple[float, ...]] = {"hard_sigmoid": (1 / 6, 0.5),
                                                "leaky_relu": (0.01,)}


def _hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.clip(x * x.dtype.type(alpha) + x.dtype.type(beta), 0, 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-x)), dtype=x.dtype)


def apply(x: np.ndarray, kind: str, params: tuple[float, ...] = ()) -> np.ndarray:
    """The activation `kind` of a float array (in place for relu and relu6)."""
    if kind == "none":
        return x
    if kind == "relu":
        return np.maximum(x, 0, out=x)
    if kind == "relu6":
        return np.clip(x, 0, 6, out=x)
    if kind == "sigmoid":
        return _sigmoid(x)
    if kind == "silu":
        return x * _sigmoid(x)
    if kind == "hard_swish":
        return x * _hard_sigmoid(x, 1 / 6, 0.5)
    values = params or DEFAULT_PARAMS[kind]
    if kind == "hard_sigmoid":
        return _hard_sigmoid(x, values[0], values[1])
    if kind == "leaky_relu":
        return np.where(x >= 0, x, x * x.dtype.type(values[0]))
    raise ValueError(f"unknown activation {kind!r}")


def prelu(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Parametric ReLU: x where x >= 0, else slope[c] * x (slope per channel)."""
    return np.where(x >= 0, x, x * slope.astype(x.dtype))


ACTIVATION_OPS: tuple[OpTraits, ...] = (
    OpTraits("activation", "a standalone non-linearity",
             onnx_ops=("Relu", "Clip", "Min", "Max", "Sigmoid", "HardSigmoid", "HardSwish",
                       "LeakyRelu")),
    # scale and shift per element
    OpTraits("batch_norm", "a standalone inference batch-norm",
             vector_elements=lambda layer: 2 * layer.output_elements,
             onnx_ops=("BatchNormalization",)),
    OpTraits("prelu", "parametric ReLU, one slope per channel", weight_count=lambda layer:
             layer.out_channels, param_shapes=lambda layer: {"slope": (layer.out_channels,)},
             onnx_ops=("PRelu",)),
)
