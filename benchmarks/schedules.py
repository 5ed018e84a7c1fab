"""Which learning-rate schedule wins when TPE tunes it, and how far the test score falls below validation.

The CNN of examples.models:cnn (16 channels) on scikit-learn's digits, trained by TorchTrainer
(AdamW, batch 64, fp32) for a fixed number of epochs, no early stopping and no pruner, so every
schedule trains its full run (a pruner would judge onecycle, still rising at the first rung, by
the accuracy of its warmup). TPE searches ``scheduler`` in {cosine, onecycle, plateau, step}
(each with its default options, no extra warmup) and ``lr`` (log-uniform, 1e-4 to 3e-2), for
``--trials`` trials per seed, tracking off.

The data is a config's ``trainer:`` block through ``hpo.trainers.from_config``:
``test_fraction: 0.2`` holds 20% of the rows out first (stratified), ``val_fraction: 0.2`` of the
rest validates each epoch, and ``standardize: true`` scales with the training rows only. A seed
is the study's: the searcher's, the split's and the trainer's (initialization, batch order). At
the end the best trial's model (its best epoch's weights) is scored once on the test rows:
``study.test_score``.

Reported per seed: the best validation accuracy, the winning schedule (and any that tie it),
its lr, the test accuracy and the gap validation - test. Per schedule: how often it won (the
study's best trial, the first to reach the best value, had it), how often it reached the best
value, how many trials TPE gave it, and its best validation accuracy averaged over the seeds.

The gap is expected to be positive: the best validation score is the maximum over many trials
and epochs of a noisy estimate on the same 288 rows, so it is biased upwards (the winner's
curse); the test rows were never used to choose, so their score is not.

Usage: python benchmarks/schedules.py [--trials 30 --seeds 3 --epochs 10 --threads 1]
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import hpo  # noqa: E402
from hpo.trainers import from_config  # noqa: E402

SCHEDULES = ["cosine", "onecycle", "plateau", "step"]


def study(seed: int, trials: int, epochs: int) -> tuple[hpo.Study, float]:
    """One TPE study of ``trials`` trials with ``seed``; its wall time."""
    block = {
        "kind": "torch",
        "model": "examples.models:cnn",  # 16 channels: the model's default
        "epochs": epochs,
        "batch_size": 64,
        "amp": "off",
        "device": "cpu",
        "val_fraction": 0.2,
        "test_fraction": 0.2,
        "standardize": True,
        "seed": seed,
    }
    trainer = from_config(block, {"builtin": "digits"})
    space = {"scheduler": hpo.Categorical(SCHEDULES), "lr": hpo.Float(1e-4, 3e-2, log=True)}
    start = time.perf_counter()
    result = hpo.tune(trainer, space, n_trials=trials, searcher="tpe", pruner="none", seed=seed, tracking=None)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads (0: torch's default)")
    args = parser.parse_args()
    logging.getLogger("hpo").setLevel(logging.ERROR)
    import torch

    if args.threads > 0:  # see benchmarks/torch_loop.py: one thread is steadier on a shared 2-core machine
        torch.set_num_threads(args.threads)

    print(
        f"CNN (16 channels) on digits, {args.epochs} epochs per trial, TPE over scheduler x lr, "
        f"{args.trials} trials x seeds 0..{args.seeds - 1}, no pruner, tracking off, "
        f"test_fraction 0.2, CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"  {'seed':>4} {'best val':>9} {'winner':>9} {'lr':>9} {'test':>7} {'rows':>5} {'val - test':>11} "
        f"{'failed':>6} {'time':>7}  ties"
    )
    best_by_schedule: dict[str, list[float]] = {name: [] for name in SCHEDULES}
    trials_by_schedule = dict.fromkeys(SCHEDULES, 0)
    wins, reached = dict.fromkeys(SCHEDULES, 0), dict.fromkeys(SCHEDULES, 0)
    gaps, tests, vals, total = [], [], [], 0.0
    for seed in range(args.seeds):
        result, seconds = study(seed, args.trials, args.epochs)
        total += seconds
        complete = [t for t in result.trials if t.state.name == "COMPLETE"]
        best = result.best_trial
        winner = best.params["scheduler"]
        wins[winner] += 1
        for name in SCHEDULES:
            values = [float(t.value) for t in complete if t.params["scheduler"] == name and t.value is not None]
            trials_by_schedule[name] += sum(t.params.get("scheduler") == name for t in result.trials)
            best_by_schedule[name].append(max(values) if values else math.nan)
            reached[name] += bool(values) and max(values) == result.best_value
        ties = sorted({t.params["scheduler"] for t in complete if t.value == best.value} - {winner})
        test = result.test_score
        assert test is not None, "no test score: the trainer scored no test set"
        gap = result.best_value - test["value"]
        gaps.append(gap)
        tests.append(test["value"])
        vals.append(result.best_value)
        failed = result.counts().get("failed", 0)
        print(
            f"  {seed:>4} {result.best_value:9.4f} {winner:>9} {best.params['lr']:9.2e} {test['value']:7.4f} "
            f"{test['rows']:>5} {gap:+11.4f} {failed:>6} {seconds:6.1f}s  {', '.join(ties) or '-'}"
        )
    print(
        f"  mean {statistics.mean(vals):9.4f} {'':>9} {'':>9} {statistics.mean(tests):7.4f} {'':>5} "
        f"{statistics.mean(gaps):+11.4f} {'':>6} {total:6.1f}s"
    )
    print()
    print(
        f"  {'schedule':>9} {'wins':>5} {'reached':>7} {'trials':>7}  mean best val accuracy over the seeds "
        "(each seed's best)"
    )
    for name in SCHEDULES:
        bests = [v for v in best_by_schedule[name] if not math.isnan(v)]
        mean = f"{statistics.mean(bests):.4f}" if bests else "-"
        each = " ".join(f"{v:.4f}" if not math.isnan(v) else "-" for v in best_by_schedule[name])
        print(f"  {name:>9} {wins[name]:>5} {reached[name]:>7} {trials_by_schedule[name]:>7}  {mean}  ({each})")
    print(
        "  wins: seeds where the study's best trial (the first to reach the best value) had it; reached: seeds "
        "where its best trial reached that value (ties included)"
    )


if __name__ == "__main__":
    main()
