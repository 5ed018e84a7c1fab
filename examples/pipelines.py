"""Estimator factories for example configs: `estimator: examples.pipelines:NAME`."""

from __future__ import annotations

from typing import Any


def scaled_ridge(**params: Any) -> Any:
    """Standardize the features, then ridge regression (steps: scale, ridge)."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("ridge", Ridge(**params))])
