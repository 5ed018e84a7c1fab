"""Search quality of hpo's searchers against Optuna's default TPE and Hyperopt's TPE.

Target: hpo ``tpe`` reaches a median regret no worse than Optuna's default TPE on each of the
three offline functions, and at least 20% lower on at least two of them (100 trials, seeds 0..9).

Method: for each problem and each seed, one study of ``--trials`` trials per method; regret is
the study's best value minus the known minimum. Problems: Branin (2-D), Hartmann6 (6-D) and
Styblinski-Tang (5-D) from benchmarks/_functions.py, over their boxes, and one real task, an
RBF SVC on sklearn's bundled digits with log-uniform ``C`` and ``gamma``, scored by 3-fold
stratified cross-validation; it minimizes the error 1 - accuracy, so its regret is the error of
the best configuration (the best reachable error is not known, only that it is >= 0). The SVC
task is a held-out check: hpo's TPE defaults were never tuned on it, and it is not part of the
target. Methods:

- ``hpo random``, ``hpo tpe``: ``hpo.tune`` with that searcher and hpo's defaults.
- ``hpo grid``: ``hpo.tune`` with ``searcher="grid"`` on ``k`` levels per dimension, the centres
  of ``k`` equal cells (in log space for the SVC), ``k`` the largest with ``k ** dim <= trials``:
  10 x 10 for Branin and the SVC, 2 ** 6 = 64 points for Hartmann6 and 2 ** 5 = 32 for
  Styblinski-Tang at 100 trials. The grid runs each point once, so its study ends after that
  many trials (column "trials"), and as every point runs, its result is the same for every seed.
- ``optuna tpe``: ``optuna.samplers.TPESampler(seed=seed)``, Optuna's defaults, driven by
  ``optuna.create_study().optimize()`` (the anchor of the target).
- ``hyperopt tpe``: ``hyperopt.fmin(algo=tpe.suggest)`` over ``hp.uniform`` (``hp.loguniform``
  for the SVC), ``rstate=np.random.default_rng(seed)``.

Each table gives per method the trials per study, the median and mean regret over the seeds,
"hpo tpe / this" (hpo tpe's median regret over this method's: below 1 means hpo tpe is better)
and the wall time of all its studies.

Usage: python benchmarks/search_quality.py [--trials 100 --seeds 10
       --functions branin,hartmann6,styblinski_tang5,svc_digits --methods hpo_tpe,optuna_tpe,...]
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from hyperopt import Trials, fmin, hp, tpe
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.svm import SVC

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _functions import FUNCTIONS, check  # noqa: E402  (benchmarks/_functions.py)

import hpo  # noqa: E402

OFFLINE = ("branin", "hartmann6", "styblinski_tang5")
METHODS = ("hpo_random", "hpo_tpe", "hpo_grid", "optuna_tpe", "hyperopt_tpe")


@dataclass(frozen=True)
class Problem:
    """A loss to minimize over a box.

    Attributes:
        name: A short label for tables.
        bounds: ``(low, high)`` per parameter name.
        log: Whether every parameter is searched on a log scale.
        loss: The loss of a params dict.
        optimum: The smallest loss (or a lower bound of it), subtracted for the regret.
    """

    name: str
    bounds: dict[str, tuple[float, float]]
    log: bool
    loss: Callable[[Mapping[str, float]], float]
    optimum: float


DIGITS = load_digits(return_X_y=True)


def svc_error(params: Mapping[str, float]) -> float:
    """1 - the 3-fold stratified cross-validation accuracy of an RBF SVC on digits."""
    model = SVC(C=params["C"], gamma=params["gamma"])
    return 1.0 - float(cross_val_score(model, *DIGITS, cv=StratifiedKFold(3)).mean())


PROBLEMS = {
    **{
        name: Problem(name, dict(zip(f.names, f.bounds)), False, f, f.optimum)
        for name, f in ((n, FUNCTIONS[n]) for n in OFFLINE)
    },
    "svc_digits": Problem("svc_digits", {"C": (1e-3, 1e3), "gamma": (1e-6, 1e-1)}, True, svc_error, 0.0),
}


def grid_levels(problem: Problem, trials: int) -> dict[str, list[float]]:
    """``k`` cell centres per dimension, ``k`` the largest with ``k ** dim <= trials``."""
    dim = len(problem.bounds)
    k = 1
    while (k + 1) ** dim <= trials:
        k += 1
    levels = {}
    for name, (low, high) in problem.bounds.items():
        lo, hi = (math.log(low), math.log(high)) if problem.log else (low, high)
        centres = [lo + (i + 0.5) * (hi - lo) / k for i in range(k)]
        levels[name] = [math.exp(c) if problem.log else c for c in centres]
    return levels


def run_hpo(problem: Problem, searcher: str, seed: int, trials: int) -> tuple[float, int]:
    """Best loss and number of trials of one ``hpo.tune`` study."""
    if searcher == "grid":
        levels = grid_levels(problem, trials)
        space: dict[str, hpo.Domain] = {n: hpo.Categorical(v) for n, v in levels.items()}
        trials = math.prod(len(v) for v in levels.values())
    else:
        space = {n: hpo.Float(lo, hi, log=problem.log) for n, (lo, hi) in problem.bounds.items()}
    study = hpo.tune(
        problem.loss,
        space,
        n_trials=trials,
        direction="minimize",
        searcher=searcher,
        pruner="none",
        seed=seed,
        tracking=None,
    )
    return study.best_value, len(study.trials)


def run_optuna(problem: Problem, seed: int, trials: int) -> tuple[float, int]:
    """Best loss of Optuna's default TPE, driven by ``study.optimize``."""

    def objective(trial: optuna.Trial) -> float:
        params = {n: trial.suggest_float(n, lo, hi, log=problem.log) for n, (lo, hi) in problem.bounds.items()}
        return problem.loss(params)

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return study.best_value, len(study.trials)


