"""Safe YAML loading: one parse, bounded work, every value's line remembered.

PyYAML silently keeps the last of two equal keys; a config with `capacity:` twice would
then run with a value the user did not mean. `load_yaml` raises instead, and returns a
`LineMap` so later validation errors can name the line of the offending field.

The file is parsed once, by libyaml's C parser when PyYAML has it (the pure-Python parser
otherwise), into an event stream that is assembled here without recursion, so every limit
is checked as the file is read and each violation is one ConfigError naming the file:

* at most MAX_FILE_BYTES bytes (a run or model file is a few KB);
* mappings and lists nested at most MAX_DEPTH deep;
* at most MAX_NODES values after expanding aliases (`*name`), which stops "billion laughs"
  files whose aliases multiply a few lines into billions of values;
* mapping keys are plain values (strings, numbers), never lists or mappings; no key twice;
* one document per file.

Scalars are read as PyYAML's safe loader reads them (YAML 1.1: `yes` is true), plus one
YAML 1.2 rule: `1e30` without a dot is a number, not the string "1e30".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from accelsim.errors import ConfigError

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "LineMap", "load_yaml", "load_yaml_text"]

#: Largest YAML file read, in bytes (8 MiB).
MAX_FILE_BYTES = 8 * 2**20
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 64
#: Most values (scalars, lists, mappings) in a file, counting each alias use in full.
MAX_NODES = 1_000_000

_Path = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MERGE = object()  # the merge key `<<`, as the assembler sees it
_STANDARD_TAGS = (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
#: Plainer words for the parser's most common complaints (all caused by indentation).
_PLAIN_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("mapping values are not allowed", "a ':' here cannot start a value: check this line's "
     "indentation, or quote a value that contains ': '"),
    ("did not find expected key", "this line is not indented like the keys around it"),
    ("could not find expected ':'", "expected 'key: value' (check the indentation, or close "
     "a quote opened earlier)"),
    ("expected <block end>", "this line is indented differently from the keys above it"),
    ("did not find expected '-' indicator", "a list item here is indented differently from "
     "the items above it"),
    ("exceeded maximum nesting depth", f"nested more than {MAX_DEPTH} levels deep"),
    ("cannot start any token", "a tab or other character that cannot start a value: YAML "
     "indents with spaces only"),
)


@dataclass
class LineMap:
    """1-based line numbers keyed by location path, e.g. ("hardware", "sram", "capacity")."""

    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def line(self, path: tuple[str | int, ...]) -> int | None:
        """Line of the deepest known prefix of `path`, or None."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


