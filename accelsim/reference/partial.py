"""Partial sums over input-channel chunks, for tiles that split a layer's input channels.

`partial_sum` is the accumulator contribution of input channels [c0, c1) of a conv
(groups 1) or dense layer, without bias; `finish` adds the bias and applies batch-norm,
activation and (integer mode) requantisation to the summed accumulator. Summing the chunks
equals the whole layer: exactly in integer mode, to float rounding in float32.
"""

from __future__ import annotations

import numpy as np

from accelsim.ir.layers import Layer
from accelsim.reference import kernels
from accelsim.reference.executor import LayerOutput, activate
from accelsim.reference.kernels import Padding4
from accelsim.reference.quant import QuantLayer, finish_accumulator, fold_batch_norm
from accelsim.reference.weights import LayerParams

__all__ = ["finish", "partial_sum"]


def _chunk_weight(layer: Layer, weight: np.ndarray, channels: tuple[int, int]) -> np.ndarray:
    """The rows of a weight that input channels [c0, c1) multiply."""
    if layer.op == "dense":
        per_position = layer.input_shape[-1]
        rows = np.arange(weight.shape[0]).reshape(-1, per_position)[:, channels[0]:channels[1]]
        return weight[rows.reshape(-1)]
    return weight[:, :, channels[0]:channels[1], :]


def partial_sum(layer: Layer, x: np.ndarray, channels: tuple[int, int], padding: Padding4,
                params: LayerParams | None = None, state: QuantLayer | None = None,
                bn_epsilon: float = 1e-3) -> np.ndarray:
    """Accumulator of input channels `channels` (x holds just those channels), no bias."""
    if state is not None:
        assert state.weight is not None
        weight = _chunk_weight(layer, state.weight, channels)
        x = x.astype(weight.dtype)
    else:
        assert params is not None
        weight = _chunk_weight(layer, fold_batch_norm(layer, params, bn_epsilon,
                                                      np.float32)[0], channels)
    if layer.op == "dense":
        acc = kernels.dense(x, weight)
    else:
        acc = kernels.conv2d(x, weight, layer.stride, padding, 1)
    return acc.astype(np.int64) if state is not None else acc


def finish(layer: Layer, acc: np.ndarray, out_channels: tuple[int, int],
           params: LayerParams | None = None, state: QuantLayer | None = None,
           bn_epsilon: float = 1e-3) -> LayerOutput:
    """Bias, batch-norm, activation (and requantisation) of a summed accumulator tile."""
    k0, k1 = out_channels
    if state is not None:
        assert state.bias is not None
        return finish_accumulator(layer, acc + state.bias[k0:k1], state)
    assert params is not None
    bias = fold_batch_norm(layer, params, bn_epsilon, np.float32)[1][k0:k1]
    return LayerOutput(activate(acc + bias, layer.activation, layer.act_params))
