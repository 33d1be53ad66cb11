"""What a run found: per-table results, totals, and their renderings (JSON, terminal table)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any


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
    policies: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> policy -> values changed
    verification: Verification | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seconds"] = round(self.seconds, 3)
        out["verification"] = self.verification.as_dict() if self.verification else None
        return out


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
            "reject_file": self.reject_file,
            "run_id": self.run_id,
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


def render_text(report: RunReport) -> str:
    is_verify = report.command == "verify"
    head: tuple[str, ...]
    if is_verify:
        head = ("table", "source rows", "target rows", "missing", "extra", "changed", "seconds", "check")
    else:
        head = ("table", "rows", "bytes", "seconds", "check")
    rows: list[tuple[str, ...]] = [head]
    for t in report.tables:
        check = {
            "ok": "ok" if t.checksum_match or t.checksum_match is False else "ok (not checked)",
            "mismatch": "MISMATCH",
            "missing": "MISSING",
            "failed": "FAILED",
            "created": "created (no data)",
        }.get(t.status, t.status)
        if is_verify:
            v = t.verification
            counts = (_n(v.missing), _n(v.extra), _n(v.changed)) if v else ("-", "-", "-")
            rows.append((t.name, _n(t.source_rows), _n(t.target_rows), *counts, f"{t.seconds:.2f}", check))
        else:
            count = t.target_rows if t.target_rows is not None else t.source_rows
            rows.append((t.name, _n(count), _bytes(t.bytes), f"{t.seconds:.2f}", check))
    bad = len(report.failed) + len(report.mismatched)
    total = f"total ({len(report.tables)} tables)"
    verdict = "ok" if not bad else f"{bad} problem(s)"
    if is_verify:
        sums = [sum(getattr(t.verification, k) for t in report.tables if t.verification) for k in _COUNTS]
        rows.append(
            (
                total,
                _n(sum(t.source_rows or 0 for t in report.tables)),
                _n(sum(t.target_rows or 0 for t in report.tables)),
                *(_n(x) for x in sums),
                f"{report.seconds:.2f}",
                verdict,
            )
        )
    else:
        n = sum((t.target_rows if t.target_rows is not None else t.source_rows) or 0 for t in report.tables)
        rows.append((total, _n(n), _bytes(sum(t.bytes for t in report.tables)), f"{report.seconds:.2f}", verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    out = []
    for i, r in enumerate(rows):
        if i in (1, len(rows) - 1):
            out.append(line)
        pairs = enumerate(zip(r, widths, strict=True))
        cells = [c.ljust(w) if j in (0, len(head) - 1) else c.rjust(w) for j, (c, w) in pairs]
        out.append("  ".join(cells).rstrip())
    for t in report.tables:
        out.extend(_details(t))
    out.extend(_policy_lines(report))
    return "\n".join(out)


def _policy_lines(report: RunReport) -> list[str]:
    """Every value a declared policy changed, per column; rejected rows; views."""
    out = []
    for t in report.tables:
        for col, counts in t.policies.items():
            for what, n in counts.items():
                out.append(f"{t.name}.{col}: {n:,} value(s): {what}")
        if t.rejected_rows:
            out.append(
                f"{t.name}: {t.rejected_rows:,} row(s) rejected"
                + (f" -> {report.reject_file}" if report.reject_file else "")
            )
    created = [v for v in report.views if v["status"] == "created"]
    if created:
        out.append(f"views: {len(created)} created ({', '.join(v['target_name'] for v in created)})")
    for v in report.views:
        if v["status"] != "created":
            out.append(f"view {v['name']}: {v['status']}" + (f": {v['reason']}" if v.get("reason") else ""))
    made = [trig["name"] for trig in report.triggers if trig["status"] == "created"]
    if made:
        out.append(f"triggers: {len(made)} created ({', '.join(made)})")
    for trig in report.triggers:
        if trig["status"] == "failed":
            out.append(f"trigger {trig['name']}: failed: {trig['reason']}")
    if report.renames:
        out.append(f"renamed: {len(report.renames)} name(s) (listed in the plan and the JSON report)")
    out.extend(f"note: {n}" for n in report.notes)
    return out


_COUNTS = ("missing", "extra", "changed")


def _details(t: TableResult) -> list[str]:
    """What a person needs under the table: the error, the columns, sample keys, notes."""
    out = []
    if t.error:
        out.append(f"{t.name}: {t.error}")
    v = t.verification
    if v and v.changed_columns:
        out.append("  changed columns: " + ", ".join(f"{c} ({n})" for c, n in v.changed_columns.items()))
    for s in v.samples if v else []:
        who = ", ".join(f"{k}={_val(x)}" for k, x in (s.get("key") or s.get("row") or {}).items())
        if s.get("count", 1) != 1:
            who += f" (x{s['count']})"
        cols = s.get("columns") or {}
        diffs = "; ".join(f"{c}: {_val(p['source'])} -> {_val(p['target'])}" for c, p in cols.items())
        out.append(f"  {s['kind']:<8} {who}" + (f"  {diffs}" if diffs else ""))
    for note in t.notes if t.status != "ok" else []:
        out.append(f"  note: {note}")
    return out


def _val(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False) if isinstance(v, str | bool) or v is None else str(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_stats(report: RunReport) -> str:
    """The per-stage breakdown `--stats` prints: wall seconds per phase, then seconds per
    stage summed over workers (stages overlap, so they add up to more than the wall time)."""
    lines = ["phase (wall seconds): " + ", ".join(f"{k} {v:.2f}" for k, v in report.phases.items())]
    totals = report.stage_totals()
    if totals:
        lines.append("stage (seconds, all workers): " + ", ".join(f"{k} {v:.2f}" for k, v in totals.items()))
    return "\n".join(lines)  # (which reader and writer ran is among the summary's notes)
