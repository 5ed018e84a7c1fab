"""Multi-objective search quality: hpo's default searcher against Optuna's and random search.

Target (issue 16): on every problem, hpo's default multi-objective searcher reaches a median
hypervolume (seeds 0..9, 200 trials) no smaller than every other method's, and at least 5%
larger than Optuna's default for several objectives (NSGA-II) on at least two problems.

Hypervolume is computed by ``optuna._hypervolume.compute_hypervolume`` on a study's complete
trials, against a fixed reference point per problem; maximized objectives are negated (and their
reference coordinate with them), and points outside the reference box are dropped (they dominate
nothing in it). Problems:

- ``zdt1``, ``zdt2``: ZDT1 (convex front) and ZDT2 (concave front), the standard 30 variables in
  [0, 1], both objectives minimized. Reference point (1.1, 11), not the usual (1.1, 1.1): at 200
  trials no method is near the true front (``g`` near 1); random search's front lies around
  f2 = 2..6 and its hypervolume against (1.1, 1.1) is 0 in every seed, so that reference would
  score only who happened to cross a tight box. f1 <= 1 and f2 <= g <= 10 everywhere in the box,
  so (1.1, 11) is 1.1 times the largest value each objective can take: no trial is ever dropped.
  The ideal hypervolume (the true front) is 11.767 for ZDT1 and 11.433 for ZDT2; random search's
  median is about 8.6 and 7.4.
- ``dtlz2``: DTLZ2 with 3 objectives and 12 variables (k = 10), minimized. Reference point
  (2, 2, 2). Against the usual (1.1, 1.1, 1.1) random search's median hypervolume at 200 trials
  is 0.06 of the ideal 0.81 (0.015 in its worst seed: a handful of points inside the box decide
  it); the rule used for ZDT (1.1 times the largest value, 1 + g <= 3.5, so 3.85) leaves every
  method within 4% of the ideal (random 54.1 of 56.55), measuring nothing. Against (2, 2, 2)
  most of random search's 200-trial front lies inside the box (the front's largest coordinates
  are about 1.9, median over seeds) and its median hypervolume is 5.5 of the ideal 7.48
  (8 - pi / 6), as on ZDT.
- ``rf_digits``: a real task, scikit-learn's ``RandomForestClassifier`` on the bundled digits
  (1797 images, 10 classes); ``n_estimators`` 1..100 (log), ``max_depth`` 1..20,
  ``max_features`` 0.05..1. Objectives: accuracy of 3-fold stratified cross-validation
  (maximize; the same shuffled folds for every trial, ``random_state=0`` for the forest) and the
  fit time, the mean over the folds of the measured seconds of ``fit`` (minimize). Measured, so
  noisy: every study of every method runs in a worker process with one BLAS/OpenMP thread (the
  forest with ``n_jobs=1``), ``--jobs`` of them at once. Reference point (accuracy 0.8, fit time
  0.5 s), from random search only, chosen before any other method ran: below 0.8 a forest is of
  no use on digits (the default forest reaches 0.97), and no configuration worth having takes
  longer (the slowest in the space, 100 fully grown trees on all features, takes about 0.8 s on
  the machine this was written on; the default 100 trees about 0.2 s). Its hypervolume is in
  accuracy x seconds and depends on the machine; the noise of the fit times alone moves it by up
  to about 1% (the same 10 configurations, run by each method's first trials, gave 0.0725 to
  0.0730). It runs a smaller budget than the functions
  (``--sklearn-trials 100 --sklearn-seeds 5`` by default: a trial is ~0.3 s of fitting, and the
  whole benchmark is meant to finish in under 15 minutes on 2 cores); the target reads it at that
  budget.

Methods:

- ``hpo``: ``hpo.tune(objectives={...})`` with hpo's default searcher for several objectives
  (no ``searcher`` passed), ``pruner="none"``, ``tracking=None``.
- ``hpo_nsga2``: the same with ``searcher="nsga2"``, for reference (not part of the target).
- ``optuna_nsga2``: ``optuna.samplers.NSGAIISampler(seed=seed)``, Optuna's default sampler for a
  study with several objectives, driven by ``study.optimize``.
- ``optuna_motpe``: ``optuna.samplers.TPESampler(seed=seed)`` on a multi-objective study (MOTPE)
  as it comes.
- ``random``: ``optuna.samplers.RandomSampler(seed=seed)``.

Each table gives per method the median hypervolume at 50, 100 and the full budget, the mean at
the budget, "hpo / this" (the ratio of the medians at the budget: above 1 means hpo is better),
the median number of Pareto-optimal trials, and the mean seconds per study, all of it and outside
the objective (the searcher and the loop).

Usage: python benchmarks/multi_objective.py [--trials 200 --seeds 10 --jobs 2
       --sklearn-trials 100 --sklearn-seeds 5 --problems zdt1,zdt2,dtlz2,rf_digits
       --methods hpo,hpo_nsga2,optuna_nsga2,optuna_motpe,random]
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
from optuna._hypervolume import compute_hypervolume
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_validate
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import hpo  # noqa: E402

#: Other options for hpo's multi-objective TPE (``--methods hpo_tpe_<variant>``): the approaches
#: tried for its defaults (docs/benchmarks.md).
VARIANTS: dict[str, dict[str, Any]] = {
    "c48": {"n_ei_candidates": 48},
    "c128": {"n_ei_candidates": 128},
    "multivariate": {"multivariate": True},
    "prior2": {"prior_weight": 2.0},
}
METHODS = ("hpo", "hpo_nsga2", "optuna_nsga2", "optuna_motpe", "random")
#: The methods the target compares hpo with (``hpo_nsga2`` is for reference only).
RIVALS = ("optuna_nsga2", "optuna_motpe", "random")
Direction = Literal["minimize", "maximize"]


@dataclass(frozen=True)
class Param:
    """One parameter: a float (or an integer with ``integer``) in ``[low, high]``."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclass(frozen=True)
