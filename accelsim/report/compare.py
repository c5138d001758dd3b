"""Comparing runs: a side-by-side summary, per-layer differences sorted by impact, a plot.

A run here is (label, summary record, layers DataFrame): what summary.json and layers.csv
hold, whether read back from a report folder or simulated just now. The first run is the
baseline every other is compared with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.report.markdown import duration
from accelsim.report.quantities import binary_size, si, size_text

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["QUANTITIES", "Run", "compare_figure", "layer_differences", "summary_rows"]


@dataclass(frozen=True)
class Run:
    """One side of a comparison."""

    label: str
    summary: dict[str, Any]
    layers: pd.DataFrame


def _bytes(value: float, s: dict[str, Any]) -> str:
    """An SRAM size in the units of that run's capacity, as its user wrote it."""
    return size_text(value, binary_size(s["sram_capacity_bytes"]))


#: (label, how to read the value off a summary record, how to write it given the record).
QUANTITIES: tuple[tuple[str, Callable[[dict[str, Any]], float], Callable[..., str]], ...] = (
    ("total time", lambda s: s["total_time_s"], lambda v, s: duration(v)),
    ("compute time", lambda s: s["compute_time_s"], lambda v, s: duration(v)),
    ("data movement time", lambda s: s["data_movement_time_s"], lambda v, s: duration(v)),
    ("DRAM traffic", lambda s: s["dram_read_bytes"] + s["dram_write_bytes"],
     lambda v, s: si(v, "B")),
    ("compulsory DRAM traffic", lambda s: s["compulsory_dram_bytes"], lambda v, s: si(v, "B")),
    ("peak SRAM", lambda s: s["peak_sram_bytes"], _bytes),
    ("SRAM capacity", lambda s: s["sram_capacity_bytes"], _bytes),
    ("DRAM bandwidth", lambda s: s["hardware"]["dram_bandwidth_bytes_per_s"],
     lambda v, s: si(v, "B/s")),
    ("peak MAC rate", lambda s: s["hardware"]["peak_mac_rate_mac_per_s"],
     lambda v, s: si(v, "MAC/s")),
    ("energy", lambda s: s["energy_j"], lambda v, s: si(v, "J")),
    ("spills", lambda s: s["spills"], lambda v, s: f"{int(v):,}"),
    ("tiled layers", lambda s: s["tiled_layers"], lambda v, s: f"{int(v):,}"),
)


def summary_rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One record per quantity: its value in every run (raw and written) and the ratio of
    each run to the first."""
    rows = []
    for label, read, write in QUANTITIES:
        values = [float(read(r.summary)) for r in runs]
        ratios = [v / values[0] if values[0] else None for v in values[1:]]
        rows.append({"quantity": label, "values": values,
                     "text": [write(v, r.summary) for v, r in zip(values, runs, strict=True)],
                     "ratio_to_first": ratios})
    return rows


def layer_differences(runs: Sequence[Run]) -> pd.DataFrame:
    """Per-layer total time of every run and its change from the first, sorted by impact.

    Layers are matched by name (the runs may differ in hardware, policy or even network:
    layers missing from a run are left out). Columns: layer, name, op, one
    `time_s:<label>` per run, one `delta_s:<label>` and `bound:<label>` per run; rows sorted
    by the largest absolute change, so the layers where the designs differ come first.
    """
    import pandas as pd

    base = runs[0].layers[["layer", "name", "op"]]
    frame = base.copy()
    for run in runs:
        part = run.layers[["name", "total_time_s", "bound"]].rename(
            columns={"total_time_s": f"time_s:{run.label}", "bound": f"bound:{run.label}"})
        frame = frame.merge(part, on="name", how="inner")
    first = frame[f"time_s:{runs[0].label}"]
    deltas = {f"delta_s:{r.label}": frame[f"time_s:{r.label}"] - first for r in runs[1:]}
    frame = pd.concat([frame, pd.DataFrame(deltas)], axis=1)
    impact = frame[list(deltas)].abs().max(axis=1) if deltas else first * 0
    order = np.argsort(-impact.to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def compare_figure(runs: Sequence[Run]) -> Figure:
    """Per-layer time of every run (top) and each run's change from the first (bottom)."""
    import pandas as pd
    from matplotlib.figure import Figure

    names = runs[0].layers["name"].tolist()
    fig = Figure(figsize=(11, 7.5))
    fig.subplots_adjust(left=0.08, right=0.98, top=0.94, bottom=0.2, hspace=0.12)
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(names))
    width = 0.8 / len(runs)
    for k, run in enumerate(runs):
        times = pd.Series(run.layers["total_time_s"].to_numpy(), index=run.layers["name"])
        values = times.reindex(names).to_numpy(dtype=float) * 1e6
        total = float(run.summary["total_time_s"])
        top.bar(x + (k - (len(runs) - 1) / 2) * width, values, width,
                label=f"{run.label} (total {duration(total)})")
        if k:
            base = runs[0].layers.set_index("name")["total_time_s"].reindex(names)
            bottom.bar(x + (k - len(runs) / 2) * width, values - base.to_numpy() * 1e6, width,
                       color=f"C{k}", label=f"{run.label} - {runs[0].label}")
    top.set_ylabel("layer time (µs)")
    top.set_title("Per-layer time of each run")
    top.legend(loc="upper left", fontsize=9)
    top.grid(axis="y", alpha=0.3)
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.set_ylabel(f"change from {runs[0].label} (µs)")
    bottom.grid(axis="y", alpha=0.3)
    if len(runs) > 1:
        bottom.legend(loc="upper left", fontsize=9)
    layer_ids = runs[0].layers["layer"].tolist()
    step = max(1, int(np.ceil(len(names) / 60)))
    bottom.set_xticks(x[::step])
    bottom.set_xticklabels([f"{i} {n}" for i, n in zip(layer_ids, names, strict=True)][::step],
                           rotation=90, fontsize=7)
    bottom.set_xlim(-0.7, len(names) - 0.3)
    return fig
