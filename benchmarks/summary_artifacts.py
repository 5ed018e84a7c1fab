"""Summary artifacts of a 200-trial study: how long drawing and writing them takes.

The study: TPE (seed 0) over a float, a log float, an int and a categorical, 10 reported steps per
trial and median pruning, so that every plot applies (history, fANOVA importances, parallel
coordinates, slice, learning curves; HTML and PNG each) and summary.md, best_params.yaml and
trials.csv are written too.

Part 1, in this process, on that study held in memory:
  cold   ``hpo._summary.write_summary`` the first time: imports of plotly, matplotlib and
         Optuna's importance module included (the writer does those while the trials run)
  warm   the same again, imports done: what the end of a tracked study costs
  anchor the same plots drawn with Optuna's plotting functions as they come (fANOVA with its
         default 64 trees, computed once per renderer, trials deep-copied per call), imports done

Part 2, end to end: ``hpo.tune`` with tracking on (a fresh sqlite store each, schema made
beforehand), ``plots=True`` against ``plots=False``; timed from the last trial's callback to
``tune`` returning, which is what a user waits for after the last trial (the writer finishing its
backlog, drawing, logging the artifacts, ending the runs).

Target (issue): summary artifacts written in under 2 s for a 200-trial study: judged on the warm
time of part 1 and on what the plots add in part 2 (on less off).

Usage: python benchmarks/summary_artifacts.py [--trials 200 --repeats 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import migrated_store  # noqa: E402

import hpo  # noqa: E402
from hpo._summary import write_summary  # noqa: E402

SPACE = {
    "x": hpo.Float(-5, 5),
    "lr": hpo.Float(1e-4, 1, log=True),
    "n": hpo.Int(1, 10),
    "kind": hpo.Categorical(["a", "b", "c"]),
}


def objective(params: dict[str, Any], trial: Any) -> float:
    value = params["x"] ** 2 + math.log10(params["lr"]) ** 2 + 0.1 * params["n"] + (params["kind"] == "a")
    for step in range(10):
        trial.report(value + 10 - step, step)
    return value


def study(trials: int, tracking: str | None, plots: bool = True) -> tuple[hpo.Study, float]:
    """One study; returns it and the seconds from its last trial's callback to ``tune`` returning."""
    last = [0.0]

    def note(_study: Any, _trial: Any) -> None:
        last[0] = time.perf_counter()

    result = hpo.tune(
        objective,
        SPACE,
        n_trials=trials,
        seed=0,
        searcher="tpe",
        pruner="median",
        tracking=tracking,
        plots=plots,
        callbacks=[note],
    )
    return result, time.perf_counter() - last[0]


def optuna_as_it_comes(optuna_study: Any, folder: Path) -> None:
    """The anchor: Optuna's plotting functions, defaults, the same files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as mvis

    for name, html, png in (
        ("history", vis.plot_optimization_history, mvis.plot_optimization_history),
        ("importances", vis.plot_param_importances, mvis.plot_param_importances),
        ("parallel_coordinate", vis.plot_parallel_coordinate, mvis.plot_parallel_coordinate),
        ("slice", vis.plot_slice, mvis.plot_slice),
        ("learning_curves", vis.plot_intermediate_values, mvis.plot_intermediate_values),
    ):
        html(optuna_study).write_html(folder / f"{name}.html", include_plotlyjs="cdn")
        np.asarray(png(optuna_study)).flat[0].figure.savefig(folder / f"{name}.png", dpi=100, bbox_inches="tight")
        plt.close("all")


def seconds(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    print(f"part 1: summary artifacts of one {args.trials}-trial study, drawn in this process")
    result, _ = study(args.trials, tracking=None)
    counts = ", ".join(f"{n} {s}" for s, n in result.counts().items() if n)
    print(f"  study: {counts}")
    with tempfile.TemporaryDirectory() as tmp:
        cold = seconds(lambda: write_summary(result, Path(tmp) / "cold"))
        report = write_summary(result, Path(tmp) / "check")
        assert not report.skipped and not report.failed, (report.skipped, report.failed)
        files = sorted(p.name for p in report.written)
        warm = [seconds(lambda i=i: write_summary(result, Path(tmp) / f"warm{i}")) for i in range(args.repeats)]
        anchor = []
        for i in range(args.repeats):
            folder = Path(tmp) / f"anchor{i}"
            folder.mkdir()
            anchor.append(seconds(lambda folder=folder: optuna_as_it_comes(result.optuna_study, folder)))
    print(f"  files: {len(files)} plots ({', '.join(files)}) + summary.md, best_params.yaml, trials.csv")
    for label, value in (
        ("cold (imports included)", cold),
        (f"warm (hpo, median of {args.repeats})", statistics.median(warm)),
        (f"Optuna as it comes (median of {args.repeats})", statistics.median(anchor)),
    ):
        print(f"  {label:34} {value:6.2f} s")
    print(f"  hpo / Optuna as it comes: {statistics.median(warm) / statistics.median(anchor):.2f}x")

    print(f"\npart 2: end of a tracked {args.trials}-trial study, last trial's callback to tune() returning")
    ends: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for plots in (False, True):
                uri = migrated_store(Path(tmp) / f"m{i}{plots}.db")
                ends[plots].append(study(args.trials, uri, plots=plots)[1])
    off, on = statistics.median(ends[False]), statistics.median(ends[True])
    print(
        f"  plots=False: {off:.2f} s   plots=True: {on:.2f} s   (medians of {args.repeats}; "
        f"each: {', '.join(f'{x:.2f}' for x in ends[False])} / {', '.join(f'{x:.2f}' for x in ends[True])})"
    )
    print(f"  on / off: {on / off:.2f}x; the plots add {on - off:.2f} s")
    drawn = statistics.median(warm)
    verdict = "met" if max(drawn, on - off) < 2.0 else "NOT met"
    print(
        f"\ntarget: summary artifacts written in under 2 s for a {args.trials}-trial study: drawn and "
        f"written in {drawn:.2f} s; they add {on - off:.2f} s to the end of a tracked study: {verdict}"
    )
    print("  (the rest of the end is the writer's backlog of MLflow writes, the same with plots off)")


if __name__ == "__main__":
    main()
