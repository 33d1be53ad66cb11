"""Locating differences once the bucket maps disagree.

1. Drill: read only the rows of the mismatched buckets from each side (integer keys: key
   ranges, using the index; other keys: the key-hash condition computed by the server, or a
   client-side filter where the engine cannot compute it) into a DuckDB store.
2. Classify by the key's canonical text (never by SQL text comparison: collations differ):
   rows missing in the target, extra in the target, changed (with a hash per column, to name
   the columns that differ). Without a key, rows are compared as a multiset.
3. Re-check: the differing keys (up to `RECHECK_LIMIT`) are read again from both sides, outside
   the snapshot. A difference that is gone was transient (the source was being written, or the
   target was catching up) and is not reported; the report says so. The sample values shown
   are the re-read ones.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from xfer.core.canonical import display
from xfer.core.checksum import comparable
from xfer.verification.comparison import Comparison, Side, frame_sql
from xfer.verification.pushdown import bucket_filter, merge_ranges

if TYPE_CHECKING:  # duckdb itself is imported when a table needs locating
    from duckdb import DuckDBPyConnection

RECHECK_LIMIT = 10_000  # differing keys read again; beyond, counts are the snapshot's
KEYS_PER_QUERY = 500
RANGES_PER_QUERY = 200
FULL_READ_SHARE = 0.5  # hash buckets: past this share of mismatched buckets, read everything
STORE_MEMORY = "512MB"  # the drilled rows' frames beyond this spill to a temporary directory


@dataclass
class Located:
    missing: int = 0  # rows of the source absent from the target
    extra: int = 0  # rows of the target absent from the source
    changed: int = 0  # keys present on both sides with different values
    changed_columns: dict[str, int] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    rechecked: int = 0
    resolved: int = 0  # differences gone when re-read
    source_changed: int = 0  # re-read keys whose source row had changed since the snapshot
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.missing + self.extra + self.changed


def locate(
    source: Side,
    target: Side,
    cmp: Comparison,
    buckets: Sequence[int],
    n_buckets: int,
    sample: int,
    batch_rows: int,
    values: bool = False,
) -> Store:
    """Read the rows of `buckets` from both sides into a store (inside the snapshots); with
    `values`, each row's values too (for samples of differences that are not read again)."""
    store = Store(cmp, values)
    for side in (source, target):
        store.load(side, _bucket_batches(side, cmp, buckets, n_buckets, batch_rows), buckets)
    return store


def locate_mapped(
    source_rows: Side,
    batches: Iterator[pa.RecordBatch],
    target: Side,
    cmp: Comparison,
    buckets: Sequence[int],
    n_buckets: int,
    batch_rows: int,
) -> Store:
    """`locate` for a table a mapping file shapes: its source rows (`batches`, as the mapping
    shapes them) cannot be read by key range, so all are read and filtered here; the target's
    rows of `buckets` are read as usual."""
    store = Store(cmp, values=True)
    store.load(source_rows, batches, buckets)
    store.load(target, _bucket_batches(target, cmp, buckets, n_buckets, batch_rows), buckets)
    return store


