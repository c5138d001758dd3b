"""Sweep pictures and Pareto fronts, from the results DataFrame.

Plots are functions returning a matplotlib Figure (no pyplot state); `write_outputs`
saves them with pareto.csv next to the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.sweep.space import SweepSpec

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["PARETO_COLUMNS", "axis_lines", "heatmap", "human_axis", "number", "pareto",
           "pareto_plot", "write_outputs"]

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


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _numeric(frame: pd.DataFrame, column: str) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(frame[column])) and not bool(
        pd.api.types.is_bool_dtype(frame[column]))


#: Field name (last part of a dotted path) -> (readable name, unit family).
_FIELDS: dict[str, tuple[str, str]] = {
    "capacity": ("SRAM capacity", "B"),
    "bandwidth": ("DRAM bandwidth", "B/s"),
    "latency": ("DRAM latency", "s"),
    "mac_rate": ("MAC rate", "MAC/s"),
    "clock": ("clock", "Hz"),
    "mac": ("energy per MAC", "J"),
    "sram_read_byte": ("SRAM read energy per byte", "J"),
    "sram_write_byte": ("SRAM write energy per byte", "J"),
    "dram_read_byte": ("DRAM read energy per byte", "J"),
    "dram_write_byte": ("DRAM write energy per byte", "J"),
    "energy_j": ("energy", "J"),
    "alpha": ("width multiplier (alpha)", ""),
}
_DECIMAL = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
            (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))
_BINARY = ((1024.0**3, "GiB"), (1024.0**2, "MiB"), (1024.0, "KiB"))


def number(value: float) -> str:
    """A tick or a value: '0.5', '181', '2,000' (never '2e+03')."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def human_axis(path: str, values: np.ndarray) -> tuple[str, str, float]:
    """(readable name, unit, divisor) of a swept field: ('DRAM bandwidth', 'GB/s', 1e9).

    Sizes read in KiB/MiB when every value is a whole number of KiB (as binary sizes are
    written), else in kB/MB; the prefix is the one that suits the middle of the values.
    """
    field = path.rsplit(".", 1)[-1]
    name, unit = _FIELDS.get(field, (field.replace("_", " "), ""))
    finite = np.abs(values[np.isfinite(values)]) if len(values) else np.zeros(0)
    positive = finite[finite > 0]
    if not unit or not len(positive):
        return name, unit, 1.0
    typical = float(np.exp(np.mean(np.log(positive))))  # geometric mean: the middle of a range
    if unit == "B" and bool(np.all(np.mod(finite, 1024) == 0)) and typical >= 1024:
        scale, text = next(((f, u) for f, u in _BINARY if typical >= f), _BINARY[-1])
        return name, text, scale
    scale, prefix = next(((f, p) for f, p in _DECIMAL if typical >= f * 0.9995), _DECIMAL[-1])
    return name, f"{prefix}{unit}", scale


