"""What per-trial resource metrics (``resource_metrics``) cost.

Two measures, each side in this process, interleaved, median of 5:

1. Per trial: 200 trivial trials (a quadratic, TPE seed 0, tracking off, so that the figure is
   the monitor's own: starting and stopping its thread, one sample and handing it over), with
   ``resource_metrics`` on (its default interval, 10 s) and off: ms per trial.
2. Per second of work: one trial spinning the CPU for 2 s, sampled every 0.1 s (100 times the
   default rate) and not at all: the trial's seconds.

Usage: python benchmarks/resource_metrics.py
"""

from __future__ import annotations

import logging
import statistics
import time

import hpo

SPACE = {"x": hpo.Float(-5, 5), "y": hpo.Float(-5, 5)}


def quadratic(params: dict[str, float]) -> float:
    return params["x"] ** 2 + params["y"] ** 2


def spin(params: dict[str, float]) -> float:
    end = time.process_time() + 2.0
    while time.process_time() < end:
        pass
    return params["x"]


def per_trial_ms(on: bool) -> float:
    start = time.perf_counter()
    hpo.tune(quadratic, SPACE, n_trials=200, seed=0, tracking=None, resource_metrics=on or None)
    return 1000 * (time.perf_counter() - start) / 200


def spin_seconds(on: bool) -> float:
    study = hpo.tune(spin, SPACE, n_trials=1, tracking=None, resource_metrics={"interval": 0.1} if on else None)
    return study.trials[0].duration.total_seconds()


def main() -> None:
    logging.getLogger("hpo").setLevel(logging.ERROR)
    per_trial_ms(False)  # imports and caches, untimed
    trials = {on: [] for on in (False, True)}
    spins = {on: [] for on in (False, True)}
    for _ in range(5):
        for on in (False, True):
            trials[on].append(per_trial_ms(on))
            spins[on].append(spin_seconds(on))
    off, on = statistics.median(trials[False]), statistics.median(trials[True])
    print(f"200 trivial trials, ms per trial: off {off:.3f}, on {on:.3f}: {on / off:.3f}x (+{on - off:.3f} ms)")
    off, on = statistics.median(spins[False]), statistics.median(spins[True])
    print(f"a 2 s CPU-bound trial sampled every 0.1 s: off {off:.3f} s, on {on:.3f} s: {on / off:.4f}x")


if __name__ == "__main__":
    main()
