"""Persistent storages and resume: no trial lost, none doubled, one MLflow parent run."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
import pytest

import hpo
from hpo import ConfigError
from tests.conftest import hpo_cli, hpo_env, study_runs

CRASHING = """
import os, signal, sys
from pathlib import Path
import hpo

def objective(params, trial):
    marker = Path("crashed")
    trial.report(float(next(iter(params.values()))), 0)
    if trial.number == 5 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)   # a real crash mid-trial
    return params["x"] ** 2 if "x" in params else float(params["n"])

space = {"x": {"float": [-2, 2]}} if sys.argv[3] == "tpe" else {"n": {"int": [0, 9]}}
tracking = None if sys.argv[2] == "none" else sys.argv[2]
study = hpo.tune(objective, space, n_trials=int(sys.argv[4]), searcher=sys.argv[3], seed=0,
                 storage=sys.argv[1], study_name="crashy", tracking=tracking, pruner="none")
print("DONE", study.mlflow_run_id)
"""


def _run(workdir, storage, tracking, searcher, n):
    (workdir / "crashing.py").write_text(CRASHING)
    return subprocess.run(
        [sys.executable, "crashing.py", storage, tracking, searcher, str(n)],
        env=hpo_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _counted(study):
    return [t for t in study.trials if hpo._study.trial_state(t) in ("complete", "pruned", "failed")]


@pytest.mark.parametrize("storage_kind", ["journal", "sqlite"])
def test_resume_after_a_crash_reaches_exactly_n(workdir, tracking_uri, mlflow_client, storage_kind):
    storage = str(workdir / "study.journal") if storage_kind == "journal" else f"sqlite:///{workdir / 'optuna.db'}"
    first = _run(workdir, storage, tracking_uri, "tpe", 12)
    assert first.returncode == -9, first.stderr
    second = _run(workdir, storage, tracking_uri, "tpe", 12)
    assert second.returncode == 0, second.stderr
    assert "left running by an earlier crash" in second.stderr

    study = optuna.load_study(
        study_name="crashy", storage=hpo._storage.open_storage(hpo._storage.check_storage(storage))
    )
    wrapped = hpo.Study(study)
    counts = wrapped.counts()
    assert counts["complete"] == 12 and counts["interrupted"] == 1 and counts["running"] == 0
    interrupted = [t for t in study.trials if hpo._study.trial_state(t) == "interrupted"][0]
    assert interrupted.number == 5
    rerun = [t for t in study.trials if t.user_attrs.get("hpo:retry_of") == 5]
    assert len(rerun) == 1 and rerun[0].params == interrupted.params and rerun[0].state.name == "COMPLETE"
    params = [t.params["x"] for t in _counted(wrapped)]
    assert len(set(params)) == 12  # none doubled

    parents, children = study_runs(mlflow_client, "crashy")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert second.stdout.split()[-1] == parents[0].info.run_id
    assert len(children) == 13
    assert all(r.info.status != "RUNNING" for r in children)
    killed = [r for r in children if r.info.status == "KILLED"]
    assert len(killed) == 1 and killed[0].data.tags["hpo.fail_reason"] == "interrupted"
    assert killed[0].data.tags["hpo.trial_number"] == "5"


def test_grid_resumed_after_a_crash_runs_every_point_once(workdir):
    storage = str(workdir / "grid.journal")
    assert _run(workdir, storage, "none", "grid", 10).returncode == -9
    second = _run(workdir, storage, "none", "grid", 10)
    assert second.returncode == 0, second.stderr
    study = hpo.Study(
        optuna.load_study(study_name="crashy", storage=hpo._storage.open_storage(hpo._storage.check_storage(storage)))
    )
    counted = _counted(study)
    assert sorted(t.params["n"] for t in counted) == list(range(10))


def test_same_call_again_resumes_and_extends(workdir):
    storage = str(workdir / "s.journal")
    space = {"x": {"float": [0, 1]}}
    first = hpo.tune(lambda p: p["x"], space, n_trials=5, storage=storage, study_name="again", tracking=None)
    assert len(first.trials) == 5
    same = hpo.tune(lambda p: p["x"], space, n_trials=5, storage=storage, study_name="again", tracking=None)
    assert len(same.trials) == 5  # already done: nothing more runs
    more = hpo.tune(lambda p: p["x"], space, n_trials=8, storage=storage, study_name="again", tracking=None)
    assert len(more.trials) == 8


def test_keyboard_interrupt_marks_the_trial_and_resume_reruns_it(workdir, tracking_uri, mlflow_client):
    storage = str(workdir / "ki.journal")
    space = {"x": {"float": [0, 1]}}
    state = {"interrupt": True}

    def objective(params, trial):
        if trial.number == 3 and state["interrupt"]:
            raise KeyboardInterrupt
        return params["x"]

    with pytest.raises(KeyboardInterrupt):
        hpo.tune(objective, space, n_trials=6, storage=storage, study_name="ki", tracking=tracking_uri)
    parents, children = study_runs(mlflow_client, "ki")
    assert parents[0].info.status == "KILLED"
    assert {r.data.tags["hpo.trial_number"]: r.info.status for r in children} == {
        "0": "FINISHED",
        "1": "FINISHED",
        "2": "FINISHED",
        "3": "KILLED",
    }
    state["interrupt"] = False
    study = hpo.tune(objective, space, n_trials=6, storage=storage, study_name="ki", tracking=tracking_uri)
    assert study.counts()["complete"] == 6 and study.counts()["interrupted"] == 1
    assert study.trials[4].params == study.trials[3].params  # the interrupted configuration, run again
    parents, children = study_runs(mlflow_client, "ki")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].info.run_id == study.mlflow_run_id
    assert len(children) == 7


def test_resume_refuses_another_space(workdir):
    storage = str(workdir / "s.journal")
    hpo.tune(lambda p: p["x"], {"x": {"float": [0, 1]}}, n_trials=2, storage=storage, study_name="s", tracking=None)
    with pytest.raises(
        ConfigError, match="study_name: study 's' already exists in this storage with another search space"
    ):
        hpo.tune(lambda p: p["x"], {"x": {"int": [0, 2]}}, n_trials=2, storage=storage, study_name="s", tracking=None)
    with pytest.raises(ConfigError, match="direction: study 's' exists with direction 'minimize', got 'maximize'"):
        hpo.tune(
            lambda p: p["x"],
            {"x": {"float": [0, 1]}},
            n_trials=2,
            storage=storage,
            study_name="s",
            direction="maximize",
            tracking=None,
        )


KILLED = """
import sys, time
import hpo

