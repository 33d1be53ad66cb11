"""The two change-capture contenders of `python -m benchmarks cdc`, behind one small interface:
`start()` copies the source table and leaves a follower running (returns once it follows),
`processes()` lists the follower's processes (for peak RSS), `failure()` says why it died (or
None), `stop()` ends it and returns what it reported.

- xfer: `xfer migrate SRC DST --follow`, a child process of the benchmark.
- pg_chameleon 2.0.21: refuses to run as root, so it runs as an ordinary user (`chm` by
  default) through `runuser`, from a venv made with Debian's /usr/bin/python3 (root's own
  Python may sit where other users cannot read it). Its configuration says `log_dest: stdout`,
  which keeps `init_replica` and `start_replica` in the foreground (no daemonize double fork):
  the replica is then a process tree the benchmark started, sampled and stopped by its own pids.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

CHAMELEON_VERSION = "2.0.21"
CHAMELEON_CONFIG = "xfer_bench"
CHAMELEON_SOURCE = "mysql"


class Unavailable(Exception):
    """The contender cannot run here; the message says why (printed in the figures)."""


class RssSampler:
    """Peak of the summed RSS of `processes()` (a callable), sampled on a thread every 100 ms."""

    def __init__(self, processes: Any, interval: float = 0.1) -> None:
        self.processes, self.interval = processes, interval
        self.peak = 0
        self.first: int | None = None  # the first sample: what the follower held before the timed work
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> int:
        import psutil

        total = 0
        for p in self.processes():
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        self.peak = max(self.peak, total)
        if self.first is None:
            self.first = total
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


def cpu_seconds(processes: list[Any]) -> float:
    """User + system CPU seconds the processes have used so far."""
    import psutil

    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _pump(stream: Any, lines: list[str], log: Path) -> None:
    """Keep a child's output flowing (and on disk) so that it never blocks on a full pipe."""
    with log.open("a", encoding="utf-8", errors="replace") as f:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            lines.append(line.rstrip("\n"))
            f.write(line)
            f.flush()


# --------------------------------------------------------------------------- xfer


class Xfer:
    name = "xfer"

    def __init__(self, src: str, dst: str, workdir: Path, extra: list[str] | None = None) -> None:
        self.src, self.dst, self.workdir, self.extra = src, dst, workdir, list(extra or [])
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self.log = workdir / "xfer-follow.log"
        self.copy_peak_rss = 0

    def start(self, timeout: float = 600) -> float:
        """Run the copy and wait for the follower's `following …` line; returns the copy's seconds."""
        argv = [sys.executable, "-m", "xfer", "migrate", self.src, self.dst, "--follow", *self.extra]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=_pump, args=(self.proc.stdout, self.lines, self.log), daemon=True).start()
        with RssSampler(self.processes) as rss:
            while not any(line.startswith("following ") for line in self.lines):
                if self.proc.poll() is not None:
                    time.sleep(0.2)  # the last lines
                    raise Unavailable(f"xfer migrate --follow exited {self.proc.returncode}: {self._tail()}")
                if time.perf_counter() - t0 > timeout:
                    raise Unavailable(f"xfer printed no 'following' line within {timeout:.0f} s: {self._tail()}")
                time.sleep(0.05)
        self.copy_peak_rss = rss.peak
        return time.perf_counter() - t0

    def processes(self) -> list[Any]:
        return _tree(self.proc.pid) if self.proc else []

    def failure(self) -> str | None:
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"the follower exited {self.proc.returncode}: {self._tail()}"

    def status(self) -> dict[str, Any] | None:
        import json

        r = subprocess.run([sys.executable, "-m", "xfer", "status", self.dst, "--json"], capture_output=True, text=True)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def stop(self) -> dict[str, Any]:
        """SIGINT: the follower finishes its batch, commits the position and exits 0."""
        out: dict[str, Any] = {"status": self.status()}
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                out["stop"] = "did not exit within 60 s of SIGINT: killed"
        if self.proc:
            out["exit"] = self.proc.returncode
        return out

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @staticmethod
    def applied(stopped: dict[str, Any]) -> int | None:
        """Row events the follower says it applied (`xfer status --json`)."""
        st = stopped.get("status")
        runs = st if isinstance(st, list) else [st] if isinstance(st, dict) else []
        counts = [r.get("events_applied") for r in runs if isinstance(r, dict)]
        return sum(c for c in counts if isinstance(c, int)) if counts else None

    def _tail(self, n: int = 6) -> str:
        return " | ".join(line for line in self.lines[-n:] if line.strip())


# --------------------------------------------------------------------------- pg_chameleon


