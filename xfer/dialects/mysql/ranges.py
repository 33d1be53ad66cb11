"""MySQL/MariaDB as a `RangeReader`: tables cut into key ranges that parallel workers read at
once, all seeing one state of the data; and the verifier's reads in key ranges under a lock.

Consistency (`--consistency`):
- `lock` (default): `LOCK TABLES … READ` on every copied table, held by one coordinator session
  until the last row is read. Readers on any connection see the same rows, so each range can be
  read by connectorx (one connection per call); writes to those tables wait until the copy is
  done. mysqldump's default (`--lock-tables`) does the same.
- `snapshot`: the source stays writable. One InnoDB snapshot shared by every worker, lined up
  the way mydumper does it: the coordinator takes `FLUSH TABLES WITH READ LOCK` (commits pause
  for milliseconds), each worker opens its connection and runs `START TRANSACTION WITH
  CONSISTENT SNAPSHOT`, then `UNLOCK TABLES`. Workers read over those connections (pymysql).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from copy import copy as shallow_copy
from typing import Any

import pyarrow as pa

from xfer.core import heap
from xfer.core.errors import CopyError, XferError
from xfer.core.options import CopyOptions
from xfer.core.policies import ValuePolicies
from xfer.core.schema import Table
from xfer.core.urls import Url, redact
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import KeyRange, RangeReader, Tally
from xfer.dialects.mysql.fast import (
    chunk_count,
    integer_key,
    kinds,
    neutral_batch,
    range_conditions,
    range_predicate,
    read_chunk_cx,
    reader_choice,
    sliced,
)
from xfer.dialects.mysql.fast import (
    split_points as cut_points,
)

log = logging.getLogger("xfer")

SMALL_TABLE_BYTES = 256 << 10  # a table this small, in a run of more than MANY_TABLES, is read by pymysql
MANY_TABLES = 50
VERIFY_CHUNK_BYTES = 8 << 20  # a connectorx read holds its key range whole (two at a time): bounds memory


def close_quietly(thing: Any) -> None:
    """Close a cursor or connection whose connection may have been killed: pymysql then fails
    while finishing the stream, and that must not hide the error being raised."""
    try:
        thing.close()
    except Exception:
        pass


class MySQLRanges(RangeReader):
    """The key-range methods of the MySQL dialect (needs its connections and readers)."""

    url: Url
    mariadb: bool
    reader: Any  # the snapshot connection, while one is open
    verify_reader: str
    _pymysql: Any
    _locked: bool  # inside read_lock: connectorx may read for the verifier
    _live: bool = False  # inside live_reads: so may it, each key range at its own moment
    _query: Callable[..., list[tuple[Any, ...]]]
    _open: Callable[..., Any]
    _snapshot_reader: Callable[[], Any]
    quote: Callable[[str], str]
    read_batches: Callable[..., Iterator[pa.RecordBatch]]

    @property
    def secret(self) -> str | None:  # the password in use (MySQL's: from the URL or MYSQL_PWD)
        raise NotImplementedError

    _coordinator: Any = None  # the session holding the copy's lock (or lining snapshots up)
    _coordinator_locks = False
    _verify_sizes: dict[str, int] | None = None  # table sizes, read once for the verifier

    # -- planning the ranges ---------------------------------------------------------------
    def table_sizes(self) -> dict[str, int]:
        rows = self._query(
            "SELECT TABLE_NAME, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        )
        return {name: int(n or 0) for name, n in rows}

    def chunk_key(self, table: Table) -> str | None:
        return integer_key(table)

    def split_points(self, table: Table, key: str, chunks: int) -> list[int]:
        return cut_points(self._query, table, key, chunks)

    def range_reader(self, consistency: str) -> str:
        """connectorx where it loads, under the lock; a snapshot is read over each worker's own
        connection, which only pymysql can do."""
        return reader_choice(self.url) if consistency in ("lock", "none") else "pymysql"

    def table_reader(
        self, reader: str, table: Table, size: int, splits: bool, options: CopyOptions, tables: int = 1
    ) -> tuple[str, int]:
        if reader == "connectorx" and not splits and size > options.chunk_bytes:
            reader = "pymysql"  # one connectorx call would hold the whole table in memory
        if reader == "connectorx" and tables > MANY_TABLES and size <= SMALL_TABLE_BYTES:
            reader = "pymysql"  # over a kept connection: connectorx connects anew for every read
        if reader != "pymysql":
            return reader, options.batch_size
        # the pymysql reader holds a batch as Python objects first: size it in bytes too
        per_row = max(size // max(table.row_estimate or 1, 1), 1)
        return reader, max(1000, min(options.batch_size, options.batch_bytes // per_row))

    # -- the consistent view ---------------------------------------------------------------
    def begin_consistent(
        self, tables: Sequence[str], consistency: str, workers: int, notes: list[str]
    ) -> list[Dialect | None]:
        pymysql = self._pymysql
        readers: list[Any] = [None] * workers
        coord = self._open(streaming=False)
        try:
            with coord.cursor() as cur:
                cur.execute("SET SESSION lock_wait_timeout = 60")
                if consistency == "none":  # following: the change log repairs what moved meanwhile
                    self._coordinator, self._coordinator_locks = coord, False
                    return readers
                if consistency == "lock":
                    cur.execute("LOCK TABLES " + ", ".join(f"{self.quote(t)} READ" for t in tables))
                    self._coordinator, self._coordinator_locks = coord, True
                    return readers
                aligned = False
                try:
                    if workers > 1:  # one worker has one snapshot: nothing to line up
                        cur.execute("FLUSH TABLES WITH READ LOCK")
                        aligned = True
                except pymysql.err.MySQLError as exc:
                    notes.append(
                        f"snapshots not aligned across workers ({exc.args[-1]}): "
                        "use --jobs 1 for one snapshot, or grant RELOAD"
                    )
                try:
                    for i in range(workers):
                        mine = shallow_copy(self)  # the same dialect, reading through its own snapshot
                        mine.reader = self._snapshot_reader()
                        readers[i] = mine
                finally:
                    if aligned:
                        cur.execute("UNLOCK TABLES")
            self._coordinator, self._coordinator_locks = coord, False
            return readers
        except BaseException as exc:
            close_quietly(coord)
            self.end_consistent(readers)
            if not isinstance(exc, pymysql.err.MySQLError):
                raise
            other = "snapshot" if consistency == "lock" else "lock"
            raise CopyError(
                f"--consistency {consistency}: MySQL refused: {exc.args[-1]}",
                hint=f"nothing was copied; --consistency {other} needs other privileges",
            ) from None

    def end_consistent(self, readers: Sequence[Dialect | None]) -> None:
        for r in readers:
            if isinstance(r, MySQLRanges) and r.reader is not None:
                try:
                    r.reader.rollback()
                    r.reader.close()
                except Exception:  # a dead connection must not mask the run's own error
                    pass
        coord, self._coordinator = self._coordinator, None
        if coord is None:
            return
        try:
            with coord.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            coord.close()
        except Exception:
            if self._coordinator_locks:  # the lock went with its connection, at some point during the copy
                log.warning(
                    "the connection holding the source tables' read lock was lost during the copy: rows "
                    "written to the source since may be missing; run `xfer verify` to compare"
                )

    # -- reading a range -------------------------------------------------------------------
    def read_range(
        self, part: KeyRange, reader: str, batch_rows: int, batch_bytes: int, policies: ValuePolicies, tally: Tally
    ) -> Generator[pa.RecordBatch, None, None]:
        """connectorx reads the range whole (GIL released) and it is sliced into batches; a
        range it cannot read, and every range under a snapshot, is read by pymysql, streaming."""
        table = part.table
        where = range_predicate(part.key, part.lo, part.hi, self.quote)
        t0 = time.perf_counter()
        if reader == "connectorx":
            how = kinds(table, self.mariadb)
            flags = "null" if policies.zero_dates == "null" else "text"  # zero dates: counted, or their text kept
            try:
                whole = read_chunk_cx(self.url, table, f" WHERE {where}" if where else "", self, how, flags)
            except CopyError as exc:
                tally.reader = "pymysql"
                tally.notes.append(f"read with pymysql: {exc}")
                # a lost or killed connection is worth saying (it is a retry); a type connectorx
                # cannot read is routine
                (log.warning if exc.transient else log.info)("%s: %s; reading this chunk with pymysql", table.name, exc)
            else:
                _spent(tally, "read", t0)
                for raw in sliced(whole, batch_rows, batch_bytes):
                    t0 = time.perf_counter()
                    batch = neutral_batch(raw, table, how, policies, flags)
                    _spent(tally, "transform", t0)
                    yield batch
                return
        it = self.read_batches(table, batch_rows, where=where, policies=policies)
        try:
            while True:
                t0 = time.perf_counter()
                batch = next(it, None)
                _spent(tally, "read", t0)
                if batch is None:
                    return
                yield batch
        finally:
            if isinstance(it, Generator):  # end the read now, on this thread
                it.close()

    # -- the verifier's reads ----------------------------------------------------------------
    @contextmanager
    def read_lock(self, tables: Sequence[str]) -> Iterator[str | None]:
        """`LOCK TABLES … READ` on a connection of its own (mysqldump's --lock-tables): while it
        is held, the verifier's connectorx readers, one connection per key range, see what the
        snapshot sees. Without connectorx there is nothing to gain: no lock."""
        if not tables or reader_choice(self.url) != "connectorx":
            yield None
            return
        conn = self._open(streaming=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION lock_wait_timeout = 60")
                cur.execute("LOCK TABLES " + ", ".join(f"{self.quote(t)} READ" for t in tables))
        except self._pymysql.err.MySQLError as exc:
            close_quietly(conn)
            raise XferError(
                f"MySQL: could not lock the source tables for reading: {redact(str(exc), self.secret)}",
                hint="use --consistency snapshot (no lock, a slower reader)",
            ) from None
        self._locked = True
        try:
            yield "source tables locked against writes while they were read (--consistency lock)"
        finally:
            self._locked = False
            close_quietly(conn)  # closing the session releases the lock

    @contextmanager
    def live_reads(self, tables: Sequence[str]) -> Iterator[str | None]:
        """No lock, no snapshot: connectorx reads key ranges as they are, each at its own moment
        (the verifier reads what differs again: `xfer.verification.live`)."""
        self._live = True
        try:
            yield None
        finally:
            self._live = False

    def verify_batches(self, table: Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Under `read_lock`, connectorx reads the table in key ranges of about VERIFY_CHUNK_BYTES
        (bounded memory, no per-row Python); otherwise, or when a range cannot be read that
        way, the snapshot's pymysql reader."""
        from xfer.dialects.mysql.fast import integer_key

        key = integer_key(table)
        if self._verify_sizes is None:  # every table's size in one catalogue query, not one per table
            self._verify_sizes = self.table_sizes()
        size = self._verify_sizes.get(table.name, 0)
        held = "as they are (no lock)" if self._live else "under the read lock"
        if not (self._locked or self._live) or (key is None and int(size) > VERIFY_CHUNK_BYTES):
            self.verify_reader = "pymysql" if self._live else "pymysql, in the snapshot"
            yield from self.read_batches(table, batch_rows)
            return
        self.verify_reader = f"connectorx, in key ranges {held}"
        points = cut_points(self._query, table, key, chunk_count(int(size), VERIFY_CHUNK_BYTES)) if key else []
        conds = range_conditions(key, points, self.quote)
        how = kinds(table, self.mariadb)

        def read(cond: str | None) -> pa.Table | CopyError:
            try:
                return read_chunk_cx(self.url, table, f" WHERE {cond}" if cond else "", self, how, flags="none")
            except CopyError as exc:
                return exc

        # The next key range is read (GIL released) while this one's batches are hashed.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xfer-verify-cx") as pool:
            ahead = pool.submit(read, conds[0])
            for i, cond in enumerate(conds):
                got = ahead.result()
                if i + 1 < len(conds):
                    ahead = pool.submit(read, conds[i + 1])
                if isinstance(got, CopyError):
                    if got.transient:
                        raise got
                    log.info("verify: %s; reading %s with pymysql instead", got, table.name)
                    self.verify_reader = f"connectorx and pymysql, in key ranges {held}"
                    yield from self.read_batches(table, batch_rows, cond)
                    continue
                for raw in got.to_batches(batch_rows):
                    yield neutral_batch(raw, table, how, None, flags="none")
                del got
                heap.trim()  # the range's buffers back to the OS: memory stays flat (`heap`)


def _spent(tally: Tally, stage: str, since: float) -> None:
    tally.stages[stage] = tally.stages.get(stage, 0.0) + time.perf_counter() - since
