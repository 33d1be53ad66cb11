"""`python -m benchmarks.verify` runs end to end at a small N (figures only; no time assertions)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the benchmarks package

from benchmarks import verify as bench  # noqa: E402


def test_verify_benchmark_small(mysql_url: str, pg_url: str, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "figures.json"
    assert bench.main(["--rows", "3000", "--mysql", mysql_url, "--pg", pg_url, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["rows"] == 3000 and figures["table_built"]
    assert figures["verify_clean_method"] == {"source": "client", "target": "client"}
    assert figures["located_all"] and len(figures["located"]) == 10
    assert 0 < figures["buckets_mismatched"] <= 10 < figures["buckets"]
    printed = capsys.readouterr().out
    assert "verify, clean" in printed and "located all: True" in printed
    # side by side (separate processes): xfer names every changed row, the double changed in its
    # 15th digit included; reladiff (when installed) finds none that xfer misses
    sbs, clean = figures["side_by_side"], figures["side_by_side_clean"]
    assert len(sbs["expected"]) == 11 and sbs["xfer"]["found"] == sbs["expected"] and not sbs["xfer"]["missed"]
    assert clean["expected"] == [] and clean["xfer"]["found"] == [] and clean["xfer"]["peak_rss_mb"] > 0
    if sbs["reladiff"] is not None:
        assert set(sbs["reladiff"]["found"]) < set(sbs["xfer"]["found"])
        assert clean["reladiff"]["found"] == []
    assert "side by side" in printed
    # a second run reuses the table
    argv = ["--rows", "3000", "--mysql", mysql_url, "--pg", pg_url, "--json", str(out), "--no-side-by-side"]
    assert bench.main(argv) == 0
    assert json.loads(out.read_text())["table_built"] is False
