"""Declarative model files: a network written as YAML and built through NetworkBuilder.

A model file is a mapping with these top-level keys::

    name: mobilenet_v1_cifar          # optional; the network's name (default: file stem)
    input: {shape: [28, 28, 3]}       # required; `name` is optional (default "input")
    layers:                           # required; built top to bottom
      - conv2d: {name: conv1, filters: 32, kernel: 3, stride: 1, padding: same,
                 batch_norm: true, activation: relu}
      - repeat: 9                     # a repeat block: its `layers`, `repeat` times
        start: 4                      # optional first counter value (default 1)
        var: i                        # optional counter name (default i)
        layers:
          - depthwise_conv2d: {name: "conv_dw_${i}", batch_norm: true, activation: relu}
          - conv2d: {name: "conv_pw_${i}", filters: 256, kernel: 1}
      - add: {inputs: [conv_pw_4, conv_pw_5]}
      - softmax:                      # an op without fields may have an empty value

Every layer is a one-key mapping `op: {fields}`; the ops and their fields are those of
NetworkBuilder (required fields marked *):

    conv2d            filters*, kernel, stride, padding, groups, use_bias, batch_norm, activation
    depthwise_conv2d  kernel, stride, padding, use_bias, batch_norm, activation
    conv_transpose    filters*, kernel, stride, padding ([t, b, l, r] crop), output_padding,
                      groups, use_bias, batch_norm, activation
    dense             units*, use_bias, batch_norm, activation
    avg_pool/max_pool kernel*, stride, padding, ceil_mode
    add/sub/mul       inputs* (two layer names, add: two or more), activation
    concat            inputs* (one or more layer names)
    activation        kind* (none, relu, relu6, sigmoid, hard_sigmoid, hard_swish, silu,
                      leaky_relu)
    channel_slice     start*, stop*
    channel_shuffle   groups*
    resize            scale*, mode (nearest or bilinear)
    global_avg_pool, global_max_pool, batch_norm, prelu, flatten, softmax: no fields

Every op also takes `name` (default `<op>_<n>`, counting that op's layers from 1) and,
except those taking `inputs`, `input` (default: the previous layer's output). Defaults
are the builder's.
`kernel` and `stride` are an integer or [rows, cols]; `padding` is same, valid, an
integer, [rows, cols] or [top, bottom, left, right].

Inside a repeat block `${i}` (or the block's `var`) in any string is replaced by the
counter; an explicit name without a template gets `_<counter>` appended, so repeated
names stay unique. Errors name the file, line and field, e.g.
`net.yaml:7: layers[3].conv2d.filters: must be a positive integer, got 'x'`.
"""

from __future__ import annotations

import difflib
import string
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError, ConfigError, GraphError, ModelFileError
from accelsim.ir.builder import NetworkBuilder
from accelsim.ir.graph import Network
from accelsim.ir.layers import Activation
from accelsim.ir.ops.resize import RESIZE_MODES
from accelsim.ir.zoo import MODELS, build_model
from accelsim.limits import (
    MAX_CHANNELS,
    MAX_COUNTER,
    MAX_DIM,
    MAX_LAYERS,
    MAX_PADDING,
    MAX_REPEAT,
    MAX_WINDOW,
    check_model_options,
    check_network_size,
)
from accelsim.yamlio import LineMap, load_yaml

__all__ = ["MODEL_FILE_SUFFIXES", "ONNX_SUFFIX", "load_model_file", "resolve_model"]

#: File name endings read as declarative model files.
MODEL_FILE_SUFFIXES: tuple[str, ...] = (".yaml", ".yml")
#: File name ending read by the (optional) ONNX importer.
ONNX_SUFFIX = ".onnx"

_Loc = tuple[str | int, ...]
_TOP_KEYS: tuple[str, ...] = ("name", "input", "layers")
_INPUT_KEYS: tuple[str, ...] = ("name", "shape")
_REPEAT_KEYS: tuple[str, ...] = ("repeat", "layers", "var", "start")


class _Invalid(Exception):
    """A value failed its check; carries the message, the caller adds the location."""


