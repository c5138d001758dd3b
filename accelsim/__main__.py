"""`python -m accelsim ...` runs the command line."""

from accelsim.cli.app import entry_point

entry_point()
