"""accelsim.report: the bound sentence, report.md, the terminal table, tables and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from accelsim.config.loader import load_run
from accelsim.config.models import RunConfig
from accelsim.pipeline import run_config
from accelsim.report import (
    SCHEDULE_COLUMNS,
    bound_sentence,
    format_terminal,
    markdown_report,
    plots,
    schedule_table,
    summary_record,
    write_report,
)
from accelsim.report.quantities import si
from accelsim.sim.simulate import SimResult


def simulated(**overrides: object) -> tuple[SimResult, RunConfig]:
    config = load_run("mobilenet_cifar.yaml", overrides)
    return run_config(config), config


@pytest.fixture(scope="module")
def liveness() -> tuple[SimResult, RunConfig]:
    return simulated()


def test_bound_sentence_memory_bound_compulsory_only(
    liveness: tuple[SimResult, RunConfig],
) -> None:
    # liveness on 1 MB: every layer fits, DRAM traffic = filters + network I/O:
    # 663,680 B of conv and FC weights + 10 FC biases and 5,440 folded batch-norm biases at
    # 4 B + the 2,352 B input + the 10 B output = 687,842 B
    sentence = bound_sentence(summary_record(*liveness))
    assert sentence.startswith("99% of the time is spent in memory-bound layers")
    assert "688 kB, all of it compulsory" in sentence
    assert sentence.count(".") == 1 and sentence.endswith(".")


def test_bound_sentence_names_spills() -> None:
    # accumulate keeps every feature map: one spill, 1.38 MB of traffic of which 688 kB is
    # compulsory (the 687,842 B above)
    sentence = bound_sentence(summary_record(*simulated(**{"simulation.policy": "accumulate"})))
    assert "memory-bound" in sentence
    assert "DRAM traffic is 1.38 MB of which 688 kB is compulsory" in sentence
    assert "is spills caused by the 1 MB SRAM capacity" in sentence


def test_bound_sentence_compute_bound() -> None:
    # 1 TB/s moves a pointwise layer's 65,536 filter bytes in 66 ns, far below its 25.7 µs
    result, config = simulated(**{"hardware.dram.bandwidth": "1 TB/s"})
    summary = summary_record(result, config)
    assert summary["memory_bound_time_fraction"] < 0.5
    sentence = bound_sentence(summary)
    assert "compute-bound layers, so the MAC rate bounds the network" in sentence


def test_markdown_report(liveness: tuple[SimResult, RunConfig]) -> None:
    result, config = liveness
    text = markdown_report(result, config, [("Roofline", "roofline.png")])
    assert text.startswith("# accelsim report: mobilenet_cifar\n")
    assert bound_sentence(summary_record(result, config)) in text
    assert "| SRAM capacity | 1 MB (1,000,000 B) |" in text
    assert "| DRAM bandwidth | 1 GB/s |" in text
    assert "500 GMAC/s" in text and "| Batch | 1 |" in text
    assert "![Roofline](roofline.png)" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "conv" in line]
    assert len(table) == 27
    # conv_pw_5 reads its 256 x 256 filters and 256 folded batch-norm biases at 4 B
    assert "| 11 | conv_pw_5 | conv2d | 12,845,056 | 66,560 | 0 |" in text
    assert "![" not in markdown_report(result, config)


def test_format_terminal(liveness: tuple[SimResult, RunConfig]) -> None:
    text = format_terminal(*liveness)
    lines = text.splitlines()
    assert any(line.split()[:3] == ["30", "softmax", "softmax"] for line in lines if line)
    total = next(line for line in lines if line.split()[:1] == ["total"])
    # MACs and µs of the whole network: 121,491,200 / 5e11 s = 242.98 µs of MACs, plus the
    # vector work of the 7x7 average pool (256 outputs x 49 = 12,544 elements) and the
    # softmax (3 x 10) at the default 5e11 / 16 elem/s: 12,574 / 3.125e10 s = 0.40 µs;
    # 687,842 B / 1 GB/s = 687.84 µs of data movement
    assert "121,491,200" in total and "243.38" in total and "931.23" in total
    assert "Peak SRAM:" in text and "167 kB of 1 MB" in text
    assert max(len(line) for line in lines[:35]) <= 120


def test_schedule_table(liveness: tuple[SimResult, RunConfig]) -> None:
    result, _ = liveness
    table = schedule_table(result)
    assert tuple(table.columns) == SCHEDULE_COLUMNS
    fmaps = table[table["kind"] == "fmap"]
    assert len(fmaps) == 31  # the input and 30 layer outputs
    assert (fmaps["produced_at_layer"] <= fmaps["last_use_at_layer"]).all()
    assert table["produced_at_layer"].between(0, 30).all()


def test_summary_record_is_strict_json(liveness: tuple[SimResult, RunConfig]) -> None:
    record = summary_record(*liveness)
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert record["hardware"]["ridge_point_mac_per_byte"] == 500


@pytest.mark.parametrize("overlap", [False, True])
def test_plots_return_figures(liveness: tuple[SimResult, RunConfig], overlap: bool) -> None:
    result, config = liveness
    table = result.table()
    hw = config.hardware
    figures = [
        plots.layers_figure(table, hw.sram_capacity, overlap=overlap),
        plots.layers_figure(table, hw.sram_capacity, log=True),
        plots.roofline_figure(table, hw.compute.peak_mac_rate, hw.dram.bandwidth),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        assert fig.axes and all(ax.get_ylabel() for ax in fig.axes)


def test_write_report_without_plots(liveness: tuple[SimResult, RunConfig], tmp_path: Path) -> None:
    paths = write_report(*liveness, tmp_path / "new" / "dir", plots=False)
    assert [p.name for p in paths] == [
        "layers.csv",
        "schedule.csv",
        "summary.json",
        "config.resolved.yaml",
        "report.md",
        "report.html",
        "trace.json",
    ]
    assert all(p.stat().st_size > 0 for p in paths)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1.36e6, "B", "1.36 MB"),
        (666_082, "B", "666 kB"),
        (999.96e3, "B", "1 MB"),
        (1.88e-4, "J", "188 µJ"),
        (5e11, "MAC/s", "500 GMAC/s"),
        (0, "B", "0 B"),
    ],
)
def test_si(value: float, unit: str, text: str) -> None:
    assert si(value, unit) == text


@pytest.mark.parametrize("overrides", [
    {},
    {"hardware.sram.capacity": "64 KiB", "simulation.overlap": True},
    {"hardware.compute": {"pe_rows": 16, "pe_cols": 16, "clock": "400 MHz"}},
])
def test_csv_files_match_pandas(overrides: dict, tmp_path: Path) -> None:
    # The writer uses the csv module (no pandas import in `accelsim run`); its files are
    # byte for byte what DataFrame.to_csv writes for the same tables.
    from accelsim.config.loader import load_run
    from accelsim.pipeline import run_config
    from accelsim.report.tables import schedule_table

    result = run_config(load_run("mobilenet_cifar.yaml", overrides))
    config = load_run("mobilenet_cifar.yaml", overrides)
    write_report(result, config, tmp_path, plots=False)
    assert (tmp_path / "layers.csv").read_text() == result.table().to_csv(index=False)
    assert (tmp_path / "schedule.csv").read_text() == schedule_table(result).to_csv(index=False)
