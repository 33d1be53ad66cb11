"""The change-capture tests' harness, independent of xfer: a source schema with the fidelity
types a binlog carries, a writer thread that inserts, updates (primary keys too) and deletes
while xfer copies and follows, an independent comparator (pymysql and psycopg, values
normalised by the *source* column's type), and xfer as a child process whose output is read
line by line."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import re
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from faults import xfer_process

from tests.binlog_server import BinlogMariaDB

# --------------------------------------------------------------------------- the source schema

# parent <- child (ON DELETE CASCADE: MariaDB does not binlog the rows a cascade removes),
# pairs (composite key), typed (every type a binlog carries, a BIGINT UNSIGNED key that reaches
# 2^64-1). Every table has `hits` (+1 by every update) and `ver` (a number unique to each row
# image the writer makes: a change applied twice shows as the same ver applied twice).
SCHEMA = """
CREATE TABLE parent (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(40) NOT NULL,
  hits INT NOT NULL DEFAULT 0, ver BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE child (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  parent_id INT NOT NULL,
  note VARCHAR(60),
  hits INT NOT NULL DEFAULT 0, ver BIGINT NOT NULL DEFAULT 0,
  CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE
);
CREATE TABLE pairs (
  a INT NOT NULL, b VARCHAR(10) NOT NULL, v DOUBLE,
  hits INT NOT NULL DEFAULT 0, ver BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (a, b)
);
CREATE TABLE typed (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  ti TINYINT, ti_u TINYINT UNSIGNED, si SMALLINT, si_u SMALLINT UNSIGNED,
  mi MEDIUMINT, mi_u MEDIUMINT UNSIGNED, i INT, i_u INT UNSIGNED, bi BIGINT, bi_u BIGINT UNSIGNED,
  flag TINYINT(1),
  d_small DECIMAL(5,2), d_max DECIMAL(65,30), d_u DECIMAL(10,2) UNSIGNED,
  f FLOAT, dbl DOUBLE,
  dt DATE, dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), yr YEAR,
  c CHAR(10), vc VARCHAR(255), t TEXT, bl BLOB, bn BINARY(4), vb VARBINARY(64),
  e ENUM('a','b c','it''s','ÄÖ'), s SET('a','b','c d','é'),
  b1 BIT(1), b5 BIT(5), b64 BIT(64),
  j JSON,
  hits INT NOT NULL DEFAULT 0, ver BIGINT NOT NULL DEFAULT 0
);
"""
TABLES = ("parent", "child", "pairs", "typed")

U64 = 2**64 - 1
POOLS: dict[str, list[Any]] = {
    "ti": [-128, 127, 0], "ti_u": [0, 255], "si": [-32768, 32767], "si_u": [0, 65535],
    "mi": [-8388608, 8388607], "mi_u": [0, 16777215], "i": [-(2**31), 2**31 - 1], "i_u": [0, 2**32 - 1],
    "bi": [-(2**63), 2**63 - 1], "bi_u": [0, U64, 2**63],
    "flag": [0, 1],
    "d_small": [Decimal("-999.99"), Decimal("999.99"), Decimal("0.01"), Decimal("0")],
    "d_max": [Decimal("99999999999999999999999999999999999.999999999999999999999999999999"),
              Decimal("-99999999999999999999999999999999999.999999999999999999999999999999"),
              Decimal("0.000000000000000000000000000001"), Decimal("-1.5")],
    "d_u": [Decimal("0.00"), Decimal("99999999.99")],
    "f": [0.0, -0.0, 3.14159, 1.4e-45, 3.40282e38, -1.17549e-38],
    "dbl": [0.1, 1.7976931348623157e308, -2.2250738585072014e-308, 4.9e-324, 3.141592653589793, -0.0],
    "dt": ["1000-01-01", "9999-12-31", "2000-02-29", "1970-01-01"],
    "dtm": ["1000-01-01 00:00:00", "9999-12-31 23:59:59", "2024-02-29 12:00:00"],
    "dtm6": ["1000-01-01 00:00:00.000001", "9999-12-31 23:59:59.999999", "2000-02-29 12:34:56.500000"],
    "ts": ["1970-01-01 00:00:01", "2038-01-19 03:14:07.999999", "2024-03-31 01:30:00.123456"],
    "tm": ["838:59:59", "-838:59:59", "-00:00:01", "00:00:00.000001", "-00:00:00.500000", "24:00:00",
           "-12:34:56.789012"],
    "yr": [1901, 2155, 2000],
    "c": ["abc", "", "é🚀", "xxxxxxxxxx", " lead"],
    "vc": ["Zoë O'Brien — 山田 🚀", "tab\there", "  leading and trailing  ", "", "x" * 255,
           "ctl\x01\x1f\x7f 𝄞", "back\\slash 'q' \"dq\""],
    "t": ["", "ctl:\t\r\n\b\x1a\x01", "long " * 2000, "null", "NULL"],
    "bl": [bytes(range(256)), b"", b"\x00" * 100, b"\\\x00'\""],
    "bn": [b"\x00\xff\x7f\x80", b"\x01\x00\x00\x00", b"\x00\x00\x00\x00", b"ab", b"\xff\xff\xff\xff"],
    "vb": [b"", b"\x00", b"\\\x00'\"", b"x\x00\x00", bytes(range(64))],
    "e": ["a", "b c", "it's", "ÄÖ"],
    "s": ["", "a", "a,c d,é", "b", "a,b,c d,é"],
    "b1": [0, 1], "b5": [0, 21, 31], "b64": [0, U64, 2**63, 1],
    "j": ['{"a": [1, 2.5, {"b": null, "c": "ü🚀", "d": {"e": [[], {}]}}], "big": 12345678901234567890, '
          '"neg": -1e-7, "s": "q\\"uote"}', "[]", '"just a string"', "null", '{"k": 1.0e+2, "z": 0}', "{}"],
}  # fmt: skip
TYPED_COLUMNS = list(POOLS)


def random_value(rng: random.Random, name: str) -> Any:
    """An edge value of column `name` most of the time, NULL or an ordinary value otherwise."""
    r = rng.random()
    if r < 0.08:
        return None
    if r < 0.55 or name in ("e", "s", "flag", "b1", "j", "dt", "dtm", "dtm6", "ts", "tm", "bn"):
        return rng.choice(POOLS[name])
    match name:
        case "ti":
            return rng.randint(-128, 127)
        case "ti_u":
            return rng.randint(0, 255)
        case "si":
            return rng.randint(-30000, 30000)
        case "mi" | "i" | "bi":
            return rng.randint(-(10**6), 10**6)
        case "si_u" | "mi_u" | "i_u" | "bi_u":
            return rng.randint(0, 60000)
        case "d_small":
            return Decimal(rng.randint(-99999, 99999)) / 100
        case "d_max":
            return Decimal(rng.randint(-(10**40), 10**40)) / Decimal(10**20)
        case "d_u":
            return Decimal(rng.randint(0, 10**9)) / 100
        case "f" | "dbl":
            return rng.uniform(-1e6, 1e6)
        case "yr":
            return rng.randint(1901, 2155)
        case "c":
            return "".join(rng.choice("abcxyz é") for _ in range(rng.randint(0, 10)))
        case "vc":
            return f"v{rng.random()}"
        case "t":
            return "text " * rng.randint(0, 30)
        case "bl" | "vb":
            return rng.randbytes(rng.randint(0, 64))
        case "b5":
            return rng.randint(0, 31)
        case "b64":
            return rng.getrandbits(64)
    raise AssertionError(name)


def typed_row(rng: random.Random) -> dict[str, Any]:
    return {name: random_value(rng, name) for name in TYPED_COLUMNS}


def create_schema(conn: pymysql.connections.Connection) -> None:
    with conn.cursor() as cur:
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                cur.execute(stmt)


def load_rows(
    conn: pymysql.connections.Connection,
    seed: int,
    typed: int = 2000,
    parents: int = 300,
    children: int = 1500,
    pairs: int = 1000,
) -> None:
    """Initial rows (the part the copy reads)."""
    rng = random.Random(seed)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cols = ", ".join(f"`{c}`" for c in TYPED_COLUMNS)
        marks = ", ".join(["%s"] * (len(TYPED_COLUMNS) + 1))
        ids = list(range(1, typed + 1 - 3)) + [U64, U64 - 1, 2**63]
        for start in range(0, len(ids), 500):
            cur.executemany(
                f"INSERT INTO typed (id, {cols}) VALUES ({marks})",
                [(i, *typed_row(rng).values()) for i in ids[start : start + 500]],
            )
        cur.executemany("INSERT INTO parent (id, name) VALUES (%s, %s)", [(i, f"p{i}") for i in range(1, parents + 1)])
        cur.executemany(
            "INSERT INTO child (parent_id, note) VALUES (%s, %s)",
            [(rng.randint(1, parents), f"note {k} é") for k in range(children)],
        )
        cur.executemany(
            "INSERT INTO pairs (a, b, v) VALUES (%s, %s, %s)",
            [(k // 10, f"k{k % 10}", rng.random()) for k in range(pairs)],
        )


# --------------------------------------------------------------------------- the writer


@dataclass
class Counts:
    transactions: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0  # rows the writer deleted by key (cascaded child rows not counted)
    pk_updates: int = 0


class Workload(threading.Thread):
    """Random transactions of 1-4 changes on parent/child/pairs/typed until `stop()`: inserts,
    updates of values, updates of primary keys (typed, pairs, childless parents), deletes
    (parents cascade to their children), a key deleted and reinserted in one transaction, a
    key moved away and its old value reused. `rate`: transactions per second (None: flat out).
    Reconnects (and goes on) when the server goes away; any other error stops it and is raised
    by `stop()`."""

    def __init__(
        self,
        connect: Callable[[], pymysql.connections.Connection],
        seed: int,
        rate: float | None = None,
        delete_parents: bool = True,
    ):
        super().__init__(daemon=True)
        self.connect = connect
        self.delete_parents = delete_parents  # False: no ON DELETE CASCADE in the workload
        self.rng = random.Random(seed)
        self.rate = rate
        self.counts = Counts()
        self.ver = 0
        self.error: BaseException | None = None
        self.reconnects = 0
        self.commits: list[tuple[float, float]] = []  # (monotonic start, seconds) of each transaction
        self._halt = threading.Event()
        self._conn: pymysql.connections.Connection | None = None

    # ---- the keys that exist now (only this writer changes the tables while it runs)
    def _load_keys(self, cur: Any) -> None:
        cur.execute("SELECT id FROM typed")
        self.typed = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT id FROM parent")
        self.parents = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT id, parent_id FROM child")
        self.children = dict(cur.fetchall())
        cur.execute("SELECT a, b FROM pairs")
        self.pairs = {tuple(r) for r in cur.fetchall()}
        cur.execute(" UNION ALL ".join(f"SELECT COALESCE(MAX(ver), 0) FROM {t}" for t in TABLES))
        self.ver = max(self.ver, *(r[0] for r in cur.fetchall()))  # every image's ver stays unique
        self.next_typed = max(10**6, max((k for k in self.typed if k < 2**62), default=0)) + 1

    def _v(self) -> int:
        self.ver += 1
        return self.ver

    def _new_typed_id(self) -> int:
        if self.rng.random() < 0.05:
            candidate = U64 - self.rng.randint(2, 10**6)
            if candidate not in self.typed:
                return candidate
        self.next_typed += self.rng.randint(1, 3)
        return self.next_typed

    def _insert_typed(self, cur: Any, key: int) -> None:
        row = typed_row(self.rng)
        cols = ", ".join(f"`{c}`" for c in row)
        cur.execute(
            f"INSERT INTO typed (id, {cols}, ver) VALUES (%s, {', '.join(['%s'] * len(row))}, %s)",
            (key, *row.values(), self._v()),
        )
        self.typed.add(key)
        self.counts.inserted += 1

    def _one_change(self, cur: Any) -> None:
        rng, c = self.rng, self.counts
        op = rng.random()
        if op < 0.14 or not self.typed:
            self._insert_typed(cur, self._new_typed_id())
        elif op < 0.36:
            key = rng.choice(tuple(self.typed))
            row = typed_row(rng)
            chosen = rng.sample(list(row), rng.randint(1, 6))
            sets = ", ".join(f"`{n}` = %s" for n in chosen)
            cur.execute(
                f"UPDATE typed SET {sets}, hits = hits + 1, ver = %s WHERE id = %s",
                (*[row[n] for n in chosen], self._v(), key),
            )
            c.updated += 1
        elif op < 0.44:  # a primary-key update
            key, new = rng.choice(tuple(self.typed)), self._new_typed_id()
            cur.execute("UPDATE typed SET id = %s, hits = hits + 1, ver = %s WHERE id = %s", (new, self._v(), key))
            self.typed.discard(key)
            self.typed.add(new)
            c.updated += 1
            c.pk_updates += 1
            if rng.random() < 0.3:  # the old key comes back at once, with other values
                self._insert_typed(cur, key)
        elif op < 0.50:
            key = rng.choice(tuple(self.typed))
            cur.execute("DELETE FROM typed WHERE id = %s", (key,))
            self.typed.discard(key)
            c.deleted += 1
            if rng.random() < 0.4:  # deleted and reinserted in one transaction
                self._insert_typed(cur, key)
        elif op < 0.56:
            cur.execute("INSERT INTO parent (name, ver) VALUES (%s, %s)", (f"new {rng.random():.6f}", self._v()))
            self.parents.add(cur.lastrowid)
            c.inserted += 1
        elif op < 0.62 and self.parents:
            key = rng.choice(tuple(self.parents))
            cur.execute(
                "UPDATE parent SET name = %s, hits = hits + 1, ver = %s WHERE id = %s",
                (f"renamed {rng.random():.6f}", self._v(), key),
            )
            c.updated += 1
        elif op < 0.65 and self.parents:  # move a parent without children to a new key
            with_children = set(self.children.values())
            free = [p for p in self.parents if p not in with_children]
            if free:
                key = rng.choice(free)
                new = max(self.parents) + rng.randint(1, 5)
                cur.execute("UPDATE parent SET id = %s, hits = hits + 1, ver = %s WHERE id = %s", (new, self._v(), key))
                self.parents.discard(key)
                self.parents.add(new)
                c.updated += 1
                c.pk_updates += 1
        elif op < 0.68 and len(self.parents) > 20 and self.delete_parents:  # children go too (CASCADE)
            key = rng.choice(tuple(self.parents))
            cur.execute("DELETE FROM parent WHERE id = %s", (key,))
            self.parents.discard(key)
            self.children = {k: p for k, p in self.children.items() if p != key}
            c.deleted += 1
        elif op < 0.76 and self.parents:
            parent = rng.choice(tuple(self.parents))
            cur.execute(
                "INSERT INTO child (parent_id, note, ver) VALUES (%s, %s, %s)", (parent, f"c {rng.random()}", self._v())
            )
            self.children[cur.lastrowid] = parent
            c.inserted += 1
        elif op < 0.82 and self.children and self.parents:  # a change of parent too
            key = rng.choice(tuple(self.children))
            parent = rng.choice(tuple(self.parents)) if rng.random() < 0.5 else self.children[key]
            cur.execute(
                "UPDATE child SET parent_id = %s, note = %s, hits = hits + 1, ver = %s WHERE id = %s",
                (parent, None if rng.random() < 0.2 else f"n {rng.random()}", self._v(), key),
            )
            self.children[key] = parent
            c.updated += 1
        elif op < 0.85 and self.children:
            key = rng.choice(tuple(self.children))
            cur.execute("DELETE FROM child WHERE id = %s", (key,))
            del self.children[key]
            c.deleted += 1
        elif op < 0.89:
            key = (rng.randint(0, 300), f"n{rng.randint(0, 99)}")
            if key not in self.pairs:
                cur.execute("INSERT INTO pairs (a, b, v, ver) VALUES (%s, %s, %s, %s)", (*key, rng.random(), self._v()))
                self.pairs.add(key)
                c.inserted += 1
        elif op < 0.94 and self.pairs:
            key = rng.choice(tuple(self.pairs))
            cur.execute(
                "UPDATE pairs SET v = %s, hits = hits + 1, ver = %s WHERE a = %s AND b = %s",
                (rng.choice([None, rng.random(), -0.0, 1e308]), self._v(), *key),
            )
            c.updated += 1
        elif op < 0.97 and self.pairs:  # one part of a composite key changes
            key = rng.choice(tuple(self.pairs))
            new = (key[0], f"m{rng.randint(0, 999)}") if rng.random() < 0.5 else (key[0] + 1000, key[1])
            if new not in self.pairs:
                cur.execute(
                    "UPDATE pairs SET a = %s, b = %s, hits = hits + 1, ver = %s WHERE a = %s AND b = %s",
                    (*new, self._v(), *key),
                )
                self.pairs.discard(key)
                self.pairs.add(new)
                c.updated += 1
                c.pk_updates += 1
        elif self.pairs:
            key = rng.choice(tuple(self.pairs))
            cur.execute("DELETE FROM pairs WHERE a = %s AND b = %s", key)
            self.pairs.discard(key)
            c.deleted += 1

    def _transaction(self) -> None:
        if self._conn is None:
            self._conn = self.connect()
            with self._conn.cursor() as cur:
                cur.execute("SET time_zone = '+00:00'")
                self._load_keys(cur)
        conn = self._conn
        snapshot = (set(self.typed), set(self.parents), dict(self.children), set(self.pairs), self.next_typed)
        counts = Counts(**vars(self.counts))
        began = time.monotonic()
        try:
            conn.begin()
            with conn.cursor() as cur:
                for _ in range(self.rng.randint(1, 4)):
                    self._one_change(cur)
            conn.commit()
            self.counts.transactions += 1
            self.commits.append((began, time.monotonic() - began))
        except BaseException:
            self.typed, self.parents, self.children, self.pairs, self.next_typed = snapshot
            self.counts = counts
            with contextlib.suppress(Exception):
                conn.rollback()
            raise

    def run(self) -> None:
        started = time.monotonic()
        try:
            while not self._halt.is_set():
                try:
                    self._transaction()
                except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
                    # the server went away (a restart): reconnect and go on
                    with contextlib.suppress(Exception):
                        if self._conn is not None:
                            self._conn.close()
                    self._conn = None
                    self.reconnects += 1
                    time.sleep(0.2)
                    continue
                if self.rate:
                    ahead = self.counts.transactions / self.rate - (time.monotonic() - started)
                    if ahead > 0:
                        self._halt.wait(ahead)
        except BaseException as exc:  # noqa: BLE001 - handed to the test by stop()
            self.error = exc
        finally:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()

    def longest_wait(self, start: float, end: float) -> float:
        """The longest a transaction that began between `start` and `end` took (seconds)."""
        return max((d for b, d in list(self.commits) if start <= b <= end), default=0.0)

    def committed_between(self, start: float, end: float) -> int:
        return sum(1 for b, d in list(self.commits) if start <= b and b + d <= end)

    def stop(self) -> Counts:
        self._halt.set()
        self.join(60)
        assert not self.is_alive(), "the writer did not stop"
        if self.error is not None:
            raise AssertionError(f"the writer failed: {self.error!r}") from self.error
        return self.counts


# --------------------------------------------------------------------------- the comparator


def _f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def _freeze(obj: Any) -> Any:
    if isinstance(obj, dict):
        return ("{}", tuple(sorted((k, _freeze(v)) for k, v in obj.items())))
    if isinstance(obj, list):
        return ("[]", tuple(_freeze(v) for v in obj))
    return obj


def _bits(v: Any) -> int:
    if isinstance(v, bool | int):
        return int(v)
    if isinstance(v, str):
        return int(v, 2) if v else 0
    return int.from_bytes(bytes(v), "big")


def _interval(v: Any) -> dt.timedelta:
    if isinstance(v, dt.time):
        return dt.timedelta(hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond)
    assert isinstance(v, dt.timedelta), v
    return v


def _naive_utc(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    return v


def _set(v: Any) -> tuple[str, ...]:
    items = v.split(",") if isinstance(v, str) else list(v)
    return tuple(sorted(x for x in items if x != ""))


def _json(v: Any) -> Any:
    import json

    return ("json", _freeze(json.loads(v)))


def _normaliser(kind: str) -> Callable[[Any], Any]:
    """How a value of a source column of `kind` compares, read from either side."""
    return {
        "int": int,
        "decimal": lambda v: Decimal(v),
        "float": lambda v: _f32(float(v)),
        "double": float,
        "date": lambda v: v,
        "datetime": _naive_utc,
        "time": _interval,
        "char": lambda v: v.rstrip(" "),
        "text": str,
        "bytes": bytes,
        "enum": str,
        "set": _set,
        "bit": _bits,
        "json": _json,
    }[kind]


_KINDS = {
    "tinyint": "int", "smallint": "int", "mediumint": "int", "int": "int", "bigint": "int", "year": "int",
    "decimal": "decimal", "float": "float", "double": "double",
    "date": "date", "datetime": "datetime", "timestamp": "datetime", "time": "time",
    "char": "char", "varchar": "text", "tinytext": "text", "text": "text", "mediumtext": "text", "longtext": "text",
    "binary": "bytes", "varbinary": "bytes", "tinyblob": "bytes", "blob": "bytes", "mediumblob": "bytes",
    "longblob": "bytes", "enum": "enum", "set": "set", "bit": "bit",
}  # fmt: skip


@dataclass
class TableShape:
    name: str
    columns: list[str]
    kinds: list[str]
    key: list[str]
    normalise: list[Callable[[Any], Any]] = field(default_factory=list)
    key_positions: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.normalise = [_normaliser(k) for k in self.kinds]
        self.key_positions = [self.columns.index(k) for k in self.key]

    def row(self, values: Iterable[Any]) -> tuple[Any, ...]:
        return tuple(None if v is None else f(v) for f, v in zip(self.normalise, values, strict=True))

    def key_of(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[i] for i in self.key_positions)


def source_shape(conn: pymysql.connections.Connection, table: str) -> TableShape:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_KEY FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (table,),
        )
        cols = cur.fetchall()
        cur.execute(
            "SELECT CONSTRAINT_NAME FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CHECK_CLAUSE LIKE 'json_valid(%%'",
            (table,),
        )
        json_cols = {r[0] for r in cur.fetchall()}
        cur.execute(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
            (table,),
        )
        key = [r[0] for r in cur.fetchall()]
    assert cols, f"no table {table} in the source"
    names = [c[0] for c in cols]
    kinds = ["json" if c[0] in json_cols else _KINDS[c[1].lower()] for c in cols]
    return TableShape(table, names, kinds, key or names)


def source_rows(conn: pymysql.connections.Connection, shape: TableShape) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Rows by key, normalised. FLOAT read at full precision, TIMESTAMP in UTC."""
    exprs = [
        f"CAST(`{c}` AS DOUBLE)" if k == "float" else f"`{c}`" for c, k in zip(shape.columns, shape.kinds, strict=True)
    ]
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT {', '.join(exprs)} FROM `{shape.name}`")
        rows = [shape.row(r) for r in cur.fetchall()]
    out = {shape.key_of(r): r for r in rows}
    assert len(out) == len(rows), f"{shape.name}: duplicate keys in the source"
    return out


