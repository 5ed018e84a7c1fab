"""Warm starts: what earlier studies learned, told to a new study's searcher before it asks.

A source is an earlier hpo study (``{study: NAME, storage: URL}``, or its name alone in the new
study's storage), an MLflow experiment of hpo runs (``{mlflow_experiment: NAME}``), or
configurations to run first (``{enqueue: [{...}, ...]}``, or a plain list). Several may be
given together, as the keys of one mapping.

Each complete, feasible trial of a source is fitted into the new space: a parameter the new space
lacks is left out, one it adds is filled from ``defaults`` (else the trial is dropped), a value
outside the new bounds or choices drops the trial. What was dropped is said in one line. The trials
that fit are added to the new study as complete trials marked ``hpo:warm_start`` (hpo's state
``warm``): the searcher learns from them, but they do not count toward ``n_trials``, are never a
best trial, and have no MLflow run. Enqueued configurations are real trials, run first.

Everything is read and checked when the study is planned: a source that does not exist, or one of
other directions or objectives, is a one-line :class:`~hpo.ConfigError` before anything runs.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo._exceptions import ConfigError
from hpo._study import WARM_START
from hpo._validation import check_keys, did_you_mean

if TYPE_CHECKING:
    import optuna

    from hpo._objectives import Objectives
    from hpo._space import Space

__all__ = ["WARM_START", "WarmStart", "check_warm_start"]

_logger = logging.getLogger("hpo")
KEY = "warm_start"
_KEYS = ("study", "storage", "mlflow_experiment", "tracking", "enqueue", "defaults")


@dataclass
class _Record:
    """One complete trial of a source: parameters by path and its objective values."""

    params: dict[str, Any]
    values: list[float]


@dataclass
class WarmStart:
    """A warm start checked against the new study: the trials to tell and the ones to run first."""

    #: The source, for messages and the parent run's param (``study 'svc-1'``).
    label: str
    #: (parameters by path, values) of each source trial that fits the new space.
    trials: list[tuple[dict[str, Any], list[float]]] = field(default_factory=list)
    #: Configurations (by the objective's names, as given) to run before the searcher asks.
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    #: The one-line account of what fitted and what was dropped.
    summary: str = ""
    #: Whether trials or parameters were dropped, or parameters filled from defaults.
    lossy: bool = False

    def apply(self, study: optuna.study.Study, space: Space) -> None:
        """Add the fitted trials to a new study and queue the configurations to run first."""
        import optuna

        distributions = space.paths()
        for params, values in self.trials:
            trial = optuna.trial.create_trial(
                params=params,
                distributions={path: distributions[path].to_optuna() for path in params},
                values=values,
                user_attrs={WARM_START: self.label},
            )
            study.add_trial(trial)
        for config in self.enqueue:
            study.enqueue_trial(config, skip_if_exists=False)
        if self.summary:  # a warning when something was dropped or filled in: the user must know
            _logger.log(logging.WARNING if self.lossy else logging.INFO, "%s", self.summary)


def check_warm_start(
    spec: Any,
    space: Space,
    directions: Sequence[str],
    objectives: Objectives | None,
    storage: Any,
    tracking_uri: str | None,
) -> WarmStart | None:
    """Read a warm start's sources and fit their trials into ``space``.

    Args:
        spec: The ``warm_start`` setting.
        space: The new study's space.
        directions: The new study's directions, one per objective.
        objectives: Its named objectives, if any (a source's names must be the same).
        storage: The new study's storage (checked): where a source named alone is looked up.
        tracking_uri: The new study's tracking URI: where an MLflow experiment is looked up.

    Raises:
        ConfigError: ``warm_start``: a bad spec, a source that does not exist, or one whose
            directions or objectives differ.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = {"study": spec}
    elif isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        spec = {"enqueue": list(spec)}
    if not isinstance(spec, Mapping):
        raise ConfigError(
            key=KEY,
            message=f"expected a study name, a list of configurations or a mapping with study, "
            f"mlflow_experiment or enqueue, got {spec!r}",
        )
    check_keys(spec, _KEYS, KEY)
    if not any(k in spec for k in ("study", "mlflow_experiment", "enqueue")):
        raise ConfigError(key=KEY, message=f"names no source (study, mlflow_experiment or enqueue), got {dict(spec)!r}")
    defaults = spec.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ConfigError(key=f"{KEY}.defaults", message=f"expected a mapping of parameter values, got {defaults!r}")
    records: list[_Record] = []
    labels: list[str] = []
    if "study" in spec:
        label, found = _from_study(spec["study"], spec.get("storage", storage), directions, objectives)
        labels.append(label)
        records += found
    if "mlflow_experiment" in spec:
        label, found = _from_mlflow(
            spec["mlflow_experiment"], spec.get("tracking", tracking_uri), space, directions, objectives
        )
        labels.append(label)
        records += found
    warm = WarmStart(label=" + ".join(labels) or "enqueue")
    if records:
        warm.trials, warm.summary, warm.lossy = _fit(records, space, dict(defaults), warm.label)
    if "enqueue" in spec:
        warm.enqueue = _check_enqueue(spec["enqueue"], space)
        what = f"{len(warm.enqueue)} configuration{'s' * (len(warm.enqueue) != 1)} run first"
        warm.summary = f"{warm.summary}; {what}" if warm.summary else f"warm start: {what}"
        if not labels:
            warm.label = "enqueue"
    return warm


def _from_study(
    name: Any, storage: Any, directions: Sequence[str], objectives: Objectives | None
) -> tuple[str, list[_Record]]:
    """The complete, feasible trials of an earlier hpo study."""
    import optuna

    from hpo._searchers import quiet_optuna
    from hpo._storage import check_storage, open_storage
    from hpo._study import is_feasible, trial_state

    if not isinstance(name, str) or not name:
        raise ConfigError(key=f"{KEY}.study", message=f"expected a study name, got {name!r}")
    try:
        storage = check_storage(storage)
    except ConfigError as err:
        raise ConfigError(key=f"{KEY}.storage", message=err.message) from None
    if storage is None:
        raise ConfigError(
            key=f"{KEY}.storage",
            message=f"study {name!r} cannot be found in memory; give the storage it is in "
            "(warm_start: {study: NAME, storage: URL})",
        )
    if isinstance(storage, Path) and not storage.exists():
        raise ConfigError(key=f"{KEY}.study", message=f"no study {name!r}: {str(storage)!r} does not exist")
    if isinstance(storage, str) and storage.startswith("sqlite:///") and not Path(storage[10:]).exists():
        raise ConfigError(key=f"{KEY}.study", message=f"no study {name!r}: {storage[10:]!r} does not exist")
    with quiet_optuna():
        opened = open_storage(storage)
        assert opened is not None, "a storage was given"
        names = [s.study_name for s in optuna.get_all_study_summaries(opened, include_best_trial=False)]
        if name not in names:
            hint = did_you_mean(name, names, f"; studies there: {', '.join(sorted(names)[:10])}" if names else "")
            raise ConfigError(key=f"{KEY}.study", message=f"no study {name!r} in {_shown(storage)}{hint}")
        source = optuna.load_study(study_name=name, storage=opened)
    stored = [d.name.lower() for d in source.directions]
    _check_same(f"study {name!r}", stored, list(source.metric_names or []), directions, objectives)
    records = [
        _Record(dict(t.params), list(t.values))
        for t in source.get_trials(deepcopy=False)
        if trial_state(t) == "complete" and is_feasible(t) and t.values is not None
    ]
    return f"study {name!r}", records


def _from_mlflow(
    name: Any, uri: Any, space: Space, directions: Sequence[str], objectives: Objectives | None
) -> tuple[str, list[_Record]]:
    """The complete trial runs of an MLflow experiment of hpo studies."""
    if not isinstance(name, str) or not name:
        raise ConfigError(key=f"{KEY}.mlflow_experiment", message=f"expected an experiment name, got {name!r}")
    if uri is None:
        raise ConfigError(key=f"{KEY}.tracking", message="tracking is off; give the tracking URI the experiment is in")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=str(uri))
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise ConfigError(key=f"{KEY}.mlflow_experiment", message=f"no MLflow experiment {name!r} at {uri}")
    ids = [experiment.experiment_id]
    # Every study run, the latest first: its direction is checked; all their trials are read.
    parents = client.search_runs(
        ids, "tags.`hpo.role` = 'study'", order_by=["attributes.start_time DESC"], max_results=50_000
    )
    if not parents:
        raise ConfigError(key=f"{KEY}.mlflow_experiment", message=f"experiment {name!r} holds no hpo study run")
    params = parents[0].data.params
    if "objectives" in params:  # accuracy: maximize, latency_ms: minimize
        pairs = [part.split(":") for part in params["objectives"].split(",")]
        names, stored = [p[0].strip() for p in pairs], [p[1].strip() for p in pairs]
    else:
        names, stored = [], [params.get("direction", "minimize")]
    _check_same(f"MLflow experiment {name!r}", stored, names, directions, objectives)
    metrics = names or ["value"]
    runs = client.search_runs(ids, "tags.`hpo.state` = 'complete'", max_results=50_000)
    paths = space.paths()
    records = []
    has_run = set()
    for run in runs:
        tags = run.data.tags
        if "hpo.trial_number" not in tags or any(m not in run.data.metrics for m in metrics):
            continue
        has_run.add((tags.get("mlflow.parentRunId"), tags["hpo.trial_number"]))
        values = [run.data.metrics[m] for m in metrics]
        records.append(_Record({k: _parsed(v, paths.get(k)) for k, v in run.data.params.items()}, values))
    # With child_runs top_k or none most trials have no run: their study run's trials.csv has them.
    for parent in parents:
        for row in _study_run_trials(client, parent.info.run_id):
            if row.get("state") != "complete" or (parent.info.run_id, row.get("number")) in has_run:
                continue
            try:
                values = [float(row[m]) for m in metrics]
            except (KeyError, ValueError):  # another study's objectives
                continue
            params = {k[len("params.") :]: v for k, v in row.items() if k.startswith("params.") and v != ""}
            records.append(_Record({k: _parsed(v, paths.get(k)) for k, v in params.items()}, values))
    return f"MLflow experiment {name!r}", records