def objective(params, trial):
    open(f"@WORKDIR@/started-{trial.number}", "w").close()
    time.sleep(0.2)
    trial.report(params["x"], 0)
    return params["x"] ** 2

executor = {"kind": "ray", "workers": 2} if sys.argv[3] == "ray" else "inline"
study = hpo.tune(objective, {"x": {"float": [-2, 2]}}, n_trials=30, searcher="tpe", seed=0, storage=sys.argv[1],
                 study_name="killed", tracking=sys.argv[2], pruner="none", executor=executor)
print("DONE", study.mlflow_run_id)
"""


@pytest.mark.parametrize("executor", ["inline", "ray"])
def test_driver_killed_at_a_random_point_then_resumed(workdir, tracking_uri, mlflow_client, executor, spawn):
    import random

    if executor == "ray":
        pytest.importorskip("ray")
    storage = str(workdir / "study.journal")
    (workdir / "killed.py").write_text(KILLED.replace("@WORKDIR@", str(workdir)))
    cmd = [sys.executable, "killed.py", storage, tracking_uri, executor]
    proc = spawn(cmd)
    # A random point of a trial's run once the study is under way (trial 5 started): a kill
    # timed from the start of the study could land between two trials on a busy machine, where
    # it cuts nothing short and proves little.
    while not (workdir / "started-5").exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.01)
    time.sleep(random.Random(executor).uniform(0.0, 0.12))  # the same in every run; trials sleep 0.2 s
    proc.kill()
    proc.communicate()
    assert proc.returncode == -9
    again = subprocess.run(cmd, env=hpo_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]

    trials = optuna.load_study(study_name="killed", storage=hpo._storage.open_storage(workdir / "study.journal")).trials
    states = [hpo._study.trial_state(t) for t in trials]
    assert states.count("complete") == 30 and states.count("running") == 0 and states.count("waiting") == 0
    interrupted = [t for t, s in zip(trials, states) if s == "interrupted"]
    assert interrupted, "the kill cut no trial short"
    for t in interrupted:  # each configuration the crash cut short ran again, once
        reruns = [r for r in trials if r.user_attrs.get("hpo:retry_of") == t.number]
        if not t.params:  # killed between Optuna creating the trial and sampling it: nothing to rerun
            assert reruns == []
            continue
        assert len(reruns) == 1 and reruns[0].params == t.params and reruns[0].state.name == "COMPLETE", (t, reruns)
    complete = [t.params["x"] for t, s in zip(trials, states) if s == "complete"]
    assert len(set(complete)) == 30  # none doubled

    parents, children = study_runs(mlflow_client, "killed")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(int(r.data.tags["hpo.trial_number"]) for r in children) == [t.number for t in trials]
    assert all(r.info.status in ("FINISHED", "KILLED") for r in children)
    for run in children:
        if run.info.status == "KILLED":
            assert run.data.tags["hpo.fail_reason"] == "interrupted"


RACER = """
import os, sys, time
from pathlib import Path
import hpo

