"""Run a fixture SQL file (statements separated by ";" at a line end; "--" comment lines;
`DELIMITER //` blocks for triggers and routines, as the mysql client takes them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def statements(text: str) -> list[str]:
    out, cur, delim = [], [], ";"
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.upper().startswith("DELIMITER "):
            delim = stripped.split(None, 1)[1]
            continue
        if stripped.startswith("--") and not cur:
            continue
        cur.append(line)
        if stripped.endswith(delim):
            stmt = "\n".join(cur).rstrip()[: -len(delim)].strip()
            if stmt:
                out.append(stmt)
            cur = []
    if "\n".join(cur).strip():
        out.append("\n".join(cur).strip())
    return out


def run_sql_file(conn: Any, name: str) -> None:
    with conn.cursor() as cur:
        for stmt in statements((FIXTURES / name).read_text()):
            cur.execute(stmt)
