"""The Pareto front of a multi-objective study, its hypervolume, and pruning on one objective.

Optuna computes the front (``study.best_trials``) and the hypervolume (its WFG algorithm); here
they are read with hpo's rules: only complete, feasible trials, and the reference point given
with the study (or its default, the worst value of each objective over the complete trials).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpo._exceptions import ConfigError
from hpo._objectives import Objectives

if TYPE_CHECKING:
    import optuna

#: A multi-objective trial's user attribute of its intermediate values ``{step: value}``.
INTERMEDIATE = "hpo:intermediate"

__all__ = ["ObjectivePruner", "check_reference_point", "hypervolume", "hypervolume_history", "pareto_front"]


def check_reference_point(spec: Any, objectives: Objectives, key: str = "reference_point") -> tuple[float, ...] | None:
    """A reference point for the hypervolume: a list in the order of the objectives, or a
    mapping by name; ``None`` when not given.

    Raises:
        ConfigError: The wrong length, an unknown or missing name, or a value that is not a number.
    """
    if spec is None:
        return None
    names = objectives.names
    if isinstance(spec, Mapping):
        unknown = [k for k in spec if k not in names]
        missing = [n for n in names if n not in spec]
        if unknown or missing:
            what = f"unknown {unknown[0]!r}" if unknown else f"no {', '.join(missing)}"
            raise ConfigError(key=key, message=f"{what}: expected a value for each objective ({objectives.listed()})")
        items = [spec[n] for n in names]
    elif isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ConfigError(
                key=key,
                message=f"expected {len(names)} values, one per objective ({objectives.listed()}), "
                f"got {len(spec)}: {list(spec)!r}",
            )
        items = list(spec)
    else:
        raise ConfigError(
            key=key, message=f"expected a list of {len(names)} numbers ({objectives.listed()}), got {spec!r}"
        )
    for name, value in zip(names, items):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(key=f"{key}.{name}", message=f"expected a finite number, got {value!r}")
    return tuple(float(v) for v in items)


def _complete(trials: Sequence[Any]) -> list[Any]:
    from hpo._study import is_feasible

    return [t for t in trials if t.state.name == "COMPLETE" and t.values is not None and is_feasible(t)]


def _losses(trials: Sequence[Any], directions: Sequence[str]) -> Any:
    """The trials' values as losses (maximized objectives negated), one row each."""
    import numpy as np

    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.array([t.values for t in trials], dtype=float).reshape(len(trials), len(directions)) * sign


def pareto_front(trials: Sequence[Any], directions: Sequence[str]) -> list[Any]:
    """The complete, feasible trials no other such trial dominates, in order of number (trials
    with the same values are all on it). Pruned, failed and infeasible trials never are."""
    from optuna.study._multi_objective import _is_pareto_front

    done = _complete(trials)
    if not done:
        return []
    on = _is_pareto_front(_losses(done, directions), assume_unique_lexsorted=False)
    return [t for t, keep in zip(done, on) if keep]


def default_reference(trials: Sequence[Any], directions: Sequence[str]) -> tuple[float, ...] | None:
    """The worst value of each objective over the complete, feasible trials (the nadir of all
    of them): every trial then adds to the hypervolume except on that corner."""
    done = _complete(trials)
    if not done:
        return None
    worst = _losses(done, directions).max(axis=0)
    return tuple(float(-w if d == "maximize" else w) for w, d in zip(worst, directions))


def hypervolume(trials: Sequence[Any], directions: Sequence[str], reference: Sequence[float]) -> float:
    """The hypervolume the complete, feasible trials dominate within ``reference`` (in the
    objectives' own units; a maximized objective's reference is its lower bound). Points beyond
    the reference add nothing."""
    done = _complete(trials)
    if not done:
        return 0.0
    losses, ref = _losses(done, directions), _loss_reference(reference, directions)
    return _volume(losses[(losses < ref).all(axis=1)], ref)


def hypervolume_history(
    trials: Sequence[Any], directions: Sequence[str], reference: Sequence[float]
) -> list[tuple[int, float]]:
    """``(trial number, hypervolume of the trials up to it)`` after each complete trial.

    The losses are computed once; a trial outside the reference box, or no better anywhere than
    one before it, leaves the hypervolume as it was, so it is computed again only when the
    front gains ground.
    """
    import numpy as np

    done = sorted(_complete(trials), key=lambda t: t.number)
    if not done:
        return []
    losses, ref = _losses(done, directions), _loss_reference(reference, directions)
    out: list[tuple[int, float]] = []
    inside: list[Any] = []
    volume = 0.0
    for t, loss in zip(done, losses):
        gains = bool((loss < ref).all()) and not any((earlier <= loss).all() for earlier in inside)
        if gains:
            inside.append(loss)
            volume = _volume(np.array(inside), ref)
        out.append((t.number, volume))
    return out