class Problem:
    """Objectives over a box.

    Attributes:
        name: A short label for tables.
        space: ``{param name: Param}``.
        objectives: ``{objective name: "minimize" | "maximize"}``, in the order ``evaluate``
            returns them.
        evaluate: The objectives' values at a params dict.
        reference: The hypervolume's reference point, in the objectives' own units and signs.
        ideal: The hypervolume of the true Pareto front, or ``None`` where it is not known.
    """

    name: str
    space: dict[str, Param]
    objectives: dict[str, Direction]
    evaluate: Callable[[Mapping[str, float]], tuple[float, ...]]
    reference: tuple[float, ...]
    ideal: float | None

    @property
    def directions(self) -> list[Direction]:
        return list(self.objectives.values())


# -- the functions ----------------------------------------------------------------------------


def _vector(params: Mapping[str, float], dim: int) -> np.ndarray:
    return np.array([params[f"x{i}"] for i in range(dim)])


def zdt(params: Mapping[str, float], *, concave: bool, dim: int = 30) -> tuple[float, float]:
    """ZDT1 (``concave=False``: f2 = g (1 - sqrt(f1 / g))) or ZDT2 (f2 = g (1 - (f1 / g)^2))."""
    x = _vector(params, dim)
    f1 = float(x[0])
    g = 1.0 + 9.0 * float(x[1:].mean())
    ratio = f1 / g
    return f1, g * (1.0 - (ratio**2 if concave else math.sqrt(ratio)))


def dtlz2(params: Mapping[str, float], dim: int = 12) -> tuple[float, float, float]:
    """DTLZ2 with 3 objectives: the front is the positive octant of the unit sphere (g = 0)."""
    x = _vector(params, dim)
    radius = 1.0 + float(((x[2:] - 0.5) ** 2).sum())
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return radius * math.cos(a) * math.cos(b), radius * math.cos(a) * math.sin(b), radius * math.sin(a)


def _zdt1(params: Mapping[str, float]) -> tuple[float, float]:
    return zdt(params, concave=False)


def _zdt2(params: Mapping[str, float]) -> tuple[float, float]:
    return zdt(params, concave=True)


# -- the real task ----------------------------------------------------------------------------


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    return load_digits(return_X_y=True)


