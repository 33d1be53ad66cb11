"""Checks of names and types against the source and the target, and verification settings.

All of them only read: type names through the catalogue, row filters over no rows.
"""

from __future__ import annotations

import re

import pyarrow as pa

from xfer.core.errors import CopyError
from xfer.core.schema import Table
from xfer.dialects.base import Dialect
from xfer.mapping.model import Mapping, Selection
from xfer.mapping.problems import Path, Problems, did_you_mean
from xfer.mapping.typerules import base_name, rule_matches
from xfer.planning.draft import Draft
from xfer.planning.read import Check
from xfer.planning.shape import OutCol


def check_type(native: str, path: Path, target: Dialect, m: Mapping, notes: list[str], problems: Problems) -> None:
    if target.type_exists(native) is False:
        split = re.match(r"\s*([^(\[]*)(.*)", native)
        assert split is not None  # every part of the pattern may be empty: it matches any string
        base, params = split.groups()
        if any(h.on == "target" and base.strip().lower() in h.sql.lower() for h in m.before):
            # CREATE EXTENSION citext / CREATE DOMAIN / CREATE TYPE in a before hook: not there yet
            note = f"type {native!r} does not exist in the target yet: a before hook is expected to create it"
            if note not in notes:
                notes.append(note)
            return
        hint = did_you_mean(base.strip(), sorted(target.known_type_names()), listing="types")
        hint = re.sub(r"'([^']*)'", lambda g: repr(g[1] + params), hint) if hint.startswith("did you") else hint
        problems.add(path, f"{target.name} has no type {native!r}", hint)


def check_cast(c: OutCol, src: pa.DataType, dst: pa.DataType, native: str, path: Path, problems: Problems) -> None:
    if src == dst:
        return
    try:
        pa.array([], src).cast(dst)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        problems.add(
            path,
            f"column {c.name!r}: values of type {src} cannot become {native}",
            "choose another type, or convert with `expr:`",
        )


def verify_settings(d: Draft, table: Table, problems: Problems) -> Check:
    """Verification settings, in the target's (possibly shortened) column names."""
    names = [c.name for c in d.cols]
    final = {c.name: t.name for c, t in zip(d.cols, table.columns, strict=True)}
    v = d.verify
    check = Check(skip=v.skip)
    for i, name in enumerate(v.ignore_columns):
        if name in final:
            check.ignored.add(final[name])
        else:
            problems.add(
                v.path + ("ignore_columns", i),
                f"{name!r} is not a column of target table {d.target!r}",
                did_you_mean(name, names, listing="its columns"),
            )
    for c, t in zip(d.cols, table.columns, strict=True):
        floating = pa.types.is_floating(t.arrow)
        if c.verify.ignore:
            check.ignored.add(t.name)
        if c.verify.float_digits is not None and not floating:
            problems.add(
                c.path + ("verify", "float_digits"),
                f"float_digits applies to floating-point columns; {c.name!r} is {t.native_type}",
                "remove it",
            )
        digits = c.verify.float_digits or (v.float_digits if floating else None)
        if digits and floating:
            check.float_digits[t.name] = digits
    if check.ignored:
        d.notes.append("verification leaves out: " + ", ".join(sorted(check.ignored)))
    if check.float_digits:
        d.notes.append(
            "verification compares floats to "
            + ", ".join(f"{n}: {k} significant digits" for n, k in sorted(check.float_digits.items()))
        )
    if check.skip:
        d.notes.append("not verified (verify: false)")
    return check


def check_type_rules(
    m: Mapping, source: Dialect, target: Dialect, drafts: list[Draft], notes: list[str], problems: Problems
) -> None:
    known = source.known_type_names()
    cols = [(s.table.name, c) for d in drafts for s in d.inputs for c in s.table.columns]
    for i, rule in enumerate(m.types):
        check_type(rule.target, rule.path + ("target",), target, m, notes, problems)
        if rule.source is not None and known:
            name = base_name(rule.source)
            if name not in known and not any(ch in name for ch in "*?["):
                problems.add(
                    rule.path + ("match", "source"),
                    f"{source.name} has no type {name!r}",
                    did_you_mean(name, sorted(known), listing="types"),
                )
                continue
        if not any(rule_matches(rule, t, c.name, c.native_type) for t, c in cols):
            notes.append(f"type rule {i + 1} ({m.where(rule.path)}) matches no column")


_COLUMN_IN_MESSAGE = re.compile(r"column ['\"`]?([\w$]+)", re.I)


def probe_filters(drafts: list[Draft], source: Dialect, problems: Problems) -> None:
    """Run each row filter in the source over no rows: the engine checks names and syntax."""
    for d in drafts:
        for s in d.inputs:
            where = s.sel.where
            if not where:
                continue
            try:
                for _ in source.read_batches(s.read.table, 1, where=f"({where}) AND 1=0"):
                    pass
            except CopyError as exc:
                msg = exc.message.split(": ", 1)[-1]
                msg = re.sub(r"""^\(\d+, ["'](.*)["']\)$""", r"\1", msg)  # pymysql's (errno, "text")
                names = [c.name for c in s.table.columns]
                m = _COLUMN_IN_MESSAGE.search(msg)
                hint = did_you_mean(m[1], names, listing="columns") if m and m[1] not in names else None
                problems.add(
                    _where_path(s.sel),
                    f"the source rejects the row filter of {s.table.name!r}: {msg}",
                    hint or "`where` is an SQL condition in the source's dialect",
                )


def _where_path(sel: Selection) -> Path:
    return sel.path + ("where",)
