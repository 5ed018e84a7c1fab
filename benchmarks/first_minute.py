"""What tracking costs a short study: the same 8-trial study through the CLI, untracked and tracked.

Every side runs ``hpo run CONFIG --trials 8 --seed 0 --quiet`` (as ``python -m hpo``, this
interpreter) in a fresh process, on the
scikit-learn quick start (``examples/digits_svc.yaml``, the README's) and on the torch example
(``examples/digits_cnn.yaml``). The sides:

  untracked            --tracking none
  tracked              --tracking sqlite:///.../mlflow.db, plots on (the real default)
  tracked, no plots    the same with HPO_PLOTS=0: what the plotting process costs (by default
                       on the quick start only, where it is cheap; --plots-side all|cnn|none)

The tracked sides each get a copy of the same already-migrated sqlite store (creating the
schema, ~3 s once per store, is not what is measured; see ``_common.migrated_store``). Each side
gets a fresh study folder. Rounds are interleaved (A, B, C, A, B, C, ...) so drifts in the
machine's load hit every side alike; the medians are printed, and the range of the wall times
(a wide one says the machine was busy: rerun with more --repeats). The targets are judged on
the median of the rounds' own differences and ratios (tracked against untracked of one round).

Printed per side (seconds):
  wall         the whole command: interpreter start, imports, the 8 trials, the writer's last
               writes, the plots, the model logged at the end
  cpu          CPU time of the command and every process under it (driver, writer, plotter)
  start-up     command start to the start of trial 0
  trial 0      trial 0's duration, as the study storage has it (datetime_complete - datetime_start)
  trials       the start of trial 0 to the end of trial 7
  tail         the end of trial 7 to the command's exit (refit, model logging, summary, plots)
  settled      command start until every process it started has ended (the same as wall, unless
               a process outlives the command; its CPU is then not in cpu)

A run that prints anything on stderr (a quiet run prints nothing: a warning of the writer, a
write lost or left out) is marked with * and its lines are listed: a side that did less than a
real study looks cheaper than it is.

Targets (the first-minute issue), on each config: a tracked 8-trial study at most 2 s more wall
time than the untracked one, and its trial 0 no more than 1.20x the untracked trial 0.

With ``--code DIR`` hpo (and trainers, examples) are imported from another tree, e.g. a copy
with a change to try; the tracking writer and the plotting process follow it (they are started
with the driver's own hpo on PYTHONPATH).

Usage: python benchmarks/first_minute.py [--repeats 3] [--quick] [--config svc|cnn ...]
                                         [--plots-side svc|cnn|all|none] [--code DIR]
Default: 3 rounds of both configs, about 2.5 minutes on a quiet 2-core machine (much longer on a
busy one: the torch study's two threads suffer most); --quick: 1 round, no plots side.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from _common import migrated_store  # benchmarks/_common.py (this script's folder is on sys.path)

REPO = Path(__file__).resolve().parent.parent
CONFIGS = {"svc": "examples/digits_svc.yaml", "cnn": "examples/digits_cnn.yaml"}
N_TRIALS = 8
MAX_EXTRA_S = 2.0  # target: tracked wall - untracked wall
MAX_FIRST_RATIO = 1.20  # target: tracked trial 0 / untracked trial 0

UNTRACKED, TRACKED, NO_PLOTS = "untracked", "tracked", "tracked, no plots"
COLUMNS = {
    "settled": "settled",
    "cpu": "cpu",
    "startup": "start-up",
    "trial0": "trial 0",
    "trials": "trials",
    "tail": "tail",
}
FIELDS = ("wall", *COLUMNS)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drain(stream: IO[bytes], into: list[bytes]) -> None:
    """Read ``stream`` to its end (every holder of its other end has closed it)."""
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
        into.append(chunk)


def trial_times(journal: Path) -> list[tuple[float, float]]:
    """(start, end) of every trial in the study's journal, as Unix times, in number order."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    (study,) = storage.get_all_studies()
    trials = storage.get_all_trials(study._study_id, deepcopy=False)
    states = {t.state for t in trials}
    if len(trials) != N_TRIALS or states - {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}:
        raise SystemExit(f"{journal}: expected {N_TRIALS} ended trials, got {len(trials)} in states {states}")
    # Naive local datetimes (Optuna's datetime.now()); .timestamp() reads them as local time.
    return [(t.datetime_start.timestamp(), t.datetime_complete.timestamp()) for t in trials]