def _study_run_trials(client: Any, run_id: str) -> list[dict[str, str]]:
    """The rows of a study run's ``trials.csv``; none if it has none (a study still running, killed)."""
    import csv
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(run_id, "trials.csv", folder)
        except Exception:  # (MLflow raises several kinds for a missing artifact, by store)
            return []
        with open(path, newline="") as file:
            return list(csv.DictReader(file))


def _parsed(text: str, domain: Any) -> Any:
    """An MLflow param (a string) as the value the new space's domain holds, else the text."""
    from hpo._space import Categorical, Choice, Float, Int

    try:
        if isinstance(domain, Float):
            return float(text)
        if isinstance(domain, Int):
            return int(float(text))
    except ValueError:
        return text
    if isinstance(domain, (Categorical, Choice)):
        choices = list(domain.branches) if isinstance(domain, Choice) else list(domain.choices)
        return next((c for c in choices if str(c) == text), text)
    return text


def _check_same(
    what: str, stored: list[str], names: list[str], directions: Sequence[str], objectives: Objectives | None
) -> None:
    wanted = list(directions)
    if stored != wanted:
        raise ConfigError(
            key=KEY,
            message=f"{what} has direction{'s' * (len(stored) > 1)} {_one(stored)!r}, this study "
            f"{_one(wanted)!r}: its values would mislead the searcher",
        )
    if objectives is not None and objectives.multi and names and names != list(objectives.names):
        raise ConfigError(
            key=KEY, message=f"{what} has objectives {', '.join(names)}, this study {objectives.listed()}"
        )