class Store:
    """Canonical frames of the drilled rows of both sides, in DuckDB (spills to disk if large).
    With `values` (and always without a key) each row's displayed values are kept too, for
    samples that cannot be read again."""

    def __init__(self, cmp: Comparison, values: bool = False) -> None:
        import duckdb

        self.cmp = cmp
        self.con = duckdb.connect()
        # When most buckets differ (an empty target) the store holds a frame of every row: let
        # DuckDB spill to disk instead of growing without bound.
        self._tmp = tempfile.mkdtemp(prefix="xfer-diff-")
        self.con.execute(f"SET temp_directory = '{self._tmp}'")
        self.con.execute(f"SET memory_limit = '{STORE_MEMORY}'")
        self.con.execute("SET preserve_insertion_order = false")
        self.keyless = not cmp.spec.key
        self.values = values or self.keyless

    def load(self, side: Side, batches: Iterator[pa.RecordBatch], buckets: Sequence[int]) -> None:
        role = "s" if side.role == "source" else "t"
        self.con.execute(f"CREATE OR REPLACE TABLE mb_{role} AS SELECT unnest(?::BIGINT[]) AS b", [list(buckets)])
        empty = pa.RecordBatch.from_pylist([], schema=side.table.arrow_schema)
        self._insert(role, empty, side, create=True)
        for batch in batches:
            self._insert(role, batch, side, create=False)

    def _insert(self, role: str, batch: pa.RecordBatch, side: Side, create: bool) -> None:
        frames(batch, self.cmp, self.con, side)
        selected = self.con.sql(
            f"SELECT * FROM xfer_frame WHERE b IN (SELECT b FROM mb_{role}) ORDER BY i"
        ).to_arrow_table()
        self.con.unregister("xfer_frame")
        if self.values:  # nothing to re-read by: keep the rows' values for the report
            rows = [_row_display(batch, self.cmp, i) for i in selected.column("i").to_pylist()]
            selected = selected.append_column("disp", pa.array([json.dumps(r) for r in rows], pa.string()))
        self.con.register("xfer_sel", selected)
        if create:
            self.con.execute(f"CREATE TABLE {role} AS SELECT * FROM xfer_sel")
        else:
            self.con.execute(f"INSERT INTO {role} SELECT * FROM xfer_sel")
        self.con.unregister("xfer_sel")

    def differences(self, limit: int) -> tuple[Located, list[dict[str, Any]]]:
        """Counts over every drilled row, and the first `limit` differing keys (in a stable
        order: missing, extra, changed, then by key) with what the snapshot saw."""
        n = len(self.cmp.canons)
        flags = ", ".join(f"(s.x{i} IS DISTINCT FROM t.x{i}) AS f{i}" for i in range(n))
        kcols = len(self.cmp.spec.key)
        agg = ", ".join([f"min(x{i}) AS x{i}" for i in range(n)] + [f"min(k{j}) AS k{j}" for j in range(kcols)])
        disp = ", min(disp) AS disp" if self.values else ""
        side = f"SELECT kc, count(*) AS n, min(m) AS m, {agg}{disp} FROM {{}} GROUP BY kc"
        kind = (
            "CASE WHEN coalesce(t.n, 0) = 0 THEN 'missing' WHEN coalesce(s.n, 0) = 0 THEN 'extra' "
            "WHEN s.m <> t.m THEN 'changed' WHEN s.n > t.n THEN 'missing' ELSE 'extra' END"
        )
        skeys = "".join(f", s.k{j} AS sk{j}" for j in range(kcols))
        tkeys = "".join(f", t.k{j} AS tk{j}" for j in range(kcols))
        disps = ", coalesce(s.disp, t.disp) AS disp, s.disp AS sdisp, t.disp AS tdisp" if self.values else ""
        self.con.execute(
            f"CREATE OR REPLACE TABLE d AS SELECT coalesce(s.kc, t.kc) AS kc, {kind} AS kind, "
            f"coalesce(s.n, 0) AS sn, coalesce(t.n, 0) AS tn, s.m AS sm, t.m AS tm, {flags}{skeys}{tkeys}{disps} "
            f"FROM ({side.format('s')}) s FULL OUTER JOIN ({side.format('t')}) t ON s.kc = t.kc "
            f"WHERE coalesce(s.n, 0) <> coalesce(t.n, 0) OR s.m <> t.m"
        )
        col_counts = ", ".join(f"count(*) FILTER (WHERE kind = 'changed' AND f{i})" for i in range(n))
        row = self.con.execute(
            f"SELECT coalesce(sum(greatest(sn - tn, 0)), 0), coalesce(sum(greatest(tn - sn, 0)), 0), "
            f"count(*) FILTER (WHERE sn > 0 AND tn > 0 AND sm <> tm){', ' + col_counts if n else ''} FROM d"
        ).fetchone()
        assert row is not None
        out = Located(int(row[0]), int(row[1]), int(row[2]))
        out.changed_columns = {name: int(c) for name, c in zip(self.cmp.names, row[3:], strict=True) if c}
        cur = self.con.execute(
            "SELECT * FROM d ORDER BY CASE kind WHEN 'missing' THEN 0 WHEN 'extra' THEN 1 ELSE 2 END, kc LIMIT ?",
            [limit],
        )
        names = [c[0] for c in cur.description]
        first = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return out, first

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def frames(batch: pa.RecordBatch, cmp: Comparison, con: DuckDBPyConnection, side: Side) -> None:
    """Register `xfer_frame` in `con`: the canonical frame of `batch` (see `frame_sql`) plus the
    row's position `i` in the batch."""
    arrays = comparable(batch, cmp.schema, cmp.canons, cmp.name)
    names = [f"c{i}" for i in range(len(arrays))]
    for j, i in enumerate(cmp.spec.key):
        arrays.append(_duck_safe(batch.column(i)))
        names.append(f"k{j}")
    arrays.append(pa.array(range(batch.num_rows), pa.int64()))
    names.append("i")
    prepared = pa.RecordBatch.from_arrays(arrays, names=names)
    con.register("xfer_rows", prepared)
    try:
        rel = con.sql(frame_sql(cmp)).to_arrow_table()
    finally:
        con.unregister("xfer_rows")
    con.register("xfer_frame", rel)


