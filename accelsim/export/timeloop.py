"""Timeloop problem files: one YAML per conv or dense layer, shape included.

Dimensions follow Timeloop's CNN-Layer: C input channels, M filters, R/S filter width/
height, P/Q output width/height, N batch, Wstride/Hstride. Timeloop has no padding: the
input extent it derives, (P - 1) * Wstride + R, is our padded input. Depthwise layers use
Timeloop's depthwise shape (`dw-cnn-layer` of its examples: one C shared by weights,
inputs and outputs, no M); other grouped convs add a G dimension. Dense layers are 1x1
convs on a 1x1 input; a transposed conv is the 1x1 conv of its scatter GEMM (same MACs).
Weightless ops are left out (0 PE cycles).
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.ir.ops.conv import scatter_conv

__all__ = ["problem", "safe_name", "timeloop_files"]

_COEFFICIENTS = [
    {"name": "Wstride", "default": 1},
    {"name": "Hstride", "default": 1},
    {"name": "Wdilation", "default": 1},
    {"name": "Hdilation", "default": 1},
]


def _shape(
    name: str, dims: list[str], weights: list[str], inputs: list[str], outputs: list[str]
) -> dict[str, Any]:
    """A conv problem shape; the lists name the non-spatial dims indexing each tensor."""
    window = [[["R", "Wdilation"], ["P", "Wstride"]], [["S", "Hdilation"], ["Q", "Hstride"]]]
    return {
        "name": name,
        "dimensions": dims,
        "coefficients": _COEFFICIENTS,
        "data-spaces": [
            {"name": "Weights", "projection": [[[d]] for d in weights + ["R", "S"]]},
            {"name": "Inputs", "projection": [[[d]] for d in ["N"] + inputs] + window},
            {
                "name": "Outputs",
                "projection": [[[d]] for d in ["N"] + outputs + ["Q", "P"]],
                "read-write": True,
            },
        ],
    }


CNN_LAYER = _shape("CNN-Layer", ["C", "M", "R", "S", "N", "P", "Q"], ["C", "M"], ["C"], ["M"])
DEPTHWISE_LAYER = _shape("dw-cnn-layer", ["R", "S", "P", "Q", "C", "N"], ["C"], ["C"], ["C"])
GROUPED_LAYER = _shape(
    "grouped-cnn-layer",
    ["G", "C", "M", "R", "S", "N", "P", "Q"],
    ["G", "C", "M"],
    ["G", "C"],
    ["G", "M"],
)


def safe_name(name: str) -> str:
    """`name` with every character other than letters, digits, _ . - replaced by _."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def problem(layer: Layer) -> dict[str, Any]:
    """The Timeloop `problem` (shape and instance) of one conv or dense layer, batch 1."""
    if layer.op == "dense":
        instance = {
            "C": math.prod(layer.input_shape),
            "M": layer.out_channels,
            "R": 1,
            "S": 1,
            "N": 1,
            "P": 1,
            "Q": 1,
        }
        return {"shape": CNN_LAYER, "instance": instance}
    ho, wo, cout = layer.output_shape
    kh, kw = layer.kernel
    sh, sw = layer.stride
    g = layer.groups
    common = {"R": kw, "S": kh, "N": 1, "P": wo, "Q": ho, "Wstride": sw, "Hstride": sh}
    if g == 1:
        return {"shape": CNN_LAYER, "instance": {"C": layer.in_channels, "M": cout, **common}}
    if layer.in_channels == g == cout:
        return {"shape": DEPTHWISE_LAYER, "instance": {"C": g, **common}}
    instance = {"G": g, "C": layer.in_channels // g, "M": cout // g, **common}
    return {"shape": GROUPED_LAYER, "instance": instance}


def timeloop_files(net: Network) -> dict[str, str]:
    """{NN_LAYER.yaml: problem} for every conv and dense layer, numbered in order."""
    weighted = [scatter_conv(layer) if layer.op == "conv_transpose" else layer
                for layer in net.layers() if layer.is_weighted]
    return {
        f"{i:02d}_{safe_name(layer.name)}.yaml": yaml.safe_dump(
            {"problem": problem(layer)}, sort_keys=False, default_flow_style=None
        )
        for i, layer in enumerate(weighted)
    }
