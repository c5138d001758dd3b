"""Plots of a run, each a function from the layers DataFrame to a matplotlib Figure.

The figures are built with `matplotlib.figure.Figure` directly: no pyplot, no global
state, no backend choice; `fig.savefig(path)` renders PNG with Agg. matplotlib is imported
inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["energy_figure", "roofline_figure", "sram_occupancy_figure", "time_split_figure"]

_COMPUTE, _MOVE, _SRAM, _DRAM, _MAC = "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:blue"
_OP_COLORS = {
    "conv2d": "tab:blue",
    "depthwise_conv2d": "tab:orange",
    "dense": "tab:green",
}


def _figure(height: float = 4.8) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, height), layout="constrained")
    return fig, fig.subplots()


def _layer_axis(ax: Axes, table: pd.DataFrame) -> list[int]:
    """Bars at 0..n-1 labelled with layer names (every k-th name when there are many)."""
    positions = list(range(len(table)))
    step = max(1, math.ceil(len(table) / 60))
    ax.set_xticks(positions[::step])
    ax.set_xticklabels(
        [f"{i} {n}" for i, n in zip(table["layer"], table["name"], strict=True)][::step],
        rotation=90,
        fontsize=7,
    )
    ax.set_xlim(-0.7, len(table) - 0.3)
    ax.set_xlabel("layer (execution order)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return positions


def time_split_figure(
    table: pd.DataFrame, overlap: bool = False, log: bool | None = None
) -> Figure:
    """Per-layer compute and data-movement time in µs.

    Without overlap the bars are stacked (their height is the layer time). With overlap,
    or on a log scale (where stacking misleads), the two bars stand side by side and a
    black tick marks each layer's total. `log=None` chooses log when the largest layer
    takes more than 100x the median one (a linear axis would flatten most layers).
    """
    fig, ax = _figure()
    x = _layer_axis(ax, table)
    compute = table["compute_time_s"].to_numpy() * 1e6
    move = table["data_movement_time_s"].to_numpy() * 1e6
    total = table["total_time_s"].to_numpy() * 1e6
    positive = total[total > 0]
    if log is None:
        log = bool(len(positive)) and positive.max() > 100 * float(np.median(positive))
    if log or overlap:
        width = 0.4
        ax.bar([p - width / 2 for p in x], compute, width, color=_COMPUTE, label="compute")
        ax.bar([p + width / 2 for p in x], move, width, color=_MOVE, label="data movement")
        ax.scatter(x, total, marker="_", s=120, color="black", zorder=3, label="layer total")
    else:
        ax.bar(x, compute, 0.8, color=_COMPUTE, label="compute")
        ax.bar(x, move, 0.8, bottom=compute, color=_MOVE, label="data movement")
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("time (µs)")
    how = "overlapped: layer time = max" if overlap else "serial: layer time = sum"
    ax.set_title(f"Time per layer: compute vs data movement ({how})")
    ax.legend(loc="upper left")
    return fig


def sram_occupancy_figure(table: pd.DataFrame, capacity_bytes: float) -> Figure:
    """Per-layer peak SRAM occupancy in kB, with the capacity as a line."""
    fig, ax = _figure()
    x = _layer_axis(ax, table)
    peak = table["sram_used_bits"].to_numpy() / 8 / 1e3
    capacity = capacity_bytes / 1e3
    colors = [_DRAM if p > 0.999 * capacity else _SRAM for p in peak]
    ax.bar(x, peak, 0.8, color=colors, label="peak SRAM in use during the layer")
    ax.axhline(capacity, color="black", linestyle="--", linewidth=1.2)
    ax.text(0, capacity, f" capacity {capacity:,.0f} kB", va="bottom", ha="left", fontsize=9)
    ax.set_ylim(0, capacity * 1.12)
    ax.set_ylabel("SRAM occupancy (kB, 1 kB = 1000 B)")
    ax.set_title("Peak SRAM occupancy per layer")
    ax.legend(loc="upper right")
    return fig


def roofline_figure(
    table: pd.DataFrame, peak_mac_rate: float, bandwidth_bytes_per_s: float
) -> Figure:
    """Each layer's achieved MAC/s against its arithmetic intensity, under the roofline.

    Attainable MAC/s = min(peak, intensity x bandwidth); the ridge point (peak / bandwidth
    MAC per byte) is marked. Layers without DRAM traffic (infinite intensity) or without
    MACs (zero intensity) cannot sit on log axes: they are listed in a note instead.
    """
    fig, ax = _figure(5.6)
    intensity = table["arithmetic_intensity_mac_per_byte"].to_numpy(dtype=float)
    time = table["total_time_s"].to_numpy(dtype=float)
    macs = table["macs"].to_numpy(dtype=float)
    shown = np.isfinite(intensity) & (intensity > 0) & (time > 0)
    ridge = peak_mac_rate / bandwidth_bytes_per_s
    lo = min([ridge / 100, *(intensity[shown] / 2)])
    hi = max([ridge * 100, *(intensity[shown] * 2)])
    xs = np.logspace(math.log10(lo), math.log10(hi), 200)
    ax.plot(
        xs,
        np.minimum(peak_mac_rate, xs * bandwidth_bytes_per_s),
        color="black",
        linewidth=2,
        label="roofline: min(peak, intensity x bandwidth)",
    )
    ax.axvline(ridge, color="gray", linestyle=":", linewidth=1)
    ax.annotate(
        f"ridge point {ridge:,.4g} MAC/B",
        (ridge, peak_mac_rate),
        xytext=(0, 8),
        textcoords="offset points",
        ha="center",
        fontsize=9,
    )
    ops: dict[str, list[int]] = {}
    for i in np.flatnonzero(shown):
        ops.setdefault(str(table["op"].iloc[i]), []).append(int(i))
    for op, rows in ops.items():
        ax.scatter(
            intensity[rows],
            macs[rows] / time[rows],
            s=36,
            zorder=3,
            color=_OP_COLORS.get(op, "tab:purple"),
            label=f"{op} layers (achieved)",
        )
    groups: dict[tuple[float, float], list[str]] = {}
    for i in np.flatnonzero(shown):
        point = (float(intensity[i]), float(macs[i] / time[i]))
        groups.setdefault((round(point[0], 6), round(point[1], -3)), []).append(
            str(table["layer"].iloc[i])
        )
    for (xi, yi), labels in groups.items():
        text = ",".join(labels[:6]) + (f" (+{len(labels) - 6})" if len(labels) > 6 else "")
        ax.annotate(
            text, (xi, yi), xytext=(4, -10), textcoords="offset points", fontsize=7, color="dimgray"
        )
    hidden = [f"{n}" for n, s in zip(table["name"], shown, strict=True) if not s]
    if hidden:
        note = "not shown (no MACs or no DRAM traffic): " + ", ".join(hidden[:8])
        note += ", ..." if len(hidden) > 8 else ""
        ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=8, color="dimgray")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    floor = min([peak_mac_rate * 1e-4, *(macs[shown] / time[shown] / 3)])
    ax.set_ylim(floor, peak_mac_rate * 3)
    ax.set_xlabel("arithmetic intensity (MAC per DRAM byte)")
    ax.set_ylabel("performance (MAC/s)")
    ax.set_title("Roofline: each layer's achieved MAC rate (numbers are layer indices)")
    ax.grid(which="both", alpha=0.25)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def energy_figure(table: pd.DataFrame) -> Figure:
    """Per-layer energy in µJ, stacked by component: MACs, SRAM accesses, DRAM accesses."""
    fig, ax = _figure()
    x = _layer_axis(ax, table)
    bottom: Any = 0.0
    for column, label, color in (
        ("energy_mac_j", "MAC", _MAC),
        ("energy_sram_j", "SRAM", _SRAM),
        ("energy_dram_j", "DRAM", _DRAM),
    ):
        values = table[column].to_numpy(dtype=float) * 1e6
        ax.bar(x, values, 0.8, bottom=bottom, color=color, label=label)
        bottom = bottom + values
    ax.set_ylabel("energy (µJ)")
    ax.set_title("Energy per layer by component")
    ax.legend(loc="upper left")
    return fig