def _duck_safe(arr: pa.Array) -> pa.Array:
    return arr.cast(pa.string()) if pa.types.is_decimal256(arr.type) else arr


def _bucket_batches(
    side: Side, cmp: Comparison, buckets: Sequence[int], n_buckets: int, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    d, table, spec = side.dialect, side.table, cmp.spec
    if spec.mode == "range":
        ranges = merge_ranges(buckets)
        for i in range(0, len(ranges), RANGES_PER_QUERY):
            chunk = [b for lo, hi in ranges[i : i + RANGES_PER_QUERY] for b in range(lo, hi + 1)]
            cond = bucket_filter(d, table, cmp.canons, spec, chunk)
            assert cond is not None
            yield from d.read_rows(table, cond[0], cond[1], batch_rows)
        return
    cond = None
    if len(buckets) <= FULL_READ_SHARE * n_buckets:
        cond = bucket_filter(d, table, cmp.canons, spec, buckets)
    if cond is None:  # the engine cannot compute the buckets: read all, filter here
        yield from d.read_batches(table, batch_rows)
    else:
        yield from d.read_rows(table, cond[0], cond[1], batch_rows)


# -- re-check and samples ----------------------------------------------------------------------
def recheck(
    source: Side, target: Side, cmp: Comparison, found: Located, first: list[dict[str, Any]], sample: int
) -> None:
    """Read the differing keys in `first` again from both sides; update the counts in `found`
    with what is true now, and take the samples from the re-read rows."""
    n = len(cmp.canons)
    kcols = len(cmp.spec.key)
    keys = {r["kc"]: _key_of(r, kcols) for r in first}
    now_s = fetch_keys(source, cmp, keys)
    now_t = fetch_keys(target, cmp, keys)
    for r in first:  # take the snapshot's view of these keys out of the counts...
        count_difference(found, cmp, r["kind"], r["sn"], r["tn"], [r[f"f{i}"] for i in range(n)], -1)
    found.rechecked = len(first)
    for r in first:  # ...and put what is true now in
        kc = r["kc"]
        s, t = now_s.get(kc), now_t.get(kc)
        if (s[0] if s else None) != r["sm"]:
            found.source_changed += 1
        kind, flags = classify(s, t, n)
        if kind is None:
            found.resolved += 1
            continue
        count_difference(found, cmp, kind, 1 if s else 0, 1 if t else 0, flags, +1)
        if len(found.samples) < sample:
            found.samples.append(sample_of(cmp, kind, keys[kc], s[2] if s else [], t[2] if t else [], flags))
    found.changed_columns = {k: v for k, v in found.changed_columns.items() if v}
    if found.source_changed:
        found.notes.append(
            f"the source was written during the check: {found.source_changed} of the {len(first)} differing "
            f"key(s) had changed when read again; {found.resolved} difference(s) were gone and are not reported"
        )
    elif found.resolved:
        found.notes.append(f"{found.resolved} difference(s) were gone when read again (the target was catching up)")


def multiset_samples(store: Store, found: Located, first: list[dict[str, Any]], sample: int) -> None:
    found.notes.append("no key: rows compared as a multiset (counts of missing and extra rows); not re-checked")
    for r in first[:sample]:
        count = abs(int(r["sn"]) - int(r["tn"]))
        found.samples.append({"kind": r["kind"], "row": json.loads(r["disp"]), "count": count})


def mapped_samples(cmp: Comparison, found: Located, first: list[dict[str, Any]], sample: int) -> None:
    """Samples of a mapped table's differences, with the values read in the snapshot (a
    mapping has no single source row to read again, so they are not re-checked)."""
    found.notes.append("mapped table: differences located in the snapshot's rows; not re-checked")
    for r in first[:sample]:
        s, t = (json.loads(r[side]) if r[side] else {} for side in ("sdisp", "tdisp"))
        flags = [bool(r[f"f{i}"]) for i in range(len(cmp.names))]
        values = [s.get(n) for n in cmp.names], [t.get(n) for n in cmp.names]
        found.samples.append(sample_of(cmp, r["kind"], _key_of(r, len(cmp.spec.key)), *values, flags))


def _key_of(r: dict[str, Any], kcols: int) -> tuple[Any, ...]:
    """A differing row's raw key values, from the side that has the row."""
    pre = "sk" if r["sn"] else "tk"
    return tuple(r[f"{pre}{j}"] for j in range(kcols))


def classify(s: Any, t: Any, n: int) -> tuple[str | None, list[bool]]:
    if s is None and t is None:
        return None, [False] * n
    if t is None:
        return "missing", [False] * n
    if s is None:
        return "extra", [False] * n
    if s[0] == t[0]:
        return None, [False] * n
    return "changed", [a != b for a, b in zip(s[1], t[1], strict=True)]


def count_difference(found: Located, cmp: Comparison, kind: str, sn: int, tn: int, flags: list[Any], sign: int) -> None:
    if kind == "changed":
        found.changed += sign
        for name, f in zip(cmp.names, flags, strict=True):
            if f:
                found.changed_columns[name] = found.changed_columns.get(name, 0) + sign
    else:
        found.missing += sign * max(sn - tn, 0)
        found.extra += sign * max(tn - sn, 0)


def sample_of(
    cmp: Comparison, kind: str, key: tuple[Any, ...], s: list[Any], t: list[Any], flags: list[bool]
) -> dict[str, Any]:
    """A sample for the report: the key, and for a changed row the differing columns' displayed
    values on each side (`s`, `t`: every column's, in order)."""
    canons = [cmp.canons[i] for i in cmp.spec.key]
    out: dict[str, Any] = {
        "kind": kind,
        "key": {n: display(v, c) for n, v, c in zip(cmp.key_names, key, canons, strict=True)},
    }
    if kind == "changed":
        out["columns"] = {
            name: {"source": s[i], "target": t[i]}
            for i, (name, f) in enumerate(zip(cmp.names, flags, strict=True))
            if f
        }
    return out


def fetch_keys(
    side: Side, cmp: Comparison, keys: dict[str, tuple[Any, ...]]
) -> dict[str, tuple[str, list[int], list[Any]]]:
    """Rows of `side` for the given keys, read now: canonical key -> (row MD5, column hashes,
    displayed values). SQL may return more (collations); only exact canonical matches count."""
    found = fetch_rows(side, cmp, list(keys.values()))
    return {kc: v for kc, v in found.items() if kc in keys}


def fetch_rows(
    side: Side, cmp: Comparison, values: list[tuple[Any, ...]]
) -> dict[str, tuple[str, list[int], list[Any]]]:
    """Rows of `side` whose key is one of `values` (raw key values), read now: canonical key ->
    (row MD5, column hashes, displayed values)."""
    import duckdb

    d, table = side.dialect, side.table
    cols = [d.quote(table.columns[i].name) for i in cmp.spec.key]
    mark = d.param_marker
    out: dict[str, tuple[str, list[int], list[Any]]] = {}
    con = duckdb.connect()
    try:
        for start in range(0, len(values), KEYS_PER_QUERY):
            chunk = values[start : start + KEYS_PER_QUERY]
            if len(cols) == 1:
                where = f"{cols[0]} IN ({', '.join(mark for _ in chunk)})"
                params: list[Any] = [v[0] for v in chunk]
            else:
                one = "(" + " AND ".join(f"{c} = {mark}" for c in cols) + ")"
                where = " OR ".join(one for _ in chunk)
                params = [x for v in chunk for x in v]
            for batch in d.read_rows(table, where, params, KEYS_PER_QUERY):
                frames(batch, cmp, con, side)
                rows = con.execute("SELECT * FROM xfer_frame").fetchall()
                con.unregister("xfer_frame")
                n = len(cmp.canons)
                for r in rows:
                    kc, m = r[0], r[1]
                    if kc not in out:
                        i = r[-1]
                        out[kc] = (m, list(r[3 : 3 + n]), _row_values(batch, cmp, i))
    finally:
        con.close()
    return out


def _row_values(batch: pa.RecordBatch, cmp: Comparison, i: int) -> list[Any]:
    out = []
    for arr, f, canon in zip(batch.columns, cmp.schema, cmp.canons, strict=True):
        v = arr[i]
        if canon.kind not in ("json", "bool", "other") and arr.type != f.type:
            try:
                v = v.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        out.append(display(v.as_py(), canon))
    return out


def _row_display(batch: pa.RecordBatch, cmp: Comparison, i: int) -> dict[str, Any]:
    return dict(zip(cmp.names, _row_values(batch, cmp, i), strict=True))
