"""Study configs (``study.yaml``): read safely, validated once, with one-line errors.

A config is code: ``objective: package.module:function`` imports and runs that function. Read
configs you trust only (see the README's trust boundary).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo._exceptions import ConfigError
from hpo._plan import Settings
from hpo._registry import extend_path, load_callable
from hpo._space import Space, space_from_spec
from hpo._validation import check_keys

#: The config keys that are :func:`hpo.tune`'s keyword arguments, as they are.
_SETTINGS = (
    "direction",
    "n_trials",
    "searcher",
    "pruner",
    "seed",
    "timeout",
    "trial_timeout",
    "tracking",
    "storage",
    "executor",
    "plots",
    "constraints",
    "outcome_constraints",
    "objectives",
    "directions",
    "select",
    "reference_point",
    "prune_on",
    "checkpoint_dir",
    "keep_best",
    "warm_start",
    "reproducible",
    "resource_metrics",
    "child_runs",
)
#: Every key of a config.
KEYS = ("name", "objective", "trainer", "data", "space", *_SETTINGS)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class StudyConfig:
    """A config file, read and checked: what :func:`hpo.tune` needs to run it."""

    #: ``package.module:function``, or None when a ``trainer`` block is given.
    objective: str | None
    space: Space
    #: The keyword arguments of :func:`hpo.tune` the config sets (``study_name`` is its name).
    settings: Settings
    #: The ``trainer:`` block (``kind: sklearn``, ...) and its ``data:`` block.
    trainer: dict[str, Any] | None = None
    data: Any = None
    #: Folders the objective's module is imported from: the config's folder and the cwd.
    search_path: list[str] = field(default_factory=list)
    #: The YAML text the study runs with, logged to MLflow and kept for ``hpo resume``.
    text: str = ""
    #: The config file (absolute), named by the MLflow runs' source tags; "" for a text.
    source: str = ""

    @property
    def name(self) -> str:
        """The study's name: its folder under ``.hpo/`` and its MLflow experiment."""
        assert self.settings.study_name is not None, "a config always has a name"
        return self.settings.study_name

    @name.setter
    def name(self, value: str) -> None:
        self.settings.study_name = value


def read_yaml(text: str, where: str) -> Any:
    """Parse YAML with the safe loader; a one-line error naming the line on failure."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(key=where, message=f"invalid YAML{line}: {problem}") from None
    from hpo._validation import check_unique_keys

    check_unique_keys(text)
    return data


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study config file.

    Raises:
        ConfigError: The file is missing or unreadable, or a key is unknown or has a bad value.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(key="config", message=f"file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(key="config", message=f"cannot read {str(path)!r}: {err}") from None
    config = parse_config(text, base=path.resolve().parent, default_name=path.stem)
    config.source = str(path.resolve())
    return config


def parse_config(text: str, *, base: Path, default_name: str) -> StudyConfig:
    """Validate config ``text``; relative paths in it are taken from ``base``."""
    data = read_yaml(text, "config")
    if not isinstance(data, Mapping):
        raise ConfigError(
            key="config", message=f"expected a mapping of keys (name, objective, space, ...), got {data!r:.60}"
        )
    check_keys(data, KEYS, "config")
    name = check_name(data.get("name", default_name))
    if ("objective" in data) == ("trainer" in data):
        raise ConfigError(
            key="objective",
            message="give either objective: package.module:function or a trainer: block, "
            f"got {'both' if 'objective' in data else 'neither'}",
        )
    objective = data.get("objective")
    if objective is not None and (not isinstance(objective, str) or not re.match(r"^[\w.]+:[\w.]+$", objective)):
        raise ConfigError(key="objective", message=f"expected package.module:function, got {objective!r}")
    if "trainer" in data and not isinstance(data["trainer"], Mapping):
        raise ConfigError(key="trainer", message=f"expected a mapping with a kind, got {data['trainer']!r}")
    if "data" in data and "trainer" not in data:
        raise ConfigError(key="data", message="only used by a trainer: block; an objective loads its own data")
    if "space" not in data:
        raise ConfigError(key="space", message="missing key; give a mapping of parameters or a ready-made space name")
    settings = Settings(study_name=name, **{key: data[key] for key in _SETTINGS if key in data})
    if isinstance(settings.storage, str) and "://" not in settings.storage and not Path(settings.storage).is_absolute():
        settings.storage = str(base / settings.storage)  # relative to the config's folder
    return StudyConfig(
        objective=objective,
        space=_space(data["space"], base),
        settings=settings,
        trainer=dict(data["trainer"]) if "trainer" in data else None,
        data=data.get("data"),
        search_path=[str(base), str(Path.cwd())],
        text=text,
    )


def check_name(name: Any) -> str:
    """A study name: it names the study's folder and MLflow experiment.

    Raises:
        ConfigError: Not letters, digits, '.', '_' or '-'.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            key="name", message=f"expected letters, digits, '.', '_' or '-' (a folder name), got {name!r}"
        )
    return name


def _space(spec: Any, base: Path) -> Space:
    if isinstance(spec, str):
        if spec.endswith((".yaml", ".yml")):
            file = Path(spec) if Path(spec).is_absolute() else base / spec
            try:
                return Space.from_yaml(file.read_text())
            except FileNotFoundError:
                raise ConfigError(key="space", message=f"file {str(file)!r} does not exist") from None
            except (OSError, ValueError) as err:  # a folder, not UTF-8, a NUL byte in the name
                raise ConfigError(key="space", message=f"cannot read {str(file)!r}: {err}") from None
    # A ready-made space by name or as {preset: NAME, step: STEP}, or a mapping: as tune() takes them.
    return space_from_spec(spec)


def build_objective(config: StudyConfig) -> Any:
    """The objective of a config: the trainer its block describes, or the imported function.

    Raises:
        ConfigError: One line naming the key (``trainer.KEY``, ``data.KEY``, ``objective``).
    """
    extend_path(config.search_path)
    if config.trainer is not None:
        import hpo.trainers as trainers

        return trainers.from_config(config.trainer, config.data, base=Path(config.search_path[0]))
    assert config.objective is not None
    return import_objective(config.objective, config.search_path)


def import_objective(dotted: str, search_path: list[str]) -> Any:
    """Import ``package.module:attribute`` (the config's folder and the cwd on ``sys.path``).

    Raises:
        ConfigError: The module cannot be imported, has no such attribute, or it is not callable.
    """
    return load_callable(dotted, "objective", search_path)
