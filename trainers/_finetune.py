"""Fine-tuning of a pretrained network: loading its weights, freezing, gradual unfreezing,
per-group learning rates.

Parameters are addressed by name prefixes at module boundaries (``backbone`` matches
``backbone.0.weight``, not ``backbone2.bias``), as ``model.named_parameters()`` names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hpo.plugins import ConfigError, did_you_mean


def load_pretrained(source: str | Path, model: Any = None) -> Any:
    """A pretrained network from a local file or an earlier study's logged model.

    Nothing is downloaded: ``source`` is a local file written with ``torch.save`` (a whole
    module, or a ``state_dict`` loaded into ``model``), or an MLflow model URI (``runs:/RUN_ID/model``,
    ``models:/NAME/VERSION``) read from the current tracking store, e.g. the ``model`` an hpo
    study logged. Call it in ``model_fn`` and return the network (with a new head, say).

    Args:
        source: A file path or an MLflow model URI.
        model: The module to load a ``state_dict`` file into (its architecture).

    Raises:
        ConfigError: No such file, or a ``state_dict`` without ``model``, or weights that do not
            fit ``model``.
    """
    import torch

    text = str(source)
    if text.startswith(("runs:/", "models:/")):
        import mlflow.pytorch

        loaded = mlflow.pytorch.load_model(text, map_location="cpu")
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(key="pretrained", message=f"no such file {text!r}")
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a whole pickled module: a trusted local file the user named
            loaded = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(loaded, Mapping):  # a state_dict
        if model is None:
            raise ConfigError(
                key="pretrained",
                message=f"{text!r} holds a state_dict: pass the architecture, load_pretrained(path, model)",
            )
        try:
            model.load_state_dict(loaded)
        except RuntimeError as err:
            raise ConfigError(key="pretrained", message=" ".join(str(err).split())[:300]) from None
        return model
    if model is not None:  # a whole module: its weights go into the given architecture
        model.load_state_dict(loaded.state_dict())
        return model
    return loaded


def matches(name: str, prefix: str) -> bool:
    """Whether the parameter ``name`` lies under ``prefix`` (at a dot boundary)."""
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def check_prefixes(model: Any, prefixes: Iterable[str], key: str) -> None:
    """Each prefix must match at least one parameter of ``model``.

    Raises:
        ConfigError: ``key.PREFIX`` matches no parameter, with the closest names.
    """
    names = [name for name, _ in model.named_parameters()]
    modules = [name for name, _ in model.named_modules() if name]
    for prefix in prefixes:
        if not any(matches(name, prefix) for name in names):
            hint = did_you_mean(prefix, modules + names, f"; modules: {', '.join(modules[:8])}")
            raise ConfigError(key=key, message=f"{prefix!r} matches no parameter{hint}")


def param_groups(model: Any, lr: float, multipliers: Mapping[str, float]) -> list[dict[str, Any]]:
    """The optimizer's param groups: the parameters under each prefix of ``multipliers`` at
    ``lr * multiplier`` (the longest matching prefix decides), the rest at ``lr`` (group 0)."""
    by_prefix: dict[str, list[Any]] = {prefix: [] for prefix in multipliers}
    rest = []
    for name, parameter in model.named_parameters():
        found = [p for p in multipliers if matches(name, p)]
        if found:
            by_prefix[max(found, key=len)].append(parameter)
        else:
            rest.append(parameter)
    groups = [{"params": rest, "lr": lr, "name": ""}] if rest else []
    groups += [{"params": ps, "lr": lr * multipliers[p], "name": p} for p, ps in by_prefix.items() if ps]
    return groups


def set_trainable(model: Any, freeze: Iterable[str], unfreeze: Mapping[str, int], epoch: int) -> None:
    """Freeze the parameters under ``freeze``, and those under an ``unfreeze`` prefix until its
    epoch; all others train. The optimizer holds every parameter: a frozen one has no gradient,
    so it skips it (weight decay too), and it trains from the step it is unfrozen."""
    frozen = list(freeze)
    later = [prefix for prefix, start in unfreeze.items() if epoch < start]
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not any(matches(name, p) for p in frozen + later))


def count_trainable(model: Any) -> int:
    """Parameters (elements) that train now."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def add_lora(model: Any, targets: Iterable[str], rank: int, alpha: float) -> Any:
    """Put low-rank adapters (LoRA, Hu et al. 2021) on the ``nn.Linear`` layers under ``targets``
    and freeze every other parameter: each such layer computes ``W x + (alpha / rank) B A x``
    with ``W`` frozen, ``A`` random and ``B`` zero at first (so training starts from the
    pretrained function). A small pure-torch version; :func:`merge_lora` folds them back.

    Returns:
        ``model``, changed in place.

    Raises:
        ConfigError: No ``nn.Linear`` lies under the targets.
    """
    from torch import nn

    from ._layers import LoRALinear

    targets = list(targets)
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and any(matches(n, t) for t in targets)]
    if not names:
        linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        raise ConfigError(
            key="lora.targets",
            message=f"{targets!r} hold no nn.Linear layer; the model's: {', '.join(linear[:8]) or 'none'}",
        )
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for name in names:
        parent, _, leaf = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, leaf, LoRALinear(getattr(owner, leaf), rank, alpha))
    return model


def merge_lora(model: Any) -> Any:
    """Fold each adapter into its layer's weight (``W + (alpha / rank) B A``): the plain
    architecture again, with the fine-tuned function, for logging and serving."""
    import torch

    from ._layers import LoRALinear

    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            base = module.base
            with torch.no_grad():
                base.weight += module.scale * (module.B @ module.A)
            base.weight.requires_grad_(True)
            parent, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, base)
    return model
