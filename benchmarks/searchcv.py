"""``hpo.HPOSearchCV`` against scikit-learn's search estimators and Optuna's ``OptunaSearchCV``.

Target: ``HPOSearchCV`` with its defaults is the fastest side to the target score
(within 0.002 of the best cross-validation score any side found on the task) on at least 2 of
the 3 tasks, and never slower than 1.2x the fastest side on any; its median final best score
is >= every other side's median on every task (seeds 0..4).

Tasks, scikit-learn's bundled data, every side on the same shuffled 5 folds
(``StratifiedKFold(5, shuffle=True, random_state=0)`` for the classifiers, ``KFold(5, ...)``
for the regression) and the same scoring:

- ``svc_digits``: ``SVC`` (RBF) on digits (1797 x 64), accuracy. Grid ``C`` in
  {0.1, 1, 10, 100, 1000} x ``gamma`` in {1e-4, 3e-4, 1e-3, 3e-3, 1e-2} (25 points); the other
  sides search ``C`` log-uniform in [0.1, 1000] and ``gamma`` log-uniform in [1e-4, 1e-2].
- ``hgb_breast_cancer``: ``HistGradientBoostingClassifier(random_state=0)`` on breast_cancer
  (569 x 30), accuracy. Grid ``learning_rate`` in {0.01, 0.03, 0.1, 0.3} x ``max_leaf_nodes``
  in {7, 15, 31} x ``min_samples_leaf`` in {5, 10, 20} (36 points); the others:
  ``learning_rate`` log-uniform in [0.01, 0.3], the two integers uniform in [7, 31] and
  [5, 20]. The 20k-row ``make_classification`` variant of the issue takes ~2 s a candidate on
  one core (~60 s a study): too slow for the 15-minute budget, so it is only the optional task
  ``hgb_20k`` (not in the target).
- ``elasticnet_diabetes``: ``Pipeline(StandardScaler, PolynomialFeatures(2,
  include_bias=False), ElasticNet)`` on diabetes (442 x 10, 65 features after the expansion), r2.
  Grid ``model__alpha`` in {0.01, 0.03, 0.1, 0.3, 1, 3, 10} x ``model__l1_ratio`` in
  {0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1} (49 points; the l1_ratio list is the one ElasticNetCV's
  documentation suggests); the others: ``alpha`` log-uniform in [0.01, 10], ``l1_ratio`` uniform
  in [0.1, 1]. The best region is a narrow ridge on the bound l1_ratio = 1 (lasso, alpha
  2..3.5): r2 0.4910 at the grid point (3, 1), which the grid holds exactly and a continuous
  search only approaches. A fit takes ~5 ms, so each side's own overhead per candidate counts.

Sides (every one ``n_jobs=1``, in a worker process with one BLAS/OpenMP thread, ``refit=True``
as each has by default):

- ``grid``: ``GridSearchCV`` on the grid. Deterministic: it runs once per seed anyway, and its
  times are the median of those 5 runs (its scores are the same in all).
- ``random``: ``RandomizedSearchCV(n_iter=budget, random_state=seed)`` with scipy's
  ``loguniform`` / ``uniform`` / ``randint`` over the ranges.
- ``halving``: ``HalvingRandomSearchCV(factor=3, resource="n_samples", min_resources="exhaust",
  random_state=seed, return_train_score=False)`` (the others score no training folds either)
  over the same distributions, ``n_candidates`` the largest count up to
  3 x budget whose last rung still runs on (nearly) all rows: with more, sklearn runs out of
  rungs above its smallest first rung (folds x 2 x classes rows) and ends on part of the data,
  whose scores are not full-CV scores. That is 26 on digits (26@199 -> 9@597 -> 3@1791 rows) and
  80 on the other two (80@21 -> 27@63 -> 9@189 -> 3@567 on breast_cancer, 80@16 -> ... ->
  3@432 on diabetes): 3 full-data candidates, a fraction of the others' fits (the "fits"
  column); halving is built to spend less. Its schedule is printed under the task's table.
- ``optuna``: ``optuna_integration.OptunaSearchCV(n_trials=budget, random_state=seed)``, its
  defaults otherwise (TPE seeded with ``seed``, no pruning), Optuna distributions.
- ``hpo``: ``hpo.HPOSearchCV(estimator, space, n_trials=budget, scoring=..., cv=..., seed=seed,
  tracking=None)``, nothing else: its default searcher and pruner; ``space`` in
  ``hpo.Float`` / ``hpo.Int``.

The budget is the grid's size (25, 36, 49 candidates; ``--trials`` overrides it for the random,
Optuna and hpo sides, and halving's cap becomes 3x it).

Measures, per task and side over seeds 0..4:

- Time to target: seconds from the start of ``fit`` until the first candidate whose mean CV score
  is >= target = (the best full-CV score any side found on the task in any seed) - 0.002. Each
  candidate's time is the moment its score became known. For the scikit-learn sides, the scorer is
  wrapped to record ``time.perf_counter()`` and the score after each fold; with ``n_jobs=1``
  sklearn runs candidates one after another, each candidate's folds in a row, so consecutive runs
  of 5 folds are the candidates in ``cv_results_`` order (checked against ``mean_test_score``);
  a candidate's time is its last fold's. For halving only the candidates of its last rung (the
  full rows, within the rounding of ``n_samples`` shown in its schedule) count as reaching the
  target, and only they enter the reference best score: a score on a third of the rows is not a
  full-CV score. For ``OptunaSearchCV`` a study callback records the time and value of each trial
  as it finishes; for ``HPOSearchCV`` its study's complete trials give ``value`` and
  ``datetime_complete`` (pruned trials have no full-CV score and never count). A side that does
  not reach the target in a seed counts the wall time of its whole ``fit`` for that seed and is
  flagged ("n never"); in the target, a side that missed it in most seeds cannot be the fastest
  (the median is then one of full-run times). The refit on the whole data after the search is
  never part of the time to target (it comes after every candidate); it is part of "fit s".
- Final best: ``best_score_``.
- Fit s: wall time of the whole ``fit`` (search and refit).

Each table gives per side the median time to target, how many seeds never reached it, the median
(min..max) final best score, the median fit time, the candidates with a full-CV score and the
fold fits done (medians), and "hpo / this" (ratio of the median times to target: below 1 means
hpo is faster). Studies run in ``--jobs`` spawned worker processes, longest tasks first, all
sides' seeds interleaved.

Usage: python benchmarks/searchcv.py [--seeds 5 --jobs 2 --trials N
       --tasks svc_digits,hgb_breast_cancer,elasticnet_diabetes[,hgb_20k]
       --sides grid,random,halving,optuna,hpo]
"""

