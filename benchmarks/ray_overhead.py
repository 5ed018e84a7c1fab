"""Per-trial overhead of hpo's Ray executor against Ray Tune + OptunaSearch, and parallel efficiency.

In one process, with one local Ray (its start-up, reported once, is not a per-trial cost):

Part 1 -- a trivial objective (a 2-D quadratic, TPE seed 0): 200 trials through hpo with the Ray
executor (2 workers, tracking off, and on with a fresh sqlite MLflow store), 200 through hpo's
inline executor, and 20 through Ray Tune's ``Tuner`` + ``OptunaSearch`` (2 concurrent trials;
Tune takes seconds per trial, so fewer are run and the figure is per trial). ms per trial each.

Part 2 -- 40 trials that each sleep 0.25 s, with 2 and 4 workers (cpus_per_trial 1 and 0.5 on
the 2-CPU machine): achieved fraction of the ideal wall time (40 x 0.25 s / workers), over the
trials' span (the first trial's start to the last one's end) and over the whole study. Each runs
twice: "cold", after part 1, and "warm", at once again. Ray keeps about as many idle worker
processes as the node has CPUs, so 4 trials at once on 2 CPUs first start 2 worker processes
(a second or more of imports each, here). The executor starts the processes of the trials that
run at once before the first trial (its warm-up): that time is in the whole study's figure, not
in the trials' span. "warm" is a cluster busy with studies, "cold" a study that follows a pause.

Targets (issues 5 and 19): Ray executor overhead at most 10 ms/trial with tracking off and 30 ms/trial with
tracking on, at least 100x less than Ray Tune + OptunaSearch; sleeping trials at least 90% of the
ideal throughput with 2 and with 4 workers, cold and warm.

Usage: python benchmarks/ray_overhead.py [--trials 200 --tune-trials 20]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import migrated_store  # noqa: E402  (benchmarks/_common.py)

import hpo  # noqa: E402

SPACE = {"x": hpo.Float(-10, 10), "y": hpo.Float(-10, 10)}


def quadratic(params):
    return params["x"] ** 2 + params["y"] ** 2


def sleeper(params):
    time.sleep(0.25)
    return params["x"]


def timed(n: int, **kwargs) -> float:
    start = time.perf_counter()
    hpo.tune(quadratic, SPACE, n_trials=n, seed=0, searcher="tpe", pruner="none", **kwargs)
    return (time.perf_counter() - start) * 1000 / n


def ray_tune(n: int, folder: Path) -> float:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    def trainable(config):
        return {"loss": config["x"] ** 2 + config["y"] ** 2}

    tuner = tune.Tuner(
        trainable,
        param_space={"x": tune.uniform(-10, 10), "y": tune.uniform(-10, 10)},
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(metric="loss", mode="min", seed=0), num_samples=n, max_concurrent_trials=2
        ),
        run_config=tune.RunConfig(storage_path=str(folder / "ray_results"), verbose=0),
    )
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        tuner.fit()
    return (time.perf_counter() - start) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--tune-trials", type=int, default=20)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("hpo").setLevel(logging.ERROR)
    import ray

    from hpo._ray import worker_env

    start = time.perf_counter()
    ray.init(
        num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False, runtime_env=worker_env()
    )
    print(f"local Ray start-up (once, not per trial): {time.perf_counter() - start:.2f} s")
    ray2 = {"kind": "ray", "workers": 2}
    # Warm the worker processes up, as they are on a running cluster.
    timed(10, executor=ray2, tracking=None)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = {
            "hpo inline, tracking off": timed(args.trials, tracking=None),
            "hpo ray (2 workers), tracking off": timed(args.trials, executor=ray2, tracking=None),
            "hpo ray (2 workers), tracking on": timed(
                args.trials, executor=ray2, tracking=migrated_store(folder / "mlflow.db"), study_name="ray-on"
            ),
            f"Ray Tune + OptunaSearch ({args.tune_trials} trials)": ray_tune(args.tune_trials, folder),
        }
    print(f"Part 1: trivial objective, TPE seed 0, {args.trials} trials (ms per trial)")
    for name, ms in rows.items():
        print(f"  {name:42} {ms:9.2f}")
    tune_ms = rows[f"Ray Tune + OptunaSearch ({args.tune_trials} trials)"]
    off, on = rows["hpo ray (2 workers), tracking off"], rows["hpo ray (2 workers), tracking on"]
    print(
        f"  hpo ray tracking off: {off:.2f} ms (target <= 10), {tune_ms / off:.0f}x less than Ray Tune (target >= 100x)"
    )
    print(f"  hpo ray tracking on:  {on:.2f} ms (target <= 30), {tune_ms / on:.0f}x less than Ray Tune")

    print("Part 2: 40 trials sleeping 0.25 s each; cold: right after part 1, warm: run again at once")
    for workers, cpus in ((2, 1.0), (4, 0.5)):
        executor = {"kind": "ray", "workers": workers, "cpus_per_trial": cpus}
        ideal = 40 * 0.25 / workers
        for when in ("cold", "warm"):
            start = time.perf_counter()
            study = hpo.tune(
                sleeper,
                {"x": hpo.Float(0, 1)},
                n_trials=40,
                searcher="random",
                seed=0,
                executor=executor,
                tracking=None,
            )
            wall = time.perf_counter() - start
            # The trials' span: from the first trial's start (the driver asks it once the
            # workers' processes are up) to the last one's end.
            trials = study.optuna_study.get_trials(deepcopy=False)
            first = min(t.datetime_start for t in trials)
            span = (max(t.datetime_complete for t in trials) - first).total_seconds()
            print(
                f"  {workers} workers, {when}: trials {span:5.2f} s, ideal {ideal:.2f} s: {ideal / span:.0%} "
                f"of the ideal throughput (target >= 90%); whole study {wall:5.2f} s ({ideal / wall:.0%})"
            )
    ray.shutdown()


if __name__ == "__main__":
    main()
