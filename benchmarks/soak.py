"""Soak test: driver memory and per-trial cost over 2,000 trivial trials of one study, MLflow tracking on.

One ``hpo.tune`` call in this process: inline executor, TPE (seed 0, multivariate, as hpo builds
it), pruner "none", a two-parameter quadratic, tracking on to a fresh sqlite MLflow store (its
schema created untimed beforehand). The TPE sampler is passed as an instance that times its own
work per trial (before_trial, infer_relative_search_space, sample_relative, sample_independent,
after_trial): TPE's cost grows with the history by design, so it is reported apart.

Printed per block of 200 trials (blocks end at a trial's callback):
  driver RSS   this process's resident memory (VmRSS) at the block's end; the MLflow writer
               process's alongside, for information
  ms/trial     the block's wall time / its trials
  TPE          TPE's own time in the block, ms/trial
  overhead     ms/trial less TPE: hpo's driver loop, Optuna's ask/tell and storage, the objective
  median       the median trial's overhead (a spike of other work on the machine moves it less)
  CPU          the driver loop thread's CPU time less TPE's, ms/trial: the work itself, whatever
               else competes for the CPUs (the writer process, busy through the run, included)

The first block starts at the ``tune`` call, so it also holds the study's set-up and the MLflow
writer's start-up (the writer imports MLflow on the other core while the first trials run): the
last block is compared with the first (as the target reads) and with the second.

Targets (issue): driver RSS grows by less than 100 MB from the first block's end to the last's;
per-trial overhead (TPE excluded) of the last 200 trials within 2x of the first 200. Also printed:
the total wall time, how long ``tune`` takes to return after the last trial's callback (the writer
finishing its backlog and ending the runs), and the number of child runs MLflow holds.

Usage: python benchmarks/soak.py [--trials 2000 --block 200]
"""

from __future__ import annotations

import argparse
import collections
import glob
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import optuna  # noqa: E402
from _common import migrated_store  # noqa: E402  (benchmarks/_common.py)

import hpo  # noqa: E402

SPACE = {"x": hpo.Float(-10, 10), "y": hpo.Float(-10, 10)}
MB = 1e6


def quadratic(params: dict[str, float]) -> float:
    return params["x"] ** 2 + params["y"] ** 2


class TimedTPE(optuna.samplers.TPESampler):
    """TPE as hpo builds it for the inline executor, adding up its own seconds per trial number.

    Wall and CPU (this thread's) seconds both: the CPU figures are what a busy machine leaves intact.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wall: collections.defaultdict[int, float] = collections.defaultdict(float)
        self.cpu: collections.defaultdict[int, float] = collections.defaultdict(float)

    def _timed(self, number: int, call: Callable[..., Any], *args: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        result = call(*args)
        self.wall[number] += time.perf_counter() - wall
        self.cpu[number] += time.thread_time() - cpu
        return result

    def before_trial(self, study: Any, trial: Any) -> None:
        self._timed(trial.number, super().before_trial, study, trial)

    def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
        return self._timed(trial.number, super().infer_relative_search_space, study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
        return self._timed(trial.number, super().sample_relative, study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self._timed(trial.number, super().sample_independent, study, trial, param_name, param_distribution)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self._timed(trial.number, super().after_trial, study, trial, state, values)


def rss(pid: int | str = "self") -> float:
    """Resident memory of a process in MB, from /proc (psutil may not be installed)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / MB
    return float("nan")


def peak_rss() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    return float("nan")


def writer_rss() -> float:
    """RSS of the MLflow writer (a child process of this one), or NaN if it is not found."""
    for children in glob.glob("/proc/self/task/*/children"):
        for pid in Path(children).read_text().split():
            try:
                if b"hpo._tracking_writer" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return rss(pid)
            except OSError:  # it ended meanwhile
                pass
    return float("nan")


