"""Constraints written in a config: expressions over parameters, or over a trial's metrics.

``constraints: ["n_layers * width <= 4096", "n_estimators < 500 or max_depth is None"]`` keeps
infeasible configurations from running; ``outcome_constraints: ["fit_time_s <= 2"]`` marks a
trial whose metrics break one as infeasible, so the best trial is the best feasible one. The
config is not trusted: an expression is parsed with :mod:`ast` and only arithmetic, comparisons,
boolean logic, conditional expressions, literals, names and a few pure functions are allowed;
nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hpo._exceptions import ConfigError
from hpo._validation import did_you_mean

#: The functions an expression may call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "exp": math.exp,
    "sqrt": math.sqrt,
}


def _power(base: Any, exponent: Any) -> Any:
    """``**`` with a bounded exponent: ``9 ** 9 ** 9`` in an untrusted config must not hang us."""
    if isinstance(exponent, (int, float)) and abs(exponent) > 64:
        raise ValueError(f"exponent {exponent!r} too large in a constraint")
    return operator.pow(base, exponent)


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class Expression:
    """One checked expression: its text, the names it reads, and its evaluation.

    Raises:
        ConfigError: Not an expression over ``names`` (syntax, a statement, an attribute, a call
            of anything but :data:`FUNCTIONS`, an unknown name, or no name at all), named ``key``.
    """

    def __init__(
        self, text: Any, names: Iterable[str] | None, key: str, what: str = "parameter", *, constant_ok: bool = False
    ) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(key=key, message=f"expected an expression like 'a * b <= 10', got {text!r}")
        self.text = text.strip()
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as err:
            raise ConfigError(key=key, message=f"not an expression over {what}s: {err.msg} in {self.text!r}") from None
        self._key, self._what = key, what
        self._known = None if names is None else sorted(names)  # None: any name (metrics)
        self.names: list[str] = []
        self._check(tree.body)
        if not self.names and not constant_ok:
            raise ConfigError(key=key, message=f"not an expression over {what}s: {self.text!r} names none")
        self._tree = tree.body

    def _refuse(self, node: ast.AST, why: str) -> ConfigError:
        return ConfigError(
            key=self._key,
            message=f"{why} in {self.text!r}; a constraint is arithmetic, comparisons, and/or/not over {self._what}s",
        )

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant):
            if not (node.value is None or isinstance(node.value, (bool, int, float, str))):
                raise self._refuse(node, f"the literal {node.value!r} is not allowed")
        elif isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise self._refuse(node, f"{node.id!r} is a function: call it")
            if self._known is not None and node.id not in self._known:
                hint = did_you_mean(node.id, self._known, f"; known: {', '.join(self._known[:10])}")
                raise ConfigError(key=self._key, message=f"unknown {self._what} {node.id!r}{hint}")
            if node.id not in self.names:
                self.names.append(node.id)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            self._check(node.left)
            self._check(node.right)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            self._check(node.operand)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self._check(value)
        elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            for part in (node.left, *node.comparators):
                self._check(part)
        elif isinstance(node, ast.IfExp):
            for part in (node.test, node.body, node.orelse):
                self._check(part)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for item in node.elts:
                self._check(item)
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in FUNCTIONS or node.keywords:
                shown = name or ast.unparse(node.func)
                raise self._refuse(node, f"calling {shown!r} is not allowed (only {', '.join(FUNCTIONS)})")
            for arg in node.args:
                self._check(arg)
        else:
            raise self._refuse(node, f"{type(node).__name__} {ast.unparse(node)!r} is not allowed")

    def __call__(self, values: Mapping[str, Any]) -> Any:
        return _evaluate(self._tree, values)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def _evaluate(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, values))
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_evaluate(v, values) for v in node.values)
        return any(_evaluate(v, values) for v in node.values)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values)
        for op, right_node in zip(node.ops, node.comparators):
            right = _evaluate(right_node, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _evaluate(node.body if _evaluate(node.test, values) else node.orelse, values)
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_evaluate(item, values) for item in node.elts)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id](*(_evaluate(arg, values) for arg in node.args))
    raise TypeError(f"unexpected node {type(node).__name__}")  # _check let only the above through


class Constraints:
    """Parameter constraints: a configuration is feasible when each expression holds.

    An expression that reads a parameter the configuration lacks (in a conditional space, one of
    another branch) does not apply to it. One that fails to evaluate (a division by zero, a
    comparison of a string and a number) makes the configuration infeasible.

    Args:
        spec: A list of expressions (or one).
        names: The parameters they may read (the objective's names).
        key: The config key, for errors (``constraints``).
    """

    def __init__(self, spec: Any, names: Iterable[str], key: str = "constraints") -> None:
        items = [spec] if isinstance(spec, str) else spec
        if not isinstance(items, (list, tuple)) or not items:
            raise ConfigError(key=key, message=f"expected a list of expressions like 'a * b <= 10', got {spec!r}")
        names = list(names)
        self.expressions = [Expression(text, names, f"{key}[{i}]") for i, text in enumerate(items)]

    def feasible(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` (the objective's) meet every expression that applies to them."""
        for expression in self.expressions:
            if not all(name in params for name in expression.names):
                continue
            try:
                if not expression(params):
                    return False
            except Exception:  # e.g. a division by zero: not a configuration to run
                return False
        return True

    def texts(self) -> list[str]:
        return [e.text for e in self.expressions]


class OutcomeConstraints:
    """Constraints on a trial's metrics (``fit_time_s <= 2``): each is one comparison (``<=``,
    ``<``, ``>=``, ``>``) over the metrics the objective logs (the last value of each) and
    ``value``, its result. Optuna's constraint value of each is ``left - right`` for ``<=`` (the
    reverse for ``>=``): at most 0 when met, as Optuna's samplers read them.
    """

    def __init__(self, spec: Any, key: str = "outcome_constraints") -> None:
        items = [spec] if isinstance(spec, str) else spec
        if not isinstance(items, (list, tuple)) or not items:
            raise ConfigError(key=key, message=f"expected a list of expressions like 'fit_time_s <= 2', got {spec!r}")
        self.sides: list[tuple[str, Expression, Expression, bool]] = []
        for i, text in enumerate(items):
            where = f"{key}[{i}]"
            if not isinstance(text, str):
                raise ConfigError(key=where, message=f"expected an expression like 'fit_time_s <= 2', got {text!r}")
            try:
                tree = ast.parse(text.strip(), mode="eval").body
            except SyntaxError as err:
                raise ConfigError(key=where, message=f"not an expression over metrics: {err.msg} in {text!r}") from None
            if not (
                isinstance(tree, ast.Compare)
                and len(tree.ops) == 1
                and isinstance(tree.ops[0], (ast.Lt, ast.LtE, ast.Gt, ast.GtE))
            ):
                raise ConfigError(
                    key=where, message=f"expected one comparison like 'fit_time_s <= 2' (<=, <, >=, >), got {text!r}"
                )
            left, right = (
                Expression(ast.unparse(side), None, where, "metric", constant_ok=True)
                for side in (tree.left, tree.comparators[0])
            )
            if not (left.names or right.names):
                raise ConfigError(key=where, message=f"not an expression over metrics: {text!r} names none")
            self.sides.append((text.strip(), left, right, isinstance(tree.ops[0], (ast.Lt, ast.LtE))))

    @property
    def metrics(self) -> list[str]:
        """Every metric the expressions read."""
        out: list[str] = []
        for _, left, right, _ in self.sides:
            out += [n for n in left.names + right.names if n not in out]
        return out

    def values(self, metrics: Mapping[str, float]) -> list[float] | None:
        """Optuna's constraint values (<= 0: met), or ``None`` when a metric is missing."""
        out = []
        for _, left, right, upper in self.sides:
            if not all(n in metrics for n in left.names + right.names):
                return None
            a, b = float(left(metrics)), float(right(metrics))
            out.append(a - b if upper else b - a)
        return out

    def texts(self) -> list[str]:
        return [side[0] for side in self.sides]


def check_feasible(constraints: Constraints, space: Any, *, seed: int | None, tries: int = 2000) -> None:
    """Before the study: some configuration of ``space`` must meet the constraints.

    Raises:
        ConfigError: None of ``tries`` random configurations does (named ``constraints``).
    """
    import optuna

    from hpo._searchers import quiet_optuna

    with quiet_optuna():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        for _ in range(tries):
            trial = study.ask()
            params = space.objective_params(space.suggest(trial))
            study.tell(trial, 0.0)
            if constraints.feasible(params):
                return
    raise ConfigError(
        key="constraints",
        message=f"none of {tries} random configurations of the space meets them ({'; '.join(constraints.texts())}): "
        "loosen them",
    )
