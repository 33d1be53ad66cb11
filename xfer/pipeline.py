"""The run: plan -> create tables -> copy (read -> transform -> write) -> keys, indexes,
foreign keys -> verify. `migrate`, `verify`, `plan` and `inspect` are the library's entry
points; the CLI only parses arguments, calls one of them and formats what it returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from . import urls
from .checksum import Checksum, Hasher
from .dialects import dialect_for
from .dialects.base import Dialect
from .errors import TargetExistsError, UsageError, XferError
from .plan import Plan, TablePlan, build_plan, select_tables
from .schema import Table
from .transform import conform

log = logging.getLogger("xfer")

IF_EXISTS = ("fail", "truncate", "append", "replace")


class Progress(Protocol):
    def update(self, n: int) -> None: ...
    def close(self) -> None: ...


ProgressFactory = Callable[[str, int | None], Progress]


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def no_progress(name: str, total: int | None) -> Progress:
    return _NoProgress()


@dataclass
class Options:
    tables: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    if_exists: str = "fail"
    schema_only: bool = False
    data_only: bool = False
    batch_size: int = 50_000
    verify: bool = True


@dataclass
class TableResult:
    name: str
    target_name: str
    status: str = "pending"  # ok | mismatch | failed | created | missing
    source_rows: int | None = None
    target_rows: int | None = None
    checksum_match: bool | None = None
    source_checksum: str | None = None
    target_checksum: str | None = None
    bytes: int = 0
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunReport:
    command: str
    source: str
    target: str
    tables: list[TableResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    seconds: float = 0.0

    @property
    def failed(self) -> list[TableResult]:
        return [t for t in self.tables if t.status == "failed"]

    @property
    def mismatched(self) -> list[TableResult]:
        return [t for t in self.tables if t.status in ("mismatch", "missing")]

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.mismatched:
            return "mismatch"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "xfer_report": 1,
            "command": self.command,
            "status": self.status,
            "source": self.source,
            "target": self.target,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
            "tables": [t.as_dict() for t in self.tables],
            "totals": {
                "tables": len(self.tables),
                "source_rows": sum(t.source_rows or 0 for t in self.tables),
                "target_rows": sum(t.target_rows or 0 for t in self.tables),
                "bytes": sum(t.bytes for t in self.tables),
                "failed": len(self.failed),
                "mismatched": len(self.mismatched),
            },
        }


# -- connections ------------------------------------------------------------------------
def open_source(raw: str, stack: ExitStack) -> Dialect:
    d = dialect_for(urls.parse(raw, role="source"))
    if hasattr(d, "require_existing"):
        d.require_existing()
    d.connect()
    stack.callback(d.close)
    return d


def open_target(raw: str, stack: ExitStack, *, must_exist: bool = False) -> Dialect:
    d = dialect_for(urls.parse(raw, role="target"))
    if must_exist and hasattr(d, "require_existing"):
        d.require_existing()
    d.connect()
    stack.callback(d.close)
    return d


def make_plan(source: Dialect, target: Dialect, options: Options) -> Plan:
    names = select_tables(source.list_tables(), options.tables, options.exclude, where=str(source.url))
    return build_plan(source, target, source.introspect(names))


# -- commands ---------------------------------------------------------------------------
def plan(source_url: str, target_url: str, options: Options) -> tuple[Plan, Dialect]:
    """What `migrate` would do; touches nothing (an embedded target is opened in memory)."""
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        target = dialect_for(urls.parse(target_url, role="target"))
        if target.url.engine in ("sqlite", "duckdb"):
            # Plan against an in-memory engine of the same kind: never create the file.
            target = dialect_for(urls.parse(f"{target_url.split(':', 1)[0]}://", role="target"))
        target.connect()
        stack.callback(target.close)
        return make_plan(source, target, options), target


def inspect(url: str) -> list[Table]:
    with ExitStack() as stack:
        d = open_source(url, stack)
        tables = d.introspect(d.list_tables())
        for t in tables:
            t.row_estimate = d.count_rows(t.name)
        return tables


def migrate(source_url: str, target_url: str, options: Options, progress: ProgressFactory = no_progress) -> RunReport:
    if options.if_exists not in IF_EXISTS:
        raise UsageError(f"--if-exists must be one of {', '.join(IF_EXISTS)}")
    if options.schema_only and options.data_only:
        raise UsageError("--schema-only and --data-only exclude each other")
    started = time.monotonic()
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        target = open_target(target_url, stack)
        report = RunReport("migrate", str(source.url), str(target.url))
        the_plan = make_plan(source, target, options)
        report.notes.extend(the_plan.notes)
        results = {tp.source.name: TableResult(tp.source.name, tp.target.name) for tp in the_plan.tables}
        report.tables = list(results.values())
        for tp in the_plan.tables:
            results[tp.source.name].notes.extend(tp.notes)
        existing = _preflight(target, the_plan, options)
        target.prepare_for_load()
        _create_tables(target, the_plan, options, existing)
        sums: dict[str, Checksum] = {}
        if not options.schema_only:
            with source.snapshot():
                for tp in the_plan.tables:
                    sums[tp.source.name] = _copy_table(source, target, tp, results[tp.source.name], options, progress)
        _build_constraints(target, the_plan, results, existing)
        if options.schema_only:
            for r in report.tables:
                r.status = "created" if r.status == "pending" else r.status
        elif options.verify:
            _verify_targets(target, the_plan, results, sums, options)
        else:
            for r in report.tables:
                r.status = "ok" if r.status == "pending" else r.status
        report.seconds = time.monotonic() - started
        return report


def verify(source_url: str, target_url: str, options: Options, progress: ProgressFactory = no_progress) -> RunReport:
    """Row counts and checksums of every selected table, source (as the migration maps it)
    against target. Each side is read in one consistent snapshot."""
    started = time.monotonic()
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        target = open_target(target_url, stack, must_exist=True)
        report = RunReport("verify", str(source.url), str(target.url))
        the_plan = make_plan(source, target, options)
        present = set(target.list_tables())
        sums: dict[str, Checksum] = {}
        with source.snapshot():
            for tp in the_plan.tables:
                r = TableResult(tp.source.name, tp.target.name)
                report.tables.append(r)
                t0 = time.monotonic()
                sums[tp.source.name] = _hash(source, tp.source, tp, options, progress, conform_to=tp.target)
                r.seconds = time.monotonic() - t0
                r.source_rows = sums[tp.source.name].rows
        results = {r.name: r for r in report.tables}
        for tp in the_plan.tables:
            if tp.target.name not in present:
                results[tp.source.name].status = "missing"
                results[tp.source.name].error = f"table {tp.target.name!r} does not exist in the target"
        _verify_targets(target, [tp for tp in the_plan.tables if tp.target.name in present], results, sums, options)
        report.seconds = time.monotonic() - started
        return report


# -- steps ------------------------------------------------------------------------------
def _preflight(target: Dialect, the_plan: Plan, options: Options) -> set[str]:
    """Check every target table before changing anything; return those that exist."""
    existing = set(target.list_tables()) & {tp.target.name for tp in the_plan.tables}
    if options.data_only:
        missing = [tp.target.name for tp in the_plan.tables if tp.target.name not in existing]
        if missing:
            raise UsageError(
                f"--data-only: target tables missing: {', '.join(missing)}", hint="run without --data-only"
            )
        return existing
    if options.if_exists == "fail":
        busy = [name for name in sorted(existing) if target.table_has_rows(name)]
        if busy:
            raise TargetExistsError(
                f"target already has rows in {len(busy)} table(s): {', '.join(busy[:10])}"
                + (" ..." if len(busy) > 10 else ""),
                hint="nothing was changed; choose --if-exists truncate|append|replace to overwrite or add",
            )
    return existing


def _create_tables(target: Dialect, the_plan: Plan, options: Options, existing: set[str]) -> None:
    if hasattr(target, "create_schema"):
        target.create_schema()
    if options.data_only:
        return
    # Drop in reverse dependency order is not needed: PostgreSQL drops CASCADE, the others
    # do not enforce foreign keys on DROP.
    for tp in the_plan.tables:
        name = tp.target.name
        if name in existing:
            if options.if_exists in ("replace", "fail"):
                # "fail" only gets here when the table is empty: recreate it with the planned shape
                log.info("dropping existing table %s", name)
                target.drop_table(name)
                existing.discard(name)
            elif options.if_exists == "truncate":
                log.info("emptying existing table %s", name)
                target.truncate_table(name)
                continue
            else:
                continue
        for sql in target.create_table_sql(tp.target):
            log.debug("%s", sql)
            target.execute(sql)


def _copy_table(
    source: Dialect, target: Dialect, tp: TablePlan, r: TableResult, options: Options, progress: ProgressFactory
) -> Checksum:
    t0 = time.monotonic()
    hasher = Hasher(tp.target.arrow_schema, tp.json_columns)
    bar = progress(tp.target.name, tp.source.row_estimate)
    schema = tp.target.arrow_schema
    rows = 0

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in source.read_batches(tp.source, options.batch_size):
            out = conform(batch, schema, tp.source.name)
            hasher.update(out)
            r.bytes += out.nbytes
            yield out

    try:
        for n in target.write_batches(tp.target, batches()):
            rows += n
            bar.update(n)
        r.source_rows = hasher.checksum.rows
    except XferError as exc:
        r.status = "failed"
        r.error = str(exc) + (f" ({rows} rows had been committed)" if rows else "")
        r.source_rows = None
        log.error("%s: %s", tp.source.name, r.error)
    finally:
        bar.close()
        hasher.close()
        r.seconds = time.monotonic() - t0
    return hasher.checksum


def _build_constraints(target: Dialect, the_plan: Plan, results: dict[str, TableResult], existing: set[str]) -> None:
    """Keys and indexes after the data (much faster than maintaining them row by row),
    foreign keys last, once every table they point to is complete."""
    fresh = [tp for tp in the_plan.tables if tp.target.name not in existing]
    for tp in fresh:
        for sql in target.post_data_sql(tp.target):
            _constraint(target, sql, results[tp.source.name])
    for tp in fresh:
        for sql in target.foreign_keys_sql(tp.target):
            _constraint(target, sql, results[tp.source.name])


def _constraint(target: Dialect, sql: str, r: TableResult) -> None:
    log.debug("%s", sql)
    try:
        target.execute(sql)
    except XferError as exc:
        r.status = "failed"
        r.error = f"{exc}"
        log.error("%s: %s", r.name, exc)


def _hash(
    dialect: Dialect, table: Table, tp: TablePlan, options: Options, progress: ProgressFactory, conform_to: Table
) -> Checksum:
    hasher = Hasher(conform_to.arrow_schema, tp.json_columns)
    bar = progress(f"{table.name} ({dialect.name})", table.row_estimate)
    try:
        for batch in dialect.read_batches(table, options.batch_size):
            hasher.update(conform(batch, conform_to.arrow_schema, table.name))
            bar.update(batch.num_rows)
        return hasher.checksum
    finally:
        bar.close()
        hasher.close()


def _verify_targets(
    target: Dialect,
    tables: Plan | list[TablePlan],
    results: dict[str, TableResult],
    sums: dict[str, Checksum],
    options: Options,
) -> None:
    plans = tables.tables if isinstance(tables, Plan) else tables
    live = {
        t.name: t
        for t in target.introspect([tp.target.name for tp in plans if results[tp.source.name].status != "failed"])
    }
    for tp in plans:
        r = results[tp.source.name]
        if r.status == "failed" or tp.target.name not in live:
            continue
        actual = live[tp.target.name]
        try:
            reading = _readable(actual, tp.target)
        except KeyError as exc:
            r.status, r.error = "mismatch", f"column {exc} is missing in the target table"
            continue
        got = _hash(target, reading, tp, options, no_progress, conform_to=tp.target)
        want = sums.get(tp.source.name, Checksum())
        r.source_rows, r.target_rows = want.rows, got.rows
        r.source_checksum, r.target_checksum = want.hex, got.hex
        r.checksum_match = got == want
        if options.if_exists == "append" and r.checksum_match is False and got.rows >= want.rows:
            r.status = "ok"
            r.checksum_match = None
            r.notes.append("appended to existing rows: checksum not comparable")
        elif got.rows != want.rows:
            r.status = "mismatch"
            r.error = f"row count differs: source {want.rows}, target {got.rows}"
        elif not r.checksum_match:
            r.status = "mismatch"
            r.error = "same row count, different content (checksum)"
        else:
            r.status = "ok"


def _readable(actual: Table, planned: Table) -> Table:
    """The target table as it is, restricted to (and ordered like) the planned columns."""
    cols = [actual.column(c.name) for c in planned.columns]
    return Table(actual.name, cols, row_estimate=actual.row_estimate)
