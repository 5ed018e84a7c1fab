"""Per-trial overhead of hpo on a trivial objective, against Optuna alone and Optuna + MLflowCallback.

Every side runs the same study -- TPE (seed 0), a two-parameter quadratic, N trials -- in a
fresh Python process started by this script, so interpreter start, imports, the MLflow store's
set-up and the final flush count for every side alike. The MLflow sides each get a copy of the
same already-migrated sqlite store (creating the schema is not what is measured).

Printed per side, in ms per trial:
  end-to-end   the whole process (start, imports, study, every MLflow write done) / N
  loop         from the study call to the end of the last trial / N (hpo's MLflow writes
               finish after this, in the writer process; Optuna's callback writes inside it)

Targets (issue 2): hpo with tracking at most 0.5x the end-to-end time of Optuna + MLflowCallback,
and at most 5 ms per trial added to the trial loop over Optuna alone. It also times the start-up
of `hpo --help` (target under 0.5 s) and `import hpo` against a bare `python -c pass`, and lists
the heavy modules `import hpo` loads (target: none of torch, ray, mlflow).

With ``--baseline REF`` (a git commit, tag or branch of this repository) the two hpo sides also
run on that commit's code, exported to a temporary folder, in the same interleaved rounds, and
the ratio of this tree to the baseline is printed: a refactoring must not make hpo slower.

Usage: python benchmarks/overhead.py [--trials 200] [--repeats 3] [--baseline REF]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import migrated_store  # benchmarks/_common.py (this script's folder is on sys.path)

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time, warnings
t_process = float(sys.argv[1]); side = sys.argv[2]; n = int(sys.argv[3]); uri = sys.argv[4]
warnings.filterwarnings("ignore")
ends = []

if side.startswith("optuna"):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    callbacks = [lambda study, trial: ends.append(time.perf_counter())]
    if side == "optuna+mlflowcallback":
        from optuna_integration.mlflow import MLflowCallback
        callbacks.insert(0, MLflowCallback(tracking_uri=uri, metric_name="value"))

    def objective(trial):
        x = trial.suggest_float("x", -10, 10)
        y = trial.suggest_float("y", -10, 10)
        return x * x + y * y

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n, callbacks=callbacks)
else:
    import hpo
    tracking = uri if side == "hpo tracking on" else None

    def objective(params):
        return params["x"] * params["x"] + params["y"] * params["y"]

    space = {"x": hpo.Float(-10, 10), "y": hpo.Float(-10, 10)}
    t0 = time.perf_counter()
    hpo.tune(objective, space, n_trials=n, seed=0, searcher="tpe", pruner="none",
             tracking=tracking, study_name="overhead",
             callbacks=[lambda study, trial: ends.append(time.perf_counter())])
t_end = time.perf_counter()
print(json.dumps({"loop": ends[-1] - t0, "call": t_end - t0, "end_to_end": time.time() - t_process}))
"""

SIDES = ("optuna", "optuna+mlflowcallback", "hpo tracking off", "hpo tracking on")


def measure(side: str, n: int, template: Path, folder: Path, repeat: int, code: Path = REPO) -> dict[str, float]:
    """One run of ``side`` in a fresh process, importing hpo from ``code``."""
    label = side.replace(" ", "_").replace("+", "_").replace("@", "at_")
    store = folder / f"{label}-{repeat}.db"
    shutil.copy(template, store)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, repr(time.time()), side.split(" @ ")[0], str(n), f"sqlite:///{store}"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(code)},
    )
    if result.returncode != 0:
        raise SystemExit(f"{side} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def startup(repeats: int = 7) -> None:
    """Wall time of `python -c pass`, `import hpo` and `hpo --help`, median of ``repeats``."""
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO)}
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import hpo": [sys.executable, "-c", "import hpo"],
        "hpo --help": [sys.executable, "-m", "hpo", "--help"],
    }
    times = {}
    for name, command in commands.items():
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            runs.append(time.perf_counter() - t0)
        times[name] = statistics.median(runs)
    check = "import sys, hpo; print([m for m in ('torch', 'ray', 'mlflow', 'optuna') if m in sys.modules])"
    heavy = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True).stdout.strip()
    print(f"start-up, median of {repeats}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in times.items()))
    print(
        f"hpo --help: {times['hpo --help']:.2f} s (target < 0.5 s), "
        f"{times['hpo --help'] / times['python -c pass']:.1f}x a bare interpreter; "
        f"heavy modules after `import hpo`: {heavy} (target: [])"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs per side")
    parser.add_argument("--baseline", metavar="REF", help="also run the hpo sides on this git commit's code")
    args = parser.parse_args()
    n = args.trials
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = folder / "template.db"
        migrated_store(template)
        sides: dict[str, Path] = {side: REPO for side in SIDES}
        if args.baseline:
            baseline = folder / "baseline"
            baseline.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", args.baseline], capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
            for side in ("hpo tracking off", "hpo tracking on"):
                sides[f"{side} @ {args.baseline}"] = baseline
        runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for repeat in range(args.repeats):  # interleaved, so drifts in machine load hit every side
            for side, code in sides.items():
                runs[side].append(measure(side, n, template, folder, repeat, code))
    med = {
        side: {k: statistics.median(r[k] for r in rs) * 1000 / n for k in ("end_to_end", "loop")}
        for side, rs in runs.items()
    }
    print(f"{n} trials of a trivial objective, TPE seed 0, median of {args.repeats} runs; ms per trial")
    print(f"{'side':34} {'end-to-end':>11} {'loop':>8}")
    for side in med:
        print(f"{side:34} {med[side]['end_to_end']:11.2f} {med[side]['loop']:8.2f}")
    anchor = med["optuna+mlflowcallback"]["end_to_end"]
    ours = med["hpo tracking on"]["end_to_end"]
    added = med["hpo tracking on"]["loop"] - med["optuna"]["loop"]
    print()
    print(
        f"hpo tracking on / optuna+mlflowcallback, end-to-end: {ours:.2f} / {anchor:.2f} = "
        f"{ours / anchor:.2f}x (target <= 0.50x)"
    )
    print(
        f"hpo tracking on / optuna alone, end-to-end:          {ours:.2f} / "
        f"{med['optuna']['end_to_end']:.2f} = {ours / med['optuna']['end_to_end']:.2f}x"
    )
    print(f"added on the trial loop's path vs optuna alone:      {added:+.2f} ms/trial (target <= 5 ms)")
    if args.baseline:
        for side in ("hpo tracking off", "hpo tracking on"):
            old = med[f"{side} @ {args.baseline}"]
            new = med[side]
            print(
                f"{side}, this tree / {args.baseline}: end-to-end {new['end_to_end']:.2f} / "
                f"{old['end_to_end']:.2f} = {new['end_to_end'] / old['end_to_end']:.2f}x, "
                f"loop {new['loop']:.2f} / {old['loop']:.2f} = {new['loop'] / old['loop']:.2f}x (target <= 1.00x)"
            )
    print()
    startup()


if __name__ == "__main__":
    main()