def forest_on_digits(params: Mapping[str, float]) -> tuple[float, float]:
    """(3-fold stratified cross-validation accuracy, mean measured ``fit`` seconds over the folds)
    of a random forest on digits."""
    model = RandomForestClassifier(
        n_estimators=int(params["n_estimators"]),
        max_depth=int(params["max_depth"]),
        max_features=float(params["max_features"]),
        n_jobs=1,
        random_state=0,
    )
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_validate(model, *_digits(), cv=cv, n_jobs=1)
    return float(scores["test_score"].mean()), float(scores["fit_time"].mean())


UNIT = {f"x{i}": Param(0.0, 1.0) for i in range(30)}
PROBLEMS = {
    "zdt1": Problem("zdt1", UNIT, {"f1": "minimize", "f2": "minimize"}, _zdt1, (1.1, 11.0), 11.0 - 1 + 2 / 3 + 1.1),
    "zdt2": Problem("zdt2", UNIT, {"f1": "minimize", "f2": "minimize"}, _zdt2, (1.1, 11.0), 11.0 - 1 + 1 / 3 + 1.1),
    "dtlz2": Problem(
        "dtlz2",
        {f"x{i}": Param(0.0, 1.0) for i in range(12)},
        {"f1": "minimize", "f2": "minimize", "f3": "minimize"},
        dtlz2,
        (2.0, 2.0, 2.0),
        8.0 - math.pi / 6,
    ),
    "rf_digits": Problem(
        "rf_digits",
        {
            "n_estimators": Param(1, 100, log=True, integer=True),
            "max_depth": Param(1, 20, integer=True),
            "max_features": Param(0.05, 1.0),
        },
        {"accuracy": "maximize", "fit_time": "minimize"},
        forest_on_digits,
        (0.8, 0.5),
        None,
    ),
}
#: Problems whose objective is measured (noisy, slower): run at ``--sklearn-trials/-seeds``.
MEASURED = ("rf_digits",)


def hypervolume(values: np.ndarray, problem: Problem) -> float:
    """The hypervolume of ``values`` (one row per trial) against the problem's reference point;
    rows outside the reference box are dropped."""
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in problem.directions])
    reference = np.array(problem.reference) * sign
    if len(values) == 0:
        return 0.0
    losses = np.asarray(values, dtype=float) * sign
    inside = losses[np.all(losses <= reference, axis=1)]
    return float(compute_hypervolume(inside, reference)) if len(inside) else 0.0


def pareto_size(values: np.ndarray, problem: Problem) -> int:
    """How many of ``values`` no other row dominates (duplicates counted once)."""
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in problem.directions])
    losses = np.unique(np.asarray(values, dtype=float) * sign, axis=0)
    dominated = [bool(np.any(np.all(losses <= row, axis=1) & np.any(losses < row, axis=1))) for row in losses]
    return len(losses) - sum(dominated)


# -- the methods ------------------------------------------------------------------------------


