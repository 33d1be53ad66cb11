"""`--backup DIR` and `xfer restore`: target tables that `--if-exists truncate|replace` is about
to overwrite are first saved as Parquet (through Arrow, from any target engine), and can be put
back.

Layout: `DIR/<label>/manifest.json` (the tables, their columns with native types, primary key,
indexes, row counts) and one `.parquet` file per table. A file is written under a temporary
name and renamed when complete, and the manifest last, so a backup cut short is never taken
for a whole one.

Restoring a table that exists with the saved columns replaces its rows; one that is gone (or
has other columns) is re-created from the manifest -- columns, NOT NULL, defaults, primary key,
indexes -- and loaded. What the manifest does not hold (CHECKs, triggers, grants, foreign keys
into the table) is not re-created; the README says so.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from xfer.core.errors import UsageError, XferError
from xfer.core.schema import Column, Index, Table
from xfer.dialects.base import Dialect

log = logging.getLogger("xfer")

MANIFEST = "manifest.json"
BATCH_ROWS = 50_000


@dataclass
class Saved:
    table: str
    file: str
    rows: int


def save_tables(target: Dialect, names: list[str], directory: Path, label: str) -> Path:
    """Save every table of `names` that holds rows; return the backup's directory."""
    out = directory / label
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--backup: cannot create {out}: {exc.strerror}") from None
    entries = []
    for i, table in enumerate(target.introspect(names)):
        file = f"{i:03d}-{_safe(table.name)}.parquet"
        rows = _save(target, table, out / file)
        entries.append({"table": table.name, "file": file, "rows": rows, "definition": _model(table)})
        log.warning("backup: %s (%s rows) -> %s", table.name, f"{rows:,}", out / file)
    manifest = {
        "xfer_backup": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "target": str(target.url),
        "engine": target.name,
        "tables": entries,
    }
    _atomic_write(out / MANIFEST, json.dumps(manifest, indent=2).encode())
    return out


def _save(target: Dialect, table: Table, path: Path) -> int:
    tmp = path.with_suffix(".parquet.partial")
    rows = 0
    with pq.ParquetWriter(tmp, table.arrow_schema) as writer:
        for batch in target.read_batches(table, BATCH_ROWS):
            writer.write_batch(batch)
            rows += batch.num_rows
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return rows


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".partial")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "table"


def _model(t: Table) -> dict[str, Any]:
    return {
        "columns": [
            {"name": c.name, "type": c.native_type, "nullable": c.nullable, "default": c.default} for c in t.columns
        ],
        "primary_key": t.primary_key,
        "indexes": [{"name": ix.name, "columns": ix.columns, "unique": ix.unique} for ix in t.indexes],
    }


# -- restore ----------------------------------------------------------------------------------
@dataclass
class RestoreStep:
    table: str
    rows: int
    action: str  # "replace rows" | "create" | "re-create"
    path: Path
    definition: dict[str, Any]

    def __str__(self) -> str:
        what = {
            "replace rows": "replace its rows with",
            "create": "create it (it is gone) and load",
            "re-create": "drop it (its columns differ from the backup's) and re-create it with",
        }[self.action]
        return f"{self.table}: {what} the {self.rows:,} saved row(s)"


def find_backup(directory: Path) -> Path:
    """`directory` itself when it holds a manifest, else its newest backup."""
    if (directory / MANIFEST).is_file():
        return directory
    found = sorted(p.parent for p in directory.glob(f"*/{MANIFEST}")) if directory.is_dir() else []
    if not found:
        raise UsageError(f"no xfer backup in {directory} (no {MANIFEST} in it or in a directory below it)")
    return found[-1]


def plan_restore(target: Dialect, directory: Path, tables: tuple[str, ...] = ()) -> tuple[Path, list[RestoreStep]]:
    where = find_backup(directory)
    try:
        manifest = json.loads((where / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the backup manifest {where / MANIFEST}: {exc}") from None
    entries = manifest.get("tables", [])
    if tables:
        unknown = sorted(set(tables) - {e["table"] for e in entries})
        if unknown:
            raise UsageError(f"not in the backup {where}: {', '.join(unknown)}")
        entries = [e for e in entries if e["table"] in tables]
    present = set(target.list_tables())
    live = {t.name: t for t in target.introspect([e["table"] for e in entries if e["table"] in present])}
    steps = []
    for e in entries:
        cols = [(c["name"], c["type"]) for c in e["definition"]["columns"]]
        now = live.get(e["table"])
        if now is None:
            action = "create"
        elif [(c.name, c.native_type) for c in now.columns] == cols:
            action = "replace rows"
        else:
            action = "re-create"
        steps.append(RestoreStep(e["table"], e["rows"], action, where / e["file"], e["definition"]))
    return where, steps


def restore(target: Dialect, steps: list[RestoreStep]) -> None:
    """Carry out `steps`. Each table is emptied (or made) and loaded; running it again after a
    failure starts that table over, so a restore is safe to re-run."""
    for s in steps:
        pf = pq.ParquetFile(s.path)
        table = _table(target, s, pf.schema_arrow)
        if s.action == "re-create":
            target.drop_table(s.table)
        if s.action in ("create", "re-create"):
            for sql in target.create_table_sql(table):
                target.execute(sql)
        else:
            target.execute(f"DELETE FROM {target.qualified(s.table)}")
        loaded = sum(target.write_batches(table, _batches(pf, table.arrow_schema)))
        if s.action != "replace rows":
            for sql in target.post_data_sql(table):
                target.execute(sql)
        if loaded != s.rows:
            raise XferError(f"restore of {s.table}: {loaded} rows loaded, the backup says {s.rows}")
        log.info("restored %s (%s rows)", s.table, f"{loaded:,}")


def _table(target: Dialect, s: RestoreStep, schema: pa.Schema) -> Table:
    d = s.definition
    cols = []
    for c, f in zip(d["columns"], schema, strict=True):
        default = c.get("default")
        if default and "nextval(" in default:
            default = None  # the sequence went with the table
        cols.append(Column(c["name"], c["type"], f.type, nullable=c["nullable"], default=default))
    indexes = [Index(ix["name"], ix["columns"], unique=ix["unique"]) for ix in d.get("indexes", [])]
    return Table(s.table, cols, primary_key=d.get("primary_key", []), indexes=indexes)


def _batches(pf: pq.ParquetFile, schema: pa.Schema) -> Any:
    for batch in pf.iter_batches(BATCH_ROWS):
        yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def restore_backup(
    target_url: str, directory: Path, tables: tuple[str, ...], confirm: Callable[[Path, list[RestoreStep]], bool]
) -> tuple[Path, list[RestoreStep]] | None:
    """Plan the restore of the backup in `directory` into the target, let `confirm` see it,
    and carry it out if it says yes; None when it says no."""
    from contextlib import ExitStack

    from xfer.dialects.connect import open_target

    with ExitStack() as stack:
        target = open_target(target_url, stack)
        where, steps = plan_restore(target, directory, tables)
        if not confirm(where, steps):
            return None
        restore(target, steps)
        return where, steps
