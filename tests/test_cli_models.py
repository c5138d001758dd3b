"""`accelsim models` and `accelsim summary` through main(argv): output, JSON, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelsim import __version__
from accelsim.cli.app import main
from accelsim.ir.zoo import MODELS

REPO = Path(__file__).resolve().parents[1]
CIFAR_FILE = str(REPO / "models" / "mobilenet_v1_cifar.yaml")
# CIFAR MobileNet: 121,488,640 MACs in its 27 convs (004 report) + the 256x10 FC layer.
CIFAR_MACS = 121_488_640 + 256 * 10


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert __version__ in out
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "models" in out and "summary" in out
    code, out, _ = run(capsys, "summary", "--help")
    assert code == 0
    assert "--alpha" in out and "--json" in out


def test_models_lists_registry_and_files(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # ./models and the package's models/ are the same folder here
    code, out, err = run(capsys, "models")
    assert (code, err) == (0, "")
    for name, spec in MODELS.items():
        assert name in out and spec.description in out
    assert out.count("mobilenet_v1_cifar.yaml") == 1
    assert out.count("mobilenet_v2_block.yaml") == 1
    assert f"{CIFAR_MACS:,}" in out


def test_models_lists_cwd_files_and_flags_invalid_ones(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.yaml").write_text(
        "input: {shape: [4]}\nlayers: [{dense: {units: 2}}]\n", encoding="utf-8")
    (tmp_path / "models" / "broken.yml").write_text("layers: []\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert "models/tiny.yaml" in out
    assert "models/broken.yml" in out and "(invalid)" in out
    assert "mobilenet_v1_cifar.yaml" in out  # the repository's models/ is listed too


def test_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "summary", "mobilenet_v1_cifar")
    assert (code, err) == (0, "")
    assert "conv_pw_13" in out and "7x7x256" in out
    # conv_pw_5: 14*14 positions * 256 in * 256 out = 12,845,056 MACs, 65,536 weights
    assert "12,845,056" in out and "65,536" in out
    totals = {line.split(":")[0]: line.split(":")[1].split()[0]
              for line in out.splitlines() if line.startswith(("total MACs", "params", "batch"))}
    assert totals["total MACs"] == f"{CIFAR_MACS:,}"


def test_summary_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "mobilenet_v1_cifar", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "mobilenet_v1_cifar"
    assert data["total_macs"] == CIFAR_MACS
    assert data["total_macs"] == sum(layer["macs"] for layer in data["layers"])
    assert len(data["layers"]) == 1 + 1 + 13 * 2 + 3  # input, conv1, 13 blocks, pool, fc, softmax
    fc = next(layer for layer in data["layers"] if layer["name"] == "fc")
    assert fc == {"name": "fc", "op": "dense", "inputs": ["avg_pool"], "input_shape": [1, 1, 256],
                  "output_shape": [10], "macs": 2_560, "params": 2_570, "bn_params": 0}
    assert (data["alpha"], data["resolution"], data["classes"]) == (1.0, 28, 10)


def test_summary_of_model_file_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", CIFAR_FILE, "--json")
    assert code == 0
    assert json.loads(out)["total_macs"] == CIFAR_MACS
    code, out, _ = run(capsys, "summary", "mobilenet_v1", "--alpha", "0.5", "--resolution",
                       "160", "--classes", "10", "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["alpha"], data["resolution"], data["classes"]) == (0.5, 160, 10)


BAD_INPUTS = [
    (["summary", "resnet"], "unknown model 'resnet'; known models: mobilenet_v1"),
    (["summary", "mobilenet_v1", "--alpha", "abc"], "--alpha: expected a number, got 'abc'"),
    (["summary", "mobilenet_v1", "--alpha", "-1"], "must be a finite number > 0, got -1.0"),
    (["summary", "mobilenet_v1", "--alpha", "0"], "must be a finite number > 0, got 0.0"),
    (["summary", "mobilenet_v1", "--resolution", "0"], "resolution must be >= 1, got 0"),
    (["summary", "mobilenet_v1", "--resolution", "1.5"], "expected an integer, got '1.5'"),
    (["summary", CIFAR_FILE, "--resolution", "8"], "layer 'avg_pool' would have an empty output"),
    (["summary", "missing.yaml"], "missing.yaml: file not found"),
]


@pytest.mark.parametrize(("argv", "expected"), BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("accelsim: error: ")
    assert expected in err
    assert "Traceback" not in err


def test_malformed_model_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input: {shape: [8, 8, 3]}\nlayers:\n  - conv2d: {filters: x}\n",
                    encoding="utf-8")
    code, out, err = run(capsys, "summary", str(path))
    assert (code, out) == (2, "")
    assert err == (f"accelsim: error: {path}:3: layers[0].conv2d.filters: must be a positive "
                   "integer, got 'x'\n")
