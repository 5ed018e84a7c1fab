"""``SklearnTrainer``: cross-validation of a scikit-learn estimator, with fold-level pruning.

The estimator is the trainer's, or chosen by the search space: a space whose ``estimator`` is a
:class:`hpo.Choice` of dotted paths, each branch holding that estimator's parameters (model
selection, CASH).
"""

from __future__ import annotations

import importlib
import numbers
import re
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo.plugins import ConfigError, Objectives, StudyRun, Trial, check_keys, did_you_mean

from ._base import Trainer
from ._data import load_data
from ._splits import compute_folds, make_splitter, split_test

_CONFIG_KEYS = ("kind", "estimator", "task", "cv", "scoring", "fit_params", "n_jobs", "refit", "test_fraction")

#: The name of the space's choice that chooses the estimator, its branches dotted paths.
CHOOSER = "estimator"
_TASKS = ("classification", "regression")


def resolve_estimator(spec: Any, where: str = "estimator") -> Any:
    """An estimator from an instance, a dotted path, or ``{class: PATH, params: {...}}``.

    A path names a class (``sklearn.svm.SVC``) or a function returning an estimator
    (``examples.pipelines:scaled_svc``); it is called with ``params``.

    Raises:
        ConfigError: The path cannot be imported or does not give an estimator.
    """
    if hasattr(spec, "fit") and hasattr(spec, "get_params"):
        return spec
    params: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        extra = sorted(set(spec) - {"class", "params"})
        if extra or "class" not in spec:
            raise ConfigError(
                key=where, message=f"expected a dotted path or {{class: PATH, params: {{...}}}}, got {dict(spec)!r}"
            )
        if not isinstance(spec.get("params") or {}, Mapping):
            raise ConfigError(
                key=f"{where}.params", message=f"expected a mapping of estimator parameters, got {spec['params']!r}"
            )
        params = dict(spec.get("params") or {})
        spec = spec["class"]
    if not isinstance(spec, str) or not spec:
        raise ConfigError(
            key=where, message=f"expected an estimator or a dotted path like sklearn.svm.SVC, got {spec!r}"
        )
    module_name, _, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(key=where, message=f"cannot import {spec!r}: {err}") from None
    try:
        estimator = target(**params)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            key=where, message=f"{spec}({', '.join(f'{k}={v!r}' for k, v in params.items())}): {err}"
        ) from None
    if not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")):
        raise ConfigError(
            key=where, message=f"{spec!r} did not give a scikit-learn estimator, got {type(estimator).__name__}"
        )
    _check_estimator_params(estimator, where)
    return estimator


def _check_estimator_params(estimator: Any, where: str) -> None:
    """scikit-learn checks parameter values only in ``fit``: check them now, before any trial."""
    validate = getattr(estimator, "_validate_params", None)  # scikit-learn's own checks (>= 1.2)
    if callable(validate):
        try:
            validate()
        except ValueError as err:
            raise ConfigError(key=where, message=f"{str(err).splitlines()[0]}") from None


_NATIVE_CATEGORICAL = "HistGradientBoostingClassifier/Regressor"


def _categorical_ready(estimator: Any, columns: list[str], key: str) -> Any:
    """The estimator, ready for the pandas ``category`` feature columns ``columns``.

    HistGradientBoosting takes them natively with ``categorical_features="from_dtype"`` (the
    default since scikit-learn 1.6; set here on a copy where the default was still ``"warn"``),
    also as a Pipeline's last step. Any other Pipeline is taken to encode them in its steps. Any
    other estimator would read category codes as numbers or fail on every fit.

    Raises:
        ConfigError: The estimator does not take categorical features (named ``key``).
    """
    if not columns:
        return estimator
    from sklearn.base import clone
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    native = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
    final, prefix = estimator, ""
    if isinstance(estimator, Pipeline):
        name, final = estimator.steps[-1]
        if not isinstance(final, native):
            return estimator  # its steps encode the columns (a ColumnTransformer, a OneHotEncoder)
        prefix = f"{name}__"
    if not isinstance(final, native):
        raise ConfigError(
            key=key,
            message=f"columns {columns!r} are categorical: {_NATIVE_CATEGORICAL} support them; "
            f"{type(final).__name__} does not: encode them in a Pipeline (OneHotEncoder) or drop them",
        )
    setting = final.get_params()["categorical_features"]
    if isinstance(setting, str) and setting == "warn":  # scikit-learn 1.4 and 1.5's default, which ignores the dtype
        return clone(estimator).set_params(**{f"{prefix}categorical_features": "from_dtype"})
    if setting is None:  # set so by hand: every fit would fail on the category columns
        raise ConfigError(
            key=key,
            message=f"columns {columns!r} are categorical, but {type(final).__name__} has "
            "categorical_features=None; leave it at its default ('from_dtype')",
        )
    return estimator


