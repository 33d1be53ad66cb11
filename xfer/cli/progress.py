"""How the CLI shows a run's progress (`--progress`, `XFER_PROGRESS`), on stderr:

- `bar`: a block of lines redrawn in place a few times a second: the phase's overall line (rows,
  bytes, rate, ETA; or n of m for the index and verify phases), then one line per table being
  copied now. Log messages are written above the block; the block is erased when the run ends,
  however it ends, so the terminal is left as it was.
- `plain`: a line every few seconds (`XFER_PROGRESS_EVERY`, default 5) and one when a phase ends,
  for logs (CI, cron, nohup), e.g. `copy: 1,234,567 of ~2,000,000 rows (62%), 45.3 MB, 210,000 rows/s, ETA 0:04`.
- `none`; `auto` (the default): `bar` when stderr is a terminal, else `none`.

The library reports events (`xfer.core.progress`); `Display` is a `Tracker` that draws them.
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import TextIO

from xfer.core.progress import Snapshot, TableState, Tracker

MODES = ("auto", "bar", "plain", "none")
BAR_EVERY = 0.2  # seconds between redraws of the bars
PLAIN_EVERY = 5.0  # seconds between plain lines (XFER_PROGRESS_EVERY)
STEPS = {"index": "keys, indexes and foreign keys built", "verify": "tables checked"}


def resolve_mode(mode: str, quiet: bool, stream: TextIO) -> str:
    """`auto` made `bar` or `none`; `--quiet` means none whatever was asked."""
    if quiet:
        return "none"
    if mode == "auto":
        return "bar" if stream.isatty() else "none"
    return mode


# -- formatting ------------------------------------------------------------------------------------
def clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def megabytes(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB"  # as the summary counts them (MB of 1,048,576 bytes)


def _rows(done: int, total: int | None) -> str:
    return f"{done:,} of ~{total:,} rows" if total is not None else f"{done:,} rows"


def _percent(fraction: float | None) -> str:
    return f"{fraction * 100:.0f}%" if fraction is not None else ""


def _gauge(fraction: float | None, width: int = 20) -> str:
    if fraction is None:
        return ""
    full = int(fraction * width)
    return "[" + "#" * full + "." * (width - full) + "]"


def _table_fraction(t: TableState) -> float | None:
    total = t.total
    return min(t.rows / total, 1.0) if total else None


def plain_line(s: Snapshot, done: bool = False) -> str:
    """One line for a log: where the phase is, or (`done`) what it did."""
    if s.phase_total is not None:
        what = STEPS.get(s.phase or "", "steps done")
        if done:
            return f"{s.phase}: done: {s.phase_done:,} {what} in {clock(s.elapsed)}"
        parts = [f"{s.phase}: {s.phase_done:,} of {s.phase_total:,} {what}"]
        if s.rows:
            parts.append(f"{s.rows:,} rows read")
    elif done:
        return f"{s.phase}: done: {s.rows:,} rows, {megabytes(s.bytes)} in {clock(s.elapsed)} ({s.rate:,.0f} rows/s)"
    else:
        rows = _rows(s.rows, s.rows_total)
        if s.fraction is not None:
            rows += f" ({_percent(s.fraction)})"
        parts = [f"{s.phase}: {rows}", megabytes(s.bytes), f"{s.rate:,.0f} rows/s"]
    if s.eta is not None:
        parts.append(f"ETA {clock(s.eta)}")
    line = ", ".join(parts)
    if s.tables:
        line += f" (now: {', '.join(t.name for t in s.tables)})"
    return line


def bar_lines(s: Snapshot) -> list[str]:
    """The block `bar` mode draws: the phase's line, then a line per table being read now."""
    if s.phase is None:
        return []
    head = [f"{s.phase:<6}", _gauge(s.fraction), _percent(s.fraction)]
    if s.phase_total is not None:
        head.append(f"{s.phase_done:,} of {s.phase_total:,} {STEPS.get(s.phase, 'steps done')}")
        if s.rows:
            head.append(f"{s.rows:,} rows read")
    else:
        head += [_rows(s.rows, s.rows_total), megabytes(s.bytes), f"{s.rate:,.0f} rows/s"]
    head.append(f"ETA {clock(s.eta)}" if s.eta is not None else clock(s.elapsed))
    lines = ["  ".join(p for p in head if p)]
    width = max((len(t.name) for t in s.tables), default=0)
    for t in s.tables:
        f = _table_fraction(t)
        parts = [f"  {t.name:<{width}}", _gauge(f, 12), _percent(f), _rows(t.rows, t.total), f"{t.rate:,.0f} rows/s"]
        lines.append("  ".join(p for p in parts if p))
    return lines