def run_hyperopt(problem: Problem, seed: int, trials: int) -> tuple[float, int]:
    """Best loss of Hyperopt's TPE with its defaults."""
    space = {
        n: hp.loguniform(n, math.log(lo), math.log(hi)) if problem.log else hp.uniform(n, lo, hi)
        for n, (lo, hi) in problem.bounds.items()
    }
    history = Trials()
    fmin(
        problem.loss,
        space,
        algo=tpe.suggest,
        max_evals=trials,
        trials=history,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return min(history.losses()), len(history.trials)


def run(method: str, problem: Problem, seed: int, trials: int) -> tuple[float, int]:
    """Regret and number of trials of one study of ``method``."""
    if method.startswith("hpo_"):
        best, n = run_hpo(problem, method.removeprefix("hpo_"), seed, trials)
    elif method == "optuna_tpe":
        best, n = run_optuna(problem, seed, trials)
    else:
        best, n = run_hyperopt(problem, seed, trials)
    return best - problem.optimum, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--functions", default=",".join(PROBLEMS), help="comma-separated subset")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    args = parser.parse_args()
    problems = args.functions.split(",")
    methods = args.methods.split(",")
    for value, known in ((problems, PROBLEMS), (methods, METHODS)):
        unknown = set(value) - set(known)
        if unknown:
            parser.error(f"unknown {', '.join(sorted(unknown))}; expected some of {', '.join(known)}")
    check()  # the known optima are right, or regrets mean nothing
    warnings.filterwarnings("ignore")
    logging.getLogger("hpo").setLevel(logging.ERROR)
    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    start = time.perf_counter()
    medians: dict[tuple[str, str], float] = {}
    for name in problems:
        problem = PROBLEMS[name]
        print(
            f"\n{name} ({len(problem.bounds)}-D, minimum {problem.optimum:g}), {args.trials} "
            f"trials, seeds 0..{args.seeds - 1}; regret = best - minimum"
        )
        rows = []
        for method in methods:
            t0 = time.perf_counter()
            results = [run(method, problem, seed, args.trials) for seed in range(args.seeds)]
            wall = time.perf_counter() - t0
            regrets = [r for r, _ in results]
            medians[name, method] = statistics.median(regrets)
            rows.append((method, results[0][1], medians[name, method], statistics.mean(regrets), wall))
        print(
            f"  {'method':<13} {'trials':>6} {'median regret':>14} {'mean regret':>12} "
            f"{'hpo tpe / this':>15} {'wall s':>7}"
        )
        for method, n, median, mean, wall in rows:
            ratio = medians.get((name, "hpo_tpe"), math.nan) / median if median else math.nan
            print(f"  {method:<13} {n:>6} {median:14.4g} {mean:12.4g} {ratio:15.2f} {wall:7.1f}")

    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s")
    if not all((n, m) in medians for n in OFFLINE for m in ("hpo_tpe", "optuna_tpe")):
        print("TARGET not evaluated: it needs all three offline functions and hpo_tpe, optuna_tpe")
        return
    ratios = {n: medians[n, "hpo_tpe"] / medians[n, "optuna_tpe"] for n in OFFLINE}
    ok = all(r <= 1.0 for r in ratios.values()) and sum(r <= 0.8 for r in ratios.values()) >= 2
    shown = ", ".join(f"{n} {r:.2f}" for n, r in ratios.items())
    print(
        f"TARGET {'PASS' if ok else 'FAIL'}: median regret hpo tpe / optuna tpe: {shown} "
        "(needs all <= 1.00 and at least two <= 0.80)"
    )
    if ("svc_digits", "hpo_tpe") in medians and ("svc_digits", "optuna_tpe") in medians:
        hpo_err, opt_err = medians["svc_digits", "hpo_tpe"], medians["svc_digits", "optuna_tpe"]
        print(
            f"check (held out, not in the target): svc_digits median error hpo tpe {hpo_err:.4f}, "
            f"optuna tpe {opt_err:.4f}"
        )


if __name__ == "__main__":
    main()
