"""The driver: failed, pruned and interrupted trials, timeouts, callbacks; what ends the loop."""

from __future__ import annotations

import time

import pytest

import hpo
from hpo import AllTrialsFailedError, Float, Int, Space
from tests.conftest import study_runs

SPACE = Space({"x": Float(-3.0, 3.0), "n": Int(0, 5)})


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        (float("nan"), "objective returned nan"),
        (float("inf"), "objective returned inf"),
        ("0.5", "objective returned str '0.5', expected a float"),
        (None, "objective returned NoneType None, expected a float"),
    ],
)
def test_bad_return_values_fail_the_trial_with_a_reason(returned, error):
    def objective(params):
        return returned if params["n"] == 0 else params["x"]

    study = hpo.tune(objective, {"x": {"float": [0, 1]}, "n": [0, 1]}, n_trials=20, seed=1, tracking=None)
    failed = study.trials_df().query("state == 'failed'")
    assert len(failed) > 0
    assert set(failed["error"]) == {error}
    assert study.counts()["complete"] == 20 - len(failed)


def test_exceptions_fail_the_trial_and_the_study_goes_on():
    def objective(params):
        if params["n"] % 2:
            raise ValueError(f"odd n={params['n']}")
        return params["x"]

    study = hpo.tune(objective, SPACE, n_trials=20, seed=0, tracking=None)
    df = study.trials_df()
    assert len(df) == 20
    failed = df[df.state == "failed"]
    assert len(failed) > 0 and all(e.startswith("ValueError: odd n=") for e in failed.error)
    assert (df.state == "complete").sum() == 20 - len(failed)


def test_all_trials_failed_is_one_clear_error():
    def objective(params):
        raise RuntimeError("no GPU")

    with pytest.raises(AllTrialsFailedError) as info:
        hpo.tune(objective, SPACE, n_trials=5, tracking=None)
    message = str(info.value)
    assert message.startswith("All 5 trials of study")
    assert "5 trials failed with the error:\nRuntimeError: no GPU" in message
    assert info.value.study.counts()["failed"] == 5


def test_exception_outside_catch_ends_the_study_after_recording_it():
    calls = []

    def objective(params):
        calls.append(1)
        if len(calls) == 3:
            raise KeyError("boom")
        return 0.0

    with pytest.raises(KeyError, match="boom"):
        hpo.tune(objective, SPACE, n_trials=10, catch=(ValueError,), tracking=None, study_name="s")
    assert len(calls) == 3


def test_pruned_trials_are_recorded_as_pruned():
    def objective(params, trial):
        for step in range(5):
            trial.report(params["x"], step)
        return params["x"]

    study = hpo.tune(
        objective, SPACE, n_trials=25, seed=0, pruner={"name": "median", "n_startup_trials": 3}, tracking=None
    )
    counts = study.counts()
    assert counts["pruned"] > 0 and counts["complete"] + counts["pruned"] == 25
    pruned = study.trials_df().query("state == 'pruned'")
    assert pruned["value"].isna().all()


def test_timeout_stops_starting_trials():
    def objective(params):
        time.sleep(0.05)
        return params["x"]

    study = hpo.tune(objective, SPACE, timeout=0.5, tracking=None)
    assert 1 <= len(study.trials) < 40  # stopped by time, not by a trial count


def test_callbacks_see_every_trial():
    seen = []
    hpo.tune(lambda p: p["x"], SPACE, n_trials=6, callbacks=[lambda s, t: seen.append(t.number)], tracking=None)
    assert seen == list(range(6))


def sleeps_on_odd(params, trial):
    try:
        if params["n"] % 2:
            time.sleep(30)
    except Exception:  # an objective's broad except must not swallow the timeout
        return -1.0
    return float(params["n"])


def test_trial_timeout_stops_and_fails_the_trial(tracking_uri, mlflow_client):
    start = time.monotonic()
    study = hpo.tune(
        sleeps_on_odd,
        {"n": {"int": [0, 3]}},
        searcher="grid",
        trial_timeout=0.5,
        study_name="timeouts",
        tracking=tracking_uri,
    )
    assert time.monotonic() - start < 20
    by_n = {t.params["n"]: t for t in study.trials}
    assert {n: t.state.name for n, t in by_n.items()} == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE", 3: "FAIL"}
    assert by_n[1].user_attrs["hpo:error"] == f"TrialTimeout: trial {by_n[1].number} ran past trial_timeout=0.5 s"
    _, children = study_runs(mlflow_client, "timeouts")
    failed = [r for r in children if r.info.status == "FAILED"]
    assert len(failed) == 2 and all(r.data.tags["hpo.error"].startswith("TrialTimeout: ") for r in failed)
