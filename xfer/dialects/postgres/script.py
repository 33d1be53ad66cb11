"""The PostgreSQL side of `xfer plan --sql`: the namespace a run creates, what undoes each of the
dialect's own DDL statements (for `down.sql`), and the `psql` command that applies a script.

`undo_sql` reads statements this dialect wrote (`ddl.py`, `apply.py`, the base class), whose
shapes are fixed; it is not a parser of arbitrary SQL, and says so (None) for one it does not know.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from xfer.dialects.capabilities import SQLScripts
from xfer.dialects.postgres.parts import PostgresPart

_IDENT = r'"(?:[^"]|"")*"'
_NAME = rf"{_IDENT}(?:\.{_IDENT})?"

# statement -> the drop that undoes it ({0}, {1}: the groups the pattern captures)
_UNDO: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"CREATE SCHEMA IF NOT EXISTS ({_IDENT})\s*$"), "DROP SCHEMA IF EXISTS {0}"),
    (re.compile(rf"CREATE TYPE ({_NAME}) AS ENUM \("), "DROP TYPE IF EXISTS {0}"),
    (re.compile(rf"CREATE COLLATION IF NOT EXISTS ({_NAME}) \("), "DROP COLLATION IF EXISTS {0}"),
    (re.compile(rf"CREATE SEQUENCE IF NOT EXISTS ({_NAME})\s*$"), "DROP SEQUENCE IF EXISTS {0}"),
    (re.compile(rf"CREATE TABLE ({_NAME}) \("), "DROP TABLE IF EXISTS {0}"),
    (
        re.compile(rf"ALTER TABLE ({_NAME}) ADD CONSTRAINT ({_IDENT}) "),
        "ALTER TABLE IF EXISTS {0} DROP CONSTRAINT IF EXISTS {1}",
    ),
    (re.compile(rf"CREATE (?:UNIQUE )?INDEX ({_IDENT}) ON ({_NAME}) "), "DROP INDEX IF EXISTS {schema}{0}"),
    (re.compile(rf"CREATE OR REPLACE FUNCTION ({_NAME})\(\) RETURNS trigger "), "DROP FUNCTION IF EXISTS {0}()"),
    (re.compile(rf"CREATE TRIGGER ({_IDENT}) [A-Z ]+ ON ({_NAME}) FOR EACH "), "DROP TRIGGER IF EXISTS {0} ON {1}"),
    (re.compile(rf"CREATE VIEW ({_NAME}) AS "), "DROP VIEW IF EXISTS {0}"),
]
# statements that create nothing a drop must undo: comments, sequences owned or moved, drops run
# before a create, and a primary key (it goes with its table; its name is PostgreSQL's choice)
_NOTHING = re.compile(
    rf"(COMMENT ON |ALTER SEQUENCE {_NAME} OWNED BY |SELECT setval\(|DROP |ALTER TABLE {_NAME} ADD PRIMARY KEY )"
)


class PostgresScripts(PostgresPart, SQLScripts):
    """Scripts for `psql` (needs the dialect's `schema_exists`, `url`)."""

    schema_exists: Any
    url: Any

    def schema_sql(self) -> list[str]:
        if self.schema_exists():  # (IF NOT EXISTS alone still needs CREATE on the database)
            return []
        return [f"CREATE SCHEMA IF NOT EXISTS {self.quote(self.schema)}"]

    def undo_sql(self, statement: str) -> list[str] | None:
        for pattern, drop in _UNDO:
            if m := pattern.match(statement):
                return [drop.format(*m.groups(), schema=f"{self.quote(self.schema)}.")]
        return [] if _NOTHING.match(statement) else None

    def apply_command(self, file: str) -> str:
        u = self.url
        args = ["psql", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        for flag, value in (("-h", u.host), ("-p", u.port), ("-U", u.username)):
            if value:
                args += [flag, str(value)]
        return shlex.join([*args, "-d", u.database or "", "-f", file])
