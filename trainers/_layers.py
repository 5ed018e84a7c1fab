"""Modules the torch trainer puts around a user's network when it logs the study's model.

Imported only when a model is logged (it imports torch). The tracking writer pickles these
classes by value, so a logged model loads where hpo is not installed.
"""

from __future__ import annotations

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