def ensure_chameleon(user: str, venv: Path, log: Any = print) -> list[str]:
    """The command prefix that runs pg_chameleon's `chameleon` as `user`, installing it (user, venv,
    `pg-chameleon==2.0.21`) when missing and we are root. Raises Unavailable with the reason."""
    exe = venv / "bin" / "chameleon"
    if os.geteuid() != 0:
        if not exe.exists():
            raise Unavailable(f"{exe} not found: make it with /usr/bin/python3 -m venv {venv} && "
                              f"{venv}/bin/pip install pg-chameleon=={CHAMELEON_VERSION}")  # fmt: skip
        return [str(exe)]  # an ordinary user already: pg_chameleon runs as we are
    if not shutil.which("runuser"):
        raise Unavailable("runuser not found (util-linux): pg_chameleon refuses to run as root")
    try:
        pwd.getpwnam(user)
    except KeyError:
        log(f"creating the user {user} for pg_chameleon (it refuses to run as root) ...")
        r = subprocess.run(["useradd", "-m", user], capture_output=True, text=True)
        if r.returncode:
            raise Unavailable(f"useradd -m {user} failed: {r.stderr.strip()}") from None
    run_as = ["runuser", "-u", user, "--"]
    if not exe.exists():
        log(f"installing pg-chameleon=={CHAMELEON_VERSION} into {venv} (as {user}) ...")
        for step in (["/usr/bin/python3", "-m", "venv", str(venv)],
                     [str(venv / "bin" / "pip"), "install", "-q", f"pg-chameleon=={CHAMELEON_VERSION}"]):  # fmt: skip
            r = subprocess.run([*run_as, *step], capture_output=True, text=True, cwd="/")
            if r.returncode:
                raise Unavailable(f"{' '.join(step)} failed: {(r.stderr or r.stdout).strip()[-500:]}")
    r = subprocess.run([*run_as, str(venv / "bin" / "pip"), "show", "pg-chameleon"], capture_output=True, text=True,
                       cwd="/")  # fmt: skip
    version = re.search(r"^Version: (\S+)", r.stdout, re.M)
    if not version or version.group(1) != CHAMELEON_VERSION:
        raise Unavailable(f"{venv} holds pg-chameleon {version.group(1) if version else '?'}, not {CHAMELEON_VERSION}")
    return [*run_as, "env", f"HOME={pwd.getpwnam(user).pw_dir}", str(exe)]


