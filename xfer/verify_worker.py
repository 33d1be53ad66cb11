"""`python -m xfer.verify_worker`: hash one side of a table in a process of its own.

The parent (`verify._target_map`) writes a pickled job on stdin: the side's URL, role, table,
comparison, options and a snapshot id exported by its own connection; the worker adopts that
snapshot, hashes the side into a bucket map and writes the pickled result (or the error) on
stdout. A separate interpreter keeps the two sides off one GIL; a plain subprocess (rather than
multiprocessing) works whatever the parent's `__main__` is (a console script, a REPL, a test).
"""

from __future__ import annotations

import pickle
import sys
from typing import Any


def run(job: dict[str, Any]) -> Any:
    from . import urls
    from .comparison import Side
    from .dialects import dialect_for
    from .verify import side_map

    d = dialect_for(urls.parse(job["url"], role=job["role"]))
    d.connect()
    try:
        with d.adopt_snapshot(job["snapshot"]):
            return side_map(Side(job["role"], d, job["table"]), job["cmp"], job["options"])
    finally:
        d.close()


def main() -> None:
    job = pickle.load(sys.stdin.buffer)
    try:
        out: Any = ("ok", run(job))
    except Exception as exc:  # handed back to the parent, which reports it
        out = ("error", f"{type(exc).__name__}: {exc}")
    pickle.dump(out, sys.stdout.buffer)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
