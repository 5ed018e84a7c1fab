"""Shared fixtures: a real sqlite MLflow store per test, each test in its own folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def hpo_env(**extra: str) -> dict[str, str]:
    """The environment for running hpo in a subprocess from the repository."""
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env
