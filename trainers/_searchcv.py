"""``HPOSearchCV``: scikit-learn's search-estimator API over hpo's searchers, pruning, workers
and tracking.

A drop-in for ``GridSearchCV`` / ``RandomizedSearchCV``: the same constructor arguments where
they exist (``scoring``, ``cv``, ``refit``, ``error_score``, ``return_train_score``,
``n_jobs``), the same fitted attributes (``cv_results_`` with the same keys, ``best_*``,
``scorer_``, ``refit_time_``, ...) and the same delegation (``predict``, ``score``, ...). It
subclasses scikit-learn's ``BaseSearchCV`` for those, and replaces its ``fit``: the candidates
come from an hpo study (TPE by default), each one's folds are fitted and scored by
scikit-learn's own ``_fit_and_score`` in order, and the running mean of the refit metric is
reported after each fold so that the study's pruner can stop a hopeless candidate early.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.model_selection._search import BaseSearchCV
from sklearn.model_selection._validation import _fit_and_score, _warn_or_raise_about_fit_failures
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_method_params, indexable

from hpo.plugins import did_you_mean

__all__ = ["HPOSearchCV"]

#: The choice a list of grids becomes (``GridSearchCV``'s ``[{...}, {...}]``): its branches
#: ``grid_0``, ``grid_1``, ... are the grids; the estimator never sees it.
GRID = "grid"
#: ``pruner=None``: the median pruner from the third fold on. Judged after the first fold, as
#: hpo's plain ``median`` does, one fold's noise stopped candidates that would have been best
#: (benchmarks/searchcv.py: diabetes 0.00035 below the grid's best, 0.00018 from the third fold).
DEFAULT_PRUNER = {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 2}
#: What a trial keeps of each fold it ran (a trial user attribute, so that pruned trials keep
#: theirs and trials on Ray workers send them with their other records).
FOLDS = "hpo:folds"


class HPOSearchCV(BaseSearchCV):
    """Search hyperparameters with hpo behind scikit-learn's search-estimator API.

    Use it where ``GridSearchCV`` or ``RandomizedSearchCV`` is used: ``fit``, then
    ``best_params_``, ``best_estimator_``, ``cv_results_``, ``predict``. Each candidate is a
    trial of an hpo study (``study_``): sampled by ``searcher``, cross-validated fold by fold on
    the same folds as every other candidate, stopped early by ``pruner`` when its running mean is
    hopeless, logged to MLflow when ``tracking`` is on.

    Args:
        estimator: A scikit-learn estimator or Pipeline (parameters as ``step__param``).
        space: An :class:`hpo.Space`, its dict form (``{"C": hpo.Float(1e-3, 1e3, log=True)}``
            or the YAML dicts), a ready-made space's name (``"svc"``), or a ``GridSearchCV``-style
            dict of lists (``{"C": [0.1, 1, 10]}``), or a list of them (each grid a branch of an
            :class:`hpo.Choice` named ``grid``, which the estimator never sees): searched as
            categories, or as a grid by ``searcher="grid"``.
        n_trials: Candidates to evaluate. By default, every point of a space of lists (with
            ``searcher="grid"``, the default for such a space) and 10 otherwise
            (``RandomizedSearchCV``'s ``n_iter``).
        scoring: As ``GridSearchCV``'s: ``None`` (the estimator's ``score``), a scorer name or
            callable, or a list or dict of them (several metrics; ``refit`` names the one the
            study optimizes).
        cv: As ``GridSearchCV``'s (an int, a splitter, an iterable of splits).
        refit: As ``GridSearchCV``'s: refit the best candidate on the whole data
            (``best_estimator_``); with several metrics, the name of the one to optimize and
            refit by, or a callable picking ``best_index_`` from ``cv_results_`` (the study then
            optimizes the first metric).
        searcher: hpo's searcher: ``"tpe"``, ``"random"``, ``"grid"``, ``"gp"``, ... (see
            :func:`hpo.tune`); ``None``: ``grid`` for a space of lists without ``n_trials``,
            else ``tpe``.
        pruner: hpo's pruner, judging the running mean of the refit metric after each fold
            (``"median"``, ``"successive_halving"``, ``"none"``...); ``None``: the median pruner
            from the third fold on, after 5 candidates (:data:`DEFAULT_PRUNER`).
        seed: The searcher's seed (``random_state`` elsewhere in scikit-learn).
        n_jobs: Folds fitted at once, on joblib's processes (-1: every CPU), as scikit-learn's
            ``n_jobs``; candidates run one after another, each reported to the pruner after each
            batch of folds. ``None`` or 1: everything in order, in this process.
        executor: Candidates at once instead: an hpo executor (``"ray"``, ``{"kind": "ray",
            "workers": 4, "address": ...}``), for fits that take seconds or a cluster; each
            candidate's folds then run in order on its worker. ``"joblib"`` is ``n_jobs``'s way.
        tracking: The MLflow tracking URI, ``"default"`` (``$MLFLOW_TRACKING_URI``, else
            ``sqlite:///mlflow.db``), or ``None`` (nothing logged, as scikit-learn does).
        study_name: The study's name and MLflow experiment; generated when omitted.
        timeout: Stop starting candidates after this many seconds.
        error_score: As ``GridSearchCV``'s: ``"raise"`` re-raises a fit's error; a number is
            recorded as the fold's score, the failures are warned about, and the search goes on.
        return_train_score: As ``GridSearchCV``'s: also score the training folds.
        verbose: 0 is quiet; more prints a line per candidate.

    Attributes:
        cv_results_: As ``GridSearchCV``'s, one row per candidate in trial order, with
            ``state`` (``complete``, ``pruned``, ``failed``) added. A pruned candidate's splits
            it did not run are masked; its ``mean_test_*`` is NaN (it has no full CV score) and
            it ranks last, as a failed candidate does in scikit-learn.
        best_estimator_, best_params_, best_score_, best_index_, scorer_, n_splits_,
        refit_time_, multimetric_: As ``GridSearchCV``'s.
        study_: The :class:`hpo.Study`.
        mlflow_run_id_: The study's MLflow parent run, or None without tracking.
    """

    _parameter_constraints: dict = {
        **BaseSearchCV._parameter_constraints,
        "space": "no_validation",  # hpo checks it, naming the parameter
        "n_trials": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "searcher": "no_validation",  # hpo checks it (a name, options or an Optuna sampler)
        "pruner": "no_validation",
        "seed": [Interval(numbers.Integral, 0, 2**32 - 1, closed="both"), None],
        "executor": "no_validation",
        "tracking": [str, None],
        "study_name": [str, None],
        "timeout": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }
    _parameter_constraints.pop("pre_dispatch")

    def __init__(
        self,
        estimator: Any,
        space: Any,
        *,
        n_trials: int | None = None,
        scoring: Any = None,
        cv: Any = None,
        refit: Any = True,
        searcher: Any = None,
        pruner: Any = None,
        seed: int | None = None,
        n_jobs: int | None = None,
        executor: Any = None,
        tracking: str | None = "default",
        study_name: str | None = None,
        timeout: float | None = None,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.space = space
        self.n_trials = n_trials
        self.searcher = searcher
        self.pruner = pruner
        self.seed = seed
        self.executor = executor
        self.tracking = tracking
        self.study_name = study_name
        self.timeout = timeout

    def fit(self, X: Any, y: Any = None, **params: Any) -> HPOSearchCV:
        """Run the search, then (with ``refit``) fit the best candidate on all of ``X, y``.

        Args:
            X: Training data.
            y: Target, or None for unsupervised estimators.
            **params: Passed to the estimator's ``fit`` (per-row arrays such as
                ``sample_weight`` are split with the folds, and given to scorers that take
                them), and ``groups`` to the splitter, as ``GridSearchCV`` does.

        Raises:
            ValueError: A bad argument (named), a space parameter the estimator lacks, or every
                fit failed.
        """
        import hpo

        self._validate_params()
        scorers, refit_metric = self._get_scorers()
        X, y = indexable(X, y)
        params = _check_method_params(X, params=params)
        routed = self._get_routed_params_for_fit(params)
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        folds = list(cv.split(X, y, **routed.splitter.split))
        self.n_splits_ = len(folds)
        space = self._checked_space()
        searcher = self.searcher
        grid_like = _all_lists(self.space)
        if searcher is None:
            searcher = "grid" if grid_like and self.n_trials is None else "tpe"
        n_trials = self.n_trials
        if n_trials is None and not _is_grid(searcher):
            n_trials = 10
        metric = refit_metric if isinstance(refit_metric, str) and refit_metric != "score" else None
        objective = _CrossValidation(
            clone(self.estimator),
            X,
            y,
            folds,
            scorers,
            metric,
            routed.estimator.fit,
            routed.scorer.score,
            self.error_score,
            self.return_train_score,
            self.verbose,
            self._fold_jobs(),
        )
        try:
            study = hpo.tune(
                objective,
                space,
                n_trials=n_trials,
                direction="maximize",
                searcher=searcher,
                pruner=DEFAULT_PRUNER if self.pruner is None else self.pruner,
                seed=self.seed,
                study_name=self.study_name,
                **self._tracking(),
                executor=self._executor(),
                timeout=self.timeout,
                catch=() if self.error_score == "raise" else (Exception,),
            )
        except hpo.AllTrialsFailedError as err:
            # scikit-learn's own error, with each fit's error: "All the 10 fits failed. ..."
            _warn_about_failures(_trial_outcomes(err.study, self.n_splits_)[1], self.error_score)
            raise ValueError(f"All the {len(err.study.trials)} candidates failed. {err}") from None
        except hpo.ConfigError as err:
            raise ValueError(str(err)) from None
        self.study_ = study
        self.mlflow_run_id_ = study.mlflow_run_id
        candidates, out, states = _trial_outcomes(study, self.n_splits_)
        _warn_about_failures(out, self.error_score)
        with warnings.catch_warnings():
            # Pruned candidates have no full CV score: NaN by design, not a failure to warn of.
            warnings.filterwarnings("ignore", "One or more of the test scores are non-finite")
            warnings.filterwarnings("ignore", "One or more of the train scores are non-finite")
            results = self._format_results(candidates, self.n_splits_, out, {"state": states})
        _mask_folds_not_run(results, out, self.n_splits_)
        first = out[0]["test_scores"]
        self.multimetric_ = isinstance(first, dict)
        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(**clone(self.best_params_, safe=False))
            start = time.time()
            if y is not None:
                self.best_estimator_.fit(X, y, **routed.estimator.fit)
            else:
                self.best_estimator_.fit(X, **routed.estimator.fit)
            self.refit_time_ = time.time() - start
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        self.scorer_ = scorers._scorers if hasattr(scorers, "_scorers") else scorers
        self.cv_results_ = results
        return self

    def _tracking(self) -> dict[str, Any]:
        """``tune()``'s ``tracking``: left out for ``"default"``, so that tune's default applies."""
        return {} if self.tracking == "default" else {"tracking": self.tracking}

    def _fold_jobs(self) -> int:
        """Folds fitted at once by joblib within a candidate: ``n_jobs`` without an executor, or
        with ``executor="joblib"``."""
        if self.executor not in (None, "joblib") or self.n_jobs is None:
            return 1
        from joblib import effective_n_jobs

        return max(1, effective_n_jobs(self.n_jobs))

    def _executor(self) -> Any:
        # n_jobs alone: candidates one at a time, their folds on joblib's processes; faster than
        # candidates on Ray workers for fits of milliseconds to a second (1.2x to 5.3x on the
        # three tasks of benchmarks/searchcv_parallel.py). executor="ray" asks for Ray.
        if self.executor in (None, "joblib"):
            return "inline"
        return self.executor

    def _checked_space(self) -> Any:
        """The space as hpo takes it, each parameter one the estimator has.

        Raises:
            ValueError: A list of grids (not supported), or an unknown parameter, with the
                nearest valid name and the valid ones, as ``set_params`` words it.
        """
        from hpo import Choice
        from hpo.plugins import as_space

        spec = self.space
        if isinstance(spec, list):  # GridSearchCV's list of grids: a choice among them
            if not spec or not all(isinstance(grid, Mapping) and grid for grid in spec):
                raise ValueError(f"space: expected a list of non-empty dicts (parameter grids), got {spec!r}")
            spec = {GRID: Choice({f"grid_{i}": dict(grid) for i, grid in enumerate(spec)})}
        try:
            space = as_space(spec)
        except Exception as err:  # hpo's ConfigError: one line, the parameter named
            raise ValueError(str(err)) from None
        valid = sorted(self.estimator.get_params(deep=True))
        names = space.names() - {GRID} if isinstance(self.space, list) else space.names()
        for name in sorted(names):
            if name not in valid:
                hint = did_you_mean(name, valid)
                raise ValueError(
                    f"space: invalid parameter {name!r} for estimator {self.estimator!r}{hint} "
                    f"Valid parameters are: {valid!r}."
                )
        return space


def _is_grid(searcher: Any) -> bool:
    """Whether ``searcher`` names hpo's grid searcher (``"grid"`` or ``{"name": "grid", ...}``)."""
    name = searcher.get("name") if isinstance(searcher, Mapping) else searcher
    return isinstance(name, str) and name.strip().lower() == "grid"


