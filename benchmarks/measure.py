"""Running one contender: wall seconds, CPU seconds and peak RSS of a whole process tree."""

from __future__ import annotations

import resource
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

SAMPLE_S = 0.05  # RSS sampling interval


@dataclass
class Run:
    name: str
    wall: float = 0.0
    cpu: float = 0.0  # user + system seconds of the process tree (the client side only)
    peak_rss: int = 0  # bytes: the largest sum of RSS over the tree seen at one sample
    returncode: int = 0
    output: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def run(name: str, argv: list[str], *, env: dict[str, str] | None = None, stdout: Any = None) -> Run:
    """Run `argv` to completion, sampling the RSS of it and all its children."""
    import psutil

    out = Run(name)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=stdout or subprocess.PIPE, stderr=subprocess.STDOUT)
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        total = 0
        try:
            tree = [ps, *ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in tree:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        out.peak_rss = max(out.peak_rss, total)
        time.sleep(SAMPLE_S)
    captured = proc.communicate()[0]
    out.wall = time.perf_counter() - t0
    out.returncode = proc.returncode
    out.output = captured.decode(errors="replace") if isinstance(captured, bytes) else ""
    # the kernel's account of the reaped child (and the descendants it reaped in turn)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out
