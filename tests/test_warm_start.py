"""Warm starts (hpo/_warm_start.py): earlier studies' complete trials told to a new study's
searcher, configurations run first, and a study going on after its bounds changed."""

from __future__ import annotations

import logging

import pytest

import hpo
from hpo import ConfigError
from tests.conftest import hpo_cli

SPACE = {"x": hpo.Float(0.0, 1.0), "k": hpo.Categorical(["a", "b"])}


def quadratic(params):
    return (params["x"] - 0.3) ** 2 + (params["k"] == "b") * 0.1


@pytest.fixture
def source(tmp_path):
    """A finished 8-trial study 'old' in a journal file."""
    storage = str(tmp_path / "s.journal")
    hpo.tune(quadratic, SPACE, n_trials=8, searcher="random", seed=1, storage=storage, study_name="old", tracking=None)
    return storage


def test_complete_trials_are_told_and_do_not_count(source):
    study = hpo.tune(
        quadratic, SPACE, n_trials=3, seed=2, storage=source, study_name="new", tracking=None, warm_start="old"
    )
    assert len(study.warm_trials) == 8 and len(study.trials) == 3
    assert study.counts()["warm"] == 8 and study.counts()["complete"] == 3
    assert {t.user_attrs["hpo:warm_start"] for t in study.warm_trials} == {"study 'old'"}
    assert study.best_trial.number >= 8  # one of this study's own trials
    assert list(study.trials_df()["number"]) == [8, 9, 10]
    # TPE modelled them: its first trial is not a random one from the startup phase.
    sampler = study.optuna_study.sampler
    assert len(study.optuna_study.get_trials(states=[__import__("optuna").trial.TrialState.COMPLETE])) == 11
    assert type(sampler).__name__ == "TPESampler"


def test_trials_outside_the_new_space_are_dropped_in_one_line(source, caplog):
    narrower = {"x": hpo.Float(0.0, 0.5), "k": hpo.Categorical(["a", "b"]), "extra": hpo.Int(1, 3)}
    with caplog.at_level(logging.INFO, logger="hpo"):
        study = hpo.tune(
            lambda p: quadratic(p) + p["extra"],
            narrower,
            n_trials=1,
            storage=source,
            study_name="new",
            tracking=None,
            warm_start={"study": "old", "defaults": {"extra": 2}},
        )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("warm start")]
    assert len(lines) == 1
    old = hpo.Study.load("old", storage=source) if hasattr(hpo.Study, "load") else None
    inside = len(study.warm_trials)
    assert f"{inside} of 8 complete trials told" in lines[0]
    assert "x outside the space" in lines[0] and "filled extra=2 (8 trials)" in lines[0]
    assert all(t.params["x"] <= 0.5 and t.params["extra"] == 2 for t in study.warm_trials)
    assert 0 < inside < 8
    del old


def test_a_parameter_the_new_space_lacks_is_left_out(source, caplog):
    with caplog.at_level(logging.WARNING, logger="hpo"):
        study = hpo.tune(
            lambda p: (p["x"] - 0.3) ** 2,
            {"x": hpo.Float(0.0, 1.0)},
            n_trials=1,
            storage=source,
            study_name="new",
            tracking=None,
            warm_start="old",
        )
    assert len(study.warm_trials) == 8 and all(set(t.params) == {"x"} for t in study.warm_trials)
    assert any("left out k (not in the space, 8 trials)" in r.getMessage() for r in caplog.records)


def test_a_missing_parameter_without_default_drops_the_trials(source, caplog):
    with caplog.at_level(logging.WARNING, logger="hpo"):
        study = hpo.tune(
            lambda p: 0.0,
            {**SPACE, "new": hpo.Float(0, 1)},
            n_trials=1,
            storage=source,
            study_name="new",
            tracking=None,
            warm_start="old",
        )
    assert study.warm_trials == []
    assert any("dropped 8 (new missing: 8)" in r.getMessage() for r in caplog.records)


def test_enqueued_configurations_run_first():
    configs = [{"x": 0.25, "k": "b"}, {"x": 0.75}]
    study = hpo.tune(quadratic, SPACE, n_trials=3, tracking=None, warm_start={"enqueue": configs})
    assert study.trials[0].params == {"x": 0.25, "k": "b"} and study.trials[1].params["x"] == 0.75
    assert len(study.trials) == 3 and study.warm_trials == []
    listed = hpo.tune(quadratic, SPACE, n_trials=1, tracking=None, warm_start=[{"x": 0.5, "k": "a"}])
    assert listed.trials[0].params == {"x": 0.5, "k": "a"}


