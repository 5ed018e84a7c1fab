"""hpo: hyperparameter optimization and experiment tracking.

Optuna samples and prunes, Ray runs trials in parallel, MLflow records everything; hpo joins
them. Start with :func:`tune`, or ``hpo run study.yaml`` from the shell.

Importing this package imports none of torch, ray, mlflow or optuna: they load when used.
"""

from __future__ import annotations

from typing import Any

from hpo._exceptions import (
    AllTrialsFailedError,
    ConfigError,
    HPOError,
    StudyNotFoundError,
    TrackingError,
)
from hpo._executors import Executor, InlineExecutor, TrialJob
from hpo._space import Categorical, Choice, Domain, Float, Int, Space
from hpo._study import Study
from hpo._trial import StudyRun, Trial, TrialResult
from hpo._tune import tune
from hpo._version import __version__

__all__ = [
    "AllTrialsFailedError",
    "Categorical",
    "Choice",
    "ConfigError",
    "Domain",
    "Executor",
    "Float",
    "HPOError",
    "HPOSearchCV",
    "InlineExecutor",
    "RayExecutor",
    "Int",
    "Space",
    "Study",
    "StudyNotFoundError",
    "StudyRun",
    "TrackingError",
    "Trial",
    "TrialJob",
    "TrialPruned",
    "TrialResult",
    "__version__",
    "tune",
]


def __getattr__(name: str) -> Any:
    # hpo.TrialPruned is Optuna's, so pruners and objectives written for Optuna agree on it;
    # resolved on first use to keep `import hpo` free of Optuna.
    if name == "TrialPruned":
        from optuna import TrialPruned

        return TrialPruned
    if name == "HPOSearchCV":  # scikit-learn's search-estimator API; imports scikit-learn
        from hpo.trainers import HPOSearchCV

        return HPOSearchCV
    if name == "RayExecutor":  # hpo._ray itself imports ray only when a study starts
        from hpo._ray import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'hpo' has no attribute {name!r}")
