"""The JSON Schema of run files and their reference page (docs/config.md), both from the models.

pydantic describes each field by its parsed type; a run file also accepts unit strings, a
hardware file name in place of the hardware section, and exactly one compute form. The
schema adds those rules, so an editor accepts exactly what the loader accepts: unit
strings match `accelsim.units.unit_pattern` (the parser's own units, never a negative
number), bounds are the models' bounds, and descriptions are the fields' docstrings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from accelsim import limits
from accelsim.config.models import RunConfig
from accelsim.units import kind_help, unit_pattern
from accelsim.yamlio import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES

__all__ = ["config_markdown", "run_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: Keys the models carry for this module and for sweeps; not JSON Schema keywords.
_PRIVATE_KEYS = ("unit_kind", "bounds")
_PE_ARRAY = ("pe_rows", "pe_cols", "clock")


def _with_units(node: Any) -> Any:
    """The schema with unit-carrying fields accepting strings too ('1 MB', '500 GMAC/s')."""
    if isinstance(node, list):
        return [_with_units(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_units(value) for key, value in node.items()}
    kind, bounds = out.pop("unit_kind", None), out.pop("bounds", None)
    if kind is not None and out.get("type") in ("integer", "number"):
        number: dict[str, Any] = {"type": out.pop("type")}
        for keyword in ("minimum", "exclusiveMinimum", "maximum"):
            if keyword in out:
                number[keyword] = out.pop(keyword)
        text = {"type": "string", "pattern": unit_pattern(kind),
                "description": f"a {kind} with a unit: {kind_help(kind)}"
                               + (f"; {bounds}" if bounds else "")}
        out["anyOf"] = [number, text]
    return out


def _exactly_one(first: Sequence[str], second: Sequence[str]) -> list[dict[str, Any]]:
    """oneOf branches: all of `first` and none of `second`, or the other way round."""
    def branch(given: Sequence[str], absent: Sequence[str]) -> dict[str, Any]:
        return {"required": list(given),
                "not": {"anyOf": [{"required": [key]} for key in absent]}}

    return [branch(first, second), branch(second, first)]


def run_schema(model_names: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of run files; `model_names` become model.name's enum."""
    schema = _with_units(RunConfig.model_json_schema())
    defs = schema["$defs"]
    defs["ComputeConfig"]["oneOf"] = _exactly_one(["mac_rate"], _PE_ARRAY)
    defs["ModelRef"]["oneOf"] = _exactly_one(["name"], ["path"])
    if model_names:
        name = defs["ModelRef"]["properties"]["name"]
        name["anyOf"] = [{"type": "string", "enum": list(model_names)}, {"type": "null"}]
    hardware = schema["properties"]["hardware"]
    schema["properties"]["hardware"] = {
        "description": hardware.get("description", ""),
        "anyOf": [{"$ref": hardware["$ref"]},
                  {"type": "string", "minLength": 1,
                   "description": "a hardware file: beside the run file, in ./hw_configs/ "
                                  "or in the project's hw_configs/"}],
    }
    return {"$schema": SCHEMA_DIALECT, **schema}


