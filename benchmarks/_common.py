"""What the benchmark scripts share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def migrated_store(path: Path) -> str:
    """Create the sqlite MLflow store ``path`` with its schema; return its tracking URI.

    A store as a user's is after their first study: creating the schema (~3 s of migrations)
    is done here, untimed, not inside a measured side.
    """
    code = "import sys; from mlflow import MlflowClient; MlflowClient('sqlite:///' + sys.argv[1]).search_experiments()"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True)
    return f"sqlite:///{path}"