def _string_categories(X: Any) -> list[str]:
    """The pandas ``category`` columns of ``X`` whose categories are not numbers (any estimator
    reads numeric ones as numbers, as it always has)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return []
    import pandas as pd

    return [
        str(column)
        for column, dtype in dtypes.items()
        if isinstance(dtype, pd.CategoricalDtype) and not pd.api.types.is_numeric_dtype(dtype.categories.dtype)
    ]


def _step_hint(space: Any, valid: list[str], *, preset: bool = True) -> str:
    """``"; every parameter of this space fits the step 'hgb': ..."`` when each name of ``space``
    is a parameter of one and the same step (``hgb__NAME``): a ready-made space given for a whole
    Pipeline. The space is not renamed here: the names the study records are the ones given.
    With ``preset`` (a whole space, not a branch's), the fix may name a ready-made space."""
    steps: set[str] | None = None
    for name in space:
        found = {key[: -len(name) - 2] for key in valid if key.endswith(f"__{name}")}
        steps = found if steps is None else steps & found
    if not steps or len(steps) != 1:
        return ""
    (step,) = steps
    import hpo.search_spaces as search_spaces

    # Name the ready-made space, if it is one, so the fix can be copied as it is.
    ready = next((n for n in search_spaces.available() if search_spaces.load(n) == space), None) if preset else None
    fix = (
        f"use space: {{preset: {ready}, step: {step}}}"
        if ready
        else f"name them {step}__NAME ({step}__{next(iter(space))}, ...)"
    )
    return f"; every parameter of this space fits the step {step!r}: {fix}"


def _check_params(space: Any, estimator: Any, where: str, *, note: str = "", preset: bool = True) -> None:
    """Every name of ``space`` (a choice's branches included, at any depth) must be a parameter of
    ``estimator``: a typo would otherwise fail every trial.

    Raises:
        ConfigError: The first name that is not, by its path (``space.C``, ``space.estimator.BRANCH.C``).
    """
    from hpo import Choice

    valid = sorted(estimator.get_params(deep=True))
    for name, domain in space.items():
        if name not in valid:
            hint = _step_hint(space, valid, preset=preset) or did_you_mean(name, valid)
            raise ConfigError(
                key=f"{where}.{name}", message=f"not a parameter of {type(estimator).__name__}{note}{hint}"
            )
        if isinstance(domain, Choice):
            for branch, sub in domain.branches.items():
                _check_params(sub, estimator, f"{where}.{name}.{branch}", note=note, preset=False)


def _task(task: Any, y: Any) -> tuple[str, str]:
    """The task (``classification`` or ``regression``) and where it came from, for messages:
    ``task`` as given, else the target's dtype: floats are a regression, anything else
    (integers, booleans, strings, categories) class labels.

    Raises:
        ConfigError: ``task`` is neither, or a regression of a target that is not numeric.
    """
    import numpy as np

    dtype = getattr(y, "dtype", None)
    if dtype is None:
        dtype = np.asarray(y).dtype
    kind = getattr(dtype, "kind", "O")
    if task is None:
        inferred = "regression" if kind in "fc" else "classification"
        return inferred, f"inferred from the {dtype} target; set task to change it"
    if task not in _TASKS:
        hint = did_you_mean(task, list(_TASKS)) if isinstance(task, str) else ""
        raise ConfigError(key="task", message=f"expected classification or regression, got {task!r}{hint}")
    if task == "regression" and kind not in "fciub":
        raise ConfigError(key="task", message=f"'regression' needs a numeric target, got {dtype} values")
    return task, f"task: {task}"


def _estimator_task(estimator: Any) -> str | None:
    """``classification``, ``regression``, or ``None`` for an estimator that is neither."""
    from sklearn.base import is_classifier, is_regressor

    return "classification" if is_classifier(estimator) else "regression" if is_regressor(estimator) else None


_KINDS = {"classification": "a classifier", "regression": "a regressor", None: "neither a classifier nor a regressor"}


def _task_probe(task: str) -> Any:
    """A stand-in estimator of the task, to build the scorer before the space chose one: a
    scorer only asks what kind of estimator it scores."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    return DummyClassifier() if task == "classification" else DummyRegressor()


#: Objectives the trainer measures itself, in seconds (minimized), beside its scorers.
TIMINGS = ("fit_time", "predict_time")


def _scorers(estimator: Any, scoring: Any) -> dict[str, Any]:
    """Several objectives from ``scoring``, as ``cross_validate`` takes them: a list of scorer
    names or a mapping ``{name: scorer}``, either with ``fit_time`` and ``predict_time`` (measured,
    no scorer: ``None``). At least one scorer; each name once.

    Raises:
        ConfigError: Naming ``scoring`` (or ``scoring.NAME``) and the value.
    """
    items = list(scoring.items()) if isinstance(scoring, Mapping) else [(s, s) for s in scoring]
    out: dict[str, Any] = {}
    for name, spec in items:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(key="scoring", message=f"expected scorer names like accuracy or fit_time, got {name!r}")
        if name in out:
            raise ConfigError(key=f"scoring.{name}", message="named twice: each objective needs its own name")
        if name in TIMINGS:
            if spec not in (name, None):
                raise ConfigError(key=f"scoring.{name}", message=f"measured by the trainer: give null, got {spec!r}")
            out[name] = None
        else:
            try:
                out[name] = _scorer(estimator, spec)
            except ConfigError as err:
                key = f"scoring.{name}" if isinstance(scoring, Mapping) else "scoring"
                raise ConfigError(key=key, message=err.message) from None
    if all(scorer is None for scorer in out.values()):
        raise ConfigError(key="scoring", message=f"expected a scorer beside {', '.join(out)}, got {scoring!r}")
    return out


def _scorer(estimator: Any, scoring: Any) -> Any:
    from sklearn.metrics import check_scoring, get_scorer_names

    if callable(scoring) and not hasattr(scoring, "_score_func"):
        import inspect

        try:
            names = list(inspect.signature(scoring).parameters)
        except (TypeError, ValueError):
            names = []
        if names[:2] == ["y_true", "y_pred"] or names[:2] == ["y_true", "y_score"]:
            name = getattr(scoring, "__name__", repr(scoring))
            raise ConfigError(
                key="scoring",
                message=f"{name} is a metric(y_true, y_pred), not a scorer(estimator, X, y); wrap "
                f"it: sklearn.metrics.make_scorer({name}, greater_is_better=...)",
            )
    if isinstance(scoring, (list, tuple, set, Mapping)):
        raise ConfigError(key="scoring", message=f"expected a scorer (a name or a callable), got {scoring!r}")
    if isinstance(scoring, str) and scoring not in get_scorer_names():
        hint = did_you_mean(scoring, get_scorer_names(), "; see sklearn.metrics.get_scorer_names()")
        raise ConfigError(key="scoring", message=f"unknown scorer {scoring!r}{hint}")
    try:
        return check_scoring(estimator, scoring=scoring)
    except (TypeError, ValueError) as err:
        raise ConfigError(key="scoring", message=str(err)) from None


def _per_row(value: Any, n: int) -> bool:
    """Whether a ``fit`` argument is a per-row array (``sample_weight``), split with the rows."""
    return hasattr(value, "__len__") and not isinstance(value, str) and len(value) == n


def _test_rules(splitter: Any, classifier: bool) -> dict[str, bool]:
    """How :func:`split_test` holds rows out for this splitter: by the splitter's own rules."""
    from sklearn import model_selection as ms

    group = (ms.GroupKFold, ms.StratifiedGroupKFold, ms.GroupShuffleSplit, ms.LeaveOneGroupOut, ms.LeavePGroupsOut)
    stratified = (ms.StratifiedKFold, ms.StratifiedGroupKFold, ms.StratifiedShuffleSplit, ms.RepeatedStratifiedKFold)
    return {
        "time_order": isinstance(splitter, ms.TimeSeriesSplit),
        "grouped": isinstance(splitter, group),
        "stratify": classifier and isinstance(splitter, stratified),
    }


class SklearnTrainer(Trainer):
    """Cross-validates a scikit-learn estimator; the objective is the mean fold score.

    The folds are computed once, at construction, and every trial is scored on them. Folds run
    in order; after each one the running mean is reported as a step, so the study's pruner can
    stop a hopeless configuration after its first folds. With the same splitter the mean equals
    :func:`sklearn.model_selection.cross_val_score`'s.

    With ``estimator=None`` the search space chooses the estimator (model selection): its
    ``estimator`` is a :class:`hpo.Choice` whose branches are dotted paths
    (``sklearn.svm.SVC``, ``examples.pipelines:scaled_ridge``), each holding that estimator's
    parameters. ``check_space`` builds each branch's estimator once, before the study, and checks
    its parameters; a trial fits a clone of the chosen one with the trial's parameters.

    Args:
        estimator: A scikit-learn estimator or Pipeline (params may address steps as
            ``step__param``), or a dotted path to one (see :func:`resolve_estimator`); ``None``
            when the space chooses it.
        X: Features (array or DataFrame).
        y: Target.
        task: ``"classification"`` or ``"regression"``, for ``estimator=None`` (it decides the
            splitter, the stratification and which estimators a branch may name); by default
            inferred from ``y``: floats are a regression, integers, booleans, strings and
            categories class labels. With an estimator, it must agree with it.
        cv: A splitter, an int, a name (``kfold``, ``stratified``, ``timeseries``, ``group``,
            ``stratified_group``) or ``{name: ..., **options}``; see ``trainers._splits``.
        scoring: A scikit-learn scorer name or callable ``scorer(estimator, X, y)``; greater is
            better, as everywhere in scikit-learn (``neg_...`` for errors), so the study
            maximizes. ``None`` is the estimator's own ``score``.
        groups: Group labels for group splitters.
        fit_params: Extra ``fit`` arguments; per-row arrays (e.g. ``sample_weight``) are split
            with the folds.
        n_jobs: Folds fitted at once within a trial (joblib). Reports still go in fold order,
            after each batch, so pruning acts per batch. ``None`` fits one fold at a time.
        refit: After the study, refit the best configuration on all the data (the test rows
            aside), keep it as ``best_model_`` and log it to the study's MLflow run as the
            model ``model``.
        test_fraction: Hold this share of the rows, in (0, 0.5], out as a test set before the
            folds are computed, by the splitter's rules: a ``timeseries`` splitter's last
            rows, stratified for a stratified splitter on a classifier, whole groups for a
            group splitter; seeded with the splitter's seed (else 0). The trials never see
            them; at the end the best configuration, refit on the other rows, is scored on
            them once (``best_test_score_``, the parent run's ``test_<metric>``).
        test_data: ``(X_test, y_test)``, a test set of your own, scored the same way; not with
            ``test_fraction``.

    Attributes:
        task: ``"classification"``, ``"regression"``, or ``None`` for an estimator that is neither.
        folds: The ``(train, test)`` index arrays every trial uses, into ``X`` and ``y``.
        X, y, groups: The rows the search sees (without the test rows).
        X_test, y_test: The test rows, or ``None``.
        train_indices, test_indices: With ``test_fraction``, the positions in the given data of
            the rows the search sees and of the test rows (``None`` otherwise).
        best_model_: The refit best model, after the study (with ``refit``); with a space that
            chooses the estimator, of the best trial's branch.
        best_test_score_: The best configuration's score on the test rows, after the study.
    """

    direction = "maximize"

    def __init__(
        self,
        estimator: Any,
        X: Any,
        y: Any,
        *,
        task: str | None = None,
        cv: Any = 5,
        scoring: Any = None,
        groups: Any = None,
        fit_params: Mapping[str, Any] | None = None,
        n_jobs: int | None = None,
        refit: bool = True,
        test_fraction: float | None = None,
        test_data: tuple[Any, Any] | None = None,
    ) -> None:
        # With estimator=None the space chooses it: each branch's estimator, built and checked
        # once by check_space (or on first use), by branch name.
        self._branches: dict[str, Any] = {}
        self._categorical = _string_categories(X)  # category columns, which every branch must take
        self._text_columns: list[str] = []  # from a config: non-numeric columns only a Pipeline encodes
        self._estimator_key = "estimator"  # "trainer.estimator" from a config
        self.estimator: Any = None
        self.task: str | None = None
        self._task_source = ""  # how the task was decided, for the errors about a branch
        if estimator is None:
            self.task, self._task_source = _task(task, y)
            probe = _task_probe(self.task)
        else:
            self.estimator = resolve_estimator(estimator)
            # Category columns of strings would fail every fit of an estimator that does not take
            # them: refuse them now, before any trial.
            self.estimator = _categorical_ready(self.estimator, self._categorical, "X")
            self.task = _estimator_task(self.estimator)
            if task is not None and _task(task, y)[0] != self.task:
                name = type(self.estimator).__name__
                raise ConfigError(key="task", message=f"{task!r}, but {name} is {_KINDS[self.task]}")
            probe = self.estimator
        self.scoring = scoring
        #: Several objectives (several scorers, or a scorer and fit_time / predict_time), or None.
        self.objectives: Objectives | None = None
        if isinstance(scoring, (list, tuple, Mapping)) and len(scoring) != 1:
            self.scorers = _scorers(probe, scoring)
            names = tuple(self.scorers)
            self.objectives = Objectives(names, tuple("minimize" if n in TIMINGS else "maximize" for n in names))
            self.reported_objective = next(n for n in names if n not in TIMINGS)
        else:
            one = (
                next(iter(scoring.values() if isinstance(scoring, Mapping) else scoring))
                if isinstance(scoring, (list, tuple, Mapping))
                else scoring
            )
            if isinstance(scoring, (list, tuple, Mapping)):
                self.scoring = one if not isinstance(scoring, Mapping) else scoring
            self.scorers = {self.metric_name: _scorer(probe, one)}
            self.reported_objective = self.metric_name
        # The scorer whose fold means are reported (pruning) and that scores the test rows.
        self.scorer = self.scorers[self.reported_objective]
        classifier = self.task == "classification"
        self.splitter = make_splitter(cv, classifier=classifier, groups=groups)
        if not isinstance(fit_params or {}, Mapping):
            raise ConfigError(key="fit_params", message=f"expected a mapping of fit arguments, got {fit_params!r}")
        fit_params = dict(fit_params or {})
        self.test_fraction = test_fraction
        self.X_test: Any = None
        self.y_test: Any = None
        self.train_indices: Any = None
        self.test_indices: Any = None
        if test_fraction is not None and test_data is not None:
            raise ConfigError(
                key="test_fraction",
                message=f"give test_fraction or test_data, not both; got test_fraction={test_fraction!r}",
            )
        if test_fraction is not None:
            X, y, groups, fit_params = self._hold_out(X, y, groups, fit_params, test_fraction, classifier)
        elif test_data is not None:
            self.X_test, self.y_test = _test_data(test_data)
        self.X, self.y, self.groups = X, y, groups
        # Computed on the rows the search sees only: no test row is in any fold.
        self.folds = compute_folds(self.splitter, X, y, groups)
        self.fit_params = fit_params
        if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0):
            raise ConfigError(key="n_jobs", message=f"expected a non-zero integer or None, got {n_jobs!r}")
        self.n_jobs = n_jobs
        if not isinstance(refit, bool):
            raise ConfigError(key="refit", message=f"expected true or false, got {refit!r}")
        self.refit = refit
        self.model_flavor = "sklearn" if refit else None
        self.best_model_: Any = None
        self.best_test_score_: float | None = None

    def _hold_out(
        self, X: Any, y: Any, groups: Any, fit_params: dict[str, Any], fraction: Any, classifier: bool
    ) -> tuple[Any, Any, Any, dict[str, Any]]:
        """Split the test rows off (kept as ``X_test``, ``y_test``); the rest, with its groups
        and per-row fit arguments, is what the search sees."""
        from sklearn.utils import _safe_indexing

        rules = _test_rules(self.splitter, classifier)
        seed = getattr(self.splitter, "random_state", None)
        train, test = split_test(
            X,
            y,
            fraction,
            seed=int(seed) if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) else 0,
            stratify=rules["stratify"],
            time_order=rules["time_order"],
            groups=groups if rules["grouped"] else None,
        )
        self.train_indices, self.test_indices = train, test
        self.X_test, self.y_test = _safe_indexing(X, test), _safe_indexing(y, test)
        n = len(y)
        fit_params = {k: _safe_indexing(v, train) if _per_row(v, n) else v for k, v in fit_params.items()}
        kept_groups = None if groups is None else _safe_indexing(groups, train)
        return _safe_indexing(X, train), _safe_indexing(y, train), kept_groups, fit_params

    def _fit_params(self, indices: Any) -> dict[str, Any]:
        from sklearn.utils import _safe_indexing

        n = len(self.y)
        return {k: _safe_indexing(v, indices) if _per_row(v, n) else v for k, v in self.fit_params.items()}

    def _model(self, params: Mapping[str, Any], seed: int | None = None) -> Any:
        """A fresh, unfitted estimator with ``params``: a clone of the trainer's, or of the branch
        ``params["estimator"]`` names when the space chooses it (with the rest of ``params``).

        An estimator whose ``random_state`` is left at None (a forest, a boosting) gets ``seed``
        (the trial's seed): its randomness, and so the trial's value, is the same in every run.
        """
        from sklearn.base import clone

        if self.estimator is not None:
            model = clone(self.estimator).set_params(**params)
        else:
            rest = dict(params)
            branch = rest.pop(CHOOSER, None)
            if not isinstance(branch, str):
                raise ConfigError(
                    key="params",
                    message=f"the space chooses the estimator, but these params name none ({CHOOSER!r}): "
                    f"{dict(params)!r}",
                )
            model = clone(self._branch(branch)).set_params(**rest)
        if seed is not None and "random_state" not in params and model.get_params().get("random_state", 0) is None:
            model.set_params(random_state=seed)
        return model

    def _branch(self, name: str) -> Any:
        """The estimator of the branch ``name`` of the space's ``estimator`` choice, built once:
        importable, of the task, ready for the categorical columns.

        Raises:
            ConfigError: Named ``space.estimator.NAME``.
        """
        if name in self._branches:
            return self._branches[name]
        from sklearn.pipeline import Pipeline

        where = f"space.{CHOOSER}.{name}"
        estimator = resolve_estimator(name, where)
        title = type(estimator).__name__
        kind = _estimator_task(estimator)
        if kind != self.task:
            raise ConfigError(
                key=where,
                message=f"{title} is {_KINDS[kind]}, but the task is {self.task} ({self._task_source}): "
                f"every branch must be {_KINDS[self.task]}",
            )
        estimator = _categorical_ready(estimator, self._categorical, where)
        if self._text_columns and not isinstance(estimator, Pipeline):
            raise ConfigError(
                key=where,
                message=f"feature columns {self._text_columns!r} are not numeric and {title} does not encode "
                "them: list them in data.categorical (for HistGradientBoosting), drop them (data.drop) or make "
                "this branch a Pipeline that encodes them",
            )
        self._branches[name] = estimator
        return estimator

    def _fit_and_score(
        self, params: dict[str, Any], train: Any, test: Any, seed: int | None = None
    ) -> dict[str, float]:
        """One fold: ``fit_time`` (s), every scorer's score by name, and ``predict_time`` (the
        seconds of one ``predict`` of the fold's validation rows) when it is an objective."""
        from sklearn.utils import _safe_indexing

        model = self._model(params, seed)
        start = time.perf_counter()
        model.fit(_safe_indexing(self.X, train), _safe_indexing(self.y, train), **self._fit_params(train))
        out = {"fit_time": time.perf_counter() - start}
        X_test, y_test = _safe_indexing(self.X, test), _safe_indexing(self.y, test)
        if "predict_time" in self.scorers:
            start = time.perf_counter()
            model.predict(X_test)
            out["predict_time"] = time.perf_counter() - start
        for name, scorer in self.scorers.items():
            if scorer is not None:
                out[name] = float(scorer(model, X_test, y_test))
        return out

    def check_space(self, space: Any) -> None:
        """Every hyperparameter of ``space`` must be a parameter of the estimator (a typo would
        otherwise fail every trial).

        With ``estimator=None`` the space must choose it: its ``estimator`` is a choice whose
        branches are dotted paths. Each branch's estimator is built once here (importable, of the
        task, taking the categorical columns), and its parameters, with those beside the choice,
        checked against it.

        Raises:
            ConfigError: Naming the parameter or branch by its path (``space.estimator.BRANCH.C``).
        """
        from hpo import Choice, Space

        space = space if isinstance(space, Space) else Space(space)
        chooser = space.get(CHOOSER)
        if self.estimator is not None:
            if isinstance(chooser, Choice):
                leave = "pass estimator=None" if self._estimator_key == "estimator" else "leave trainer.estimator out"
                raise ConfigError(
                    key=f"space.{CHOOSER}",
                    message=f"the space chooses the estimator, but the trainer has one "
                    f"({type(self.estimator).__name__}): {leave} to let the space choose",
                )
            _check_params(space, self.estimator, "space")
            return
        if chooser is None:
            missing = "missing key" if self._estimator_key != "estimator" else "None"
            raise ConfigError(
                key=self._estimator_key,
                message=f"{missing}, and the space does not choose one (it has no {CHOOSER!r} choice): give an "
                "estimator (sklearn.svm.SVC), or a space whose estimator is a choice of them (space: classifiers, "
                "space: regressors)",
            )
        if not isinstance(chooser, Choice):
            raise ConfigError(
                key=f"space.{CHOOSER}",
                message=f"expected a choice of estimators, {{choice: {{sklearn.svm.SVC: {{C: ...}}, ...}}}}, "
                f"got {chooser!r}",
            )
        beside = {name: domain for name, domain in space.items() if name != CHOOSER}
        for name, sub in chooser.branches.items():
            estimator = self._branch(name)
            _check_params(sub, estimator, f"space.{CHOOSER}.{name}", preset=False)
            note = f" (the estimator of the branch {name!r})"
            _check_params(beside, estimator, "space", note=note, preset=False)

    def __call__(self, params: dict[str, Any], trial: Trial) -> float | dict[str, float]:
        """The mean over the folds of the score (with several objectives, of each by name)."""
        scores: list[float] = []
        measured: list[dict[str, float]] = []
        done = trial.restore() or []  # the folds an interrupted run of this trial scored
        for step, fold in enumerate(done[: len(self.folds) - 1]):  # (a full list: not from this cv)
            score = fold[self.reported_objective]
            scores.append(score)
            measured.append(fold)
            trial.log_metrics({"fold_score": score, "fold_fit_time": fold["fit_time"]}, step=step)
            trial.report(sum(scores) / len(scores), step)
        batch = 1 if self.n_jobs in (None, 1) else self._batch_size()
        for first in range(len(measured), len(self.folds), batch):
            if measured:  # the folds scored so far: a rerun goes on at the next fold
                trial.checkpoint(measured)
            folds = self.folds[first : first + batch]
            if batch == 1:
                results = [self._fit_and_score(params, *folds[0], trial.seed)]
            else:
                from joblib import Parallel, delayed

                results = Parallel(n_jobs=len(folds))(
                    delayed(self._fit_and_score)(params, train, test, trial.seed) for train, test in folds
                )
            for step, fold in enumerate(results, start=first):
                score = fold[self.reported_objective]
                scores.append(score)
                measured.append(fold)
                trial.log_metrics({"fold_score": score, "fold_fit_time": fold["fit_time"]}, step=step)
                trial.report(sum(scores) / len(scores), step)  # raises TrialPruned to stop here
        mean = sum(scores) / len(scores)
        trial.log_metrics({"cv_mean": mean, "cv_std": statistics.pstdev(scores)})
        if self.objectives is None:
            return mean
        return {name: statistics.fmean(fold[name] for fold in measured) for name in self.objectives.names}

    def _batch_size(self) -> int:
        from joblib import effective_n_jobs

        return max(1, effective_n_jobs(self.n_jobs))

    @property
    def metric_name(self) -> str:
        """The scorer's name; for the estimator's own ``score``, what it computes; with several
        objectives, the first scorer's (reported each fold, and scoring the test rows)."""
        if self.objectives is not None:
            return self.reported_objective
        if isinstance(self.scoring, Mapping):
            return str(next(iter(self.scoring)))
        if isinstance(self.scoring, str):
            return self.scoring
        if self.scoring is not None:
            function = getattr(self.scoring, "_score_func", self.scoring)
            return str(getattr(function, "__name__", "score"))
        return {"classification": "accuracy", "regression": "r2"}.get(self.task or "", "score")

    def describe(self) -> dict[str, Any]:
        """The estimator, scoring, splitter and data shape (see :meth:`Trainer.describe`)."""
        shape: tuple[int, ...] = tuple(getattr(self.X, "shape", (len(self.y),)))
        if self.estimator is None:
            chosen: dict[str, Any] = {
                "estimator": f"chosen by the space (space.{CHOOSER})",
                "estimator.choices": ", ".join(self._branches) or None,
                "task": self.task,
            }
        else:
            estimator = type(self.estimator)
            chosen = {
                "estimator": f"{estimator.__module__}.{estimator.__qualname__}",
                # scikit-learn's repr shows the parameters set away from their defaults: the fixed ones.
                "estimator.repr": " ".join(repr(self.estimator).split()),
            }
        return {
            **super().describe(),
            **chosen,
            "scoring": self.scoring
            if self.scoring is None or isinstance(self.scoring, str)
            else ", ".join(self.scorers)
            if self.objectives is not None
            else self.metric_name,
            "cv": " ".join(repr(self.splitter).split()),
            "cv.n_splits": len(self.folds),
            "n_jobs": self.n_jobs,
            "refit": self.refit,
            "test_fraction": self.test_fraction,
            "data.rows": shape[0],
            "data.features": shape[1] if len(shape) > 1 else 1,
            "data.test_rows": None if self.y_test is None else len(self.y_test),
        }

    def datasets(self) -> list[dict[str, str]]:
        """The rows cross-validation trains and scores on, and the test rows (``testing``)."""
        from ._provenance import data_name, dataset_card

        name = data_name(self.data_source)
        cards = [dataset_card(self.X, self.y, name=name, source=self.data_source, context="training")]
        if self.y_test is not None:
            cards.append(dataset_card(self.X_test, self.y_test, name=name, source=self.data_source, context="testing"))
        return cards

    def on_study_end(self, study: Any, run: StudyRun) -> None:
        """Refit the best configuration (with the space choosing the estimator, the best trial's
        branch; with several objectives, the trial the study's ``select`` picks) on all the data
        but the test rows; score it once on the test rows (if any) and log it as the study's
        model (with ``refit``)."""
        if not self.refit and self.y_test is None:
            return
        from sklearn.utils import _safe_indexing

        chosen = study.selected_trial
        params = study.objective_params(chosen.params)
        model = self._model(params, study.trial_seed(chosen))
        model.fit(self.X, self.y, **self.fit_params)
        if self.y_test is not None:
            # The one time the test rows are scored: the search never saw them.
            self.best_test_score_ = float(self.scorer(model, self.X_test, self.y_test))
            run.log_test_score(self.metric_name, self.best_test_score_, rows=len(self.y_test), trial=chosen.number)
        if not self.refit:
            return
        self.best_model_ = model
        example = _safe_indexing(self.X, list(range(min(5, len(self.y)))))
        run.log_model("sklearn", model, input_example=example, params=params)

    @classmethod
    def from_config(cls, block: Mapping[str, Any], data: Any, *, base: Path | None = None) -> SklearnTrainer:
        """Build from a config's ``trainer:`` block (``kind: sklearn``) and ``data:`` block.

        Raises:
            ConfigError: One line naming ``trainer.KEY`` or ``data.KEY``.
        """
        check_keys(block, _CONFIG_KEYS, "trainer")
        if data is None:
            raise ConfigError(
                key="data",
                message="missing key; the sklearn trainer needs {builtin: NAME} or {path: FILE, target: COLUMN}",
            )
        from sklearn.pipeline import Pipeline

        # No estimator: the space chooses it (checked with the space, before the study).
        spec = block.get("estimator")
        estimator = None if spec is None else resolve_estimator(spec, "trainer.estimator")
        encoded_later = estimator is None or isinstance(estimator, Pipeline)
        dataset = load_data(data, base=base, encoded_later=encoded_later, allow_categorical=True)
        if estimator is not None:
            estimator = _categorical_ready(estimator, dataset.categorical, "data.categorical")
        try:
            trainer = cls(
                estimator,
                dataset.X,
                dataset.y,
                task=block.get("task"),
                cv=block.get("cv", 5),
                scoring=block.get("scoring"),
                groups=dataset.groups,
                fit_params=block.get("fit_params"),
                n_jobs=block.get("n_jobs"),
                refit=block.get("refit", True),
                test_fraction=block.get("test_fraction"),
            )
        except ConfigError as err:
            raise err.under("trainer") from None
        trainer.data_source = dataset.source
        trainer._estimator_key = "trainer.estimator"
        if estimator is None:  # each branch is checked against the data as it is built
            trainer._categorical = list(dataset.categorical)
            trainer._text_columns = _text_columns(dataset.X, dataset.categorical)
        return trainer