# ---- the reference page -----------------------------------------------------------------
def _shown(value: Any) -> str:
    """A default or bound as it would be written in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _parts(prop: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """The non-null branch of a property and the $defs name it refers to, if any."""
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    main = {**prop, **branches[0]} if branches else dict(prop)
    ref = main.get("$ref", main.get("items", {}).get("$ref") if main.get("type") == "array"
                   else None)
    return main, ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _row(name: str, prop: Mapping[str, Any], required: bool) -> str:
    """One table row: field, type and unit, default, allowed values, description."""
    main, _ = _parts(prop)
    kind = main.get("unit_kind")
    kind_text = f"{kind}: {kind_help(kind)}" if kind else str(main.get("type", ""))
    if "enum" in main:
        allowed = ", ".join(f"`{v}`" for v in main["enum"])
    elif "bounds" in main:
        allowed = str(main["bounds"])
    elif main.get("type") == "boolean":
        allowed = "`true`, `false` (not 1, not quoted)"
    elif "pattern" in main:
        allowed = f"letters, digits, `_ . -`; {main.get('maxLength', '')} characters at most"
    else:
        allowed = "any text"
    default = "required" if required else f"`{_shown(prop.get('default'))}`"
    description = str(prop.get("description", "")).replace("\n", " ")
    cells = [f"`{name}`", kind_text, default, allowed, description]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _sections(schema: Mapping[str, Any], model: Mapping[str, Any], path: str,
              out: list[str]) -> None:
    """A heading and a table for `model`, then the same for each sub-model, depth first."""
    title = f"`{path}`" if path else "Top level"
    out += [f"### {title}", "", str(model.get("description", "")).split("\n\n")[0], "",
            "| field | type and unit | default | allowed | description |",
            "|---|---|---|---|---|"]
    nested: list[tuple[str, Mapping[str, Any]]] = []
    required = set(model.get("required", []))
    for name, prop in model["properties"].items():
        main, ref = _parts(prop)
        dotted = f"{path}.{name}" if path else name
        if ref is not None:
            kind = "list of sections" if main.get("type") == "array" else "section"
            out.append(f"| `{name}` | {kind} | {'required' if name in required else 'optional'}"
                       f" | see [`{dotted}`](#{dotted.replace('.', '')}) | "
                       f"{str(prop.get('description', ''))} |")
            nested.append((dotted, schema["$defs"][ref]))
        else:
            out.append(_row(name, prop, name in required))
    out.append("")
    for dotted, sub in nested:
        _sections(schema, sub, dotted, out)


_LIMITS = (
    ("YAML file size", f"{MAX_FILE_BYTES:,} bytes", "accelsim.yamlio.MAX_FILE_BYTES"),
    ("YAML nesting depth", f"{MAX_DEPTH} levels", "accelsim.yamlio.MAX_DEPTH"),
    ("YAML values, aliases expanded", f"{MAX_NODES:,}", "accelsim.yamlio.MAX_NODES"),
    *((what, f"{getattr(limits, name):,}", f"accelsim.limits.{name}") for what, name in (
        ("elements of one feature map", "MAX_TENSOR_ELEMENTS"),
        ("weights of one layer", "MAX_LAYER_PARAMS"),
        ("MACs of a network per input", "MAX_NETWORK_MACS"),
        ("layers after repeat blocks", "MAX_LAYERS"),
        ("input height, width or channels (model file)", "MAX_DIM"),
        ("filters, units, groups (model file)", "MAX_CHANNELS"),
        ("kernel, stride (model file)", "MAX_WINDOW"),
        ("padding per side (model file)", "MAX_PADDING"),
        ("repeat count (model file)", "MAX_REPEAT"),
        ("repeat start counter, either sign (model file)", "MAX_COUNTER"),
        ("batch x feature map in `accelsim verify`", "MAX_EXECUTED_ELEMENTS"),
        ("batch x network MACs in `accelsim verify`", "MAX_EXECUTED_MACS"),
        ("values of one sweep axis", "MAX_AXIS_VALUES"),
        ("points of a grid sweep", "MAX_GRID_POINTS"),
        ("samples of a random or Latin-hypercube sweep", "MAX_SAMPLES"),
    )),
)


def config_markdown(model_names: Sequence[str] = ()) -> str:
    """docs/config.md: every run-file field with its unit, default, bounds and description."""
    schema = RunConfig.model_json_schema()
    lines = [
        "# Run-file reference",
        "",
        "Generated from the configuration models by `accelsim schema --markdown > "
        "docs/config.md`;",
        "`tests/test_schema.py` fails when this page and the models disagree. `accelsim "
        "schema`",
        "prints the same rules as a JSON Schema for editors.",
        "",
        "## How values are read",
        "",
        "* Quantities take a unit string or a plain number in the base unit. Decimal prefixes "
        "(k, M, G, T, P)",
        "  are powers of 1000, binary ones (Ki, Mi, Gi, Ti, Pi) powers of 1024; `B` is a byte, "
        "`b` a bit;",
        "  `OPS` counts two operations per MAC. Digits are ASCII; `.inf`, `.nan` and negative "
        "values are refused.",
        "* Types are strict: `batch: \"4\"`, `overlap: \"yes\"` and `overlap: 1` are errors, "
        "not converted.",
        "  `1e6` (no dot) is a number, as in YAML 1.2.",
        "* Every number has the bounds in the *allowed* column; a value outside them is one "
        "error line",
        "  `file:line: field: must be ..., got ...` and exit code 2.",
        "* `hardware:` may name a hardware file (`hardware: edge_1mb.yaml`), looked up beside "
        "the run file,",
        "  in `./hw_configs/`, then in the project's `hw_configs/`. `model:` takes exactly one "
        "of `name` and",
        "  `path`; `compute:` takes `mac_rate` or all of `pe_rows`, `pe_cols` and `clock`, "
        "never both.",
    ]
    if model_names:
        lines += ["* Built-in models (`model.name`): "
                  + ", ".join(f"`{n}`" for n in model_names) + "."]
    lines += ["", "## Fields", ""]
    _sections(schema, schema, "", lines)
    lines += ["## Limits on files and networks", "",
              "Checked while a file is read and before any work proportional to a network's "
              "size.", "", "| what | at most | constant |", "|---|---|---|"]
    lines += [f"| {what} | {value} | `{name}` |" for what, value, name in _LIMITS]
    return "\n".join(lines) + "\n"
