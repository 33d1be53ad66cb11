"""Verification: prove that the target holds the source's rows (as the plan maps them), or
name the rows that differ.

Per table: both sides are hashed into bucket maps over the key (`checksum`), each side either
in its database (`pushdown`) or client side over Arrow, whichever pays (see `choose_method`);
the maps give exact row counts and checksums. Mismatched buckets are drilled into (`diff`) to
classify rows as missing, extra or changed, naming the columns and showing both values. With
--consistency lock|snapshot each side is read in one snapshot and differences re-read once outside
it; with live (the default) neither side is held and differences are re-read in rounds (`live`).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

import pyarrow as pa

from xfer.core import heap, interrupt
from xfer.core.checksum import BucketMap, MapHasher
from xfer.core.conform import conform
from xfer.core.errors import XferError
from xfer.core.options import Options
from xfer.core.progress import ProgressEvents, ProgressFactory, as_events
from xfer.core.report import RunReport, TableResult, Verification
from xfer.core.retry import RetryPolicy
from xfer.core.schema import Table
from xfer.dialects.base import Dialect
from xfer.dialects.connect import open_source, open_target
from xfer.planning.build import Plan, TablePlan
from xfer.planning.make import make_plan
from xfer.verification.comparison import Comparison, Side, hash_scheme, is_local, plan_comparison
from xfer.verification.diff import (
    RECHECK_LIMIT,
    Located,
    Store,
    classify,
    count_difference,
    fetch_rows,
    locate,
    locate_mapped,
    mapped_samples,
    multiset_samples,
    recheck,
    sample_of,
)
from xfer.verification.live import Follower, follower_of, live_note, live_rounds, reading, record_live
from xfer.verification.prefetch import prefetch
from xfer.verification.pushdown import NotPushable, bucket_map, row_md5

log = logging.getLogger("xfer")


@dataclass
class SideMap:
    map: BucketMap
    method: str  # "client" | "pushdown"
    reason: str
    seconds: float


@dataclass
class Pending:
    """A table whose differences were located in the snapshot and wait to be re-checked."""

    result: TableResult
    cmp: Comparison
    source: Side
    target: Side
    store: Store
    found: Located
    first: list[dict[str, object]]


def verify(
    source_url: str, target_url: str, options: Options, progress: ProgressFactory | ProgressEvents | None = None
) -> RunReport:
    """Counts, checksums and differences of every selected table, source (as the migration maps
    it) against target, each side read as `options.verify.consistency` says (`live`)."""
    started = time.monotonic()
    with ExitStack() as stack:
        stack.enter_context(heap.system_arrow_pool())  # freed batches go back to the OS (`heap`)
        source = open_source(source_url, stack)
        target = open_target(target_url, stack, must_exist=True)
        report = RunReport("verify", str(source.url), str(target.url))
        the_plan, live = _plan_against(source, target, options)
        report.behaviour = list(the_plan.behaviour)
        tables = [tp.source.name for tp in the_plan.tables if tp.mapped is None and not tp.skip_verify]
        mode = options.verify.consistency  # lock | snapshot | live (xfer.verification.live)
        follower = follower_of(source, target) if mode == "live" else None
        with reading(source, target, tables, mode) as lock_note:
            report.notes.extend([lock_note] if lock_note else [live_note(options.verify)] if mode == "live" else [])
            pending = check_tables(source, target, the_plan, live, options, report, as_events(progress))
        for p in pending:  # outside the snapshots: what is true now
            t0 = time.monotonic()
            try:
                finish(p, options) if mode != "live" else finish_live(p, options, follower)
            except XferError as exc:
                p.result.status, p.result.error = "failed", f"re-checking the differences: {exc}"
            p.result.seconds += time.monotonic() - t0
        report.seconds = time.monotonic() - started
        return report


def check_tables(
    source: Dialect,
    target: Dialect,
    the_plan: Plan,
    live: dict[str, Table],
    options: Options,
    report: RunReport,
    events: ProgressEvents | None = None,
) -> list[Pending]:
    """Check every table of `the_plan` (`live`: the target's tables as they are), each side read
    in whatever snapshot or lock the caller holds; results go to `report.tables`. Returns the
    tables whose differences wait to be re-checked outside the snapshot (`finish`)."""
    scheme = hash_scheme(options.verify.method, source, target)
    pending: list[Pending] = []
    events = events or ProgressEvents()
    events.phase_started("verify", len(the_plan.tables))
    for tp in the_plan.tables:
        r = TableResult(tp.source.name, tp.target.name)
        report.tables.append(r)
        p = _check_one(source, target, tp, live, options, scheme, r, events)
        events.phase_step()
        if p is not None:
            pending.append(p)
    return pending


def _check_one(
    source: Dialect,
    target: Dialect,
    tp: TablePlan,
    live: dict[str, Table],
    options: Options,
    scheme: str,
    r: TableResult,
    events: ProgressEvents,
) -> Pending | None:
    """One table's check; its result in `r`. Returns its differences to re-check, if any."""
    if tp.skip_verify:
        r.status, r.checksum_match = "ok", None
        r.notes.append("not verified: the mapping file says verify: false")
        return None
    if tp.target.name not in live:
        r.status, r.error = "missing", f"table {tp.target.name!r} does not exist in the target"
        return None
    t0 = time.monotonic()
    try:
        cmp = plan_comparison(source, tp, options.verify.float_digits, scheme=scheme)
        # A mapped table is read as the mapping shapes it: hashed client side here,
        # its differences located by reading it so again (`_locate_mapped`).
        mapped = mapped_source_map(source, tp, cmp, options) if tp.mapped is not None else None
        # a side that lost its reader's session is read again, in the same snapshot
        args = (source, target, tp, live[tp.target.name], cmp, mapped, r, options, events)
        p = RetryPolicy(attempts=options.run.retries).run(f"verifying {tp.source.name}", partial(check_table, *args))
    except XferError as exc:
        interrupt.check()  # an error caused by Ctrl-C (a cancelled statement) is the interrupt
        r.status, r.error = "failed", str(exc)
        p = None
    r.seconds = time.monotonic() - t0
    return p


def _plan_against(source: Dialect, target: Dialect, options: Options) -> tuple[Plan, dict[str, Table]]:
    """The plan, and the target's tables as they are. The source's data probes (does this
    tinyint(1) hold only 0 and 1?) are skipped first: the target's column type says what the
    migration decided, and the boolean comparison is strict (a 2 is a difference) whatever it
    was. Only when the target kept such a column an integer is the plan made again, probed."""
    source.probe_data = False
    try:
        the_plan = make_plan(source, target, options)
    finally:
        source.probe_data = True
    present = set(target.list_tables())
    wanted = [tp.target.name for tp in the_plan.tables if tp.target.name in present]
    live = {t.name: t for t in target.introspect(wanted)}
    if any(_kept_integer(tp.target, live.get(tp.target.name)) for tp in the_plan.tables):
        the_plan = make_plan(source, target, options)
    return the_plan, live


def _kept_integer(planned: Table, actual: Table | None) -> bool:
    names = {c.name for c in actual.columns} if actual is not None else set()
    return actual is not None and any(
        pa.types.is_boolean(c.arrow) and c.name in names and not pa.types.is_boolean(actual.column(c.name).arrow)
        for c in planned.columns
    )


def compare_targets(
    target: Dialect,
    tables: Plan | list[TablePlan],
    results: dict[str, TableResult],
    sums: dict[str, BucketMap],
    options: Options,
    source: Dialect | None = None,
    events: ProgressEvents | None = None,
) -> None:
    """The check at the end of `migrate`: the source's maps were computed while its rows streamed
    through (`sums`); hash the target the same way, compare, and (given `source`) locate."""
    plans = tables.tables if isinstance(tables, Plan) else tables
    todo = [tp for tp in plans if results[tp.source.name].status != "failed"]
    live = {t.name: t for t in target.introspect([tp.target.name for tp in todo])}
    events = events or ProgressEvents()
    events.phase_started("verify", len(todo))
    with heap.system_arrow_pool():
        for tp in todo:
            r = results[tp.source.name]
            if tp.target.name in live and tp.source.name in sums:
                _compare_one(target, tp, live[tp.target.name], r, sums[tp.source.name], options, source, events)
            events.phase_step()


def _compare_one(
    target: Dialect,
    tp: TablePlan,
    actual: Table,
    r: TableResult,
    source_map: BucketMap,
    options: Options,
    source: Dialect | None,
    events: ProgressEvents,
) -> None:
    if tp.skip_verify:
        r.status, r.checksum_match = "ok", None
        r.notes.append("not verified: the mapping file says verify: false")
        return
    if options.copy.if_exists == "append":
        _appended(target, tp, r, source_map)
        return
    cmp = plan_comparison(source or target, tp, options.verify.float_digits, spec=source_map.spec)
    try:
        p = check_table(source, target, tp, actual, cmp, source_map, r, options, events)
        if p is not None:
            finish(p, options)
    except XferError as exc:
        interrupt.check()  # an error caused by Ctrl-C (a cancelled statement) is the interrupt
        r.status, r.error = "failed", f"verification: {exc}"


def check_table(
    source: Dialect | None,
    target: Dialect,
    tp: TablePlan,
    actual: Table,
    cmp: Comparison,
    source_map: BucketMap | None,
    r: TableResult,
    options: Options,
    events: ProgressEvents | None = None,
) -> Pending | None:
    """Hash the sides (the source only if its map is not given), compare, locate. Returns the
    differences still to be re-checked, if any."""
    try:
        reading = _readable(actual, tp.target)
    except KeyError as exc:
        r.status, r.error = "mismatch", f"column {exc} is missing in the target table"
        return None
    v = r.verification = Verification(
        key=cmp.key_names, bucketing=cmp.spec.mode, scheme=cmp.spec.scheme, policies=cmp.policies
    )
    t_side = Side("target", target, reading)
    s_side = Side("source", source, tp.source) if source is not None and tp.mapped is None else None
    if source_map is None:
        assert s_side is not None
        s, t = _both_sides(s_side, t_side, cmp, options, events)
    else:
        s = SideMap(source_map, "client", "hashed while the rows were copied", 0.0)
        t = side_map(t_side, cmp, options, events)
    for role, m in (("source", s), ("target", t)):
        v.method[role], v.method_reason[role], v.seconds[role] = m.method, m.reason, m.seconds
    want, got = s.map.total, t.map.total
    r.source_rows, r.target_rows = want.rows, got.rows
    r.source_checksum, r.target_checksum = want.hex, got.hex
    r.checksum_match = want == got
    mismatched = s.map.mismatched(t.map)
    v.buckets = len(set(s.map.buckets) | set(t.map.buckets))
    v.buckets_mismatched = len(mismatched)
    if not mismatched:
        r.status = "ok"
        return None
    r.status = "mismatch"
    r.error = _summary(want.rows, got.rows)
    if source is not None and tp.mapped is not None:
        _locate_mapped(source, tp, t_side, cmp, mismatched, r, options)
        return None
    if s_side is None:
        return None
    t0 = time.monotonic()
    n_buckets = v.buckets
    raw = options.verify.consistency == "live" and not options.verify.recheck  # nothing re-read: keep values
    store = locate(s_side, t_side, cmp, mismatched, n_buckets, options.verify.sample, options.copy.batch_size, raw)
    found, first = store.differences(RECHECK_LIMIT if cmp.spec.key else options.verify.sample)
    v.seconds["locate"] = time.monotonic() - t0
    if not cmp.spec.key:
        multiset_samples(store, found, first, options.verify.sample)
        store.close()
        _record(r, found)
        return None
    return Pending(r, cmp, s_side, t_side, store, found, first)


def _locate_mapped(
    source: Dialect,
    tp: TablePlan,
    target: Side,
    cmp: Comparison,
    mismatched: list[int],
    r: TableResult,
    options: Options,
) -> None:
    """A mapped table's differences, located by reading its source rows (as the mapping shapes
    them) again; keyless ones are counted as a multiset."""
    assert r.verification is not None
    t0 = time.monotonic()
    rows = (conform(b, tp.target.arrow_schema, tp.source.name) for b in tp.read(source, options.copy.batch_size))
    shaped = Side("source", source, tp.target)  # the source's rows, shaped like the target's
    store = locate_mapped(shaped, rows, target, cmp, mismatched, r.verification.buckets, options.copy.batch_size)
    try:
        found, first = store.differences(options.verify.sample)
        if cmp.spec.key:
            mapped_samples(cmp, found, first, options.verify.sample)
        else:
            multiset_samples(store, found, first, options.verify.sample)
    finally:
        store.close()
    r.verification.seconds["locate"] = time.monotonic() - t0
    _record(r, found)


def finish(p: Pending, options: Options) -> None:
    """Re-read the differing keys (outside any snapshot) and record what differs now."""
    t0 = time.monotonic()
    try:
        if p.found.total > len(p.first):
            p.found.notes.append(
                f"{p.found.total - len(p.first)} difference(s) beyond the first {len(p.first)} were not re-checked"
            )
        recheck(p.source, p.target, p.cmp, p.found, p.first, options.verify.sample)
    finally:
        p.store.close()
    assert p.result.verification is not None
    p.result.verification.seconds["locate"] = p.result.verification.seconds.get("locate", 0) + time.monotonic() - t0
    _record(p.result, p.found)


def finish_live(p: Pending, options: Options, follower: Follower | None) -> None:
    """--consistency live: the differing keys read again in rounds (`live_rounds`)."""
    t0 = time.monotonic()
    try:
        settled = live_rounds(p.source, p.target, p.cmp, p.found, p.first, options.verify, follower)
    finally:
        p.store.close()
    assert p.result.verification is not None
    p.result.verification.seconds["locate"] = p.result.verification.seconds.get("locate", 0) + time.monotonic() - t0
    _record(p.result, p.found)
    record_live(p.result, settled, options.verify)


def _record(r: TableResult, found: Located) -> None:
    v = r.verification
    assert v is not None
    v.missing, v.extra, v.changed = found.missing, found.extra, found.changed
    v.changed_columns = dict(sorted(found.changed_columns.items()))
    v.samples = found.samples
    v.rechecked, v.resolved_on_recheck = found.rechecked, found.resolved
    v.source_changed_during_check = found.source_changed > 0
    r.notes.extend(found.notes)
    if found.total == 0 and found.rechecked:
        r.status, r.error = "ok", None
        r.notes.append("the checksums differed in the snapshot, but every difference was gone when read again")
    elif found.total:
        counts = ((found.missing, "missing"), (found.extra, "extra"), (found.changed, "changed"))
        parts = [f"{n} {what}" for n, what in counts if n]
        r.error = (r.error + ": " if r.error else "") + ", ".join(parts)
    else:
        r.notes.append("the checksums differ but no differing row was found")


def _summary(want: int, got: int) -> str:
    if want != got:
        return f"row count differs: source {want:,}, target {got:,}"
    return "same row count, different content"


def _both_sides(
    source: Side, target: Side, cmp: Comparison, options: Options, events: ProgressEvents | None
) -> tuple[SideMap, SideMap]:
    """Hash the two sides at the same time: each waits on its own server most of the time, and
    DuckDB's hashing runs outside the GIL."""
    if not (source.dialect.reads_in_any_thread and target.dialect.reads_in_any_thread):
        return side_map(source, cmp, options, events), side_map(target, cmp, options, events)
    stop = threading.Event()  # one side failed: the other stops at its next batch
    # the sides block SIGINT/SIGTERM and the main thread waits with a timeout: Ctrl-C reaches
    # the main thread at once (xfer.core.interrupt, #16), and both sides stop at their next batch
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="xfer-verify", initializer=interrupt.shield) as pool:
        s = pool.submit(side_map, source, cmp, options, events, stop)
        t = pool.submit(side_map, target, cmp, options, events, stop)
        try:
            interrupt.wait_all([s, t], first_exception=True)
        except KeyboardInterrupt:
            interrupt.request()
            stop.set()
            _abort_sides([source, target], [s, t])
            raise
        done = {f for f in (s, t) if f.done()}
        errors = [e for e in (f.exception() for f in (s, t) if f in done) if e is not None]
        if errors:
            stop.set()
            raise errors[0]  # (the other's outcome no longer matters)
        return s.result(), t.result()