class Chameleon:
    name = "pg_chameleon"

    def __init__(self, prefix: list[str], user: str, mysql_port: int, db: str, pg: dict[str, Any], schema: str,
                 workdir: Path) -> None:  # fmt: skip
        self.prefix, self.user, self.workdir = prefix, user, workdir
        self.port, self.db, self.pg, self.schema = mysql_port, db, pg, schema
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self.log = workdir / "chameleon.log"
        self.home = Path(pwd.getpwnam(user).pw_dir) if os.geteuid() == 0 else Path.home()

    def config(self) -> dict[str, Any]:
        base = self.home / ".pg_chameleon" / CHAMELEON_CONFIG
        src = {
            "db_conn": {"host": "127.0.0.1", "port": str(self.port), "user": "root", "password": "",
                        "charset": "utf8", "connect_timeout": 10},
            "schema_mappings": {self.db: self.schema},
            "limit_tables": [], "skip_tables": [], "grant_select_to": [],
            "lock_timeout": "120s", "my_server_id": 100 + self.port % 1000,
            # the example configuration's batch sizes and loop (how it was measured before)
            "replica_batch_size": 10000, "replay_max_rows": 10000, "batch_retention": "1 day",
            "copy_max_memory": "300M", "copy_mode": "file", "out_dir": str(base / "out"), "sleep_loop": 1,
            "on_error_replay": "continue", "on_error_read": "continue", "auto_maintenance": "disabled",
            "gtid_enable": False, "type": "mysql", "skip_events": {"insert": [], "delete": [], "update": []},
            "keep_existing_schema": False, "net_read_timeout": 600,
        }  # fmt: skip
        return {
            "pid_dir": str(base / "pid"), "log_dir": str(base / "logs"),
            "log_dest": "stdout",  # keeps the commands in the foreground: see the module's docstring
            "log_level": "info", "log_days_keep": 1, "rollbar_key": "", "rollbar_env": "",
            "type_override": {},
            "pg_conn": {"host": self.pg.get("host") or "127.0.0.1", "port": str(self.pg.get("port") or 5432),
                        "user": self.pg.get("user") or "postgres", "password": self.pg.get("password") or "",
                        "database": self.pg["dbname"], "charset": "utf8"},
            "sources": {CHAMELEON_SOURCE: src},
        }  # fmt: skip

    def _write_config(self) -> None:
        import yaml

        base = self.home / ".pg_chameleon"
        dirs = [base, base / "configuration", base / CHAMELEON_CONFIG]
        dirs += [base / CHAMELEON_CONFIG / d for d in ("pid", "logs", "out")]
        for d in dirs:
            d.mkdir(exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(d, self.user, self.user)
        path = base / "configuration" / f"{CHAMELEON_CONFIG}.yml"
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        if os.geteuid() == 0:
            shutil.chown(path, self.user, self.user)
        path.chmod(0o600)
        # a pid file left by an interrupted run would make init/start refuse
        for pid in (base / CHAMELEON_CONFIG / "pid").glob("*.pid"):
            pid.unlink()

    def _run(self, command: str, *, source: bool = True, timeout: float = 900) -> str:
        argv = [*self.prefix, command, "--config", CHAMELEON_CONFIG]
        if source:
            argv += ["--source", CHAMELEON_SOURCE]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")
        out = (r.stdout + r.stderr).strip()
        with self.log.open("a") as f:
            f.write(f"$ chameleon {command}\n{out}\n")
        # daemonize's atexit hook raises SystemExit(0) in foreground mode: noise, not a failure
        if r.returncode or re.search(r"^Traceback|\b(ERROR|CRITICAL)\b", _DAEMONIZE_EXIT.sub("", out), re.M):
            raise Unavailable(f"chameleon {command} failed (exit {r.returncode}): {_last_lines(out)}")
        return out

    def start(self, timeout: float = 900) -> float:
        """create_replica_schema, add_source, init_replica (the copy), then start_replica in the
        foreground as our child; returns the seconds of the setup and copy."""
        t0 = time.perf_counter()
        self._write_config()
        self._run("create_replica_schema", source=False)
        self._run("add_source")
        self._run("init_replica", timeout=timeout)
        argv = [*self.prefix, "start_replica", "--config", CHAMELEON_CONFIG, "--source", CHAMELEON_SOURCE]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/")
        threading.Thread(target=_pump, args=(self.proc.stdout, self.lines, self.log), daemon=True).start()
        # running once both daemons exist (the read and replay processes under the replica's own)
        deadline = time.monotonic() + 60
        while len(self.processes()) < 3:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"chameleon start_replica did not start its daemons: {self._tail()}")
            time.sleep(0.1)
        return time.perf_counter() - t0

    def processes(self) -> list[Any]:
        """The replica's processes (the runuser wrapper, root's and tiny, is not pg_chameleon)."""
        if self.proc is None:
            return []
        mine = []
        for p in _tree(self.proc.pid):
            try:
                if os.geteuid() != 0 or p.username() == self.user:
                    mine.append(p)
            except Exception:
                continue
        return mine

    def failure(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"start_replica exited {self.proc.returncode}: {self._tail()}"
        bad = [ln for ln in self.lines if "ERROR" in ln or "crashed" in ln]
        return f"pg_chameleon logged: {bad[0][:300]}" if bad else None

    def stop(self) -> dict[str, Any]:
        """SIGINT to the replica process (its own handler terminates both daemons), as
        `chameleon stop_replica` does through the pid file."""
        out: dict[str, Any] = {}
        try:
            out["show_status"] = self._run("show_status", timeout=60)
        except (Unavailable, subprocess.TimeoutExpired) as e:
            out["show_status"] = str(e)
        procs = self.processes()
        if self.proc and self.proc.poll() is None:
            top = procs[0] if procs else None
            if top is not None:
                top.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                for p in reversed(procs):
                    try:
                        p.kill()
                    except Exception:
                        pass
                self.proc.wait(10)
                out["stop"] = "did not exit within 30 s of SIGINT: killed"
            out["exit"] = self.proc.returncode
        return out

    @staticmethod
    def applied(stopped: dict[str, Any]) -> int | None:
        """Row events pg_chameleon says it replayed (`show_status`: "Replayed rows")."""
        m = re.search(r"Replayed rows\s+(\d+)", str(stopped.get("show_status", "")))
        return int(m.group(1)) if m else None

    def kill(self) -> None:
        for p in reversed(self.processes()):
            try:
                p.kill()
            except Exception:
                pass
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _tail(self, n: int = 6) -> str:
        return " | ".join(line for line in self.lines[-n:] if line.strip())


_DAEMONIZE_EXIT = re.compile(
    r"Exception ignored in atexit callback: <bound method Daemonize\.exit.*?SystemExit: 0", re.S
)


def _last_lines(text: str, n: int = 4) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-600:]
