"""`before:` / `after:` hooks: SQL run on the target (or the source, `on: source`), in file
order, each logged (stderr, unless --quiet) and recorded in the run's report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from xfer.core.errors import XferError
from xfer.core.report import RunReport
from xfer.dialects.base import Dialect
from xfer.mapping.model import Hook, Mapping

log = logging.getLogger("xfer.hooks")


@dataclass(frozen=True)
class BoundHook:
    sql: str
    on: str  # target | source
    phase: str  # before | after
    at: str  # file:line:col


def bind_hooks(m: Mapping) -> tuple[list[BoundHook], list[BoundHook]]:
    def bind(hooks: list[Hook]) -> list[BoundHook]:
        return [BoundHook(h.sql, h.on, h.phase, m.where(h.path)) for h in hooks]

    return bind(m.before), bind(m.after)


def run_hooks(hooks: list[BoundHook], source: Dialect, target: Dialect, report: RunReport) -> None:
    for h in hooks:
        one_line = " ".join(h.sql.split())
        log.info("%s hook (%s) on the %s: %s", h.phase, h.at, h.on, one_line)
        t0 = time.monotonic()
        try:
            (target if h.on == "target" else source).execute(h.sql)
        except XferError as exc:
            done = "" if h.phase == "before" else " (the tables had been copied)"
            raise XferError(f"{h.phase} hook at {h.at} failed{done}: {exc.message}") from None
        report.notes.append(f"{h.phase} hook ({h.at}) on the {h.on}: {one_line} ({time.monotonic() - t0:.2f} s)")
