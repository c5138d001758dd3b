"""Plots read in human units: axis labels and ticks of sweep plots, the run plots' notes,
and roofline labels that neither overlap nor drop layers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from accelsim.config.loader import load_run
from accelsim.pipeline import run_config
from accelsim.report import plots
from accelsim.sweep.plots import BANDWIDTH, MAC_RATE, axis_lines, heatmap, human_axis
from accelsim.sweep.space import load_sweep


@pytest.mark.parametrize(("path", "values", "expected"), [
    # 0.5..16 GB/s: geometric mean 2.8e9 -> GB/s
    ("hardware.dram.bandwidth", [5e8, 1.6e10], ("DRAM bandwidth", "GB/s", 1e9)),
    ("hardware.compute.mac_rate", [5e10, 2e12], ("MAC rate", "GMAC/s", 1e9)),
    # whole KiB: binary units; 1 MB = 1,000,000 B is not a whole number of KiB
    ("hardware.sram.capacity", [65536, 524288], ("SRAM capacity", "KiB", 1024.0)),
    ("hardware.sram.capacity", [1_000_000, 2_000_000], ("SRAM capacity", "MB", 1e6)),
    ("hardware.compute.clock", [4e8, 8e8], ("clock", "MHz", 1e6)),
    ("hardware.dram.latency", [5e-8, 2e-7], ("DRAM latency", "ns", 1e-9)),
    ("simulation.batch", [1, 8], ("batch", "", 1.0)),
])
def test_human_axis(path: str, values: list[float], expected: tuple[str, str, float]) -> None:
    assert human_axis(path, np.array(values, dtype=float)) == expected


def _sweep(tmp_path, axes: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.yaml"
    path.write_text(f"base: mobilenet_cifar.yaml\naxes:\n{axes}")
    spec = load_sweep(path)
    from accelsim.sweep.runner import execute
    from accelsim.sweep.store import ResultStore

    execute(spec, tmp_path / "out", backend="serial", progress=False)
    return spec, ResultStore(tmp_path / "out").read()


def _texts(labels) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.get_text() for t in labels if t.get_text()]


def test_sweep_plots_units_categories_and_ticks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec, frame = _sweep(tmp_path, "  hardware.dram.bandwidth: {start: 0.5 GB/s, stop: 16 GB/s, "
                         "num: 12, scale: log}\n  hardware.compute.mac_rate: [100 GMAC/s, "
                         "200 GMAC/s, 300 GMAC/s]\n  simulation.policy: [liveness, accumulate]\n")
    fig = axis_lines(frame, spec)
    FigureCanvasAgg(fig).draw()
    bandwidth, mac_rate, policy = fig.axes
    assert bandwidth.get_xlabel() == "DRAM bandwidth (GB/s)" and bandwidth.get_xscale() == "log"
    assert "e+" not in "".join(_texts(bandwidth.get_xticklabels()))
    # 100..300 GMAC/s spans 3x: a linear axis, in GMAC/s.
    assert mac_rate.get_xscale() == "linear" and mac_rate.get_xlabel() == "MAC rate (GMAC/s)"
    # The policy is categorical: one bar per policy, tick labels are the names.
    assert len(policy.patches) == 2 and _texts(policy.get_xticklabels()) == ["accumulate",
                                                                             "liveness"]
    assert all(ax.get_title().startswith("fastest ") for ax in fig.axes)
    heat = heatmap(frame)
    FigureCanvasAgg(heat).draw()
    ax = heat.axes[0]
    labels = ax.get_xticklabels()
    assert 1 < len(_texts(labels)) <= 7 and ax.get_xlabel() == "DRAM bandwidth (GB/s)"
    boxes = [t.get_window_extent() for t in labels if t.get_text()]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:], strict=False))  # no overlap
    assert set(frame[MAC_RATE]) == {1e11, 2e11, 3e11} and BANDWIDTH in frame


def test_roofline_keeps_every_layer_and_labels_do_not_overlap() -> None:
    result = run_config(load_run("mobilenet_cifar.yaml"))
    table = result.table()
    # Pretend two layers moved no DRAM bytes: they must still be drawn (at the right edge).
    table.loc[[2, 4], "arithmetic_intensity_mac_per_byte"] = np.inf
    fig = plots.roofline_figure(table, 5e11, 1e9)
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    edge = [c for c in ax.collections if c.get_label().startswith("no DRAM traffic")]
    assert len(edge) == 1 and len(edge[0].get_offsets()) == 2
    labels = [t for t in ax.texts if t.get_text() and t.get_text()[0].isdigit()]
    named = {int(n) for t in labels for n in t.get_text().split(",")}
    with_macs = set(table.loc[table["macs"] > 0, "layer"])
    assert named == with_macs  # every layer with MACs is named, none hidden behind "(+2)"
    boxes = [t.get_window_extent() for t in labels]
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1:]), labels[i].get_text()


def test_layers_figure_notes_totals_and_peak() -> None:
    result = run_config(load_run("mobilenet_cifar.yaml", {"hardware.sram.capacity": "256 KiB"}))
    table = result.table()
    fig = plots.layers_figure(table, 256 * 1024)
    time_ax, sram_ax, energy_ax = fig.axes
    notes = [t.get_text() for t in time_ax.texts]
    total_us = table["total_time_s"].sum() * 1e6
    assert any(n.startswith(f"total {total_us:.3g} µs") for n in notes)
    assert sram_ax.get_ylabel() == "SRAM occupancy (KiB)"
    peak = table["sram_used_bits"].max() / 8 / 1024
    assert any(t.get_text().startswith(f"peak {peak:.3g} KiB") for t in sram_ax.texts)
    assert "capacity 256 KiB" in [h.get_label() for h in sram_ax.get_legend().legend_handles]
    energy_uj = table["energy_j"].sum() * 1e6
    assert any(t.get_text().startswith(f"total {energy_uj:.3g} µJ") for t in energy_ax.texts)
    assert isinstance(pd.DataFrame(), pd.DataFrame)
