"""Plots of a run, each a function from the layers table to a matplotlib Figure.

The table is the layers DataFrame (result.table()) or any mapping of its column names to
sequences (`layer_columns(result)`, which needs no pandas).

The figures are built with `matplotlib.figure.Figure` directly: no pyplot, no global
state, no backend choice; `save_png(fig, path)` renders them with Agg. matplotlib is
imported inside the functions, so importing this module stays cheap (`preload` imports it
ahead of time). Margins are fixed rather than computed by a layout engine, which would draw
every figure twice when saved.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from accelsim.report.quantities import binary_size, si, size_text

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["layers_figure", "preload", "roofline_figure", "save_png"]

_COMPUTE, _MOVE, _SRAM, _DRAM, _MAC = "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:blue"
_OP_COLORS = {
    "conv2d": "tab:blue",
    "depthwise_conv2d": "tab:orange",
    "dense": "tab:green",
}
#: The layers table: a DataFrame or a mapping of column name -> values.
Table: TypeAlias = "pd.DataFrame | Mapping[str, Sequence[Any] | np.ndarray]"
#: Figure width in inches.
_WIDTH = 11.0


def preload() -> None:
    """Import what drawing and saving the figures needs (about 0.3 s of matplotlib)."""
    for module in ("matplotlib.figure", "matplotlib.backends.backend_agg",
                   "matplotlib.collections", "matplotlib.ticker", "PIL.PngImagePlugin"):
        importlib.import_module(module)


def save_png(fig: Figure, path: Path) -> None:
    """Render `fig` with Agg and write it as an opaque RGB PNG.

    `savefig` writes RGBA at zlib level 6; the figures have an opaque background, and as
    RGB at level 3 the file is still 9% smaller and compresses in 40% of the time (about
    35 ms less for the layers figure). Pillow is what matplotlib itself writes PNGs with.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
    rgb.save(path, format="png", dpi=(fig.dpi, fig.dpi), compress_level=3)


def _figure(height: float, bottom: float) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_WIDTH, height))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.95, bottom=bottom, hspace=0.32)
    return fig


def _col(table: Table, name: str, dtype: Any = None) -> np.ndarray:
    """One column of the table as an array."""
    return np.asarray(table[name], dtype=dtype)


def _layer_axis(ax: Axes, table: Table, names: bool) -> list[int]:
    """Bars at 0..n-1; the bottom panel names them (every k-th name when there are many).

    The panels above have no x ticks: the one row of names serves all three (same limits),
    and each tick is five artists to build and draw.
    """
    count = len(_col(table, "layer"))
    positions = list(range(count))
    step = max(1, math.ceil(count / 60))
    ax.set_xticks(positions[::step] if names else [])
    if names:
        ax.set_xticklabels(
            [f"{i} {n}" for i, n in zip(_col(table, "layer"), _col(table, "name"), strict=True)
             ][::step],
            rotation=90,
            fontsize=7,
        )
        ax.set_xlabel("layer (execution order)")
    ax.set_xlim(-0.7, count - 0.3)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return positions


def _bars(ax: Axes, x: Any, heights: Any, width: float, color: Any, label: str,
          bottom: Any = 0.0) -> None:
    """Bars as one PolyCollection: a single artist draws in a fraction of the time of one
    Rectangle per bar, which is what makes per-layer plots of big networks slow."""
    from matplotlib.collections import PolyCollection

    left = np.asarray(x, dtype=float) - width / 2
    low = np.broadcast_to(np.asarray(bottom, dtype=float), left.shape)
    high = low + np.asarray(heights, dtype=float)
    verts = np.stack([np.stack([left, low], 1), np.stack([left + width, low], 1),
                      np.stack([left + width, high], 1), np.stack([left, high], 1)], 1)
    ax.add_collection(PolyCollection(list(verts), facecolors=color, edgecolors="none",
                                     label=label))
    ax.update_datalim(verts.reshape(-1, 2))
    ax.autoscale_view()


def _time_text(us: float) -> str:
    """Microseconds in the unit that reads best."""
    return f"{us / 1e3:.3g} ms" if us >= 1e3 else f"{us:.3g} µs"


