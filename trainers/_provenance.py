"""What a trainer tells MLflow about its data: dataset cards for ``mlflow.log_input``.

A card is the fields of ``mlflow.entities.Dataset`` (name, digest, source type and source,
schema, profile, as MLflow's own ``from_pandas``/``from_numpy`` write them) plus its context
(``training``, ``validation``). It is computed here, in the driver, from the data in memory,
without importing MLflow; the tracking writer logs it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["data_name", "dataset_card", "source_of"]

#: numpy dtype kind -> MLflow column type (``mlflow.types.DataType``)
_COLUMN_TYPES = {"f": "double", "i": "long", "u": "long", "b": "boolean", "M": "datetime"}


def data_name(source: str) -> str:
    """A dataset's short name in MLflow: ``digits``, ``sales.csv``, or ``data``."""
    if source.startswith("builtin:"):
        return source.removeprefix("builtin:")
    return Path(source).name if source and source != "python" else "data"


def source_of(source: str) -> tuple[str, str]:
    """MLflow's ``(source_type, source JSON)`` for a trainer's data source: a file path,
    ``builtin:NAME`` (scikit-learn's bundled sets) or ``python`` (data handed over in code)."""
    if source.startswith("builtin:"):
        loader = f"sklearn.datasets.load_{source.removeprefix('builtin:')}"
        return "code", json.dumps({"tags": {"mlflow.source.name": loader}})
    if source and source != "python":
        return "local", json.dumps({"uri": source})
    return "code", json.dumps({"tags": {}})


def dataset_card(X: Any, y: Any, *, name: str, source: str, context: str) -> dict[str, str]:
    """A card for features ``X`` and target ``y`` (DataFrame/Series, arrays or tensors).

    Args:
        name: The dataset's name in MLflow (``digits``, ``sales.csv``).
        source: See :func:`source_of`.
        context: ``training`` or ``validation`` (MLflow's ``mlflow.data.context`` tag).
    """
    X, y = _host(X), _host(y)
    digest = hashlib.sha256()
    for part in (X, y):
        digest.update(_bytes(part))
    source_type, source_json = source_of(source)
    rows = len(X)
    width = X.shape[1] if len(getattr(X, "shape", ())) > 1 else 1
    return {
        "name": name,
        "digest": digest.hexdigest()[:12],
        "source_type": source_type,
        "source": source_json,
        "schema": json.dumps(_schema(X, y)),
        "profile": json.dumps({"num_rows": rows, "num_elements": rows * (width + 1)}),
        "context": context,
    }


def _host(data: Any) -> Any:
    """A torch tensor as a numpy array (on the CPU); anything else as it is."""
    if hasattr(data, "detach") and hasattr(data, "cpu"):
        return data.detach().cpu().numpy()
    return data


def _bytes(data: Any) -> bytes:
    import numpy as np
    import pandas as pd

    if isinstance(data, (pd.DataFrame, pd.Series)):
        return pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes()
    values = np.asarray(data)
    if values.dtype.kind == "O":
        return repr(values.tolist()).encode()
    return np.ascontiguousarray(values).tobytes()


def _schema(X: Any, y: Any) -> dict[str, Any]:
    """MLflow's schema JSON: columns for a DataFrame, tensor specs for arrays."""
    import numpy as np
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        target = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y), name="target")
        frame = {**{str(c): X[c] for c in X.columns}, str(target.name or "target"): target}
        columns = [{"type": _column_type(s), "name": n, "required": True} for n, s in frame.items()]
        return {"mlflow_colspec": columns}
    X, y = np.asarray(X), np.asarray(y)

    def spec(values: Any) -> str:
        shape = [-1, *values.shape[1:]]
        return json.dumps({"type": "tensor", "tensor-spec": {"dtype": str(values.dtype), "shape": shape}})

    return {"mlflow_tensorspec": {"features": spec(X), "targets": spec(y)}}


def _column_type(series: Any) -> str:
    kind = series.dtype.kind
    if kind == "f" and series.dtype.itemsize == 4:
        return "float"
    if kind == "i" and series.dtype.itemsize <= 4:
        return "integer"
    return _COLUMN_TYPES.get(kind, "string")  # object, category: strings
