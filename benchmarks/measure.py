"""Running one contender: wall seconds, CPU seconds and peak RSS of a whole process tree."""

from __future__ import annotations

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
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=stdout or subprocess.PIPE, stderr=subprocess.STDOUT)
    ps = psutil.Process(proc.pid)
    cpu: dict[int, float] = {}
    while proc.poll() is None:
        total = 0
        try:
            tree = [ps, *ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in tree:
            try:
                total += p.memory_info().rss
                t = p.cpu_times()
                cpu[p.pid] = t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                continue
        out.peak_rss = max(out.peak_rss, total)
        time.sleep(SAMPLE_S)
    captured = proc.communicate()[0]
    out.wall = time.perf_counter() - t0
    out.returncode = proc.returncode
    out.output = captured.decode(errors="replace") if isinstance(captured, bytes) else ""
    # Exited processes' CPU is only seen through the samples; the root's final figure comes
    # from the kernel's accounting of reaped children when available.
    out.cpu = sum(cpu.values())
    return out
