"""The hpo command line, end to end in subprocesses: run, show, best, resume, ui, errors, signals."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
import yaml

import hpo
from hpo._plots import PLOTS
from tests.conftest import descendants, hpo_cli, hpo_env, processes, study_runs, wait_gone

OBJECTIVE = """
import time
from pathlib import Path

def quadratic(params, trial):
    for step in range(3):
        trial.report((params["x"] - 1) ** 2 + step, step)
    return (params["x"] - 1) ** 2 + params["n"]

def slow(params, trial):
    Path(f"started-{trial.number}").touch()
    time.sleep(0.4)
    return params["x"]
"""

CONFIG = """
name: {name}
objective: cli_objectives:{function}
space:
  x: {{float: [-3, 3]}}
  n: {{int: [0, 2]}}
n_trials: {n}
seed: 0
tracking: {tracking}
"""


@pytest.fixture
def project(workdir, tracking_uri):
    (workdir / "cli_objectives.py").write_text(OBJECTIVE)

    def config(name="cli", function="quadratic", n=5, tracking=tracking_uri):
        path = workdir / f"{name}.yaml"
        path.write_text(CONFIG.format(name=name, function=function, n=n, tracking=tracking))
        return path.name

    return config


def test_run_show_best_resume(project, workdir, mlflow_client):
    config = project(n=5)
    result = hpo_cli("run", config, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "study 'cli': 5 complete" in result.stdout or "study 'cli':" in result.stdout
    assert "hpo ui cli" in result.stdout
    index = yaml.safe_load((workdir / ".hpo" / "cli" / "study.yaml").read_text())
    assert index["storage"] == str(workdir / ".hpo" / "cli" / "study.journal")
    assert index["mlflow"]["run_id"]

    shown = hpo_cli("show", "cli", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert "study 'cli' (minimize)" in shown.stdout
    assert len([line for line in shown.stdout.splitlines() if line.startswith("│")]) == 5

    best = hpo_cli("best", "cli", cwd=workdir)
    assert best.returncode == 0, best.stderr
    params = yaml.safe_load(best.stdout)
    assert set(params) == {"x", "n"}

    resumed = hpo_cli("resume", "cli", "--trials", "8", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    study = optuna.load_study(
        study_name="cli", storage=hpo._storage.open_storage(workdir / ".hpo" / "cli" / "study.journal")
    )
    assert len(study.trials) == 8
    parents, children = study_runs(mlflow_client, "cli")
    assert len(parents) == 1 and len(children) == 8
    assert parents[0].info.run_id == index["mlflow"]["run_id"]
    artifacts = {a.path for a in mlflow_client.list_artifacts(parents[0].info.run_id)}
    assert {"config.yaml", "space.yaml", "best_params.yaml"} <= artifacts


def test_show_plots_writes_the_summary_and_logs_it_to_the_parent_run(project, workdir, mlflow_client, monkeypatch):
    monkeypatch.setenv("HPO_PLOTS", "1")  # the default outside the tests
    assert hpo_cli("run", project(n=6), cwd=workdir).returncode == 0
    run_id = yaml.safe_load((workdir / ".hpo" / "cli" / "study.yaml").read_text())["mlflow"]["run_id"]
    stored = Path(mlflow_client.get_run(run_id).info.artifact_uri.removeprefix("file://")) / "plots"
    assert (stored / "history.png").is_file()  # drawn at the end of the study
    shutil.rmtree(stored)

    shown = hpo_cli("show", "cli", "--plots", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    folder = workdir / ".hpo" / "cli" / "summary"
    assert f"to {folder.relative_to(workdir)}" in shown.stdout and f"logged them to MLflow run {run_id}" in shown.stdout
    names = {f"plots/{p}.{ext}" for p in PLOTS if p != "pareto" for ext in ("html", "png")} | {
        "summary.md",
        "trials.csv",
        "best_params.yaml",
    }
    assert {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} == names
    assert {str(p.relative_to(stored.parent)) for p in stored.parent.rglob("*") if p.is_file()} >= names
    assert (stored / "learning_curves.png").read_bytes().startswith(b"\x89PNG")

    (workdir / "taken").write_text("")
    refused = hpo_cli("show", "cli", "--plots", "--out", "taken", cwd=workdir)
    assert refused.returncode == 2
    assert refused.stderr == "error: --out: 'taken' is a file, expected a folder for the plots\n"
    assert refused.stdout == ""
    alone = hpo_cli("show", "cli", "--out", "report", cwd=workdir)
    assert (alone.returncode, alone.stderr) == (2, "error: --out: only used with --plots, got --out 'report' alone\n")


def test_show_plots_of_an_untracked_study_writes_them_to_out(project, workdir):
    assert hpo_cli("run", project(name="local", n=4, tracking="null"), cwd=workdir).returncode == 0
    shown = hpo_cli("show", "local", "--plots", "--out", "report", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert "MLflow" not in shown.stdout and (workdir / "report" / "plots" / "slice.html").is_file()
    assert "importances" not in shown.stdout  # 4 completed trials are enough for fANOVA


def test_compare_shows_studies_side_by_side(project, workdir):
    for name, n in (("first", 4), ("second", 6)):
        assert hpo_cli("run", project(name=name, n=n, tracking="null"), "--pruner", "none", cwd=workdir).returncode == 0
    result = hpo_cli("compare", "first", "second", cwd=workdir)
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│") and "study" not in line
    }
    for name, n in (("first", 4), ("second", 6)):
        study = hpo.Study(
            optuna.load_study(
                study_name=name, storage=hpo._storage.open_storage(workdir / ".hpo" / name / "study.journal")
            )
        )
        direction, value, number, test, trials, pruned, failed = rows[name][:7]
        assert (direction, test, trials, pruned, failed) == ("minimize", "-", str(n), "0%", "0")
        assert (float(value), int(number)) == (pytest.approx(study.best_value, rel=1e-5), study.best_trial.number)
    missing = hpo_cli("compare", "first", "nope", cwd=workdir)
    assert missing.returncode == 2 and missing.stderr.startswith("error: study: no study named 'nope'")


def test_overrides(project, workdir):
    config = project(name="over", n=50)
    result = hpo_cli(
        "run", config, "--trials", "3", "--searcher", "random", "--pruner", "none", "--tracking", "none", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    assert "MLflow" not in result.stdout
    study = optuna.load_study(
        study_name="over", storage=hpo._storage.open_storage(workdir / ".hpo" / "over" / "study.journal")
    )
    assert len(study.trials) == 3
    index = yaml.safe_load((workdir / ".hpo" / "over" / "study.yaml").read_text())
    assert index["overrides"] == {"n_trials": 3, "searcher": "random", "pruner": "none"}
    assert index["tracking"] is None


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (
            "objective: cli_objectives:quadratic\nspace: {x: {float: [3, -3]}}\n",
            [],
            "error: space.x: low must be < high, got low=3, high=-3",
        ),
        (
            "objective: cli_objectives:quadratic\nspace: svc\nsearcher: bayes\n",
            [],
            "error: searcher: unknown searcher 'bayes'",
        ),
        (
            "objective: cli_objectives:nope\nspace: svc\nn_trials: 2\n",
            [],
            "error: objective: cannot import 'cli_objectives:nope': module 'cli_objectives' has no attribute 'nope'",
        ),
        (
            "objective: cli_objectives:quadratic\nspace: svc\nn_trials: 2\ntracking: mlruns\n",
            [],
            "error: tracking: MLflow 3 refuses its old file store",
        ),
        (
            "objective: cli_objectives:quadratic\nspace: {x: {float: [0, 1]}}\nn_trials: 2\n",
            ["--searcher", "grid"],
            "error: space.x: ",
        ),
        (
            "objective: cli_objectives:quadratic\nspace: {x: {float: [0, 1]}}\nn_trials: "
            "2\nexecutor: {kind: inline, workers: 2}\n",
            [],
            "error: executor: executor 'inline' takes no options, got ['workers']",
        ),
        (
            "trainer: {kind: sklearn, estimator: sklearn.tree.DecisionTreeClassifier, test_fraction: 0.7}\n"
            "data: {builtin: iris}\nspace: {max_depth: [1, 2]}\n",
            [],
            "error: trainer.test_fraction: expected a number in (0, 0.5], got 0.7\n",
        ),
    ],
)
def test_bad_config_exit_2_one_line_nothing_written(project, workdir, content, args, message):
    (workdir / "bad.yaml").write_text(content)
    before = sorted(p.name for p in workdir.iterdir())
    result = hpo_cli("run", "bad.yaml", *args, cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in workdir.iterdir()) == before  # no .hpo, no new store


def test_a_changed_space_is_refused_and_the_index_kept(project, workdir):
    config = project(name="keep", n=2, tracking="null")
    assert hpo_cli("run", config, cwd=workdir).returncode == 0
    index = (workdir / ".hpo" / "keep" / "study.yaml").read_text()
    (workdir / config).write_text((workdir / config).read_text().replace("{float: [-3, 3]}", "{int: [-3, 3]}"))
    result = hpo_cli("run", config, cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: study_name: study 'keep' already exists in this storage with another search space"
    )
    assert (workdir / ".hpo" / "keep" / "study.yaml").read_text() == index


def test_a_study_goes_on_after_its_bounds_changed(project, workdir):
    config = project(name="wider", n=2, tracking="null")
    assert hpo_cli("run", config, cwd=workdir).returncode == 0
    text = (workdir / config).read_text().replace("[-3, 3]", "[-4, 4]")
    (workdir / config).write_text(text.replace("n_trials: 2", "n_trials: 3"))
    result = hpo_cli("run", config, "--trials", "3", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "study 'wider' goes on with new bounds (x: [-3, 3] -> [-4, 4]); kept its 2 trials" in result.stderr
    assert "3 complete" in hpo_cli("show", "wider", cwd=workdir).stdout


def test_bad_name_override(project, workdir):
    result = hpo_cli("run", project(name="named"), "--name", "a b", cwd=workdir)
    assert result.returncode == 2
    assert result.stderr == "error: name: expected letters, digits, '.', '_' or '-' (a folder name), got 'a b'\n"
    assert not (workdir / ".hpo").exists()


def test_unknown_study_and_missing_config(workdir):
    result = hpo_cli("show", "nope", cwd=workdir)
    assert result.returncode == 2 and result.stderr.startswith("error: study: no study named 'nope'")
    result = hpo_cli("run", "missing.yaml", cwd=workdir)
    assert result.returncode == 2 and result.stderr == "error: config: file 'missing.yaml' does not exist\n"
    result = hpo_cli("run", cwd=workdir)
    assert result.returncode == 2 and "Missing argument 'CONFIG'" in result.stderr


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_ends_every_run_and_resume_finishes(project, workdir, mlflow_client, signum, code, spawn):
    config = project(name="sig", function="slow", n=6)
    proc = spawn(
        [sys.executable, "-m", "hpo", "run", config],
        cwd=workdir,
        # A suite started in the background by a shell without job control inherits SIGINT
        # ignored, and Python then never raises KeyboardInterrupt: give the CLI a terminal's Ctrl-C.
        preexec_fn=_default_signals,
    )
    deadline = time.monotonic() + 60
    while not (workdir / "started-2").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Resume with: hpo resume sig" in err
    parents, children = study_runs(mlflow_client, "sig")
    assert parents[0].info.status == "KILLED"
    assert all(r.info.status in ("FINISHED", "KILLED") for r in children)
    assert [r.data.tags["hpo.fail_reason"] for r in children if r.info.status == "KILLED"] == ["interrupted"]

    resumed = hpo_cli("resume", "sig", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    study = hpo.Study(
        optuna.load_study(
            study_name="sig", storage=hpo._storage.open_storage(workdir / ".hpo" / "sig" / "study.journal")
        )
    )
    assert study.counts()["complete"] == 6 and study.counts()["interrupted"] == 1
    parents, children = study_runs(mlflow_client, "sig")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 7


HUP_OBJECTIVE = """
import os, time
from pathlib import Path

