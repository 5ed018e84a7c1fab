"""Reproducible parallel studies: what a trial's proposal and its pruning decisions may see.

With several trials at once, which trials have ended when the searcher is asked for the next one
depends on which worker finished first, so two runs of one seeded study differ. In a reproducible
study, trial ``n`` is asked (and later judged by the pruner) against a fixed **view** of the
study: the trials numbered below ``n - lag`` as they ended, and those from ``n - lag`` to
``n - 1`` as running (their parameters, as the constant liar uses them; nothing they reported
yet). The driver asks trial ``n`` only once every trial below ``n - lag`` has ended, so the view
is the same in every run, whatever the order in which workers finish. With ``lag`` the number of
workers, a trial sees what a run one trial at a time would have seen, less the last ``lag``.

The searcher gets the view through :class:`ReproducibleSampler`, a wrapper of the study's Optuna
sampler; the pruner through :func:`pruning_view`. With a seed, every trial also gets
``trial.seed`` (:func:`trial_seed`), so that its own randomness is the same in both runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = ["ReproducibleSampler", "StudyView", "pruning_view", "trial_seed"]

#: System attributes a running trial gains while it runs (the pruner's rungs, outcome constraint
#: values): left out of the view's running trials, whose state must not depend on timing.
_WHILE_RUNNING = ("completed_rung_", "constraints")


def trial_seed(seed: int | None, number: int) -> int | None:
    """The seed of trial ``number`` of a study seeded with ``seed`` (None without a seed): the
    same in every run, different for every trial, independent of the searcher's own stream."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"hpo-trial-seed:{seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class StudyView:
    """A study as trial ``number`` may see it (see the module docstring); other attributes are
    the study's own (its storage, directions, ...).

    Args:
        study: The study.
        number: The trial whose view it is.
        lag: How many trials before it are shown as running.
        number_of: The trial number each of ``study``'s trials stands for, when it is not their
            own (the pruner's twin study of a study of several objectives).
    """

    def __init__(
        self,
        study: optuna.study.Study,
        number: int,
        lag: int,
        number_of: Callable[[optuna.trial.FrozenTrial], int] | None = None,
    ) -> None:
        self._study = study
        self._number = number
        self._number_of = number_of or (lambda t: t.number)
        self._cutoff = number - lag
        self._trials: list[optuna.trial.FrozenTrial] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _view(self) -> list[optuna.trial.FrozenTrial]:
        if self._trials is None:
            shown = []
            for t in self._study._get_trials(deepcopy=False, use_cache=False):
                number = self._number_of(t)
                if number < self._cutoff:
                    shown.append(t)
                elif number < self._number:
                    shown.append(_as_running(t))
                elif number == self._number:
                    shown.append(t)  # the trial itself, as it is
            self._trials = shown
        return self._trials

    def get_trials(self, deepcopy: bool = True, states: Container[Any] | None = None) -> list[Any]:
        import copy

        trials = [t for t in self._view() if states is None or t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def _get_trials(
        self, deepcopy: bool = True, states: Container[Any] | None = None, use_cache: bool = False
    ) -> list[Any]:
        return self.get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[Any]:
        return self.get_trials()


def _as_running(trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """``trial`` as it was when asked: running, its parameters, no values or reports."""
    import optuna

    if trial.state == optuna.trial.TrialState.RUNNING and not trial.intermediate_values:
        return trial
    return optuna.trial.FrozenTrial(
        number=trial.number,
        state=optuna.trial.TrialState.RUNNING,
        value=None,
        datetime_start=trial.datetime_start,
        datetime_complete=None,
        params=trial.params,
        distributions=trial.distributions,
        user_attrs=trial.user_attrs,
        system_attrs={k: v for k, v in trial.system_attrs.items() if not k.startswith(_WHILE_RUNNING)},
        intermediate_values={},
        trial_id=trial._trial_id,
    )


def pruning_view(
    study: optuna.study.Study,
    number: int,
    lag: int,
    number_of: Callable[[optuna.trial.FrozenTrial], int] | None = None,
) -> Any:
    """What the pruner may compare trial ``number`` with: the trials that had ended before it was
    asked (numbered below ``number - lag``), and the others as running (see :class:`StudyView`)."""
    return StudyView(study, number, lag, number_of)


class ReproducibleSampler:
    """An Optuna sampler that proposes each trial from the study's view for that trial.

    Args:
        sampler: The study's sampler (TPE, random, grid, GP, ...).
        lag: How many trials before the one asked are shown as running.
    """

    def __init__(self, sampler: Any, lag: int) -> None:
        self.sampler = sampler
        self.lag = lag
        self._views: tuple[int, StudyView] | None = None

    def _view(self, study: Any, trial: optuna.trial.FrozenTrial) -> StudyView:
        # One view per trial: the storage does not change while the driver asks it.
        if self._views is None or self._views[0] != trial.number or self._views[1]._study is not study:
            self._views = (trial.number, StudyView(study, trial.number, self.lag))
        return self._views[1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sampler, name)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return self.sampler.infer_relative_search_space(self._view(study, trial), trial)

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        return self.sampler.sample_relative(self._view(study, trial), trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self.sampler.sample_independent(self._view(study, trial), trial, param_name, param_distribution)

    def before_trial(self, study: Any, trial: Any) -> None:
        self._views = None  # a new trial: a new view
        self.sampler.before_trial(self._view(study, trial), trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Sequence[float] | None) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
