"""Pluggable trainers: ready objectives for :func:`hpo.tune` and ``hpo run``.

A trainer is any callable ``trainer(params, trial) -> float`` with a ``direction`` attribute
(``"minimize"`` or ``"maximize"``); see :class:`Trainer`. In a config, a ``trainer:`` block with a
``kind`` builds one (see :func:`from_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo._exceptions import ConfigError
from hpo._validation import did_you_mean
from hpo.trainers._base import Trainer
from hpo.trainers._data import BUILTINS, Dataset, load_data
from hpo.trainers._sklearn import SklearnTrainer
from hpo.trainers._splits import make_splitter
from hpo.trainers._torch import TorchTrainer

__all__ = [
    "BUILTINS",
    "Dataset",
    "SklearnTrainer",
    "TorchTrainer",
    "Trainer",
    "from_config",
    "load_data",
    "make_splitter",
]

#: ``trainer: {kind: ...}`` -> the class whose ``from_config(block, data, base=...)`` builds it.
KINDS: dict[str, Any] = {"sklearn": SklearnTrainer, "torch": TorchTrainer}


def from_config(block: Any, data: Any = None, *, base: Path | None = None) -> Trainer:
    """Build the trainer of a config's ``trainer:`` block, with its ``data:`` block.

    Raises:
        ConfigError: One line naming the key.
    """
    if not isinstance(block, Mapping):
        raise ConfigError(key="trainer", message=f"expected a mapping with a kind ({', '.join(KINDS)}), got {block!r}")
    kind = block.get("kind")
    if kind not in KINDS:
        raise ConfigError(
            key="trainer.kind",
            message=f"expected one of {', '.join(KINDS)}, got {kind!r}{did_you_mean(kind, KINDS)}"
        )
    return KINDS[kind].from_config(block, data, base=base)
