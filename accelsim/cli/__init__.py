"""The `accelsim` command line. The only module that prints, exits or chooses file names."""

from __future__ import annotations

from accelsim.cli.app import cli, main

__all__ = ["cli", "main"]