def _title(ax: Axes, text: str) -> None:
    """The panel's title just above it. Given its height, matplotlib does not measure the
    tick labels on every draw to see whether the title must move up (none are on top)."""
    ax.set_title(text, y=1.0)


def _corner_note(ax: Axes, text: str) -> None:
    """A boxed note in the top right corner of the axes (totals, peaks)."""
    ax.text(0.99, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=9,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.7"})


def layers_figure(table: Table, capacity_bytes: float, overlap: bool = False,
                  log: bool | None = None) -> Figure:
    """Three panels over the layers: time split, peak SRAM occupancy, energy by component.

    One figure with one row of layer names renders in a third of the time of three.
    """
    fig = _figure(11.0, 0.13)
    top, middle, bottom = fig.subplots(3, 1)
    _time_panel(top, table, overlap, log)
    _sram_panel(middle, table, capacity_bytes)
    _energy_panel(bottom, table)
    return fig


def _time_panel(ax: Axes, table: Table, overlap: bool, log: bool | None) -> None:
    """Per-layer time in µs as compute plus waiting for data, with the run's totals.

    A layer's time is its compute plus the time the compute unit waited for its data
    (docs/model.md), so the stacked bar's height is the layer time. With overlap, a tick
    marks each layer's data-movement time, which can exceed the wait (transfers hidden
    under computes) or sit under an earlier layer (filters loaded early). On a log scale
    (where stacking misleads) the two parts stand side by side with a tick at the total.
    `log=None` chooses log when the largest layer takes more than 100x the median one.
    """
    x = _layer_axis(ax, table, names=False)
    compute = _col(table, "compute_time_s") * 1e6
    move = _col(table, "data_movement_time_s") * 1e6
    total = _col(table, "total_time_s") * 1e6
    stall = np.maximum(total - compute, 0.0)
    positive = total[total > 0]
    if log is None:
        log = bool(len(positive)) and positive.max() > 100 * float(np.median(positive))
    if log:
        width = 0.4
        floor = positive.min() / 10 if len(positive) else 0.0  # log axes have no 0
        for shift, values, color, name in ((-width / 2, compute, _COMPUTE, "compute"),
                                           (width / 2, stall, _MOVE, "waiting for data")):
            _bars(ax, np.add(x, shift), np.maximum(values, floor) - floor, width, color, name,
                  floor)
        ax.scatter(x, total, marker="_", s=120, color="black", zorder=3, label="layer total")
        ax.set_yscale("log")
    else:
        _bars(ax, x, compute, 0.8, _COMPUTE, "compute")
        _bars(ax, x, stall, 0.8, _MOVE, "waiting for data", bottom=compute)
        top = max(total.max(initial=0.0), move.max(initial=0.0) if overlap else 0.0, 1e-9)
        ax.set_ylim(0, top * 1.25)  # room for the note
    if overlap:
        ax.scatter(x, move, marker="_", s=120, color="tab:red", zorder=4,
                   label="data movement (overlapped)")
    ax.set_ylabel("time (µs)")
    how = "overlapped" if overlap else "serial"
    _title(ax, f"Time per layer: compute + waiting for data ({how})")
    _corner_note(ax, f"total {_time_text(total.sum())}: compute {_time_text(compute.sum())}, "
                     f"waiting {_time_text(stall.sum())}, data movement "
                     f"{_time_text(move.sum())}")
    ax.legend(loc="upper left")


def _sram_panel(ax: Axes, table: Table, capacity_bytes: float) -> None:
    """Per-layer peak SRAM occupancy, with the capacity as a line and the peak marked.

    Units follow the capacity: KiB when it is a whole number of KiB, else kB (1000 B).
    """
    binary = binary_size(capacity_bytes)
    unit, scale = ("KiB", 1024.0) if binary else ("kB", 1000.0)
    x = _layer_axis(ax, table, names=False)
    used = _col(table, "sram_used_bits") / 8
    peak = used / scale
    capacity = capacity_bytes / scale
    colors = [_DRAM if p > 0.999 * capacity else _SRAM for p in peak]
    _bars(ax, x, peak, 0.8, colors, "peak SRAM in use during the layer")
    _shade_groups(ax, x, table)
    ax.axhline(capacity, color="black", linestyle="--", linewidth=1.2,
               label=f"capacity {size_text(capacity_bytes, binary)}")
    if len(peak):
        top = int(np.argmax(peak))
        ax.annotate(f"peak {size_text(used[top], binary)} ({used[top] / capacity_bytes:.0%}) "
                    f"at {_col(table, 'name')[top]}", (x[top], peak[top]), xytext=(0, 14),
                    textcoords="offset points", fontsize=9,
                    ha="left" if top < len(x) / 4 else "right" if top > len(x) * 3 / 4
                    else "center",
                    arrowprops={"arrowstyle": "->", "color": "0.3"})
    ax.set_ylim(0, capacity * 1.3)
    ax.set_ylabel(f"SRAM occupancy ({unit})")
    _title(ax, "Peak SRAM occupancy per layer")
    ax.legend(loc="upper left", ncol=2)


def _shade_groups(ax: Axes, x: Any, table: Table) -> None:
    """Shade the layers of each fused group of two or more layers (their feature maps live
    as line buffers: only the group's last layer writes to DRAM)."""
    groups = [str(g) for g in _col(table, "fusion_group")] if "fusion_group" in table else []
    start, shaded = 0, 0
    for i in range(1, len(groups) + 1):
        if i < len(groups) and groups[i] == groups[start]:
            continue
        if groups[start] and i - start > 1:
            color = ("tab:orange", "tab:purple")[shaded % 2]  # neighbours told apart
            ax.axvspan(x[start] - 0.45, x[i - 1] + 0.45, color=color, alpha=0.12, zorder=0,
                       label=None if shaded else "fused group (line buffers)")
            shaded += 1
        start = i


def _place_labels(ax: Axes, points: list[tuple[float, float, str]]) -> None:
    """Write each (x, y, text) label beside its point, moved down until it overlaps no other.

    Points closer than about 2% of the axes share one label. Extents are measured with
    the Agg renderer, so the test is exact; a moved label gets a thin leader line.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = ax.get_figure()
    assert figure is not None
    renderer = FigureCanvasAgg(figure).get_renderer()  # type: ignore[arg-type]
    to_axes = ax.transAxes.inverted()
    clusters: list[tuple[float, float, float, float, list[str]]] = []
    for x, y, text in sorted(points, key=lambda p: (-p[1], p[0])):
        fx, fy = to_axes.transform(ax.transData.transform((x, y)))
        near = next((c for c in clusters if abs(c[2] - fx) < 0.02 and abs(c[3] - fy) < 0.03),
                    None)
        if near is None:
            clusters.append((x, y, fx, fy, [text]))
        else:
            near[4].append(text)
    placed: list[Any] = []  # window extents (Bbox) of the labels written so far
    style: dict[str, Any] = {"va": "top", "fontsize": 7, "color": "dimgray",
                             "textcoords": "offset points"}
    for x, y, _, _, texts in clusters:
        text = ",".join(sorted(",".join(texts).split(","), key=int))
        dy = -4.0
        label = ax.annotate(text, (x, y), xytext=(4.0, dy), **style)
        for _ in range(60):
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            dy -= box.height * 72 / figure.dpi + 1
            label.set_position((4.0, dy))
        if dy != -4.0:  # moved: redraw with a leader line to its point
            label.remove()
            label = ax.annotate(text, (x, y), xytext=(4.0, dy), **style,
                                arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5})
        placed.append(label.get_window_extent(renderer))


def _plain_log_ticks(ax: Axes) -> None:
    """Log axes with decade ticks written '100', '1k', '10 G' (no minor ticks, no mathtext)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10))
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(FuncFormatter(lambda v, _: si(v, "").strip()))