def target_rows(pg: psycopg.Connection[Any], shape: TableShape, schema: str = "public") -> dict[Any, Any]:
    types = dict(
        pg.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (schema, shape.name),
        ).fetchall()
    )
    missing = [c for c in shape.columns if c not in types]
    if missing:
        raise AssertionError(f"{shape.name}: column(s) {missing} missing in the target (it has {sorted(types)})")
    exprs = [f'"{c}"::text' if types[c] in ("json", "jsonb") else f'"{c}"' for c in shape.columns]
    rows = [shape.row(r) for r in pg.execute(f'SELECT {", ".join(exprs)} FROM "{schema}"."{shape.name}"').fetchall()]
    out = {shape.key_of(r): r for r in rows}
    if len(out) != len(rows):
        raise AssertionError(f"{shape.name}: {len(rows) - len(out)} duplicate key(s) in the target")
    return out


def differences(
    src: pymysql.connections.Connection, pg: psycopg.Connection[Any], tables: Iterable[str] = TABLES, limit: int = 8
) -> list[str]:
    """What differs between source and target, table by table (empty: identical row for row)."""
    out: list[str] = []
    for table in tables:
        shape = source_shape(src, table)
        s = source_rows(src, shape)
        try:
            t = target_rows(pg, shape)
        except (AssertionError, psycopg.Error) as exc:
            out.append(f"{table}: {exc}")
            continue
        lines = []
        for key in sorted(s.keys() - t.keys(), key=repr):
            lines.append(f"{table} {key}: missing in the target")
        for key in sorted(t.keys() - s.keys(), key=repr):
            lines.append(f"{table} {key}: in the target only: {t[key]!r:.200}")
        for key in sorted((k for k in s.keys() & t.keys() if s[k] != t[k]), key=repr):
            cols = [
                f"{c}: source {a!r:.80} target {b!r:.80}"
                for c, a, b in zip(shape.columns, s[key], t[key], strict=True)
                if a != b
            ]
            lines.append(f"{table} {key}: " + "; ".join(cols))
        if lines:
            out.append(f"{table}: {len(lines)} row(s) differ ({len(s)} source rows, {len(t)} target rows)")
            out.extend(lines[:limit])
    return out