def child_runs(store: Path, parent_run_id: str | None) -> dict[str, int]:
    """Child runs of the study's parent run in the sqlite store, by status."""
    with sqlite3.connect(store) as con:
        rows = con.execute(
            "SELECT r.status, COUNT(*) FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid"
            " WHERE t.key = 'mlflow.parentRunId' AND t.value = ? GROUP BY r.status",
            (parent_run_id,),
        ).fetchall()
    return dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--block", type=int, default=200, help="trials per row of the table")
    args = parser.parse_args()
    n, block = args.trials, args.block
    if n % block or n < 2 * block:
        raise SystemExit("--trials must be a multiple of --block, at least 2 blocks")
    warnings.filterwarnings("ignore")
    logging.getLogger("hpo").setLevel(logging.ERROR)

    sampler = TimedTPE(seed=0, multivariate=True)
    ends: list[float] = []  # perf_counter at each trial's callback
    cpus: list[float] = []  # this (the driver loop's) thread's CPU time at each trial's callback
    driver_mb: list[float] = []
    writer_mb: list[float] = []

    def on_trial_end(study: hpo.Study, trial: optuna.trial.FrozenTrial) -> None:
        ends.append(time.perf_counter())
        cpus.append(time.thread_time())
        if len(ends) % block == 0:  # read only at block ends: the reads are not what is measured
            driver_mb.append(rss())
            writer_mb.append(writer_rss())

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mlflow.db"
        uri = migrated_store(store)
        before = rss()
        t0, c0 = time.perf_counter(), time.thread_time()
        study = hpo.tune(
            quadratic,
            SPACE,
            n_trials=n,
            seed=0,
            searcher=sampler,
            pruner="none",
            tracking=uri,
            study_name="soak",
            callbacks=[on_trial_end],
        )
        t_return = time.perf_counter()
        runs = child_runs(store, study.mlflow_run_id)
    load_after = os.getloadavg()[0]

    # Per trial: from the previous trial's callback (the first: from the tune call) to its own.
    walls = [(e - p) * 1000 for e, p in zip(ends, [t0, *ends[:-1]])]
    cpu = [(c - p) * 1000 for c, p in zip(cpus, [c0, *cpus[:-1]])]
    rows = []
    for k in range(n // block):
        numbers = range(k * block, (k + 1) * block)
        wall_ms = sum(walls[i] for i in numbers) / block
        tpe_ms = sum(sampler.wall[i] for i in numbers) * 1000 / block
        median_ms = statistics.median(walls[i] - sampler.wall[i] * 1000 for i in numbers)
        cpu_ms = sum(cpu[i] - sampler.cpu[i] * 1000 for i in numbers) / block
        rows.append((numbers, wall_ms, tpe_ms, wall_ms - tpe_ms, median_ms, cpu_ms))

    print(
        f"{n} trials of a trivial objective in one hpo.tune call: inline, TPE seed 0 (multivariate), "
        f"pruner none, MLflow tracking on (sqlite)"
    )
    print(
        f"driver RSS before tune: {before:.1f} MB (MB = 10^6 bytes); 1-minute load average before "
        f"{load_before:.2f}, after {load_after:.2f}, on {os.cpu_count()} CPUs"
    )
    print(
        f"{'trials':>11} {'driver RSS':>11} {'writer RSS':>11} {'ms/trial':>9} {'TPE':>7} "
        f"{'overhead':>9} {'median':>7} {'CPU':>6}"
    )
    for (numbers, wall_ms, tpe_ms, over_ms, median_ms, cpu_ms), d_mb, w_mb in zip(rows, driver_mb, writer_mb):
        label = f"{numbers[0]}-{numbers[-1]}"
        print(
            f"{label:>11} {d_mb:8.1f} MB {w_mb:8.1f} MB {wall_ms:9.2f} {tpe_ms:7.2f} "
            f"{over_ms:9.2f} {median_ms:7.2f} {cpu_ms:6.2f}"
        )
    print(
        "(ms per trial. overhead = ms/trial - TPE; median: of the trials' overheads; CPU: the driver loop "
        "thread's CPU time less TPE's)"
    )
    print(
        f"(the first block includes the study's set-up and the writer's start-up: {walls[0]:.0f} ms "
        f"from the tune call to the end of trial 0)"
    )
    print()

    growth = driver_mb[-1] - driver_mb[0]
    print(
        f"driver RSS growth, end of first block to end of last: {driver_mb[0]:.1f} -> {driver_mb[-1]:.1f} MB = "
        f"{growth:+.1f} MB (target < 100 MB): {'met' if growth < 100 else 'NOT met'}; "
        f"peak (VmHWM) {peak_rss():.1f} MB"
    )
    first, second, last = rows[0], rows[1], rows[-1]
    ratio = last[3] / first[3]
    print(
        f"overhead excl. TPE, last block / first block:  {last[3]:.2f} / {first[3]:.2f} ms = {ratio:.2f}x "
        f"(target <= 2x): {'met' if ratio <= 2 else 'NOT met'}"
    )
    print(
        f"overhead excl. TPE, last block / second block: {last[3]:.2f} / {second[3]:.2f} ms = "
        f"{last[3] / second[3]:.2f}x (the second block has no set-up in it)"
    )
    # Wall time on a machine shared with other work (and with the writer) swings with the load;
    # the median and the CPU time say whether the driver's own work per trial grew.
    print(
        f"  median overhead, last / first / second block: {last[4]:.2f} / {first[4]:.2f} / {second[4]:.2f} ms = "
        f"{last[4] / first[4]:.2f}x / {last[4] / second[4]:.2f}x"
    )
    print(
        f"  driver CPU less TPE, last / first / second block: {last[5]:.2f} / {first[5]:.2f} / {second[5]:.2f} ms = "
        f"{last[5] / first[5]:.2f}x / {last[5] / second[5]:.2f}x"
    )
    print(
        f"TPE, last block / first block: {last[2]:.2f} / {first[2]:.2f} ms/trial = "
        f"{last[2] / first[2]:.1f}x (grows with the history; no target)"
    )
    print()
    print(f"total wall time of tune: {t_return - t0:.1f} s ({sum(sampler.wall.values()):.1f} s of it TPE)")
    print(
        f"tune returned {t_return - ends[-1]:.1f} s after the last trial's callback "
        f"(the MLflow writer finishing its backlog and ending the runs)"
    )
    print(
        f"MLflow child runs of the study: {sum(runs.values())} (expected {n}), by status {runs}; "
        f"unrecorded trials: {len(study.unrecorded_trials)}"
    )


if __name__ == "__main__":
    main()