def _abort_sides(sides: list[Side], futures: list[Any]) -> None:
    """After Ctrl-C: wait for the sides to stop at their next batch; a second Ctrl-C cancels
    their statements (a checksum computed in the database is one long query)."""
    while True:
        try:
            interrupt.wait_all(futures)
            return
        except KeyboardInterrupt:
            for side in sides:
                side.dialect.cancel()


class Stopped(XferError):
    """The other side of the comparison failed: this one stopped reading."""


def side_map(
    side: Side,
    cmp: Comparison,
    options: Options,
    events: ProgressEvents | None = None,
    stop: threading.Event | None = None,
) -> SideMap:
    method, reason = choose_method(side, cmp, options.verify.method)
    t0 = time.monotonic()
    if method == "pushdown":
        m = bucket_map(side.dialect, side.table, cmp.canons, cmp.spec)
        return SideMap(m, method, reason, time.monotonic() - t0)
    hasher = MapHasher(cmp.schema, cmp.canons, cmp.spec, cmp.name)
    events = events or ProgressEvents()
    shown = f"{side.table.name} ({side.role})"
    events.table_started(shown, side.table.row_estimate)
    trim = heap.Trimmer()  # memory stays flat however long the table (`heap`)
    try:
        batches = side.dialect.verify_batches(side.table, options.copy.batch_size)
        for batch in prefetch(batches) if side.dialect.reads_in_any_thread else batches:
            if stop is not None and stop.is_set():
                raise Stopped(f"{side.role} side stopped: the other side failed")
            hasher.update(batch)
            events.table_rows(shown, batch.num_rows, batch.nbytes)
            del batch
            trim()
        if side.dialect.verify_reader:
            reason += f"; rows read by {side.dialect.verify_reader}"
        return SideMap(hasher.map, method, reason, time.monotonic() - t0)
    finally:
        events.table_done(shown)
        hasher.close()


