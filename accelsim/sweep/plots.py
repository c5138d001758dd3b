"""Sweep pictures and Pareto fronts, from the results DataFrame.

Plots are functions returning a matplotlib Figure (no pyplot state); `write_outputs`
saves them with pareto.csv next to the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from accelsim.sweep.space import SweepSpec

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["PARETO_COLUMNS", "axis_lines", "heatmap", "pareto", "pareto_plot",
           "write_outputs"]

PARETO_COLUMNS: tuple[str, ...] = ("front", "point_id", "x", "x_name", "total_time_s")
SRAM = "hardware.sram.capacity"
BANDWIDTH = "hardware.dram.bandwidth"
MAC_RATE = "hardware.compute.mac_rate"
_SCATTER_POINTS = 20000


def _front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both x and y (both minimised)."""
    if len(y) == 0:
        return np.zeros(0, dtype=int)
    order = np.lexsort((y, x))
    best = np.minimum.accumulate(y[order])
    strictly = np.r_[True, best[1:] < best[:-1]]
    return order[strictly]


def pareto(frame: pd.DataFrame) -> pd.DataFrame:
    """Fronts of total time vs SRAM capacity (when swept) and vs energy (PARETO_COLUMNS)."""
    import pandas as pd

    fronts = []
    if "feasible" in frame:
        frame = frame[frame["feasible"]]
    pairs = [("time_vs_sram", SRAM)] if SRAM in frame else []
    pairs.append(("time_vs_energy", "energy_j"))
    for name, column in pairs:
        x = frame[column].to_numpy(dtype=float)
        y = frame["total_time_s"].to_numpy(dtype=float)
        idx = _front(x, y)
        fronts.append(pd.DataFrame({
            "front": name, "point_id": frame["point_id"].to_numpy()[idx], "x": x[idx],
            "x_name": column, "total_time_s": y[idx],
        }))
    return pd.concat(fronts, ignore_index=True)[list(PARETO_COLUMNS)]


def _figure(width: float = 6.4, height: float = 4.2) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _numeric(frame: pd.DataFrame, column: str) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(frame[column])) and not bool(
        pd.api.types.is_bool_dtype(frame[column]))


def axis_lines(frame: pd.DataFrame, spec: SweepSpec) -> Figure:
    """Total time vs each axis: the best and the median over the other axes."""
    axes = [a.path for a in spec.axes]
    fig = _figure(4.2 * min(len(axes), 3), 3.6 * ((len(axes) + 2) // 3))
    cols = min(len(axes), 3)
    for k, path in enumerate(axes):
        ax = fig.add_subplot((len(axes) + 2) // 3, cols, k + 1)
        stats = frame.groupby(path, sort=True)["total_time_s"].agg(["min", "median"])
        x = stats.index.to_numpy() if _numeric(frame, path) else np.arange(len(stats))
        ax.plot(x, stats["median"] * 1e3, "o-", label="median over other axes")
        ax.plot(x, stats["min"] * 1e3, "s--", label="best over other axes")
        if not _numeric(frame, path):
            ax.set_xticks(x, [str(v) for v in stats.index])
        elif len(x) > 1 and x.min() > 0 and x.max() / x.min() > 20:
            ax.set_xscale("log")
        ax.set_xlabel(path)
        ax.set_ylabel("total time (ms)")
        ax.grid(True, alpha=0.3)
        if k == 0:
            ax.legend(fontsize="small")
    fig.suptitle("Total time along each axis")
    return fig


def heatmap(frame: pd.DataFrame) -> Figure:
    """Median total time over DRAM bandwidth x MAC rate (log colours)."""
    from matplotlib.colors import LogNorm

    table = frame.pivot_table(index=MAC_RATE, columns=BANDWIDTH, values="total_time_s",
                              aggfunc="median")
    fig = _figure()
    ax = fig.add_subplot()
    data = table.to_numpy() * 1e3
    image = ax.pcolormesh(np.arange(table.shape[1] + 1), np.arange(table.shape[0] + 1), data,
                          norm=LogNorm(vmin=np.nanmin(data), vmax=np.nanmax(data)),
                          cmap="viridis")
    fig.colorbar(image, ax=ax, label="total time (ms), median over other axes")
    for labels, setter in ((table.columns, ax.set_xticks), (table.index, ax.set_yticks)):
        positions = np.arange(0, len(labels), max(1, len(labels) // 8))
        setter(positions + 0.5, [f"{labels[i]:.3g}" for i in positions])
    ax.set_xlabel("DRAM bandwidth (bytes/s)")
    ax.set_ylabel("MAC rate (MAC/s)")
    ax.set_title("Total time: bandwidth x MAC rate")
    return fig


def pareto_plot(frame: pd.DataFrame, fronts: pd.DataFrame) -> Figure:
    """Every point (a sample when many) and the Pareto fronts."""
    from matplotlib.ticker import NullFormatter

    names = list(dict.fromkeys(fronts["front"]))
    fig = _figure(5.2 * len(names), 4.2)
    sample = frame.sample(_SCATTER_POINTS, random_state=0) if len(frame) > _SCATTER_POINTS \
        else frame
    for k, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), k + 1)
        front = fronts[fronts["front"] == name]
        column = front["x_name"].iloc[0]
        ax.scatter(sample[column], sample["total_time_s"] * 1e3, s=6, alpha=0.3,
                   color="grey", label="design points")
        ax.step(front["x"], front["total_time_s"] * 1e3, "o-", where="post", color="C3",
                label="Pareto front")
        ax.set_xlabel("SRAM capacity (bytes)" if column == SRAM else "energy (J)")
        ax.set_ylabel("total time (ms)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize="small")
        ax.set_title("time vs " + ("SRAM" if column == SRAM else "energy"))
    return fig


def write_outputs(frame: pd.DataFrame, spec: SweepSpec, out: Path) -> list[Path]:
    """pareto.csv and the PNGs (axis lines, heatmap when both axes exist, Pareto fronts),
    from the feasible points; nothing when no point can run."""
    frame = frame[frame["feasible"].astype(bool)] if "feasible" in frame else frame
    if frame.empty:
        return []
    written = []
    fronts = pareto(frame)
    fronts.to_csv(out / "pareto.csv", index=False)
    written.append(out / "pareto.csv")
    figures = {"time_per_axis.png": axis_lines(frame, spec),
               "pareto.png": pareto_plot(frame, fronts)}
    paths = {a.path for a in spec.axes}
    if {BANDWIDTH, MAC_RATE} <= paths:
        figures["heatmap_bandwidth_mac_rate.png"] = heatmap(frame)
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
        written.append(out / name)
    return written
