"""A study's objectives: one (``direction``) or several (``directions``, or named ``objectives``).

With several objectives a trial's result is a tuple in the order of the objectives, or a dict
keyed by their names; Optuna keeps them as the trial's ``values`` and the study's metric names.
There is then no single best trial but a Pareto front (:mod:`hpo._pareto`), and a
:class:`Select` rule picks the one trial whose model is refit and logged.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpo._exceptions import ConfigError
from hpo._validation import did_you_mean

__all__ = ["Objectives", "Select", "Values", "check_objectives"]

DIRECTIONS = ("minimize", "maximize")
#: An objective's name: a metric name in MLflow and a name in ``select`` expressions.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Objectives:
    """The objectives of a study, in order: their names and directions.

    Attributes:
        names: ``("accuracy", "latency_ms")``; ``values_0, values_1, ...`` (Optuna's column
            names) when given as ``directions`` without names.
        directions: ``"minimize"`` or ``"maximize"`` for each.
    """

    names: tuple[str, ...]
    directions: tuple[str, ...]

    @property
    def multi(self) -> bool:
        """Whether there are several (a Pareto front instead of a best trial)."""
        return len(self.names) > 1

    def listed(self) -> str:
        """``accuracy, latency_ms``: for messages."""
        return ", ".join(self.names)

    def text(self) -> str:
        """``accuracy: maximize, latency_ms: minimize``: for messages, params and tables."""
        return ", ".join(f"{n}: {d}" for n, d in zip(self.names, self.directions))

    def values(self, raw: Any) -> Values:
        """The objective function's result as the study's values, or why it is not.

        A tuple, list or array in the order of the objectives, or a mapping with every name (other
        keys are ignored); for a single named objective a plain number too.
        """
        n = len(self.names)
        if isinstance(raw, Mapping):
            missing = [name for name in self.names if name not in raw]
            if missing:
                got = ", ".join(map(str, raw)) or "no key"
                return Values(
                    problem=f"objective returned no {', '.join(missing)} (got {got}; expected {self.listed()})"
                )
            items = [raw[name] for name in self.names]
        elif isinstance(raw, (str, bytes)) or not _is_sequence(raw):
            if n == 1:
                items = [raw]
            else:
                shown = f"{type(raw).__name__} {raw!r:.80}"
                return Values(
                    problem=f"objective returned {shown}, expected {n} values ({self.listed()}): a tuple or a dict"
                )
        else:
            items = list(raw)
            if len(items) != n:
                return Values(
                    problem=f"objective returned {len(items)} value{'s' * (len(items) != 1)}, "
                    f"expected {n} ({self.listed()})"
                )
        out = []
        for name, item in zip(self.names, items):
            number = _number(item)
            if number is None:
                return Values(
                    problem=f"objective returned {type(item).__name__} {item!r:.80} for {name}, expected a float"
                )
            if not math.isfinite(number):
                return Values(problem=f"objective returned {number} for {name}")
            out.append(number)
        return Values(tuple(out))


@dataclass(frozen=True)
class Values:
    """What a trial's objective returned, checked in the trial: the values, or the problem that
    fails the trial."""

    values: tuple[float, ...] | None = None
    problem: str | None = None


class ObjectiveValues:
    """The user's objective, returning :class:`Values` checked against the study's objectives
    (picklable: it travels to Ray workers with the objective)."""

    def __init__(self, objective: Any, objectives: Objectives) -> None:
        self.objective = objective
        self.objectives = objectives

    def __call__(self, params: dict[str, Any], trial: Any) -> Values:
        return self.objectives.values(self.objective(params, trial))


def _is_sequence(raw: Any) -> bool:
    if isinstance(raw, Sequence):
        return True
    shape = getattr(raw, "shape", None)  # a numpy array or a tensor of several values
    return isinstance(shape, tuple) and len(shape) == 1


def _number(item: Any) -> float | None:
    if isinstance(item, (bool, str, bytes)):
        return None
    if not (isinstance(item, numbers.Real) or hasattr(item, "__float__")):
        return None
    try:
        return float(item)
    except (TypeError, ValueError):
        return None


def check_objectives(direction: Any, directions: Any, objectives: Any, objective: Any) -> Objectives | None:
    """The study's objectives from ``tune()``'s arguments, or ``None`` for a plain
    single-objective study (``direction`` alone, checked elsewhere as before).

    A trainer may declare its own (``objective.objectives``, e.g. several scorers): they apply
    when none is given, and a different declaration is an error.

    Raises:
        ConfigError: Both ``direction`` and ``directions`` (or ``objectives``), an unknown
            direction, a bad or repeated name.
    """
    given = [
        key
        for key, value in (("direction", direction), ("directions", directions), ("objectives", objectives))
        if value is not None
    ]
    if len(given) > 1:
        raise ConfigError(
            key=given[1],
            message="give one of direction (one objective), directions or objectives (several), "
            f"got {' and '.join(given)}",
        )
    declared = getattr(objective, "objectives", None)
    declared = declared if isinstance(declared, Objectives) else None
    if declared is not None and declared.multi and direction is not None:
        raise ConfigError(
            key="direction",
            message=f"{direction!r} for an objective of several ({_shown(declared)}); leave direction out",
        )
    if directions is not None:
        ours = _from_directions(directions)
    elif objectives is not None:
        ours = _from_named(objectives)
    else:
        return declared if direction is None else None
    if declared is not None and ours != declared:
        raise ConfigError(
            key=given[0],
            message=f"{_shown(ours)} contradicts the objective's own {_shown(declared)}; leave {given[0]} out",
        )
    return ours


def _shown(objectives: Objectives) -> str:
    return "{" + objectives.text() + "}"


def _direction(value: Any, key: str) -> str:
    if value in DIRECTIONS:
        return str(value)
    alias = {"min": "minimize", "max": "maximize", "minimise": "minimize", "maximise": "maximize"}
    hint = f"; did you mean {alias[value]!r}?" if isinstance(value, str) and value in alias else ""
    if not hint and isinstance(value, str):
        hint = did_you_mean(value, list(DIRECTIONS))
    raise ConfigError(key=key, message=f"expected 'minimize' or 'maximize', got {value!r}{hint}")


def _from_directions(directions: Any) -> Objectives:
    if isinstance(directions, str) or not isinstance(directions, (list, tuple)) or not directions:
        raise ConfigError(
            key="directions", message=f"expected a list like ['maximize', 'minimize'], got {directions!r}"
        )
    checked = tuple(_direction(d, f"directions[{i}]") for i, d in enumerate(directions))
    return Objectives(tuple(f"values_{i}" for i in range(len(checked))), checked)


def _from_named(objectives: Any) -> Objectives:
    """``{accuracy: maximize, latency_ms: minimize}``, or a list of ``(name, direction)`` pairs."""
    if isinstance(objectives, Mapping):
        pairs = list(objectives.items())
    elif isinstance(objectives, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in objectives
    ):
        pairs = [tuple(p) for p in objectives]
    else:
        pairs = []
    if not pairs:
        raise ConfigError(
            key="objectives",
            message=f"expected a mapping like {{accuracy: maximize, latency_ms: minimize}}, got {objectives!r}",
        )
    names: list[str] = []
    directions = []
    for name, direction in pairs:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(key="objectives", message=f"expected names like accuracy or latency_ms, got {name!r}")
        if name in names:
            raise ConfigError(key=f"objectives.{name}", message="named twice: each objective needs its own name")
        names.append(name)
        directions.append(_direction(direction, f"objectives.{name}"))
    return Objectives(tuple(names), tuple(directions))


class Select:
    """A rule that picks one trial of a multi-objective study: the one whose model is refit and
    logged, and whose params ``hpo best --select`` prints.

    ``{"maximize": "accuracy", "where": "latency_ms <= 5"}`` (or ``minimize``): the best trial by
    that objective among those meeting ``where`` (an expression over the objectives, with the
    constraint evaluator's rules). ``{"weights": {"accuracy": 1, "latency_ms": 0.01}}``: the
    trial with the largest weighted sum, each objective counted up when maximized and down when
    minimized (weights are importances, not signs), optionally with ``where``. Only complete
    (and feasible) trials are candidates; the pick is on the Pareto front, or tied with a member.
    """

    def __init__(self, spec: Any, objectives: Objectives, key: str = "select") -> None:
        from hpo._constraints import Expression

        if not isinstance(spec, Mapping) or not spec:
            raise ConfigError(
                key=key,
                message=f"expected {{maximize: NAME, where: EXPRESSION}} or {{weights: {{NAME: W}}}}, got {spec!r}",
            )
        unknown = [k for k in spec if k not in ("maximize", "minimize", "weights", "where")]
        if unknown:
            hint = did_you_mean(str(unknown[0]), ["maximize", "minimize", "weights", "where"])
            raise ConfigError(key=f"{key}.{unknown[0]}", message=f"not a key of select{hint}")
        ways = [k for k in ("maximize", "minimize", "weights") if k in spec]
        if len(ways) != 1:
            raise ConfigError(key=key, message=f"expected one of maximize, minimize or weights, got {spec!r}")
        self.spec = dict(spec)
        self.objectives = objectives
        names = list(objectives.names)
        self.way = ways[0]
        if self.way == "weights":
            weights = spec["weights"]
            if not isinstance(weights, Mapping) or not weights:
                raise ConfigError(key=f"{key}.weights", message=f"expected {{NAME: weight}}, got {weights!r}")
            for name, w in weights.items():
                if name not in names:
                    raise ConfigError(
                        key=f"{key}.weights",
                        message=f"unknown objective {name!r}{did_you_mean(str(name), names)}; "
                        f"the objectives: {objectives.listed()}",
                    )
                if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                    raise ConfigError(key=f"{key}.weights.{name}", message=f"expected a weight >= 0, got {w!r}")
            self.weights = {str(k): float(v) for k, v in weights.items()}
        else:
            target = spec[self.way]
            if target not in names:
                hint = did_you_mean(str(target), names) if isinstance(target, str) else ""
                raise ConfigError(
                    key=f"{key}.{self.way}",
                    message=f"unknown objective {target!r}{hint}; the objectives: {objectives.listed()}",
                )
            self.target = str(target)
        self.where = Expression(spec["where"], names, f"{key}.where", "objective") if "where" in spec else None

    def pick(self, trials: Sequence[Any], front: Iterable[int] = ()) -> Any | None:
        """The chosen trial among ``trials`` (complete, feasible ones), or ``None`` when none
        meets ``where``. Of trials with the same score, one on the front (trial numbers
        ``front``) goes first, then the lowest number."""
        on_front = set(front)
        rows = [(t, dict(zip(self.objectives.names, t.values))) for t in trials if t.values is not None]
        if self.where is not None:
            rows = [(t, v) for t, v in rows if _holds(self.where, v)]
        if not rows:
            return None
        return max(rows, key=lambda row: (self._score(row[1]), row[0].number in on_front, -row[0].number))[0]

    def _score(self, values: Mapping[str, float]) -> float:
        if self.way == "weights":
            sign = dict(zip(self.objectives.names, self.objectives.directions))
            return sum(w * values[n] * (1 if sign[n] == "maximize" else -1) for n, w in self.weights.items())
        return values[self.target] * (1 if self.way == "maximize" else -1)

    def text(self) -> str:
        """``maximize accuracy where latency_ms <= 5``: for summaries."""
        if self.way == "weights":
            head = "weights " + ", ".join(f"{n}: {w:g}" for n, w in self.weights.items())
        else:
            head = f"{self.way} {self.target}"
        return head + (f" where {self.where.text}" if self.where is not None else "")


def _holds(expression: Any, values: Mapping[str, float]) -> bool:
    try:
        return bool(expression(values))
    except Exception:  # e.g. a division by zero: this trial does not qualify
        return False