# ---- value checks: each returns the value as the builder wants it, or raises _Invalid ----
def _shown(value: Any) -> str:
    """A value as the user wrote it in YAML, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _positive_int(value: Any) -> int:
    if _is_int(value, 1):
        return int(value)
    raise _Invalid(f"must be a positive integer, got {_shown(value)}")


def _any_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _Invalid(f"must be an integer, got {_shown(value)}")


def _counter(value: Any) -> int:
    number = _any_int(value)
    if abs(number) > MAX_COUNTER:
        raise _Invalid(f"must be an integer from {-MAX_COUNTER:,} to {MAX_COUNTER:,}, "
                       f"got {_shown(value)}")
    return number


def _window(value: Any) -> int | tuple[int, ...]:
    if _is_int(value, 1):
        return int(value)
    if isinstance(value, list) and len(value) == 2 and all(_is_int(v, 1) for v in value):
        return tuple(value)
    raise _Invalid(f"must be a positive integer or a list of two [rows, cols], got {_shown(value)}")


def _padding(value: Any) -> str | int | tuple[int, ...]:
    if isinstance(value, str) and value in ("same", "valid"):
        return value
    if _is_int(value, 0):
        return int(value)
    if isinstance(value, list) and len(value) in (2, 4) and all(_is_int(v, 0) for v in value):
        return tuple(value)
    raise _Invalid(
        "must be same, valid, a non-negative integer, [rows, cols] or "
        f"[top, bottom, left, right], got {_shown(value)}"
    )


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid(f"must be true or false, got {_shown(value)}")


_ACTIVATIONS: tuple[str, ...] = typing.get_args(Activation)


def _activation(value: Any) -> str:
    if isinstance(value, str) and value in _ACTIVATIONS:
        return value
    raise _Invalid(f"must be one of {', '.join(_ACTIVATIONS)}, got {_shown(value)}")


def _text(value: Any) -> str:
    if isinstance(value, str) and value:
        return value
    raise _Invalid(f"must be a non-empty string, got {_shown(value)}")


def _identifier(value: Any) -> str:
    if isinstance(value, str) and value.isidentifier():
        return value
    raise _Invalid(f"must be a name of letters, digits and _, got {_shown(value)}")


def _layer_names(value: Any) -> list[str]:
    if isinstance(value, list) and len(value) >= 2 and all(isinstance(v, str) for v in value):
        return list(value)
    raise _Invalid(f"must be a list of two or more layer names, got {_shown(value)}")


def _some_layer_names(value: Any) -> list[str]:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise _Invalid(f"must be a list of one or more layer names, got {_shown(value)}")


def _any_index(value: Any) -> int:
    if _is_int(value, 0):
        return int(value)
    raise _Invalid(f"must be a non-negative integer, got {_shown(value)}")


def _pads4(value: Any) -> tuple[int, ...]:
    if isinstance(value, list) and len(value) == 4 and all(_is_int(v, 0) for v in value):
        return tuple(value)
    raise _Invalid(f"must be a list of four non-negative integers [top, bottom, left, right], "
                   f"got {_shown(value)}")


def _pair_of_counts(value: Any) -> tuple[int, ...]:
    if isinstance(value, list) and len(value) == 2 and all(_is_int(v, 0) for v in value):
        return tuple(value)
    raise _Invalid(f"must be a list of two non-negative integers [rows, cols], got "
                   f"{_shown(value)}")


def _resize_mode(value: Any) -> str:
    if value in RESIZE_MODES:
        return str(value)
    raise _Invalid(f"must be one of {', '.join(RESIZE_MODES)}, got {_shown(value)}")


def _shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, list) and value and all(_is_int(v, 1) for v in value):
        return tuple(value)
    raise _Invalid(f"must be a list of positive integers such as [28, 28, 3], got {_shown(value)}")


def _at_most(check: Callable[[Any], Any], high: int) -> Callable[[Any], Any]:
    """`check`, then every integer of its result at most `high` (accelsim.limits)."""
    def bounded(value: Any) -> Any:
        out = check(value)
        numbers = out if isinstance(out, tuple) else (out,)
        if any(isinstance(n, int) and n > high for n in numbers):
            raise _Invalid(f"must be at most {high:,}, got {_shown(value)}")
        return out
    return bounded


_FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": _text, "input": _text, "inputs": _layer_names,
    "filters": _at_most(_positive_int, MAX_CHANNELS),
    "units": _at_most(_positive_int, MAX_CHANNELS), "groups": _at_most(_positive_int, MAX_CHANNELS),
    "kernel": _at_most(_window, MAX_WINDOW),
    "stride": _at_most(_window, MAX_WINDOW), "padding": _at_most(_padding, MAX_PADDING),
    "use_bias": _boolean, "batch_norm": _boolean, "activation": _activation, "kind": _activation,
    "ceil_mode": _boolean, "output_padding": _at_most(_pair_of_counts, MAX_WINDOW),
    "start": _at_most(_any_index, MAX_CHANNELS), "stop": _at_most(_positive_int, MAX_CHANNELS),
    "scale": _at_most(_window, MAX_WINDOW), "mode": _resize_mode,
}
#: Ops reading a list of layers (`inputs`) and the check of that list.
_MULTI_INPUT: dict[str, Callable[[Any], Any]] = {
    "add": _layer_names, "sub": _layer_names, "mul": _layer_names, "concat": _some_layer_names}


@dataclass(frozen=True)
class _OpFields:
    """The fields one op accepts beyond `name` (and `input`, unless it takes `inputs`)."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    @property
    def allowed(self) -> tuple[str, ...]:
        """Every key the op's mapping may hold, in the order the docs list them."""
        single = () if "inputs" in self.required else ("input",)
        return ("name", *single, *self.required, *self.optional)


