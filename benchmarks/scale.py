"""How many workers one driver can feed: the driver's and the MLflow writer's ceilings.

In one script, on this machine, against real servers it starts on loopback (a throwaway
PostgreSQL, an ``mlflow server`` on it with served artifacts):

1. The driver's ask -> tell rate (trials per second) of a trivial objective, inline, tracking
   off, with the study on sqlite, a journal file and PostgreSQL; TPE (the default) and random.
2. The MLflow writer's sustained rate (runs per second: each trial's run created, its params,
   a metric and its end written), to a sqlite store and to the tracking server on PostgreSQL:
   a study's trials over its wall time, the writer being the slower side.
3. From those: the workers one driver keeps busy with trials of 1 s, 10 s and 60 s
   (= the lower of the two rates x the trial's duration).
4. A large study (``--big`` trials, trivial objective, study on PostgreSQL, tracking through the
   server) with ``child_runs`` all, top_k: 10 and none: every run FINISHED, and the time
   ``MlflowClient.search_runs`` takes to list the study run's children (all pages).

Usage: python benchmarks/scale.py [--trials 300 --big 10000]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import migrated_store  # noqa: E402  (benchmarks/_common.py)

import hpo  # noqa: E402
from tests._servers import Postgres, free_port, wait_for_port  # noqa: E402

SPACE = {"x": hpo.Float(-10, 10), "y": hpo.Float(-10, 10)}


def quadratic(params):
    return params["x"] ** 2 + params["y"] ** 2


def rate(n: int, **kwargs) -> float:
    """Trials per second of a study of ``n`` trivial trials (inline)."""
    start = time.perf_counter()
    hpo.tune(quadratic, SPACE, n_trials=n, seed=0, pruner="none", **kwargs)
    return n / (time.perf_counter() - start)


def mlflow_server(backend: str, folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
        + ["--backend-store-uri", backend, "--artifacts-destination", str(folder / "artifacts"), "--serve-artifacts"],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "ab"),  # noqa: SIM115 (the server's, while it runs)
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        start_new_session=True,  # its uvicorn workers are ended with it
    )
    try:
        wait_for_port(port, proc, timeout=120)
    except RuntimeError as err:
        raise RuntimeError(f"{err}: {(folder / 'server.log').read_text()[-2000:]}") from None
    return proc, f"http://127.0.0.1:{port}"


def list_children(uri: str, study: hpo.Study) -> tuple[int, float, set[str]]:
    """(children, seconds to list them all, their statuses)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    query = f"tags.`mlflow.parentRunId` = '{study.mlflow_run_id}'"
    start = time.perf_counter()
    runs, token = [], None
    while True:
        page = client.search_runs([study.mlflow_experiment_id], query, max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            break
    seconds = time.perf_counter() - start
    return len(runs), seconds, {r.info.status for r in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--big", type=int, default=10_000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("hpo").setLevel(logging.ERROR)
    os.environ["HPO_PLOTS"] = "0"  # the writer's rate, not the plots'
    pg = Postgres()
    pg.start()
    server = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            n = args.trials
            print(f"1. driver: ask -> tell of {n} trivial trials, inline, tracking off (trials/s)")
            storages = {
                "sqlite": lambda k: f"sqlite:///{folder / f'optuna-{k}.db'}",
                "journal": lambda k: str(folder / f"study-{k}.journal"),
                "postgresql": lambda k: pg.new_database(f"rate_{k}"),
            }
            driver: dict[tuple[str, str], float] = {}
            for searcher in ("tpe", "random"):
                for kind, make in storages.items():
                    k = f"{searcher}_{kind}"
                    driver[(kind, searcher)] = rate(n, searcher=searcher, storage=make(k), study_name=k, tracking=None)
                    print(f"  {kind:11} {searcher:7} {driver[(kind, searcher)]:8.1f}")
            memory = rate(n, searcher="tpe", tracking=None)
            print(f"  {'in memory':11} {'tpe':7} {memory:8.1f}")

            print(f"2. MLflow writer: runs/s of a {n}-trial study (study in memory)")
            server_proc, server_uri = mlflow_server(pg.new_database("mlflow"), folder)
            server = server_proc
            writer = {
                "sqlite store": rate(
                    n, searcher="random", tracking=migrated_store(folder / "mlflow.db"), study_name="w1"
                ),
                "server on PostgreSQL": rate(n, searcher="random", tracking=server_uri, study_name="w2"),
            }
            for name, value in writer.items():
                print(f"  {name:22} {value:8.1f}")

            print("3. workers one driver keeps busy (min(driver on PostgreSQL, writer to the server) x trial seconds)")
            ceiling = min(driver[("postgresql", "tpe")], writer["server on PostgreSQL"])
            first = "the writer" if writer["server on PostgreSQL"] < driver[("postgresql", "tpe")] else "the driver"
            for seconds in (1, 10, 60):
                print(f"  trials of {seconds:2} s: {ceiling * seconds:8.0f} workers")
            print(f"  saturates first: {first} ({ceiling:.1f} trials/s)")

            if args.big:
                print(f"4. a {args.big}-trial study on PostgreSQL, tracking through the server")
                for mode in ("none", {"top_k": 10}, "all"):
                    name = f"big-{mode if isinstance(mode, str) else 'top10'}"
                    start = time.perf_counter()
                    study = hpo.tune(
                        quadratic,
                        SPACE,
                        n_trials=args.big,
                        searcher="random",
                        seed=0,
                        pruner="none",
                        storage=pg.new_database(name.replace("-", "_")),
                        study_name=name,
                        tracking=server_uri,
                        child_runs=mode,
                    )
                    wall = time.perf_counter() - start
                    count, seconds, statuses = list_children(server_uri, study)
                    print(
                        f"  child_runs {str(mode):14} {wall:7.1f} s ({args.big / wall:6.1f} trials/s); "
                        f"{count:5} child runs {sorted(statuses) or '-'}; search_runs lists them in {seconds:6.2f} s"
                    )
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
        pg.remove()


if __name__ == "__main__":
    main()
