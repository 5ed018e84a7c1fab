"""Helpers for the one-line errors every config check gives (``key: problem, got value``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from hpo._exceptions import ConfigError


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of an error's message (at most ``limit`` characters), or its type's name."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__


def did_you_mean(value: Any, choices: Iterable[Any], otherwise: str = "") -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``value``, else ``otherwise``."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f"; did you mean {close[0]!r}?" if close else otherwise


def check_keys(mapping: Mapping[Any, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse the first key of ``mapping`` not in ``allowed``, suggesting the closest.

    Raises:
        ConfigError: ``"{where}: unknown key 'k'; did you mean 'key'?"`` (or the allowed keys).
    """
    allowed = list(allowed)
    for key in mapping:
        if key not in allowed:
            hint = did_you_mean(key, allowed, f"; allowed: {', '.join(allowed)}")
            raise ConfigError(key=where, message=f"unknown key {key!r}{hint}")


def name_and_options(spec: Any, where: str, key: str = "name") -> tuple[Any, dict[str, Any]]:
    """Read ``NAME`` or ``{name: NAME, **options}`` into ``(NAME, options)``.

    Raises:
        ConfigError: A mapping without ``key``.
    """
    if isinstance(spec, Mapping):
        options = dict(spec)
        if key not in options:
            raise ConfigError(key=where, message=f"missing key {key!r} in {dict(spec)!r}")
        return options.pop(key), options
    return spec, {}


def check_unique_keys(text: str, prefix: str = "") -> None:
    """Refuse YAML whose mappings repeat a key (the safe loader keeps the last silently): a
    branch of a choice given twice would vanish.

    Raises:
        ConfigError: Naming the key's path (``space.model.choice.svc``; ``prefix`` first) and
            its line.
    """
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return  # the loader itself reports it, with its line
    todo: list[tuple[Any, str]] = [(root, prefix)]
    while todo:
        node, path = todo.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                here = f"{path}.{name}" if path else name
                if name in seen:
                    raise ConfigError(
                        key=here,
                        message=f"repeated at line {key.start_mark.line + 1}; each key once (a choice's branches too)",
                    )
                seen.add(name)
                todo.append((value, here))
        elif isinstance(node, yaml.SequenceNode):
            todo += [(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