def slow(params, trial):
    Path(os.environ["HUP_DIR"], f"started-{trial.number}").touch()
    time.sleep(0.5)
    return params["x"]
"""

HUP_CONFIG = """
name: hup
objective: hup_objective:slow
space: {{x: {{float: [-3, 3]}}}}
n_trials: 40
seed: 0
tracking: {tracking}
executor: {{kind: ray, workers: 1}}
"""


def test_a_study_ended_by_sighup_leaves_no_process_behind(workdir, tracking_uri, mlflow_client, spawn):
    # A closed terminal's SIGHUP, sent to the driver alone, ends the study as Ctrl-C does: its
    # runs end, and its tracking writer (a session of its own), the writer's plotting process and
    # the local Ray it started all end with it.
    pytest.importorskip("ray")
    (workdir / "hup_objective.py").write_text(HUP_OBJECTIVE)
    (workdir / "hup.yaml").write_text(HUP_CONFIG.format(tracking=tracking_uri))
    proc = spawn(
        [sys.executable, "-m", "hpo", "run", "hup.yaml", "-q"],
        cwd=workdir,
        preexec_fn=_default_signals,
        env=hpo_env(HPO_PLOTS="1", HUP_DIR=str(workdir)),
    )
    deadline = time.monotonic() + 120
    while not (workdir / "started-1").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.1)
    kinds = {"writer": "hpo._tracking_writer", "plotter": "hpo._plots", "raylet": "raylet", "gcs": "gcs_server"}
    while True:  # the writer starts its plotter on its own time: on a busy machine, after trial 1
        started = descendants(proc.pid)
        if {kind for kind, name in kinds.items() if any(name in p.args for p in started)} == set(kinds):
            break
        assert time.monotonic() < deadline and proc.poll() is None, started
        time.sleep(0.1)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGHUP, err[-3000:]
    assert "Resume with: hpo resume hup" in err
    assert [f"{p.pid} {p.args[:200]}" for p in wait_gone(started, 60)] == []
    parents, children = study_runs(mlflow_client, "hup")
    assert [r.info.status for r in parents] == ["KILLED"]
    assert children and all(r.info.status in ("FINISHED", "KILLED") for r in children)


TRAINER_CONFIG = """
name: table
trainer:
  kind: sklearn
  estimator: {class: sklearn.tree.DecisionTreeRegressor, params: {random_state: 0}}
  cv: {name: timeseries, n_splits: 3, gap: 2}
  scoring: neg_mean_absolute_error
