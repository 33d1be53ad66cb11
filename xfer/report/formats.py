"""A run's report as a document: JSON (the stable schema), Markdown or HTML (a sign-off sheet a
person reads and signs). Markdown and HTML are rendered from the same blocks."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

from xfer.core import __version__
from xfer.core.report import RunReport, TableResult, Verification
from xfer.report.text import render_text

FORMATS = ("text", "json", "md", "html")
SUFFIXES = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".txt": "text"}

Block = tuple[str, Any]  # ("h1" | "h2" | "p", text) or ("table", (headers, rows))


def render(report: RunReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2, default=str, ensure_ascii=False) + "\n"
    if fmt == "md":
        return to_markdown(blocks(report))
    if fmt == "html":
        return to_html(blocks(report), title=_title(report))
    return render_text(report) + "\n"


def write(report: RunReport, path: Path) -> None:
    """Write the report; the file's suffix picks the format (.md, .html, else JSON)."""
    path.write_text(render(report, SUFFIXES.get(path.suffix.lower(), "json")), encoding="utf-8")


def _title(report: RunReport) -> str:
    return "Verification report" if report.command == "verify" else "Migration report"


def _verdict(report: RunReport) -> str:
    rows = sum(t.source_rows or 0 for t in report.tables)
    n = len(report.tables)
    if report.status == "ok":
        return f"IDENTICAL: {n} table(s), {rows:,} source row(s), every one found in the target"
    if report.status == "mismatch":
        return f"DIFFERENCES in {len(report.mismatched)} of {n} table(s)"
    return f"ERRORS in {len(report.failed)} of {n} table(s)"


def blocks(report: RunReport) -> list[Block]:
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.started_at))
    out: list[Block] = [
        ("h1", _title(report)),
        (
            "table",
            (
                ["", ""],
                [
                    ["Result", _verdict(report)],
                    ["Source", report.source],
                    ["Target", report.target],
                    ["Started", started],
                    ["Duration", f"{report.seconds:.2f} s"],
                    ["Tool", f"xfer {__version__} ({report.command})"],
                ],
            ),
        ),
        ("h2", "Tables"),
        (
            "table",
            (
                ["table", "source rows", "target rows", "missing", "extra", "changed", "method", "result"],
                [_summary_row(t) for t in report.tables],
            ),
        ),
    ]
    for note in report.notes:
        out.append(("p", f"Note: {note}"))
    for t in report.tables:
        out.extend(_table_blocks(t))
    if report.behaviour:  # what the application's team reads before cutover
        out.append(("h2", "Behaviour after cutover"))
        rows = [[b.where(), b.change, b.action] for b in report.behaviour]
        out.append(("table", (["where", "what changes", "what to do"], rows)))
    out += [
        ("h2", "Sign-off"),
        ("table", (["", ""], [["Checked by", ""], ["Role", ""], ["Date", ""], ["Signature", ""]])),
    ]
    return out


def _summary_row(t: TableResult) -> list[str]:
    v = t.verification
    method = f"{v.method.get('source', '-')} / {v.method.get('target', '-')}" if v else "-"
    counts = [str(v.missing), str(v.extra), str(v.changed)] if v else ["-", "-", "-"]
    result = {"ok": "identical", "mismatch": "DIFFERENCES", "missing": "MISSING TABLE", "failed": "ERROR"}
    flight = f" ({v.in_flight:,} in flight)" if v and v.in_flight else ""
    return [t.name, _n(t.source_rows), _n(t.target_rows), *counts, method, result.get(t.status, t.status) + flight]


def _table_blocks(t: TableResult) -> list[Block]:
    out: list[Block] = [("h2", f"{t.name}" + (f" → {t.target_name}" if t.target_name != t.name else ""))]
    v = t.verification
    facts = [
        ["Result", {"ok": "identical"}.get(t.status, t.status.upper()) + (f": {t.error}" if t.error else "")],
        ["Rows (source / target)", f"{_n(t.source_rows)} / {_n(t.target_rows)}"],
        ["Checksum (source / target)", f"{t.source_checksum or '-'} / {t.target_checksum or '-'}"],
    ]
    if v:
        facts += [
            ["Key", ", ".join(v.key) if v.key else "none (rows compared as a multiset)"],
            ["Buckets", f"{v.buckets:,} by {v.bucketing}, {v.buckets_mismatched:,} mismatched"],
            ["Method", "; ".join(f"{side}: {m} ({v.method_reason.get(side, '')})" for side, m in v.method.items())],
            ["Seconds", ", ".join(f"{k} {s:.2f}" for k, s in v.seconds.items())],
        ]
        if v.rechecked:
            facts.append(["Re-checked", f"{v.rechecked} key(s), {v.resolved_on_recheck} difference(s) gone"])
        facts += _in_flight_facts(v)
    out.append(("table", (["", ""], facts)))
    for note in t.notes:
        out.append(("p", f"Note: {note}"))
    if v and v.changed_columns:
        out.append(("p", "Changed rows per column: " + ", ".join(f"{c} {n}" for c, n in v.changed_columns.items())))
    if v and v.samples:
        out.append(("table", (["kind", "key / row", "column", "source", "target"], _sample_rows(v.samples))))
    if v and v.policies:
        out.append(("table", (["column", "comparison rule"], [[c, p] for c, p in v.policies.items()])))
    return out


def _in_flight_facts(v: Verification) -> list[list[str]]:
    """--consistency live: the keys still changing in the source when the check ended."""
    if not v.in_flight:
        return []
    keys = "; ".join(_pairs(s.get("key") or {}) for s in v.in_flight_keys)
    more = f" and {v.in_flight - len(v.in_flight_keys):,} more" if len(v.in_flight_keys) < v.in_flight else ""
    return [["Changed in the source during the check", f"{v.in_flight:,} key(s), not counted: {keys}{more}"]]


def _sample_rows(samples: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for s in samples:
        who = _pairs(s.get("key") or s.get("row") or {})
        if s.get("count", 1) != 1:
            who += f" (×{s['count']})"
        cols = s.get("columns")
        if not cols:
            rows.append([s["kind"], who, "", "", ""])
            continue
        for name, pair in cols.items():
            rows.append([s["kind"], who, name, _show(pair["source"]), _show(pair["target"])])
    return rows


def _pairs(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in d.items())


def _show(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False) if isinstance(v, str | bool) or v is None else str(v)


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


# -- renderers ---------------------------------------------------------------------------------
def to_markdown(doc: list[Block]) -> str:
    out = []
    for kind, body in doc:
        if kind == "h1":
            out.append(f"# {body}\n")
        elif kind == "h2":
            out.append(f"## {body}\n")
        elif kind == "p":
            out.append(f"{_md(body)}\n")
        else:
            headers, rows = body
            out.append("| " + " | ".join(_md(h) for h in headers) + " |")
            out.append("|" + "---|" * len(headers))
            out.extend("| " + " | ".join(_md(c) for c in r) + " |" for r in rows)
            out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_html(doc: list[Block], title: str) -> str:
    e = html.escape
    body = []
    for kind, content in doc:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{e(content)}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(content)}</p>")
        else:
            headers, rows = content
            head = "" if not any(headers) else "<tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>"
            trs = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
            body.append(f"<table>{head}{trs}</table>")
    style = (
        "body{font-family:sans-serif;max-width:72em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #bbb;padding:.25em .6em;"
        "text-align:left;vertical-align:top}th{background:#eee}td{white-space:pre-wrap}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{style}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
