"""`accelsim hw`: the hardware configs and run files that ship, one line each.

A file's description is its first comment line; `run --hardware NAME` takes any of the
names listed (hardware files, or run files whose hardware section is used).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from accelsim.cli.app import cli
from accelsim.cli.params import project_dirs, shown_path
from accelsim.errors import AccelsimError

__all__ = ["describe", "hw"]

YAML_SUFFIXES = (".yaml", ".yml")


def _description(path: Path) -> str:
    """The file's first comment line, without '#' and a trailing colon."""
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("#"):
            return text.lstrip("#").strip().rstrip(":")
        if text:
            break
    return ""


def describe(path: Path) -> dict[str, Any]:
    """One record of a hardware or run file: kind, SRAM, DRAM, compute and description."""
    from accelsim.config.loader import load_hardware, load_run
    from accelsim.report.quantities import binary_size, si, size_text
    from accelsim.yamlio import load_yaml

    record: dict[str, Any] = {"file": shown_path(path), "name": path.name,
                              "description": _description(path)}
    try:
        data, _ = load_yaml(path)
        is_run = isinstance(data, dict) and "model" in data
        if is_run:
            config = load_run(path)
            hw, model = config.hardware, config.model.name or config.model.path
        else:
            hw, model = load_hardware(path), None
    except AccelsimError as exc:
        return {**record, "kind": "invalid", "error": str(exc)}
    compute = hw.compute
    shape = (f"{compute.pe_rows}x{compute.pe_cols} {compute.dataflow} at "
             f"{si(compute.clock or 0.0, 'Hz')}" if compute.is_pe_array else "ideal")
    return {
        **record, "kind": "run file" if is_run else "hardware", "model": model,
        "sram": size_text(hw.sram_capacity, binary_size(hw.sram_capacity)),
        "dram": si(hw.dram.bandwidth, "B/s"),
        "compute": f"{si(compute.peak_mac_rate, 'MAC/s')} ({shape})",
        "sram_capacity_bytes": hw.sram_capacity,
        "dram_bandwidth_bytes_per_s": hw.dram.bandwidth,
        "peak_mac_rate_mac_per_s": compute.peak_mac_rate,
    }


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def hw(as_json: bool) -> None:
    """List the bundled hardware configs and run files.

    Files in ./hw_configs/ and the project's hw_configs/; any NAME listed works as
    `accelsim run RUNFILE --hardware NAME` (a run file lends its hardware section).
    """
    from accelsim.report.markdown import text_table

    records = [describe(path) for folder in project_dirs("hw_configs")
               for path in sorted(folder.iterdir()) if path.suffix.lower() in YAML_SUFFIXES]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for kind, title in (("hardware", "Hardware configs"), ("run file", "Run files"),
                        ("invalid", "Invalid files")):
        rows = [r for r in records if r["kind"] == kind]
        if not rows:
            continue
        click.echo(f"{title}:")
        if kind == "invalid":
            table = [[r["file"], r["error"]] for r in rows]
            text = text_table(["file", "error"], table, set())
        else:
            model = [[str(r["model"])] if kind == "run file" else [] for r in rows]
            table = [[r["name"], *m, r["sram"], r["dram"], r["compute"], r["description"]]
                     for r, m in zip(rows, model, strict=True)]
            headers = ["name", *(["model"] if kind == "run file" else []), "SRAM", "DRAM",
                       "compute", "description"]
            text = text_table(headers, table, set())
        for line in text.splitlines():
            click.echo(f"  {line}")
        click.echo("")
    click.echo("Use one: accelsim run mobilenet_cifar.yaml --hardware NAME")
