"""Search spaces: :class:`Float`, :class:`Int`, :class:`Categorical`, :class:`Choice` and
:class:`Space`.

A space is built from Python or from a YAML mapping (see :meth:`Space.from_dict`), validated
once, converted to Optuna distributions for sampling, and enumerated exactly for grid search.
Nothing here imports Optuna until a conversion asks for it, so ``import hpo`` stays fast.

A :class:`Choice` makes a space conditional (hierarchical): it picks one of its named branches,
and only that branch's own sub-space is sampled. Inside a branch a parameter is named by its
path in Optuna, MLflow and ``trials_df()`` (``model.svc.C``: the choice ``model``, its branch
``svc``, the parameter ``C``), so two branches' ``C`` never mix; the objective receives the active
parameters under their own names (``{"model": "svc", "C": 1.0}``, see
:meth:`Space.objective_params`).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo._exceptions import ConfigError
from hpo._validation import check_keys, did_you_mean

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["Categorical", "Choice", "Domain", "Float", "Int", "Space", "space_from_spec"]

ChoiceType = None | bool | int | float | str


class Domain:
    """The values one hyperparameter may take."""

    def to_optuna(self) -> BaseDistribution:
        """Return the equivalent Optuna distribution."""
        raise NotImplementedError

    def grid(self) -> list[Any]:
        """Every value of the domain, in order, for grid search.

        Raises:
            ConfigError: The domain is continuous and cannot be enumerated.
        """
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in the domain (bounds, step, int-ness, choices)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The compact YAML form accepted by :meth:`Space.from_dict`."""
        raise NotImplementedError


def _is_real(value: Any) -> bool:
    # numbers.Real also admits numpy's scalars (np.int64, np.float32), as scikit-learn does.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_array(value: Any) -> bool:
    """Whether ``value`` is a 1-d or deeper array (numpy, pandas), without importing numpy."""
    return hasattr(value, "tolist") and getattr(value, "ndim", 1) != 0 and not isinstance(value, (str, bytes))