def _one(directions: list[str]) -> Any:
    return directions[0] if len(directions) == 1 else directions


def _fit(
    records: list[_Record], space: Space, defaults: dict[str, Any], label: str
) -> tuple[list[tuple[dict[str, Any], list[float]]], str, bool]:
    """The records that fit ``space`` (filled from ``defaults``), the line saying what did not,
    and whether anything was dropped or filled."""
    domains = space.paths()
    fitted = []
    outside: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    filled: Counter[str] = Counter()
    for record in records:
        values = [float(v) for v in record.values]
        if not all(math.isfinite(v) for v in values):
            continue
        given = {**{k: v for k, v in defaults.items() if k in domains}, **record.params}
        active = space.active_paths(given)
        params, problem = {}, False
        for path in active:
            if path not in record.params:
                if path not in defaults:
                    missing[path] += 1
                    problem = True
                    continue
                filled[path] += 1
            value = given[path]
            if not _inside(domains[path], value):
                outside[path] += 1
                problem = True
            params[path] = value
        for path in record.params:
            if path not in active:
                left_out[path] += 1
        if not problem:
            fitted.append((params, values))
    parts = [f"warm start from {label}: {len(fitted)} of {len(records)} complete trials told to the searcher"]
    dropped = len(records) - len(fitted)
    if dropped:
        why = [f"{p} outside the space: {n}" for p, n in outside.items()]
        why += [f"{p} missing: {n}" for p, n in missing.items()]
        parts.append(f"dropped {dropped} ({'; '.join(why) or 'values not finite'})")
    if left_out:
        parts.append("left out " + ", ".join(f"{p} (not in the space, {n} trials)" for p, n in left_out.items()))
    if filled:
        parts.append("filled " + ", ".join(f"{p}={defaults[p]!r} ({n} trials)" for p, n in filled.items()))
    return fitted, "; ".join(parts), len(parts) > 1


def _check_enqueue(configs: Any, space: Space) -> list[dict[str, Any]]:
    """Configurations to run first, each checked against the space (by path)."""
    key = f"{KEY}.enqueue"
    if not isinstance(configs, Sequence) or isinstance(configs, (str, bytes)):
        raise ConfigError(key=key, message=f"expected a list of configurations, got {configs!r}")
    domains = space.paths()
    out = []
    for i, config in enumerate(configs):
        if not isinstance(config, Mapping):
            raise ConfigError(key=f"{key}[{i}]", message=f"expected a mapping of parameter values, got {config!r}")
        for path, value in config.items():
            if path not in domains:
                hint = did_you_mean(path, domains)
                raise ConfigError(key=f"{key}[{i}]", message=f"unknown parameter {path!r}{hint}")
            if not _inside(domains[path], value):
                raise ConfigError(
                    key=f"{key}[{i}].{path}", message=f"{value!r} is outside the space ({domains[path]!r})"
                )
        out.append(dict(config))
    return out


def _inside(domain: Any, value: Any) -> bool:
    """Whether ``value`` is one the new space's ``domain`` could propose (as Optuna reads it)."""
    distribution = domain.to_optuna()
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):  # e.g. a choice the domain does not have
        return False


def _shown(storage: Any) -> str:
    return repr(str(storage)) if isinstance(storage, (str, Path)) else type(storage).__name__
