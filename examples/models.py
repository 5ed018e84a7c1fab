"""Model builders for the torch examples: `model: examples.models:NAME`, called with the params."""

from __future__ import annotations

from typing import Any


def cnn(params: dict[str, Any]) -> Any:
    """A small CNN for scikit-learn's 8x8 digits (64 features per row): two conv blocks, a head.

    Params: ``channels`` (width of the first conv), ``dropout``.
    """
    from torch import nn

    c = int(params.get("channels", 16))
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, c, 3, padding=1),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        nn.Conv2d(c, 2 * c, 3, padding=1),
        nn.BatchNorm2d(2 * c),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),
        nn.Dropout(float(params.get("dropout", 0.0))),
        nn.Linear(2 * c * 16, 10),
    )


def mlp(params: dict[str, Any], n_inputs: int = 30, n_outputs: int = 2) -> Any:
    """A multi-layer perceptron (defaults: breast_cancer's 30 features, 2 classes).

    Params: ``hidden`` (width), ``layers``, ``dropout``.
    """
    from torch import nn

    width, blocks, inputs = int(params.get("hidden", 64)), [], n_inputs
    for _ in range(int(params.get("layers", 2))):
        blocks += [nn.Linear(inputs, width), nn.ReLU(), nn.Dropout(float(params.get("dropout", 0.0)))]
        inputs = width
    return nn.Sequential(*blocks, nn.Linear(inputs, n_outputs))
