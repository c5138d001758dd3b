"""Careless and hostile inputs: each is one line naming file and field, exit 2, in seconds.

Every case here once gave a traceback, a hang or a silent coercion: infinities, absurd
sizes, quoted numbers, YAML bombs and deep nesting, unwritable output folders.
"""

from __future__ import annotations

import errno
import time
from pathlib import Path
from typing import Any

import pytest

from accelsim.cli.app import main
from accelsim.yamlio import MAX_FILE_BYTES

RUN = """name: r
model: {{name: mobilenet_v1_cifar{model}}}
hardware:
  sram: {{capacity: {capacity}}}
  dram: {{bandwidth: {bandwidth}{latency}}}
  compute: {{{compute}}}
  precision: {{activation_bits: {bits}}}
simulation: {{{simulation}}}
"""
DEFAULTS = {"model": "", "capacity": "1 MB", "bandwidth": "1 GB/s", "latency": "",
            "compute": "mac_rate: 500 GMAC/s", "bits": "8", "simulation": "policy: liveness"}


def run_text(**changes: str) -> str:
    return RUN.format(**{**DEFAULTS, **changes})


def one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert exit 2, one stderr line, no traceback, under 10 s; return it."""
    start = time.monotonic()
    code = main(argv)
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert elapsed < 10, f"took {elapsed:.1f} s"
    return err[0]


# (changes to the run file, line of the field, field, fragments of the message)
RUN_CASES: dict[str, tuple[dict[str, str], int, str, tuple[str, ...]]] = {
    "capacity_inf": ({"capacity": ".inf"}, 4, "hardware.sram.capacity", ("finite",)),
    "bandwidth_inf": ({"bandwidth": ".inf"}, 5, "hardware.dram.bandwidth", ("finite",)),
    "mac_rate_inf": ({"compute": "mac_rate: .inf"}, 6, "hardware.compute.mac_rate",
                     ("finite",)),
    "clock_inf": ({"compute": "pe_rows: 8, pe_cols: 8, clock: .inf"}, 6,
                  "hardware.compute.clock", ("finite",)),
    "latency_inf": ({"latency": ", latency: .inf"}, 5, "hardware.dram.latency", ("finite",)),
    "latency_nan": ({"latency": ", latency: .nan"}, 5, "hardware.dram.latency", ("finite",)),
    "batch_1e30": ({"simulation": "batch: 1e30"}, 8, "simulation.batch", ("integer",)),
    "batch_big": ({"simulation": "batch: 1000000"}, 8, "simulation.batch",
                  ("from 1 to 4,096",)),
    "alpha_1e30": ({"model": ", alpha: 1e30"}, 2, "model.alpha", ("at most 4",)),
    "resolution": ({"model": ", resolution: 100000"}, 2, "model.resolution",
                   ("from 1 to 8,192",)),
    "classes": ({"model": ", classes: 1000000000"}, 2, "model.classes", ("65,536",)),
    "batch_quoted": ({"simulation": "batch: '4'"}, 8, "simulation.batch",
                     ("must be an integer", "without quotes", "'4'")),
    "bits_quoted": ({"bits": "'8'"}, 7, "hardware.precision.activation_bits",
                    ("must be an integer", "'8'")),
    "overlap_yes_quoted": ({"simulation": "overlap: 'yes'"}, 8, "simulation.overlap",
                           ("true or false",)),
    "overlap_1": ({"simulation": "overlap: 1"}, 8, "simulation.overlap", ("true or false",)),
    "full_width_digit": ({"capacity": "１ MB"}, 4, "hardware.sram.capacity",
                         ("cannot read",)),
    "capacity_1e30": ({"capacity": "1e30"}, 4, "hardware.sram.capacity",
                      ("from 1 B to 1 TiB",)),
    "bandwidth_1e-30": ({"bandwidth": "1e-30"}, 5, "hardware.dram.bandwidth",
                        ("from 1 kB/s to 1 PB/s",)),
    "pe_rows_huge": ({"compute": "pe_rows: 100000000, pe_cols: 8, clock: 1 GHz"}, 6,
                     "hardware.compute.pe_rows", ("from 1 to 4,096",)),
    "energy_negative": ({"latency": ", latency: -1 ns"}, 5, "hardware.dram.latency",
                        ("from 0 to 1 s",)),
}


@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_bad_run_values(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changes, line, field, fragments = RUN_CASES[case]
    path = tmp_path / "r.yaml"
    path.write_text(run_text(**changes), encoding="utf-8")
    message = one_line_exit_2(["run", str(path), "--out", str(tmp_path / "out")], capsys)
    assert f"{path}:{line}: {field}: " in message
    for fragment in fragments:
        assert fragment in message
    assert not (tmp_path / "out").exists()  # nothing is written before the input is valid


def test_legitimate_edge_values_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1e6 without a dot is a number (YAML 1.2), 1 TiB is the largest SRAM, 4 the largest alpha
    path = tmp_path / "r.yaml"
    path.write_text(run_text(capacity="1e6", model=", alpha: 0.25"), encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-plots"]) == 0
    resolved = (tmp_path / "out" / "config.resolved.yaml").read_text()
    assert "capacity: 1000000\n" in resolved and "alpha: 0.25\n" in resolved


BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi", strict=True))
YAML_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "unhashable_key": ("? [a, b]\n: 1\n", ("mapping key must be a plain value",)),
    "deep_flow": ("name: " + "[" * 5000 + "]" * 5000 + "\n", ("levels deep",)),
    "deep_block": ("".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v: 1\n",
                   ("levels deep",)),
    "alias_bomb": (BOMB, ("more than 1,000,000 values", "alias")),
    "bad_indent": ("name: r\nmodel:\n  name: x\n hardware: 1\n", ("indented",)),
    "tab": ("name: r\nmodel:\n\tname: x\n", ("spaces",)),
    "two_documents": ("name: r\n---\nname: s\n", ("second document",)),
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
@pytest.mark.parametrize("kind", ["run", "model"])
def test_hostile_yaml(case: str, kind: str, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    text, fragments = YAML_CASES[case]
    path = tmp_path / "f.yaml"
    path.write_text(text)
    argv = ["run", str(path)] if kind == "run" else ["summary", str(path)]
    message = one_line_exit_2(argv, capsys)
    assert f"{path}:" in message and "YAML error" in message
    for fragment in fragments:
        assert fragment in message
    assert "expected <block end>" not in message  # PyYAML's own wording is translated


def test_huge_yaml_file_is_refused_unread(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w") as handle:
        line = "#" * 1023 + "\n"
        for _ in range(MAX_FILE_BYTES // 1024 + 1):
            handle.write(line)
    message = one_line_exit_2(["run", str(path)], capsys)
    assert str(path) in message and "over the limit" in message


MODEL_CASES: dict[str, tuple[str, str, str]] = {
    # name: (model file, field, fragment)
    "huge_input": ("input: {shape: [100000, 100000, 3]}\nlayers:\n  - conv2d: {filters: 8}\n",
                   ":1: input.shape", "at most 16,384"),
    "huge_padding": ("input: {shape: [28, 28, 3]}\nlayers:\n"
                     "  - conv2d: {filters: 8, padding: 1000000}\n",
                     ":3: layers[0].conv2d.padding", "at most 1,024"),
    "huge_dense": ("input: {shape: [28, 28, 3]}\nlayers:\n  - flatten:\n"
                   "  - dense: {units: 1000000000000}\n", ":4: layers[1].dense.units",
                   "at most 65,536"),
    "huge_repeat": ("input: {shape: [28, 28, 3]}\nlayers:\n  - repeat: 1000000000\n"
                    "    layers:\n      - conv2d: {filters: 3, kernel: 1}\n",
                    ":3: layers[0].repeat", "at most 1,000"),
    "nested_repeats": ("input: {shape: [8, 8, 3]}\nlayers:\n  - repeat: 1000\n    layers:\n"
                       "      - repeat: 1000\n        layers:\n"
                       "          - conv2d: {filters: 3, kernel: 1}\n",
                       ":2: layers", "1,000,000 layers"),
    "huge_counter": ("input: {shape: [8, 8, 3]}\nlayers:\n  - repeat: 2\n    start: 10000000000\n"
                     "    layers:\n      - conv2d: {filters: 3, kernel: 1}\n",
                     ":4: layers[0].start", "from -1,000,000,000 to 1,000,000,000"),
    "huge_tensor": ("input: {shape: [16384, 16384, 3]}\nlayers:\n  - conv2d: {filters: 64}\n",
                    ": layer input", "33,554,432 per feature map"),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_absurd_model_files(case: str, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    text, field, fragment = MODEL_CASES[case]
    model = tmp_path / "net.yaml"
    model.write_text(text)
    run = tmp_path / "r.yaml"
    run.write_text(run_text().replace("name: mobilenet_v1_cifar", f"path: {model}"))
    message = one_line_exit_2(["run", str(run), "--out", str(tmp_path / "out")], capsys)
    assert f"{model}{field}" in message and fragment in message


def test_verify_refuses_what_the_executor_cannot_hold(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # CIFAR MobileNet: conv_pw_1 outputs 28 x 28 x 64 = 50,176 elements; x 4096 = 205,520,896
    path = tmp_path / "r.yaml"
    path.write_text(run_text(simulation="batch: 4096"))
    message = one_line_exit_2(["verify", str(path)], capsys)
    assert f"{path}: layer conv_pw_1: batch 4096 x its output is 205,520,896" in message


def test_unknown_model_name_names_file_line_and_close_match(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(run_text().replace("mobilenet_v1_cifar", "mobilenet_v1_cifr"))
    message = one_line_exit_2(["run", str(path)], capsys)
    assert f"{path}:2: model.name: unknown model 'mobilenet_v1_cifr'" in message
    assert "did you mean 'mobilenet_v1_cifar'?" in message


def test_unknown_model_name_in_a_sweep_axis(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: mobilenet_cifar.yaml\naxes:\n"
                     "  model.name: [mobilenet_v1_cifar, mobilenet_v2x]\n")
    message = one_line_exit_2(["sweep", str(sweep), "--out", str(tmp_path / "out")], capsys)
    assert f"{sweep}:3: axes: model.name: unknown model 'mobilenet_v2x'" in message
    assert "did you mean 'mobilenet_v2'?" in message


def test_summary_of_a_run_file_says_so(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(run_text())
    message = one_line_exit_2(["summary", str(path)], capsys)
    assert str(path) in message and "this is a run file" in message
    assert "unknown key" not in message


def test_missing_model_path_names_the_run_file(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(run_text().replace("name: mobilenet_v1_cifar", "path: nothere.yaml"))
    message = one_line_exit_2(["run", str(path)], capsys)
    assert message.startswith(f"accelsim: error: {path}:2: model.path: nothere.yaml: "
                              "file not found")
    assert str(tmp_path / "nothere.yaml") in message  # looked beside the run file first


def test_looked_in_list_has_no_doubled_folder(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    message = one_line_exit_2(["run", "hw_configs/nothere.yaml"], capsys)
    assert "hw_configs/nothere.yaml: file not found" in message
    assert "hw_configs/hw_configs" not in message


def test_empty_onnx_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    message = one_line_exit_2(["summary", str(path)], capsys)
    assert f"{path}: the file is empty" in message


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_out_that_is_a_file_or_cannot_be_created(command: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = "mobilenet_cifar.yaml"
    if command == "sweep":
        sweep = tmp_path / "s.yaml"
        sweep.write_text("base: mobilenet_cifar.yaml\naxes:\n  simulation.batch: [1, 2]\n")
        target = str(sweep)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    message = one_line_exit_2([command, target, "--out", str(a_file)], capsys)
    assert "is a file" in message
    message = one_line_exit_2([command, target, "--out", "/proc/accelsim/out"], capsys)
    assert "/proc/accelsim/out" in message and "choose a folder you can write to" in message


def test_full_disk_leaves_no_report_that_looks_complete(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import accelsim.report

    real = accelsim.report.write_report

    def fills_the_disk(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # every file written, then the last write fails
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(accelsim.report, "write_report", fills_the_disk)
    out = tmp_path / "out"
    message = one_line_exit_2(["run", "mobilenet_cifar.yaml", "--out", str(out),
                               "--no-plots"], capsys)
    assert "the disk is full" in message and "nothing was written" in message
    assert list(out.iterdir()) == []


def test_full_disk_during_a_sweep_keeps_finished_parts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from accelsim.sweep.store import ResultStore

    def full(self: ResultStore, n_points: int) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ResultStore, "finalize", full)
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: mobilenet_cifar.yaml\naxes:\n  simulation.batch: [1, 2]\n")
    out = tmp_path / "out"
    message = one_line_exit_2(["sweep", str(sweep), "--out", str(out), "--backend", "serial"],
                              capsys)
    assert "the disk is full" in message and "--resume" in message
    assert not (out / "results.parquet").exists()
    assert ResultStore(out).done_mask(2).all()  # both finished points kept in parts/


def test_any_write_failure_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import accelsim.cli.sweep_cmd

    def denied(*args: Any) -> None:
        raise OSError(errno.EACCES, "Permission denied", str(tmp_path / "out" / "knees.csv"))

    monkeypatch.setattr(accelsim.cli.sweep_cmd, "_sensitivity", denied)
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: mobilenet_cifar.yaml\naxes:\n  simulation.batch: [1, 2]\n")
    message = one_line_exit_2(["sweep", str(sweep), "--out", str(tmp_path / "out"),
                               "--backend", "serial", "--no-plots", "--sensitivity"], capsys)
    assert message == f"accelsim: error: {tmp_path / 'out' / 'knees.csv'}: Permission denied"


@pytest.mark.parametrize(("axes", "extra", "fragment"), [
    ("  hardware.dram.bandwidth: {start: 1 GB/s, stop: 8 GB/s, num: 100000000}\n", "",
     "num: must be an integer from 1 to 10,000, got 100000000"),
    ("  hardware.dram.bandwidth: {start: 1 GB/s, stop: 8 GB/s}\n",
     "mode: random\nsamples: 1000000000000\n", "samples: mode random needs an integer from 1 "
     "to 10,000,000"),
    ("  hardware.dram.bandwidth: {start: 1 GB/s, stop: 8 GB/s, num: 10000}\n"
     "  hardware.compute.mac_rate: {start: 1 GMAC/s, stop: 1 TMAC/s, num: 10000}\n"
     "  hardware.dram.latency: [0, 1 ns, 2 ns, 3 ns, 4 ns, 5 ns, 6 ns, 7 ns, 8 ns, 9 ns, 10 ns]\n",
     "", "the grid has 1,100,000,000 points, over the limit of 1,000,000,000"),
])
def test_sweeps_too_large_to_hold(axes: str, extra: str, fragment: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"base: mobilenet_cifar.yaml\n{extra}axes:\n{axes}")
    message = one_line_exit_2(["sweep", str(sweep), "--out", str(tmp_path / "out"),
                               "--backend", "serial"], capsys)
    assert str(sweep) in message and fragment in message


def test_read_only_out_is_one_line_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a read-only mount: tests run as root, for whom permission bits do not stop a write
    import accelsim.cli.outdir
    import accelsim.pipeline

    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, "Read-only file system")

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("simulated before checking the output folder")

    monkeypatch.setattr(accelsim.cli.outdir.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(accelsim.pipeline, "run_config", never)
    message = one_line_exit_2(["run", "mobilenet_cifar.yaml", "--out", str(tmp_path / "ro")],
                              capsys)
    assert "cannot write in this folder: read-only file system" in message
    assert "choose a folder you can write to" in message


@pytest.mark.parametrize(("path", "kind"), [("models/mobilenet_v1_cifar.yaml", "a model file"),
                                            ("hw_configs/edge_1mb.yaml", "a hardware file")])
def test_run_given_another_kind_of_file_says_which(path: str, kind: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).resolve().parents[1]
    message = one_line_exit_2(["run", str(root / path)], capsys)
    assert f"{root / path}: this is {kind}" in message and "unknown key" not in message
