"""Keys and indexes after the data, built at once on several PostgreSQL connections."""

from __future__ import annotations

import logging
import queue
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from xfer.core.errors import XferError
from xfer.core.report import TableResult
from xfer.dialects.base import Dialect
from xfer.planning.build import TablePlan

log = logging.getLogger("xfer")


def build_constraints_parallel(
    target: Dialect,
    target_factory: Callable[[], Dialect],
    plans: list[TablePlan],
    results: dict[str, TableResult],
    jobs: int,
) -> None:
    """Primary keys and indexes of every table built at once on `jobs` connections, then
    foreign keys. A primary key is built as a unique index (which, unlike ALTER TABLE … ADD
    PRIMARY KEY, does not lock out the table's other index builds) and then attached with
    `ADD CONSTRAINT … PRIMARY KEY USING INDEX`, which takes no time."""
    builds: list[tuple[str, str]] = []  # (source table, statement), run concurrently
    after: list[tuple[str, str]] = []  # run after the builds, one by one, in their order
    for tp in plans:
        name = tp.source.name
        attach = []
        for sql in target.post_data_sql(tp.target):
            steps = _pk_steps(target, tp, sql)
            if steps:
                builds.append((name, steps[0]))
                attach.append((name, steps[1]))
            elif _INDEX.match(sql):
                builds.append((name, sql))
            else:  # checks, sequences, triggers and their functions: as the serial build runs them
                attach.append((name, sql))
        after.extend(attach)
    pool_size = max(1, min(jobs, len(builds)))
    conns: queue.Queue[Dialect] = queue.Queue()
    opened = []
    try:
        for _ in range(pool_size):
            d = target_factory()
            d.prepare_for_load(concurrent_builds=pool_size > 1)
            opened.append(d)
            conns.put(d)

        def run(item: tuple[str, str]) -> None:
            d = conns.get()
            try:
                _constraint(d, item[1], results[item[0]])
            finally:
                conns.put(d)

        with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="xfer-index") as pool:
            for f in [pool.submit(run, b) for b in builds]:
                f.result()
    finally:
        for d in opened:
            d.close()
    for name, sql in after:
        if results[name].status != "failed":
            _constraint(target, sql, results[name])
    for tp in plans:
        for sql in target.foreign_keys_sql(tp.target):
            _constraint(target, sql, results[tp.source.name])


_INDEX = re.compile(r"CREATE (UNIQUE )?INDEX ", re.I)


def _pk_steps(target: Dialect, tp: TablePlan, sql: str) -> tuple[str, str] | None:
    t = tp.target
    if target.name != "postgres" or not t.primary_key or " ADD PRIMARY KEY (" not in sql:
        return None
    # PostgreSQL's own name for it: the table name cut to fit, then "_pkey"
    name = t.name.encode()[: target.max_identifier_length - 5].decode(errors="ignore") + "_pkey"
    if name in {ix.name for ix in t.indexes} or name == t.name:
        return None
    cols = target.column_list(t.primary_key)
    return (
        f"CREATE UNIQUE INDEX {target.quote(name)} ON {target.qualified(t.name)} ({cols})",
        f"ALTER TABLE {target.qualified(t.name)} ADD CONSTRAINT {target.quote(name)} "
        f"PRIMARY KEY USING INDEX {target.quote(name)}",
    )


def _constraint(target: Dialect, sql: str, r: TableResult) -> None:
    log.debug("%s", sql)
    t0 = time.perf_counter()
    try:
        target.execute(sql)
    except XferError as exc:
        r.status = "failed"
        r.error = f"{exc}"
        log.error("%s: %s", r.name, exc)
    finally:
        r.stages["index"] = r.stages.get("index", 0.0) + time.perf_counter() - t0
