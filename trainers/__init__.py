"""Pluggable trainers: ready objectives for :func:`hpo.tune` and ``hpo run``.

A trainer is any callable ``trainer(params, trial) -> float`` with a ``direction`` attribute
(``"minimize"`` or ``"maximize"``); see :class:`Trainer`.
"""

from trainers._base import Trainer

__all__ = ["Trainer"]
