"""One registry pattern for every kind of plugin: executors, trainers, searchers, pruners and
splitters.

A registry maps a name to the ``module:attr`` that implements it, imported only when that name
is used, so ``import hpo`` loads no plugin. A config may also name any ``package.module:attr``
(``searcher: {name: optuna.samplers:QMCSampler}``), loaded the same way.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hpo._exceptions import ConfigError
from hpo._validation import did_you_mean, first_line

__all__ = ["Registry", "extend_path", "load_callable", "load_object", "qualified_name"]


def load_object(dotted: str, key: str) -> Any:
    """Import ``package.module:attr`` (``attr`` may be dotted, ``Class.method``).

    Args:
        dotted: The target.
        key: The config key it came from, named in errors.

    Raises:
        ConfigError: ``KEY: cannot import 'm:a': ...`` or ``KEY: cannot import 'm:a': module
            'm' has no attribute 'a'``, on one line. Also when importing the module raises
            (``... RuntimeError at /path/m.py:5: boom``) or it has a syntax error (``...
            SyntaxError at /path/m.py:3: invalid syntax``): the file and line are the user's.
    """
    module_name, sep, attr = dotted.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"expected package.module:attr, got {dotted!r}", key=key)
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as err:  # SystemExit: a script that parses its arguments at import
        raise ConfigError(f"cannot import {dotted!r}: {_import_problem(err, module_name)}", key=key) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"cannot import {dotted!r}: module {module_name!r} has no attribute {attr!r}", key=key)
        target = getattr(target, part)
    return target


def _import_problem(err: BaseException, module_name: str) -> str:
    """Why importing ``module_name`` failed, on one line, at the user's file and line."""
    if isinstance(err, SyntaxError) and err.filename:  # raised by the compiler: no frame of the file
        return f"{type(err).__name__} at {err.filename}:{err.lineno}: {err.msg}"
    parents = module_name.split(".")
    not_found = {".".join(parents[: i + 1]) for i in range(len(parents))}
    if isinstance(err, ModuleNotFoundError) and err.name in not_found:
        return str(err)  # the module itself is missing: nothing of the user's ran
    frame = _user_frame(err)
    if frame is None and isinstance(err, ImportError):
        return str(err)
    where = f" at {frame.filename}:{frame.lineno}" if frame is not None else ""
    detail = f": {first_line(err, 300)}" if str(err).strip() else ""
    return f"{type(err).__name__}{where}{detail}"


def _user_frame(err: BaseException) -> traceback.FrameSummary | None:
    """The frame of ``err``'s traceback in the user's code: the deepest outside Python's and the
    installed packages' folders; else (user code installed as a package) the imported module's
    own line, the first frame past importlib."""
    paths = sysconfig.get_paths()
    libraries = tuple({str(Path(paths[k])) + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib")})
    frames = [
        f
        for f in traceback.extract_tb(err.__traceback__)
        if not f.filename.startswith("<") and f.filename != __file__ and f.filename != importlib.__file__
    ]
    own = [f for f in frames if not f.filename.startswith(libraries)]
    return own[-1] if own else frames[0] if frames else None


def qualified_name(obj: Any) -> str:
    """``package.module:attr`` naming a function or class, as :func:`load_object` takes it; for
    any other object (a trainer, a loss module, a ``functools.partial``), its class's."""
    target = obj if hasattr(obj, "__qualname__") else type(obj)
    return f"{getattr(target, '__module__', '?')}:{target.__qualname__}"


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
