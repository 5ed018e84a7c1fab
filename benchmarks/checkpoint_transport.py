"""What a checkpoint costs by the road it takes: inline (a call, the driver writes the file) vs a
Ray worker (the bytes sent to the executor's hub, handed to the driver, which writes the file).

Each side runs trials that save the same state ``N`` times (a numpy array of 1 MB, then 20 MB,
changed between saves), and the same trials without saving; the cost per checkpoint is the
difference of the trials' durations (as Optuna records them: from ask to tell, so the Ray side
includes the wait at the trial's end for its last checkpoint to reach the hub) over ``N``, best of
3 trials. The inline side is what a worker writing straight to a local ``checkpoint_dir`` would
pay (encode + write); the Ray side is what a worker on any node pays to need no shared disk.

Usage: python benchmarks/checkpoint_transport.py
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from typing import Any

import numpy as np

import hpo

N = 10
SIZES_MB = (1, 20)


def saving(size_mb: int, on: bool) -> Any:
    def objective(params: dict[str, Any], trial: hpo.Trial) -> float:
        state = {"weights": np.random.default_rng(0).random(size_mb * 131_072), "step": 0}  # 8 B each
        for step in range(N):
            state["weights"][0], state["step"] = step, step  # a new state each time
            if on:
                trial.checkpoint(state)
        return 0.0

    return objective


def per_checkpoint_ms(executor: Any, size_mb: int, folder: str) -> float:
    durations = {}
    for on in (False, True):
        name = f"s{size_mb}-{on}-{'inline' if executor == 'inline' else 'ray'}"
        study = hpo.tune(
            saving(size_mb, on),
            {"x": hpo.Float(0, 1)},
            n_trials=3,
            tracking=None,
            executor=executor,
            pruner="none",
            storage=os.path.join(folder, f"{name}.journal"),
            study_name=name,
        )
        durations[on] = min(t.duration.total_seconds() for t in study.trials)
    return 1000 * (durations[True] - durations[False]) / N


def main() -> None:
    import ray

    from hpo._ray import worker_env

    logging.getLogger("hpo").setLevel(logging.ERROR)
    started = time.monotonic()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, runtime_env=worker_env())
    print(f"checkpoint cost per save, {N} saves per trial, best of 3 trials")
    print(f"{'state':>8} {'inline ms':>10} {'ray ms':>8} {'ray/inline':>11}")
    try:
        with tempfile.TemporaryDirectory() as folder:
            for size in SIZES_MB:
                inline = per_checkpoint_ms("inline", size, folder)
                remote = per_checkpoint_ms({"kind": "ray", "workers": 1}, size, folder)
                print(f"{size:>5} MB {inline:>10.2f} {remote:>8.2f} {remote / inline:>11.2f}")
    finally:
        ray.shutdown()
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
