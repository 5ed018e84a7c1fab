"""Pluggable trainers: ready objectives for :func:`hpo.tune` and ``hpo run``.

A trainer is any callable ``trainer(params, trial) -> float`` with a ``direction`` attribute
(``"minimize"`` or ``"maximize"``); see :class:`Trainer`. In a config, a ``trainer:`` block with a
``kind`` builds one (see :func:`from_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo.plugins import ConfigError, Registry

from ._base import Trainer
from ._data import BUILTINS, Dataset, load_data
from ._finetune import load_pretrained
from ._schedules import SCHEDULES
from ._searchcv import HPOSearchCV
from ._sklearn import SklearnTrainer
from ._splits import SPLITTERS, make_splitter, split_test
from ._torch import TorchTrainer, per_sample

__all__ = [
    "BUILTINS",
    "SCHEDULES",
    "SPLITTERS",
    "TRAINERS",
    "Dataset",
    "HPOSearchCV",
    "SklearnTrainer",
    "TorchTrainer",
    "Trainer",
    "from_config",
    "load_data",
    "load_pretrained",
    "make_splitter",
    "per_sample",
    "split_test",
]

#: ``trainer: {kind: NAME}`` -> the :class:`Trainer` class whose ``from_config`` builds it. A
#: config may also name any ``package.module:attr`` naming a Trainer class.
TRAINERS = Registry(
    "trainer", {"sklearn": "hpo.trainers._sklearn:SklearnTrainer", "torch": "hpo.trainers._torch:TorchTrainer"}
)


def from_config(block: Any, data: Any = None, *, base: Path | None = None) -> Trainer:
    """Build the trainer of a config's ``trainer:`` block, with its ``data:`` block.

    Raises:
        ConfigError: One line naming the key.
    """
    if not isinstance(block, Mapping):
        raise ConfigError(f"expected a mapping with a kind ({', '.join(TRAINERS)}), got {block!r}", key="trainer")
    kind = block.get("kind")
    cls = TRAINERS.load(kind, "trainer.kind")
    if not (isinstance(cls, type) and issubclass(cls, Trainer)):
        raise ConfigError(f"{kind!r} is not an hpo Trainer class, got {cls!r}", key="trainer.kind")
    return cls.from_config(block, data, base=base)