def _text_columns(X: Any, categorical: list[str]) -> list[str]:
    """The feature columns of a table that are neither numbers, booleans nor ``categorical``."""
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        return []
    return [
        str(column)
        for column in X.columns
        if column not in categorical
        and not (pd.api.types.is_numeric_dtype(X[column]) or pd.api.types.is_bool_dtype(X[column]))
    ]


def _test_data(test_data: Any) -> tuple[Any, Any]:
    """``(X_test, y_test)``, checked: a pair with as many rows in each, at least one.

    Raises:
        ConfigError: Anything else (named ``test_data``).
    """
    if not isinstance(test_data, (tuple, list)) or len(test_data) != 2:
        shown = f"a {type(test_data).__name__}" if hasattr(test_data, "__len__") else repr(test_data)
        raise ConfigError(key="test_data", message=f"expected a pair (X_test, y_test), got {shown:.80}")
    X_test, y_test = test_data
    rows = {len(part) if hasattr(part, "__len__") else None for part in (X_test, y_test)}
    if None in rows or len(rows) != 1 or 0 in rows:
        sizes = [len(part) if hasattr(part, "__len__") else type(part).__name__ for part in (X_test, y_test)]
        raise ConfigError(
            key="test_data", message=f"expected X_test and y_test with the same number of rows (> 0), got {sizes}"
        )
    return X_test, y_test
