"""What both sides of one table's comparison share: the compared columns with their rules
(`Canon`), the comparison schema, the key and how rows fall into buckets (`KeySpec`).

The bucket spec is decided once, from the source, before either side is hashed: an integer
key's range is read from the source (MIN/MAX, using its index), any other key is hashed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

import pyarrow as pa

from xfer.core.canonical import Canon, canon_for, duck_encoded
from xfer.core.checksum import KeySpec, bucket_count, bucket_sql, fast_scheme, range_width, row_sql
from xfer.core.schema import Table
from xfer.dialects.base import Dialect
from xfer.planning.build import TablePlan


@dataclass
class Side:
    role: str  # "source" | "target"
    dialect: Dialect
    table: Table  # as this side stores it; columns in the compared order


@dataclass
class Comparison:
    name: str  # the source table's name (reports use it)
    names: list[str]  # the compared columns' source names, for reports
    canons: list[Canon]
    schema: pa.Schema  # the comparison types (the target's, as the plan maps them)
    spec: KeySpec

    @property
    def key_names(self) -> list[str]:
        return [self.names[i] for i in self.spec.key]

    @property
    def policies(self) -> dict[str, str]:
        return {n: c.policy for n, c in zip(self.names, self.canons, strict=True)}


def hash_scheme(requested: str, *sides: Dialect) -> str:
    """The fast hash when every side will be hashed client side (`--method client`, or `auto`
    with every server on this host or unable to hash in SQL); else the portable MD5, which a
    side may compute in its database (see `verify.choose_method`)."""
    local = all(d.hash_sql is None or is_local(d.url.host) for d in sides)
    return fast_scheme() if requested == "client" or (requested == "auto" and local) else "md5"


def is_local(host: str | None) -> bool:
    if not host or host == "localhost" or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def choose_key(table: Table) -> list[int]:
    """Positions of the primary key, else of the first unique index whose columns are all NOT
    NULL (it identifies rows just as well), else none."""
    names = [c.name for c in table.columns]
    candidates = [table.primary_key] + [ix.columns for ix in table.indexes if ix.unique]
    for cols in candidates:
        if cols and all(c in names and (c in table.primary_key or not table.column(c).nullable) for c in cols):
            return [names.index(c) for c in cols]
    return []


def plan_comparison(
    source: Dialect,
    tp: TablePlan,
    float_digits: int | None = None,
    spec: KeySpec | None = None,
    scheme: str = "md5",
) -> Comparison:
    """Rules per column and the bucket spec (unless given, decided here: an integer key's range
    is read from the source; `scheme` is how rows will be hashed, see `checksum`)."""
    canons = [
        canon_for(s, t, float_digits, source.has_zero_dates)
        for s, t in zip(tp.source.columns, tp.target.columns, strict=True)
    ]
    if tp.mapped is not None:  # a mapping file's verify settings: columns left out, floats rounded
        check = tp.mapped.check
        canons = [
            replace(c, ignored=True, kind="other", policy="left out (mapping file)")
            if c.name in check.ignored
            else canon_for(s, t, check.float_digits[c.name], source.has_zero_dates)
            if c.name in check.float_digits
            else c
            for c, s, t in zip(canons, tp.source.columns, tp.target.columns, strict=True)
        ]
    names = [c.name for c in tp.source.columns]
    if spec is not None:
        return Comparison(tp.source.name, names, canons, tp.target.arrow_schema, spec)
    key = choose_key(tp.target)
    estimate = tp.source.row_estimate or 0
    if tp.mapped is not None:
        # a mapped table is no single source table to query: bucket by a hash of the key
        spec = KeySpec("hash" if key else "rows", tuple(key), buckets=bucket_count(estimate or 1), scheme=scheme)
        return Comparison(tp.source.name, names, canons, tp.target.arrow_schema, spec)
    if not key:
        spec = KeySpec("rows", (), buckets=bucket_count(estimate or source.count_rows(tp.source.name)), scheme=scheme)
    elif len(key) == 1 and canons[key[0]].kind == "int":
        low, high = key_bounds(source, tp.source, key[0])
        spec = KeySpec("range", tuple(key), width=range_width(low, high, estimate), scheme=scheme)
    else:
        spec = KeySpec(
            "hash", tuple(key), buckets=bucket_count(estimate or source.count_rows(tp.source.name)), scheme=scheme
        )
    return Comparison(tp.source.name, names, canons, tp.target.arrow_schema, spec)


def key_bounds(d: Dialect, table: Table, position: int) -> tuple[int | None, int | None]:
    k = d.quote(table.columns[position].name)
    ((low, high),) = d.verify_query(f"SELECT MIN({k}), MAX({k}) FROM {d.qualified(table.name)}")
    return (None, None) if low is None else (int(low), int(high))


def frame_sql(cmp: Comparison, relation: str = "xfer_rows") -> str:
    """DuckDB, over a relation of prepared columns c0..cn, raw key columns k0..kj and the row's
    position `i`: one row per input row with its identity `kc` (the key's canonical text; the
    row's MD5 without a key), its MD5 `m`, bucket `b`, a hash per column `x0..xn` (to name the
    columns that differ), the raw key values and `i`."""
    canons, spec = cmp.canons, cmp.spec
    kc = row_sql(canons, spec.key) if spec.key else "m"
    xs = ", ".join(f"hash({duck_encoded(f'c{i}', c)}) AS x{i}" for i, c in enumerate(canons))
    ks = "".join(f", k{j}" for j in range(len(spec.key)))
    inner = f"SELECT *, md5({row_sql(canons)}) AS m FROM {relation}"
    return f"SELECT {kc} AS kc, m, {bucket_sql(canons, spec)} AS b, {xs}{ks}, i FROM ({inner})"
