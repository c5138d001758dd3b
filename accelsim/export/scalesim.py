"""SCALE-Sim (v3) topology CSV and scale.cfg for a network's conv and dense layers.

SCALE-Sim has no padding (ofmap = (ifmap - filter) // stride + 1), so each row carries the
padded ifmap size, which gives back our output size. It has one stride per layer, so a
layer with different row and column strides cannot be expressed. Depthwise layers use
SCALE-Sim v3's own depthwise mode: a row whose name contains "DP" is split by SCALE-Sim
into `Channels` layers of one channel each, with the row's `Num Filter` filters each
(so `Num Filter` is the depth multiplier, 1 for MobileNet). Any other grouped conv becomes
one row per group. Dense layers are 1x1 convs on a 1x1 ifmap; a transposed conv is the
1x1 conv of its scatter GEMM (input map, kh * kw * Cout filters: the same MACs).
Weightless ops are left out (0 PE cycles). Run it with
`python -m scalesim.scale -c scale.cfg -t NET.csv -l NET.csv -p OUTDIR`
(the layout file is read but unused while custom layouts are off).
"""

from __future__ import annotations

import math

from accelsim.errors import GraphError
from accelsim.export.hardware import ExportHardware
from accelsim.export.timeloop import safe_name
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.ir.ops.conv import scatter_conv
from accelsim.sim.pe_array import Dataflow, PEArray

__all__ = [
    "DEPTHWISE_MARK",
    "TOPOLOGY_HEADER",
    "scalesim_config",
    "scalesim_files",
    "topology_rows",
]

#: Header of SCALE-Sim's conv topology files (its first line is skipped when read).
TOPOLOGY_HEADER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
    "Num Filter, Strides,"
)
#: SCALE-Sim v3 treats any layer whose name contains this as depthwise (case-sensitive).
DEPTHWISE_MARK = "DP"

Row = tuple[str, int, int, int, int, int, int, int]


def _scalesim_name(name: str) -> str:
    """A CSV-safe layer name that never triggers SCALE-Sim's depthwise mode by accident."""
    return safe_name(name).replace(DEPTHWISE_MARK, "Dp")


def _conv_rows(layer: Layer) -> list[Row]:
    (h, w, cin), (kh, kw), (sh, sw) = layer.input_shape, layer.kernel, layer.stride
    if sh != sw:
        raise GraphError(f"layer {layer.name!r}: SCALE-Sim has one stride per layer, got {sh}x{sw}")
    top, bottom, left, right = layer.padding
    ph, pw = h + top + bottom, w + left + right
    g = layer.groups
    name = _scalesim_name(layer.name)
    if g == 1:
        return [(name, ph, pw, kh, kw, cin, layer.out_channels, sh)]
    if cin == g:
        return [(f"{name}_{DEPTHWISE_MARK}", ph, pw, kh, kw, g, layer.out_channels // g, sh)]
    return [
        (f"{name}_g{i}", ph, pw, kh, kw, cin // g, layer.out_channels // g, sh) for i in range(g)
    ]


def topology_rows(net: Network) -> list[Row]:
    """(name, ifmap h, ifmap w, filter h, filter w, channels, filters, stride) per row."""
    rows: list[Row] = []
    for layer in net.layers():
        if layer.op in ("conv2d", "depthwise_conv2d"):
            rows.extend(_conv_rows(layer))
        elif layer.op == "conv_transpose":
            rows.extend(_conv_rows(scatter_conv(layer)))
        elif layer.op == "dense":
            features = math.prod(layer.input_shape)
            rows.append((_scalesim_name(layer.name), 1, 1, 1, 1, features, layer.out_channels, 1))
    return rows


def scalesim_config(
    rows: int,
    cols: int,
    dataflow: Dataflow,
    run_name: str = "accelsim",
    sram_kb: tuple[int, int, int] = (1024, 1024, 1024),
    bandwidth_words: int | None = None,
) -> str:
    """A complete SCALE-Sim v3 scale.cfg for a rows x cols array.

    Without `bandwidth_words`, bandwidth mode CALC lets SCALE-Sim size the interface so no
    layer stalls, so its "Total Cycles" are compute cycles only; with it (words per
    cycle), mode USER stalls on that bandwidth. `sram_kb` is (ifmap, filter, ofmap) in KiB.
    """
    array = PEArray(rows, cols, dataflow)
    ifmap_kb, filter_kb, ofmap_kb = sram_kb
    mode = "CALC" if bandwidth_words is None else "USER"
    return f"""[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight: {array.rows}
ArrayWidth: {array.cols}
IfmapSramSzkB: {ifmap_kb}
FilterSramSzkB: {filter_kb}
OfmapSramSzkB: {ofmap_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {bandwidth_words or 10}
Dataflow: {array.dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""


def scalesim_files(net: Network, array: PEArray,
                   target: ExportHardware | None = None) -> dict[str, str]:
    """{NET.csv: topology, scale.cfg: config for `array`, or for the run's hardware}.

    With hardware, its one SRAM is split in three equal buffers (ifmap, filter, ofmap:
    SCALE-Sim's fixed layout) and the DRAM bandwidth is given in words per cycle.
    """
    lines = [TOPOLOGY_HEADER]
    lines += [", ".join(str(v) for v in row) + "," for row in topology_rows(net)]
    if target is None:
        config = scalesim_config(array.rows, array.cols, array.dataflow, run_name=net.name)
    else:
        third = max(1, target.sram_bytes // 1024 // 3)
        words = max(1, math.ceil(target.dram_words_per_cycle))
        config = scalesim_config(target.array.rows, target.array.cols, target.array.dataflow,
                                 net.name, (third, third, third), words)
    return {f"{net.name}.csv": "\n".join(lines) + "\n", "scale.cfg": config}
