"""The JSON Schema accepts exactly what the loader accepts; docs/config.md is the generated page.

Each run-file variant below is checked twice, by `load_run` and by the schema (jsonschema's
draft 2020-12 validator); the two must agree. The variants include every shipped run file
and the ones the schema used to get wrong ("1 GBs", "1 MHz" as a bandwidth, "-1 MB",
`policy: lifetime`, a MAC rate next to a PE array, "500 GB/s" as a MAC rate).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from accelsim.cli.app import main
from accelsim.config.loader import load_run
from accelsim.errors import AccelsimError

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
BASE: dict[str, Any] = {
    "name": "r", "model": {"name": "mobilenet_v1_cifar"},
    "hardware": {"sram": {"capacity": "1 MB"}, "dram": {"bandwidth": "1 GB/s"},
                 "compute": {"mac_rate": "500 GMAC/s"}},
}
PE = {"pe_rows": 16, "pe_cols": 16, "clock": "500 MHz"}


def variant(path: str, value: Any) -> dict[str, Any]:
    """BASE with the dotted `path` set to `value` (None deletes the key)."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return data


VALID = {
    "base": BASE,
    "hardware file": variant("hardware", "edge_1mb.yaml"),
    "pe array": variant("hardware.compute", PE),
    "binary units": variant("hardware.sram.capacity", "256 KiB"),
    "bits": variant("hardware.sram.capacity", "8 Mb"),
    "plain number": variant("hardware.dram.bandwidth", 2e9),
    "exponent": variant("hardware.dram.bandwidth", "1.5e9 B/s"),
    "tops": variant("hardware.compute.mac_rate", "1 TOPS"),
    "latency": variant("hardware.dram.latency", "100 ns"),
    "energy": variant("hardware.energy", {"mac": "0.2 pJ", "dram_read_byte": 1e-10}),
    "policy": variant("simulation", {"policy": "accumulate", "overlap": True, "batch": 8}),
    "alpha": variant("model", {"name": "mobilenet_v1", "alpha": 0.5, "resolution": 128}),
}
INVALID = {
    "GBs": variant("hardware.dram.bandwidth", "1 GBs"),
    "MHz bandwidth": variant("hardware.dram.bandwidth", "1 MHz"),
    "negative": variant("hardware.sram.capacity", "-1 MB"),
    "negative number": variant("hardware.sram.capacity", -5),
    "lifetime": variant("simulation", {"policy": "lifetime"}),
    "both compute forms": variant("hardware.compute", {"mac_rate": "1 TOPS", **PE}),
    "half a PE array": variant("hardware.compute", {"pe_rows": 16, "clock": "1 GHz"}),
    "no compute": variant("hardware.compute", {}),
    "GB/s as MAC rate": variant("hardware.compute.mac_rate", "500 GB/s"),
    "quoted batch": variant("simulation", {"batch": "4"}),
    "overlap 1": variant("simulation", {"overlap": 1}),
    "batch too big": variant("simulation", {"batch": 100000}),
    "capacity 1e30": variant("hardware.sram.capacity", 1e30),
    "bandwidth 1e-30": variant("hardware.dram.bandwidth", 1e-30),
    "unknown model": variant("model", {"name": "mobilenet_v3"}),
    "name and path": variant("model", {"name": "mobilenet_v1", "path": "x.yaml"}),
    "neither name nor path": variant("model", {"alpha": 0.5}),
    "unknown key": variant("hardware.sram", {"capacty": "1 MB"}),
    "dataflow": variant("hardware.compute", {**PE, "dataflow": "rs"}),
    "bad run name": variant("name", "my run"),
    "missing hardware": variant("hardware", None),
}


def schema_of(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["schema"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def loads(data: dict[str, Any], tmp_path: Path) -> bool:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    try:
        load_run(path)
    except AccelsimError:
        return False
    return True


def test_schema_and_loader_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check = jsonschema.Draft202012Validator(schema_of(capsys))
    for name, data in {**VALID, **INVALID}.items():
        expected = name in VALID
        assert loads(data, tmp_path) is expected, f"loader on {name!r}"
        assert check.is_valid(data) is expected, f"schema on {name!r}"


def test_every_shipped_run_file_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    check = jsonschema.Draft202012Validator(schema_of(capsys))
    files = [ROOT / "hw_configs" / "mobilenet_cifar.yaml", ROOT / "examples" /
             "mobilenet_v1_edge.yaml"]
    for path in files:
        data = yaml.safe_load(path.read_text())
        assert not list(check.iter_errors(data)), path
        load_run(path)


def test_every_field_has_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    document = schema_of(capsys)
    for name, model in document["$defs"].items():
        for field, prop in model["properties"].items():
            assert prop.get("description"), f"{name}.{field} has no description"


def test_config_reference_is_the_generated_page(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--markdown"]) == 0
    generated = capsys.readouterr().out
    committed = (ROOT / "docs" / "config.md").read_text()
    assert committed == generated, (
        "docs/config.md is out of date: run `accelsim schema --markdown > docs/config.md`")
    for field in ("`capacity`", "`bandwidth`", "`mac_rate`", "`policy`", "`batch`", "`alpha`"):
        assert field in generated
    assert "from 1 B to 1 TiB" in generated and "`liveness`, `accumulate`" in generated