class Recorder:
    """The problem's objectives, timing every evaluation."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, params: Mapping[str, float]) -> tuple[float, ...]:
        t0 = time.perf_counter()
        values = self.problem.evaluate(params)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return values


def _hpo_domain(p: Param) -> hpo.Domain:
    if p.integer:
        return hpo.Int(int(p.low), int(p.high), log=p.log)
    return hpo.Float(p.low, p.high, log=p.log)


def run_hpo(problem: Problem, method: str, seed: int, trials: int, evaluate: Recorder) -> optuna.Study:
    """One ``hpo.tune`` study with several objectives; its Optuna study."""
    options: dict[str, Any] = {"searcher": "nsga2"} if method == "hpo_nsga2" else {}  # hpo: its default
    if method.removeprefix("hpo_tpe_") in VARIANTS:
        options = {"searcher": {"name": "tpe", **VARIANTS[method.removeprefix("hpo_tpe_")]}}
    study = hpo.tune(
        evaluate,
        {n: _hpo_domain(p) for n, p in problem.space.items()},
        objectives=dict(problem.objectives),
        n_trials=trials,
        seed=seed,
        tracking=None,
        pruner="none",
        **options,
    )
    return study.optuna_study


def run_optuna(problem: Problem, method: str, seed: int, trials: int, evaluate: Recorder) -> optuna.Study:
    """One Optuna study with several objectives, driven by ``study.optimize``."""
    samplers: dict[str, Callable[[], optuna.samplers.BaseSampler]] = {
        "optuna_nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed),
        "optuna_motpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }

    def objective(trial: optuna.Trial) -> tuple[float, ...]:
        params: dict[str, float] = {}
        for n, p in problem.space.items():
            if p.integer:
                params[n] = trial.suggest_int(n, int(p.low), int(p.high), log=p.log)
            else:
                params[n] = trial.suggest_float(n, p.low, p.high, log=p.log)
        return evaluate(params)

    study = optuna.create_study(directions=problem.directions, sampler=samplers[method]())
    study.optimize(objective, n_trials=trials)
    return study


def run(task: tuple[str, str, int, int]) -> tuple[list[tuple[float, ...]], float, float]:
    """The values of one study's trials in trial order (all complete), its wall time and the time
    its objective took, in seconds."""
    method, name, seed, trials = task
    _quiet()
    problem = PROBLEMS[name]
    evaluate = Recorder(problem)
    # One BLAS/OpenMP thread: the measured fit times are then those of one core, whatever else runs.
    with threadpool_limits(1):
        t0 = time.perf_counter()
        runner = run_hpo if method.startswith("hpo") else run_optuna
        study = runner(problem, method, seed, trials, evaluate)
        seconds = time.perf_counter() - t0
    # Every trial complete, so the first c values are the study's state after c trials.
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == len(study.trials) == evaluate.calls == trials, (task, len(complete), evaluate.calls)
    return [tuple(t.values) for t in sorted(complete, key=lambda t: t.number)], seconds, evaluate.seconds


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("hpo").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def _budget(name: str, args: argparse.Namespace) -> tuple[int, int]:
    """(trials, seeds) of the problem's studies."""
    return (args.sklearn_trials, args.sklearn_seeds) if name in MEASURED else (args.trials, args.seeds)


