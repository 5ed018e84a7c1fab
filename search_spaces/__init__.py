"""Ready-made search spaces, one YAML file each, loadable by name.

Example:
    >>> from hpo import search_spaces
    >>> space = search_spaces.load("svc")
    >>> sorted(search_spaces.available())[:1]
    ['svc']
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


def load(name: str) -> Space:
    """Load the ready-made space ``name`` (see :func:`available`)."""
    return Space.from_yaml(path(name).read_text())
