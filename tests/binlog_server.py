"""A throw-away MariaDB with the binary log on, for the change-capture tests and benchmark.

The system MariaDB runs with the binlog off and must not be reconfigured, so the tests start a
server of their own: a data directory made by ``mariadb-install-db`` in a temporary directory,
its own port and socket, ``--log-bin --binlog-format=ROW --binlog-row-image=FULL
--binlog-row-metadata=FULL``. It starts in about 3 s and is stopped (and its files removed) on
exit. Usable from the tests (the ``binlog_mysql`` fixture), the benchmarks and by hand::

    python -m tests.binlog_server          # prints its URL, stops on Ctrl-C
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

MARIADBD = os.environ.get("XFER_TEST_MARIADBD", "/usr/sbin/mariadbd")
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def available() -> str | None:
    """None when a binlog server can be started here, else why not."""
    for exe in (MARIADBD, INSTALL_DB):
        if not os.path.exists(exe):
            return f"{exe} not found (MariaDB server package)"
    return None


@dataclass
class BinlogMariaDB:
    """A running binlog-enabled MariaDB: `url(db)`, `connect(db)`, `restart()`, `stop()`."""

    port: int
    directory: Path
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.directory / "data"

    def url(self, db: str = "test") -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{db}"

    def connect(self, db: str | None = None, autocommit: bool = True) -> pymysql.connections.Connection:
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", database=db, autocommit=autocommit
        )

    def start(self) -> None:
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        args = [
            MARIADBD,
            "--no-defaults",
            *user,
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.directory / 'sock'}",
            f"--pid-file={self.directory / 'pid'}",
            f"--log-bin={self.datadir / 'binlog'}",
            "--binlog-format=ROW",
            "--binlog-row-image=FULL",
            "--binlog-row-metadata=FULL",
            f"--server-id={self.port % 10000 + 7}",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            "--innodb-buffer-pool-size=256M",
            "--max-allowed-packet=64M",
            *self.extra,
        ]
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - the server owns it
        self.process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.directory / 'server.log').read_text()[-2000:]}")
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.2)
        raise RuntimeError("mariadbd did not answer within 60 s")

    def stop(self) -> None:
        p = self.process
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def binlog_mariadb(extra: list[str] | None = None) -> Iterator[BinlogMariaDB]:
    """Start a fresh binlog-enabled MariaDB; stop it and delete its files on exit."""
    why = available()
    if why:
        raise RuntimeError(why)
    directory = Path(tempfile.mkdtemp(prefix="xfer-binlog-"))
    os.chmod(directory, 0o755)
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, "mysql", "mysql")
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        subprocess.run(
            [INSTALL_DB, "--no-defaults", *user, f"--datadir={directory / 'data'}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True,
        )  # fmt: skip
        server = BinlogMariaDB(free_port(), directory, list(extra or []))
        server.start()
        try:
            with server.connect() as c, c.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS test")
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it cleanly too
    with binlog_mariadb() as srv:
        print(srv.url(), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
