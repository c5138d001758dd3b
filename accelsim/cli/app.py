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

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "LazyGroup", "cli", "main"]

EXIT_BAD_INPUT = 2
#: Command name -> (module defining it on `cli`, its one-line help). A module is imported
#: only when its command runs, so `accelsim --help` imports no pandas, matplotlib or
#: pydantic; tests check these lines against the commands' own docstrings.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("accelsim.cli.run_cmd", "Simulate RUNFILE and write its report."),
    "compare": ("accelsim.cli.compare_cmd",
                "Compare runs side by side: summary, per-layer differences, a plot."),
    "hw": ("accelsim.cli.hw_cmd", "List the bundled hardware configs and run files."),
    "models": ("accelsim.cli.models_cmd",
               "List the built-in models and the model files in ./models and the "
               "repository's models/."),
    "summary": ("accelsim.cli.models_cmd",
                "Per-layer shapes, multiply-accumulates and parameters of MODEL."),
    "schema": ("accelsim.cli.run_cmd",
               "Print the JSON Schema of run files, for editors that validate YAML."),
    "sweep": ("accelsim.cli.sweep_cmd",
              "Simulate every design point of SWEEPFILE (a base run file and axes)."),
    "verify": ("accelsim.cli.verify_cmd",
               "Replay TARGET's schedule with a bounded SRAM and compare with direct execution."),
    "export": ("accelsim.cli.export_cmd",
               "Write MODEL's conv and dense layers as input files of another simulator."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (see COMMANDS)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, in the order of COMMANDS."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing the module that defines it."""
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            importlib.import_module(COMMANDS[cmd_name][0])
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of --help from COMMANDS, without importing any command."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in COMMANDS.items()])


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="accelsim")
def cli() -> None:
    """accelsim: how long does this neural network take on this accelerator,
    and where does the time go?"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 check failed, 2 bad input)."""
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