def _plain(value: Any) -> Any:
    """A numpy scalar (np.float64, np.int64, np.str_, np.bool_) as the Python value it holds.

    Optuna stores choices by their repr, and YAML cannot write numpy scalars: keep plain values.
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()
    return value


def _call(cls: str, low: Any, high: Any, extra: str) -> str:
    """The domain as its call reads (``Float(low=5, high=-5)``), for errors before it is a parameter."""
    return f"{cls}(low={low!r}, high={high!r}{extra})"


def _on_step(low: float, high: float, step: float) -> bool:
    n = (high - low) / step
    return abs(n - round(n)) <= 1e-9 * max(1.0, abs(n))


@dataclass(frozen=True)
class Float(Domain):
    """A real-valued hyperparameter in ``[low, high]``.

    Args:
        low: Lower bound, inclusive.
        high: Upper bound, inclusive; must be greater than ``low``.
        log: Sample on a log scale (needs ``low > 0``).
        step: Discretize to ``low + k * step``; must divide ``high - low``. A Float needs a
            step to take part in grid search.
    """

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            extra = ", log=True" if self.log is True else ""
            extra += f", step={self.step!r}" if self.step is not None else ""
            raise ConfigError(key=_call("Float", self.low, self.high, extra), message=problem)
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        if self.step is not None:
            object.__setattr__(self, "step", float(self.step))

    def _problem(self) -> str | None:
        if not _is_real(self.low) or not math.isfinite(self.low):
            return f"low must be a finite number, got {self.low!r}"
        if not _is_real(self.high) or not math.isfinite(self.high):
            return f"high must be a finite number, got {self.high!r}"
        if not isinstance(self.log, bool):
            return f"log must be true or false, got {self.log!r}"
        if self.low >= self.high:
            return f"low must be < high, got low={self.low!r}, high={self.high!r}"
        if not math.isfinite(self.high - self.low):
            return f"high - low must be a finite number, got low={self.low!r}, high={self.high!r}"
        if self.log and self.low <= 0:
            return f"log=True needs low > 0, got low={self.low!r}"
        if self.step is not None:
            if not _is_real(self.step) or not self.step > 0:
                return f"step must be a positive number, got {self.step!r}"
            if self.log:
                return "step cannot be combined with log=True"
            if not _on_step(self.low, self.high, self.step):
                return f"step={self.step!r} does not divide the range [{self.low!r}, {self.high!r}]"
        return None

    def to_optuna(self) -> BaseDistribution:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def grid(self) -> list[float]:
        if self.step is None:
            raise ConfigError(
                f"{self!r} is continuous and cannot be enumerated for the grid searcher; "
                "give it a step or use the random or tpe searcher"
            )
        n = round((self.high - self.low) / self.step)
        # Rounding to 12 significant digits removes the float noise of low + k * step.
        return [float(f"{self.low + k * self.step:.12g}") for k in range(n + 1)]

    def contains(self, value: Any) -> bool:
        if not _is_real(value) or not self.low <= value <= self.high:
            return False
        return self.step is None or _on_step(self.low, value, self.step)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"float": [self.low, self.high]}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


@dataclass(frozen=True)
class Int(Domain):
    """An integer hyperparameter in ``[low, high]``.

    Args:
        low: Lower bound, inclusive.
        high: Upper bound, inclusive; must be greater than ``low``.
        log: Sample on a log scale (needs ``low >= 1`` and ``step == 1``).
        step: Take only ``low + k * step``; must divide ``high - low``.
    """

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            extra = ", log=True" if self.log is True else ""
            extra += f", step={self.step!r}" if self.step != 1 else ""
            raise ConfigError(key=_call("Int", self.low, self.high, extra), message=problem)
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))
        object.__setattr__(self, "step", int(self.step))

    def _problem(self) -> str | None:
        for field in ("low", "high"):
            value = getattr(self, field)
            if not _is_real(value) or not float(value).is_integer():
                return f"{field} must be an integer, got {value!r}"
        if not isinstance(self.log, bool):
            return f"log must be true or false, got {self.log!r}"
        if self.low >= self.high:
            return f"low must be < high, got low={self.low!r}, high={self.high!r}"
        if not _is_real(self.step) or not float(self.step).is_integer() or self.step < 1:
            return f"step must be a positive integer, got {self.step!r}"
        if self.log and self.low < 1:
            return f"log=True needs low >= 1, got low={self.low!r}"
        if self.log and self.step != 1:
            return f"step={self.step!r} cannot be combined with log=True"
        if (self.high - self.low) % self.step:
            return f"step={self.step!r} does not divide the range [{self.low!r}, {self.high!r}]"
        return None

    def to_optuna(self) -> BaseDistribution:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def grid(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def contains(self, value: Any) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"int": [self.low, self.high]}
        if self.log:
            out["log"] = True
        if self.step != 1:
            out["step"] = self.step
        return out


@dataclass(frozen=True, init=False)
class Categorical(Domain):
    """A hyperparameter that takes one of a list of choices.

    Args:
        choices: The values, each ``None``, a bool, int, float or str (what Optuna can store);
            at least one, no repeats. A numpy array, or numpy scalars in a list, are taken as
            the Python values they hold (``np.logspace(-3, 3, 7)``, as in a scikit-learn grid).
    """

    choices: tuple[ChoiceType, ...]

    def __init__(self, choices: Sequence[ChoiceType]) -> None:
        if _is_array(choices):
            choices = choices.tolist()  # type: ignore[attr-defined]
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise ConfigError(key="Categorical", message=f"choices must be a list, got {choices!r}")
        choices = [_plain(choice) for choice in choices]
        object.__setattr__(self, "choices", tuple(choices))
        if not self.choices:
            raise ConfigError(key="Categorical", message="choices must not be empty, got []")
        for choice in self.choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise ConfigError(
                    key="Categorical", message=f"choices must be None, bool, int, float or str, got {choice!r}"
                )
        seen: list[Any] = []
        for choice in self.choices:
            # ``1 == True`` in Python, so compare with the type too.
            key = (type(choice), choice)
            if key in seen:
                raise ConfigError(key="Categorical", message=f"choice {choice!r} is repeated in {list(choices)!r}")
            seen.append(key)

    def to_optuna(self) -> BaseDistribution:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.choices)

    def grid(self) -> list[ChoiceType]:
        return list(self.choices)

    def contains(self, value: Any) -> bool:
        return any(type(value) is type(c) and value == c for c in self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {"categorical": list(self.choices)}


class Choice(Domain):
    """A choice among named branches, each with a sub-space of its own (possibly empty): a
    conditional parameter. Only the chosen branch's parameters are sampled and passed on.

    Args:
        branches: ``{branch name: sub-space}``; a sub-space is a :class:`Space`, a mapping of
            parameters (any form :class:`Space` takes, choices nested to any depth) or ``None``
            / ``{}`` for a branch without parameters.

    Example:
        >>> Choice({"svc": {"C": Float(0.1, 100, log=True)}, "knn": {"n_neighbors": Int(1, 30)}, "dummy": None})
    """

    def __init__(self, branches: Mapping[str, Any], *, _where: str = "Choice") -> None:
        if not isinstance(branches, Mapping):
            raise ConfigError(key=_where, message=f"expected a mapping of branch name to sub-space, got {branches!r}")
        if not branches:
            raise ConfigError(key=_where, message="a choice needs at least one branch, got {}")
        built: dict[str, Space] = {}
        for name, sub in branches.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(key=_where, message=f"branch names must be non-empty strings, got {name!r}")
            built[name] = sub if isinstance(sub, Space) else Space(sub or {}, _where=f"{_where}.{name}", _empty=True)
        self.branches: dict[str, Space] = built

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Choice) and self.branches == other.branches

    def __hash__(self) -> int:
        return hash(tuple(self.branches.items()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self.branches.items())
        return f"Choice({{{inner}}})"

    def summary(self) -> str:
        """``Choice(['svc', 'knn'])``: the branches, without their sub-spaces."""
        return f"Choice({list(self.branches)!r})"

    def to_optuna(self) -> BaseDistribution:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(tuple(self.branches))

    def grid(self) -> list[Any]:
        return list(self.branches)

    def contains(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.branches

    def to_dict(self) -> dict[str, Any]:
        return {"choice": {name: sub.to_dict() for name, sub in self.branches.items()}}


_COMPACT_KEYS = {"float": {"log", "step"}, "int": {"log", "step"}, "categorical": set()}
_LONG_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
_FORMS = "{float: [low, high]}, {int: [low, high]}, {categorical: [...]} or a list of choices"


def _unknown(key: str, allowed: set[str], where: str) -> ConfigError:
    hint = did_you_mean(key, sorted(allowed), f"; allowed: {', '.join(sorted(allowed))}")
    return ConfigError(key=where, message=f"unknown key {key!r}{hint}")


def _number(value: Any, where: str) -> Any:
    # YAML 1.1 reads 1e-3 (no dot) as a string; accept it as the number it plainly is.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(key=where, message=f"expected a number, got {value!r}") from None
    return value


def _domain_from_spec(spec: Any, where: str) -> Domain:
    if isinstance(spec, Choice):
        return spec
    if isinstance(spec, Domain):
        return spec
    if isinstance(spec, Mapping) and "choice" in spec:
        for key in spec:
            if key != "choice":
                raise _unknown(str(key), {"choice"}, where)
        return Choice(spec["choice"], _where=where)
    if isinstance(spec, (list, tuple)) or _is_array(spec):  # scikit-learn's param_grid form
        spec = {"categorical": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(key=where, message=f"expected {_FORMS}, got {spec!r}")
    spec = dict(spec)
    if "type" in spec:
        kind = spec["type"]
        if not isinstance(kind, str) or kind not in _LONG_KEYS:
            raise ConfigError(key=f"{where}.type", message=f"expected float, int or categorical, got {kind!r}")
        for key in spec:
            if key not in _LONG_KEYS[kind]:
                raise _unknown(key, _LONG_KEYS[kind], where)
        if kind == "categorical":
            if "choices" not in spec:
                raise ConfigError(key=where, message="missing key 'choices'")
            args: dict[str, Any] = {"choices": spec["choices"]}
        else:
            for key in ("low", "high"):
                if key not in spec:
                    raise ConfigError(key=where, message=f"missing key {key!r}")
            args = {k: v for k, v in spec.items() if k != "type"}
    else:
        kinds = [k for k in spec if k in _COMPACT_KEYS]
        if len(kinds) != 1:
            if not kinds:
                for key in spec:
                    if key not in {"log", "step"}:
                        raise _unknown(str(key), set(_COMPACT_KEYS) | {"type"}, where)
            raise ConfigError(key=where, message=f"expected {_FORMS}, got {spec!r}")
        kind = kinds[0]
        for key in spec:
            if key != kind and key not in _COMPACT_KEYS[kind]:
                raise _unknown(str(key), _COMPACT_KEYS[kind] | {kind}, where)
        if kind == "categorical":
            args = {"choices": spec[kind]}
        else:
            bounds = spec[kind]
            if isinstance(bounds, tuple) or _is_array(bounds):
                bounds = list(bounds)
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise ConfigError(key=f"{where}.{kind}", message=f"expected [low, high], got {bounds!r}")
            args = {"low": bounds[0], "high": bounds[1]}
            args.update({k: spec[k] for k in ("log", "step") if k in spec})
    for key in ("low", "high", "step"):
        if key in args:
            args[key] = _number(args[key], f"{where}.{key}")
    try:
        if kind == "categorical":
            return Categorical(args["choices"])
        return (Float if kind == "float" else Int)(**args)
    except ConfigError as err:
        # Replace the repr prefix ("Float(low=...)") by the parameter's name.
        raise err.rekeyed(where) from None


def _refuse_grid_list(spec: Any) -> None:
    """scikit-learn's list of param grids (``[{"kernel": ["rbf"], ...}, {"kernel": ["linear"]}]``)
    is a conditional space, which hpo does not have yet: say so rather than "expected a mapping"."""
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(grid, Mapping) for grid in spec):
        raise ConfigError(
            key="space",
            message=f"a list of {len(spec)} spaces (scikit-learn's list of param grids) is not supported yet; "
            "run one study per grid, or use one space",
        )


class Space(Mapping[str, Domain]):
    """A search space: an ordered mapping from hyperparameter name to :class:`Domain`.

    Example:
        >>> space = Space({"lr": Float(1e-4, 1e-1, log=True), "depth": Int(2, 8)})
        >>> space = Space.from_dict({"lr": {"float": [1e-4, 1e-1], "log": True}, "k": [1, 3]})
    """

    def __init__(
        self,
        domains: Mapping[str, Domain | Mapping[str, Any] | list[Any]] | None = None,
        *,
        _where: str = "space",
        _empty: bool = False,
    ):
        if isinstance(domains, Space):
            self._domains: dict[str, Domain] = dict(domains._domains)
            return
        if domains is None:
            domains = {}
        _refuse_grid_list(domains)
        if not isinstance(domains, Mapping):
            raise ConfigError(key=_where, message=f"expected a mapping of name to domain, got {domains!r}")
        if not domains and not _empty:  # (a choice's branch may have no parameters)
            raise ConfigError(key=_where, message="must define at least one hyperparameter, got {}")
        self._domains = {}
        for name, spec in domains.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(key=_where, message=f"parameter names must be non-empty strings, got {name!r}")
            self._domains[name] = _domain_from_spec(spec, f"{_where}.{name}")
        if not _empty:  # the whole space: a branch is checked as part of it
            _check_names(self, set(), _where)
            _check_paths(self, _where)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Space:
        """Build a space from its YAML/dict form.

        Each entry is one of::

            lr:      {float: [1.0e-4, 1.0e-1], log: true}     # step: 0.1 for a discrete float
            depth:   {int: [2, 8]}                            # log: true, step: 2 also allowed
            kernel:  {categorical: [rbf, linear]}
            kernel:  [rbf, linear]                            # a plain list is categorical
            lr:      {type: float, low: 1.0e-4, high: 0.1, log: true}   # the long form

        Raises:
            ConfigError: One line naming the parameter and the bad value.
        """
        return cls(spec)

    @classmethod
    def from_yaml(cls, text: str) -> Space:
        """Build a space from YAML text holding the mapping of :meth:`from_dict`."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(key="space", message=f"invalid YAML: {str(err).splitlines()[0]}") from None
        from hpo._validation import check_unique_keys

        check_unique_keys(text, "space")
        return cls(data)

    def __getitem__(self, name: str) -> Domain:
        return self._domains[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._domains)

    def __len__(self) -> int:
        return len(self._domains)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self._domains == other._domains

    def __hash__(self) -> int:
        return hash(tuple(self._domains.items()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self._domains.items())
        return f"Space({{{inner}}})"

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The compact YAML/dict form; ``Space.from_dict(s.to_dict()) == s``."""
        return {name: domain.to_dict() for name, domain in self._domains.items()}

    @property
    def conditional(self) -> bool:
        """Whether the space has a :class:`Choice` (its parameters then depend on the branch)."""
        return any(isinstance(domain, Choice) for domain in self._domains.values())

    def paths(self, _prefix: str = "") -> dict[str, Domain]:
        """Every parameter of every branch by its path (``model``, ``model.svc.C``), in order; a
        flat space's paths are its names."""
        out: dict[str, Domain] = {}
        for name, domain in self._domains.items():
            path = _prefix + name
            out[path] = domain
            if isinstance(domain, Choice):
                for branch, sub in domain.branches.items():
                    out.update(sub.paths(f"{path}.{branch}."))
        return out

    def to_optuna(self) -> dict[str, BaseDistribution]:
        """The Optuna distributions, by path; for a conditional space, those of every branch (a
        trial samples only its active ones: see :meth:`suggest`)."""
        return {path: domain.to_optuna() for path, domain in self.paths().items()}

    def suggest(self, trial: Any, _prefix: str = "") -> dict[str, Any]:
        """Sample the active parameters on an Optuna trial, define-by-run: a choice first, then its
        chosen branch. Returns them by path (what Optuna and MLflow record)."""
        out: dict[str, Any] = {}
        for name, domain in self._domains.items():
            path = _prefix + name
            out[path] = value = _suggest(trial, path, domain)
            if isinstance(domain, Choice):
                out.update(domain.branches[value].suggest(trial, f"{path}.{value}."))
        return out

    def names(self) -> set[str]:
        """Every name a parameter may have, in any branch (the objective's names, not paths)."""
        return _names(self)

    def objective_params(self, by_path: Mapping[str, Any], _prefix: str = "") -> dict[str, Any]:
        """The active parameters of a trial's params (by path) under their own names, as the
        objective receives them: ``{"model": "svc", "model.svc.C": 1.0}`` -> ``{"model": "svc",
        "C": 1.0}``. A flat space's params are returned as they are."""
        if not _prefix and not self.conditional:
            return dict(by_path)
        out: dict[str, Any] = {}
        for name, domain in self._domains.items():
            path = _prefix + name
            if path not in by_path:
                continue
            out[name] = value = by_path[path]
            if isinstance(domain, Choice) and value in domain.branches:
                out.update(domain.branches[value].objective_params(by_path, f"{path}.{value}."))
        return out

    def grid_values(self) -> dict[str, list[Any]]:
        """Each parameter's grid values, by path; raises :class:`ConfigError` for a continuous
        one (naming its path)."""
        values = {}
        for path, domain in self.paths().items():
            try:
                values[path] = domain.grid()
            except ConfigError as err:
                raise ConfigError(str(err), key=f"space.{path}") from None
        return values

    def grid_size(self) -> int:
        """The number of points of the full grid: for a choice, the sum over its branches of
        their own grids' sizes."""
        if not self.conditional:
            return math.prod(len(v) for v in self.grid_values().values())
        return len(self.grid())

    def grid(self, _prefix: str = "") -> list[dict[str, Any]]:
        """Every point of the grid exactly once, as a list of param dicts (by path)."""
        parts = []
        for name, domain in self._domains.items():
            path = _prefix + name
            if isinstance(domain, Choice):
                parts.append(
                    [
                        {path: branch, **point}
                        for branch, sub in domain.branches.items()
                        for point in sub.grid(f"{path}.{branch}.")
                    ]
                )
                continue
            try:
                parts.append([{path: value} for value in domain.grid()])
            except ConfigError as err:
                raise ConfigError(str(err), key=f"space.{path}") from None
        return [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*parts)]

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` (by path) has exactly the active parameters, each in its domain."""
        domains, active = self.paths(), self.active_paths(params)
        return set(params) == set(active) and all(domains[path].contains(params[path]) for path in active)

    def active_paths(self, params: Mapping[str, Any], _prefix: str = "") -> list[str]:
        """The paths of the parameters active in ``params`` (by path)."""
        out = []
        for name, domain in self._domains.items():
            path = _prefix + name
            out.append(path)
            if isinstance(domain, Choice) and params.get(path) in domain.branches:
                value = params[path]
                out += domain.branches[value].active_paths(params, f"{path}.{value}.")
        return out


def _suggest(trial: Any, path: str, domain: Domain) -> Any:
    """One parameter on an Optuna trial, through its public suggest API."""
    if isinstance(domain, Float):
        return trial.suggest_float(path, domain.low, domain.high, log=domain.log, step=domain.step)
    if isinstance(domain, Int):
        return trial.suggest_int(path, domain.low, domain.high, step=domain.step, log=domain.log)
    if isinstance(domain, Choice):
        return trial.suggest_categorical(path, list(domain.branches))
    if isinstance(domain, Categorical):
        return trial.suggest_categorical(path, list(domain.choices))
    raise TypeError(f"cannot sample {domain!r}")


def _check_names(space: Space, outer: set[str], where: str) -> None:
    """The objective receives the active parameters by their own names: no two that can be
    active together may share one. Branches of one choice may (only one is ever active).

    Raises:
        ConfigError: A name that two parameters active together would share, by its path.
    """
    taken = set(outer)
    for name in space:
        if name in taken:
            raise ConfigError(
                key=f"{where}.{name}",
                message=f"{name!r} is also the name of a parameter active with it; the objective gets both "
                "by name: rename one",
            )
        taken.add(name)
    level = set(space)
    for name, domain in space.items():
        if not isinstance(domain, Choice):
            continue
        names: set[str] = set()
        for branch, sub in domain.branches.items():
            _check_names(sub, taken, f"{where}.{name}.{branch}")
            names |= _names(sub)
        taken |= names - level


def _check_paths(space: Space, where: str, _prefix: str = "", _seen: set[str] | None = None) -> None:
    """Paths name parameters in Optuna and MLflow: two may not coincide (a dotted branch name
    such as ``sklearn.svm.SVC`` could make ``m.a.b.C`` of two different parameters).

    Raises:
        ConfigError: The path two parameters would share.
    """
    seen = set() if _seen is None else _seen
    for name, domain in space.items():
        path = _prefix + name
        if path in seen:
            raise ConfigError(key=f"{where}.{path}", message="two parameters would have this path; rename a branch")
        seen.add(path)
        if isinstance(domain, Choice):
            for branch, sub in domain.branches.items():
                _check_paths(sub, where, f"{path}.{branch}.", seen)


def _names(space: Space) -> set[str]:
    """Every name a space's parameters may have, in any branch."""
    out = set(space)
    for domain in space.values():
        if isinstance(domain, Choice):
            for sub in domain.branches.values():
                out |= _names(sub)
    return out


_PRESET_KEYS = ("preset", "step")


def space_from_spec(spec: Any) -> Space:
    """A :class:`Space` from any form a study takes it in, from Python or from a config.

    Args:
        spec: A :class:`Space`; a mapping of parameters (:meth:`Space.from_dict`); the name of a
            ready-made space (``"svc"``); or ``{"preset": NAME, "step": STEP}``, a ready-made
            space for the Pipeline step ``STEP``, each parameter renamed ``STEP__NAME``.

    Raises:
        ConfigError: One line naming ``space`` (or ``space.preset``, ``space.step``, ``space.NAME``).
    """
    if isinstance(spec, Space):
        return spec
    import hpo.search_spaces as search_spaces  # imported here: it imports hpo

    if isinstance(spec, str):
        return search_spaces.load(spec)
    # A parameter's domain is never a string, so a string under preset or step means this form
    # (and a typo beside one, like stpe, gets a did-you-mean rather than "expected a domain").
    if isinstance(spec, Mapping) and any(isinstance(spec.get(key), str) for key in _PRESET_KEYS):
        check_keys(spec, _PRESET_KEYS, "space")
        if "preset" not in spec:
            raise ConfigError(
                key="space", message=f"missing key 'preset' (a ready-made space's name), got {dict(spec)!r}"
            )
        name = spec["preset"]
        try:
            search_spaces.path(name)
        except ConfigError as err:
            raise err.rekeyed("space.preset") from None
        return search_spaces.load(name, step=spec.get("step"))
    _refuse_grid_list(spec)
    if isinstance(spec, Mapping):
        return Space.from_dict(spec)
    raise ConfigError(
        key="space",
        message=f"expected a mapping of parameters, a ready-made space's name or {{preset: NAME, step: STEP}}, "
        f"got {spec!r}",
    )


def bounds_changes(old: Space, new: Space) -> list[str] | None:
    """What changed from ``old`` to ``new`` if only bounds did (``C: [0.1, 10] -> [0.01, 100]``),
    else None: the same parameters, kinds, log scales, steps, choices and branches.

    A study may go on over such a change; its earlier trials stay and inform the searcher.
    """
    before, after = old.paths(), new.paths()
    if list(before) != list(after):
        return None
    changes = []
    for path, domain in after.items():
        was = before[path]
        if type(was) is not type(domain):
            return None
        if isinstance(domain, (Float, Int)):
            assert isinstance(was, (Float, Int))
            if (was.log, was.step) != (domain.log, domain.step):
                return None
            if (was.low, was.high) != (domain.low, domain.high):
                changes.append(f"{path}: [{was.low:g}, {was.high:g}] -> [{domain.low:g}, {domain.high:g}]")
        elif isinstance(domain, Choice):
            if list(domain.branches) != list(was.branches):  # type: ignore[attr-defined]
                return None
        elif was.to_dict() != domain.to_dict():
            return None
    return changes
