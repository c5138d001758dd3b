"""The 004 report's method on the correct CIFAR MobileNet, checked against its Tables 3 and 4.

Every compute time is MACs / 5e11 with MACs worked from the report's Table 1 here, and
equals the report's Table 4 except rows 4 and 25, where the report is wrong.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import accelsim

TABLE = Path(__file__).parent / "data" / "seed004_table3_table4.csv"


def table1_macs() -> list[int]:
    """MACs of the 27 conv layers from the report's Table 1 (28x28x3 input)."""
    macs = [28 * 28 * 32 * 3 * 3 * 3]  # 3x3 conv, stride 1, 3 -> 32 channels
    size, channels = 28, 32
    blocks = [(64, 1), (64, 2), (128, 1), (256, 1), (256, 1), (256, 1), (256, 1),
              (256, 1), (256, 1), (256, 1), (256, 1), (256, 1), (256, 2)]
    for out, stride in blocks:
        size = -(-size // stride)  # TF 'same': ceil(size / stride)
        macs.append(size * size * channels * 9)  # depthwise 3x3
        macs.append(size * size * channels * out)  # pointwise 1x1
        channels = out
    return macs


@pytest.fixture(scope="module")
def result() -> accelsim.sim.SimResult:  # type: ignore[name-defined]
    return accelsim.run("mobilenet_cifar.yaml",
                        {"simulation.policy": "accumulate", "simulation.overlap": False})


def test_compute_times_match_the_report_except_rows_4_and_25(result) -> None:  # type: ignore[no-untyped-def]
    table = result.table()
    with TABLE.open() as f:
        report = list(csv.DictReader(f))
    expected = table1_macs()
    assert sum(expected) == 121_488_640
    for row, (doc, macs) in enumerate(zip(report, expected, strict=True), start=1):
        ours = table.iloc[row - 1]
        assert ours["macs"] == macs
        assert ours["compute_time_s"] == pytest.approx(macs / 5e11, rel=1e-12)
        doc_time = float(doc["compute_time_s"])
        if row in (4, 25):
            # Row 4 is a 28x28 output, row 25 a 7x7 one; both are 14x14 in Table 1.
            wrong_size = 28 if row == 4 else 7
            channels = 64 * 9 if row == 4 else 256 * 256
            assert doc_time == pytest.approx(wrong_size**2 * channels / 5e11, rel=1e-5)
            assert ours["compute_time_s"] != pytest.approx(doc_time, rel=1e-3)
        else:
            assert ours["compute_time_s"] == pytest.approx(doc_time, rel=1e-5)


def test_the_method_accumulates_until_it_spills(result) -> None:  # type: ignore[no-untyped-def]
    table = result.table()
    # Row 1 worked by hand at 8 bits: input 28*28*3 = 2,352 B, output 28*28*32 = 25,088 B,
    # filters 3*3*3*32 = 864 B plus 32 folded batch-norm biases at 32 bits (128 B):
    # 28,432 B resident; the input and filters come from DRAM.
    assert table.iloc[0]["sram_used_bits"] == (2_352 + 25_088 + 864 + 128) * 8
    assert table.iloc[0]["data_movement_bits"] == (2_352 + 864 + 128) * 8
    # Row 2: adds 25,088 B of output and 288 + 128 B of depthwise filters, reads the filters.
    assert table.iloc[1]["sram_used_bits"] == (28_432 + 25_088 + 288 + 128) * 8
    assert table.iloc[1]["data_movement_bits"] == (288 + 128) * 8
    used = table["sram_used_bits"].tolist()
    spill = next(i for i in range(1, len(used)) if used[i] < used[i - 1])
    assert all(used[i] <= used[i + 1] for i in range(spill - 1))  # grows until the spill
    assert result.summary()["spills"] == 1
    assert max(used) <= 1_000_000 * 8  # never over the 1 MB capacity
    assert "exceeds 1000000 B" in table.iloc[spill - 1]["spill_reason"] or "exceeds" in \
        table.iloc[spill]["spill_reason"]


def test_per_layer_time_is_the_sum_without_overlap(result) -> None:  # type: ignore[no-untyped-def]
    table = result.table()
    movement = (table["dram_read_bytes"] + table["dram_write_bytes"]) / 1e9
    assert (table["data_movement_time_s"] - movement).abs().max() < 1e-18
    assert ((table["compute_time_s"] + movement) - table["total_time_s"]).abs().max() < 1e-15
    assert result.summary()["total_time_s"] == pytest.approx(table["total_time_s"].sum())
