"""Exports to SCALE-Sim, Timeloop and ZigZag: shapes read back under each tool's rules."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

from accelsim.cli.app import main
from accelsim.errors import AccelsimError
from accelsim.export import export_network, scalesim_config
from accelsim.export.scalesim import TOPOLOGY_HEADER
from accelsim.ir.builder import NetworkBuilder
from accelsim.ir.graph import Network
from accelsim.ir.zoo import build_model
from accelsim.sim.pe_array import PEArray


@pytest.fixture(scope="module")
def cifar() -> Network:
    return build_model("mobilenet_v1_cifar")


def scalesim_rows(net: Network) -> list[list[str]]:
    text = export_network(net, "scalesim")[f"{net.name}.csv"]
    lines = text.splitlines()
    assert lines[0] == TOPOLOGY_HEADER
    # SCALE-Sim drops what follows the last comma of each row.
    return [[v.strip() for v in line.split(",")[:-1]] for line in lines[1:]]


def test_scalesim_rows_give_back_our_output_sizes(cifar: Network) -> None:
    rows = scalesim_rows(cifar)
    weighted = [layer for layer in cifar.layers() if layer.is_weighted]
    assert len(rows) == len(weighted) == 1 + 2 * 13 + 1
    for row, layer in zip(rows, weighted, strict=True):
        ifmap_h, ifmap_w, filt_h, filt_w, _, filters, stride = map(int, row[1:])
        # SCALE-Sim has no padding: ofmap = (ifmap - filter) // stride + 1.
        ofmap = ((ifmap_h - filt_h) // stride + 1, (ifmap_w - filt_w) // stride + 1)
        if layer.op == "dense":
            assert ofmap == (1, 1) and filters == layer.out_channels
        else:
            assert ofmap == layer.output_shape[:2], layer.name
    # By hand: conv_dw_2 is 3x3 stride 2 on 28x28 with TF `same` padding: out 14, total
    # pad (14 - 1) * 2 + 3 - 28 = 1, all at the bottom/right -> padded ifmap 29.
    dw2 = rows[3]
    assert dw2[:2] == ["conv_dw_2_DP", "29"] and dw2[7] == "2"
    # The FC layer: a 1x1 conv on a 1x1 ifmap with 256 channels and 10 filters.
    assert rows[-1] == ["fc", "1", "1", "1", "1", "256", "10", "1"]


def test_scalesim_depthwise_uses_its_dp_mode(cifar: Network) -> None:
    rows = {row[0]: row for row in scalesim_rows(cifar)}
    # SCALE-Sim v3 splits a "DP" row into Channels one-channel layers of Num Filter filters.
    assert rows["conv_dw_1_DP"][5:7] == ["32", "1"]
    assert rows["conv_pw_1"][5:7] == ["32", "64"]
    assert sum("DP" in name for name in rows) == 13


def test_scalesim_names_never_trigger_depthwise_mode_by_accident() -> None:
    b = NetworkBuilder("t")
    x = b.input("input", (8, 8, 3))
    x = b.conv2d("my DP,conv", x, 4, 3)
    x = b.conv2d("grouped", x, 8, 3, groups=2)
    net = b.build()
    rows = scalesim_rows(net)
    assert rows[0][0] == "my_Dp_conv"
    # groups 2 without being depthwise: one row per group, 2 channels -> 4 filters each.
    assert [r[0] for r in rows[1:]] == ["grouped_g0", "grouped_g1"]
    assert all(r[5:7] == ["2", "4"] for r in rows[1:])


def test_scalesim_rejects_unequal_strides() -> None:
    b = NetworkBuilder("t")
    b.conv2d("c", b.input("input", (8, 8, 3)), 4, 3, (1, 2))
    with pytest.raises(AccelsimError, match="one stride per layer, got 1x2"):
        export_network(b.build(), "scalesim")


def test_scalesim_config_reads_back() -> None:
    cfg = configparser.ConfigParser()
    cfg.read_string(scalesim_config(8, 16, "ws"))
    arch = cfg["architecture_presets"]
    assert (arch["ArrayHeight"], arch["ArrayWidth"], arch["Dataflow"]) == ("8", "16", "ws")
    assert cfg["run_presets"]["InterfaceBandwidth"] == "CALC"
    with pytest.raises(AccelsimError, match="rows must be an integer >= 1"):
        scalesim_config(0, 16, "ws")


def test_timeloop_pointwise_and_depthwise(cifar: Network) -> None:
    files = export_network(cifar, "timeloop")
    assert len(files) == 28
    # conv_pw_1: 1x1, 32 -> 64 channels on 28x28 (stride-1 first conv and dw_1).
    pw = yaml.safe_load(files["02_conv_pw_1.yaml"])["problem"]
    assert pw["shape"]["name"] == "CNN-Layer"
    assert pw["instance"] == {"C": 32, "M": 64, "R": 1, "S": 1, "N": 1, "P": 28, "Q": 28,
                              "Wstride": 1, "Hstride": 1}
    # conv_dw_2: 3x3 stride 2 over 64 channels, 28 -> 14.
    dw = yaml.safe_load(files["03_conv_dw_2.yaml"])["problem"]
    assert dw["shape"]["name"] == "dw-cnn-layer"
    assert dw["instance"] == {"C": 64, "R": 3, "S": 3, "N": 1, "P": 14, "Q": 14,
                              "Wstride": 2, "Hstride": 2}
    fc = yaml.safe_load(files["27_fc.yaml"])["problem"]["instance"]
    assert (fc["C"], fc["M"], fc["P"], fc["Q"]) == (256, 10, 1, 1)


def test_zigzag_workload(cifar: Network) -> None:
    (name, text), = export_network(cifar, "zigzag").items()
    assert name == "mobilenet_v1_cifar.yaml"
    entries = {e["name"]: e for e in yaml.safe_load(text)}
    pw = entries["conv_pw_1"]
    assert pw["equation"] == "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]"
    assert dict(zip(pw["loop_dims"], pw["loop_sizes"], strict=True)) == {
        "B": 1, "K": 64, "C": 32, "OY": 28, "OX": 28, "FY": 1, "FX": 1}
    dw = entries["conv_dw_2"]
    assert dw["equation"] == "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]"
    assert dict(zip(dw["loop_dims"], dw["loop_sizes"], strict=True)) == {
        "B": 1, "G": 64, "K": 1, "C": 1, "OY": 14, "OX": 14, "FY": 3, "FX": 3}
    assert dw["dimension_relations"] == ["ix=2*ox+1*fx", "iy=2*oy+1*fy"]
    # padding (0 left, 1 right) and (0 top, 1 bottom), on the unpadded 28x28 input.
    assert (dw["pr_loop_sizes"], dw["padding"]) == ([28, 28], [[0, 1], [0, 1]])
    # Sources: pw_1 reads dw_1; fc reads pw_13 through the (unexported) average pool.
    assert pw["operand_source"] == {"I": entries["conv_dw_1"]["id"], "W": pw["id"]}
    assert entries["fc"]["operand_source"]["I"] == entries["conv_pw_13"]["id"]
    assert entries["conv1"]["operand_source"]["I"] == entries["conv1"]["id"]


def test_unknown_format_is_an_error(cifar: Network) -> None:
    with pytest.raises(AccelsimError, match="unknown export format 'onnx'; known formats: "
                                            "scalesim, timeloop, zigzag"):
        export_network(cifar, "onnx", PEArray(4, 4))


def test_cli_export_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sc"
    code = main(["export", "mobilenet_v1_cifar", "--format", "scalesim", "--out", str(out),
                 "--rows", "8", "--cols", "16", "--dataflow", "is"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["mobilenet_v1_cifar.csv", "scale.cfg"]
    assert capsys.readouterr().out.split() == [str(out / "mobilenet_v1_cifar.csv"),
                                              str(out / "scale.cfg")]
    assert "ArrayWidth: 16" in (out / "scale.cfg").read_text()


def test_cli_export_default_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["export", "mobilenet_v1_cifar", "--format", "zigzag", "--alpha", "0.5"]) == 0
    written = tmp_path / "reports/export/mobilenet_v1_cifar/zigzag/mobilenet_v1_cifar.yaml"
    # alpha 0.5: conv1 has int(32 * 0.5) = 16 filters.
    assert yaml.safe_load(written.read_text())[0]["loop_sizes"][1] == 16


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "bogus"], "unknown export format 'bogus'"),
        (["--format", "scalesim", "--rows", "0"], "rows must be an integer >= 1"),
        (["--format", "scalesim", "--dataflow", "xs"], "dataflow must be one of os, ws, is"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(["export", "mobilenet_v1_cifar", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert not any(tmp_path.iterdir())
