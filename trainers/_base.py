"""The trainer protocol: the one small interface every trainer implements."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo.plugins import ConfigError, Objectives, StudyRun, Trial


class Trainer(abc.ABC):
    """Base class of trainers.

    A trainer is an objective that knows its data and model: ``trainer(params, trial)`` trains
    with ``params``, reports intermediate scores through ``trial.report(value, step)`` (so the
    study's pruner can stop it early), and returns the score to optimize. Its ``direction``
    tells the study whether that score is minimized or maximized.
    """

    #: ``"minimize"`` or ``"maximize"``: how the study treats the returned score.
    direction: str = "minimize"

    #: Several objectives, when the trainer returns a dict of scores by name (e.g. several
    #: scorers): their names and directions, which the study takes instead of ``direction``.
    objectives: Objectives | None = None

    #: The MLflow flavor of the model ``on_study_end`` logs (``"sklearn"``, ...), if any: the
    #: tracking writer loads it while trials run, so logging the model at the end is quick.
    model_flavor: str | None = None

    #: Where the data came from: a file path, ``builtin:NAME``, or ``python`` (handed over in
    #: code). ``from_config`` sets it; it names the data in MLflow.
    data_source: str = "python"

    @property
    def metric_name(self) -> str | None:
        """The name of the score a trial returns (``accuracy``, ``neg_root_mean_squared_error``):
        the study's parent run logs its best as ``best_<metric_name>`` and tags ``hpo.metric``."""
        return None

    def describe(self) -> dict[str, Any]:
        """The trainer's settings, logged as ``trainer.KEY`` params of the study's parent run:
        model or estimator, metric, loss or scoring, splitting, data source and shape."""
        return {"kind": type(self).__name__, "metric": self.metric_name, "data.source": self.data_source}

    def datasets(self) -> list[dict[str, str]]:
        """Dataset cards (see ``hpo.trainers._provenance.dataset_card``) of the data the trials
        train and score on, logged to the parent run with ``mlflow.log_input``."""
        return []

    @classmethod
    def from_config(cls, block: Mapping[str, Any], data: Any, *, base: Path | None = None) -> Trainer:
        """Build from a config's ``trainer:`` block (its ``kind`` names this class) and its
        ``data:`` block; relative paths are taken from ``base``, the config's folder.

        Raises:
            ConfigError: One line naming ``trainer.KEY`` or ``data.KEY``.
        """
        raise ConfigError(f"{cls.__name__} cannot be built from a config", key="trainer.kind")

    @abc.abstractmethod
    def __call__(self, params: dict[str, Any], trial: Trial) -> float | dict[str, float]:
        """Train and evaluate one configuration; return its score (with several objectives, a
        dict of them by name: see ``objectives``)."""

    def on_study_end(self, study: Any, run: StudyRun) -> None:  # noqa: B027 -- optional hook
        """Called once after a study with a completed trial, before its MLflow run ends.

        Trainers refit the best configuration here and log it with ``run.log_model``; with a
        held-out test set they score that model on it once, ``run.log_test_score(...)``.
        """

    def on_trial_kept(self, number: int, kept: Any) -> None:  # noqa: B027 -- optional hook
        """Called in the driver for each completed trial that handed ``trial.keep(obj)`` an
        object, wherever the trial ran (e.g. the torch trainer keeps the best weights)."""

    def check_executor(self, executor: Any) -> None:  # noqa: B027 -- optional hook
        """Called before the study with the executor that will run the trials: raise
        ``ConfigError`` when a trial needs resources it cannot get there (the torch trainer's
        ``devices_per_trial``)."""

    def check_space(self, space: Any) -> None:  # noqa: B027 -- optional hook
        """Called before the study starts: raise ``ConfigError`` for hyperparameters this trainer
        cannot take (the scikit-learn trainer names those its estimator lacks)."""
