"""Search quality of parallel TPE (4 Ray workers) against sequential TPE, reproducible or not.

On Hartmann6, Branin and Styblinski-Tang (5-D) (known minima; benchmarks/_functions.py), for each
seed 0..9, three studies of 100 trials with hpo's default TPE: sequential (the inline executor,
one trial after another), parallel (the Ray executor, 4 workers of 0.5 CPU each on a local 2-CPU
Ray; hpo's TPE options for concurrent trials) and parallel with ``reproducible=True`` (each trial
proposed from the trials that ended ``lag`` = 4 trials before it, the driver waiting for a late
one). The parallel objectives sleep 0.02-0.08 s at random (unseeded) before returning the
function's value, so that 4 trials really are in flight at once and finish in a different order
in every run; the sleep changes no value. Regret is a study's best value minus the known minimum;
the table gives its median and mean over the seeds, the median's ratio to the sequential one, the
wall time of the side (all seeds) and the trials in flight on average (their summed ask-to-tell
time over the wall time): what the reproducible side's waiting costs in throughput.

Target: parallel TPE (4 workers) reaches a median regret within 1.3x of sequential TPE's on the
same budget on Hartmann6, over 10 seeds; confirmed on the two other functions.

Usage: python benchmarks/parallel_tpe.py [--trials 100 --seeds 10 --functions hartmann6,branin,styblinski_tang5]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _functions import FUNCTIONS, HARTMANN6, TestFunction, check  # noqa: E402  (benchmarks/_functions.py)

import hpo  # noqa: E402

PARALLEL = {"kind": "ray", "workers": 4, "cpus_per_trial": 0.5}
SLEEP_S = (0.02, 0.08)  # a parallel trial sleeps a random time in this range (unseeded)


class Sleepy:
    """A test function whose trials sleep a random time first (unseeded: the workers finish in
    another order in every run), so that 4 trials really are in flight at once; the sleep
    changes no value."""

    def __init__(self, function: TestFunction) -> None:
        self.function = function

    def __call__(self, params: dict[str, float]) -> float:
        time.sleep(random.uniform(*SLEEP_S))
        return self.function(params)


def space(function: TestFunction) -> dict[str, Any]:
    return {name: hpo.Float(low, high) for name, (low, high) in zip(function.names, function.bounds)}


def run(function: TestFunction, seed: int, trials: int, side: str) -> tuple[float, float, float]:
    """Regret of one study, its trials' ask-to-tell seconds summed (for "in flight"), and its
    wall time."""
    parallel = side != "sequential"
    start = time.perf_counter()
    study = hpo.tune(
        Sleepy(function) if parallel else function,
        space(function),
        n_trials=trials,
        direction="minimize",
        searcher="tpe",
        pruner="none",
        seed=seed,
        tracking=None,
        executor=PARALLEL if parallel else "inline",
        reproducible=side == "reproducible",
    )
    wall = time.perf_counter() - start
    busy = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in study.trials)
    return function.regret(study.best_value), busy, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--functions", default="hartmann6,branin,styblinski_tang5")
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
    run(HARTMANN6, 0, 8, "parallel")
    sides = ("sequential", "parallel", "reproducible")
    seeds = range(args.seeds)
    print(f"TPE, {args.trials} trials per study, seeds 0..{args.seeds - 1}; regret = best - minimum")
    print("parallel: 4 Ray workers (0.5 CPU each, 2 CPUs), trials sleeping 0.02-0.08 s at random")
    print(f"{'function':>17} {'side':>13} {'median':>9} {'mean':>9} {'/ seq':>6} {'wall s':>7} {'in flight':>9}")
    verdicts = []
    for name in args.functions.split(","):
        function = FUNCTIONS[name]
        medians = {}
        for side in sides:
            regrets, busy, wall = [], 0.0, 0.0
            for seed in seeds:
                regret, seconds, elapsed = run(function, seed, args.trials, side)
                regrets.append(regret)
                busy, wall = busy + seconds, wall + elapsed
            medians[side] = statistics.median(regrets)
            ratio = medians[side] / medians["sequential"] if medians["sequential"] else float("nan")
            flight = f"{busy / wall:9.2f}" if side != "sequential" else f"{'':>9}"
            print(
                f"{name:>17} {side:>13} {medians[side]:9.4f} {statistics.mean(regrets):9.4f} {ratio:6.2f} "
                f"{wall:7.1f} {flight}"
            )
        verdicts.append(
            (name, medians["parallel"] / medians["sequential"], medians["reproducible"] / medians["sequential"])
        )
    ray.shutdown()
    for name, parallel, reproducible in verdicts:
        met = "met" if parallel <= 1.3 else "missed"
        print(
            f"{name}: parallel / sequential {parallel:.2f}x ({met}, target <= 1.3x); reproducible {reproducible:.2f}x"
        )


if __name__ == "__main__":
    main()