def roofline_figure(
    table: Table, peak_mac_rate: float, bandwidth_bytes_per_s: float
) -> Figure:
    """Each layer's achieved MAC/s against its arithmetic intensity, under the roofline.

    Attainable MAC/s = min(peak, intensity x bandwidth); the ridge point (peak / bandwidth
    MAC per byte) is marked. Layers without DRAM traffic (infinite intensity) are drawn
    at the right edge with a '>' marker; layers without MACs cannot sit on a MAC/s axis
    and are named in a note. Labels are layer indices, moved apart so none hides another.
    """
    fig = _figure(5.6, 0.11)
    ax = fig.subplots()
    intensity = _col(table, "arithmetic_intensity_mac_per_byte", float)
    time = _col(table, "total_time_s", float)
    macs = _col(table, "macs", float)
    active = (macs > 0) & (time > 0)
    shown = active & np.isfinite(intensity) & (intensity > 0)
    edge = active & ~np.isfinite(intensity)
    rate = np.divide(macs, time, out=np.zeros_like(macs), where=time > 0)
    ridge = peak_mac_rate / bandwidth_bytes_per_s
    lo = min([ridge / 100, *(intensity[shown] / 2)])
    hi = max([ridge * 100, *(intensity[shown] * 4)])
    xs = np.logspace(math.log10(lo), math.log10(hi), 200)
    ax.plot(xs, np.minimum(peak_mac_rate, xs * bandwidth_bytes_per_s), color="black",
            linewidth=2, label="roofline: min(peak, intensity x bandwidth)")
    ax.axvline(ridge, color="gray", linestyle=":", linewidth=1)
    ax.annotate(f"ridge point {ridge:,.4g} MAC/B", (ridge, peak_mac_rate), xytext=(0, 8),
                textcoords="offset points", ha="center", fontsize=9)
    ops = _col(table, "op").astype(str)
    for op in dict.fromkeys(ops[shown]):
        rows = shown & (ops == op)
        ax.scatter(intensity[rows], rate[rows], s=36, zorder=3,
                   color=_OP_COLORS.get(op, "tab:purple"), label=f"{op} layers (achieved)")
    if edge.any():
        ax.scatter(np.full(int(edge.sum()), hi), rate[edge], marker=">", s=60, zorder=3,
                   color="tab:gray", clip_on=False, label="no DRAM traffic (right edge)")
    floor = min([peak_mac_rate * 1e-4, *(rate[active] / 3)])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(floor, peak_mac_rate * 3)
    groups: dict[tuple[float, float], list[str]] = {}
    for i in np.flatnonzero(shown | edge):
        xi = float(intensity[i]) if shown[i] else hi
        groups.setdefault((xi, float(rate[i])), []).append(str(_col(table, "layer")[i]))
    _place_labels(ax, [(x, y, ",".join(labels)) for (x, y), labels in groups.items()])
    idle = [str(n) for n, m in zip(_col(table, "name"), macs, strict=True) if m == 0]
    if idle:
        ax.text(0.01, 0.01, "no MACs, not shown: " + ", ".join(idle), transform=ax.transAxes,
                fontsize=8, color="dimgray")
    _plain_log_ticks(ax)
    ax.set_xlabel("arithmetic intensity (MAC per DRAM byte)")
    ax.set_ylabel("performance (MAC/s)")
    _title(ax, "Roofline: each layer's achieved MAC rate (numbers are layer indices)")
    ax.grid(alpha=0.25)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def _energy_panel(ax: Axes, table: Table) -> None:
    """Per-layer energy in µJ, stacked by component, with the run's totals."""
    x = _layer_axis(ax, table, names=True)
    bottom: Any = 0.0
    totals = []
    for column, label, color in (
        ("energy_mac_j", "MAC", _MAC),
        ("energy_sram_j", "SRAM", _SRAM),
        ("energy_dram_j", "DRAM", _DRAM),
    ):
        values = _col(table, column, float) * 1e6
        _bars(ax, x, values, 0.8, color, label, bottom=bottom)
        bottom = bottom + values
        totals.append(f"{label} {values.sum():.3g}")
    ax.set_ylim(0, max(float(np.max(bottom, initial=0.0)), 1e-9) * 1.25)
    ax.set_ylabel("energy (µJ)")
    _title(ax, "Energy per layer by component")
    _corner_note(ax, f"total {float(np.sum(bottom)):.3g} µJ: " + ", ".join(totals))
    ax.legend(loc="upper left")
