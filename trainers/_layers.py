"""Modules the torch trainer puts around or into a user's network: the scaling in front of the
logged model, and LoRA adapters while fine-tuning.

Imported only when needed (it imports torch). The tracking writer pickles these
classes by value, so a logged model loads where hpo is not installed.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class Standardize(nn.Module):
    """``(x - mean) / std`` per feature: the scaling the training rows were given, so the logged
    model takes the raw features a user has.

    Args:
        mean: Per-feature mean of the training rows.
        std: Per-feature standard deviation (constant columns: 1).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Any, std: Any) -> None:
        super().__init__()
        # Buffers: saved with the model's state and moved with it by .to(device).
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``base(x) + scale * B A x``.

    Args:
        base: The pretrained layer (frozen by :func:`hpo.trainers._finetune.add_lora`).
        rank: The rank of ``A`` (rank x in) and ``B`` (out x rank).
        alpha: ``scale = alpha / rank``.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.A = nn.Parameter(base.weight.new_empty(rank, base.in_features))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear and LoRA initialize
        self.B = nn.Parameter(base.weight.new_zeros(base.out_features, rank))  # zero: starts at base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * ((x @ self.A.t()) @ self.B.t())
