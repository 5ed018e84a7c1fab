"""The exception hierarchy: one root, :class:`HPOError`, as in Optuna."""

from __future__ import annotations

from typing import Any


class HPOError(Exception):
    """Base class of every error raised by hpo."""


class ConfigError(HPOError, ValueError):
    """A search space, config file or argument is invalid.

    Printed as one line, ``KEY: MESSAGE``, that names the offending key and quotes its value.

    Args:
        message: What is wrong, quoting the value (``expected a positive integer, got 0``).
        key: The dotted key it is about (``trainer.epochs``, ``space.lr.low``), if any.

    Attributes:
        key: The key, or ``None``.
        message: The message without the key.
    """

    def __init__(self, message: str = "", *, key: str | None = None) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt with its key on the other side of a pickle (Ray workers, the writer).
        return (_config_error, (self.message, self.key))

    def under(self, prefix: str) -> ConfigError:
        """The same error, its key nested under ``prefix`` (``epochs`` -> ``trainer.epochs``)."""
        return ConfigError(self.message, key=f"{prefix}.{self.key}" if self.key else prefix)

    def rekeyed(self, key: str) -> ConfigError:
        """The same error about another key (a parameter's name instead of its domain)."""
        return ConfigError(self.message, key=key)


def _config_error(message: str, key: str | None) -> ConfigError:
    return ConfigError(message, key=key)


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
