"""The ``hpo`` command line: run, resume, sync, show, best, compare, ui, spaces.

Each study run from the CLI keeps a folder ``.hpo/NAME/`` (or ``$HPO_HOME/NAME/``) holding its
Optuna journal (``study.journal``, unless the config names another storage) and ``study.yaml``,
an index with the config text, the storage and the tracking URI, so ``hpo resume NAME`` needs
nothing else. Heavy imports (optuna, mlflow, rich) happen inside the commands, to keep
``hpo --help`` fast.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from hpo._exceptions import AllTrialsFailedError, ConfigError, HPOError, StudyNotFoundError

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130  # a signal N that ends a study: 128 + N
INDEX = "study.yaml"


def _home(directory: str | None) -> Path:
    home = Path(directory or os.environ.get("HPO_HOME") or ".hpo")
    if home.exists() and not home.is_dir():
        raise ConfigError(key="--dir", message=f"{str(home)!r} is a file, expected the folder of the studies")
    return home


def _tracking_option(value: str | None) -> Any:
    if value is None:
        return None
    return None if value.lower() in ("none", "off", "null") else value


def _known(home: Path) -> str:
    """``; known studies: a, b`` (the studies of the folder ``home``), or nothing."""
    known = sorted(p.parent.name for p in home.glob(f"*/{INDEX}")) if home.is_dir() else []
    return f"; known studies: {', '.join(known)}" if known else ""


def _read_index(name: str, directory: str | None) -> dict[str, Any]:
    import yaml

    file = _home(directory) / name / INDEX
    if not file.is_file():
        home = _home(directory)
        elsewhere = "; studies run elsewhere: pass --dir DIR or set $HPO_HOME"
        raise StudyNotFoundError(f"study: no study named {name!r} in {str(home)!r}{_known(home)}{elsewhere}")
    return yaml.safe_load(file.read_text())


def _write_index(name: str, directory: str | None, index: dict[str, Any]) -> None:
    import yaml

    folder = _home(directory) / name
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (INDEX + ".tmp")
    tmp.write_text(yaml.safe_dump(index, sort_keys=False))
    tmp.replace(folder / INDEX)  # atomic: a crash never leaves half an index


def _plan(config: Any, overrides: dict[str, Any]) -> Any:
    """The config with its overrides, validated into a study plan (nothing created)."""
    import dataclasses

    from hpo._config import build_objective
    from hpo._plan import plan_study

    config.settings = dataclasses.replace(config.settings, **overrides)
    return plan_study(build_objective(config), config.space, config.settings)


def _warm_start_source(settings: Any, directory: str | None, key: str) -> Any:
    """A warm start naming a study alone: the one of that name in the study folder (its storage),
    unless the config names a storage to look in."""
    from collections.abc import Mapping

    spec = settings.warm_start
    named = {"study": spec} if isinstance(spec, str) else spec
    if not isinstance(named, Mapping) or not isinstance(named.get("study"), str) or "storage" in named:
        return spec
    name = named["study"]
    home = _home(directory)
    if (home / name / INDEX).is_file():
        return {**named, "storage": _read_index(name, directory)["storage"]}
    if settings.storage is not None:
        return {**named, "storage": settings.storage}
    raise ConfigError(key=key, message=f"no study named {name!r} in {str(home)!r}{_known(home)}")


def _execute(config: Any, overrides: dict[str, Any], directory: str | None, quiet: bool) -> None:
    """Plan (validate everything), write the index, run with a progress bar, print a summary."""
    from hpo import _driver
    from hpo._storage import check_storage

    # The writer imports MLflow (seconds) while the objective and its data load: start it first.
    tracker = _early_tracker(config.settings.tracking if "tracking" not in overrides else overrides["tracking"])
    try:
        if overrides.get("warm_start") is not None or config.settings.warm_start is not None:
            import dataclasses

            key = "--warm-start" if "warm_start" in overrides else "warm_start"
            settings = dataclasses.replace(config.settings, **overrides)
            overrides = {**overrides, "warm_start": _warm_start_source(settings, directory, key)}
        plan = _plan(config, overrides)
        folder = _home(directory).resolve() / config.name
        if plan.storage is None:  # the study folder's journal, checked like any storage
            plan.storage = check_storage(folder / "study.journal", new_folder_ok=True)
            folder.mkdir(parents=True, exist_ok=True)
    except BaseException:
        if tracker is not None:
            tracker.abort()
        raise
    index = {
        "name": config.name,
        "config": config.text,
        "search_path": config.search_path,
        "overrides": {k: v for k, v in overrides.items() if k != "tracking"},
        "storage": str(plan.storage),
        "tracking": plan.tracking_uri,  # resolved by plan_study
        "source": config.source,
    }
    progress = _Progress(quiet)

    def on_start(study: Any, already: int) -> None:
        # Only once the study has opened and matched its stored space and direction.
        _write_index(config.name, directory, index)
        warm = plan.warm_start
        if warm is not None and warm.summary and not warm.lossy and not already:
            click.echo(warm.summary)  # (a lossy one is logged as a warning)
        progress.on_start(study, already)

    def remember_mlflow_run(study: Any) -> None:  # for `hpo ui NAME`
        if study is not None and study.mlflow_run_id:
            index["mlflow"] = {"experiment_id": study.mlflow_experiment_id, "run_id": study.mlflow_run_id}
            _write_index(config.name, directory, index)

    started = time.monotonic()
    try:
        study = _driver.run_plan(
            plan,
            callbacks=[progress.on_trial],
            texts={"config.yaml": config.text},
            on_start=on_start,
            source=config.source or None,
            tracker=tracker,
        )
    except AllTrialsFailedError as err:
        remember_mlflow_run(err.study)
        raise
    except KeyboardInterrupt:
        progress.stop()  # before the message, so the bar does not overwrite it
        click.echo(
            f"\nstudy {config.name!r} interrupted; running trials were marked interrupted and "
            f"will run again. Resume with: hpo resume {config.name}",
            err=True,
        )
        raise
    finally:
        progress.stop()
    remember_mlflow_run(study)
    _print_summary(study, time.monotonic() - started)


def _early_tracker(tracking: Any) -> Any:
    """A tracker on the study's tracking store, started before the study is planned; None when
    tracking is off or the setting is bad (planning then says why)."""
    from hpo._tracking import Tracker, resolve_tracking_uri

    try:
        uri = resolve_tracking_uri(tracking)
    except ConfigError:
        return None
    return Tracker(uri) if uri is not None else None


class _Progress:
    """A live bar on stderr: trials ended, best so far, elapsed and ETA."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or not sys.stderr.isatty()
        self.bar: Any = None
        self.best: float | None = None
        self.direction: str | None = "minimize"

    def on_start(self, study: Any, already: int) -> None:
        if self.quiet:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.direction = None if study.multi_objective else study.direction  # several: no best value
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials  best {task.fields[best]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.bar.add_task(study.name, total=study.n_trials, completed=already, best="-")
        self.bar.start()

    def on_trial(self, study: Any, trial: Any) -> None:
        if self.bar is None:
            return
        from hpo._states import COMPLETE, ENDED
        from hpo._study import better, trial_state

        state = trial_state(trial)
        if state == COMPLETE and self.direction is not None and better(trial.value, self.best, self.direction):
            self.best = trial.value
        advance = 1 if state in ENDED else 0
        self.bar.update(self.task, advance=advance, best=f"{self.best:.6g}" if self.best is not None else "-")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _print_summary(study: Any, seconds: float) -> None:

    from hpo._states import ENDED

    counts = study.counts()
    parts = ", ".join(f"{counts[s]} {s}" for s in ENDED if counts[s])
    click.echo(f"study {study.name!r}: {parts} in {seconds:.1f} s")
    if study.multi_objective:
        _print_front(study)
    else:
        _print_best(study)
    _echo_test_score(study)
    if study.tracking_uri:
        click.echo(f"MLflow: {study.tracking_uri} (experiment {study.name!r}, run {study.mlflow_run_id})")
        click.echo(f"browse it with: hpo ui {study.name}")
    _warn_unrecorded(study)


def _print_front(study: Any) -> None:
    """A multi-objective study's end: its front's size, hypervolume and selected trial."""
    import yaml

    front = study.best_trials
    if not front:
        click.echo("no trial completed")
        return
    point = study.reference_point
    volume = (
        f"; hypervolume {study.hypervolume():.6g} (reference point {', '.join(f'{v:g}' for v in point)})"
        if point
        else ""
    )
    click.echo(f"Pareto front: {len(front)} trials ({', '.join(str(t.number) for t in front)}){volume}")
    click.echo(f"print it with: hpo best {study.name}")
    try:
        picked = study.select()
    except HPOError as err:
        click.echo(f"selected: none ({str(err).split(': ', 1)[-1]})")
        return
    click.echo(f"selected: trial {picked.number} ({_values_text(study, picked)})")
    params = study.objective_params(picked.params)
    click.echo("selected params:\n" + _indent(yaml.safe_dump(params, sort_keys=False)).rstrip("\n"))


def _values_text(study: Any, trial: Any) -> str:
    """``accuracy 0.97, latency_ms 3.2``: a trial's value of each objective."""
    return ", ".join(f"{n} {v:.6g}" for n, v in zip(study.objective_names, trial.values))


def _print_best(study: Any) -> None:
    import yaml

    try:
        best = study.best_trial
    except HPOError:
        click.echo("no trial completed")
    else:
        click.echo(f"best value: {best.value:.6g} (trial {best.number})")
        params = study.objective_params(best.params)  # as the objective got them (conditional spaces)
        click.echo("best params:\n" + _indent(yaml.safe_dump(params, sort_keys=False)).rstrip("\n"))


def _echo_test_score(study: Any) -> None:
    """The held-out test score, when the study's final model was scored on one."""
    test = study.test_score
    if test is not None:
        from hpo._summary import test_score_text

        click.echo(f"test score: {test_score_text(test)}")


def _warn_unrecorded(study: Any) -> None:
    lacks = []
    if study.unrecorded_trials:
        lacks.append(f"trial(s) {', '.join(str(n) for n in study.unrecorded_trials)}")
    if study.missing_study_writes:
        lacks.append(f"the study run's {', '.join(study.missing_study_writes)}")
    if lacks:
        click.echo(
            f"warning: MLflow lacks {' and '.join(lacks)}; once it is back, run: hpo sync {study.name}", err=True
        )


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def _load_study(name: str, directory: str | None, storage: str | None) -> Any:
    """An :class:`hpo.Study` read from its storage (the index's, or ``storage``)."""
    import optuna

    from hpo._storage import check_storage, open_storage
    from hpo._study import Study

    index: dict[str, Any] = {}
    if storage is None:
        index = _read_index(name, directory)
        storage = index["storage"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opened = open_storage(check_storage(storage))
    assert opened is not None, "a study read by name lives in a persistent storage"
    try:
        study = optuna.load_study(study_name=name, storage=opened)
    except KeyError:
        raise StudyNotFoundError(f"study: no study named {name!r} in storage {storage!r}") from None
    mlflow = index.get("mlflow", {})
    return Study(
        study,
        tracking_uri=index.get("tracking"),
        mlflow_run_id=mlflow.get("run_id"),
        mlflow_experiment_id=mlflow.get("experiment_id"),
    )


# -- commands ------------------------------------------------------------------------------

_dir_option = click.option("--dir", "directory", metavar="DIR", help="Study folder (default: $HPO_HOME or ./.hpo).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpo", prog_name="hpo")
def cli() -> None:
    """Hyperparameter optimization with Optuna's searchers and MLflow tracking.

    Start with `hpo run study.yaml`, then browse the runs with `hpo ui NAME`.
    """


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--trials", "n_trials", type=click.IntRange(min=1), help="Trials to run (ended on their own).")
@click.option("--searcher", help="tpe, random, grid, gp, cmaes, qmc or auto.")
@click.option("--pruner", help="none, median, successive_halving or hyperband.")
@click.option("--seed", type=int, help="Seed of the searcher.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Stop starting trials after SECONDS.")
@click.option(
    "--trial-timeout", type=click.FloatRange(min=0, min_open=True), help="Stop and fail a trial running past SECONDS."
)
@click.option("--tracking", metavar="URI", help="MLflow tracking URI, or 'none' to turn tracking off.")
@click.option("--storage", metavar="URL", help="Optuna storage URL or journal file (default: the study folder).")
@click.option("--name", help="Study name (default: the config's name).")
@click.option(
    "--warm-start",
    metavar="NAME",
    help="Start from the complete trials of the earlier study NAME (of the study folder, or the storage).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_dir_option
def run(config: str, name: str | None, quiet: bool, directory: str | None, **options: Any) -> None:
    """Run the study described by CONFIG (a YAML file). Running it again resumes it."""
    from hpo._config import load_config

    study_config = load_config(config)
    if name is not None:
        from hpo._config import check_name

        study_config.name = check_name(name)
    overrides = {k: v for k, v in options.items() if v is not None}
    if "tracking" in overrides:
        overrides["tracking"] = _tracking_option(overrides["tracking"])
    _execute(study_config, overrides, directory, quiet)


@cli.command()
@click.argument("name")
@click.option("--trials", "n_trials", type=click.IntRange(min=1), help="Raise the number of trials.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_dir_option
def resume(name: str, n_trials: int | None, quiet: bool, directory: str | None) -> None:
    """Resume the study NAME: finish its trials, rerun those a crash cut short."""
    config, overrides = _indexed_config(name, directory)
    if n_trials is not None:
        overrides["n_trials"] = n_trials
    _execute(config, overrides, directory, quiet)


def _indexed_config(name: str, directory: str | None) -> tuple[Any, dict[str, Any]]:
    """The config a study was run with, and its overrides (storage and tracking included)."""
    from hpo._config import parse_config

    index = _read_index(name, directory)
    config = parse_config(index["config"], base=Path(index["search_path"][0]), default_name=name)
    config.name = name
    config.search_path = index["search_path"]
    config.source = index.get("source") or ""
    overrides = dict(index.get("overrides") or {})
    overrides["tracking"] = index.get("tracking")
    overrides["storage"] = index["storage"]
    return config, overrides


@cli.command()
@click.argument("name")
@_dir_option
def sync(name: str, directory: str | None) -> None:
    """Write to MLflow what it lacks of the study NAME (after a tracking outage).

    The study storage is the source of truth and is only read.
    """
    from hpo._sync import sync_plan

    config, overrides = _indexed_config(name, directory)
    study = sync_plan(_plan(config, overrides), texts={"config.yaml": config.text}, source=config.source or None)
    if study.unrecorded_trials or study.missing_study_writes:
        _warn_unrecorded(study)
        sys.exit(EXIT_FAILED)
    click.echo(f"study {name!r}: MLflow holds its {len(study.trials)} trials (run {study.mlflow_run_id})")


@cli.command()
@click.argument("name")
@click.option("--storage", metavar="URL", help="Read the study from this storage instead.")
@click.option("--limit", type=click.IntRange(min=1), help="Show only the best LIMIT trials.")
@click.option(
    "--plots",
    is_flag=True,
    help="Also draw the plots and write the summary, to the study's MLflow parent run and to --out.",
)
@click.option("--out", metavar="DIR", help="Folder for --plots (default: DIR/NAME/summary of --dir).")
@_dir_option
def show(
    name: str, storage: str | None, limit: int | None, plots: bool, out: str | None, directory: str | None
) -> None:
    """Show the trials of the study NAME as a table."""
    from rich.console import Console
    from rich.table import Table

    if out is not None and not plots:
        raise ConfigError(key="--out", message=f"only used with --plots, got --out {out!r} alone")
    folder = Path(out) if out is not None else _home(directory) / name / "summary"
    if plots and folder.exists() and not folder.is_dir():
        raise ConfigError(key="--out", message=f"{str(folder)!r} is a file, expected a folder for the plots")
    study = _load_study(name, directory, storage)
    df = study.trials_df()
    counts = study.counts()
    multi = study.multi_objective
    heading = (
        ", ".join(f"{n} {d}" for n, d in zip(study.objective_names, study.directions)) if multi else study.direction
    )
    table = Table(title=f"study {name!r} ({heading})")
    if df.empty:
        Console().print(f"study {name!r} has no trials yet")
        return
    if multi:  # the front first (marked *), each objective a column
        values = [c for c in df.columns if c.startswith("values.")]
        if limit is not None:
            df = df.sort_values(["pareto", "number"], ascending=[False, True]).head(limit)
        columns = ["number", "pareto", "state", *values]
    else:
        if limit is not None:
            df = df.sort_values("value", ascending=study.direction == "minimize", na_position="last").head(limit)
        columns = ["number", "state", "value"]
    columns += [c for c in df.columns if c.startswith("params.")] + ["duration_s"]
    for column in columns:
        label = column.removeprefix("params.").removeprefix("values.")
        table.add_column(label, justify="left" if column in ("state", "pareto") else "right")
    for _, row in df.iterrows():
        table.add_row(*(("*" if row[c] else "") if c == "pareto" else _cell(row[c]) for c in columns))
    console = Console(width=max(120, shutil.get_terminal_size().columns))
    console.print(table)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if multi:
        summary += f"; * on the Pareto front ({len(study.best_trials)} trials)"
    console.print(summary)
    _echo_test_score(study)
    if plots:
        _write_summary(study, folder)


def _write_summary(study: Any, folder: Path) -> None:
    """``show --plots``: the summary artifacts into ``folder`` and the study's parent run."""
    from hpo._summary import write_summary

    report = write_summary(study, folder)
    click.echo(f"wrote the summary and {len(report.written)} plot files to {folder}")
    for plot, why in report.skipped.items():
        click.echo(f"  {plot}: left out, {why}")
    for plot, why in report.failed.items():
        click.echo(f"warning: plot {plot!r} left out: {_one_line(why)}", err=True)
    if study.tracking_uri is None or study.mlflow_run_id is None:
        return  # tracking was off, or the study was read from a storage given by hand
    from hpo._tracking import log_folder

    try:
        log_folder(study.tracking_uri, study.mlflow_run_id, folder)
    except Exception as err:
        click.echo(
            f"error: tracking: could not log the summary to MLflow run {study.mlflow_run_id}: "
            f"{type(err).__name__}: {_one_line(str(err))}",
            err=True,
        )
        sys.exit(1)
    click.echo(f"logged them to MLflow run {study.mlflow_run_id} ({study.tracking_uri})")


def _cell(value: Any) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@cli.command()
@click.argument("name")
@click.option("--storage", metavar="URL", help="Read the study from this storage instead.")
@click.option(
    "--select",
    "rule",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[RULE]",
    help="Several objectives: print the params of the trial a rule picks, e.g. "
    "'{maximize: accuracy, where: \"latency_ms <= 5\"}'; alone, the study's own rule.",
)
@_dir_option
def best(name: str, storage: str | None, rule: str | None, directory: str | None) -> None:
    """Print the best params of the study NAME as YAML, ready to reuse; with several objectives
    its Pareto front (trial, values, params of each member), or with --select one trial's params."""
    import yaml

    study = _load_study(name, directory, storage)
    if study.multi_objective:
        _best_of_front(study, rule)
        return
    if rule is not None:
        raise ConfigError(key="--select", message=f"picks a trial of a study of several objectives; {name!r} has one")
    params = study.best_params
    if study.constrained():  # a YAML comment: the output stays ready to reuse
        click.echo(
            f"# best feasible trial {study.best_trial.number}; {study.infeasible()} of {len(study.trials)} "
            "trials infeasible (constraints)"
        )
    click.echo(yaml.safe_dump(params, sort_keys=False), nl=False)


def _best_of_front(study: Any, rule: str | None) -> None:
    """``hpo best`` of a multi-objective study: the front as YAML, or the params one rule picks."""
    import yaml

    from hpo._config import read_yaml
    from hpo._summary import front_rows

    objectives = study.objectives.text()
    if rule is None:
        rows = front_rows(study)
        if not rows:
            raise HPOError(f"study {study.name!r} has no completed trial yet")
        click.echo(f"# Pareto front of study {study.name!r}: {len(rows)} trials ({objectives})")
        if study.constrained():
            click.echo(
                f"# feasible trials only; {study.infeasible()} of {len(study.trials)} trials infeasible (constraints)"
            )
        click.echo(yaml.safe_dump(rows, sort_keys=False), nl=False)
        return
    spec = read_yaml(rule, "--select") if rule.strip() else None
    picked = study.select(spec)
    click.echo(
        f"# trial {picked.number} ({_values_text(study, picked)}), picked from the front of {len(study.best_trials)}"
    )
    click.echo(yaml.safe_dump(study.objective_params(picked.params), sort_keys=False), nl=False)


@cli.command()
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@click.option(
    "--reference",
    metavar="V1,V2,...",
    help="Several objectives: the hypervolume's reference point, one value per objective "
    "(default: each study's own, as it ran with or the worst value of each objective).",
)
@_dir_option
def compare(names: tuple[str, ...], reference: str | None, directory: str | None) -> None:
    """Compare studies side by side: best value (or, with several objectives, the front's size
    and hypervolume against a stated reference point), test score, trials, pruned share, time."""
    from rich.console import Console
    from rich.table import Table

    from hpo._states import FAILED, PRUNED
    from hpo._study import n_ended, time_spent

    point = _reference(reference)
    studies = [_load_study(name, directory, None) for name in names]
    several = any(study.multi_objective for study in studies)
    table = Table(title="studies")
    for column in (
        "study",
        "direction",
        "best value",
        "best trial",
        *(("pareto", "hypervolume", "reference point") if several else ()),
        "test",
        "trials",
        "pruned",
        "failed",
        "trial time (s)",
        "span (s)",
    ):
        table.add_column(column, justify="left" if column in ("study", "direction") else "right")
    for name, study in zip(names, studies):
        counts = study.counts()
        ended = n_ended(counts)
        busy, span = time_spent(study.trials) or (0.0, 0.0)
        front: tuple[str, ...] = ("-", "-", "-") if several else ()
        if study.multi_objective:
            direction = ", ".join(f"{n} {d}" for n, d in zip(study.objective_names, study.directions))
            value, number = "-", "-"
            try:  # the trial its select rule picks, if it has one
                number = str(study.select().number)
            except HPOError:
                pass
            ref = point if point is not None else study.reference_point
            if ref is not None and len(ref) != len(study.directions):
                raise ConfigError(
                    key="--reference",
                    message=f"expected {len(study.directions)} values for study {name!r} "
                    f"({', '.join(study.objective_names)}), got {len(ref)}: {reference}",
                )
            volume = "-" if ref is None else f"{study.hypervolume(ref):.6g}"
            shown = "-" if ref is None else ", ".join(f"{v:g}" for v in ref)
            front = (str(len(study.best_trials)), volume, shown)
        else:
            direction = study.direction
            try:
                best = study.best_trial
                value, number = f"{best.value:.6g}", str(best.number)
            except HPOError:  # no trial completed
                value, number = "-", "-"
        pruned = f"{counts[PRUNED] / ended:.0%}" if ended else "-"
        test = study.test_score
        table.add_row(
            name,
            direction,
            value,
            number,
            *front,
            f"{float(test['value']):.6g}" if test is not None else "-",  # the best trial's model, scored once
            str(ended),
            pruned,
            str(counts[FAILED]),
            f"{busy:.1f}",
            f"{span:.1f}",
        )
    Console(width=max(170 if several else 120, shutil.get_terminal_size().columns)).print(table)


def _reference(text: str | None) -> list[float] | None:
    """``--reference 1.0,200``: a reference point, or a one-line error naming the value."""
    if text is None:
        return None
    try:
        point = [float(v) for v in text.split(",")]
    except ValueError:
        point = []
    if not point or not all(math.isfinite(v) for v in point):
        raise ConfigError(key="--reference", message=f"expected numbers separated by commas like 1.0,200, got {text!r}")
    return point


@cli.command()
@click.argument("name", required=False)
@click.option("--tracking", metavar="URI", help="The tracking store (default: the study's, else the default store).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; keep 127.0.0.1 unless you mean to share it.",
)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@_dir_option
def ui(name: str | None, tracking: str | None, host: str, port: int, directory: str | None) -> None:
    """Open the MLflow UI on a study's tracking store (bound to 127.0.0.1)."""
    from hpo._tracking import DEFAULT, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking) if tracking else None
    url = f"http://{host}:{port}"
    if name is not None:
        index = _read_index(name, directory)
        uri = uri or index.get("tracking")
        if uri is None:
            raise ConfigError(key="tracking", message=f"study {name!r} ran with tracking off; nothing to show")
        mlflow = index.get("mlflow") or {}
        if mlflow.get("run_id"):
            url += f"/#/experiments/{mlflow['experiment_id']}/runs/{mlflow['run_id']}"
    if "#" not in url:
        url += "/#/experiments"
    # MLflow 3's UI opens on its GenAI view (traces); a study's runs are under "Model training".
    url += "?workflowType=machine_learning"
    uri = uri or resolve_tracking_uri(DEFAULT)
    assert uri is not None, "the default tracking store is always a URI"
    if uri.startswith(("http://", "https://")):
        raise ConfigError(key="tracking", message=f"{uri!r} is a server already; open it in a browser")
    click.echo(f"MLflow UI for {uri}\nopen {url}  (Ctrl-C to stop)", err=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    # Browsing runs needs no job runner (a dozen worker processes for MLflow's GenAI jobs).
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    import signal

    from hpo._processes import run_group

    # In a group of its own that ends whole (mlflow, uvicorn and its workers) whatever ends us:
    # kill and supervisors send SIGTERM to this process only, a closed terminal SIGHUP.
    code = run_group(command, env=env)
    # Ctrl-C is how the UI is stopped: exit 0, as ever; SIGTERM 143, SIGHUP 129.
    sys.exit(0 if code == 128 + signal.SIGINT else code)


@cli.command()
def spaces() -> None:
    """List the ready-made search spaces (usable as `space: NAME`)."""
    import hpo.search_spaces as search_spaces

    for name in search_spaces.available():
        first = search_spaces.path(name).read_text().splitlines()[0].lstrip("# ")
        click.echo(f"{name:24} {first}")


def _one_line(message: str) -> str:
    """A message on one line: line breaks inside it (a key with a newline) shown escaped."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hpo`` script: exit 2 on bad input, 130/143 on interrupts."""
    from hpo._signals import Terminated

    try:
        code = cli.main(args=argv, prog_name="hpo", standalone_mode=False)
    except click.exceptions.UsageError as err:
        # One line like every other bad input (click's own is usage, a hint and the error).
        param = getattr(err, "param", None)
        if param is not None:  # error: --trials: 0 is not in the range x>=1.
            where = max(param.opts, key=len) if isinstance(param, click.Option) else str(param.name)
            message = f"{where}: {err.message or err.format_message()}"  # a missing one has none
        else:  # error: No such option: --trails (Possible options: --trials)
            message = err.format_message()
        click.echo(f"error: {_one_line(message)}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except click.exceptions.Abort as err:
        context = err.__context__
        sys.exit(128 + context.signum if isinstance(context, Terminated) else EXIT_INTERRUPTED)
    except AllTrialsFailedError as err:
        # A report of several lines (the failures counted, each error on its own), printed as lines.
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_FAILED)
    except HPOError as err:
        click.echo(f"error: {_one_line(str(err))}", err=True)
        sys.exit(EXIT_USAGE)
    except Terminated as err:
        sys.exit(128 + err.signum)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)
