"""`accelsim run` and `accelsim schema` through main(argv): files written, totals, overrides,
re-running the resolved config, bare-name lookup, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from accelsim.cli.app import main
from accelsim.sim.simulate import LAYER_COLUMNS

REPO = Path(__file__).resolve().parents[1]
RUNFILE = "mobilenet_cifar.yaml"  # a bare name: found in the project's hw_configs/
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUMMARY_KEYS = {
    "total_time_s",
    "compute_time_s",
    "data_movement_time_s",
    "dram_read_bytes",
    "dram_write_bytes",
    "peak_sram_bytes",
    "sram_capacity_bytes",
    "spills",
}
#: Totals of summary.json that are column sums of layers.csv.
SUMMED = (
    "total_time_s",
    "compute_time_s",
    "data_movement_time_s",
    "dram_read_bytes",
    "dram_write_bytes",
    "macs",
    "compulsory_dram_bytes",
    "energy_j",
    "energy_mac_j",
    "energy_sram_j",
    "energy_dram_j",
)

GOOD = """\
name: t
model: {name: mobilenet_v1_cifar}
hardware:
  sram: {capacity: 1 MB}
  dram: {bandwidth: 1 GB/s}
  compute: {mac_rate: 500 GMAC/s}
simulation: {policy: liveness}
"""


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_writes_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "run", RUNFILE, "--out", "tmp")
    assert code == 0, err
    out_dir = tmp_path / "tmp"
    for name in ("layers.csv", "schedule.csv", "summary.json", "config.resolved.yaml", "report.md"):
        assert (out_dir / name).stat().st_size > 0, name
        assert name in out
    report = (out_dir / "report.md").read_text(encoding="utf-8")
    for name in ("layers.png", "roofline.png"):
        data = (out_dir / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
        assert f"]({name})" in report
    assert "conv_pw_13" in out and "memory-bound" in out


def test_layers_csv_columns_and_totals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "run", RUNFILE, "--out", str(tmp_path), "--no-plots")
    assert code == 0, err
    assert not list(tmp_path.glob("*.png"))
    layers = pd.read_csv(tmp_path / "layers.csv")
    assert tuple(layers.columns) == LAYER_COLUMNS
    assert len(layers) == 30  # 27 convs, average pool, dense, softmax
    assert list(layers["layer"]) == list(range(1, 31))
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in SUMMED:
        assert summary[key] == pytest.approx(layers[key].sum(), rel=1e-12), key
    assert summary["name"] == "mobilenet_cifar"
    assert summary["layers"] == 30
    hardware = summary["hardware"]
    assert hardware["sram_capacity_bytes"] == 1_000_000
    assert hardware["dram_bandwidth_bytes_per_s"] == 1e9
    assert hardware["peak_mac_rate_mac_per_s"] == 5e11
    assert hardware["ridge_point_mac_per_byte"] == 500


def test_schedule_csv_layer_indices_match_layers_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "run", RUNFILE, "--out", str(tmp_path), "--no-plots")[0] == 0
    layers = pd.read_csv(tmp_path / "layers.csv")
    schedule = pd.read_csv(tmp_path / "schedule.csv", keep_default_na=False)
    assert list(schedule.columns) == [
        "tensor",
        "kind",
        "size_bytes",
        "produced_at_layer",
        "last_use_at_layer",
        "placement",
        "spill_reason",
    ]
    index = dict(zip(layers["name"], layers["layer"], strict=True))
    rows = {r["tensor"]: r for r in schedule.to_dict("records")}
    assert rows["input"]["produced_at_layer"] == 0  # the network input, before layer 1
    assert rows["input"]["last_use_at_layer"] == index["conv1"]
    for name, layer in index.items():  # every feature map is produced by its own layer
        assert rows[name]["produced_at_layer"] == layer
        assert rows[name]["last_use_at_layer"] >= layer
    # a chain: each feature map is last read by the next layer (softmax: by nobody)
    assert rows["conv1"]["last_use_at_layer"] == index["conv_dw_1"] == 2
    assert rows["softmax"]["last_use_at_layer"] == 30
    assert rows["conv1.weights"]["produced_at_layer"] == 1
    assert rows["conv1"]["size_bytes"] == 28 * 28 * 32  # 8-bit activations


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", RUNFILE, "--out", str(tmp_path), "--json", "--no-plots")
    assert code == 0, err
    summary = json.loads(out)  # nothing but JSON on stdout
    assert SUMMARY_KEYS <= summary.keys()
    assert summary == json.loads((tmp_path / "summary.json").read_text())


def test_accumulate_no_overlap_spills_and_compute_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        capsys,
        "run",
        RUNFILE,
        "--policy",
        "accumulate",
        "--no-overlap",
        "--out",
        str(tmp_path),
        "--json",
        "--no-plots",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["policy"] == "accumulate" and summary["overlap"] is False
    assert summary["spills"] >= 1
    layers = pd.read_csv(tmp_path / "layers.csv")
    convs = layers[layers["op"].isin(["conv2d", "depthwise_conv2d"])]
    assert len(convs) == 27
    for row in convs.to_dict("records"):  # ideal compute: MACs / 500 GMAC/s
        assert row["compute_time_s"] == pytest.approx(row["macs"] / 5e11, rel=1e-12)
    # no overlap: each layer's time is compute plus data movement
    total = layers["compute_time_s"] + layers["data_movement_time_s"]
    assert list(layers["total_time_s"]) == pytest.approx(list(total), rel=1e-12)


def test_batch_and_overlap_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys,
        "run",
        RUNFILE,
        "--batch",
        "2",
        "--overlap",
        "--out",
        str(tmp_path),
        "--json",
        "--no-plots",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["batch"] == 2 and summary["overlap"] is True
    assert summary["macs"] == 2 * 121_491_200


def test_resolved_config_repeats_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert (
        cli(
            capsys,
            "run",
            RUNFILE,
            "--policy",
            "accumulate",
            "--batch",
            "3",
            "--out",
            str(first),
            "--no-plots",
        )[0]
        == 0
    )
    code, _, err = cli(
        capsys, "run", str(first / "config.resolved.yaml"), "--out", str(second), "--no-plots"
    )
    assert code == 0, err
    summary = json.loads((first / "summary.json").read_text())
    assert summary["policy"] == "accumulate" and summary["batch"] == 3
    # The options are recorded as the equivalent --set lines; the re-run needs none.
    assert summary.pop("overrides") == ["--set simulation.policy=accumulate",
                                        "--set simulation.batch=3"]
    again = json.loads((second / "summary.json").read_text())
    assert again.pop("overrides") == [] and again == summary
    assert (first / "layers.csv").read_text() == (second / "layers.csv").read_text()


def test_bare_name_from_another_cwd_and_default_out_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "run", RUNFILE, "--no-plots")
    assert code == 0, err
    assert (tmp_path / "reports" / "mobilenet_cifar" / "summary.json").is_file()
    # ./hw_configs/ of the working directory comes before the project's
    (tmp_path / "hw_configs").mkdir()
    (tmp_path / "hw_configs" / "mine.yaml").write_text(GOOD.replace("name: t", "name: mine"))
    code, _, err = cli(capsys, "run", "mine.yaml", "--no-plots")
    assert code == 0, err
    assert (tmp_path / "reports" / "mine" / "layers.csv").is_file()


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "--help")
    assert code == 0
    assert "--policy [liveness|accumulate|fused]" in out and "--no-overlap" in out
    code, out, _ = cli(capsys, "--help")
    assert "run" in out and "schema" in out


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert {"name", "model", "hardware", "simulation"} <= schema["properties"].keys()
    capacity = schema["$defs"]["SramConfig"]["properties"]["capacity"]
    assert {"type": "string"}.items() <= capacity["anyOf"][1].items()  # '1 MB' is valid
    code, out, _ = cli(capsys, "schema", "--help")
    assert "yaml-language-server: $schema=" in out


BAD_FILES = {
    # file name: (content, fragments the one-line message must contain)
    "syntax.yaml": (
        "name: t\nmodel: {name: mobilenet_v1_cifar\nhardware:\n  sram: {}\n",
        ["syntax.yaml:3", "YAML"],
    ),
    "duplicate.yaml": (
        GOOD.replace(
            "  dram: {bandwidth: 1 GB/s}\n",
            "  dram: {bandwidth: 1 GB/s}\n  dram: {bandwidth: 2 GB/s}\n",
        ),
        ["duplicate.yaml:6", "dram", "twice"],
    ),
    "unknown.yaml": (
        GOOD.replace("{capacity:", "{capacty:"),
        ["unknown.yaml:4", "hardware.sram.capacty", "did you mean 'capacity'"],
    ),
    "type.yaml": (GOOD.replace("1 MB", "[1]"), ["type.yaml:4", "hardware.sram.capacity"]),
    "zero.yaml": (
        GOOD.replace("1 MB", "0"),
        ["zero.yaml:4", "hardware.sram.capacity", "from 1 B to 1 TiB", "got 0"],
    ),
    "negative.yaml": (
        GOOD.replace("1 MB", "-1 MB"),
        ["negative.yaml:4", "hardware.sram.capacity", "-1 MB"],
    ),
    "unit.yaml": (
        GOOD.replace("1 MB", "1 MQ"),
        ["unit.yaml:4", "hardware.sram.capacity", "unit 'MQ'"],
    ),
    "policy.yaml": (
        GOOD.replace("policy: liveness", "policy: greedy"),
        ["policy.yaml:7", "simulation.policy", "liveness, accumulate", "greedy"],
    ),
    "batch.yaml": (
        GOOD.replace("policy: liveness", "batch: 0"),
        ["batch.yaml:7", "simulation.batch", "0"],
    ),
}


def assert_one_line_error(code: int, out: str, err: str, fragments: list[str]) -> None:
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("accelsim: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_run_file(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    content, fragments = BAD_FILES[name]
    (tmp_path / name).write_text(content)
    code, out, err = cli(capsys, "run", name, "--no-plots")
    assert_one_line_error(code, out, err, fragments)
    assert not (tmp_path / "reports").exists()


def test_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "run", "nowhere.yaml")
    assert_one_line_error(code, out, err, ["nowhere.yaml", "not found", "hw_configs"])


@pytest.mark.parametrize(
    ("option", "value", "fragments"),
    [
        ("--policy", "greedy", ["--policy", "liveness, accumulate", "greedy"]),
        ("--batch", "0", ["--batch", "at least 1", "0"]),
        ("--batch", "two", ["--batch", "integer", "two"]),
    ],
)
def test_bad_option(
    option: str,
    value: str,
    fragments: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(capsys, "run", RUNFILE, option, value, "--out", str(tmp_path))
    assert_one_line_error(code, out, err, fragments)


def test_sram_too_small_names_file_layer_and_field(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\nmodel: {name: mobilenet_v1_cifar}\nhardware:\n"
                    "  sram: {capacity: 100 B}\n  dram: {bandwidth: 1 GB/s}\n"
                    "  compute: {mac_rate: 500 GMAC/s}\n")
    assert main(["run", str(path), "--no-plots", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(path) in err[0] and "layer 'conv" in err[0] and "hardware.sram.capacity" in err[0]
