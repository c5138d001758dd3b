"""Cross-check accelsim's buffer accesses per dataflow against SCALE-Sim v3, layer by layer.

Uses validate_scalesim.py's private venv (scalesim==3.0.0) and topology export; for every
(array, dataflow) reads SCALE-Sim's DETAILED_ACCESS_REPORT.csv ("SRAM IFMAP Reads",
"SRAM Filter Reads", "SRAM OFMAP Writes", in words) and prints them beside
accelsim.sim.buffers.element_accesses for each conv and dense layer, then the largest
relative difference per (network, array, dataflow) and operand. A depthwise row is run
for one channel and multiplied by C, as in validate_scalesim.py. "ofmap adj." first takes
off what SCALE-Sim's os model adds to ofmap writes per fold (array rows + cols: it adds
the padded fold's height and width, docs/pe_array.md section 6).
Usage: python benchmarks/validation/validate_buffers.py
"""

from __future__ import annotations

import csv
import math
import sys
import tempfile
from pathlib import Path

from validate_scalesim import Job, ensure_venv, network_jobs, run_all, simulate

from accelsim.ir.zoo import build_model
from accelsim.sim.buffers import element_accesses
from accelsim.sim.pe_array import layer_gemm

COLUMNS = ("SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes")
CASES = (("mobilenet_v1_cifar", ((8, 16), (32, 32))),)


def accesses(python: Path, job: Job) -> list[tuple[int, ...]]:
    """SCALE-Sim's (ifmap reads, filter reads, ofmap writes) per simulated row."""
    with open(simulate(python, job) / "DETAILED_ACCESS_REPORT.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    header = [h.strip() for h in rows[0]]
    where = [header.index(c) for c in COLUMNS]
    return [tuple(int(float(r[i])) for i in where) for r in rows[1:] if r]


def main() -> int:
    python = ensure_venv()
    scratch = Path(tempfile.mkdtemp(prefix="validate_buffers_"))
    jobs, nets, mappings = [], {}, {}
    for name, arrays in CASES:
        net = nets[name] = build_model(name)
        made, _, mappings[name] = network_jobs(net, name, arrays, scratch, full=False)
        jobs += made
    results = run_all(lambda job: accesses(python, job), jobs, scratch)

    summary = []
    for job, reported in zip(jobs, results, strict=True):
        array = job.array
        print(f"\n{job.net}  {array.rows}x{array.cols}  {array.dataflow}")
        print(f"{'layer':<16}" + "".join(f"{c:>22}" for c in ("ifmap ours/theirs",
                                                              "filter ours/theirs",
                                                              "ofmap ours/theirs"))
              + f"{'ofmap adj.':>12}")
        worst = [0.0, 0.0, 0.0, 0.0]
        layers = [layer for layer in nets[job.net].layers() if layer.is_weighted]
        for layer, (index, multiplier) in zip(layers, mappings[job.net], strict=True):
            gemm = layer_gemm(layer)
            assert gemm is not None
            ours = [v * gemm.repeats for v in element_accesses(gemm.m, gemm.n, gemm.k, array)]
            theirs = [v * multiplier for v in reported[index]]
            cells = []
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
                worst[i] = max(worst[i], abs(a - b) / b * 100 if b else 0.0)
                cells.append(f"{a:>11}/{b:<10}")
            extra = 0
            if array.dataflow == "os":
                sr, sc, _ = gemm.spatial_temporal("os")
                folds = math.ceil(sr / array.rows) * math.ceil(sc / array.cols)
                extra = gemm.repeats * folds * (array.rows + array.cols)
            adjusted = theirs[2] - extra
            worst[3] = max(worst[3], abs(ours[2] - adjusted) / adjusted * 100)
            print(f"{layer.name:<16}" + "".join(cells) + f"{adjusted:>12}")
        summary.append((job.net, f"{array.rows}x{array.cols}", array.dataflow, *worst))
    print(f"\n{'network':<20}{'array':>7}{'df':>4}{'ifmap max %':>13}{'filter max %':>14}"
          f"{'ofmap max %':>13}{'ofmap adj. max %':>18}")
    for label, size, dataflow, ifmap, filt, ofmap, adj in summary:
        print(f"{label:<20}{size:>7}{dataflow:>4}{ifmap:>13.3f}{filt:>14.3f}{ofmap:>13.3f}"
              f"{adj:>18.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
