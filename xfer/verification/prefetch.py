"""Reading ahead while hashing: the next batches are read in a thread while this one is
hashed (the driver and DuckDB both spend much of their time outside the GIL)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from xfer.core import interrupt


def prefetch(batches: Iterator[pa.RecordBatch], depth: int = 1) -> Iterator[pa.RecordBatch]:
    """Read the next batches in a thread while this one is hashed (the driver and DuckDB both
    spend much of their time outside the GIL)."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        interrupt.shield()  # signals go to the main thread (xfer.core.interrupt)
        try:
            for b in batches:
                if stop.is_set():
                    break
                q.put(b)
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    worker = threading.Thread(target=produce, name="xfer-verify-read", daemon=True)
    worker.start()
    try:
        while (item := _next(q)) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # let the reader finish (or notice `stop`) and release its connection
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()


def _next(q: queue.Queue[Any]) -> Any:
    """The next item, waited for with a timeout: an untimed wait in the main thread would not
    run a Ctrl-C's handler until the reader's next batch (xfer.core.interrupt)."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