def mapped_source_map(source: Dialect, tp: TablePlan, cmp: Comparison, options: Options) -> BucketMap:
    """The bucket map of a mapped table's source rows, read as the mapping shapes them."""
    hasher = MapHasher(cmp.schema, cmp.canons, cmp.spec, cmp.name)
    try:
        for batch in tp.read(source, options.copy.batch_size):
            hasher.update(conform(batch, tp.target.arrow_schema, tp.source.name))
        return hasher.map
    finally:
        hasher.close()


def choose_method(side: Side, cmp: Comparison, requested: str) -> tuple[str, str]:
    """Pushdown where it pays: hashing in the database moves no rows, which pays when the
    server is across a network; on the same host reading Arrow and hashing in DuckDB is faster
    (measured: README, Performance). Types the engine cannot normalise force client side."""
    if requested == "client":
        return "client", "--method client"
    d = side.dialect
    if d.hash_sql is None:
        return "client", f"{d.name} cannot hash in SQL"
    if any(c.ignored for c in cmp.canons):
        return "client", "the mapping file leaves columns out of the comparison"
    try:
        row_md5(d, side.table, cmp.canons)
    except NotPushable as exc:
        return "client", str(exc)
    if cmp.spec.scheme != "md5":  # `hash_scheme` chose the fast hash: no side hashes in SQL
        return "client", "the server is on this host: reading the rows is cheaper than hashing in SQL"
    if requested == "pushdown":
        return "pushdown", "--method pushdown"
    if is_local(d.url.host):
        return "client", "the server is on this host: reading the rows is cheaper than hashing in SQL"
    return "pushdown", "the server is on another host: hashing there moves no rows"


