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
    "check_model_name",
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


def find_config(name: str | Path, folder: str = "hw_configs", near: Path | None = None) -> Path:
    """The file `name` in folder `near` (when given), as given, in ./<folder>/, else in the
    project's <folder>/.

    A name that already starts with <folder>/ is looked up below the project, not in
    <folder>/<folder>/.
    """
    path = Path(name)
    candidates = [path]
    if near is not None and not path.is_absolute():
        candidates.insert(0, near / path)
    if not path.is_absolute():
        nested = path.parts[:1] == (folder,) and len(path.parts) > 1
        inner = Path(*path.parts[1:]) if nested else path
        candidates += [Path.cwd() / folder / inner, PROJECT_DIR / folder / inner]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if path.is_dir():
        raise ConfigError(f"{name}: is a directory, expected a YAML file")
    unique = {c.resolve(): c for c in reversed(candidates)}  # first spelling of each place
    searched = ", ".join(str(c) for c in reversed(unique.values()))
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


#: pydantic's type complaints in the file's own terms (no coercion: "4" is not 4).
_PLAIN_TYPES: dict[str, str] = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "model_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
}


def _clipped(text: str, limit: int = 120) -> str:
    """`text`, cut to `limit` characters with a note of how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


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
    message = _PLAIN_TYPES.get(err["type"], str(err["msg"])).removeprefix("Value error, ")
    if err["type"] in _PLAIN_TYPES and err["type"] not in ("string_type", "model_type",
                                                             "dict_type") \
            and isinstance(err.get("input"), str):
        message += " (write it without quotes)"
    if "got " not in message:
        message += f", got {_clipped(repr(err.get('input')))}"
    return f"{where}: {field}: {_clipped(message, 300)}"


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


def _referenced(run_file: Path, lines: LineMap, field: tuple[str, ...], name: str,
                folder: str) -> Path:
    """A file a run file names (hardware or model.path): beside it, else like find_config.

    When it is nowhere, the error names the run file, the line and the field as well.
    """
    try:
        return find_config(name, folder=folder, near=run_file.parent)
    except ConfigError as exc:
        line = lines.line(field)
        where = f"{run_file}:{line}" if line else str(run_file)
        raise ConfigError(f"{where}: {'.'.join(field)}: {exc}") from None


def _resolve_hardware(data: dict[str, Any], found: Path, lines: LineMap) -> dict[str, Any]:
    """Replace `hardware: some.yaml` by that file's contents, looked up beside the run file."""
    hardware = data.get("hardware")
    if isinstance(hardware, str):
        hw_file = _referenced(found, lines, ("hardware",), hardware, "hw_configs")
        hw_data, hw_lines = load_yaml(hw_file)
        validate(HardwareConfig, hw_data, str(hw_file), hw_lines)
        data = {**data, "hardware": hw_data}
    return data


def check_model_name(config: RunConfig, where: str) -> None:
    """An unknown built-in model name is an error naming `where` (file:line) and close names.

    The names are the model registry's (accelsim.ir.zoo), read when a run file is loaded.
    """
    from accelsim.ir.zoo import MODELS

    name = config.model.name
    if name is None or name in MODELS:
        return
    close = difflib.get_close_matches(name, list(MODELS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"{where}: model.name: unknown model {name!r}{hint} (built-in models: "
                      f"{', '.join(sorted(MODELS))}; or give model.path, a model or ONNX file)")


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `data` with dotted-path keys ('hardware.sram.capacity') set to new values."""
    out: dict[str, Any] = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        node: Any = out
        parts = dotted.split(".")
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                child = node[item_index(node, part, dotted)]
            else:
                child = node.get(part)
                if child is None and parts[depth + 1].isdigit():
                    raise ConfigError(
                        f"override {dotted}: {'.'.join(parts[:depth + 1])} is not in the file, "
                        "so it has no item to set (write the whole list instead)")
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


def _refuse_other_kinds(data: Mapping[str, Any], found: Path) -> None:
    """A model file or a hardware-only file given where a run file belongs: say which it is."""
    if "model" in data or "hardware" in data:
        return
    if "layers" in data and "input" in data:
        raise ConfigError(f"{found}: this is a model file (keys input, layers), not a run file: "
                          "name it in a run file's model.path, or give it to `accelsim summary` "
                          "or `accelsim verify`")
    if {"sram", "dram", "compute"} <= data.keys():
        raise ConfigError(f"{found}: this is a hardware file (keys sram, dram, compute), not a "
                          f"run file: name it in a run file, as `hardware: {found.name}`")


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
    _refuse_other_kinds(data, found)
    return _resolve_hardware(data, found, lines), found, lines


def load_run(path: str | Path, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Load and validate a run file, applying dotted-path overrides on top."""
    data, found, lines = load_run_data(path)
    if overrides:
        data = apply_overrides(data, overrides)
    config = validate(RunConfig, data, str(found), lines)
    line = lines.line(("model", "name"))
    check_model_name(config, f"{found}:{line}" if line else str(found))
    if config.model.path is not None:
        model_path = _referenced(found, lines, ("model", "path"), config.model.path, ".")
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
