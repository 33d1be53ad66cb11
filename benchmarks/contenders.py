"""The contenders of one benchmark round, each loading the same MariaDB table into its own
PostgreSQL schema: xfer, pgloader, and the floors (the `mariadb` client reading the rows to a
file; `psql \\copy` loading that file, then building the same two indexes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from . import data
from .measure import Run, run

SCHEMAS = {"xfer": "bench_xfer", "pgloader": "bench_pgloader", "floor": "bench_floor"}

# pgloader's documented way to take MySQL zero dates (without it, the load aborts on the
# first one: "date/time field value out of range"); everything else is its defaults.
PGLOADER_LOAD = """LOAD DATABASE
  FROM {mysql}
  INTO {postgres}
  INCLUDING ONLY TABLE NAMES MATCHING '{table}'
  CAST type date to date drop default drop not null using zero-dates-to-null,
       type datetime to timestamptz drop default drop not null using zero-dates-to-null
  ALTER SCHEMA '{database}' RENAME TO '{schema}';
"""


@dataclass
class Servers:
    mysql: Any  # sqlalchemy URL of the benchmark's MariaDB database
    postgres: Any  # sqlalchemy URL of the PostgreSQL database the schemas go into

    def mysql_url(self) -> str:
        return self.mysql.render_as_string(hide_password=False)

    def pg_url(self, schema: str | None = None) -> str:
        url = self.postgres.render_as_string(hide_password=False)
        return f"{url}?schema={schema}" if schema else url

    def pg_connect(self) -> psycopg.Connection[Any]:
        u = self.postgres
        params = {"host": u.host, "port": u.port, "user": u.username, "password": u.password, "dbname": u.database}
        return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})

    def reset_schema(self, schema: str, *, create: bool = True) -> None:
        with self.pg_connect() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            if create:
                conn.execute(f'CREATE SCHEMA "{schema}"')

    def count(self, schema: str) -> int | None:
        with self.pg_connect() as conn:
            try:
                return int(conn.execute(f'SELECT count(*) FROM "{schema}".{data.TABLE}').fetchone()[0])
            except psycopg.Error:
                return None

    def pg_env(self) -> dict[str, str]:
        u = self.postgres
        env = dict(os.environ)
        env.update(PGHOST=u.host or "127.0.0.1", PGPORT=str(u.port or 5432), PGUSER=u.username or "postgres")
        env["PGDATABASE"] = u.database or "postgres"
        if u.password:
            env["PGPASSWORD"] = u.password
        return env


def xfer_migrate(s: Servers, jobs: int, extra: list[str], report: Path) -> Run:
    schema = SCHEMAS["xfer"]
    s.reset_schema(schema, create=False)
    argv = [sys.executable, "-m", "xfer", "migrate", s.mysql_url(), s.pg_url(schema), "-t", data.TABLE]
    argv += ["--jobs", str(jobs), "--no-verify", "--quiet", "--report", str(report), *extra]
    r = run("xfer migrate", argv)
    r.extra["target_rows"] = s.count(schema)
    return r


def xfer_verify(s: Servers) -> Run:
    argv = [sys.executable, "-m", "xfer", "verify", s.mysql_url(), s.pg_url(SCHEMAS["xfer"]), "-t", data.TABLE]
    return run("xfer verify", [*argv, "--quiet"])


def pgloader(s: Servers, workdir: Path) -> Run:
    schema = SCHEMAS["pgloader"]
    s.reset_schema(schema, create=False)
    m = s.mysql
    mysql = f"mysql://{m.username or 'root'}{':' + m.password if m.password else ''}@{m.host or '127.0.0.1'}"
    mysql += f":{m.port or 3306}/{m.database}"
    load = workdir / "bench.load"
    load.write_text(
        PGLOADER_LOAD.format(mysql=mysql, postgres=s.pg_url(), table=data.TABLE, database=m.database, schema=schema)
    )
    r = run("pgloader", ["pgloader", "--no-ssl-cert-verification", str(load)])
    r.extra["target_rows"] = s.count(schema)
    return r


def mariadb_read(s: Servers, out: Path) -> Run:
    """The `mariadb` client streaming the rows to a tab-separated file (zero dates as NULL, so
    that PostgreSQL takes the file)."""
    m = s.mysql
    exprs = [
        f"IF(YEAR({c}) = 0 OR MONTH({c}) = 0 OR DAYOFMONTH({c}) = 0, NULL, {c})" if c in ("created_at", "birth") else c
        for c in data.COLUMNS
    ]
    argv = ["mariadb", "--quick", "--batch", "--skip-column-names", f"--host={m.host or '127.0.0.1'}"]
    argv += [f"--port={m.port or 3306}", f"--user={m.username or 'root'}", "--default-character-set=utf8mb4"]
    env = dict(os.environ, MYSQL_PWD=m.password or "")
    argv += [m.database, "-e", f"SELECT {', '.join(exprs)} FROM {data.TABLE}"]
    with out.open("wb") as f:
        r = run("mariadb read", argv, env=env, stdout=f)
    r.extra["bytes"] = out.stat().st_size
    return r


def psql_copy(s: Servers, tsv: Path) -> tuple[Run, Run]:
    """`psql \\copy` of the file into a table shaped like xfer's (no indexes), then the indexes."""
    schema = SCHEMAS["floor"]
    s.reset_schema(schema)
    with s.pg_connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".{data.TABLE} (LIKE "{SCHEMAS["xfer"]}".{data.TABLE})')
    target = f'"{schema}".{data.TABLE}'
    copy = run("psql \\copy", ["psql", "-v", "ON_ERROR_STOP=1", "-c", f"\\copy {target} FROM '{tsv}' (NULL 'NULL')"],
               env=s.pg_env())  # fmt: skip
    index_sql = f"ALTER TABLE {target} ADD PRIMARY KEY (id); CREATE INDEX ON {target} (created_at)"
    index = run("index build", ["psql", "-v", "ON_ERROR_STOP=1", "-c", index_sql], env=s.pg_env())
    copy.extra["target_rows"] = s.count(schema)
    return copy, index


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="xfer-bench-"))


def check(r: Run) -> Run:
    if r.returncode != 0:
        raise SystemExit(f"benchmark: {r.name} failed (exit {r.returncode}):\n{r.output[-2000:]}")
    return r


__all__ = ["Servers", "have", "check", "workdir", "subprocess"]
