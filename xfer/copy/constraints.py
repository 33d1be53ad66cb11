"""Keys and indexes after the data, built at once on several connections to the target."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from xfer.copy.ddl import foreign_keys_sql, groups_of, run_constraints
from xfer.core import interrupt
from xfer.core.progress import ProgressEvents
from xfer.core.report import TableResult
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import ConcurrentBuilds
from xfer.planning.build import TablePlan

log = logging.getLogger("xfer")


def build_constraints_parallel(
    target: Dialect,
    target_factory: Callable[[], Dialect],
    plans: list[TablePlan],
    results: dict[str, TableResult],
    jobs: int,
    follow: bool = False,
    events: ProgressEvents | None = None,
) -> None:
    """Primary keys and indexes of every table built at once on `jobs` connections (as the
    target's `ConcurrentBuilds` splits them), then the rest, then foreign keys."""
    builds: list[tuple[str, str]] = []  # (source table, statement), run concurrently
    after: list[tuple[str, str]] = []  # run after the builds, one by one, in their order
    for tp in plans:
        name = tp.source.name
        if isinstance(target, ConcurrentBuilds):
            concurrent, later = target.build_steps(tp.target)
        else:
            concurrent, later = [], target.post_data_sql(tp.target)
        builds.extend((name, sql) for sql in concurrent)
        after.extend((name, sql) for sql in later)
    fks = [(tp.source.name, sql) for tp in plans for sql in foreign_keys_sql(target, tp.target, follow)]
    events = events or ProgressEvents()
    events.phase_started("index", len(builds) + len(after) + len(fks))
    pool_size = max(1, min(jobs, len(builds)))
    conns: queue.Queue[Dialect] = queue.Queue()
    opened = []
    try:
        for _ in range(pool_size):
            d = target_factory()
            d.prepare_for_load(concurrent_builds=pool_size > 1)
            opened.append(d)
            conns.put(d)

        def run(group: list[tuple[str, str]]) -> None:
            d = conns.get()
            try:
                run_constraints(d, group, results, level=logging.ERROR, stage="index", events=events)
            finally:
                conns.put(d)

        # workers shielded from signals, a timed wait: Ctrl-C reaches the main thread (#16)
        pool = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="xfer-index", initializer=interrupt.shield)
        futures = []
        try:
            # big tables' builds one by one (side by side), small tables' together (#18)
            futures = [pool.submit(run, group) for group in groups_of(builds, plans)]
            interrupt.wait_all(futures)
            for f in futures:
                f.result()
        except KeyboardInterrupt:  # the builds in hand are cancelled (each is one statement), no more start
            interrupt.request()
            pool.shutdown(wait=False, cancel_futures=True)
            for d in opened:
                d.cancel()
            interrupt.wait_all(futures)
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    finally:
        for d in opened:
            d.close()
    for group in groups_of(after, plans):  # in their order (a table that failed: left out)
        run_constraints(target, group, results, level=logging.ERROR, stage="index", events=events, skip_failed=True)
    for group in groups_of(fks, plans):
        run_constraints(target, group, results, level=logging.ERROR, stage="index", events=events)
