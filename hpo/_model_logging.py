"""Logging the study's model (a trainer's refit of the best configuration) to its parent run,
in the writer process, and loading the MLflow flavor ahead of time while the trials run."""

from __future__ import annotations

import contextlib
import importlib
import sys
import tempfile
import types
from typing import Any

__all__ = ["log_model", "warm_up"]


def log_model(
    uri: str, parent_run_id: str, flavor: str, model: Any, example: Any, params: dict[str, Any] | None = None
) -> None:
    """``mlflow.<flavor>.log_model`` into the parent run, with a signature inferred from
    ``example`` (a few input rows) when there is one, and the ``params`` it was trained with."""
    import mlflow
    from mlflow.models import infer_signature

    module = importlib.import_module(f"mlflow.{flavor}")
    signature = None
    if example is not None:
        signature = infer_signature(example, _predict(flavor, model, example))
    _pickle_hpo_classes_by_value(model)
    mlflow.set_tracking_uri(uri)
    # The fluent API attaches the model to the active run; re-entering the parent run and
    # leaving it marks it FINISHED, and the writer then sets the study's real final status.
    with mlflow.start_run(run_id=parent_run_id):
        module.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            params=params or None,
            # Skip MLflow's requirement inference: it loads the model in a subprocess.
            pip_requirements=module.get_default_pip_requirements(),
            **_flavor_options(flavor, model, example),
        )


def warm_up(flavor: str) -> None:
    """Load an MLflow flavor ahead of :func:`log_model` (its first use costs seconds of imports).

    Saving a throwaway model to a temporary folder runs the same code as logging one, without
    touching the tracking store. Best effort: a failure here only means a slower log later.
    """
    with contextlib.suppress(Exception):
        module = importlib.import_module(f"mlflow.{flavor}")
        from mlflow.models import infer_signature

        if flavor == "sklearn":
            _import_skops()
            import numpy as np
            from sklearn.dummy import DummyClassifier

            X = np.zeros((2, 1))
            model = DummyClassifier().fit(X, [0, 1])
            with tempfile.TemporaryDirectory() as folder:
                module.save_model(
                    model,
                    f"{folder}/model",
                    signature=infer_signature(X, model.predict(X)),
                    input_example=X,
                    pip_requirements=module.get_default_pip_requirements(),
                    **_flavor_options(flavor, model, X),
                )


def _pickle_hpo_classes_by_value(model: Any) -> None:
    """hpo's own modules inside a model (the torch trainer's ``Standardize``) are pickled by
    value, so the logged model loads where hpo is not installed."""
    import cloudpickle

    parts = model.modules() if callable(getattr(model, "modules", None)) else [model]
    for name in {type(part).__module__ for part in parts}:
        if name.split(".")[0] == "hpo" and name in sys.modules:
            cloudpickle.register_pickle_by_value(sys.modules[name])


def _predict(flavor: str, model: Any, example: Any) -> Any:
    """The model's outputs for ``example``, to infer its signature."""
    if flavor == "pytorch":
        import torch

        with torch.no_grad():
            return model(torch.as_tensor(example)).numpy()
    return model.predict(example)


def _flavor_options(flavor: str, model: Any, example: Any) -> dict[str, Any]:
    """Extra ``log_model`` options a flavor needs for models fitted by the study itself."""
    if flavor == "pytorch" and example is None:
        # MLflow's default format (pt2, torch.export) traces the model on an example; without
        # one, the model is pickled (hpo's own modules in it by value, see above).
        return {"serialization_format": "pickle"}
    if flavor != "sklearn":
        return {}
    try:
        skops_io = _import_skops()
        # MLflow saves scikit-learn models with skops, which refuses types it does not know
        # (e.g. the Tree of every tree ensemble). The study fitted this model a moment ago: its
        # types are trusted by construction, so name exactly those.
        return {"skops_trusted_types": skops_io.get_untrusted_types(data=skops_io.dumps(model))}
    except Exception:  # skops cannot save it (custom classes): MLflow's cloudpickle format
        return {"serialization_format": "cloudpickle"}


_TORCH_SHIM = "sklearn.externals.array_api_compat.torch"


def _import_skops() -> Any:
    """``skops.io``, without the torch it would import.

    At import, skops lists scikit-learn's estimator types (``all_estimators()``), which walks
    every module of scikit-learn, the array-API shim for torch among them, and that imports
    torch: over a second of CPU in the writer, taken from the trials, for a scikit-learn model
    that needs none of it. While skops imports, the shim is an empty placeholder (it holds no
    estimator, so the list is the same); it is removed afterwards, so whoever needs the shim
    later imports the real one.
    """
    if "torch" in sys.modules or _TORCH_SHIM in sys.modules:  # nothing to save
        import skops.io

        return skops.io
    placeholder = types.ModuleType(_TORCH_SHIM, "placeholder while skops imports: see hpo._model_logging")
    sys.modules[_TORCH_SHIM] = placeholder
    try:
        import skops.io
    finally:
        if sys.modules.get(_TORCH_SHIM) is placeholder:
            del sys.modules[_TORCH_SHIM]
        parent = sys.modules.get(_TORCH_SHIM.rpartition(".")[0])
        if parent is not None and getattr(parent, "torch", None) is placeholder:
            delattr(parent, "torch")
    return skops.io
