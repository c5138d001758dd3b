"""Layer parameters for the reference executor: their layout, checks and random values.

Every weighted or batch-norm layer has a dict of float32 arrays under its layer name, the
same keys `Network.params` uses when weights come from ONNX:

- ``weight``: conv2d / depthwise_conv2d ``(kh, kw, cin // groups, cout)``;
  conv_transpose ``(kh, kw, cin, cout // groups)``;
  dense ``(in_features, units)`` where ``in_features`` enumerates the input flattened in
  C order of its per-sample NHWC shape, i.e. ``(h, w, c)`` with the channel fastest.
- ``slope``: prelu ``(C,)``.
- ``bias``: ``(cout,)``, present when ``layer.use_bias``.
- ``bn_scale``, ``bn_shift``, ``bn_mean``, ``bn_var``: ``(cout,)`` each, present when
  ``layer.batch_norm`` or the op is ``batch_norm``; the batch-norm computes
  ``scale * (x - mean) / sqrt(var + eps) + shift`` with ``eps = Network.bn_epsilon``.

Layers of other ops have no entry.
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.errors import GraphError
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.ir.ops import traits

__all__ = ["BN_KEYS", "LayerParams", "Params", "check_params", "expected_shapes",
           "params_for", "random_params"]

LayerParams = dict[str, np.ndarray]
Params = dict[str, LayerParams]
#: The four per-channel batch-norm vectors, in the order ONNX lists them.
BN_KEYS: tuple[str, ...] = ("bn_scale", "bn_shift", "bn_mean", "bn_var")


def expected_shapes(layer: Layer) -> dict[str, tuple[int, ...]]:
    """The parameter arrays `layer` needs, by key, with their shapes (empty for none)."""
    shapes = dict(traits(layer.op).param_shapes(layer))
    if layer.is_weighted and layer.use_bias:
        shapes["bias"] = (layer.out_channels,)
    if layer.bn_params:
        shapes.update({key: (layer.out_channels,) for key in BN_KEYS})
    return shapes


def _problems(net: Network, params: Params) -> list[str]:
    """Every missing or mis-shaped parameter of `net`, as one phrase each."""
    found = []
    for layer in net.layers():
        given = params.get(layer.name, {})
        for key, shape in expected_shapes(layer).items():
            if key not in given:
                found.append(f"layer {layer.name!r} has no {key!r}")
            elif tuple(given[key].shape) != shape:
                found.append(
                    f"layer {layer.name!r} {key!r} has shape {tuple(given[key].shape)}, "
                    f"expected {shape}"
                )
    return found


def check_params(net: Network, params: Params) -> None:
    """Raise GraphError naming the first missing or mis-shaped array; extra keys are fine."""
    problems = _problems(net, params)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise GraphError(f"{net.name}: {problems[0]}{more}")


def random_params(net: Network, seed: int = 0) -> Params:
    """He-initialised float32 weights plus small random biases and batch-norm statistics.

    Weights are N(0, 2 / fan_in) so activations keep their scale through deep ReLU
    networks; batch-norm vectors are deliberately far from the identity (scale and
    variance in [0.5, 1.5], shift and mean around 0) so a test notices a missing term.
    """
    rng = np.random.default_rng(seed)
    params: Params = {}
    for layer in net.layers():
        shapes = expected_shapes(layer)
        if not shapes:
            continue
        arrays: LayerParams = {}
        if "weight" in shapes:
            shape = shapes["weight"]
            fan_in = math.prod(shape[:-1])
            arrays["weight"] = rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)
        if "slope" in shapes:
            arrays["slope"] = rng.uniform(0.05, 0.3, shapes["slope"])
        if "bias" in shapes:
            arrays["bias"] = rng.normal(0.0, 0.1, shapes["bias"])
        if "bn_scale" in shapes:
            channels = shapes["bn_scale"]
            arrays["bn_scale"] = rng.uniform(0.5, 1.5, channels)
            arrays["bn_shift"] = rng.normal(0.0, 0.1, channels)
            arrays["bn_mean"] = rng.normal(0.0, 0.1, channels)
            arrays["bn_var"] = rng.uniform(0.5, 1.5, channels)
        params[layer.name] = {k: v.astype(np.float32) for k, v in arrays.items()}
    return params


def params_for(net: Network, seed: int = 0) -> Params:
    """`net.params` when it is complete, random weights when it is empty.

    A partial `net.params` raises GraphError rather than being mixed with random
    values, which would hide a broken weights file; so does a network imported without
    its weights (`Network.missing_weights`).
    """
    if net.missing_weights:
        first = net.missing_weights[0]
        raise GraphError(
            f"{net.name}: executing needs the weights, but the model file has shapes only "
            f"({len(net.missing_weights)} initializers without data, e.g. {first!r}); "
            "summary and run work without them")
    if not net.params:
        return random_params(net, seed)
    check_params(net, net.params)
    return net.params