from __future__ import annotations

import argparse
import datetime
import logging
import math
import multiprocessing
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIDES = ("grid", "random", "halving", "optuna", "hpo")
#: The tasks of the target (``hgb_20k`` is optional).
TARGET_TASKS = ("svc_digits", "hgb_breast_cancer", "elasticnet_diabetes")
TOLERANCE = 0.002
N_SPLITS = 5


@dataclass(frozen=True)
class Param:
    """One searched parameter: ``float`` or ``int`` in ``[low, high]``, log-scaled with ``log``."""

    kind: str
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Task:
    """An estimator, its data and its spaces.

    Attributes:
        name: A short label for tables.
        data: ``"digits"``, ``"breast_cancer"``, ``"diabetes"`` or ``"20k"``.
        classification: Stratified folds and accuracy, else plain folds and r2.
        grid: ``GridSearchCV``'s ``param_grid``.
        space: The ranges the other sides search, covering the grid.
    """

    name: str
    data: str
    classification: bool
    grid: dict[str, list[Any]]
    space: dict[str, Param]

    @property
    def scoring(self) -> str:
        return "accuracy" if self.classification else "r2"

    @property
    def budget(self) -> int:
        """The grid's size: the candidates of every other side (but halving)."""
        return math.prod(len(v) for v in self.grid.values())


