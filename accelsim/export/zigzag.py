"""ZigZag workload YAML: a list of the network's conv and dense layers.

Follows ZigZag 3.x's user format (its resnet18.yaml example and workload validator):
plain convs use `O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]`; grouped and depthwise
convs use the G-dimension equation ZigZag's own ONNX parser writes,
`O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]` (K = C = 1 for depthwise);
dense layers are 1x1 convs, as in ZigZag's examples; a transposed conv is the 1x1 conv of
its scatter GEMM (same MACs). Padding is given per input loop
(IX: left, right; IY: top, bottom). Weightless ops are left out (0 PE cycles); a layer's
input source is its nearest conv or dense ancestor along first inputs, or itself (read
from memory) when there is none.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from accelsim.export.hardware import ExportHardware, zigzag_accelerator
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.ir.ops.conv import scatter_conv

__all__ = ["OPERAND_PRECISION", "layer_entry", "zigzag_files"]

#: Bits of weights, inputs, partial sums (O) and final outputs: ZigZag's example values.
OPERAND_PRECISION: dict[str, int] = {"W": 8, "I": 8, "O": 16, "O_final": 8}

_CONV = "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]"
_GROUPED = "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]"


def layer_entry(layer: Layer, layer_id: int, source: int,
                precision: dict[str, int] | None = None) -> dict[str, Any]:
    """The ZigZag workload entry of one conv or dense layer (batch 1)."""
    if layer.op == "dense":
        h = w = kh = kw = sh = sw = ho = wo = 1
        cin, cout, g, padding = math.prod(layer.input_shape), layer.out_channels, 1, None
    else:
        (h, w, cin), (ho, wo, cout) = layer.input_shape, layer.output_shape
        (kh, kw), (sh, sw), g = layer.kernel, layer.stride, layer.groups
        top, bottom, left, right = layer.padding
        padding = [[left, right], [top, bottom]]
    if g == 1:
        equation, dims, sizes = _CONV, ["B", "K", "C"], [1, cout, cin]
    else:
        equation, dims, sizes = _GROUPED, ["B", "G", "K", "C"], [1, g, cout // g, cin // g]
    entry: dict[str, Any] = {
        "id": layer_id,
        "name": layer.name,
        "operator_type": "Conv",
        "equation": equation,
        "dimension_relations": [f"ix={sw}*ox+1*fx", f"iy={sh}*oy+1*fy"],
        "loop_dims": dims + ["OY", "OX", "FY", "FX"],
        "loop_sizes": sizes + [ho, wo, kh, kw],
        "operand_precision": dict(precision or OPERAND_PRECISION),
        "operand_source": {"I": source, "W": layer_id},
    }
    if padding is not None:
        entry.update(pr_loop_dims=["IX", "IY"], pr_loop_sizes=[w, h], padding=padding)
    return entry


def zigzag_files(net: Network, target: ExportHardware | None = None) -> dict[str, str]:
    """{NET.yaml: workload} with the conv and dense layers numbered in execution order, and
    with the run's hardware {NET_accelerator.yaml} and its bit widths in the workload."""
    precision = None
    if target is not None:
        p = target.hardware.precision
        precision = {"W": p.weight_bits, "I": p.activation_bits, "O": p.accumulator_bits,
                     "O_final": p.activation_bits}
    ids: dict[str, int] = {}
    entries = []
    for layer in net.layers():
        if not layer.is_weighted:
            continue
        ids[layer.name] = len(ids)
        if layer.op == "conv_transpose":
            layer = scatter_conv(layer)
        source = layer.inputs[0]
        while source not in ids and net.layer(source).inputs:
            source = net.layer(source).inputs[0]
        entries.append(layer_entry(layer, ids[layer.name], ids.get(source, ids[layer.name]),
                                   precision))
    text = yaml.safe_dump(entries, sort_keys=False, default_flow_style=None)
    files = {f"{net.name}.yaml": text}
    if target is not None:
        files[f"{net.name}_accelerator.yaml"] = zigzag_accelerator(target)
    return files