_CONV_FIELDS = ("kernel", "stride", "padding", "use_bias", "batch_norm", "activation")
_POOL = _OpFields(("kernel",), ("stride", "padding", "ceil_mode"))
_BINARY = _OpFields(("inputs",), ("activation",))
_OPS: dict[str, _OpFields] = {
    "conv2d": _OpFields(("filters",), ("groups", *_CONV_FIELDS)),
    "depthwise_conv2d": _OpFields((), _CONV_FIELDS),
    "conv_transpose": _OpFields(("filters",), ("groups", "output_padding", *_CONV_FIELDS)),
    "dense": _OpFields(("units",), ("use_bias", "batch_norm", "activation")),
    "avg_pool": _POOL,
    "max_pool": _POOL,
    "global_avg_pool": _OpFields(),
    "global_max_pool": _OpFields(),
    "add": _BINARY,
    "sub": _BINARY,
    "mul": _BINARY,
    "concat": _OpFields(("inputs",)),
    "activation": _OpFields(("kind",)),
    "prelu": _OpFields(),
    "batch_norm": _OpFields(),
    "channel_slice": _OpFields(("start", "stop")),
    "channel_shuffle": _OpFields(("groups",)),
    "resize": _OpFields(("scale",), ("mode",)),
    "flatten": _OpFields(),
    "softmax": _OpFields(),
}