# -- the display --------------------------------------------------------------------------------------
class Display(Tracker):
    """A `Tracker` that draws itself on `stream` (`mode`: bar or plain) from a thread of its own;
    `start()`, then `stop(ok)` whatever happens (the CLI's context manager does both)."""

    def __init__(self, mode: str, stream: TextIO, every: float | None = None) -> None:
        super().__init__()
        self.mode, self.stream = mode, stream
        self.every = every if every is not None else (BAR_EVERY if mode == "bar" else _plain_every())
        self.drawn = 0  # lines of the block on the screen (bar mode)
        self.out = threading.Lock()
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name="xfer-progress", daemon=True)

    # -- life -----------------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def stop(self, ok: bool) -> None:
        """Stop drawing; erase the bars; in plain mode, a successful run's last phase says it is done."""
        self.halt.set()
        if self.thread.is_alive():
            self.thread.join(timeout=2)
        with self.out:
            self._erase()
            if ok and self.mode == "plain" and self.phase is not None:
                self._emit(plain_line(self.snapshot(), done=True) + "\n")
            self.phase = None

    def _run(self) -> None:
        while not self.halt.wait(self.every):
            with self.out:
                if self.phase is None:
                    continue
                if self.mode == "bar":
                    self._draw()
                else:
                    self._emit(plain_line(self.snapshot()) + "\n")

    # -- events that draw -------------------------------------------------------------------------
    def phase_started(self, name: str, total: int | None = None) -> None:
        with self.out:
            if self.mode == "plain" and self.phase is not None:
                self._emit(plain_line(self.snapshot(), done=True) + "\n")
            super().phase_started(name, total)
            if self.mode == "bar":  # a new phase is shown at once, however short it is
                self._draw()

    def write_above(self, text: str) -> None:
        """A message (a log record) above the bars, which are drawn again below it."""
        with self.out:
            self._erase()
            self._emit(text)
            if self.mode == "bar" and not self.halt.is_set():
                self._draw()

    # -- drawing ----------------------------------------------------------------------------------
    def _draw(self) -> None:
        width = _fd_size(self.stream) or shutil.get_terminal_size().columns
        lines = [line[: max(width - 1, 10)] for line in bar_lines(self.snapshot())]
        self._erase()
        self._emit("\n".join(lines))
        self.drawn = len(lines)

    def _erase(self) -> None:
        """Back to the first line of the block and clear to the end of the screen."""
        if self.drawn:
            up = f"\x1b[{self.drawn - 1}A" if self.drawn > 1 else ""
            self._emit(f"\r{up}\x1b[J")
            self.drawn = 0

    def _emit(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: progress is not worth failing for
            pass


class Above:
    """A stream for the log handler while bars are shown: messages go above the bars."""

    def __init__(self, display: Display) -> None:
        self.display = display

    def write(self, text: str) -> int:
        self.display.write_above(text)
        return len(text)

    def flush(self) -> None:
        pass


def _fd_size(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


def _plain_every() -> float:
    try:
        return max(float(os.environ.get("XFER_PROGRESS_EVERY", PLAIN_EVERY)), 0.1)
    except ValueError:
        return PLAIN_EVERY
