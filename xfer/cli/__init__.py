"""The command line: a thin layer over the library (`xfer.api`). Each command parses its
arguments, calls one library function and formats what it returns.

`app.py` holds the group and what the commands share; each command module imports it and
registers its commands on `main` when imported here (so `app.py` imports no command module)."""

from xfer.cli import follow as _follow  # noqa: F401  (registers follow, cutover, status)
from xfer.cli import migrate as _migrate  # noqa: F401  (registers migrate)
from xfer.cli import plan as _plan  # noqa: F401  (registers plan, inspect)
from xfer.cli import runs as _runs  # noqa: F401  (registers runs, rollback, restore)
from xfer.cli import verify as _verify  # noqa: F401  (registers verify)
from xfer.cli.app import main

__all__ = ["main"]
