"""Raw YAML -> validated RunConfig, with errors that name file, line, field and what is allowed.

Also: finding a run file by bare name in hw_configs/, inline-or-path hardware, applying
dotted-path overrides (used by the CLI and by sweeps), and the resolved dump.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from accelsim.config.models import HardwareConfig, RunConfig
from accelsim.errors import ConfigError
from accelsim.yamlio import LineMap, load_yaml

__all__ = [
    "PROJECT_DIR",
    "apply_overrides",
    "find_config",
    "item_index",
    "load_hardware",
    "load_run",
    "resolved_yaml",
    "validate",
]

#: The repository root when accelsim is installed from a checkout (editable install).
PROJECT_DIR = Path(__file__).resolve().parents[2]
M = TypeVar("M", bound=BaseModel)


def find_config(name: str | Path, folder: str = "hw_configs") -> Path:
    """The file `name` as given, else in ./<folder>/, else in the project's <folder>/."""
    path = Path(name)
    candidates = [path]
    if not path.is_absolute():
        candidates += [Path.cwd() / folder / path, PROJECT_DIR / folder / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if path.is_dir():
        raise ConfigError(f"{name}: is a directory, expected a YAML file")
    searched = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise ConfigError(f"{name}: file not found (looked in {searched})")


def _fields_of(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Allowed keys at `loc` inside `model` (for unknown-key messages)."""
    current: Any = model
    for part in loc:
        if not isinstance(part, str) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            return []
        field = current.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _format_error(
    err: Mapping[str, Any], model: type[BaseModel], source: str, lines: LineMap,
    prefix: tuple[str, ...],
) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    full = prefix + tuple(str(p) for p in loc)
    line = lines.line(full)
    where = f"{source}:{line}" if line else source
    field = ".".join(full) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _fields_of(model, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return (f"{where}: {field}: unknown key{suggestion} (allowed: {', '.join(allowed)})")
    if err["type"] == "missing":
        return f"{where}: {field}: required field is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    got = f"got {err.get('input')!r}"
    return f"{where}: {field}: {message}" + ("" if got in message else f", {got}")


def validate(
    model: type[M], data: Any, source: str, lines: LineMap | None = None,
    prefix: tuple[str, ...] = (),
) -> M:
    """Validate `data` as `model`; the first error becomes a one-line ConfigError."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {data!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An unknown key usually explains a "missing" one beside it: report it first.
        first = min(errors, key=lambda e: e["type"] != "extra_forbidden")
        raise ConfigError(_format_error(first, model, source, lines or LineMap(), prefix)) from None


def load_hardware(path: str | Path) -> HardwareConfig:
    """Load a hardware-only YAML (keys sram, dram, compute, precision, energy)."""
    found = find_config(path)
    data, lines = load_yaml(found)
    return validate(HardwareConfig, data, str(found), lines)


def _resolve_hardware(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Replace `hardware: some.yaml` by that file's contents, looked up beside the run file."""
    hardware = data.get("hardware")
    if isinstance(hardware, str):
        local = base / hardware
        found = local if local.is_file() else find_config(hardware)
        hw_data, _ = load_yaml(found)
        validate(HardwareConfig, hw_data, str(found))
        data = {**data, "hardware": hw_data}
    return data


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `data` with dotted-path keys ('hardware.sram.capacity') set to new values."""
    out: dict[str, Any] = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        node: Any = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            if isinstance(node, list):
                child = node[item_index(node, part, dotted)]
            else:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
            if not isinstance(child, dict | list):
                raise ConfigError(f"override {dotted}: {part} is not a mapping")
            node = child
        if isinstance(node, list):
            node[item_index(node, parts[-1], dotted)] = value
        else:
            node[parts[-1]] = value
    return out


def item_index(items: list[Any], part: str, dotted: str) -> int:
    """Which list item a path part names: its index ('0') or its `name` ('ifmap')."""
    names = [item.get("name") if isinstance(item, dict) else getattr(item, "name", None)
             for item in items]
    if part.isdigit() and int(part) < len(items):
        return int(part)
    if part in names:
        return names.index(part)
    raise ConfigError(f"override {dotted}: no item {part!r} (give an index 0..{len(items) - 1} "
                      f"or a name: {', '.join(str(n) for n in names)})")


def load_run_data(path: str | Path) -> tuple[dict[str, Any], Path, LineMap]:
    """The run file's raw data with `hardware:` paths inlined, its location and line map."""
    found = find_config(path)
    data, lines = load_yaml(found)
    if not isinstance(data, dict):
        raise ConfigError(f"{found}: expected a run file (keys name, model, hardware, simulation)")
    return _resolve_hardware(data, found.parent), found, lines


def load_run(path: str | Path, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Load and validate a run file, applying dotted-path overrides on top."""
    data, found, lines = load_run_data(path)
    if overrides:
        data = apply_overrides(data, overrides)
    config = validate(RunConfig, data, str(found), lines)
    if config.model.path is not None:
        model_path = Path(config.model.path)
        if not model_path.is_absolute():
            local = found.parent / model_path
            if local.exists():
                model_path = local
            else:
                model_path = find_config(model_path, folder=".")
        config = config.model_copy(
            update={"model": config.model.model_copy(update={"path": str(model_path)})}
        )
    return config


def resolved_yaml(config: RunConfig) -> str:
    """The run file with every default filled in and every quantity in base units."""
    header = (
        "# Resolved run configuration: every default filled in, every quantity in base units\n"
        "# (sizes in bytes, bandwidth in bytes/s, mac_rate in MAC/s, clock in Hz, latency in s,\n"
        "# energy in J). Feed it back to `accelsim run` to repeat this run exactly.\n"
    )
    data = config.model_dump(mode="json", exclude_none=True)
    return header + yaml.safe_dump(data, sort_keys=False)
