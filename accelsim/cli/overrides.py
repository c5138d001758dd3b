"""`--set PATH=VALUE` and `--hardware NAME`: what-ifs on a run file without editing it.

Each `--set` is a dotted path of the run file (the paths sweep axes use) and a YAML
value (`512 KiB`, `true`, `4`). It is validated alone on top of the file, like a value
written in it, so a bad one gives one line naming the `--set` and what is allowed; then
all of them together, so the result is exactly the file with those lines changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from accelsim.errors import ConfigError

if TYPE_CHECKING:
    from accelsim.config.models import RunConfig

__all__ = ["Overrides", "hardware_option", "is_run_file", "load_config", "parse_settings",
           "set_option"]

F = TypeVar("F", bound=Callable[..., Any])


def set_option(func: F) -> F:
    """The repeatable `--set PATH=VALUE` option (parameter `settings`)."""
    return click.option(
        "--set", "settings", multiple=True, metavar="PATH=VALUE",
        help="Set a run-file field, e.g. --set hardware.sram.capacity='512 KiB' "
             "(repeatable; dotted paths as in sweep axes).",
    )(func)


def hardware_option(func: F) -> F:
    """`--hardware NAME`: a hardware file or run file whose hardware replaces the run's."""
    return click.option(
        "--hardware", "hardware", default=None, metavar="NAME",
        help="Replace the run file's hardware with NAME's (a hardware file or a run file, "
             "looked up like RUNFILE; see `accelsim hw`).",
    )(func)


def parse_settings(settings: Sequence[str]) -> dict[str, Any]:
    """{dotted path: value} of `--set` texts; values are read as YAML scalars or lists."""
    import yaml

    out: dict[str, Any] = {}
    for text in settings:
        path, sep, raw = text.partition("=")
        path = path.strip()
        if not sep or not path or any(not part for part in path.split(".")):
            raise ConfigError(f"--set {text}: expected PATH=VALUE with a dotted run-file path, "
                              "e.g. --set hardware.sram.capacity='512 KiB'")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        out[path] = value
    return out


@dataclass(frozen=True)
class Overrides:
    """What was changed on top of a run file, for the resolved config and summary.json."""

    hardware: str | None = None
    settings: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The command-line form of the changes, one per line."""
        head = [f"--hardware {self.hardware}"] if self.hardware else []
        return head + [f"--set {text}" for text in self.settings]


def is_run_file(target: str) -> bool:
    """True when TARGET names a run file: a YAML file with `hardware`, or a bare .yaml name
    (looked up in hw_configs/ like `accelsim run`); else it is a model name or file."""
    from pathlib import Path

    from accelsim.yamlio import load_yaml

    path = Path(target)
    if path.suffix.lower() not in (".yaml", ".yml"):
        return False
    if path.is_file():
        data, _ = load_yaml(path)
        return isinstance(data, dict) and "hardware" in data
    return True


def _hardware_data(name: str) -> dict[str, Any]:
    """The raw hardware mapping of a hardware file, or of a run file's `hardware` section."""
    from accelsim.config.loader import find_config, load_hardware, load_run_data
    from accelsim.yamlio import load_yaml

    found = find_config(name)
    data, _ = load_yaml(found)
    if isinstance(data, dict) and "hardware" in data:
        run_data, _, _ = load_run_data(found)
        return dict(run_data["hardware"])
    load_hardware(found)  # errors name the hardware file and line
    assert isinstance(data, dict)
    return data


def load_config(
    runfile: str, settings: Sequence[str] = (), hardware: str | None = None
) -> tuple[RunConfig, Overrides]:
    """The validated RunConfig of `runfile` with `--hardware`, then each `--set`, applied."""
    from accelsim.config.loader import apply_overrides, load_run, load_run_data, validate
    from accelsim.config.models import RunConfig

    load_run(runfile)  # the file's own errors first, naming the file and line
    values: dict[str, Any] = {}
    if hardware is not None:
        values["hardware"] = _hardware_data(hardware)
    data, _, _ = load_run_data(runfile)
    data = apply_overrides(data, values)
    for text in settings:
        validate(RunConfig, apply_overrides(data, parse_settings([text])), f"--set {text}")
    values.update(parse_settings(settings))
    return load_run(runfile, values), Overrides(hardware, tuple(settings))
