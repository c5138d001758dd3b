"""The architect's loop through main(argv): --set and --hardware what-ifs, `accelsim hw`,
`accelsim compare`, `export` of a run's hardware, and a --help that imports no command."""

from __future__ import annotations

import configparser
import json
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.cli.app import COMMANDS, cli, main
from accelsim.mapping import POLICIES

REPO = Path(__file__).resolve().parents[1]
RUNFILE = "mobilenet_cifar.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _run_file(tmp_path: Path, name: str, sram: str, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: mobilenet_cifar\nmodel: {{name: mobilenet_v1_cifar}}\nhardware:\n"
                    f"  sram: {{capacity: {sram}}}\n  dram: {{bandwidth: 1 GB/s}}\n"
                    f"  compute: {{mac_rate: 500 GMAC/s}}\n{extra}")
    return path


def test_set_equals_editing_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edited = _run_file(tmp_path, "edited", "512 KiB", "simulation: {policy: accumulate}\n")
    assert run(capsys, "run", str(edited), "--out", str(tmp_path / "file"), "--no-plots")[0] == 0
    code, out, err = run(capsys, "run", RUNFILE, "--out", str(tmp_path / "set"), "--no-plots",
                         "--set", "hardware.sram.capacity=512 KiB",
                         "--set", "simulation.policy=accumulate")
    assert code == 0, err
    assert "on 512 KiB SRAM" in out  # 524,288 B is a whole number of KiB: binary units
    for name in ("layers.csv", "schedule.csv"):
        assert (tmp_path / "set" / name).read_text() == (tmp_path / "file" / name).read_text()
    resolved = (tmp_path / "set" / "config.resolved.yaml").read_text()
    assert "# applied on top of the run file: --set hardware.sram.capacity=512 KiB" in resolved
    assert yaml.safe_load(resolved)["hardware"]["sram"]["capacity"] == 512 * 1024
    summary = json.loads((tmp_path / "set" / "summary.json").read_text())
    assert summary["overrides"] == ["--set hardware.sram.capacity=512 KiB",
                                    "--set simulation.policy=accumulate"]


