"""``HPOSearchCV(n_jobs=2)``: candidates on Ray workers against folds on joblib's processes.

Issue 17: "n_jobs > 1 runs trials on Ray workers, or on joblib processes if that proves better
for small fits; measure both and choose." The three tasks of ``benchmarks/searchcv.py`` (the
same estimators, spaces and folds; a fit takes ~5 ms on diabetes, ~70 ms on digits, ~100 ms on
breast_cancer), each searched with the grid's budget of candidates and no pruning (so that
every side does the same work), seed 0, in this process, sides in turn:

- ``sequential``: ``n_jobs=1``, candidates and folds one after another;
- ``ray``: ``executor={"kind": "ray", "workers": 2}``: two candidates at once on Ray workers
  (each with its folds in order);
  the time includes starting Ray (``ray.init``, ~3 s here), as a user's first search pays it,
  and is printed without it too (a second search in the same process);
- ``joblib``: ``n_jobs=2``: candidates one at a time, the 5 folds of each two at a time on
  joblib's (loky) processes, reported to the pruner after each batch. What ``n_jobs`` does,
  chosen by this benchmark.

Printed: seconds per search and each side's speed-up over sequential, and ``ray / joblib``.

Usage: python benchmarks/searchcv_parallel.py [--tasks svc_digits,hgb_breast_cancer,elasticnet_diabetes]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local Ray for this process only


def _searchcv_module() -> Any:
    spec = importlib.util.spec_from_file_location("searchcv_benchmark", HERE / "searchcv.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run(bench: Any, task: Any, **options: Any) -> float:
    """Seconds of one ``HPOSearchCV.fit`` with ``options``."""
    from hpo import HPOSearchCV

    X, y = bench._data(task.data)
    search = HPOSearchCV(
        bench._estimator(task),
        {n: bench._hpo(p) for n, p in task.space.items()},
        n_trials=task.budget,
        scoring=task.scoring,
        cv=bench._splitter(task),
        seed=0,
        pruner="none",
        tracking=None,
        **options,
    )
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start


def main() -> None:
    bench = _searchcv_module()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default=",".join(bench.TARGET_TASKS))
    args = parser.parse_args()
    import ray

    print(f"{'task':22} {'sequential':>11} {'ray (+init)':>12} {'ray':>8} {'joblib':>8}  speed-up ray / joblib")
    first = True
    for name in args.tasks.split(","):
        task = bench.TASKS[name]
        sequential = run(bench, task, n_jobs=1)
        with_init = run(bench, task, executor={"kind": "ray", "workers": 2}) if first else float("nan")
        first = False
        warm = run(bench, task, executor={"kind": "ray", "workers": 2})  # Ray started already
        joblib = run(bench, task, n_jobs=2)
        init = f"{with_init:11.2f}s" if with_init == with_init else f"{'-':>12}"  # NaN: not measured
        print(
            f"{name:22} {sequential:10.2f}s {init} {warm:7.2f}s {joblib:7.2f}s  "
            f"{sequential / warm:.2f}x {sequential / joblib:.2f}x   ray / joblib = {warm / joblib:.2f}"
        )
    ray.shutdown()


if __name__ == "__main__":
    main()