def _all_lists(space: Any) -> bool:
    """A ``GridSearchCV``-style space: a dict whose every value is a list of values, or a list
    of such dicts."""
    if isinstance(space, list):
        return bool(space) and all(_all_lists(grid) for grid in space)
    return isinstance(space, Mapping) and bool(space) and all(isinstance(v, (list, tuple)) for v in space.values())


class _CrossValidation:
    """One candidate's cross-validation, fold by fold with scikit-learn's ``_fit_and_score``;
    the running mean of the refit metric reported after each fold. Picklable (Ray workers)."""

    def __init__(
        self,
        estimator: Any,
        X: Any,
        y: Any,
        folds: list[tuple[Any, Any]],
        scorers: Any,
        metric: str | None,
        fit_params: dict[str, Any],
        score_params: dict[str, Any],
        error_score: Any,
        return_train_score: bool,
        verbose: int,
        fold_jobs: int = 1,
    ) -> None:
        self.estimator, self.X, self.y, self.folds = estimator, X, y, folds
        self.scorers, self.metric = scorers, metric
        self.fit_params, self.score_params = fit_params, score_params
        self.error_score, self.return_train_score, self.verbose = error_score, return_train_score, verbose
        self.fold_jobs = fold_jobs

    def __call__(self, params: dict[str, Any], trial: Any) -> float:
        params = {k: v for k, v in params.items() if k != GRID}  # which grid: not the estimator's
        kept: list[dict[str, Any]] = []
        scores: list[float] = []
        batch = max(1, self.fold_jobs)
        for first in range(0, len(self.folds), batch):
            folds = list(enumerate(self.folds))[first : first + batch]
            if batch == 1:
                results = [self._fold(params, *folds[0][1])]
            else:  # a batch of folds at once on joblib's processes, reported in fold order after it
                from joblib import Parallel, delayed

                results = Parallel(n_jobs=len(folds))(delayed(self._fold)(params, *fold) for _, fold in folds)
            for (k, _), result in zip(folds, results):
                kept.append(_plain(result))
                trial.set_user_attr(FOLDS, kept)  # each fold as it ends: a pruned trial keeps them
                score = _refit_score(result["test_scores"], self.metric)
                scores.append(score)
                if not math.isfinite(score):  # a failed fit scored error_score: no mean to judge
                    continue
                finite = [s for s in scores if math.isfinite(s)]
                trial.report(sum(finite) / len(finite), k)  # raises TrialPruned to stop here
        mean = sum(scores) / len(scores)
        if self.verbose > 0:
            print(f"[HPOSearchCV] trial {trial.number} {params}: mean score {mean:.6g}")
        if not math.isfinite(mean):  # a fold failed with error_score=nan: no score, a failed trial
            errors = [str(f["fit_error"]) for f in kept if f.get("fit_error")]
            raise RuntimeError(errors[0].strip().splitlines()[-1] if errors else f"mean score {mean}")
        return mean

    def _fold(self, params: dict[str, Any], train: Any, test: Any) -> dict[str, Any]:
        return _fit_and_score(
            clone(self.estimator),
            self.X,
            self.y,
            scorer=self.scorers,
            train=train,
            test=test,
            verbose=0,
            parameters=dict(params),
            fit_params=self.fit_params,
            score_params=self.score_params,
            return_train_score=self.return_train_score,
            return_n_test_samples=True,
            return_times=True,
            error_score=self.error_score,
        )


