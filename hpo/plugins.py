"""What a plugin (a trainer, an executor, a splitter) may use of hpo: the public pieces.

Plugins import from here and from :mod:`hpo`, never from hpo's private modules, so the core
can change inside without breaking them.

Example:
    >>> from hpo.plugins import ConfigError, check_keys
    >>> check_keys({"epochs": 3}, ["epochs", "lr"], "trainer")
"""

from __future__ import annotations

from hpo._exceptions import ConfigError
from hpo._executors import Executor, TrialJob
from hpo._objectives import Objectives
from hpo._registry import Registry, load_callable, load_object, qualified_name
from hpo._space import space_from_spec as as_space
from hpo._study import better, trial_state
from hpo._trial import Reporter, StudyRun, Trial, TrialResult
from hpo._validation import check_keys, did_you_mean, name_and_options

__all__ = [
    "ConfigError",
    "Executor",
    "Objectives",
    "Registry",
    "Reporter",
    "StudyRun",
    "Trial",
    "TrialJob",
    "TrialResult",
    "as_space",
    "better",
    "check_keys",
    "did_you_mean",
    "load_callable",
    "load_object",
    "name_and_options",
    "qualified_name",
    "trial_state",
]