data: {path: data/table.csv, target: y, time: day}
space: {max_depth: {int: [1, 6]}}
n_trials: 3
seed: 0
tracking: TRACKING
"""


def test_trainer_config_runs_and_resumes(workdir, tracking_uri, mlflow_client):
    import numpy as np
    import pandas as pd

    (workdir / "cfg" / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    days = np.arange(120)
    pd.DataFrame({"day": days[::-1], "x": rng.normal(size=120), "y": rng.normal(size=120)}).to_csv(
        workdir / "cfg" / "data" / "table.csv", index=False
    )
    (workdir / "cfg" / "study.yaml").write_text(TRAINER_CONFIG.replace("TRACKING", tracking_uri))
    result = hpo_cli("run", "cfg/study.yaml", cwd=workdir)  # the data path is relative to the config
    assert result.returncode == 0, result.stderr
    assert hpo_cli("resume", "table", "--trials", "5", cwd=workdir).returncode == 0
    parents, children = study_runs(mlflow_client, "table")
    assert len(parents) == 1 and len(children) == 5
    for run in children:
        assert {"fold_score", "cv_mean", "value"} <= set(run.data.metrics)
    artifacts = {a.path for a in mlflow_client.list_artifacts(parents[0].info.run_id)}
    assert "config.yaml" in artifacts
    # The runs name the config as their source, also those the resume wrote; the CSV is the input.
    config = str((workdir / "cfg" / "study.yaml").resolve())
    assert {run.data.tags["mlflow.source.name"] for run in (*parents, *children)} == {config}
    csv_file = str((workdir / "cfg" / "data" / "table.csv").resolve())
    assert parents[0].data.params["trainer.data.source"] == csv_file
    (dataset,) = parents[0].inputs.dataset_inputs
    assert dataset.dataset.name == "table.csv" and dataset.dataset.source == json.dumps({"uri": csv_file})


HELD_OUT_CONFIG = """
name: held
trainer: {kind: sklearn, estimator: sklearn.tree.DecisionTreeClassifier, cv: 3, test_fraction: 0.2}
data: {builtin: iris}
space: {max_depth: [1, 2, 3]}
searcher: grid
tracking: null
"""


def test_a_held_out_test_score_is_shown_by_run_show_and_compare(project, workdir):
    (workdir / "held.yaml").write_text(HELD_OUT_CONFIG)
    result = hpo_cli("run", "held.yaml", "-q", cwd=workdir)
    assert result.returncode == 0, result.stderr
    study = hpo.Study(
        optuna.load_study(study_name="held", storage=hpo._storage.open_storage(workdir / ".hpo/held/study.journal"))
    )
    test = study.test_score
    assert (test["metric"], test["rows"], test["trial"]) == ("test_accuracy", 30, study.best_trial.number)
    line = f"test_accuracy {test['value']:.6g} on 30 held-out rows (best trial {test['trial']}, scored once)"
    assert f"test score: {line}" in result.stdout.splitlines()
    shown = hpo_cli("show", "held", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1] == f"test score: {line}"  # under the table
    assert hpo_cli("run", project(name="plain", n=2, tracking="null"), "-q", cwd=workdir).returncode == 0
    compared = hpo_cli("compare", "held", "plain", cwd=workdir)
    assert compared.returncode == 0, compared.stderr
    header = next(line for line in compared.stdout.splitlines() if line.startswith("┃"))
    assert [c.strip() for c in header.split("┃")[1:-1]][:5] == [
        "study",
        "direction",
        "best value",
        "best trial",
        "test",
    ]
    rows = {
        row.split("│")[1].strip(): [c.strip() for c in row.split("│")[2:-1]]
        for row in compared.stdout.splitlines()
        if row.startswith("│") and "study" not in row
    }
    assert rows["held"][3] == f"{test['value']:.6g}" and rows["plain"][3] == "-"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    """In the child: the default actions of SIGINT and SIGHUP, whatever pytest inherited."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _wait_for_ui(proc, port):
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                assert response.status == 200
                return
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the MLflow UI did not come up"
            time.sleep(0.5)


