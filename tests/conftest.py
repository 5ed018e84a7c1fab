"""Shared fixtures: a real sqlite MLflow store per test, each test in its own folder, and
processes that end with the test that started them, also when it fails."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from hpo._processes import end_group
from tests._servers import PG_BIN, PG_PASSWORD, Postgres, free_port

__all__ = ["PG_BIN", "PG_PASSWORD", "Postgres", "free_port"]  # (tests import them from here)

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # With several test processes (pytest-xdist), two local Rays starting at once on a fresh
    # machine would each make Ray's token file (~/.ray/auth_token), and one's workers would
    # then read the other's token: it is made once here, before the test processes start.
    if hasattr(config, "workerinput") or (Path.home() / ".ray" / "auth_token").exists():
        return
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray is not None:
        subprocess.run([ray, "get-auth-token", "--generate"], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Creating a fresh MLflow database runs its migrations (~3 s); do it once, copy it per test.
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    code = "import sys; from mlflow import MlflowClient; MlflowClient('sqlite:///' + sys.argv[1]).search_experiments()"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True)
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in an empty folder, with no tracking URI or study home inherited."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("HPO_HOME", raising=False)
    return tmp_path


@pytest.fixture
def tracking_uri(workdir: Path, _template_db: Path) -> str:
    """A real, empty sqlite MLflow store in the test's folder."""
    shutil.copy(_template_db, workdir / "mlflow.db")
    return f"sqlite:///{workdir / 'mlflow.db'}"


@pytest.fixture
def mlflow_client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def study_runs(client, study_name: str):
    """(parent runs, child runs) of a study's MLflow experiment."""
    experiment = client.get_experiment_by_name(study_name)
    assert experiment is not None, f"no MLflow experiment {study_name!r}"
    runs = []
    token = None
    while True:
        page = client.search_runs([experiment.experiment_id], max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            break
    parents = [r for r in runs if r.data.tags.get("hpo.role") == "study"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


# Every tracked study would start a plotting process (~3 s of CPU importing plotly and
# matplotlib): on 2 cores, minutes of the suite. The tests that check plots turn them on.
os.environ["HPO_PLOTS"] = "0"


def hpo_env(**extra: str) -> dict[str, str]:
    """The environment for running hpo in a subprocess from the repository."""
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def hpo_cli(*args: str, cwd: Path, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``hpo ARGS...`` in a subprocess from ``cwd`` to its end; ``env`` adds variables."""
    return subprocess.run(
        [sys.executable, "-m", "hpo", *args],
        cwd=cwd,
        env=hpo_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1, with a sqlite store and served artifacts."""

    def __init__(self, folder: Path, template_db: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        if not (folder / "server.db").exists():
            shutil.copy(template_db, folder / "server.db")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.folder / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                    "--backend-store-uri",
                    f"sqlite:///{self.folder / 'server.db'}",
                    "--artifacts-destination",
                    str(self.folder / "artifacts"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
                # Without its job runner (a dozen worker processes for GenAI jobs): seconds less to start.
                env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlflow server did not start: {(self.folder / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)  # the server and its uvicorn workers
        self.proc = None


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory, _template_db: Path):
    """A running ``mlflow server`` on 127.0.0.1 for a test module (it takes ~10 s to start)."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"), _template_db)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def mlflow_servers(tmp_path_factory: pytest.TempPathFactory, _template_db: Path) -> Iterator[Any]:
    """Make ``MlflowServer`` objects (``mlflow_servers()``) stopped when the test ends, failed or not."""
    servers: list[MlflowServer] = []

    def make() -> MlflowServer:
        servers.append(MlflowServer(tmp_path_factory.mktemp("mlflow-server"), _template_db))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[Postgres]:
    """One PostgreSQL server for the session (skips, with the reason, where none can be had)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL's server is not installed ({PG_BIN / 'initdb'} missing; apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed (pip install 'hpo[postgres]')")
    try:
        server = Postgres()
        server.start()
    except (subprocess.CalledProcessError, OSError, KeyError) as err:
        detail = getattr(err, "stderr", "") or err
        pytest.skip(f"no PostgreSQL server could be started: {str(detail).strip().splitlines()[-1]}")
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres(_postgres_server: Postgres) -> Postgres:
    """The session's PostgreSQL server (``postgres.new_database()`` gives a test its own database)."""
    return _postgres_server


# -- processes -------------------------------------------------------------------------------

GRACE_S = 5.0  # from SIGTERM to SIGKILL when a test ends its processes


class ProcInfo(NamedTuple):
    """A process as ``/proc/PID/stat`` shows it."""

    pid: int
    ppid: int
    pgid: int
    state: str
    start: int  # clock ticks after boot: a pid reused later has another
    args: str


def processes() -> dict[int, ProcInfo]:
    """Every process of this machine that is not a zombie, by pid (Linux, from ``/proc``)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": comm may hold spaces
        if fields[0] in ("Z", "X"):
            continue
        pid = int(entry.name)
        found[pid] = ProcInfo(pid, int(fields[1]), int(fields[2]), fields[0], int(fields[19]), args)
    return found


def descendants(pid: int) -> list[ProcInfo]:
    """The processes ``pid`` started and those they started, in any group or session."""
    table = processes()
    children: dict[int, list[ProcInfo]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def alive(infos: list[ProcInfo]) -> list[ProcInfo]:
    """Those of ``infos`` still running (the same processes, not others that got their pid)."""
    table = processes()
    return [i for i in infos if i.pid in table and table[i.pid].start == i.start]


def wait_gone(infos: list[ProcInfo], timeout: float) -> list[ProcInfo]:
    """Wait until none of ``infos`` runs, up to ``timeout`` seconds; those left."""
    deadline = time.monotonic() + timeout
    while (left := alive(infos)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def stop_process(proc: subprocess.Popen[Any], grace: float = GRACE_S) -> None:
    """End a process started in a session of its own, the group it leads and all it started.

    Its process group gets SIGTERM, then SIGKILL ``grace`` seconds later; so do the processes it
    started in sessions of their own (a tracking writer), found while it still runs.
    """
    others = []
    if proc.poll() is None and Path("/proc/self/stat").exists():
        others = [p for p in descendants(proc.pid) if p.pgid != proc.pid]
    for info in others:
        _kill(info, signal.SIGTERM)
    end_group(proc.pid, grace)  # its leader not yet reaped, unless the test waited for it
    for info in wait_gone(others, grace):
        _kill(info, signal.SIGKILL)
    try:
        proc.communicate(timeout=grace)  # reaps it and closes its pipes
    except (subprocess.TimeoutExpired, ValueError):  # a pipe the test closed
        proc.kill()
        proc.wait()


def _kill(info: ProcInfo, signum: int) -> None:
    if alive([info]):
        try:
            os.kill(info.pid, signum)
        except ProcessLookupError:
            pass


@pytest.fixture
def spawn() -> Iterator[Any]:
    """Start a process, ``spawn(args, **popen_kwargs)``, that ends with the test, also on failure.

    It runs in a session of its own, so that ending the test ends its whole group (a local Ray,
    an MLflow server's workers) without touching pytest's. Defaults: ``env=hpo_env()``, text
    pipes for stdout and stderr. A terminal's Ctrl-C does not reach it: send signals to its pid.
    """
    procs: list[subprocess.Popen[Any]] = []

    def start(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("env", hpo_env())
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("text", True)
        procs.append(subprocess.Popen(args, start_new_session=True, **kwargs))
        return procs[-1]

    yield start
    for proc in procs:
        stop_process(proc)