folder, me, rounds, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
name = "race" if sys.argv[6] == "one" else f"race-{me}"  # one study for all, or one each
url = sys.argv[7]  # the new database of round k: url.format(k=k)
if sys.argv[5] == "retries":  # as on a database server, with no file beside it to lock
    import contextlib
    hpo._storage._sqlite_lock = lambda url: contextlib.nullcontext()

def wait_for(path):
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(f"no {path}")
        time.sleep(0.005)

for k in range(rounds):
    (folder / f"ready-{k}-{me}").touch()
    wait_for(folder / f"go-{k}")  # the barrier: every racer opens the new file at once
    study = hpo.tune(lambda p: p["x"] ** 2, {"x": {"float": [-1, 1]}}, n_trials=n, seed=int(me),
                     storage=url.format(k=k), study_name=name, tracking=None)
    print("ROUND", k, len(study.trials), flush=True)
"""


@pytest.mark.parametrize(
    ("database", "guard", "studies"),
    [
        ("sqlite", "lock", "each"),
        ("sqlite", "retries", "each"),
        ("sqlite", "lock", "one"),
        ("postgresql", "retries", "one"),
    ],
)
def test_processes_creating_one_new_storage_at_once_all_succeed(request, workdir, spawn, database, guard, studies):
    # Optuna's creation of a new database's schema races (IntegrityError on alembic_version;
    # on PostgreSQL also "relation already exists"): processes open one new database at the
    # same moment, round after round, each for a study of its own; or all for one study, which
    # they create at once (the driver's race: a process must not read the study before its
    # creator has tagged it with its space).
    racers, rounds, n_trials = 4, 4, 3
    if database == "postgresql":
        postgres = request.getfixturevalue("postgres")
        urls = [postgres.new_database(f"race_{k}") for k in range(rounds)]
        template = postgres.url("race_{k}")
    else:
        urls = [f"sqlite:///{workdir / f'race-{k}.db'}" for k in range(rounds)]
        template = f"sqlite:///{workdir}/race-{{k}}.db"
    (workdir / "racer.py").write_text(RACER)
    args = [str(workdir), "", str(rounds), str(n_trials), guard, studies, template]
    procs = [spawn([sys.executable, "racer.py", *args[:1], str(i), *args[2:]], cwd=workdir) for i in range(racers)]
    for k in range(rounds):
        deadline = time.monotonic() + 120
        while len(list(workdir.glob(f"ready-{k}-*"))) < racers:
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [
                p.communicate()[1][-3000:] for p in procs if p.poll() is not None
            ]
            time.sleep(0.01)
        (workdir / f"go-{k}").touch()
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-3000:]
        assert out.count("ROUND") == rounds, err[-3000:]
    for k in range(rounds):
        storage = hpo._storage.open_storage(hpo._storage.check_storage(urls[k]))
        if studies == "one":  # n_trials holds across the processes; surplus asks were dropped
            states = [hpo._study.trial_state(t) for t in optuna.load_study(study_name="race", storage=storage).trials]
            assert states.count("complete") == n_trials and set(states) <= {"complete", "interrupted"}, states
            continue
        for i in range(racers):
            trials = optuna.load_study(study_name=f"race-{i}", storage=storage).trials
            assert [hpo._study.trial_state(t) for t in trials] == ["complete"] * n_trials


# -- PostgreSQL (a real server, see the postgres fixture) ------------------------------------

PG_CONFIG = """
name: pg
objective: pg_objective:quadratic
space:
  x: {{float: [-3, 3]}}