HGB_GRID = {"learning_rate": [0.01, 0.03, 0.1, 0.3], "max_leaf_nodes": [7, 15, 31], "min_samples_leaf": [5, 10, 20]}
HGB_SPACE = {
    "learning_rate": Param("float", 0.01, 0.3, log=True),
    "max_leaf_nodes": Param("int", 7, 31),
    "min_samples_leaf": Param("int", 5, 20),
}
TASKS = {
    "svc_digits": Task(
        "svc_digits",
        "digits",
        True,
        {"C": [0.1, 1.0, 10.0, 100.0, 1000.0], "gamma": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]},
        {"C": Param("float", 0.1, 1000.0, log=True), "gamma": Param("float", 1e-4, 1e-2, log=True)},
    ),
    "hgb_breast_cancer": Task("hgb_breast_cancer", "breast_cancer", True, HGB_GRID, HGB_SPACE),
    "elasticnet_diabetes": Task(
        "elasticnet_diabetes",
        "diabetes",
        False,
        {
            "model__alpha": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
            "model__l1_ratio": [0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0],
        },
        {"model__alpha": Param("float", 0.01, 10.0, log=True), "model__l1_ratio": Param("float", 0.1, 1.0)},
    ),
    "hgb_20k": Task("hgb_20k", "20k", True, HGB_GRID, HGB_SPACE),
}


@cache
def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "20k":
        return datasets.make_classification(20_000, 20, n_informative=10, random_state=0)
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def _estimator(task: Task) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import ElasticNet
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler
    from sklearn.svm import SVC

    if task.data == "digits":
        return SVC()
    if task.data == "diabetes":
        return Pipeline(
            [("scale", StandardScaler()), ("poly", PolynomialFeatures(2, include_bias=False)), ("model", ElasticNet())]
        )
    return HistGradientBoostingClassifier(random_state=0)


def _splitter(task: Task) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    kind = StratifiedKFold if task.classification else KFold
    return kind(N_SPLITS, shuffle=True, random_state=0)


# -- the spaces in each side's terms ----------------------------------------------------------


def _scipy(p: Param) -> Any:
    from scipy import stats

    if p.kind == "int":
        return stats.randint(int(p.low), int(p.high) + 1)
    return stats.loguniform(p.low, p.high) if p.log else stats.uniform(p.low, p.high - p.low)


def _optuna(p: Param) -> Any:
    from optuna.distributions import FloatDistribution, IntDistribution

    if p.kind == "int":
        return IntDistribution(int(p.low), int(p.high), log=p.log)
    return FloatDistribution(p.low, p.high, log=p.log)


def _hpo(p: Param) -> Any:
    import hpo

    return hpo.Int(int(p.low), int(p.high), log=p.log) if p.kind == "int" else hpo.Float(p.low, p.high, log=p.log)


