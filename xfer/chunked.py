"""A journaled table copy, chunk by chunk (the sequential path: any source, a PostgreSQL target).

A table with a single-column integer primary key is cut into key ranges of about
`--batch-size` rows (`k > lo AND k <= hi`, the first and last open-ended, so every row falls in
exactly one); any other table is one chunk. Each chunk is read, converted and written in one
transaction on the target, which also marks it done in the journal (xfer.journal), so it is
copied exactly once however often the run is interrupted and resumed. A chunk that fails with
a transient error (a lost connection, a deadlock) is rolled back and tried again, reconnecting
first; a permanent error fails the table, naming the chunk.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from typing import Any

import pyarrow as pa

from .checksum import Checksum, Hasher
from .copy import _write, nul_columns, table_policies
from .dialects.base import Dialect
from .errors import CopyError, XferError
from .journal import ChunkState, Journal
from .options import Options
from .plan import TablePlan
from .progress import ProgressFactory
from .report import TableResult
from .retry import RetryPolicy
from .transform import conform
from .urls import redact

log = logging.getLogger("xfer")

Range = tuple[str | None, int | None, int | None]  # (source key column, exclusive low, inclusive high)


def key_ranges(source: Dialect, tp: TablePlan, chunk_rows: int) -> list[Range]:
    """Key ranges of about `chunk_rows` rows each (cut evenly between MIN and MAX of the key),
    or one range for the whole table."""
    t = tp.source
    whole: list[Range] = [(None, None, None)]
    if tp.mapped is not None or len(t.primary_key) != 1:
        return whole
    col = t.column(t.primary_key[0])
    if not pa.types.is_integer(col.arrow):
        return whole
    q = source.quote(col.name)
    sql = f"SELECT MIN({q}), MAX({q}), COUNT(*) FROM {source.qualified(t.name)}"
    try:
        ((lo, hi, n),) = source._query(sql)  # type: ignore[attr-defined]
    except Exception as exc:  # the driver's own error: transient or not, as the dialect says
        msg = redact(str(exc), source.url.secret)
        raise CopyError(f"{t.name}: finding its key ranges: {msg}", transient=source.is_transient(exc)) from None
    if lo is None or int(n) <= chunk_rows:
        return whole
    lo, hi = int(lo), int(hi)
    chunks = math.ceil(int(n) / chunk_rows)
    points = sorted({lo - 1 + (hi - lo + 1) * i // chunks for i in range(1, chunks)} - {lo - 1})
    bounds: list[int | None] = [None, *points, None]
    return [(col.name, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def range_where(source: Dialect, c: ChunkState) -> str | None:
    if c.key is None:
        return None
    q = source.quote(c.key)
    parts = ([f"{q} > {int(c.lo)}"] if c.lo is not None else []) + ([f"{q} <= {int(c.hi)}"] if c.hi is not None else [])
    return " AND ".join(parts) or None


def describe(c: ChunkState, total: int) -> str:
    """'chunk 3/10 (id > 2000 and <= 3000)', for messages."""
    what = f"chunk {c.chunk + 1}/{total}"
    if c.key is None:
        return what + " (the whole table)"
    lo = f"{c.key} > {c.lo}" if c.lo is not None else ""
    hi = f"{c.key} <= {c.hi}" if c.hi is not None else ""
    return f"{what} ({' and '.join(p for p in (lo, hi) if p)})"


def copy_chunks(
    source: Dialect,
    target: Dialect,
    tp: TablePlan,
    r: TableResult,
    options: Options,
    progress: ProgressFactory,
    journal: Journal,
    retry: RetryPolicy,
) -> Checksum:
    """Copy the chunks of `tp` not yet done in `journal`; the table's checksum of every chunk
    (done before or now) for verification. A permanent error marks the table failed."""
    t0 = time.monotonic()
    name = tp.source.name
    bar = progress(tp.target.name, tp.source.row_estimate)
    total = Checksum()
    counts: dict[str, Counter[str]] = {}  # what value policies did, over every chunk
    chunks: list[ChunkState] = []
    c: ChunkState | None = None
    try:
        chunks = journal.chunks(name) or journal.add_chunks(
            name,
            retry.run(f"{name}: key ranges", lambda: key_ranges(source, tp, options.batch_size), source.reconnect),
        )
        pending = [c for c in chunks if not c.done]
        if pending and len(pending) < len(chunks):
            log.info("%s: %d of %d chunks already copied", name, len(chunks) - len(pending), len(chunks))
        if pending:
            journal.set_table(name, "copying")
        for c in chunks:
            if not c.done:
                what = f"{name}: {describe(c, len(chunks))}"

                def once(c: ChunkState = c) -> None:
                    journal.attempt(c)
                    _copy_one(source, target, tp, r, options, journal, c)

                retry.run(what, once, lambda: _reconnect(source, target))
            for col, n in c.policies.items():
                counts.setdefault(col, Counter()).update(n)
            bar.update(c.rows)
            r.bytes += c.bytes
            total = total + c.checksum
            r.rejected_rows += c.rejected
        journal.set_table(name, "copied")
        r.source_rows = total.rows
    except XferError as exc:
        where = describe(c, len(chunks)) if c is not None else "planning its chunks"
        r.status = "failed"
        r.error = f"{where}: {exc}" + (f" ({total.rows} rows had been committed)" if total.rows else "")
        r.source_rows = None
        journal.set_table(name, "failed", r.error)
        log.debug("%s: %s", name, r.error)
    finally:
        bar.close()
        r.seconds = time.monotonic() - t0
        r.policies = {col: dict(n) for col, n in counts.items()}
    return total


def _copy_one(
    source: Dialect,
    target: Dialect,
    tp: TablePlan,
    r: TableResult,
    options: Options,
    journal: Journal,
    c: ChunkState,
) -> None:
    """One chunk, in one target transaction that also marks it done."""
    policies = table_policies(tp, options)
    texts = nul_columns(tp, target)
    schema = tp.target.arrow_schema
    hasher = Hasher(tp.hash_schema, tp.json_columns)
    isolated: list[dict[str, Any]] = []
    where = range_where(source, c)
    if where is None:
        batches = tp.read(source, options.batch_size, policies=policies)
    else:
        batches = source.read_batches(tp.source, options.batch_size, where=where, policies=policies)
    try:
        with journal.chunk(target, c) as mark:
            for batch in batches:
                if texts:
                    batch = policies.apply_nul_bytes(batch, texts)
                out = conform(batch, schema, tp.source.name)
                mark.bytes += out.nbytes
                mark.rows += _write(target, tp, out, hasher, isolated)
            mark.checksum = hasher.checksum
            mark.rejects = policies.rejects + isolated
            mark.policies = {col: dict(n) for col, n in policies.counts.items()}
    finally:
        hasher.close()
        # end the source's read now (a half-read MySQL stream would block the retry's query),
        # not whenever the traceback that references it is collected
        close = getattr(batches, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # a dead connection: the error that matters is already on its way
                pass


def _reconnect(source: Dialect, target: Dialect) -> None:
    """Both ends afresh: which one was lost does not matter, and a new source reader starts a
    new snapshot (noted by the dialect)."""
    source.reconnect()
    target.reconnect()
