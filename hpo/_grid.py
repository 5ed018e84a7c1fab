"""Grid search over a conditional space: each point of :meth:`hpo.Space.grid` run once.

Optuna's ``GridSampler`` takes a fixed product of values, which a conditional space is not (a
branch's parameters exist only in its points). This sampler follows its scheme on the list of
points instead: each new trial takes a point no other trial holds (in an order fixed by the
seed) and records its index in the trial's system attributes, so processes sharing the study
and resumed studies skip what was run; an interrupted trial re-queued with its params keeps its
point.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

_GRID_ID = "hpo:grid_id"


def _sampler_base() -> type:
    import optuna

    return optuna.samplers.BaseSampler


class ConditionalGridSampler(_sampler_base()):  # type: ignore[misc]
    """Every point of a conditional space's grid once.

    Args:
        points: The grid's points, by path (``Space.grid()``).
        seed: Shuffles the order of the points.
    """

    def __init__(self, points: list[dict[str, Any]], seed: int | None = None) -> None:
        self._points = points
        self._order = list(range(len(points)))
        random.Random(seed).shuffle(self._order)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def before_trial(self, study: Any, trial: Any) -> None:
        fixed = trial.system_attrs.get("fixed_params")
        if fixed:  # re-queued with its params: the point it had
            index = next((i for i, p in enumerate(self._points) if p == fixed), None)
        else:
            taken = {
                t.system_attrs.get(_GRID_ID)
                for t in study.get_trials(deepcopy=False)
                if t.number != trial.number and t.state.name != "WAITING"
            }
            index = next((i for i in self._order if i not in taken), self._order[0] if self._order else None)
        if index is not None:
            study._storage.set_trial_system_attr(trial._trial_id, _GRID_ID, index)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        index = study._storage.get_trial(trial._trial_id).system_attrs.get(_GRID_ID)
        point = self._points[index] if index is not None else {}
        if param_name in point:
            return point[param_name]
        # (Not a parameter of the point: only with a space changed under a running study.)
        return param_distribution.choices[0] if hasattr(param_distribution, "choices") else param_distribution.low

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        return None
