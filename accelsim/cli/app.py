"""The click group, error handling and command registration.

Every command raises AccelsimError for bad input; `main` turns it into one line on
stderr and exit code 2, so a user never sees a traceback for their own mistake.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from accelsim import __version__
from accelsim.errors import AccelsimError

__all__ = ["cli", "main", "EXIT_BAD_INPUT"]

EXIT_BAD_INPUT = 2
#: Modules that each define one or more commands on `cli` when imported.
COMMAND_MODULES: tuple[str, ...] = (
    "accelsim.cli.models_cmd",
    "accelsim.cli.sweep_cmd",
    "accelsim.cli.run_cmd",
    "accelsim.cli.export_cmd",
    "accelsim.cli.verify_cmd",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="accelsim")
def cli() -> None:
    """accelsim: how long does this neural network take on this accelerator,
    and where does the time go?"""


def _register_commands() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(module)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 check failed, 2 bad input)."""
    _register_commands()
    try:
        result = cli.main(args=list(argv) if argv is not None else None,
                          prog_name="accelsim", standalone_mode=False)
    except AccelsimError as exc:
        click.echo(f"accelsim: error: {exc}", err=True)
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        click.echo("accelsim: aborted", err=True)
        return 130
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "accelsim"
        click.echo(f"accelsim: error: {exc.format_message()} (see '{command} --help')",
                   err=True)
        return EXIT_BAD_INPUT
    except click.ClickException as exc:
        click.echo(f"accelsim: error: {exc.format_message()}", err=True)
        return EXIT_BAD_INPUT if exc.exit_code == 2 else exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except OSError as exc:  # a full disk or a lost permission while writing: not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"accelsim: error: {where}{exc.strerror or exc}", err=True)
        return EXIT_BAD_INPUT
    return result if isinstance(result, int) else 0


def entry_point() -> None:
    """Console-script entry: exit with main()'s code."""
    sys.exit(main())
