"""Shared fixtures: a real sqlite MLflow store per test, each test in its own folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Creating a fresh MLflow database runs its migrations (~3 s); do it once, copy it per test.
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    code = (
        "import sys; from mlflow import MlflowClient; "
        "MlflowClient('sqlite:///' + sys.argv[1]).search_experiments()"
    )
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{self.folder / 'server.db'}",
             "--artifacts-destination", str(self.folder / "artifacts")],
            stdout=subprocess.DEVNULL, stderr=open(self.folder / "server.log", "ab"), start_new_session=True,
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
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)  # the server and its uvicorn workers
            self.proc.wait(timeout=30)
        self.proc = None


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory, _template_db: Path):
    """A running ``mlflow server`` on 127.0.0.1 for a test module (it takes ~10 s to start)."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"), _template_db)
    server.start()
    yield server
    server.stop()
