"""psycopg's errors in the words xfer reports them with."""

from __future__ import annotations

from typing import Any


def pg_message(exc: Any) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    context = getattr(diag, "context", None) or ""
    copy_line = next((line for line in context.splitlines() if line.startswith("COPY ")), None)
    if copy_line:  # "COPY t, line 3, column doc: ..." names the column
        primary += f" ({copy_line})"
    return primary