n_trials: 3
storage: {storage}
tracking: {tracking}
"""


@pytest.mark.parametrize(
    ("key", "fault"), [("storage", "password"), ("storage", "no server"), ("tracking", "no database")]
)
def test_a_postgresql_url_that_cannot_be_used_is_one_line_before_any_trial(workdir, postgres, key, fault):
    (workdir / "pg_objective.py").write_text("def quadratic(params):\n    return params['x'] ** 2\n")
    bad = {
        "password": postgres.url("postgres", password="wrong"),
        "no server": f"postgresql+psycopg://hpo:secret@127.0.0.1:{postgres.port + 1}/postgres",
        "no database": postgres.url("missing"),
    }[fault]
    good = {"storage": f"sqlite:///{workdir / 'study.db'}", "tracking": "null"}
    (workdir / "pg.yaml").write_text(PG_CONFIG.format(**{**good, key: bad}))
    result = hpo_cli("run", "pg.yaml", cwd=workdir)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}: cannot connect to 'postgresql+psycopg://hpo:***@")
    assert {"password": "password authentication failed", "no server": "Connection refused"}.get(
        fault, 'database "missing" does not exist'
    ) in lines[0]
    assert "wrong" not in result.stderr and "secret" not in result.stderr  # no password shown
    assert sorted(p.name for p in workdir.iterdir()) == ["pg.yaml", "pg_objective.py"]  # nothing written


RESTARTED = """
import sys, time
from pathlib import Path
import hpo

def objective(params, trial):
    if trial.number == 4:
        Path("restart").touch()  # the test restarts the database server now
    time.sleep(0.2)
    trial.report(params["x"], 0)
    return params["x"] ** 2

study = hpo.tune(objective, {"x": {"float": [-2, 2]}}, n_trials=20, seed=0, storage=sys.argv[1],
                 study_name="restarted", tracking=sys.argv[2], pruner="median")
print("DONE", study.mlflow_run_id, study.counts())
"""


def test_a_database_restarted_mid_study_costs_no_trial(workdir, postgres, spawn):
    # The study's storage and its MLflow store are both on the server; it stops for 3 s.
    storage, tracking = postgres.new_database(), postgres.new_database()
    (workdir / "restarted.py").write_text(RESTARTED)
    proc = spawn([sys.executable, "restarted.py", storage, tracking], cwd=workdir)
    deadline = time.monotonic() + 120
    while not (workdir / "restart").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    postgres.stop()
    time.sleep(3)
    postgres.start()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "storage: the database does not answer, retrying" in err
    trials = optuna.load_study(study_name="restarted", storage=hpo._storage.open_storage(storage)).trials
    states = [hpo._study.trial_state(t) for t in trials]
    assert len(trials) == 20 and set(states) <= {"complete", "pruned"}, states  # none failed, none lost
    from mlflow import MlflowClient

    parents, children = study_runs(MlflowClient(tracking), "restarted")
    assert [r.info.status for r in parents] == ["FINISHED"]
    assert sorted(int(r.data.tags["hpo.trial_number"]) for r in children) == list(range(20))
    assert {r.info.status for r in children} == {"FINISHED"}


def _lose_replies(storage, when):
    """Make the server's reply to a committed storage call get lost (the connection drops right
    after the commit) once for each commit that ``when(session)`` picks."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    lost = []

    @event.listens_for(storage.scoped_session, "after_flush")
    def picked(session, context):
        if when(session):
            session.connection().info["lose"] = True

    @event.listens_for(storage.engine, "commit")
    def lose(connection):
        if connection.info.pop("lose", False):
            connection.connection.dbapi_connection.commit()  # the server commits...
            lost.append(True)  # ...and its reply never comes
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    return lost


def test_a_retry_after_a_lost_reply_does_not_do_the_call_twice(workdir, caplog):
    from optuna.storages._rdb import models

    storage = hpo._storage.open_storage(f"sqlite:///{workdir / 'lost.db'}")
    study = optuna.create_study(storage=storage)
    new_trial = lambda s: any(isinstance(o, models.TrialModel) for o in s.new)  # noqa: E731
    finished = lambda s: any(isinstance(o, models.TrialModel) and o.state.is_finished() for o in s.dirty)  # noqa: E731
    lost = _lose_replies(storage, lambda s: new_trial(s) or finished(s))
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(trial, 1.0)  # (a second try finds it finished: done, not an error)
    study.enqueue_trial({"x": 0.5})  # a waiting trial made from a template
    assert len(lost) == 3
    assert "storage: the database does not answer, retrying" in caplog.text
    trials = study.get_trials(deepcopy=False)
    assert [(t.number, t.state.name, t.values) for t in trials] == [(0, "COMPLETE", [1.0]), (1, "WAITING", None)]
    assert trials[1].system_attrs["fixed_params"] == {"x": 0.5}
