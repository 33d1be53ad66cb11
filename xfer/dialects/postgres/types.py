"""PostgreSQL's types as data: the neutral Arrow type of each PostgreSQL type and back."""

from __future__ import annotations

import pyarrow as pa

# Neutral Arrow type -> PostgreSQL type. PostgreSQL has no unsigned integers: each unsigned
# type goes to the next wider signed one, and uint64 to numeric(20,0), which holds 2**64-1.
ARROW_TO_PG: dict[pa.DataType, str] = {
    pa.bool_(): "boolean",
    pa.int8(): "smallint",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.uint8(): "smallint",
    pa.uint16(): "integer",
    pa.uint32(): "bigint",
    pa.uint64(): "numeric(20,0)",
    pa.float32(): "real",
    pa.float64(): "double precision",
    pa.string(): "text",
    pa.large_string(): "text",
    pa.binary(): "bytea",
    pa.large_binary(): "bytea",
    pa.date32(): "date",
    pa.timestamp("us"): "timestamp(6)",
    pa.timestamp("us", tz="UTC"): "timestamptz(6)",
    pa.time64("us"): "time(6)",
    pa.duration("us"): "interval",
}

# PostgreSQL type name (format_type output, before any "(") -> neutral Arrow type
PG_TO_ARROW: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "text": pa.string(),
    "character varying": pa.string(),
    "varchar": pa.string(),
    "character": pa.string(),
    "char": pa.string(),
    "bpchar": pa.string(),
    "uuid": pa.string(),
    "json": pa.string(),
    "jsonb": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "time without time zone": pa.time64("us"),
    "interval": pa.duration("us"),
}

# Short names PostgreSQL accepts besides format_type()'s spelling (for "did you mean" only)
TYPE_ALIASES = ("int", "int2", "int4", "int8", "float4", "float8", "bool", "varchar", "char", "timestamptz", "decimal")