def test_bad_warm_starts_are_one_line_errors(source):
    def run(warm, **extra):
        kwargs = dict(n_trials=1, storage=source, study_name="new", tracking=None, **extra)
        with pytest.raises(ConfigError) as info:
            hpo.tune(quadratic, SPACE, warm_start=warm, **kwargs)
        assert "\n" not in str(info.value)
        return str(info.value)

    assert run("olt").startswith("warm_start.study: no study 'olt' in") and "did you mean 'old'" in run("olt")
    assert "has direction 'minimize', this study 'maximize'" in run("old", direction="maximize")
    assert run({"enqueue": [{"x": 2.0}]}).startswith("warm_start.enqueue[0].x: 2.0 is outside the space")
    assert run({"enqueue": [{"y": 1}]}).startswith("warm_start.enqueue[0]: unknown parameter 'y'")
    assert run({"studdy": "old"}).startswith("warm_start: unknown key 'studdy'")
    missing = run({"study": "old", "storage": str(source) + ".gone.journal"})
    assert "does not exist" in missing
    assert (source + ".gone.journal") not in [str(p) for p in __import__("pathlib").Path(source).parent.iterdir()]


def test_from_an_mlflow_experiment(tracking_uri):
    hpo.tune(quadratic, SPACE, n_trials=5, searcher="random", seed=3, study_name="tracked", tracking=tracking_uri)
    study = hpo.tune(
        quadratic,
        SPACE,
        n_trials=1,
        tracking=None,
        warm_start={"mlflow_experiment": "tracked", "tracking": tracking_uri},
    )
    assert len(study.warm_trials) == 5
    assert {t.params["k"] for t in study.warm_trials} <= {"a", "b"}  # strings back as the choices
    assert all(isinstance(t.params["x"], float) for t in study.warm_trials)
    with pytest.raises(ConfigError, match="warm_start.mlflow_experiment: no MLflow experiment 'nope'"):
        hpo.tune(quadratic, SPACE, n_trials=1, tracking=tracking_uri, warm_start={"mlflow_experiment": "nope"})


@pytest.mark.parametrize("child_runs", ["none", {"top_k": 2}])
def test_from_an_mlflow_experiment_whose_trials_have_no_runs(tracking_uri, child_runs):
    # Trials without a run of their own are read from their study run's trials.csv, once each.
    old = hpo.tune(
        quadratic,
        SPACE,
        n_trials=5,
        searcher="random",
        seed=3,
        study_name="few",
        tracking=tracking_uri,
        child_runs=child_runs,
    )
    study = hpo.tune(
        quadratic, SPACE, n_trials=1, tracking=None, warm_start={"mlflow_experiment": "few", "tracking": tracking_uri}
    )
    warm = sorted((t.value, t.params["x"], t.params["k"]) for t in study.warm_trials)
    assert warm == sorted((t.value, t.params["x"], t.params["k"]) for t in old.trials)


def test_a_study_goes_on_after_its_bounds_changed(tmp_path, caplog):
    storage = str(tmp_path / "s.journal")
    kwargs = dict(storage=storage, study_name="s", tracking=None, seed=0)
    hpo.tune(quadratic, SPACE, n_trials=6, **kwargs)
    wider = {"x": hpo.Float(-1.0, 0.5), "k": hpo.Categorical(["a", "b"])}
    with caplog.at_level(logging.WARNING, logger="hpo"):
        study = hpo.tune(quadratic, wider, n_trials=12, **kwargs)
    assert len(study.trials) == 12 and all(-1 <= t.params["x"] <= 0.5 for t in study.trials[6:])
    line = next(r.getMessage() for r in caplog.records if "goes on with new bounds" in r.getMessage())
    assert "x: [0, 1] -> [-1, 0.5]" in line and "kept its 6 trials" in line
    with pytest.raises(ConfigError, match="another search space \\(only bounds may change\\)"):
        hpo.tune(quadratic, {"x": hpo.Float(0.0, 1.0), "k": hpo.Categorical(["a", "c"])}, n_trials=13, **kwargs)


def test_cli_warm_start_from_a_study_of_the_folder(workdir):
    config = workdir / "study.yaml"
    config.write_text(
        "name: first\nobjective: tests.test_warm_start:quadratic\nn_trials: 4\ntracking: null\nseed: 0\n"
        "space:\n  x: {float: [0.0, 1.0]}\n  k: [a, b]\n"
    )
    assert hpo_cli("run", str(config), "-q", cwd=workdir).returncode == 0
    done = hpo_cli("run", str(config), "-q", "--name", "second", "--warm-start", "first", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "warm start from study 'first': 4 of 4 complete trials told to the searcher" in done.stdout
    gone = hpo_cli("run", str(config), "-q", "--name", "third", "--warm-start", "nope", cwd=workdir)
    assert gone.returncode == 2 and "Traceback" not in gone.stderr
    assert gone.stderr.strip().splitlines()[-1].startswith("error: --warm-start: no study named 'nope'")
