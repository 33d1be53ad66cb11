"""The command line: a thin layer over the library (`xfer.api`). Each command parses its
arguments, calls one library function and formats what it returns."""

from xfer.cli import runs as _runs  # noqa: F401  (registers runs, rollback, restore)
from xfer.cli.app import main

__all__ = ["main"]