def _refit_score(test_scores: Any, metric: str | None) -> float:
    if isinstance(test_scores, dict):
        return float(test_scores[metric] if metric is not None else next(iter(test_scores.values())))
    return float(test_scores)


def _plain(result: dict[str, Any]) -> dict[str, Any]:
    """A fold's result as JSON (a trial user attribute): floats, dicts of floats, strings."""

    def number(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items()}
        return float(value)

    out = {
        "test_scores": number(result["test_scores"]),
        "fit_time": float(result["fit_time"]),
        "score_time": float(result["score_time"]),
        "n_test_samples": int(result["n_test_samples"]),
        "fit_error": result.get("fit_error"),
    }
    if "train_scores" in result:
        out["train_scores"] = number(result["train_scores"])
    return out


def _warn_about_failures(out: list[dict[str, Any]], error_score: Any) -> None:
    """scikit-learn's account of failed fits, over the folds that ran: its ``FitFailedWarning``,
    or its ``ValueError`` when every fit failed."""
    _warn_or_raise_about_fit_failures([o for o in out if o.get("ran", True)], error_score)


def _trial_outcomes(study: Any, n_splits: int) -> tuple[list, list, list]:
    """The candidates in trial order, their folds as ``_fit_and_score`` results (folds not run
    filled with NaN and ``ran: False``), and each one's state."""
    from hpo.plugins import trial_state

    candidates, out, states = [], [], []
    for t in study.trials:
        state = trial_state(t)
        if state not in ("complete", "pruned", "failed"):
            continue
        folds = t.user_attrs.get(FOLDS, [])
        if not folds and state != "failed":
            continue
        template = folds[0] if folds else None
        for k in range(n_splits):
            if k < len(folds):
                out.append({**folds[k], "ran": True})
                continue
            missing = _nan_like(template["test_scores"] if template else None)
            filler = {"test_scores": missing, "fit_time": math.nan, "score_time": math.nan, "ran": False}
            filler["n_test_samples"] = 0
            filler["fit_error"] = None
            if template is not None and "train_scores" in template:
                filler["train_scores"] = _nan_like(template["train_scores"])
            out.append(filler)
        candidates.append({k: v for k, v in study.objective_params(t.params).items() if k != GRID})
        states.append(state)
    if not out:
        raise ValueError("No fits were performed: every candidate failed before its first fold")
    return candidates, out, states


def _nan_like(scores: Any) -> Any:
    return {k: math.nan for k in scores} if isinstance(scores, dict) else math.nan


def _mask_folds_not_run(results: dict[str, Any], out: list[dict[str, Any]], n_splits: int) -> None:
    """Mask the ``split{k}_...`` scores of the folds a pruned candidate did not run."""
    ran = np.array([o.get("ran", True) for o in out], dtype=bool).reshape(-1, n_splits)
    for key in list(results):
        if key.startswith("split") and "_t" in key:
            k = int(key[5:].split("_", 1)[0])
            results[key] = np.ma.MaskedArray(results[key], mask=~ran[:, k])
