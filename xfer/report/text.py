"""A run's report as the terminal shows it: the table of results with the details under it
(`render_text`), and the per-phase timings `--stats` adds (`render_stats`)."""

from __future__ import annotations

import json
from typing import Any

from xfer.core.report import Behaviour, RunReport, TableResult


def render_text(report: RunReport) -> str:
    """The results as a table, one row per table and a total, then what needs a person's eye."""
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
            check += f" ({v.in_flight:,} in flight)" if v and v.in_flight else ""
            counts = (_n(v.missing), _n(v.extra), _n(v.changed)) if v else ("-", "-", "-")
            rows.append((t.name, _n(t.source_rows), _n(t.target_rows), *counts, f"{t.seconds:.2f}", check))
        else:
            count = _copied(t)
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
        n = sum(_copied(t) or 0 for t in report.tables)
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
    made = [t["name"] for t in report.triggers if t["status"] == "created"]
    if made:
        out.append(f"triggers: {len(made)} created ({', '.join(made)})")
    for tr in report.triggers:
        if tr["status"] == "failed":
            out.append(f"trigger {tr['name']}: failed: {tr['reason']}")
    if report.renames:
        out.append(f"renamed: {len(report.renames)} name(s) (listed in the plan and the JSON report)")
    out.extend(f"note: {n}" for n in report.notes)
    out.extend(behaviour_lines(report.behaviour))
    return out


def behaviour_lines(items: list[Behaviour]) -> list[str]:
    """The behaviour section: what changes and what to do, once for every column it applies to
    (the JSON report lists each column's item)."""
    if not items:
        return []
    groups: dict[tuple[str, str], list[str]] = {}
    for b in items:
        groups.setdefault((b.change, b.action), []).append(b.where())
    out = [f"behaviour after cutover ({len(items)}):"]
    for (change, action), where in groups.items():
        out.append(f"  {', '.join(where)}: {change}")
        out.append(f"    do: {action}")
    return out


_COUNTS = ("missing", "extra", "changed")


def _copied(t: TableResult) -> int | None:
    """A migrate summary's rows: those this run copied (`source_rows`: refused rows not among
    them), never the target's count, which holds other rows too with --if-exists append."""
    return t.source_rows if t.source_rows is not None else t.target_rows


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
    out.extend(_in_flight(t))
    for note in t.notes if t.status != "ok" else []:
        out.append(f"  note: {note}")
    return out


def _in_flight(t: TableResult) -> list[str]:
    """--consistency live: the keys still changing in the source when the check ended."""
    v = t.verification
    if not v or not v.in_flight:
        return []
    out = [f"{t.name}: {v.in_flight:,} key(s) changed in the source during the check (not counted as differences):"]
    for s in v.in_flight_keys:
        who = ", ".join(f"{k}={_val(x)}" for k, x in (s.get("key") or {}).items())
        diffs = "; ".join(
            f"{c}: {_val(p['source'])} -> {_val(p['target'])}" for c, p in (s.get("columns") or {}).items()
        )
        out.append(f"  in flight, {s['kind']:<8} {who}" + (f"  {diffs}" if diffs else ""))
    if len(v.in_flight_keys) < v.in_flight:
        out.append(f"  ... and {v.in_flight - len(v.in_flight_keys):,} more (--sample)")
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
