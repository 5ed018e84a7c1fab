"""hpo's scikit-learn trainer against GridSearchCV, and what fold-level pruning saves.

Part 1 -- the same 16-point grid (SVC C x gamma) on the same stratified 5 folds of digits,
through ``GridSearchCV(n_jobs=1, refit=True)`` and through hpo (grid searcher, inline executor,
MLflow tracking on in a fresh sqlite store, refit logged as an MLflow model): wall time of each
and the ratio, the largest difference between the two mean CV scores of any grid point, and the
best score of each.

Part 2 -- a 50-trial TPE study (seed 0) on the ready ``svc`` space, without and with median
pruning after each fold: fits done (folds run) and best score of each.

Targets (issue 3): identical scores to 1e-12, wall time at most 1.15x GridSearchCV's; pruning at
most 60% of the unpruned fits with a best score within 0.005.

Usage: python benchmarks/sklearn_vs_gridsearchcv.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import migrated_store  # noqa: E402  (benchmarks/_common.py)

GRID = {"C": [1.0, 10.0, 100.0, 1000.0], "gamma": [1e-4, 3e-4, 1e-3, 3e-3]}


def part1(repeats: int, folder: Path) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    import hpo
    from hpo.trainers import SklearnTrainer

    X, y = load_digits(return_X_y=True)
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    space = {name: hpo.Categorical(values) for name, values in GRID.items()}
    times: dict[str, list[float]] = {"GridSearchCV": [], "hpo": []}
    for repeat in range(repeats):  # interleaved, so load drifts hit both sides
        start = time.perf_counter()
        search = GridSearchCV(SVC(), GRID, cv=splitter, scoring="accuracy", n_jobs=1, refit=True).fit(X, y)
        times["GridSearchCV"].append(time.perf_counter() - start)

        uri = migrated_store(folder / f"grid-{repeat}.db")
        start = time.perf_counter()
        trainer = SklearnTrainer(SVC(), X, y, cv=splitter, scoring="accuracy", refit=True)
        study = hpo.tune(trainer, space, searcher="grid", pruner="none", tracking=uri, study_name="grid")
        times["hpo"].append(time.perf_counter() - start)

    ours = {(t.params["C"], t.params["gamma"]): t.value for t in study.trials}
    theirs = {
        (p["C"], p["gamma"]): s for p, s in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"])
    }
    assert set(ours) == set(theirs) and len(ours) == 16
    diff = max(abs(ours[k] - theirs[k]) for k in ours)
    g, h = statistics.median(times["GridSearchCV"]), statistics.median(times["hpo"])
    print(f"Part 1: 16-point SVC grid, stratified 5-fold on digits, n_jobs=1 / inline, median of {repeats}")
    print(f"  GridSearchCV (refit)                       {g:7.2f} s   best {search.best_score_:.6f}")
    print(f"  hpo grid, MLflow on, refit model logged    {h:7.2f} s   best {study.best_value:.6f}")
    print(f"  wall time ratio hpo / GridSearchCV: {h / g:.3f}x (target <= 1.15x)")
    print(f"  largest score difference over the 16 points: {diff:.3g} (target <= 1e-12)")


def part2(folder: Path) -> None:
    from sklearn.datasets import load_digits
    from sklearn.svm import SVC

    import hpo
    from hpo.trainers import SklearnTrainer

    X, y = load_digits(return_X_y=True)
    trainer = SklearnTrainer(SVC(), X, y, cv={"name": "stratified", "shuffle": True}, scoring="accuracy", refit=False)
    rows = {}
    for label, pruner in (("unpruned", "none"), ("median pruning", {"name": "median", "n_startup_trials": 5})):
        start = time.perf_counter()
        study = hpo.tune(trainer, "svc", n_trials=50, searcher="tpe", seed=0, pruner=pruner, tracking=None)
        fits = sum(len(t.intermediate_values) for t in study.trials)
        rows[label] = (fits, study.best_value, time.perf_counter() - start, study.counts()["pruned"])
    (f0, b0, t0, _), (f1, b1, t1, p1) = rows["unpruned"], rows["median pruning"]
    print("Part 2: 50 TPE trials (seed 0) on the svc space, stratified 5-fold on digits")
    print(f"  unpruned        {f0:4d} fits   best {b0:.6f}   {t0:6.2f} s")
    print(f"  median pruning  {f1:4d} fits   best {b1:.6f}   {t1:6.2f} s   ({p1} trials pruned)")
    print(f"  fits ratio: {f1 / f0:.2f} (target <= 0.60); best score difference: {b0 - b1:+.4f} (target within 0.005)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="median of this many timings in part 1")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("hpo").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        part1(args.repeats, Path(tmp))
        print()
        part2(Path(tmp))


if __name__ == "__main__":
    main()