def wait_converged(
    src: pymysql.connections.Connection,
    pg: psycopg.Connection[Any],
    tables: Iterable[str] = TABLES,
    timeout: float = 20,
    follower: XferRun | None = None,
) -> list[str]:
    """Poll until the target equals the source; the last differences when it never does (or
    when `follower` ended meanwhile: the output then says why)."""
    tables = list(tables)
    deadline = time.monotonic() + timeout
    while True:
        ended = follower is not None and follower.proc.poll() is not None
        diff = differences(src, pg, tables)
        if not diff or time.monotonic() > deadline:
            return diff
        if ended:
            return [*diff, f"(the follower ended, exit code {follower.proc.returncode}:\n{follower.output})"]
        time.sleep(0.3)


# --------------------------------------------------------------------------- xfer as a process

FOLLOWING = re.compile(r"^following .+ from \S+:\d+", re.M)


def _db(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


def writer_connect(server: BinlogMariaDB, url: str) -> Any:
    db = _db(url)
    return lambda: pymysql.connect(
        host="127.0.0.1", port=server.port, user="root", password="", database=db, charset="utf8mb4",
        autocommit=False, connect_timeout=3,
    )  # fmt: skip


def start_following(src: str, dst: str, cwd: Path, *extra: str, timeout: float = 120) -> XferRun:
    """`xfer migrate SRC DST --follow` in the background, returned once it says it follows."""
    run = XferRun(["migrate", src, dst, "--follow", *extra], cwd)
    deadline = time.monotonic() + timeout
    while not FOLLOWING.search(run.output):
        if run.proc.poll() is not None or time.monotonic() > deadline:
            run.__exit__(None, None, None)
            raise AssertionError(f"migrate --follow never said 'following ... from FILE:POS':\n{run.output}")
        time.sleep(0.05)
    return run


class XferRun:
    """`python -m xfer ARGS` in the background, its output (stdout and stderr) collected."""

    def __init__(self, args: list[str], cwd: Path):
        self.args = args
        self.proc: subprocess.Popen[bytes] = xfer_process(args, cwd)
        self._lines: list[str] = []
        self._times: list[float] = []  # when each line arrived (time.monotonic())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._times.append(time.monotonic())
            self._lines.append(raw.decode(errors="replace"))

    def printed_at(self, pattern: str) -> float | None:
        """When (time.monotonic()) the first line matching the regular expression was printed."""
        for at, line in zip(list(self._times), list(self._lines), strict=False):
            if re.search(pattern, line):
                return at
        return None

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for(self, text: str, timeout: float = 120) -> bool:
        """True once `text` was printed; False when the process ended or time ran out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            if self.proc.poll() is not None:
                self._reader.join(5)
                return text in self.output
            time.sleep(0.05)
        return False

    def signal(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 120) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"xfer {' '.join(self.args)} did not end within {timeout} s:\n{self.output}") from None
        self._reader.join(5)
        return rc

    def __enter__(self) -> XferRun:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        print(f"$ xfer {' '.join(self.args)}\n{self.output}[exit code {self.proc.returncode}]")


def xfer(args: list[str], cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """Run xfer to its end (killed, and the test failed, after `timeout` s): (exit code, output)."""
    with XferRun(args, cwd) as run:
        code = run.wait(timeout)
    return code, run.output
