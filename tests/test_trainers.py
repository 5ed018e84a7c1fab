"""The trainer protocol: a trainer is an objective with a direction."""

from __future__ import annotations

import pytest

import hpo
from hpo.trainers import Trainer


class Accuracy(Trainer):
    direction = "maximize"

    def __call__(self, params, trial):
        for step in range(3):
            trial.report(params["x"] * (step + 1) / 3, step)
        return params["x"]


def test_a_trainer_sets_the_study_direction():
    study = hpo.tune(Accuracy(), {"x": {"float": [0, 1]}}, n_trials=8, seed=0, pruner="none", tracking=None)
    assert study.direction == "maximize"
    assert study.best_value == max(t.value for t in study.trials)
    assert study.trials[0].intermediate_values.keys() == {0, 1, 2}


def test_an_explicit_direction_must_agree_with_the_trainers():
    study = hpo.tune(Accuracy(), {"x": {"float": [0, 1]}}, n_trials=4, direction="maximize", tracking=None)
    assert study.direction == "maximize"
    with pytest.raises(hpo.ConfigError, match=r"^direction: 'minimize' contradicts the objective's direction"):
        hpo.tune(Accuracy(), {"x": {"float": [0, 1]}}, n_trials=4, direction="minimize", tracking=None)


def test_trainer_is_abstract():
    with pytest.raises(TypeError):
        Trainer()