class _Resolver(yaml.resolver.Resolver):
    """PyYAML's implicit types, plus YAML 1.2 floats without a dot (`1e30`, `-2E-3`)."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
_RESOLVER = _Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_EventLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class _Collection:
    """A mapping or list being assembled from events."""

    value: dict[Any, Any] | list[Any]
    path: _Path
    line: int
    anchor: str | None
    nodes: int = 1
    key: Any = None
    key_text: str | None = None  # the pending key's text; None when a key comes next
    key_lines: dict[Any, int] = field(default_factory=dict)
    merges: list[dict[Any, Any]] = field(default_factory=list)


class _Assembler:
    """Builds Python data from parser events, checking every limit as it goes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.stack: list[_Collection] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.lines: dict[_Path, int] = {}
        self.nodes = 0
        self.documents = 0
        self.root: Any = None

    def error(self, line: int, message: str) -> ConfigError:
        """A ConfigError `file:line: message`."""
        return ConfigError(f"{self.source}:{line}: {message}")

    def feed(self, event: yaml.Event) -> None:
        """Take one parser event."""
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.error(line, "YAML error: a second document ('---') in one file; "
                                 "keep one")
        elif isinstance(event, yaml.ScalarEvent):
            self._value(self._scalar(event, line), 1, line, event.anchor, event.value)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise self.error(line, f"YAML error: alias *{event.anchor} names no anchor "
                                 "defined above it")
            value, nodes = self.anchors[event.anchor]
            self._value(value, nodes, line, None, None)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._open(event, line)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            done = self.stack.pop()
            if isinstance(done.value, dict):
                for merged in done.merges:
                    done.value.update({k: v for k, v in merged.items() if k not in done.value})
            self._value(done.value, done.nodes, done.line, done.anchor, None, opened=done)

    def _scalar(self, event: yaml.ScalarEvent, line: int) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _MERGE_TAG:
            return _MERGE
        node = yaml.ScalarNode(tag, event.value, style=event.style)
        try:
            return _CONSTRUCTOR.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            raise self.error(line, f"YAML error: {exc.problem}") from None
        except (ValueError, TypeError, OverflowError):  # e.g. `!!int x`, `2020-13-45`
            kind = tag.rsplit(":", 1)[-1]
            shown = repr(event.value) if len(event.value) <= 80 else f"{event.value[:80]!r}..."
            raise self.error(line, f"YAML error: cannot read {shown} as {kind}") from None

    def _child_path(self) -> _Path | None:
        """The location of a value starting now; None when it is a mapping key."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        if top.key_text is None:
            return None
        return (*top.path, top.key_text)

    def _open(self, event: yaml.CollectionStartEvent, line: int) -> None:
        if event.tag not in _STANDARD_TAGS:
            raise self.error(line, f"YAML error: tag {event.tag} is not supported here")
        path = self._child_path()
        if path is None:
            raise self.error(line, "YAML error: a mapping key must be a plain value such as a "
                             "name or a number, not a list or mapping")
        if len(self.stack) >= MAX_DEPTH:
            raise self.error(line, f"YAML error: nested more than {MAX_DEPTH} levels deep")
        self._count(1, line)
        if path not in self.lines:
            self.lines[path] = line
        empty: dict[Any, Any] | list[Any] = (
            {} if isinstance(event, yaml.MappingStartEvent) else [])
        self.stack.append(_Collection(empty, path, line, event.anchor))

    def _count(self, nodes: int, line: int) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            raise self.error(line, f"YAML error: more than {MAX_NODES:,} values (counting "
                             "each use of an alias in full); is an alias repeated many times?")

    def _value(self, value: Any, nodes: int, line: int, anchor: str | None,
               text: str | None, opened: _Collection | None = None) -> None:
        """Place a finished value (scalar, alias or closed collection) in its parent."""
        if opened is None:
            self._count(nodes, line)
        if anchor is not None:
            self.anchors[anchor] = (value, nodes)
        if not self.stack:
            self.root = value
            self.lines.setdefault((), line)
            return
        top = self.stack[-1]
        top.nodes += nodes
        if value is _MERGE and top.key_text is not None or isinstance(top.value, list):
            value = "<<" if value is _MERGE else value
        if isinstance(top.value, list):
            self.lines.setdefault((*top.path, len(top.value)), line)
            top.value.append(value)
        elif top.key_text is None:
            self._key(top, value, line, text)
        else:
            if top.key is _MERGE:
                merged = value if isinstance(value, list) else [value]
                if not all(isinstance(m, dict) for m in merged):
                    raise self.error(line, "YAML error: a merge key '<<' takes a mapping or a "
                                     "list of mappings")
                top.merges.extend(merged)
            else:
                top.value[top.key] = value
            top.key_text = None

    def _key(self, top: _Collection, key: Any, line: int, text: str | None) -> None:
        if isinstance(key, dict | list) or text is None and not _hashable(key):
            raise self.error(line, "YAML error: a mapping key must be a plain value such as a "
                             "name or a number, not a list or mapping")
        key_text = text if text is not None else str(key)
        if key is _MERGE:
            top.key, top.key_text = _MERGE, key_text
            return
        assert isinstance(top.value, dict)
        if key in top.key_lines:
            raise self.error(line, f"YAML error: key {key!r} is given twice (lines "
                             f"{top.key_lines[key]} and {line}); keep one of them")
        top.key_lines[key] = line
        top.key, top.key_text = key, key_text
        self.lines[(*top.path, key_text)] = line


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _plain_problem(problem: str) -> str:
    """The parser's complaint in plainer words where one is known."""
    for raw, plain in _PLAIN_PROBLEMS:
        if raw in problem:
            return plain
    return problem


def load_yaml_text(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse YAML text; a ConfigError names `source` and the line of any problem."""
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(f"{source}: file is {len(text):,} characters, over the limit of "
                          f"{MAX_FILE_BYTES:,} for a YAML file")
    assembler = _Assembler(source)
    try:
        for event in yaml.parse(text, Loader=_EventLoader):
            assembler.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = _plain_problem(exc.problem or str(exc))
        raise ConfigError(f"{where}: YAML error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {exc}") from None
    if assembler.root is None and not assembler.lines:
        return None, LineMap({})
    return assembler.root, LineMap(assembler.lines)


def load_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Read and parse a YAML file; a missing, unreadable or oversized file is a ConfigError."""
    p = Path(path)
    try:
        with p.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, expected a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{p}: file is over the limit of {MAX_FILE_BYTES:,} bytes "
                          f"({MAX_FILE_BYTES // 2**20} MiB) for a YAML file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: cannot read: not UTF-8 text (byte {exc.start})") from None
    return load_yaml_text(text, str(p))