@pytest.mark.parametrize(("setting", "words"), [
    ("hardware.sram.capacity=-1 MB", ["hardware.sram.capacity", "from 1 B to 1 TiB"]),
    ("hardware.sram.capcity=1 MB", ["unknown key", "did you mean 'capacity'"]),
    ("hardware.dram.bandwidth=1 MHz", ["hardware.dram.bandwidth"]),
    ("simulation.policy=lifetime", ["must be one of liveness, accumulate"]),
    ("hardware.sram.capacity", ["expected PATH=VALUE"]),
])
def test_bad_set_is_one_line_naming_it(setting: str, words: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", RUNFILE, "--no-plots", "--set", setting)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"accelsim: error: --set {setting}")
    assert all(w in lines[0] for w in words), lines[0]


def test_hardware_swaps_the_run_files_hardware(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    preset = REPO / "hw_configs" / "edge_256kib_pe16.yaml"
    hardware = yaml.safe_load(preset.read_text())
    inline = tmp_path / "inline.yaml"
    inline.write_text(yaml.safe_dump({"name": "mobilenet_cifar",
                                      "model": {"name": "mobilenet_v1_cifar"},
                                      "hardware": hardware}))
    assert run(capsys, "run", str(inline), "--out", str(tmp_path / "a"), "--no-plots")[0] == 0
    code, out, err = run(capsys, "run", RUNFILE, "--hardware", "edge_256kib_pe16.yaml",
                         "--out", str(tmp_path / "b"), "--no-plots")
    assert code == 0, err
    layers_a, layers_b = (tmp_path / d / "layers.csv" for d in ("a", "b"))
    assert layers_a.read_text() == layers_b.read_text()
    # A 16x16 array: the table shows cycles and utilisation, and the run's utilisation is
    # MACs / (cycles x 256 PEs), from the CSV.
    layers = pd.read_csv(tmp_path / "b" / "layers.csv")
    util = layers["macs"].sum() / (layers["compute_cycles"].sum() * 16 * 16)
    assert "cycles" in out and "PE util" in out and f"{util:.1%}" in out
    assert f"{layers['compute_cycles'].sum():,}" in out
    code, _, err = run(capsys, "run", RUNFILE, "--hardware", "nope.yaml")
    assert code == 2 and "nope.yaml: file not found" in err


def test_hw_lists_every_bundled_file_with_its_first_comment(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "hw")
    assert code == 0
    files = sorted((REPO / "hw_configs").glob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        first = path.read_text().splitlines()[0].lstrip("#").strip().rstrip(":")
        assert path.name in out and first in out
    code, out, _ = run(capsys, "hw", "--json")
    assert code == 0
    records = {r["name"]: r for r in json.loads(out)}
    assert records["edge_256kib_pe16.yaml"]["sram"] == "256 KiB"
    assert records["edge_256kib_pe16.yaml"]["peak_mac_rate_mac_per_s"] == 16 * 16 * 400e6
    assert records["mobilenet_cifar.yaml"]["kind"] == "run file"


def test_compare_folders_and_run_files(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    small = tmp_path / "small"
    assert run(capsys, "run", RUNFILE, "--set", "hardware.sram.capacity=64 KiB",
               "--out", str(small), "--no-plots")[0] == 0
    code, out, err = run(capsys, "compare", RUNFILE, str(small), "--out", str(tmp_path / "c"))
    assert code == 0, err
    assert "total time" in out and "Layers that change most" in out
    png = (tmp_path / "c" / "compare.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    code, out, _ = run(capsys, "compare", RUNFILE, str(small), "--json", "--no-plots")
    assert code == 0
    doc = json.loads(out)
    b = json.loads((small / "summary.json").read_text())
    a = doc["runs"][0]["summary"]
    total = next(r for r in doc["summary"] if r["quantity"] == "total time")
    assert total["ratio_to_first"][0] == pytest.approx(b["total_time_s"] / a["total_time_s"])
    assert total["ratio_to_first"][0] > 1  # 64 KiB spills and tiles: slower
    # Per-layer changes: B's layers.csv minus A's, sorted by absolute change.
    small_layers = pd.read_csv(small / "layers.csv").set_index("name")["total_time_s"]
    rows = doc["layers"]
    label_a, label_b = (r["label"] for r in doc["runs"])
    for row in rows:
        assert row[f"delta_s:{label_b}"] == pytest.approx(
            small_layers[row["name"]] - row[f"time_s:{label_a}"])
    impact = [abs(r[f"delta_s:{label_b}"]) for r in rows]
    assert impact == sorted(impact, reverse=True) and len(rows) == 30


def test_compare_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compare", RUNFILE)
    assert code == 2 and "at least two runs" in err
    code, _, err = run(capsys, "compare", RUNFILE, str(tmp_path))
    assert code == 2 and "not a report folder" in err and len(err.strip().splitlines()) == 1


def test_export_writes_the_runs_hardware(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--hardware", "edge_256kib_pe16.yaml"]
    assert run(capsys, "export", RUNFILE, "--format", "scalesim", "--out",
               str(tmp_path / "s"), *args)[0] == 0
    cfg = configparser.ConfigParser()
    cfg.read(tmp_path / "s" / "scale.cfg")
    presets = cfg["architecture_presets"]
    assert (presets["ArrayHeight"], presets["ArrayWidth"], presets["Dataflow"]) == ("16", "16",
                                                                                    "ws")
    # 256 KiB in three equal buffers of whole KiB: 256 // 3 = 85; 1.6 GB/s at 400 MHz with
    # 1-byte words is 4 words per cycle.
    assert presets["IfmapSramSzkB"] == presets["FilterSramSzkB"] == "85"
    assert presets["Bandwidth"] == "4" and cfg["run_presets"]["InterfaceBandwidth"] == "USER"
    assert run(capsys, "export", RUNFILE, "--format", "timeloop", "--out",
               str(tmp_path / "t"), *args)[0] == 0
    arch = yaml.safe_load((tmp_path / "t" / "arch.yaml").read_text())["architecture"]
    chip = arch["subtree"][0]["subtree"][0]
    buffer = chip["local"][0]["attributes"]
    assert buffer["depth"] * buffer["width"] == 256 * 1024 * 8  # bits
    assert chip["subtree"][0]["name"] == "PE[0..255]"
    assert run(capsys, "export", RUNFILE, "--format", "zigzag", "--out", str(tmp_path / "z"),
               "--set", "hardware.precision.accumulator_bits=24")[0] == 0
    accel = yaml.safe_load((tmp_path / "z" / "mobilenet_v1_cifar_accelerator.yaml").read_text())
    assert accel["memories"]["sram"]["size"] == 1_000_000 * 8  # the run's 1 MB, in bits
    # An ideal 500 GMAC/s becomes the default 32x32 array at 500e9 / 1024 Hz; DRAM at
    # 1 GB/s is then 1e9 * 8 / (500e9 / 1024) = 16.4 bits per cycle, rounded up.
    assert accel["operational_array"]["sizes"] == [32, 32]
    assert accel["memories"]["dram"]["r_bw"] == math.ceil(1e9 * 8 / (500e9 / 1024))
    assert accel["operational_array"]["multiplier_energy"] == pytest.approx(0.3)
    workload = yaml.safe_load((tmp_path / "z" / "mobilenet_v1_cifar.yaml").read_text())
    assert workload[0]["operand_precision"]["O"] == 24
    code, _, err = run(capsys, "export", "mobilenet_v1_cifar", "--format", "zigzag", *args)
    assert code == 2 and "need a run file" in err


def test_help_lists_commands_without_importing_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (_, text) in COMMANDS.items():
        assert f"{name}  " in out
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.get_short_help_str(200) == text, name
    script = ("import sys; from accelsim.cli.app import main; main(['--help']); "
              "print(sorted(m for m in ('pandas', 'matplotlib', 'pydantic', 'networkx', "
              "'numpy') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True).stdout.strip().splitlines()[-1]
    assert loaded == "[]"


def test_run_command_module_imports_no_simulator() -> None:
    # `run` forks its plot process before the simulator is imported, so that matplotlib's
    # import overlaps it: importing the command itself must not pull in numpy, networkx or
    # the configuration models (pydantic).
    script = ("import sys, accelsim.cli.run_cmd; print(sorted(m for m in ('numpy', "
              "'networkx', 'matplotlib', 'pandas', 'pydantic') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True).stdout.strip().splitlines()[-1]
    assert loaded == "[]"


def test_sweep_set_changes_the_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: mobilenet_cifar.yaml\naxes:\n  hardware.sram.capacity: "
                     "[128 KiB, 1 MiB]\n")
    out = tmp_path / "out"
    code, printed, err = run(capsys, "sweep", str(sweep), "--out", str(out), "--backend",
                             "serial", "--no-plots", "--set", "hardware.dram.bandwidth=4 GB/s")
    assert code == 0, err
    # Readable units (both capacities move only compulsory bytes, so either may be first).
    assert re.search(r"at hardware\.sram\.capacity=(128 KiB|1 MiB)\n", printed), printed
    base = yaml.safe_load((out / "sweep.yaml").read_text())["base"]
    assert base["hardware"]["dram"]["bandwidth"] == 4e9
    frame = pd.read_parquet(out / "results.parquet")
    # Every point runs at 4 GB/s: the same as `run --set` at each capacity.
    for capacity, total in zip(frame["hardware.sram.capacity"], frame["total_time_s"],
                               strict=True):
        one = tmp_path / f"one{capacity}"
        assert run(capsys, "run", RUNFILE, "--no-plots", "--out", str(one), "--set",
                   "hardware.dram.bandwidth=4 GB/s", "--set",
                   f"hardware.sram.capacity={capacity}")[0] == 0
        assert json.loads((one / "summary.json").read_text())["total_time_s"] == \
            pytest.approx(total)
    code, _, err = run(capsys, "sweep", str(sweep), "--set", "hardware.sram.capacity=2 MiB")
    assert code == 2 and "is an axis of" in err


def test_run_imports_no_pandas(tmp_path: Path) -> None:
    # pandas' import costs more than the simulation: the report writer does without it.
    script = (f"import sys; from accelsim.cli.app import main; "
              f"main(['run', 'mobilenet_cifar.yaml', '--out', {str(tmp_path)!r}]); "
              "print('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert (tmp_path / "layers.png").is_file()


@settings(max_examples=8, deadline=None)
@given(capacity=st.sampled_from(["48 KiB", "200 kB", "1 MiB"]),
       bandwidth=st.sampled_from(["0.5 GB/s", "3 GB/s"]),
       policy=st.sampled_from(sorted(POLICIES)), overlap=st.booleans())
def test_set_is_the_same_as_the_edited_file(capacity: str, bandwidth: str, policy: str,
                                            overlap: bool) -> None:
    # Any values: --set gives byte-identical tables to a run file with those values
    # written in it.
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        edited = folder / "edited.yaml"
        edited.write_text(
            "name: mobilenet_cifar\nmodel: {name: mobilenet_v1_cifar, alpha: 0.5}\n"
            f"hardware:\n  sram: {{capacity: {capacity}}}\n  dram: {{bandwidth: {bandwidth}}}\n"
            "  compute: {mac_rate: 500 GMAC/s}\n"
            f"simulation: {{policy: {policy}, overlap: {str(overlap).lower()}}}\n")
        assert main(["run", str(edited), "--no-plots", "--out", str(folder / "a")]) == 0
        assert main(["run", RUNFILE, "--no-plots", "--out", str(folder / "b"),
                     "--set", "model.alpha=0.5", "--set", f"hardware.sram.capacity={capacity}",
                     "--set", f"hardware.dram.bandwidth={bandwidth}",
                     "--set", f"simulation.policy={policy}",
                     "--set", f"simulation.overlap={str(overlap).lower()}"]) == 0
        for name in ("layers.csv", "schedule.csv", "trace.json"):
            assert (folder / "a" / name).read_text() == (folder / "b" / name).read_text()


def test_set_of_a_list_item_the_file_lacks_is_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    # mobilenet_cifar.yaml gives `sram`, not a `memory` list: there is no item 0 to set.
    code, _, err = run(capsys, "run", RUNFILE, "--no-plots", "--set",
                       "hardware.memory.0.capacity=1 MB")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "hardware.memory is not in the file" in lines[0]
