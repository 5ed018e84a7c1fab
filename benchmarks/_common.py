"""What the benchmark scripts share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def migrated_store(path: Path) -> str:
    """Create the sqlite MLflow store ``path`` with its schema; return its tracking URI.

    A store as a user's is after their first study: creating the schema (~3 s of migrations)
    is done here, untimed, not inside a measured side.
    """
    code = "import sys; from mlflow import MlflowClient; MlflowClient('sqlite:///' + sys.argv[1]).search_experiments()"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True)
    return f"sqlite:///{path}"


def standardized_digits() -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """The digits as torch tensors, split 80/20 (stratified, seeded) and standardized with the
    training rows: ((X_train, y_train), (X_val, y_val)), for the torch benchmarks."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    mean, std = X_train.mean(0), X_train.std(0)
    std[std < 1e-8] = 1.0  # constant pixels stay unscaled, as StandardScaler does

    def tensor(a: Any) -> Any:
        return torch.tensor((a - mean) / std, dtype=torch.float32)

    return (tensor(X_train), torch.tensor(y_train)), (tensor(X_val), torch.tensor(y_val))
