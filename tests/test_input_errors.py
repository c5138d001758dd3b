"""More bad inputs, each one line on stderr with exit code 2, naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.cli.app import main


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def test_alpha_too_small_for_any_channel(capsys: pytest.CaptureFixture[str]) -> None:
    # int(32 * 0.01) = 0 channels in conv1: the message names alpha, not a shape.
    assert main(["summary", "mobilenet_v1", "--alpha", "0.01"]) == 2
    assert "alpha 0.01 is too small" in one_line(capsys)


def test_run_file_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path)]) == 2
    assert "is a directory" in one_line(capsys)


def test_fractional_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "r.yaml"
    run.write_text("name: r\nmodel: {name: mobilenet_v1_cifar}\nhardware:\n"
                   "  sram: {capacity: 1.5 B}\n  dram: {bandwidth: 1 GB/s}\n"
                   "  compute: {mac_rate: 1 TOPS}\n")
    assert main(["run", str(run)]) == 2
    line = one_line(capsys)
    assert ":4: hardware.sram.capacity: must be a whole number of bytes, got '1.5 B'" in line
    assert line.count("got") == 1


def test_single_value_range_cannot_span(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: mobilenet_cifar.yaml\naxes:\n  hardware.sram.capacity: "
                     "{start: 1 KiB, stop: 8 MiB, num: 1, scale: log}\n")
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out")]) == 2
    assert "num: 1 value cannot span" in one_line(capsys)
