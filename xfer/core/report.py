"""What a run found: per-table results and totals (the model; `as_dict` is the JSON report's
schema). How a report is shown, as a terminal table or a document, is in `xfer.report`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from xfer.core.schema import Table


@dataclass
class Verification:
    """How a table was compared and what differs (the `verification` object of the JSON report;
    its fields are documented in the README and only ever added to)."""

    method: dict[str, str] = field(default_factory=dict)  # side -> "client" | "pushdown"
    method_reason: dict[str, str] = field(default_factory=dict)
    key: list[str] = field(default_factory=list)  # empty: no key, rows compared as a multiset
    bucketing: str = ""  # "range" | "hash" | "rows"
    scheme: str = ""  # "md5" | "fast:<duckdb version>": how rows were hashed (checksum.py)
    buckets: int = 0
    buckets_mismatched: int = 0
    missing: int = 0
    extra: int = 0
    changed: int = 0
    changed_columns: dict[str, int] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    rechecked: int = 0
    resolved_on_recheck: int = 0
    source_changed_during_check: bool = False
    #: --consistency live: rounds the differing keys were read again in (0: not re-read)
    recheck_rounds: int = 0
    #: keys still changing in the source when the rounds ended: not counted in missing/extra/changed
    in_flight: int = 0
    in_flight_keys: list[dict[str, Any]] = field(default_factory=list)  # samples, as `samples`
    policies: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # source, target, locate

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seconds"] = {k: round(v, 3) for k, v in self.seconds.items()}
        return out


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
    # seconds spent per stage, summed over the table's chunks (they overlap in parallel runs)
    stages: dict[str, float] = field(default_factory=dict)
    rejected_rows: int = 0  # rows written to the reject file instead of the target
    duplicate_keys: int = 0  # of those, rows whose key the target table already held (--if-exists append)
    policies: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> policy -> values changed
    verification: Verification | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seconds"] = round(self.seconds, 3)
        out["verification"] = self.verification.as_dict() if self.verification else None
        return out


@dataclass
class Inspection:
    """What `xfer.inspect(url)` found: the database's tables (`xfer.Table`), with exact row counts."""

    url: str
    tables: list[Table]
    status: str = "ok"


@dataclass
class Behaviour:
    """Something the application will meet after cutover: on `table`.`column` (None: the whole
    source), what changes, and what to do about it (`xfer plan` and the reports list them)."""

    table: str | None
    column: str | None
    change: str
    action: str

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "change": self.change, "action": self.action}

    def where(self) -> str:
        if self.table is None:
            return "source"
        return self.table if self.column is None else f"{self.table}.{self.column}"


@dataclass
class RunReport:
    command: str
    source: str
    target: str
    tables: list[TableResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    seconds: float = 0.0
    # wall seconds of each phase of the run: create, copy, index, verify
    phases: dict[str, float] = field(default_factory=dict)
    renames: list[str] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)  # name, target_name, status, reason
    triggers: list[dict[str, Any]] = field(default_factory=list)  # name, table, status, reason
    reject_file: str | None = None
    run_id: str | None = None  # the run's id in the target's journal (xfer runs / rollback)
    cutover: dict[str, Any] | None = None  # xfer cutover: blocked seconds, final position, events
    behaviour: list[Behaviour] = field(default_factory=list)  # what the application meets after cutover

    @property
    def rejected_rows(self) -> int:
        return sum(t.rejected_rows for t in self.tables)

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
        if self.rejected_rows:
            return "rejected"
        return "ok"

    def stage_totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.tables:
            for k, v in t.stages.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "xfer_report": 1,
            "command": self.command,
            "status": self.status,
            "source": self.source,
            "target": self.target,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "seconds": round(self.seconds, 3),
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "stages": {k: round(v, 3) for k, v in self.stage_totals().items()},
            "notes": self.notes,
            "renames": self.renames,
            "views": self.views,
            "triggers": self.triggers,
            "behaviour": [b.as_dict() for b in self.behaviour],
            "reject_file": self.reject_file,
            "run_id": self.run_id,
            **({"cutover": self.cutover} if self.cutover is not None else {}),
            "tables": [t.as_dict() for t in self.tables],
            "totals": {
                "tables": len(self.tables),
                "source_rows": sum(t.source_rows or 0 for t in self.tables),
                "target_rows": sum(t.target_rows or 0 for t in self.tables),
                "bytes": sum(t.bytes for t in self.tables),
                "failed": len(self.failed),
                "mismatched": len(self.mismatched),
                "rejected_rows": self.rejected_rows,
                "missing": sum(t.verification.missing for t in self.tables if t.verification),
                "extra": sum(t.verification.extra for t in self.tables if t.verification),
                "changed": sum(t.verification.changed for t in self.tables if t.verification),
            },
        }