def test_ui_serves_the_study_on_loopback(project, workdir, spawn):
    config = project(name="uistudy", n=2)
    assert hpo_cli("run", config, cwd=workdir).returncode == 0
    port = _free_port()
    proc = spawn(
        [sys.executable, "-m", "hpo", "ui", "uistudy", "--port", str(port)], cwd=workdir, preexec_fn=_default_signals
    )
    _wait_for_ui(proc, port)
    index = yaml.safe_load((workdir / ".hpo" / "uistudy" / "study.yaml").read_text())
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/get?run_id={index['mlflow']['run_id']}"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert b"uistudy" in response.read()
    err = _end_ui(proc, port, signal.SIGINT, 0)  # Ctrl-C is how it is stopped: exit 0, as ever
    run_id = index["mlflow"]["run_id"]
    assert f"open http://127.0.0.1:{port}/#/experiments/{index['mlflow']['experiment_id']}/runs/{run_id}" in err


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_ui_ends_its_server_whatever_ends_it(workdir, tracking_uri, spawn, signum, code):
    port = _free_port()
    proc = spawn(
        [sys.executable, "-m", "hpo", "ui", "--tracking", tracking_uri, "--port", str(port)],
        cwd=workdir,
        preexec_fn=_default_signals,
    )
    _wait_for_ui(proc, port)
    _end_ui(proc, port, signum, code)