# ---- locations ------------------------------------------------------------------------
def _dotted(loc: _Loc) -> str:
    """("layers", 3, "conv2d", "filters") -> "layers[3].conv2d.filters"."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True)
class _Source:
    """The file being read and where each of its values came from."""

    file: str
    lines: LineMap

    def error(self, loc: _Loc, message: str) -> ModelFileError:
        """A ModelFileError prefixed with `file:line: field:`."""
        line = self.lines.line(loc)
        where = self.file if line is None else f"{self.file}:{line}"
        field = _dotted(loc)
        return ModelFileError(f"{where}: {field}: {message}" if field else f"{where}: {message}")

    def checked(self, loc: _Loc, value: Any, check: Callable[[Any], Any]) -> Any:
        """Run a value check, turning its complaint into a located ModelFileError."""
        try:
            return check(value)
        except _Invalid as exc:
            raise self.error(loc, str(exc)) from None

    def mapping(
        self, loc: _Loc, value: Any, allowed: Sequence[str], required: Sequence[str] = ()
    ) -> Mapping[str, Any]:
        """Check that `value` is a mapping with only `allowed` keys and every `required` one."""
        if not isinstance(value, dict):
            raise self.error(
                loc, f"must be a mapping with keys {', '.join(allowed)}, got {_shown(value)}"
            )
        for key in value:
            if key not in allowed:
                raise self.error(loc + (key,), _unknown("key", key, allowed))
        for key in required:
            if key not in value:
                raise self.error(loc, f"missing required key {key!r}")
        return value


def _unknown(what: str, value: Any, allowed: Sequence[str]) -> str:
    """`unknown key 'filter' (did you mean 'filters'?); allowed: ...`."""
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {_shown(value)}{hint}; allowed: {', '.join(allowed)}"


# ---- parsing: raw YAML -> checked layer specs ------------------------------------------
@dataclass(frozen=True)
class _LayerSpec:
    """One layer as written: its op, checked fields, and its location for errors."""

    op: str
    fields: dict[str, Any]
    loc: _Loc


@dataclass(frozen=True)
class _RepeatSpec:
    """A repeat block: `body` built `count` times with `var` = start, start + 1, ..."""

    count: int
    var: str
    start: int
    body: tuple[_LayerSpec | _RepeatSpec, ...]


def _parse_layers(src: _Source, loc: _Loc, value: Any) -> tuple[_LayerSpec | _RepeatSpec, ...]:
    if not isinstance(value, list) or not value:
        raise src.error(loc, f"must be a non-empty list of layers, got {_shown(value)}")
    return tuple(_parse_item(src, loc + (i,), item) for i, item in enumerate(value))


def _parse_item(src: _Source, loc: _Loc, item: Any) -> _LayerSpec | _RepeatSpec:
    if isinstance(item, dict) and "repeat" in item:
        block = src.mapping(loc, item, _REPEAT_KEYS, ("repeat", "layers"))
        return _RepeatSpec(
            src.checked(loc + ("repeat",), block["repeat"], _at_most(_positive_int, MAX_REPEAT)),
            src.checked(loc + ("var",), block.get("var", "i"), _identifier),
            src.checked(loc + ("start",), block.get("start", 1), _counter),
            _parse_layers(src, loc + ("layers",), block["layers"]),
        )
    if not isinstance(item, dict) or len(item) != 1:
        got = f"keys {', '.join(map(str, item))}" if isinstance(item, dict) else _shown(item)
        raise src.error(
            loc, "a layer must be a mapping with one op key, such as "
            f"{{conv2d: {{filters: 32}}}}, or a repeat block; got {got}"
        )
    ((op, raw),) = item.items()
    if op not in _OPS:
        raise src.error(loc + (op,), _unknown("op", op, (*_OPS, "repeat")))
    loc = loc + (op,)
    fields = src.mapping(loc, {} if raw is None else raw, _OPS[op].allowed, _OPS[op].required)
    checks = {**_FIELD_CHECKS, **({"inputs": _MULTI_INPUT[op]} if op in _MULTI_INPUT else {})}
    if op == "conv_transpose":
        checks["padding"] = _pads4
    checked = {key: src.checked(loc + (key,), v, checks[key]) for key, v in fields.items()}
    return _LayerSpec(op, checked, loc)


# ---- building: expand repeats, call the builder ----------------------------------------
def _call_builder(
    builder: NetworkBuilder, op: str, name: str, inputs: list[str], fields: dict[str, Any]
) -> str:
    """Dispatch one layer to the NetworkBuilder method of the same name."""
    if op in _MULTI_INPUT:
        method_many: Callable[..., str] = getattr(builder, op)
        return method_many(name, inputs, **fields)
    if op == "channel_shuffle":
        return builder.channel_shuffle(name, inputs[0], fields["groups"])
    if op in ("avg_pool", "max_pool"):
        return builder.pool(name, inputs[0], op, **fields)
    method: Callable[..., str] = getattr(builder, op)
    return method(name, inputs[0], **fields)


class _Assembler:
    """Feeds layer specs to a NetworkBuilder in order, tracking the previous output."""

    def __init__(self, src: _Source, builder: NetworkBuilder, first: str) -> None:
        self.src = src
        self.builder = builder
        self.previous = first
        self.op_counts: dict[str, int] = {}

    def emit(self, items: Sequence[_LayerSpec | _RepeatSpec], env: dict[str, int]) -> None:
        """Build `items`, expanding repeat blocks with their counter added to `env`."""
        for item in items:
            if isinstance(item, _RepeatSpec):
                for value in range(item.start, item.start + item.count):
                    self.emit(item.body, {**env, item.var: value})
            else:
                self._layer(item, env)

    def _expand(self, loc: _Loc, value: Any, env: dict[str, int]) -> Any:
        """Substitute `${var}` templates in a string or a list of strings."""
        if isinstance(value, list):
            return [self._expand(loc + (i,), v, env) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        try:
            return string.Template(value).substitute(env)
        except KeyError as exc:
            known = ", ".join(env) if env else "none outside repeat blocks"
            raise self.src.error(
                loc, f"unknown template variable ${{{exc.args[0]}}} in {value!r}; defined: {known}"
            ) from None
        except ValueError:
            raise self.src.error(
                loc, f"bad template {value!r}: write ${{i}} for a repeat counter, $$ for a $"
            ) from None

    def _layer(self, spec: _LayerSpec, env: dict[str, int]) -> None:
        fields = {key: self._expand(spec.loc + (key,), v, env) for key, v in spec.fields.items()}
        count = self.op_counts[spec.op] = self.op_counts.get(spec.op, 0) + 1
        name = fields.pop("name", f"{spec.op}_{count}")
        if env and "$" not in spec.fields.get("name", "$"):  # explicit, untemplated, repeated
            name += "".join(f"_{v}" for v in env.values())
        inputs = fields.pop("inputs") if spec.op in _MULTI_INPUT else [
            fields.pop("input", self.previous)]
        try:
            self.previous = _call_builder(self.builder, spec.op, name, inputs, fields)
        except GraphError as exc:
            where = f" (in repeat {', '.join(f'{k}={v}' for k, v in env.items())})" if env else ""
            raise self.src.error(spec.loc, f"{exc}{where}") from None


def load_model_file(path: str | Path, resolution: int | None = None) -> Network:
    """Build the Network a model file describes (format in the module docstring).

    `resolution` replaces the input's height and width. Every problem with the file,
    including shape errors found while building, is a ModelFileError naming file and line.
    """
    try:
        data, lines = load_yaml(path)
    except ConfigError as exc:
        raise ModelFileError(str(exc)) from None
    src = _Source(str(path), lines)
    if isinstance(data, dict) and "model" in data and "hardware" in data:
        raise src.error((), "this is a run file (it has model and hardware), not a model file: "
                        "simulate it with `accelsim run`, or give the model it names")
    top = src.mapping((), data, _TOP_KEYS, ("input", "layers"))
    name = src.checked(("name",), top.get("name", Path(path).stem), _text)
    spec_in = src.mapping(("input",), top["input"], _INPUT_KEYS, ("shape",))
    input_name = src.checked(("input", "name"), spec_in.get("name", "input"), _text)
    shape = src.checked(("input", "shape"), spec_in["shape"], _at_most(_shape, MAX_DIM))
    layers = _parse_layers(src, ("layers",), top["layers"])
    expanded = _expanded(layers)
    if expanded > MAX_LAYERS:
        raise src.error(("layers",), f"{expanded:,} layers once repeat blocks are expanded, over "
                        f"the limit of {MAX_LAYERS:,}")
    if resolution is not None:
        if resolution < 1:
            raise ModelFileError(f"resolution must be >= 1, got {resolution}")
        if len(shape) != 3:
            raise src.error(("input", "shape"), f"resolution needs an [H, W, C] input, got {shape}")
        shape = (resolution, resolution, shape[2])
    builder = NetworkBuilder(name)
    _Assembler(src, builder, builder.input(input_name, shape)).emit(layers, {})
    return builder.build()


def _expanded(items: Sequence[_LayerSpec | _RepeatSpec]) -> int:
    """Layers the specs build once every repeat block is expanded."""
    return sum(item.count * _expanded(item.body) if isinstance(item, _RepeatSpec) else 1
               for item in items)


def _load_onnx(path: Path) -> Network:
    """Import an ONNX file; the importer needs the optional onnx packages."""
    try:
        from accelsim.ir.onnx_import import load_onnx
    except ImportError as exc:
        raise AccelsimError(
            f"{path}: reading ONNX files needs the onnx extra: pip install accelsim[onnx] ({exc})"
        ) from None
    if path.is_file() and path.stat().st_size == 0:
        raise ModelFileError(f"{path}: the file is empty, not an ONNX model")
    network: Network = load_onnx(path)
    return network


def resolve_model(
    spec: str, alpha: float = 1.0, resolution: int | None = None, classes: int | None = None
) -> Network:
    """Turn a model argument into a Network: a registry name, or a .yaml/.yml/.onnx path.

    alpha and classes reshape built-in models only; resolution also resizes a model file.
    """
    check_model_options(alpha, resolution, classes)
    if spec in MODELS:
        network = build_model(spec, alpha, resolution, classes)
        check_network_size(network.layers(), f"model {spec} (alpha {alpha:g}, resolution "
                                             f"{network.layer(network.inputs[0]).output_shape[0]})")
        return network
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in (*MODEL_FILE_SUFFIXES, ONNX_SUFFIX):
        raise GraphError(
            f"unknown model {spec!r}; known models: {', '.join(sorted(MODELS))}; "
            "or give the path of a .yaml, .yml or .onnx file"
        )
    if not path.exists():
        raise ModelFileError(f"{path}: file not found")
    onnx = suffix == ONNX_SUFFIX
    fixed = {"alpha": alpha != 1.0, "classes": classes is not None,
             "resolution": onnx and resolution is not None}
    for option, given in fixed.items():
        if given:
            raise ModelFileError(
                f"{path}: the {option} of {'an ONNX' if onnx else 'a model'} file cannot be "
                f"changed; edit the file, or use a built-in model ({', '.join(sorted(MODELS))})"
            )
    network = _load_onnx(path) if onnx else load_model_file(path, resolution)
    check_network_size(network.layers(), str(path))
    return network
