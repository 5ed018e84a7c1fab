"""Ready-made search spaces, one YAML file each, loadable by name.

Example:
    >>> from hpo import search_spaces
    >>> space = search_spaces.load("svc")
    >>> "svc" in search_spaces.available()
    True
    >>> list(search_spaces.load("svc", step="svc"))  # for a Pipeline step named svc
    ['svc__C', 'svc__gamma']
    >>> list(search_spaces.load("classifiers")["estimator"].branches)[:2]  # model selection
    ['sklearn.linear_model.LogisticRegression', 'sklearn.svm.SVC']

``classifiers`` and ``regressors`` choose the estimator (``SklearnTrainer`` without one): an
``estimator`` choice whose branches are scikit-learn classes, each holding its family's ready
space unchanged (``svc`` under ``sklearn.svm.SVC``, ...).
"""

from __future__ import annotations

from pathlib import Path

from hpo import ConfigError, Space
from hpo.plugins import did_you_mean

__all__ = ["available", "load", "path"]

_HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    """The names of the ready-made spaces."""
    return sorted(p.stem for p in _HERE.glob("*.yaml"))


def path(name: str) -> Path:
    """The YAML file of the space ``name``.

    Raises:
        ConfigError: No space of that name.
    """
    file = _HERE / f"{name}.yaml"
    if not isinstance(name, str) or "/" in name or not file.is_file():
        names = available()
        hint = did_you_mean(name, names, f"; available: {', '.join(names)}")
        raise ConfigError(key="space", message=f"no ready-made space named {name!r}{hint}")
    return file


def load(name: str, *, step: str | None = None) -> Space:
    """Load the ready-made space ``name`` (see :func:`available`).

    Args:
        name: The space's name.
        step: A Pipeline step's name: each parameter ``p`` becomes ``STEP__p``, as scikit-learn
            addresses a step's parameters.

    Raises:
        ConfigError: No space of that name (``space``), or a bad step (``space.step``), or a step
            for a space that chooses the estimator.
    """
    space = Space.from_yaml(path(name).read_text())
    if step is None:
        return space
    if space.conditional:  # a choice among whole estimators (classifiers), not a step's parameters
        raise ConfigError(
            key="space.step", message=f"{name!r} chooses the estimator itself: it takes no step, got {step!r}"
        )
    # A step name has no "__" at either end: "hgb__" would give "hgb____learning_rate".
    if not isinstance(step, str) or not step or step != step.strip() or step.startswith("__") or step.endswith("__"):
        raise ConfigError(
            key="space.step",
            message=f"expected the name of a Pipeline step (its parameters are STEP__NAME), got {step!r}",
        )
    return Space({f"{step}__{param}": domain for param, domain in space.items()})