def _loss_reference(reference: Sequence[float], directions: Sequence[str]) -> Any:
    """The reference point in losses (a maximized objective's coordinate negated)."""
    import numpy as np

    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(reference, dtype=float) * sign


def _volume(losses: Any, ref: Any) -> float:
    """Optuna's WFG hypervolume of loss rows all inside ``ref`` (0 for none)."""
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(losses, ref)) if len(losses) else 0.0


_FOR = "hpo:for"  # a twin trial's user attribute: the number of the trial it stands for


class ObjectivePruner:
    """An Optuna pruner applied to one named objective of a multi-objective study.

    Optuna's pruners refuse several objectives (``Trial.report`` raises). This keeps an
    in-memory single-objective study beside the real one, with the pruned-on objective's
    direction: each running trial has a twin there, receiving its intermediate values; the
    pruner judges the twin; the twin ends as the trial does, with that objective's final value.
    Each trial keeps its intermediate values as the user attribute ``hpo:intermediate`` (not
    Optuna's own: its TPE fails on a pruned trial of several objectives that has them), and a
    resumed study rebuilds the twin study from them.

    Args:
        pruner: The Optuna pruner.
        objectives: The study's objectives.
        prune_on: The objective whose intermediate values the pruner compares.
        trials: The study's trials so far (a resume).
    """

    def __init__(self, pruner: Any, objectives: Objectives, prune_on: str, trials: Sequence[Any] = ()) -> None:
        import optuna
        from optuna.distributions import BaseDistribution, FloatDistribution
        from optuna.study import StudyDirection

        self.index = objectives.names.index(prune_on)
        self.study = optuna.create_study(
            direction=StudyDirection[objectives.directions[self.index].upper()],
            pruner=pruner,
            sampler=optuna.samplers.RandomSampler(seed=0),
        )
        self.twins: dict[int, optuna.trial.Trial] = {}
        # Optuna's trials need a parameter; the twins' is a placeholder.
        self._distribution: dict[str, BaseDistribution] = {"_": FloatDistribution(0.0, 1.0)}
        for t in trials:
            state = t.state.name
            if state not in ("COMPLETE", "PRUNED"):
                continue
            self.study.add_trial(
                optuna.trial.create_trial(
                    state=t.state,
                    value=t.values[self.index] if state == "COMPLETE" and t.values else None,
                    params={"_": 0.5},
                    distributions=self._distribution,
                    intermediate_values={int(k): float(v) for k, v in t.user_attrs.get(INTERMEDIATE, {}).items()},
                    user_attrs={_FOR: t.number},
                )
            )

    def start(self, number: int) -> None:
        twin = self.twins[number] = self.study.ask(self._distribution)
        twin.set_user_attr(_FOR, number)

    def report(self, number: int, value: float, step: int, lag: int | None = None) -> bool:
        self.twins[number].report(value, step)
        return self.should_prune(number, lag)

    def should_prune(self, number: int, lag: int | None = None) -> bool:
        """Whether to prune trial ``number``; in a reproducible study (``lag``), judged on the
        twin study's view for it (see hpo._reproducible)."""
        twin = self.twins[number]
        if lag is None:
            return twin.should_prune()
        from hpo._reproducible import pruning_view

        view = pruning_view(self.study, number, lag, number_of=lambda t: t.user_attrs[_FOR])
        return bool(self.study.pruner.prune(view, self.study._storage.get_trial(twin._trial_id)))

    def end(self, number: int, state: str, values: Sequence[float] | None) -> dict[int, float]:
        """End the trial's twin as the trial ended; returns the values it reported, by step."""
        from optuna.trial import TrialState

        from hpo._states import COMPLETE, PRUNED

        twin = self.twins.pop(number, None)
        if twin is None:
            return {}
        if state == COMPLETE and values is not None:
            frozen = self.study.tell(twin, values[self.index])
        else:
            frozen = self.study.tell(twin, state=TrialState.PRUNED if state == PRUNED else TrialState.FAIL)
        return dict(frozen.intermediate_values)