def _check() -> None:
    """The functions' true fronts where they are said to be: a point with g = 0 (ZDT: x1.. = 0,
    DTLZ2: x2.. = 0.5) lies on the front."""
    for f1 in (0.0, 0.25, 1.0):
        point = {"x0": f1, **{f"x{i}": 0.0 for i in range(1, 30)}}
        assert np.allclose(_zdt1(point), (f1, 1 - math.sqrt(f1))) and np.allclose(_zdt2(point), (f1, 1 - f1**2))
    point = {"x0": 0.3, "x1": 0.7, **{f"x{i}": 0.5 for i in range(2, 12)}}
    assert abs(np.linalg.norm(dtlz2(point)) - 1.0) < 1e-12
    # A dense sample of each true ZDT front has (nearly) the ideal hypervolume.
    x = np.linspace(0, 1, 20_001)
    for name, y in (("zdt1", 1 - np.sqrt(x)), ("zdt2", 1 - x**2)):
        ideal = PROBLEMS[name].ideal
        assert ideal is not None and abs(hypervolume(np.stack([x, y], axis=1), PROBLEMS[name]) - ideal) < 1e-3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per study of the functions")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. SEEDS-1 of the functions")
    parser.add_argument("--sklearn-trials", type=int, default=100, help="trials per study of the real task")
    parser.add_argument("--sklearn-seeds", type=int, default=5, help="seeds of the real task")
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated subset")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes running studies")
    args = parser.parse_args()
    problems, methods = args.problems.split(","), args.methods.split(",")
    known = METHODS + tuple(f"hpo_tpe_{v}" for v in VARIANTS)
    for value, allowed in ((problems, tuple(PROBLEMS)), (methods, known)):
        unknown = set(value) - set(allowed)
        if unknown:
            parser.error(f"unknown {', '.join(sorted(unknown))}; expected some of {', '.join(allowed)}")
    if min(args.trials, args.seeds, args.sklearn_trials, args.sklearn_seeds, args.jobs) < 1:
        parser.error("--trials, --seeds, --sklearn-trials, --sklearn-seeds and --jobs must be positive")
    _check()
    _quiet()

    # The real task first: its studies are the longest, so the pool does not end on one of them.
    order = sorted(problems, key=lambda n: n not in MEASURED)
    tasks = [(m, n, s, _budget(n, args)[0]) for n in order for m in methods for s in range(_budget(n, args)[1])]
    start = time.perf_counter()
    # Studies in spawned worker processes, --jobs at a time; the environment makes every library
    # that starts a thread pool at import start it with one thread.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = dict(zip(tasks, pool.map(run, tasks)))

    medians: dict[tuple[str, str], float] = {}
    for name in problems:
        problem = PROBLEMS[name]
        trials, seeds = _budget(name, args)
        checkpoints = [c for c in (50, 100) if c < trials] + [trials]
        ideal = f"; ideal {problem.ideal:.4g}" if problem.ideal is not None else ""
        goals = ", ".join(f"{o} {d[:3]}" for o, d in problem.objectives.items())
        print(
            f"\n{name} ({len(problem.space)} params; {goals}; reference point {problem.reference}{ideal}), "
            f"{trials} trials, seeds 0..{seeds - 1}; hypervolume of the complete trials"
        )
        header = [
            *(f"median@{c}" for c in checkpoints),
            f"mean@{trials}",
            "hpo / this",
            "pareto",
            "s/study",
            "outside objective",
        ]
        rows = []
        for m in methods:
            runs = [done[m, name, s, trials] for s in range(seeds)]
            at = {c: [hypervolume(np.array(values[:c]), problem) for values, _, _ in runs] for c in checkpoints}
            medians[name, m] = statistics.median(at[trials])
            rows.append(
                [
                    m,
                    *(f"{statistics.median(at[c]):.4g}" for c in checkpoints),
                    f"{statistics.mean(at[trials]):.4g}",
                    "",
                    f"{statistics.median(pareto_size(np.array(values), problem) for values, _, _ in runs):g}",
                    f"{statistics.mean(wall for _, wall, _ in runs):.2f}",
                    f"{statistics.mean(wall - inside for _, wall, inside in runs):.2f}",
                ]
            )
        if "hpo" in methods:
            for row in rows:
                row[len(checkpoints) + 2] = f"{_ratio(medians[name, 'hpo'], medians[name, row[0]]):.3f}"
        table = [["method", *header], *rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        for row in table:
            print("  " + "  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(row, widths))))

    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s ({args.jobs} job(s))")
    _target(medians, problems, methods, args)


def _ratio(a: float, b: float) -> float:
    """``a / b``, with 0 / 0 = 1."""
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def _target(
    medians: dict[tuple[str, str], float], problems: list[str], methods: list[str], args: argparse.Namespace
) -> None:
    needed = ("hpo", *RIVALS)
    if args.trials != 200 or args.seeds != 10 or set(problems) != set(PROBLEMS) or not set(needed) <= set(methods):
        print("TARGET not evaluated: it needs 200 trials, 10 seeds, every problem and the methods " + ", ".join(needed))
        return
    best_other = {n: max(RIVALS, key=lambda m: medians[n, m]) for n in problems}
    versus_best = {n: _ratio(medians[n, "hpo"], medians[n, best_other[n]]) for n in problems}
    versus_nsga2 = {n: _ratio(medians[n, "hpo"], medians[n, "optuna_nsga2"]) for n in problems}
    ok = all(r >= 1.0 for r in versus_best.values()) and sum(r >= 1.05 for r in versus_nsga2.values()) >= 2
    print(
        f"TARGET {'PASS' if ok else 'FAIL'}: median hypervolume hpo / best other: "
        + ", ".join(f"{n} {versus_best[n]:.3f} ({best_other[n]})" for n in problems)
        + "; hpo / optuna nsga2: "
        + ", ".join(f"{n} {r:.3f}" for n, r in versus_nsga2.items())
        + " (needs every first >= 1.000 and at least two seconds >= 1.050)"
    )


if __name__ == "__main__":
    main()
