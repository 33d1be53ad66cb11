"""The errors xfer raises, each with the exit code the CLI maps it to.

Exit codes (documented in the README): 0 success, 1 error, 2 usage, 3 verification mismatch,
130 interrupted.
Messages are one line, say what and where, and never contain a password.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_MISMATCH = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class XferError(Exception):
    """Base of every error xfer reports to a user; anything else is a bug."""

    exit_code = EXIT_ERROR
    #: set where a driver error is converted: the engine's dialect says whether trying again
    #: may work (a dropped connection, a deadlock) -- see Dialect.is_transient
    transient = False

    def __init__(self, message: str, *, hint: str | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.transient = transient

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class UsageError(XferError):
    """The command line, a URL or a mapping file is wrong: nothing was touched."""

    exit_code = EXIT_USAGE


class ConnectError(XferError):
    """A server could not be reached, refused the login, or the database does not exist."""


class MissingDriverError(XferError):
    """The Python driver for an engine is not installed."""


class TargetExistsError(XferError):
    """A target table already holds rows and --if-exists did not say what to do."""


class CopyError(XferError):
    """Reading, converting or writing a table's rows failed. `row_error`: the target refused
    the rows' data or integrity (not the connection or the statement), so splitting the batch
    can isolate the rows it refuses; `duplicate_key`: what it refused is a key the table already
    holds (e.g. rows added again with --if-exists append), which no fix of the values cures."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        transient: bool = False,
        row_error: bool = False,
        duplicate_key: bool = False,
    ) -> None:
        super().__init__(message, hint=hint, transient=transient)
        self.row_error = row_error
        self.duplicate_key = duplicate_key


class VerificationMismatch(XferError):
    """Source and target differ: row counts or checksums."""

    exit_code = EXIT_MISMATCH


class Interrupted(XferError):
    """Ctrl-C (or SIGTERM where the command handles it): the work in hand was finished or rolled
    back, nothing half-written; the hint says how to go on."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, *, hint: str | None = None, run_id: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.run_id = run_id  # the journaled run to resume or roll back, if there is one