def halving_candidates(task: Task, n_rows: int, budget: int) -> int:
    """Halving's ``n_candidates``: ``3 * budget``, or the largest count below it whose last rung
    still runs on (nearly) all rows.

    This follows sklearn's schedule for ``min_resources="exhaust"``, ``factor=3``: ``k = 1 +
    floor(log3(n))`` rungs are needed, the first on ``max(smallest, rows // 3**(k - 1))`` rows
    (``smallest`` = folds x 2, x classes for a classifier), and only ``1 + floor(log3(rows //
    first))`` fit below the row count; with fewer, the last rung stops short of the full rows.
    """
    smallest = N_SPLITS * 2 * (len(np.unique(_data(task.data)[1])) if task.classification else 1)

    def reaches(n: int) -> bool:
        needed = 1 + math.floor(math.log(n, 3) + 1e-9)
        first = max(smallest, n_rows // 3 ** (needed - 1))
        return 1 + math.floor(math.log(n_rows // first, 3) + 1e-9) >= needed

    n = 3 * budget
    while n > 1 and not reaches(n):
        n -= 1
    return n


# -- the sides --------------------------------------------------------------------------------


class TimedScorer:
    """A scorer that records ``(time.perf_counter(), score)`` after each call (one fold)."""

    def __init__(self, scoring: str) -> None:
        from sklearn.metrics import get_scorer

        self.base = get_scorer(scoring)
        self.log: list[tuple[float, float]] = []

    def __call__(self, estimator: Any, X: Any, y: Any, **kwargs: Any) -> float:
        score = self.base(estimator, X, y, **kwargs)
        self.log.append((time.perf_counter(), float(score)))
        return score


@dataclass
class Outcome:
    """One side's search of one task with one seed.

    Attributes:
        events: ``(seconds since fit started, mean CV score)`` of every candidate with a full-CV
            score, in the order the scores became known.
        best: ``best_score_``.
        seconds: Wall time of the whole ``fit`` (search and refit).
        fits: Fold fits done (pruned folds included, the refit not).
        schedule: Halving's rungs (``candidates@rows``), else empty.
    """

    events: list[tuple[float, float]]
    best: float
    seconds: float
    fits: int
    schedule: str = ""


def _sklearn_events(scorer: TimedScorer, results: dict[str, Any], start: float) -> list[tuple[float, float, int]]:
    """``(seconds, mean score, row of cv_results_)`` per candidate, from the scorer's fold log."""
    log = scorer.log
    assert len(log) == N_SPLITS * len(results["params"]), (len(log), len(results["params"]))
    events = []
    for row in range(len(results["params"])):
        folds = log[row * N_SPLITS : (row + 1) * N_SPLITS]
        mean = float(np.mean([s for _, s in folds]))
        # The grouping is right only if sklearn ran candidates one after another: check it.
        assert abs(mean - results["mean_test_score"][row]) < 1e-9, (row, mean, results["mean_test_score"][row])
        events.append((folds[-1][0] - start, mean, row))
    return events


def run_sklearn(task: Task, side: str, seed: int, trials: int) -> Outcome:
    """GridSearchCV, RandomizedSearchCV or HalvingRandomSearchCV, timed through the scorer."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import GridSearchCV, HalvingRandomSearchCV, RandomizedSearchCV

    X, y = _data(task.data)
    scorer = TimedScorer(task.scoring)
    common: dict[str, Any] = {"scoring": scorer, "cv": _splitter(task), "n_jobs": 1, "refit": True}
    distributions = {n: _scipy(p) for n, p in task.space.items()}
    if side == "grid":
        search: Any = GridSearchCV(_estimator(task), task.grid, **common)
    elif side == "random":
        search = RandomizedSearchCV(_estimator(task), distributions, n_iter=trials, random_state=seed, **common)
    else:
        search = HalvingRandomSearchCV(
            _estimator(task),
            distributions,
            n_candidates=halving_candidates(task, len(y), trials),
            factor=3,
            resource="n_samples",
            min_resources="exhaust",
            random_state=seed,
            return_train_score=False,  # its default True would score every fold twice
            **common,
        )
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    events = _sklearn_events(scorer, search.cv_results_, start)
    schedule = ""
    if side == "halving":
        # Only the last rung's candidates have (nearly) full-data CV scores.
        last = search.n_iterations_ - 1
        events = [e for e in events if search.cv_results_["iter"][e[2]] == last]
        schedule = " -> ".join(f"{c}@{r}" for c, r in zip(search.n_candidates_, search.n_resources_))
    return Outcome([(t, s) for t, s, _ in events], float(search.best_score_), seconds, len(scorer.log), schedule)


def run_optuna(task: Task, seed: int, trials: int) -> Outcome:
    """OptunaSearchCV with its defaults; a study callback records each trial's end."""
    import optuna
    from optuna_integration import OptunaSearchCV

    X, y = _data(task.data)
    events: list[tuple[float, float]] = []
    start = 0.0

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            events.append((time.perf_counter() - start, float(trial.value)))

    search = OptunaSearchCV(
        _estimator(task),
        {n: _optuna(p) for n, p in task.space.items()},
        cv=_splitter(task),
        n_jobs=1,
        n_trials=trials,
        random_state=seed,
        refit=True,
        scoring=task.scoring,
        callbacks=[record],
    )
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    return Outcome(events, float(search.best_score_), seconds, trials * N_SPLITS)


def run_hpo(task: Task, seed: int, trials: int) -> Outcome:
    """HPOSearchCV with its defaults; its study's complete trials give the times and scores."""
    import optuna

    from hpo import HPOSearchCV

    X, y = _data(task.data)
    search = HPOSearchCV(
        _estimator(task),
        {n: _hpo(p) for n, p in task.space.items()},
        n_trials=trials,
        scoring=task.scoring,
        cv=_splitter(task),
        seed=seed,
        tracking=None,
    )
    # Optuna stamps datetime_complete with the naive local datetime.now(): take the start on the
    # same clock.
    wall_start = datetime.datetime.now()
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    trials_ = search.study_.trials
    complete = [t for t in trials_ if t.state == optuna.trial.TrialState.COMPLETE]
    complete.sort(key=lambda t: t.datetime_complete)
    events = [((t.datetime_complete - wall_start).total_seconds(), float(t.value)) for t in complete]
    # A pruned trial ran the folds it reported; a complete one all of them.
    fits = sum(N_SPLITS if t.state == optuna.trial.TrialState.COMPLETE else len(t.intermediate_values) for t in trials_)
    return Outcome(events, float(search.best_score_), seconds, fits)


def run(job: tuple[str, str, int, int]) -> Outcome:
    """One side's search of one task and seed, in a worker process with one thread."""
    name, side, seed, trials = job
    _quiet()
    task = TASKS[name]
    _data(task.data)  # loaded before any clock starts
    with threadpool_limits(1):
        if side in ("grid", "random", "halving"):
            outcome = run_sklearn(task, side, seed, trials)
        elif side == "optuna":
            outcome = run_optuna(task, seed, trials)
        else:
            outcome = run_hpo(task, seed, trials)
    # Every candidate's time inside the fit, and the best of them the side's own best_score_:
    # the clocks and the grouping read the same search the side reports.
    assert outcome.events and all(0 <= t <= outcome.seconds for t, _ in outcome.events), job
    assert abs(max(s for _, s in outcome.events) - outcome.best) < 1e-9, (job, outcome.best)
    return outcome


def _quiet() -> None:
    # ElasticNet's ConvergenceWarning at small alpha, Optuna's ExperimentalWarning, ...
    warnings.filterwarnings("ignore")
    logging.getLogger("hpo").setLevel(logging.ERROR)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


# -- the report -------------------------------------------------------------------------------


def time_to(outcome: Outcome, target: float) -> float | None:
    """Seconds until the first candidate scoring >= target, or ``None`` if none does."""
    for seconds, score in outcome.events:
        if score >= target - 1e-12:
            return seconds
    return None


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def report(
    name: str, sides: list[str], seeds: int, trials: int, outcomes: dict[tuple[str, int], Outcome]
) -> dict[str, tuple[float, float, bool]]:
    """Print the task's table; return ``{side: (median time to target, median final best, whether
    most seeds never reached the target)}``.

    Args:
        name: The task.
        sides: The sides run, in table order.
        seeds: Seeds 0 .. seeds - 1 were run.
        trials: The random, Optuna and hpo sides' candidates.
        outcomes: ``{(side, seed): Outcome}``.
    """
    reference = max(score for o in outcomes.values() for _, score in o.events)
    target = reference - TOLERANCE
    task = TASKS[name]
    print(
        f"\n{name} ({task.scoring}; grid {task.budget} points, budget {trials}; "
        f"seeds 0..{seeds - 1}): best full-CV score of any side {reference:.5f}, target >= {target:.5f}"
    )
    header = ["side", "to target s", "never", "final best median (min..max)", "fit s", "full-CV cands", "fits"]
    header.append("hpo / this")
    medians: dict[str, tuple[float, float, bool]] = {}
    rows = []
    for side in sides:
        runs = [outcomes[side, s] for s in range(seeds)]
        reached = [time_to(o, target) for o in runs]
        times = [t if t is not None else o.seconds for t, o in zip(reached, runs)]
        bests = [o.best for o in runs]
        never = sum(t is None for t in reached)
        medians[side] = (statistics.median(times), statistics.median(bests), never > seeds // 2)
        rows.append(
            [
                side,
                f"{medians[side][0]:.2f}",
                f"{never}" if never else "",
                f"{medians[side][1]:.5f} ({min(bests):.5f}..{max(bests):.5f})",
                f"{statistics.median(o.seconds for o in runs):.2f}",
                f"{statistics.median(len(o.events) for o in runs):g}",
                f"{statistics.median(o.fits for o in runs):g}",
                "",
            ]
        )
    if "hpo" in sides:
        for row in rows:
            row[-1] = f"{_ratio(medians['hpo'][0], medians[row[0]][0]):.2f}"
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        print("  " + "  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(row, widths))))
    if "halving" in sides:
        schedules = sorted({outcomes["halving", s].schedule for s in range(seeds)})
        print(f"  halving rungs (candidates@rows of {len(_data(task.data)[1])}): {'; '.join(schedules)}")
    return medians


def target(
    medians: dict[str, dict[str, tuple[float, float, bool]]], args: argparse.Namespace, tasks: list[str]
) -> None:
    """Print the TARGET line."""
    if args.seeds != 5 or args.trials is not None or set(tasks) != set(TARGET_TASKS) or set(args.sides) != set(SIDES):
        print(
            "TARGET not evaluated: it needs 5 seeds, the default budget, the tasks "
            + ", ".join(TARGET_TASKS)
            + " and every side"
        )
        return
    others = [s for s in SIDES if s != "hpo"]
    # A side that missed the target in most seeds has a median of full-run times, not of times to
    # the target: it cannot be the fastest (its time counts as infinite here).
    speed = {n: {s: math.inf if medians[n][s][2] else medians[n][s][0] for s in SIDES} for n in tasks}
    fastest = {n: min(others, key=lambda s: speed[n][s]) for n in tasks}
    # hpo missing the target fails; hpo alone reaching it is the fastest (0).
    ratio = {n: math.inf if speed[n]["hpo"] == math.inf else speed[n]["hpo"] / speed[n][fastest[n]] for n in tasks}
    best_other = {n: max(others, key=lambda s: medians[n][s][1]) for n in tasks}
    # Scores are means of fold scores: equal candidates may differ in the last bit.
    margin = {n: round(medians[n]["hpo"][1] - medians[n][best_other[n]][1], 12) for n in tasks}
    ok = (
        sum(r <= 1.0 for r in ratio.values()) >= 2
        and all(r <= 1.2 for r in ratio.values())
        and all(m >= 0 for m in margin.values())
    )

    def speed_text(n: str) -> str:
        if speed[n][fastest[n]] == math.inf:
            return f"{n} {'-' if ratio[n] == math.inf else '0'} (no other side reached it in most seeds)"
        return f"{n} {ratio[n]:.2f} ({fastest[n]})"

    print(
        f"TARGET {'PASS' if ok else 'FAIL'}: median time to target hpo / fastest other: "
        + ", ".join(speed_text(n) for n in tasks)
        + "; median final best hpo - best other median: "
        + ", ".join(f"{n} {margin[n] + 0.0:+.2g} ({best_other[n]})" for n in tasks)
        + " (needs at least two first <= 1.00, every first <= 1.20, every second >= 0)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--trials", type=int, default=None, help="candidates of random/optuna/hpo (default: grid size)")
    parser.add_argument("--tasks", default=",".join(TARGET_TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    parser.add_argument("--sides", default=",".join(SIDES), help="comma-separated subset")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes running searches")
    args = parser.parse_args()
    tasks, args.sides = args.tasks.split(","), args.sides.split(",")
    for value, allowed in ((tasks, tuple(TASKS)), (args.sides, SIDES)):
        unknown = set(value) - set(allowed)
        if unknown:
            parser.error(f"unknown {', '.join(sorted(unknown))}; expected some of {', '.join(allowed)}")
    if min(args.seeds, args.jobs, args.trials or 1) < 1:
        parser.error("--seeds, --jobs and --trials must be positive")

    # Longest tasks first, so the pool does not end on one of them; sides and seeds interleaved so
    # load drifts (the machine is shared) hit every side alike.
    cost = {"hgb_20k": 0, "hgb_breast_cancer": 1, "svc_digits": 2, "elasticnet_diabetes": 3}
    order = sorted(tasks, key=cost.__getitem__)
    jobs = [
        (n, side, s, args.trials or TASKS[n].budget) for n in order for s in range(args.seeds) for side in args.sides
    ]
    # Every library that starts a thread pool at import starts it with one thread in the workers.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = dict(zip(jobs, pool.map(run, jobs)))

    medians = {}
    for name in tasks:
        outcomes = {
            (side, s): done[name, side, s, args.trials or TASKS[name].budget]
            for side in args.sides
            for s in range(args.seeds)
        }
        medians[name] = report(name, args.sides, args.seeds, args.trials or TASKS[name].budget, outcomes)
    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s ({args.jobs} job(s))")
    target(medians, args, tasks)


if __name__ == "__main__":
    main()
