"""What pruning saves on the example CNN study: epochs spent and best validation accuracy.

The study of examples/digits_cnn.yaml (a small CNN on digits, TPE seed 0, up to 20 epochs per
trial, early stopping after 5 epochs without gain), run twice in one process: with the config's
successive-halving pruner and with no pruner. Epochs spent are the epochs every trial trained.

Target (issue 4): pruning spends at most 40% of the unpruned study's epochs, with a best
validation accuracy within 0.5 points of it.

Usage: python benchmarks/pruning.py [--trials 20]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import hpo  # noqa: E402
from hpo._config import build_objective, load_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("hpo").setLevel(logging.ERROR)
    os.chdir(REPO)
    config = load_config("examples/digits_cnn.yaml")
    rows = {}
    for label, pruner in (("no pruning", "none"), (f"pruner {config.settings.pruner}", config.settings.pruner)):
        trainer = build_objective(config)
        start = time.perf_counter()
        study = hpo.tune(
            trainer,
            config.space,
            n_trials=args.trials,
            searcher=config.settings.searcher,
            seed=config.settings.seed,
            pruner=pruner,
            tracking=None,
        )
        epochs = sum(t.user_attrs.get("epochs", 0) for t in study.trials)
        rows[label] = (epochs, study.best_value, time.perf_counter() - start, study.counts()["pruned"])
    (e0, b0, t0, _), (e1, b1, t1, p1) = rows.values()
    print(f"examples/digits_cnn.yaml, {args.trials} TPE trials (seed 0), up to 20 epochs each, CPU")
    for label, (epochs, best, seconds, pruned) in rows.items():
        print(f"  {label:48} {epochs:4d} epochs   best val accuracy {best:.4f}   {seconds:6.1f} s   {pruned} pruned")
    print(
        f"  epochs with pruning / without: {e1 / e0:.2f} (target <= 0.40); "
        f"best accuracy difference: {100 * (b0 - b1):+.2f} points (target within 0.5)"
    )


if __name__ == "__main__":
    main()