def _appended(target: Dialect, tp: TablePlan, r: TableResult, source_map: BucketMap) -> None:
    """--if-exists append: the target holds other rows too; only the count can be checked."""
    got = target.count_rows(tp.target.name)
    want = source_map.total.rows
    r.source_rows, r.target_rows = want, got
    r.checksum_match = None
    if got >= want:
        r.status = "ok"
        r.notes.append(f"{want:,} row(s) appended; the table holds {got:,}: checksum not comparable")
    else:
        r.status, r.error = "mismatch", f"target has fewer rows ({got:,}) than were copied ({want:,})"


def _readable(actual: Table, planned: Table) -> Table:
    """The target table as it is, restricted to (and ordered like) the planned columns."""
    cols = [actual.column(c.name) for c in planned.columns]
    return Table(actual.name, cols, row_estimate=actual.row_estimate)


def check_keys(
    source: Dialect,
    target: Dialect,
    tp: TablePlan,
    keys: list[tuple[Any, ...]],
    r: TableResult,
    options: Options,
    counts: bool = True,
) -> None:
    """The cutover's check of what changed since a full check: the rows of `keys` (the target's
    key values) read now from both sides and compared value by value, and both sides' exact row
    counts. A table whose rows were verified whole at an earlier position and that changed only
    in these keys since is then verified whole at this one."""
    actual = {t.name: t for t in target.introspect([tp.target.name])}.get(tp.target.name)
    if counts:  # (exact counts: only where neither side moves, e.g. while the source is held)
        r.source_rows, r.target_rows = source.count_rows(tp.source.name), target.count_rows(tp.target.name)
    if actual is None:
        r.status, r.error = "missing", "the table is missing in the target"
        return
    cmp = plan_comparison(source, tp, options.verify.float_digits)
    s_side = Side("source", source, tp.source)
    t_side = Side("target", target, _readable(actual, tp.target))
    now_s = fetch_rows(s_side, cmp, keys) if keys else {}
    now_t = fetch_rows(t_side, cmp, keys) if keys else {}
    found = Located()
    n = len(cmp.canons)
    for kc in sorted(now_s.keys() | now_t.keys()):
        s, t = now_s.get(kc), now_t.get(kc)
        kind, flags = classify(s, t, n)
        if kind is None:
            continue
        count_difference(found, cmp, kind, 1 if s else 0, 1 if t else 0, flags, +1)
        if len(found.samples) < options.verify.sample:
            key = tuple((s or t)[2][i] for i in cmp.spec.key)  # type: ignore[index]
            found.samples.append(sample_of(cmp, kind, key, s[2] if s else [], t[2] if t else [], flags))
    r.verification = Verification(key=cmp.key_names, bucketing="keys", scheme="md5", policies=cmp.policies)
    r.notes.append(f"{len(keys):,} key(s) changed since the full check: read again on both sides and compared")
    differs = bool(found.total) or r.source_rows != r.target_rows
    r.status = "mismatch" if differs else "ok"
    r.checksum_match = not differs
    if differs:
        r.error = _summary(r.source_rows or 0, r.target_rows or 0) if counts else f"{found.total} key(s) differ"
        _record(r, found)
