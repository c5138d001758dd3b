"""Option types whose bad values give one `accelsim: error:` line naming the option.

click's own types raise usage errors; these raise AccelsimError so `main` reports them
like every other bad input: one line, exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from accelsim.errors import AccelsimError

__all__ = ["Choice", "Number", "project_dirs", "shown_path"]


class Number(click.ParamType):
    """An int or float option whose bad value gives one `accelsim: error:` line.

    click's own types raise a usage error, which prints the usage block as well; raising
    AccelsimError lets `main` report it like every other bad input: one line, exit 2.
    """

    def __init__(self, kind: type[int] | type[float]) -> None:
        self.kind = kind
        self.name = kind.__name__

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse the option's text as this type."""
        if isinstance(value, self.kind):
            return value
        try:
            return self.kind(value)
        except ValueError:
            option = param.opts[0] if param is not None else "option"
            wanted = "an integer" if self.kind is int else "a number"
            raise AccelsimError(f"{option}: expected {wanted}, got {value!r}") from None


class Choice(click.ParamType):
    """A choice whose bad value gives one `accelsim: error:` line (click's prints usage).

    The choices may be given as a function returning them, called on first use: defining
    the option then imports nothing (`accelsim run` forks its plot process first).
    """

    name = "choice"

    def __init__(self, choices: tuple[str, ...] | Callable[[], tuple[str, ...]]) -> None:
        self._choices = choices

    @property
    def choices(self) -> tuple[str, ...]:
        """The accepted values."""
        if callable(self._choices):
            self._choices = self._choices()
        return self._choices

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Accept exactly one of the choices."""
        if value in self.choices:
            return value
        option = param.opts[0] if param is not None else "option"
        raise AccelsimError(f"{option}: must be one of {', '.join(self.choices)}, got {value!r}")

    def get_metavar(  # click < 8.2 passes no ctx
        self, param: click.Parameter, ctx: click.Context | None = None
    ) -> str:
        """Show the choices in --help."""
        return "[" + "|".join(self.choices) + "]"


def shown_path(path: Path) -> str:
    """A path relative to the working directory when it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def project_dirs(name: str) -> list[Path]:
    """./NAME of the working directory and the project's NAME/, those that exist, once each."""
    from accelsim.config.loader import PROJECT_DIR

    unique: dict[Path, Path] = {}
    for folder in (Path.cwd() / name, PROJECT_DIR / name):
        if folder.is_dir():
            unique.setdefault(folder.resolve(), folder)
    return list(unique.values())