def _end_ui(proc, port, signum, code) -> str:
    """Signal the `hpo ui` process alone (as kill, a supervisor or a closed terminal do, unlike
    a terminal's Ctrl-C); its server must end whole and free the port. Returns its stderr."""
    started = descendants(proc.pid)  # mlflow, uvicorn and its workers
    groups = {p.pgid for p in started}  # the server's
    assert started
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-3000:]
    assert wait_gone(started, 30) == []
    assert [p for p in processes().values() if p.pgid in groups] == []
    with pytest.raises(ConnectionRefusedError):  # nothing listens on the port any more
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    return err


def test_help_and_spaces(workdir):
    result = hpo_cli("--help", cwd=workdir)
    assert result.returncode == 0 and "run" in result.stdout and "resume" in result.stdout
    spaces = hpo_cli("spaces", cwd=workdir)
    assert spaces.returncode == 0
    names = [line.split()[0] for line in spaces.stdout.splitlines()]
    assert {"svc", "logistic_regression", "random_forest", "gradient_boosting", "ridge", "knn", "mlp"} <= set(names)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(params:\n    return 0\n", "SyntaxError at {file}:1: "),
        ("import math\n\nraise RuntimeError('no GPU here')\n", "RuntimeError at {file}:3: no GPU here"),
        ("def f(params):\n    return 0\n\nf(undefined)\n", "NameError at {file}:4: name 'undefined' is not defined"),
    ],
)
def test_an_objective_failing_at_import_is_one_line_exit_2(workdir, source, message):
    (workdir / "user_objective.py").write_text(source)
    (workdir / "broken.yaml").write_text("objective: user_objective:f\nspace: {x: {float: [0, 1]}}\nn_trials: 2\n")
    result = hpo_cli("run", "broken.yaml", cwd=workdir)
    expected = "error: objective: cannot import 'user_objective:f': " + message.format(
        file=workdir / "user_objective.py"
    )
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1, result.stderr
    assert not (workdir / ".hpo").exists() and not (workdir / "mlflow.db").exists()


