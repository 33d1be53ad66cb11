"""Helpers for the reliability tests: xfer as a real process (so it can be killed), checks made
with plain SQL and the drivers (never with xfer's own code), and a catalogue-wide snapshot."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pymysql

REPO = Path(__file__).resolve().parent.parent


def xfer_process(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`python -m xfer ARGS` as a child process (stdout and stderr together)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "xfer", *args], cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def run_xfer(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> tuple[int, str]:
    p = xfer_process(args, cwd, env)
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out.decode(errors="replace")


def wait_until(check: Callable[[], bool], timeout: float = 120, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


# -- the journal, read with plain SQL ----------------------------------------------------------
def journal_exists(pg: psycopg.Connection[Any]) -> bool:
    return pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = '_xfer'").fetchone() is not None


def chunks_done(pg: psycopg.Connection[Any]) -> int:
    if not journal_exists(pg):
        return 0
    try:
        return int(pg.execute("SELECT count(*) FROM _xfer.chunks WHERE done_at IS NOT NULL").fetchone()[0])
    except psycopg.errors.UndefinedTable:  # the schema is there, its tables are being created
        return 0


# -- rows on both sides, compared independently of xfer -------------------------------------------
def _norm(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return v.normalize() if v else decimal.Decimal(0)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, memoryview):
        return bytes(v)
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None).isoformat()
    return v


def mysql_rows(conn: pymysql.connections.Connection, table: str, columns: str = "*") -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM `{table.replace('`', '``')}`")
        return sorted((tuple(_norm(v) for v in row) for row in cur.fetchall()), key=repr)


def pg_rows(
    pg: psycopg.Connection[Any], table: str, schema: str = "public", columns: str = "*"
) -> list[tuple[Any, ...]]:
    q = f'"{schema}"."{table.replace(chr(34), chr(34) * 2)}"'
    rows = pg.execute(f"SELECT {columns} FROM {q}").fetchall()
    return sorted((tuple(_norm(v) for v in row) for row in rows), key=repr)


# -- the whole catalogue ---------------------------------------------------------------------------
CATALOGUE_SQL = """
SELECT 'schema', nspname, '', '' FROM pg_namespace
UNION ALL SELECT 'relation ' || c.relkind::text, n.nspname, c.relname, '' FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname <> 'pg_toast'
UNION ALL SELECT 'column', n.nspname, c.relname, a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE a.attnum > 0 AND NOT a.attisdropped AND n.nspname <> 'pg_toast'
UNION ALL SELECT 'type ' || t.typtype::text, n.nspname, t.typname, '' FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
UNION ALL SELECT 'function', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
UNION ALL SELECT 'trigger', n.nspname, c.relname, t.tgname FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
UNION ALL SELECT 'constraint', n.nspname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
  JOIN pg_namespace n ON n.oid = c.connamespace
UNION ALL SELECT 'sequence', n.nspname, c.relname, s.seqtypid::regtype::text FROM pg_sequence s
  JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
"""


def catalogue(pg: psycopg.Connection[Any]) -> set[tuple[str, ...]]:
    """Every schema, relation (tables, views, indexes, sequences), column, type, function,
    trigger, constraint and sequence of the database, by name."""
    return {tuple(r) for r in pg.execute(CATALOGUE_SQL).fetchall()}
