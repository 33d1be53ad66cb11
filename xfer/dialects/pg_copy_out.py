"""`COPY … TO STDOUT` streamed through the `psql` client, for the verifier's full-table scans.

psycopg hands a COPY's output over one row per call: about 1.5 µs of Python per row, on the
GIL the verifier's hashing also needs (2M rows: 2.9 s of client CPU). `psql` writes the same
bytes into a pipe from C (0.2 s), and Arrow's CSV reader reads that pipe in 8 MB blocks. The
session adopts the caller's exported snapshot, so it reads exactly what the caller's
transaction sees. Used when `psql` is on PATH (it is wherever the PostgreSQL client tools are
installed) and `XFER_PG_COPY` is not `psycopg`; otherwise the psycopg path runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ..errors import CopyError
from ..urls import redact

COPY_ENV = "XFER_PG_COPY"  # auto (default) | psycopg


def psql_path() -> str | None:
    if os.environ.get(COPY_ENV, "auto").strip().lower() == "psycopg":
        return None
    return shutil.which("psql")


def conninfo(params: dict[str, Any]) -> str:
    """libpq's key=value form: the same keywords psycopg was given (password excluded)."""

    def quoted(v: Any) -> str:
        return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{k}={quoted(v)}" for k, v in params.items() if k != "password" and v is not None)


@contextmanager
def psql_copy_out(psql: str, params: dict[str, Any], snapshot: str | None, sql: str) -> Iterator[IO[bytes]]:
    """The output of `sql` (a COPY … TO STDOUT) as a readable pipe. Raises CopyError when psql
    fails (after the block, if it failed while the caller read)."""
    steps = ["-c", sql]
    if snapshot:
        snap = snapshot.replace("'", "")
        steps = ["-c", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "-c", f"SET TRANSACTION SNAPSHOT '{snap}'"]
        steps += ["-c", sql]
    env = dict(os.environ)
    password = params.get("password")
    if password:  # never on the command line, where `ps` shows it
        env["PGPASSWORD"] = str(password)
    argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo(params), *steps]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    failed = False
    try:
        yield proc.stdout
    except BaseException:
        failed = True
        raise
    finally:
        if proc.poll() is None and failed:
            proc.kill()  # the reader gave up: don't wait for the rest of the table
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        rc = proc.wait()
        if rc != 0 and not failed:
            last = err.splitlines()[-1] if err else f"psql exited with code {rc}"
            raise CopyError(f"psql: {redact(last, str(password or ''))}")