def _label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def _plain_ticks(ax: Any, axis: str) -> None:
    """Numbers as '0.5', '2', '300' on a log axis (no 10^n, no '3x10^0' minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: number(v)))
    target.set_minor_formatter(NullFormatter())


def _spread(values: np.ndarray) -> float:
    """max / min of the positive values (1 when there are none)."""
    positive = values[values > 0]
    return float(positive.max() / positive.min()) if len(positive) else 1.0


def axis_lines(frame: pd.DataFrame, spec: SweepSpec) -> Figure:
    """Total time vs each axis: the best and the median over the other axes.

    Numeric axes are lines in readable units (log only when the values span more than
    20x); categorical axes (policy, overlap) are bars for the median with the best as a
    point. Each panel marks its fastest point.
    """
    axes = [a.path for a in spec.axes]
    cols = min(len(axes), 3)
    fig = _figure(4.2 * cols, 3.6 * ((len(axes) + 2) // 3))
    for k, path in enumerate(axes):
        ax = fig.add_subplot((len(axes) + 2) // 3, cols, k + 1)
        stats = frame.groupby(path, sort=True)["total_time_s"].agg(["min", "median"])
        best, median = stats["min"].to_numpy() * 1e3, stats["median"].to_numpy() * 1e3
        if _numeric(frame, path):
            raw = stats.index.to_numpy(dtype=float)
            name, unit, scale = human_axis(path, raw)
            x = raw / scale
            ax.plot(x, median, "o-", label="median over other axes")
            ax.plot(x, best, "s--", label="best over other axes")
            if len(x) > 1 and x.min() > 0 and _spread(x) > 20:
                ax.set_xscale("log")
                _plain_ticks(ax, "x")
            ax.set_xlabel(_label(name, unit))
        else:
            x = np.arange(len(stats))
            ax.bar(x, median, 0.6, color="C0", alpha=0.8, label="median over other axes")
            ax.plot(x, best, "s", color="C1", markersize=9, label="best over other axes")
            ax.set_xticks(x, [str(v) for v in stats.index])
            unit = ""
            ax.set_xlabel(human_axis(path, np.zeros(0))[0])
        i = int(np.argmin(best))
        ax.plot([x[i]], [best[i]], "*", color="C3", markersize=14, zorder=3)
        where = f"{number(x[i])} {unit}".strip() if _numeric(frame, path) \
            else str(stats.index[i])
        ax.set_title(f"fastest {best[i]:.3g} ms at {where} (star)", fontsize=9)
        ax.set_ylim(0, max(float(median.max()), float(best.max())) * 1.15)
        ax.set_ylabel("total time (ms)")
        ax.grid(True, alpha=0.3)
        if k == 0:
            ax.legend(fontsize="small")
    fig.suptitle("Total time along each axis")
    return fig


def _tick_labels(values: np.ndarray, scale: float, room: int) -> tuple[np.ndarray, list[str]]:
    """Positions (cell centres) and labels of at most `room` evenly spaced cells."""
    step = max(1, int(np.ceil(len(values) / room)))
    positions = np.arange(0, len(values), step)
    return positions + 0.5, [number(values[i] / scale) for i in positions]


def heatmap(frame: pd.DataFrame) -> Figure:
    """Median total time over DRAM bandwidth x MAC rate, in GB/s and GMAC/s.

    Colours are logarithmic when the times span more than 20x; small grids print each
    cell's time in it.
    """
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    table = frame.pivot_table(index=MAC_RATE, columns=BANDWIDTH, values="total_time_s",
                              aggfunc="median")
    fig = _figure(6.8, 4.6)
    ax = fig.add_subplot()
    data = table.to_numpy() * 1e3
    lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
    norm = LogNorm(vmin=lo, vmax=hi) if hi > 20 * lo else Normalize(vmin=lo, vmax=hi)
    image = ax.pcolormesh(np.arange(table.shape[1] + 1), np.arange(table.shape[0] + 1), data,
                          norm=norm, cmap="viridis")
    bar = fig.colorbar(image, ax=ax, label="total time (ms), median over other axes")
    if isinstance(norm, LogNorm):
        bar.ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    columns = table.columns.to_numpy(dtype=float)
    rows = table.index.to_numpy(dtype=float)
    x_name, x_unit, x_scale = human_axis(BANDWIDTH, columns)
    y_name, y_unit, y_scale = human_axis(MAC_RATE, rows)
    ax.set_xticks(*_tick_labels(columns, x_scale, 7))
    ax.set_yticks(*_tick_labels(rows, y_scale, 10))
    if data.size <= 64:
        middle = np.sqrt(lo * hi) if isinstance(norm, LogNorm) else (lo + hi) / 2
        for (r, c), value in np.ndenumerate(data):
            ax.text(c + 0.5, r + 0.5, f"{value:.3g}", ha="center", va="center", fontsize=8,
                    color="white" if value < middle else "black")
    ax.set_xlabel(_label(x_name, x_unit))
    ax.set_ylabel(_label(y_name, y_unit))
    ax.set_title("Total time (ms): DRAM bandwidth x MAC rate")
    return fig


def pareto_plot(frame: pd.DataFrame, fronts: pd.DataFrame) -> Figure:
    """Every point (a sample when many) and the Pareto fronts, in readable units."""
    names = list(dict.fromkeys(fronts["front"]))
    fig = _figure(5.2 * len(names), 4.2)
    sample = frame.sample(_SCATTER_POINTS, random_state=0) if len(frame) > _SCATTER_POINTS \
        else frame
    for k, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), k + 1)
        front = fronts[fronts["front"] == name]
        column = front["x_name"].iloc[0]
        name, unit, scale = human_axis(column, frame[column].to_numpy(dtype=float))
        ax.scatter(sample[column] / scale, sample["total_time_s"] * 1e3, s=6, alpha=0.3,
                   color="grey", label="design points")
        ax.step(front["x"] / scale, front["total_time_s"] * 1e3, "o-", where="post",
                color="C3", label="Pareto front")
        ax.set_xlabel(_label(name, unit))
        ax.set_ylabel("total time (ms)")
        for axis, values in (("x", frame[column].to_numpy(dtype=float)),
                             ("y", frame["total_time_s"].to_numpy(dtype=float))):
            if _spread(values) > 20:
                (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
                _plain_ticks(ax, axis)
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
