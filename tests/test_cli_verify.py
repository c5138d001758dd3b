"""`accelsim verify` through main(): replay passes, ONNX vs ONNX Runtime, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from accelsim.cli.app import main
from accelsim.ir import build_model
from accelsim.ir.onnx_export import network_to_onnx
from accelsim.reference.weights import random_params


def test_run_file_replays_in_both_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "mobilenet_cifar.yaml", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True and {"max_abs_err", "max_rel_err"} <= set(out)
    assert [c["check"] for c in out["checks"]] == [
        "schedule replay (liveness, float32)", "schedule replay (liveness, int)"]


def test_onnx_model_against_onnxruntime(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    net = build_model("mobilenet_v1_cifar", 0.25)
    path = tmp_path / "cifar.onnx"
    onnx.save(network_to_onnx(net, random_params(net, 3)), str(path))
    assert main(["verify", str(path), "--against", "onnxruntime", "--mode", "float32"]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime vs executor (float64)" in out and out.strip().endswith("PASS")


def test_bad_target_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "file not found" in err[0]
    assert main(["verify", "mobilenet_cifar.yaml", "--against", "onnxruntime"]) == 2
    assert "needs an .onnx model" in capsys.readouterr().err


def test_accumulator_overflows_are_reported(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # 8-bit activations and weights: one product reaches 127 * 127 = 16,129, so a 256-term
    # pointwise sum can reach ~4.1 million, far past a 16-bit accumulator's 32,767. The
    # schedule still matches direct execution (both overflow alike), but the numbers are
    # wrong, so verify fails (exit 1) unless --allow-overflow.
    run = tmp_path / "narrow.yaml"
    run.write_text("name: narrow\nmodel: {name: mobilenet_v1_cifar, alpha: 0.25}\nhardware:\n"
                   "  sram: {capacity: 1 MB}\n  dram: {bandwidth: 1 GB/s}\n"
                   "  compute: {mac_rate: 500 GMAC/s}\n"
                   "  precision: {activation_bits: 8, weight_bits: 8, accumulator_bits: 16}\n")
    assert main(["verify", str(run), "--mode", "int", "--json"]) == 1
    check = json.loads(capsys.readouterr().out)["checks"][0]
    assert check["accumulator_overflows"] > 0
    assert check["matches_direct_execution"] is True and check["passed"] is False
    assert main(["verify", str(run), "--mode", "int", "--allow-overflow"]) == 0
    out = capsys.readouterr().out
    assert "accumulator overflow" in out and out.strip().endswith("PASS")
    # The same narrowing through --set on the bundled run file: fails the same way.
    assert main(["verify", "mobilenet_cifar.yaml", "--mode", "int", "--set",
                 "hardware.precision.accumulator_bits=12", "--set", "model.alpha=0.25"]) == 1
    assert "--allow-overflow to accept" in capsys.readouterr().out
    # The bundled run (alpha 1, 32 bits): the longest sum is a pointwise layer's 256 terms,
    # 16,129 * 256 = 4.1 million plus a bias, far under 2**31, so nothing overflows.
    assert main(["verify", "mobilenet_cifar.yaml", "--mode", "int", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checks"][0]["accumulator_overflows"] == 0
