"""Verification between the embedded engines (no server): SQLite -> DuckDB, where checksums are
always computed client side and hash buckets are filtered client side."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import duckdb


def _source(path: Path) -> str:
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price DECIMAL(10,2), seen TIMESTAMP);
        CREATE TABLE tags (code TEXT NOT NULL, lang TEXT NOT NULL, label TEXT, PRIMARY KEY (code, lang));
        CREATE TABLE log (at TIMESTAMP, msg TEXT);
        """
    )
    con.executemany(
        "INSERT INTO items VALUES (?, ?, ?, ?)",
        [(i, f"item {i}", f"{i}.{i % 100:02d}", f"2024-01-01 00:00:{i % 60:02d}") for i in range(1, 5001)],
    )
    con.executemany("INSERT INTO tags VALUES (?, ?, ?)", [(f"t{i}", "en", f"tag {i}") for i in range(3000)])
    con.executemany("INSERT INTO log VALUES (?, ?)", [("2024-01-01 10:00:00", "start"), (None, "again")] * 3)
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def test_sqlite_to_duckdb_differences_are_located(tmp_path: Path, run_cli: Any) -> None:
    src = _source(tmp_path / "src.db")
    tgt = f"duckdb:///{tmp_path / 'tgt.duckdb'}"
    assert run_cli("migrate", src, tgt, "-q").exit_code == 0
    clean = run_cli("verify", src, tgt)
    assert clean.exit_code == 0, clean.output

    con = duckdb.connect(str(tmp_path / "tgt.duckdb"))
    con.execute("UPDATE items SET price = price + 0.01 WHERE id = 4242")
    con.execute("DELETE FROM tags WHERE code = 't7'")
    con.execute("UPDATE tags SET label = NULL WHERE code = 't2999'")
    con.execute("DELETE FROM log WHERE msg = 'again' AND rowid = (SELECT min(rowid) FROM log WHERE msg = 'again')")
    con.close()

    report = tmp_path / "r.json"
    result = run_cli("verify", src, tgt, "--report", report)
    assert result.exit_code == 3
    tables = {t["name"]: t["verification"] for t in json.loads(report.read_text())["tables"]}
    assert tables["items"]["samples"] == [
        {"kind": "changed", "key": {"id": 4242}, "columns": {"price": {"source": "4242.42", "target": "4242.43"}}}
    ]
    assert tables["items"]["method"] == {"source": "client", "target": "client"}
    assert tables["tags"]["bucketing"] == "hash"
    assert tables["tags"]["samples"] == [
        {"kind": "missing", "key": {"code": "t7", "lang": "en"}},
        {
            "kind": "changed",
            "key": {"code": "t2999", "lang": "en"},
            "columns": {"label": {"source": "tag 2999", "target": None}},
        },
    ]
    assert (tables["log"]["missing"], tables["log"]["extra"], tables["log"]["key"]) == (1, 0, [])
    assert tables["log"]["samples"] == [{"kind": "missing", "row": {"at": None, "msg": "again"}, "count": 1}]


def test_verify_of_the_bundled_sample_is_identical(tmp_path: Path, run_cli: Any) -> None:
    src = "sqlite:///" + str(Path(__file__).parent.parent / "xfer" / "samples" / "shop.sqlite")
    tgt = f"duckdb:///{tmp_path / 'shop.duckdb'}"
    assert run_cli("migrate", src, tgt, "-q").exit_code == 0
    result = run_cli("verify", src, tgt, "--format", "md")
    assert result.exit_code == 0
    assert "IDENTICAL: 4 table(s), 12,660 source row(s)" in result.stdout


def test_float_digits_policy(tmp_path: Path, run_cli: Any) -> None:
    """Floats are compared exactly by default (one ulp is a difference); --float-digits N
    compares them by N significant digits."""
    import math

    con = sqlite3.connect(tmp_path / "f.db")
    con.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, x REAL)")
    con.executemany("INSERT INTO m VALUES (?, ?)", [(i, i / 3) for i in range(1, 101)])
    con.commit()
    con.close()
    src, tgt = f"sqlite:///{tmp_path / 'f.db'}", f"duckdb:///{tmp_path / 'f.duckdb'}"
    assert run_cli("migrate", src, tgt, "-q").exit_code == 0
    duck = duckdb.connect(str(tmp_path / "f.duckdb"))
    duck.execute(f"UPDATE m SET x = {math.nextafter(7 / 3, 1)!r} WHERE id = 7")
    duck.close()
    exact = run_cli("verify", src, tgt, "--format", "json")
    assert exact.exit_code == 3
    (t,) = json.loads(exact.stdout)["tables"]
    assert t["verification"]["samples"][0]["columns"] == {
        "x": {"source": repr(7 / 3), "target": repr(math.nextafter(7 / 3, 1))}
    }
    relaxed = run_cli("verify", src, tgt, "--float-digits", "15", "--format", "json")
    assert relaxed.exit_code == 0
    (t,) = json.loads(relaxed.stdout)["tables"]
    assert t["verification"]["policies"]["x"] == "REAL: 15 significant digits"
