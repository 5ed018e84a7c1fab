"""The exception hierarchy: one root, :class:`HPOError`, as in Optuna."""

from __future__ import annotations

from typing import Any


class HPOError(Exception):
    """Base class of every error raised by hpo."""


class ConfigError(HPOError, ValueError):
    """A search space, config file or argument is invalid.

    The message is one line that names the offending key and quotes its value.
    """


class TrackingError(HPOError):
    """The MLflow tracking store could not be reached or written."""


class StudyNotFoundError(HPOError, LookupError):
    """No study of that name exists in the given storage or study directory."""


class AllTrialsFailedError(HPOError):
    """Every trial of a study failed.

    Attributes:
        study: The :class:`hpo.Study` that holds the failed trials, for inspection.
    """

    def __init__(self, message: str, study: Any = None) -> None:
        super().__init__(message)
        self.study = study