def test_an_objective_taking_neither_params_nor_params_and_trial_is_one_line_exit_2(workdir):
    (workdir / "user_objective.py").write_text("def f(params, data, model):\n    return 0.0\n")
    (workdir / "bad.yaml").write_text("objective: user_objective:f\nspace: {x: {float: [0, 1]}}\nn_trials: 2\n")
    result = hpo_cli("run", "bad.yaml", cwd=workdir)
    assert result.returncode == 2 and result.stderr == (
        "error: objective: f(params, data, model) cannot be called as objective(params, trial) or "
        "objective(params): missing a required argument: 'model'\n"
    )
    assert not (workdir / ".hpo").exists()


def test_a_config_direction_contradicting_its_trainer_is_one_line_exit_2(workdir):
    (workdir / "study.yaml").write_text(
        "trainer: {kind: sklearn, estimator: sklearn.linear_model.Ridge, cv: 2, scoring: neg_mean_squared_error}\n"
        "data: {builtin: diabetes}\n"
        "space: {alpha: {float: [0.01, 10], log: true}}\n"
        "direction: minimize\n"
        "n_trials: 2\n"
        "tracking: null\n"
    )
    result = hpo_cli("run", "study.yaml", cwd=workdir)
    assert result.returncode == 2 and result.stderr == (
        "error: direction: 'minimize' contradicts the objective's direction 'maximize' (SklearnTrainer, metric "
        "neg_mean_squared_error); leave direction out\n"
    )
    assert not (workdir / ".hpo").exists()


def test_all_trials_failed_prints_its_lines_as_lines(workdir):
    (workdir / "user_objective.py").write_text("def f(params):\n    raise ValueError(f'bad x {params[\"x\"]}')\n")
    (workdir / "fails.yaml").write_text(
        "objective: user_objective:f\nspace: {x: [1, 2]}\nsearcher: grid\nn_trials: 2\ntracking: null\n"
    )
    result = hpo_cli("run", "fails.yaml", "-q", cwd=workdir)
    assert result.returncode == 1, result.stderr
    report = result.stderr.splitlines()
    report = report[report.index("error: All 2 trials of study 'fails' failed.") :]  # after each trial's warning
    assert report[1] == "Below are more details about the failures:"
    assert "ValueError: bad x 1" in report and "ValueError: bad x 2" in report
    assert "\\n" not in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_study_points_to_other_folders(workdir):
    result = hpo_cli("best", "elsewhere", cwd=workdir)
    assert (result.returncode, result.stderr) == (
        2,
        "error: study: no study named 'elsewhere' in '.hpo'; studies run elsewhere: pass --dir DIR or set $HPO_HOME\n",
    )


TORCH_BITS = """
def halve(params):
    return lambda x: x[: len(x) // 2]
"""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("accumulate: 0", "error: trainer.accumulate: expected a positive integer, got 0\n"),
        ("freeze: [encoder]", "error: trainer.freeze: 'encoder' matches no parameter; modules: 0, 1, 2, 3"),
        (
            "scheduler: {name: plateau, monitor: train_loss}",
            "error: trainer.scheduler.monitor: plateau watches a validation metric: expected val_loss or "
            "val_accuracy, got 'train_loss'\n",
        ),
        ("test_fraction: 0", "error: trainer.test_fraction: expected a number in (0, 0.5], got 0\n"),
        ("devices_per_trial: 4096", "error: trainer.devices_per_trial: expected at most "),
        (
            "transform: torch_bits:halve",
            "error: trainer.transform: changed the batch from shape (64, 30) to (32, 30): a transform must keep "
            "the rows\n",
        ),
    ],
)
def test_bad_torch_loop_settings_exit_2_one_line_nothing_written(workdir, options, message):
    (workdir / "torch_bits.py").write_text(TORCH_BITS)
    (workdir / "bad.yaml").write_text(
        f"trainer: {{kind: torch, model: examples.models:mlp, epochs: 1, {options}}}\n"
        "data: {builtin: breast_cancer}\nspace: {hidden: [8, 16]}\nn_trials: 2\n"
    )
    before = sorted(p.name for p in workdir.iterdir())
    result = hpo_cli("run", "bad.yaml", cwd=workdir)
    assert (result.returncode, result.stderr[: len(message)]) == (2, message), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in workdir.iterdir() if p.name != "__pycache__") == before
