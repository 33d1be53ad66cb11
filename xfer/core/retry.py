"""Trying again after transient errors: a dropped connection, a server restart, a deadlock, a
serialization failure. Which errors those are is each engine's call (`Dialect.is_transient`,
carried on `XferError.transient`); how often and how long to wait is decided here, once.

Every retry is logged (a warning: it shows without --debug), naming what is retried and why.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from xfer.core import interrupt
from xfer.core.errors import XferError

log = logging.getLogger("xfer")

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # retries after the first try; 0 = never retry
    delay: float = 0.5  # seconds before the first retry, doubled each time (with jitter)
    max_delay: float = 30.0

    def wait(self, attempt: int) -> float:
        base = min(self.max_delay, self.delay * 2 ** (attempt - 1))
        return base * (0.75 + random.random() / 2)  # jitter: parallel workers do not retry in step

    def run(self, what: str, fn: Callable[[], T], reconnect: Callable[[], None] | None = None) -> T:
        """`fn()`, tried again up to `attempts` times while it raises a transient XferError;
        `reconnect()` runs before each retry (and is itself retried while the server is away).
        A permanent error, or the last transient one, is raised with `what` in its message."""
        attempt = 0
        while True:
            try:
                return fn()
            except XferError as exc:
                attempt += 1
                if interrupt.requested():  # never a retry after Ctrl-C: its error is the interrupt's
                    raise KeyboardInterrupt from exc
                if not exc.transient or attempt > self.attempts:
                    if exc.transient:
                        exc.message += f" (gave up after {self.attempts} retries)"
                        exc.args = (exc.message,)
                    raise
                self._pause(what, exc, attempt)
            if reconnect is not None:
                attempt = self._reconnect(what, reconnect, attempt)

    def _pause(self, what: str, exc: XferError, attempt: int) -> None:
        wait = self.wait(attempt)
        log.warning("%s: %s; retry %d/%d in %.1f s", what, exc.message, attempt, self.attempts, wait)
        time.sleep(wait)

    def _reconnect(self, what: str, reconnect: Callable[[], None], attempt: int) -> int:
        while True:
            try:
                reconnect()
                return attempt
            except XferError as exc:  # the server may still be restarting: any connect error may pass
                if interrupt.requested():
                    raise KeyboardInterrupt from exc
                attempt += 1
                if attempt > self.attempts:
                    exc.message += f" (reconnecting; gave up after {self.attempts} retries)"
                    exc.args = (exc.message,)
                    raise
                self._pause(f"{what}: reconnecting", exc, attempt)


NO_RETRY = RetryPolicy(attempts=0)
