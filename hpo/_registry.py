"""One registry pattern for every kind of plugin: executors, trainers, searchers, pruners and
splitters.

A registry maps a name to the ``module:attr`` that implements it, imported only when that name
is used, so ``import hpo`` loads no plugin. A config may also name any ``package.module:attr``
(``searcher: {name: optuna.samplers:QMCSampler}``), loaded the same way.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hpo._exceptions import ConfigError
from hpo._validation import did_you_mean

__all__ = ["Registry", "extend_path", "load_callable", "load_object"]


def load_object(dotted: str, key: str) -> Any:
    """Import ``package.module:attr`` (``attr`` may be dotted, ``Class.method``).

    Args:
        dotted: The target.
        key: The config key it came from, named in errors.

    Raises:
        ConfigError: ``KEY: cannot import 'm:a': ...`` or ``KEY: cannot import 'm:a': module
            'm' has no attribute 'a'``, on one line.
    """
    module_name, sep, attr = dotted.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"expected package.module:attr, got {dotted!r}", key=key)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"cannot import {dotted!r}: {err}", key=key) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"cannot import {dotted!r}: module {module_name!r} has no attribute {attr!r}", key=key)
        target = getattr(target, part)
    return target


def extend_path(search_path: Iterable[str]) -> None:
    """Put the folders of ``search_path`` first on ``sys.path``, in their order. They stay:
    what is imported from there (an objective) is imported again when it is unpickled."""
    for folder in reversed(list(search_path)):
        if folder not in sys.path:
            sys.path.insert(0, folder)


def load_callable(dotted: str, key: str, search_path: Iterable[str] = ()) -> Any:
    """Import a callable ``package.module:attr`` (an objective, a model factory), its module
    looked for first in the folders of ``search_path`` (a config's folder, the cwd).

    Raises:
        ConfigError: As :func:`load_object`, or ``KEY: 'm:a' is not callable, got int``.
    """
    extend_path(search_path)
    target = load_object(dotted, key)
    if not callable(target):
        raise ConfigError(f"{dotted!r} is not callable, got {type(target).__name__}", key=key)
    return target


class Registry(Mapping[str, str]):
    """The plugins of one kind: name -> ``module:attr``, imported on first use.

    Args:
        kind: What the plugins are (``searcher``), named in errors.
        entries: ``{name: "module:attr"}``.
        aliases: Other spellings of a name (``{"asha": "successive_halving"}``).
        fold_case: Whether ``TPE`` and ``successive-halving`` name ``tpe`` and
            ``successive_halving`` (names typed on a command line); otherwise names are exact.

    Example:
        >>> pruners = Registry("pruner", {"median": "optuna.pruners:MedianPruner"})
        >>> pruners.load("median", key="pruner").__name__
        'MedianPruner'
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, str],
        aliases: Mapping[str, str] | None = None,
        *,
        fold_case: bool = False,
    ) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self._aliases = dict(aliases or {})
        self._fold_case = fold_case

    def __getitem__(self, name: str) -> str:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def register(self, name: str, target: str) -> None:
        """Add (or replace) the plugin ``name``, implemented by ``target`` (``module:attr``)."""
        self._entries[name] = target

    def canonical(self, name: Any, key: str) -> str:
        """The registered name ``name`` stands for, or a ``package.module:attr`` as it is.

        Raises:
            ConfigError: Neither a registered name nor a ``module:attr``.
        """
        if isinstance(name, str):
            if ":" in name:
                return name
            normal = name.lower().replace("-", "_") if self._fold_case else name
            normal = self._aliases.get(normal, normal)
            if normal in self._entries:
                return normal
        names = ", ".join(self._entries)
        hint = did_you_mean(name, self._entries) if isinstance(name, str) else ""
        raise ConfigError(
            f"unknown {self.kind} {name!r}, expected one of {names} or a package.module:attr{hint}", key=key
        )

    def load(self, name: Any, key: str) -> Any:
        """The object implementing ``name`` (a registered name or a ``package.module:attr``)."""
        name = self.canonical(name, key)
        return load_object(self._entries.get(name, name), key)
