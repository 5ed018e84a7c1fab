"""Reproducible studies (hpo/_reproducible.py): trial seeds, the view a trial is proposed and
judged from, and the setting's checks. The parallel runs with workers finishing in random order
are in tests/test_ray.py."""

from __future__ import annotations

import optuna
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

import hpo
from hpo import ConfigError
from hpo._reproducible import StudyView, trial_seed
from hpo.trainers import SklearnTrainer


def test_trial_seeds_are_fixed_by_the_study_seed_and_differ_by_trial():
    seeds = [trial_seed(7, n) for n in range(100)]
    assert seeds == [trial_seed(7, n) for n in range(100)] and len(set(seeds)) == 100
    assert all(0 <= s < 2**32 for s in seeds) and trial_seed(8, 0) != seeds[0]
    assert trial_seed(None, 3) is None


def test_each_trial_gets_its_seed_and_a_rerun_the_seed_of_the_trial_it_reruns(tmp_path):
    seen = {}

    def objective(params, trial):
        seen[trial.number] = trial.seed
        if trial.number == 1 and 3 not in seen:
            seen[3] = "interrupted"
            raise KeyboardInterrupt
        return params["x"]

    kwargs = dict(n_trials=3, seed=5, tracking=None, storage=str(tmp_path / "s.journal"), study_name="s")
    with pytest.raises(KeyboardInterrupt):
        hpo.tune(objective, {"x": hpo.Float(0, 1)}, **kwargs)
    study = hpo.tune(objective, {"x": hpo.Float(0, 1)}, **kwargs)
    rerun = next(t for t in study.trials if t.user_attrs.get("hpo:retry_of") == 1)
    assert seen[0] == trial_seed(5, 0) and seen[rerun.number] == trial_seed(5, 1)
    assert study.trial_seed(rerun) == trial_seed(5, 1)
    unseeded = hpo.tune(lambda p, t: seen.__setitem__("none", t.seed) or 0.0, {"x": hpo.Float(0, 1)}, n_trials=1)
    assert seen["none"] is None and unseeded.trial_seed(unseeded.trials[0]) is None


def test_an_estimator_without_a_random_state_gets_the_trials_seed():
    X, y = load_breast_cancer(return_X_y=True)
    trainer = SklearnTrainer(RandomForestClassifier(n_estimators=5), X, y, cv=3)
    space = {"max_depth": hpo.Int(2, 4)}
    values = [[t.value for t in hpo.tune(trainer, space, n_trials=3, seed=1, tracking=None).trials] for _ in range(2)]
    assert values[0] == values[1]
    assert trainer._model({"max_depth": 2}, 11).random_state == 11
    fixed = SklearnTrainer(RandomForestClassifier(n_estimators=5, random_state=0), X, y, cv=3)
    assert fixed._model({"max_depth": 2}, 11).random_state == 0  # the user's own is kept


def test_the_view_shows_recent_trials_as_running():
    study = optuna.create_study()
    for n in range(5):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.report(float(n), 0)
        study.tell(trial, float(n))
    running = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})  # number 5
    view = StudyView(study, running.number, lag=2)
    shown = view.get_trials(deepcopy=False)
    assert [t.number for t in shown] == [0, 1, 2, 3, 4, 5]
    assert [t.state.name for t in shown] == ["COMPLETE"] * 3 + ["RUNNING"] * 3
    assert shown[3].intermediate_values == {} and shown[3].params == study.trials[3].params
    assert len(view.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 3
    assert view.direction == study.direction  # the rest is the study's own


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "reproducible: expected true, false or {lag: N}, got 'yes'"),
        ({"lag": -1}, "reproducible.lag: expected a non-negative integer, got -1"),
        ({"lagg": 2}, "reproducible: unknown key 'lagg'"),
    ],
)
def test_bad_reproducible_settings(value, message):
    with pytest.raises(ConfigError) as info:
        hpo.tune(lambda p: 0.0, {"x": hpo.Float(0, 1)}, n_trials=1, tracking=None, reproducible=value)
    assert str(info.value).startswith(message)


def test_inline_reproducible_study_equals_the_plain_one():
    kwargs = dict(n_trials=15, seed=2, tracking=None)
    space = {"x": hpo.Float(-1, 1), "y": hpo.Float(-1, 1)}
    plain = hpo.tune(lambda p: p["x"] ** 2 + p["y"] ** 2, space, **kwargs)
    lagged = hpo.tune(lambda p: p["x"] ** 2 + p["y"] ** 2, space, reproducible={"lag": 0}, **kwargs)
    assert [t.params for t in plain.trials] == [t.params for t in lagged.trials]


@pytest.mark.parametrize("lag", [2, None])
def test_pruning_one_of_several_objectives_judges_the_view_not_the_order_trials_ended(lag):
    from hpo._objectives import check_objectives
    from hpo._pareto import ObjectivePruner

    objectives = check_objectives(None, None, {"loss": "minimize", "size": "minimize"}, None)

    def decision(trial_2_ends_first: bool) -> bool:
        pruner = ObjectivePruner(optuna.pruners.MedianPruner(n_startup_trials=0), objectives, "loss")
        for number in range(4):
            pruner.start(number)
        pruner.report(0, 1.0, 0)
        pruner.end(0, "complete", [1.0, 0.0])
        pruner.report(2, 0.2, 0)  # trial 2 does well
        if trial_2_ends_first:
            pruner.end(2, "complete", [0.2, 0.0])
        # Trial 3 reports 0.7: better than trial 0 alone, worse than the median of trials 0 and 2.
        return pruner.report(3, 0.7, 0, lag)

    if lag is None:  # without a view the decision depends on whether trial 2 had ended
        assert decision(True) != decision(False)
    else:  # trial 3 is judged on trial 0 only (trials 1 and 2 are within the lag), in both orders
        assert decision(True) is decision(False) is False
