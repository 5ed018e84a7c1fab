"""Search quality of parallel TPE (4 Ray workers, constant liar) against sequential TPE.

On Hartmann6 (6-D, [0, 1]^6, known minimum -3.32237; benchmarks/_functions.py), for each seed
0..9: one study of 100 trials with hpo's inline executor (one trial after another) and one with
the Ray executor, 4 workers of 0.5 CPU each on a local 2-CPU Ray. Both use hpo's default TPE
(multivariate; with more than one worker hpo turns on Optuna's ``constant_liar``). Regret is the
study's best value minus the known minimum; the table gives it per seed, its median and mean per
side, and the ratio of the medians. The parallel objective sleeps 0.05 s before returning the
function value, so that 4 trials really are in flight at once (otherwise a trial ends before the
driver has asked TPE for the next, and the study is sequential in all but name); the sleep does
not change any value. Wall times are per side, all
seeds together; "in flight" is the parallel trials' summed ask-to-tell time over the wall time.

Target: parallel TPE (4 workers) reaches a median regret within 1.3x of sequential
TPE's on the same budget, over 10 seeds.

Usage: python benchmarks/parallel_tpe.py [--trials 100 --seeds 10]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _functions import HARTMANN6, check  # noqa: E402  (benchmarks/_functions.py)

import hpo  # noqa: E402

SPACE = {name: hpo.Float(low, high) for name, (low, high) in zip(HARTMANN6.names, HARTMANN6.bounds)}
SLEEP_S = 0.05
PARALLEL = {"kind": "ray", "workers": 4, "cpus_per_trial": 0.5}


def hartmann6(params: dict[str, float]) -> float:
    return HARTMANN6(params)


def sleepy_hartmann6(params: dict[str, float]) -> float:
    time.sleep(SLEEP_S)  # keeps a trial in flight while the driver asks TPE for the next ones
    return HARTMANN6(params)


def run(objective: Callable[[dict[str, float]], float], seed: int, trials: int, executor: Any) -> tuple[float, float]:
    """Regret of one study, and its trials' ask-to-tell seconds summed (for "in flight")."""
    study = hpo.tune(
        objective,
        SPACE,
        n_trials=trials,
        direction="minimize",
        searcher="tpe",
        pruner="none",
        seed=seed,
        tracking=None,
        executor=executor,
    )
    busy = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in study.trials)
    return HARTMANN6.regret(study.best_value), busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    check()  # the known optima are right, or regrets mean nothing
    warnings.filterwarnings("ignore")
    logging.getLogger("hpo").setLevel(logging.ERROR)
    import ray

    from hpo._ray import worker_env

    ray.init(
        num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False, runtime_env=worker_env()
    )
    # Warm the 4 worker processes up, as they are on a running cluster (not timed).
    run(sleepy_hartmann6, 0, 8, PARALLEL)

    seeds = range(args.seeds)
    sides: dict[str, list[float]] = {"sequential": [], "parallel": []}
    walls: dict[str, float] = {}
    busy = 0.0  # parallel trials' summed ask-to-tell seconds
    plan = (("sequential", hartmann6, "inline"), ("parallel", sleepy_hartmann6, PARALLEL))
    for side, objective, executor in plan:
        start = time.perf_counter()
        for seed in seeds:
            regret, seconds = run(objective, seed, args.trials, executor)
            sides[side].append(regret)
            if side == "parallel":
                busy += seconds
        walls[side] = time.perf_counter() - start
    ray.shutdown()

    seq, par = sides["sequential"], sides["parallel"]
    print(f"Hartmann6 (minimum {HARTMANN6.optimum}), TPE, {args.trials} trials per study; regret = best - minimum")
    print(f"  {'seed':>4}  {'sequential':>11}  {'parallel (4 workers)':>20}")
    for seed, s, p in zip(seeds, seq, par):
        print(f"  {seed:>4}  {s:11.4f}  {p:20.4f}")
    print(f"  {'median':>6}{statistics.median(seq):11.4f}  {statistics.median(par):20.4f}")
    print(f"  {'mean':>6}{statistics.mean(seq):11.4f}  {statistics.mean(par):20.4f}")
    in_flight = busy / walls["parallel"]
    print(
        f"  wall: sequential {walls['sequential']:.1f} s, parallel {walls['parallel']:.1f} s "
        f"({in_flight:.1f} trials in flight on average, {SLEEP_S} s sleep per trial)"
    )
    ratio = statistics.median(par) / statistics.median(seq)
    print(f"  median regret parallel / sequential: {ratio:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
