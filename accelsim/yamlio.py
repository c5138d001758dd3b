"""YAML loading that refuses duplicate keys and remembers where every value came from.

PyYAML silently keeps the last of two equal keys; a config with `capacity:` twice would
then run with a value the user did not mean. `load_yaml` raises instead, and returns a
`LineMap` so later validation errors can name the line of the offending field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from accelsim.errors import ConfigError

__all__ = ["LineMap", "load_yaml", "load_yaml_text"]


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


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that raises on duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"key {key!r} is given twice (lines {seen[key]} and {line}); "
                "keep one of them",
                key_node.start_mark,
            )
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def _record_lines(node: yaml.Node, path: tuple[str | int, ...], out: dict) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            out[path + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, path + (key,), out)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record_lines(item, path + (i,), out)


def load_yaml_text(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse YAML text; ConfigError names `source` and the line for syntax or duplicate keys."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - strict SafeLoader subclass
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = exc.problem or str(exc)
        raise ConfigError(f"{where}: YAML error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {exc}") from None
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return data, LineMap(lines)


def load_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    return load_yaml_text(text, str(p))
