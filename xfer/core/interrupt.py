"""Ctrl-C and SIGTERM during a run, as every stage sees them.

Python runs signal handlers in the main thread only, and the kernel may deliver a
process-directed signal to any thread that does not block it: connectorx's reader pool, DuckDB's
or psycopg's threads. A main thread waiting untimed on a lock (`future.result()`) is then not
woken: the handler, and the KeyboardInterrupt, came only when the future completed, i.e. after
the copy's workers had drained the whole queue (issue #16; the reverted f4ff59d failed its test
4 runs in 20 this way; a SIGINT sent to a connectorx thread while the main thread waited in
`result()` was handled 3.4 s later, when the 3 s read ended, and 0.1 s later with a timed wait).
Hence:

- `shield()` at the start of every worker thread blocks SIGINT/SIGTERM there, and in the native
  threads it starts (they inherit its signal mask): the kernel delivers them to the main thread;
- the main thread never waits untimed for workers (`wait_all`), so it runs a handler promptly;
- the state lives here, not in a handler's closure: the first signal `request()`s a stop (workers
  take no further chunk), a second one aborts (in-flight statements are cancelled, nothing is
  retried); both are readable from any thread.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from contextlib import contextmanager
from typing import Any

_stop = threading.Event()  # the first Ctrl-C/SIGTERM: take no further work
_abort = threading.Event()  # the second: abort the work in hand
_settled = threading.Event()  # the interrupt is being reported: further signals only recorded
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def requested() -> bool:
    """A stop was asked for (a signal, or a KeyboardInterrupt seen by a stage)."""
    return _stop.is_set()


def aborted() -> bool:
    """A second signal: in-flight work is to be cut off, not finished."""
    return _abort.is_set()


def request() -> None:
    """Record an interrupt: the first one asks workers to stop taking work, a second one aborts."""
    if _stop.is_set():
        _abort.set()
    _stop.set()


def check() -> None:
    """Raise KeyboardInterrupt if a stop was asked for: between chunks, tables and batches, and
    where an error may only be the interrupt's consequence (a cancelled statement)."""
    if _stop.is_set():
        raise KeyboardInterrupt


def settle() -> None:
    """The interrupt is handled and being reported (the journal closed, the message made): a
    further signal is recorded, not raised, so that it cannot cut the report short."""
    _settled.set()


def reset() -> None:
    """Forget an earlier interrupt (a library caller that goes on after one)."""
    _stop.clear()
    _abort.clear()
    _settled.clear()


def shield() -> None:
    """Block SIGINT/SIGTERM in the calling (worker) thread, and so in the native threads it starts:
    they must reach the main thread, which alone runs Python's handlers (see the module's doc)."""
    if sys.platform != "win32":
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


def wait_all(futures: Iterable[Future[Any]], first_exception: bool = False) -> None:
    """Wait for `futures` with a timeout, over and over: an untimed lock wait in the main thread
    is not woken by a signal another thread took, so the handler (and KeyboardInterrupt) would
    wait for the futures to finish."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION if first_exception else "ALL_COMPLETED")
        if first_exception and any(f.exception() is not None for f in done):
            return


@contextmanager
def handled(on_signal: Callable[[int, bool], None] | None = None) -> Iterator[None]:
    """In the main thread, for the duration: SIGINT and SIGTERM record the interrupt (`request`)
    and raise KeyboardInterrupt (SIGTERM as SIGINT); `on_signal(signum, first)` is told first.
    The previous handlers are restored after, unless it was interrupted: then a further signal,
    while the interrupt is reported and the process exits, is ignored (the outcome is decided).
    Ignored, not handled in Python: the interpreter's shutdown puts Python-level handlers back to
    the default, so a second Ctrl-C in its last milliseconds killed the process by the signal
    instead of exit 130 (seen 5 runs in 16 of the second-Ctrl-C test); SIG_IGN survives it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        first = not requested()
        request()
        if on_signal is not None:
            on_signal(signum, first)
        if not _settled.is_set():
            raise KeyboardInterrupt

    reset()
    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, signal.SIG_IGN if requested() else h)
