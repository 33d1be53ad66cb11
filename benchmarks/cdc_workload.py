"""The change-capture benchmark's source workload, and how a target is compared with it.

One MariaDB database per contender holds the table `items` (int auto_increment key, varchar,
int, decimal, datetime(6), nullable text) with N base rows, generated inside MariaDB from its
`seq_1_to_N` sequence engine. A *burst* is 120 transactions (5 of 12 insert, 5 update, 2 delete
rows; 1,000 rows each at the default 120,000 events), all of them set-based statements, so the
burst's own seconds are the server's. The *steady* writer commits 100-row transactions (80
inserts, 20 updates) at a fixed rate from a thread and logs each commit's time and the largest id
it left, which turns "the target's max id" into "how many seconds behind" (`lag_samples`).
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pymysql

TABLE = "items"
DDL = f"""
CREATE TABLE {TABLE} (
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  qty INT NOT NULL,
  price DECIMAL(12,2) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  body TEXT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
COLUMNS = "name, qty, price, updated_at, body"
# Values of the n-th generated row (`seq` from the sequence engine plus an offset).
VALUES = """CONCAT('item ', {n}, IF({n} % 10 = 0, ' – Zoë', '')),
  ({n} * 7919) % 100000,
  (({n} * 37) % 1000000) / 100,
  TIMESTAMP'2024-01-01 00:00:00' + INTERVAL {n} SECOND + INTERVAL ({n} * 7) % 1000000 MICROSECOND,
  IF({n} % 5 = 0, NULL, REPEAT(MD5({n}), 1 + {n} % 3))"""
UPDATE_SET = (
    "qty = qty + 1, price = price + 1.25, updated_at = updated_at + INTERVAL 1 SECOND, "
    "body = CONCAT('upd ', LEFT(COALESCE(body, ''), 40))"
)
PATTERN = "IUIUDIUIUDIU"  # 5 inserts, 5 updates, 2 deletes per 12 transactions, interleaved
FETCH = "SELECT id, name, qty, price, updated_at, body FROM {} ORDER BY id"


@dataclass
class Shape:
    """How many rows each kind of change touches: `events` row events in 120 transactions."""

    rows: int
    events: int
    rounds: int
    txns: int = 120

    @property
    def per_txn(self) -> int:
        return max(1, self.events // self.txns)

    def count(self, kind: str) -> int:
        return PATTERN.count(kind) * (self.txns // len(PATTERN)) * self.per_txn

    def check(self) -> None:
        if self.txns % len(PATTERN):
            raise SystemExit(f"transactions ({self.txns}) must be a multiple of {len(PATTERN)}")
        # updates take the lowest ids (the same rows every round), deletes fresh ranges from the top
        need = self.count("U") + self.rounds * self.count("D")
        if need > self.rows:
            raise SystemExit(f"--rows {self.rows} is too small for {self.rounds} burst(s) of --events "
                             f"{self.events}: updates and deletes need {need} base rows")  # fmt: skip


def connect(port: int, db: str | None = None, host: str = "127.0.0.1") -> pymysql.connections.Connection:
    return pymysql.connect(host=host, port=port, user="root", password="", database=db, autocommit=True,
                           charset="utf8mb4")  # fmt: skip


def create(port: int, db: str, rows: int) -> None:
    """A fresh database with `rows` base rows (ids 1..rows)."""
    with contextlib.closing(connect(port)) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{db}`")
        cur.execute(DDL)
        for lo in range(1, rows + 1, 50_000):
            hi = min(lo + 49_999, rows)
            # explicit ids: InnoDB leaves auto-increment gaps between bulk INSERT … SELECTs, and the
            # bursts' updates and deletes address base rows by id range
            cur.execute(
                f"INSERT INTO {TABLE} (id, {COLUMNS}) SELECT seq, {VALUES.format(n='seq')} FROM seq_{lo}_to_{hi}"
            )


def burst(port: int, db: str, shape: Shape, round_: int) -> tuple[float, int]:
    """One burst of `shape.events` row events; returns its wall seconds (first statement to last
    commit) and the id of a row its last transaction changed (a cheap probe of "caught up")."""
    k = shape.per_txn
    inserted = shape.rows + round_ * shape.count("I")  # value numbers continue past earlier rounds
    updated = 0
    deleted = shape.rows - round_ * shape.count("D")  # deletes walk down from here
    with contextlib.closing(connect(port, db)) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION autocommit = 0")
        t0 = time.perf_counter()
        for i in range(shape.txns):
            kind = PATTERN[i % len(PATTERN)]
            if kind == "I":
                n = f"(seq + {inserted})"
                cur.execute(f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {VALUES.format(n=n)} FROM seq_1_to_{k}")
                inserted += k
                probe = cur.lastrowid
            elif kind == "U":
                cur.execute(f"UPDATE {TABLE} SET {UPDATE_SET} WHERE id BETWEEN %s AND %s", (updated + 1, updated + k))
                updated += k
                probe = updated
            else:
                cur.execute(f"DELETE FROM {TABLE} WHERE id BETWEEN %s AND %s", (deleted - k + 1, deleted))
                probe = deleted
                deleted -= k
            if cur.rowcount != k:
                raise RuntimeError(f"burst transaction {i} ({kind}) touched {cur.rowcount} rows, not {k}")
            conn.commit()
        return time.perf_counter() - t0, probe


# --------------------------------------------------------------------------- comparing


# The probe: the largest id and one row's values, by primary key: cheap enough to poll every
# 50 ms without loading the target (the full fingerprint scans the table: polled only after
# the probe matches, since a target equal to the source matches the probe too).
PROBE = "SELECT (SELECT max(id) FROM {t}), qty, price FROM {t} RIGHT JOIN (SELECT 1) one ON id = %s"


def probe_mysql(port: int, db: str, row: int) -> tuple[Any, ...]:
    with contextlib.closing(connect(port, db)) as conn, conn.cursor() as cur:
        cur.execute(PROBE.format(t=TABLE), (row,))
        return _norm(cur.fetchone())


def probe_pg(conn: Any, table: str, row: int) -> tuple[Any, ...] | None:
    import psycopg

    try:
        return _norm(conn.execute(PROBE.format(t=table), (row,)).fetchone())
    except psycopg.errors.UndefinedTable:
        return None


def _norm(r: Any) -> tuple[Any, ...]:
    top, qty, price = r
    return (None if top is None else int(top), qty, None if price is None else Decimal(price))


def fingerprint_mysql(port: int, db: str) -> tuple[int, int, Decimal]:
    with contextlib.closing(connect(port, db)) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*), COALESCE(SUM(qty), 0), COALESCE(SUM(price), 0) FROM {TABLE}")
        n, q, p = cur.fetchone()
    return int(n), int(q), Decimal(p)


def fingerprint_pg(conn: Any, table: str) -> tuple[int, int, Decimal] | None:
    """count(*), sum(qty), sum(price) of the target (None while the table does not exist yet)."""
    import psycopg

    try:
        sql = f"SELECT count(*), COALESCE(sum(qty), 0), COALESCE(sum(price), 0) FROM {table}"
        n, q, p = conn.execute(sql).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return int(n), int(q), Decimal(p)


def rows_mysql(port: int, db: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(connect(port, db)) as conn, conn.cursor() as cur:
        cur.execute(FETCH.format(TABLE))
        return [tuple(r) for r in cur.fetchall()]


def rows_pg(conn: Any, table: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(FETCH.format(table)).fetchall()]


def first_difference(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> str | None:
    """None when the two ordered row lists are equal, else a short description of where they part."""
    if a == b:
        return None
    for x, y in zip(a, b, strict=False):
        if x != y:
            return f"source {x!r} vs target {y!r}"
    return f"{len(a)} source rows vs {len(b)} target rows"


# --------------------------------------------------------------------------- steady writes


@dataclass
class Steady:
    """A writer thread committing `rate` rows/s in 100-row transactions for `seconds`."""

    port: int
    db: str
    rate: int
    seconds: float
    first_value: int  # value number of the first generated row (continues past the bursts)
    update_ids: int  # updates cycle over ids 1..update_ids
    commits: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, max id after)
    rows: int = 0
    elapsed: float = 0.0
    last_update: int = 1  # id of a row the last transaction updated (the probe)
    error: BaseException | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="steady-writer", daemon=True)
        self._thread.start()

    def join(self) -> None:
        assert self._thread is not None
        self._thread.join()
        if self.error:
            raise self.error

    def _run(self) -> None:
        try:
            self._write()
        except BaseException as e:  # reported by join()
            self.error = e

    def _write(self) -> None:
        batch, ins = 100, 80
        tick = batch / self.rate
        n, u = self.first_value, 0
        with contextlib.closing(connect(self.port, self.db)) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION autocommit = 0")
            t0 = time.monotonic()
            i = 0
            while True:
                due = t0 + i * tick
                if due - t0 >= self.seconds:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                cur.execute(f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {VALUES.format(n=f'(seq + {n})')} "
                            f"FROM seq_1_to_{ins}")  # fmt: skip
                n += ins
                lo = u % self.update_ids + 1
                hi = min(lo + batch - ins - 1, self.update_ids)
                cur.execute(f"UPDATE {TABLE} SET {UPDATE_SET} WHERE id BETWEEN %s AND %s", (lo, hi))
                u += hi - lo + 1
                self.last_update = hi
                cur.execute(f"SELECT MAX(id) FROM {TABLE}")
                top = int(cur.fetchone()[0])
                conn.commit()
                self.commits.append((time.monotonic(), top))
                self.rows += ins + hi - lo + 1
                i += 1
            self.elapsed = time.monotonic() - t0


def lag_samples(commits: list[tuple[float, int]], samples: list[tuple[float, int]]) -> list[float]:
    """Seconds each target sample (time, max id) was behind: the age, at the sample's time, of the
    oldest committed source transaction whose rows the target did not have yet (0 when none)."""
    tops = [top for _, top in commits]
    out = []
    for t, have in samples:
        i = bisect.bisect_right(tops, have)  # first commit the target lacks
        out.append(max(0.0, t - commits[i][0]) if i < len(commits) and commits[i][0] <= t else 0.0)
    return out
