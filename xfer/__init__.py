"""xfer: move whole databases between engines through Arrow, and prove nothing was lost.

The library does everything the command line does; each `xfer` command is a thin layer over one
of these functions:

    import xfer

    report = xfer.migrate("sqlite:///shop.sqlite", "duckdb:///shop.duckdb", if_exists="replace")
    print(report.status)                      # ok | rejected | failed | mismatch
    check = xfer.verify("sqlite:///shop.sqlite", "duckdb:///shop.duckdb")
    plan = xfer.plan("mysql://root@127.0.0.1/shop", "postgresql://127.0.0.1/app")
    xfer.plan_sql("mysql://root@127.0.0.1/shop", "postgresql://127.0.0.1/app", "migration/")  # up/down .sql
    found = xfer.inspect("mysql://root@127.0.0.1/shop")

Options come as an `Options` object (grouped: `Selection`, `CopyOptions`, `Policies`,
`VerifyOptions`, `RunOptions`; a wrong value raises `UsageError` when it is made) and/or as
keyword arguments by the command line's flat names (`jobs=4`, `verify_method="client"`).
A mapping file is `load_mapping(path)`, passed as `mapping=`. Errors are `XferError` and its
subclasses; `exit_code` is what the CLI exits with (1 error, 2 usage, 3 verification mismatch).
"""

from xfer.api import cutover, follow, inspect, migrate, plan, plan_sql, status, verify
from xfer.copy.script import MigrationSQL
from xfer.core import __version__
from xfer.core.changes import Position
from xfer.core.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_USAGE,
    ConnectError,
    CopyError,
    Interrupted,
    MissingDriverError,
    TargetExistsError,
    UsageError,
    VerificationMismatch,
    XferError,
)
from xfer.core.options import CopyOptions, Options, Policies, RunOptions, Selection, VerifyOptions
from xfer.core.progress import ProgressEvents, Tracker
from xfer.core.report import Inspection, RunReport, TableResult, Verification
from xfer.core.schema import Column, ForeignKey, Index, Table
from xfer.dialects.capabilities import FollowState
from xfer.follow.follower import FollowResult
from xfer.mapping import Mapping, MappingError, load_mapping
from xfer.planning.build import Plan, TablePlan

__all__ = [
    "cutover",
    "follow",
    "status",
    "FollowResult",
    "FollowState",
    "Position",
    "EXIT_ERROR",
    "EXIT_MISMATCH",
    "EXIT_OK",
    "EXIT_USAGE",
    "Column",
    "ConnectError",
    "CopyError",
    "CopyOptions",
    "ForeignKey",
    "Index",
    "Inspection",
    "Mapping",
    "MappingError",
    "MigrationSQL",
    "MissingDriverError",
    "Options",
    "Plan",
    "Policies",
    "ProgressEvents",
    "RunOptions",
    "RunReport",
    "Selection",
    "Table",
    "TablePlan",
    "TableResult",
    "TargetExistsError",
    "Tracker",
    "UsageError",
    "Verification",
    "VerificationMismatch",
    "VerifyOptions",
    "XferError",
    "Interrupted",
    "EXIT_INTERRUPTED",
    "__version__",
    "inspect",
    "load_mapping",
    "migrate",
    "plan",
    "plan_sql",
    "verify",
]