def measure(config: str, side: str, template: Path, folder: Path, code: Path) -> dict[str, Any]:
    """One run of ``side`` on ``config`` in a fresh process and study folder."""
    run_dir = Path(tempfile.mkdtemp(dir=folder))
    name = "study"
    env = {k: v for k, v in os.environ.items() if k not in ("HPO_PLOTS", "MLFLOW_TRACKING_URI", "HPO_HOME")}
    env["PYTHONPATH"] = str(code)
    if side == UNTRACKED:
        tracking = "none"
    else:
        store = run_dir / "mlflow.db"
        shutil.copy(template, store)
        tracking = f"sqlite:///{store}"
        if side == NO_PLOTS:
            env["HPO_PLOTS"] = "0"
    command = [sys.executable, "-m", "hpo", "run", CONFIGS[config], "--trials", str(N_TRIALS), "--seed", "0"]
    command += ["--quiet", "--dir", str(run_dir), "--name", name, "--tracking", tracking]
    cpu0 = children_cpu()
    t0 = time.time()
    # The wall time is until the command exits; "settled" until every process under it has let
    # go of its stderr (the same, unless something outlives the command), waited for here so
    # that nothing of one run competes with the next.
    proc = subprocess.Popen(command, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    chunks: list[bytes] = []
    reader = threading.Thread(target=drain, args=(proc.stderr, chunks))
    reader.start()
    returncode = proc.wait()
    t1 = time.time()
    reader.join()
    settled = time.time()
    errors = b"".join(chunks).decode(errors="replace")
    cpu = children_cpu() - cpu0
    if returncode != 0:
        raise SystemExit(f"{config}, {side} failed ({returncode}):\n{errors[-3000:]}")
    # A tracked side whose writer lost a write (a model, a plot) did less than a real study:
    # its figures are flagged. Nothing else is printed by a quiet run.
    notes = [line.strip() for line in errors.splitlines() if line.strip()]
    times = trial_times(run_dir / name / "study.journal")
    first_start, first_end = times[0]
    last_end = max(end for _, end in times)
    shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "wall": t1 - t0,
        "cpu": cpu,
        "startup": first_start - t0,
        "trial0": first_end - first_start,
        "trials": last_end - first_start,
        "tail": t1 - last_end,
        "settled": settled - t0,
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs per side")
    parser.add_argument("--quick", action="store_true", help="one round, without the no-plots side")
    parser.add_argument("--config", choices=sorted(CONFIGS), action="append", help="only this config (repeatable)")
    parser.add_argument(
        "--plots-side", choices=("svc", "cnn", "all", "none"), default="svc", help="configs with the HPO_PLOTS=0 side"
    )
    parser.add_argument("--code", type=Path, default=REPO, help="import hpo from this tree (default: this repository)")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    configs = args.config or list(CONFIGS)
    plots_side = {"none": set(), "all": set(CONFIGS)}.get(args.plots_side, {args.plots_side})
    if args.quick:
        plots_side = set()
    sides = {c: [UNTRACKED, TRACKED] + ([NO_PLOTS] if c in plots_side else []) for c in configs}
    code = args.code.resolve()
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {(c, s): [] for c in configs for s in sides[c]}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = folder / "template.db"
        migrated_store(template)
        for _ in range(repeats):  # interleaved, so drifts in machine load hit every side
            for config in configs:
                for side in sides[config]:
                    runs[config, side].append(measure(config, side, template, folder, code))
    med = {key: {f: statistics.median(r[f] for r in rs) for f in FIELDS} for key, rs in runs.items()}

    where = "" if code == REPO else f", hpo from {code}"
    print(
        f"{N_TRIALS}-trial study through `hpo run`, seed 0, median of {repeats} interleaved runs{where}; "
        f"seconds ({time.perf_counter() - started:.0f} s in all)"
    )
    missed = 0
    flagged: set[str] = set()
    for config in configs:
        print()
        print(f"{CONFIGS[config]}")
        print(f"  {'side':19} {'wall':>6} {'(range)':>13} " + " ".join(f"{h:>8}" for h in COLUMNS.values()))
        for side in sides[config]:
            m = med[config, side]
            walls = [r["wall"] for r in runs[config, side]]
            notes = [n for r in runs[config, side] for n in r["notes"]]
            flagged.update(notes)
            spread = f"{min(walls):.1f}-{max(walls):.1f}" + ("*" if notes else "")
            print(f"  {side:19} {m['wall']:6.2f} {spread:>13} " + " ".join(f"{m[f]:8.2f}" for f in COLUMNS))
        off, on = med[config, UNTRACKED], med[config, TRACKED]
        # Judged on the rounds' own pairs (each round runs the sides back to back, so a burst of
        # load elsewhere hits a pair more alike than it hits two medians).
        pairs = list(zip(runs[config, TRACKED], runs[config, UNTRACKED]))
        extra = statistics.median(t["wall"] - u["wall"] for t, u in pairs)
        ratio = statistics.median(t["trial0"] / u["trial0"] for t, u in pairs)
        ok_extra, ok_ratio = extra <= MAX_EXTRA_S, ratio <= MAX_FIRST_RATIO
        missed += (not ok_extra) + (not ok_ratio)
        print(
            f"  tracked - untracked, wall:    {extra:+.2f} s, median of the rounds' differences "
            f"(medians {on['wall']:.2f} - {off['wall']:.2f} = {on['wall'] - off['wall']:+.2f} s; "
            f"target <= +{MAX_EXTRA_S:.1f} s): {'PASS' if ok_extra else 'MISS'}"
        )
        print(
            f"  tracked / untracked, trial 0: {ratio:.2f}x, median of the rounds' ratios "
            f"(medians {on['trial0']:.2f} / {off['trial0']:.2f} = {on['trial0'] / off['trial0']:.2f}x; "
            f"target <= {MAX_FIRST_RATIO:.2f}x): {'PASS' if ok_ratio else 'MISS'}"
        )
        if NO_PLOTS in sides[config]:
            np_ = med[config, NO_PLOTS]
            print(
                f"  the plots' share: tracked - tracked, no plots: wall {on['wall'] - np_['wall']:+.2f} s, "
                f"cpu {on['cpu'] - np_['cpu']:+.2f} s, trial 0 {on['trial0'] - np_['trial0']:+.2f} s"
            )
    if flagged:
        print()
        print("* these runs printed warnings (a write lost or left out makes a side look cheaper):")
        for note in sorted(flagged):
            print(f"  {note[:300]}")
    print()
    print(f"{'all targets met' if not missed else f'{missed} target(s) missed'}")


if __name__ == "__main__":
    main()
