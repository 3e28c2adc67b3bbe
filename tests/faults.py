"""A PostgreSQL and a Redis of the test's own, on free ports and in temporary directories, that
a test may freeze (SIGSTOP) and thaw (SIGCONT). The shared instances are never touched.

PostgreSQL refuses to run as root, so under root (a container) its binaries run as the
``postgres`` user; everywhere else as the current user. Binaries are looked up under
``/usr/lib/postgresql/*/bin`` (Debian/Ubuntu), newest first, or on ``PATH``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    path = found[0] if found else shutil.which(name)
    if not path:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return path


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


@dataclass
class OwnPostgres:
    """A throw-away cluster; ``url`` reaches its ``wz`` database."""

    directory: Path
    port: int
    user: str | None  # run the binaries as this user (under root), else as ourselves

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the test database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/wz"

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=self.user, timeout=120)

    def start(self) -> None:
        """initdb, start on ``port`` (TCP on 127.0.0.1 only), create database ``wz``."""
        data = self.directory / "data"
        self._run(
            _pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -F"
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE DATABASE wz")

    def processes(self) -> list[int]:
        """The postmaster and every process it forked (backends, writers, launchers)."""
        pid = int((self.directory / "data" / "postmaster.pid").read_text().split()[0])
        return [pid, *_children(pid)]

    def freeze(self) -> None:
        """SIGSTOP the whole cluster: connections stay open, nothing answers."""
        for pid in self.processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT the whole cluster."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        """Thaw, stop immediately, remove the directory."""
        with contextlib.suppress(Exception):
            self.thaw()
            self._run(
                _pg_bin("pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            )
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A running cluster of our own, removed afterwards whatever happens."""
    directory = Path(tempfile.mkdtemp(prefix="wz-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    cluster = OwnPostgres(directory, free_port(), user)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@dataclass
class OwnRedis:
    """A redis-server without persistence; ``url`` reaches its db 0."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        """The Redis URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def freeze(self) -> None:
        """SIGSTOP: the kernel still accepts connections; no command is answered."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT."""
        self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def own_redis() -> Iterator[OwnRedis]:
    """A running redis-server of our own, stopped afterwards whatever happens."""
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = OwnRedis(process, port)
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)
