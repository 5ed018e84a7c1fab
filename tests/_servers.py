"""Servers the tests (and benchmarks/scale.py) start on loopback: a throwaway PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Until something listens on 127.0.0.1:``port`` (a starting server).

    Raises:
        RuntimeError: ``proc`` (the server) ended first, or nothing listened by ``timeout``.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                detail = proc.communicate()[1] if proc.stderr is not None else ""
                raise RuntimeError(
                    f"{proc.args[:3]} ended before listening on {port}: {(detail or '')[-3000:]}"
                ) from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s") from None
            time.sleep(0.2)


PG_BIN = Path(os.environ.get("HPO_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER, PG_PASSWORD = "hpo", "hpo-test-password"


class Postgres:
    """A throwaway PostgreSQL server: ``initdb`` in a temp folder, ``pg_ctl`` on a free loopback
    port, password logins over TCP. PostgreSQL refuses to run as root: as root the server runs
    as ``nobody`` (``runuser``)."""

    def __init__(self) -> None:
        import pwd
        import tempfile

        self.folder = Path(tempfile.mkdtemp(prefix="hpo-pg-"))  # not under pytest's 0700 folders
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "nobody", "--"]
            nobody = pwd.getpwnam("nobody")
            os.chown(self.folder, nobody.pw_uid, nobody.pw_gid)
        (self.folder / "pw").write_text(PG_PASSWORD)
        self._pg(
            "initdb",
            "-D",
            str(self.folder / "data"),
            "-U",
            PG_USER,
            f"--pwfile={self.folder / 'pw'}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",  # a throwaway cluster: no fsync while creating it
        )
        self.databases = 0

    def _pg(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, str(PG_BIN / tool), *args], capture_output=True, text=True, timeout=timeout, check=True
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = str(self.folder / "server.log")
        self._pg("pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.folder / "data"), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres", password: str = PG_PASSWORD, driver: str = "+psycopg") -> str:
        return f"postgresql{driver}://{PG_USER}:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str | None = None) -> str:
        """A new, empty database (``name``: unique in the session); returns its URL."""
        import psycopg

        self.databases += 1
        name = name or f"test_{self.databases}"
        with psycopg.connect(self.url(driver=""), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
