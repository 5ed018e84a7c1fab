"""``TorchTrainer``: a short, correct mixed-precision training loop with per-epoch pruning.

The loop follows nanoGPT / Lightning Fabric: ``torch.autocast`` around forward and loss, a
``GradScaler`` for fp16 only (bf16 has fp32's range and needs none), gradients unscaled before
clipping, ``zero_grad(set_to_none=True)``, a cosine schedule with linear warmup stepped per batch.
Tensor data is batched by indexing (no DataLoader overhead); other datasets use a DataLoader
with pinned memory on CUDA.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hpo.plugins import (
    ConfigError,
    StudyRun,
    Trial,
    better,
    check_keys,
    did_you_mean,
    load_callable,
    qualified_name,
)

from ._base import Trainer

AMP = ("auto", "bf16", "fp16", "off")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("cosine", "constant")
LOSSES = ("cross_entropy", "mse", "l1")
#: metric -> direction
METRICS = {"accuracy": "maximize", "loss": "minimize", "mse": "minimize", "mae": "minimize"}
#: metric -> the training loss it implies when ``loss`` is not given
METRIC_LOSS = {"accuracy": "cross_entropy", "mse": "mse", "mae": "l1"}
#: hyperparameters a trial's params may set for the loop itself (the rest go to model_fn)
LOOP_PARAMS = ("lr", "weight_decay", "momentum", "warmup", "batch_size", "epochs")


class NonFiniteLoss(ArithmeticError):
    """The training loss became NaN or infinite (e.g. a learning rate too high)."""


def _choice(value: Any, choices: tuple[str, ...], field: str) -> str:
    if isinstance(value, str) and value in choices:
        return value
    raise ConfigError(
        key=field, message=f"expected one of {', '.join(choices)}, got {value!r}{did_you_mean(value, choices)}"
    )


def resolve_precision(amp: str, device: Any) -> tuple[Any, bool]:
    """The autocast dtype (``None`` for fp32) and whether a GradScaler is needed.

    ``auto`` picks bf16 on a CUDA device that supports it and fp32 otherwise; on the CPU,
    autocast runs bf16 too, but only CPUs with native bf16 make it faster, so ask for it.
    """
    import torch

    if amp == "auto":
        amp = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "off"
    if amp == "bf16":
        return torch.bfloat16, False
    if amp == "fp16":
        return torch.float16, True  # fp16's range is narrow: scale the loss, skip overflowed steps
    return None, False


def resolve_device(device: str) -> Any:
    """``auto``: the CUDA device (the trial's GPU, as Ray assigns it) when present, else CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(key="device", message=str(err)) from None


def _as_tensors(data: Any, where: str) -> Any:
    """``(X, y)`` tensors, a TensorDataset, or any Dataset (returned as is)."""
    import torch
    from torch.utils.data import Dataset, TensorDataset

    if isinstance(data, TensorDataset):
        return data.tensors
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        if len(data[0]) != len(data[1]):
            raise ConfigError(key=where, message=f"X has {len(data[0])} rows and y has {len(data[1])}")
        return tuple(data)
    if isinstance(data, Dataset):
        return data
    raise ConfigError(
        key=where, message=f"expected (X, y) tensors, a TensorDataset or a Dataset, got {type(data).__name__}"
    )


class TorchTrainer(Trainer):
    """Trains ``model_fn(params)`` and returns its best validation metric.

    Args:
        model_fn: ``model_fn(params) -> nn.Module``; it reads the architecture's params
            (width, dropout, ...). ``lr``, ``weight_decay``, ``momentum``, ``warmup``,
            ``batch_size`` and ``epochs`` in the params override the arguments below.
        train_data: ``(X, y)`` tensors, a ``TensorDataset`` or any ``Dataset``.
        val_data: The same, for validation after each epoch.
        loss: ``cross_entropy``, ``mse``, ``l1`` or ``loss(outputs, targets) -> tensor``. By
            default it follows ``metric``: ``accuracy`` trains with ``cross_entropy``, ``mse``
            with ``mse``, ``mae`` with ``l1``; for ``loss`` or a callable metric, the targets
            decide (``mse`` for float targets, ``cross_entropy`` for class labels).
        metric: ``accuracy``, ``loss`` (validation loss), ``mse``, ``mae`` or
            ``metric(outputs, targets) -> float`` (maximized unless ``direction`` says so).
        epochs: Epochs to train (at most, with early stopping).
        batch_size: Rows per step.
        optimizer: ``adamw``, ``adam``, ``sgd`` or ``factory(parameters, lr=..., weight_decay=...,
            momentum=...) -> Optimizer``.
        lr, weight_decay, momentum: Optimizer settings (momentum for SGD).
        scheduler: ``cosine`` (decay to 0 after ``warmup`` epochs of linear warmup) or
            ``constant`` (after the warmup).
        warmup: Warmup length in epochs (may be fractional).
        amp: ``auto`` (bf16 on a CUDA device that supports it, else fp32), ``bf16``, ``fp16``
            (with a GradScaler) or ``off``.
        device: ``auto`` (CUDA when present, else CPU) or a torch device string.
        grad_clip: Clip the gradients' total norm to this (after unscaling), or ``None``.
        early_stopping: Stop after this many epochs without improvement (an int, or
            ``{patience: N, min_delta: D}``); the best epoch's weights are restored.
        seed: Seed of initialization and batch order: the same params give the same metrics on
            the CPU.
        direction: ``minimize`` or ``maximize``; by default from ``metric``.
        standardized_with: ``(mean, std)`` per feature, when the data given here was
            standardized with them: the model logged at the end then puts that scaling in front
            of the network, so it takes raw features. ``from_config`` sets it for
            ``standardize: true``.

    Attributes:
        last_model_: The model of the last trial, with its best epoch's weights.
        best_model_: After the study, the best trial's model with its best weights.
    """

    def __init__(
        self,
        model_fn: Callable[[dict[str, Any]], Any],
        train_data: Any,
        val_data: Any,
        *,
        loss: str | Callable[..., Any] | None = None,
        metric: str | Callable[..., float] = "accuracy",
        epochs: int = 10,
        batch_size: int = 64,
        optimizer: str | Callable[..., Any] = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        scheduler: str = "cosine",
        warmup: float = 0.0,
        amp: str = "auto",
        device: str = "auto",
        grad_clip: float | None = None,
        early_stopping: int | Mapping[str, Any] | None = None,
        seed: int = 0,
        direction: str | None = None,
        standardized_with: tuple[Any, Any] | None = None,
    ) -> None:
        if not callable(model_fn):
            raise ConfigError(
                key="model", message=f"expected a callable model_fn(params) -> nn.Module, got {model_fn!r}"
            )
        self.model_fn = model_fn
        self.train_data = _as_tensors(train_data, "train_data")
        self.val_data = _as_tensors(val_data, "val_data")
        self.metric = metric if callable(metric) else _choice(metric, tuple(METRICS), "metric")
        regression = _float_targets(self.train_data)
        given = loss is not None
        if loss is None:
            loss = METRIC_LOSS.get(metric) if isinstance(metric, str) else None
            loss = loss or ("mse" if regression else "cross_entropy")
        self.loss = loss if callable(loss) else _choice(loss, LOSSES, "loss")
        if regression and (self.loss == "cross_entropy" or self.metric == "accuracy"):
            # Name what the user chose: the loss if given, else the metric it follows.
            wrong_loss = self.loss == "cross_entropy" and (given or self.metric != "accuracy")
            key, value = ("loss", self.loss) if wrong_loss else ("metric", self.metric)
            raise ConfigError(
                key=key,
                message=f"{value!r} needs class labels, got float targets ({regression}); for a regression "
                "use metric mse or mae (the loss follows), or give integer class labels",
            )
        if direction is None:
            direction = METRICS[metric] if isinstance(metric, str) else "maximize"
        self.direction = _choice(direction, ("minimize", "maximize"), "direction")
        self.optimizer = optimizer if callable(optimizer) else _choice(optimizer, OPTIMIZERS, "optimizer")
        self.scheduler = _choice(scheduler, SCHEDULERS, "scheduler")
        self.amp = _choice(amp, AMP, "amp")
        self._device = device
        self.device = resolve_device(device)  # again in each trial: a Ray worker has its own GPU
        self.defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "warmup": warmup,
            "batch_size": batch_size,
            "epochs": epochs,
        }
        self._check_loop_params(self.defaults, "")
        if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
            raise ConfigError(key="grad_clip", message=f"expected a positive number or null, got {grad_clip!r}")
        self.grad_clip = grad_clip
        if isinstance(early_stopping, Mapping):
            check_keys(early_stopping, ("patience", "min_delta"), "early_stopping")
            self.patience, self.min_delta = early_stopping.get("patience"), float(early_stopping.get("min_delta", 0.0))
        else:
            self.patience, self.min_delta = early_stopping, 0.0
        if self.patience is not None and (
            isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 1
        ):
            raise ConfigError(
                key="early_stopping", message=f"expected a patience of at least 1 epoch, got {self.patience!r}"
            )
        self.seed = seed
        self.standardized_with = standardized_with
        self.last_model_: Any = None
        self.best_model_: Any = None
        self._best: tuple[float, dict[str, Any], dict[str, Any]] | None = None  # value, params, weights
        self.model_flavor = "pytorch"

    @staticmethod
    def _check_loop_params(values: Mapping[str, Any], where: str) -> None:
        for key in ("batch_size", "epochs"):
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(key=f"{where}{key}", message=f"expected a positive integer, got {value!r}")
        for key in ("lr", "weight_decay", "momentum", "warmup"):
            value = values[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or value < 0
                or (key == "lr" and value == 0)
            ):
                raise ConfigError(
                    key=f"{where}{key}",
                    message=f"expected a {'positive' if key == 'lr' else 'non-negative'} number, got {value!r}",
                )

    # -- the loop ------------------------------------------------------------------------------

    def _batches(self, data: Any, batch_size: int, generator: Any, shuffle: bool) -> Any:
        import torch

        if isinstance(data, tuple):
            X, y = data
            n = len(X)
            order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
            for start in range(0, n, batch_size):
                index = order[start : start + batch_size]
                yield X[index], y[index]
            return
        from torch.utils.data import DataLoader

        loader = DataLoader(
            data, batch_size=batch_size, shuffle=shuffle, generator=generator, pin_memory=self.device.type == "cuda"
        )
        yield from loader

    def _n_batches(self, data: Any, batch_size: int) -> int:
        return math.ceil(len(data[0] if isinstance(data, tuple) else data) / batch_size)

    def _loss_fn(self) -> Callable[..., Any]:
        import torch.nn.functional as F

        if callable(self.loss):
            return self.loss
        if self.loss == "cross_entropy":
            return F.cross_entropy
        return _regression(F.mse_loss if self.loss == "mse" else F.l1_loss)

    def _make_optimizer(self, parameters: Any, loop: Mapping[str, Any]) -> Any:
        import torch

        kwargs = {"lr": loop["lr"], "weight_decay": loop["weight_decay"]}
        if callable(self.optimizer):
            return self.optimizer(parameters, momentum=loop["momentum"], **kwargs)
        if self.optimizer == "sgd":
            return torch.optim.SGD(parameters, momentum=loop["momentum"], **kwargs)
        cls = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
        return cls(parameters, **kwargs)

    def _schedule(self, optimizer: Any, warmup_steps: int, total_steps: int) -> Any:
        import torch

        def factor(step: int) -> float:
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            if self.scheduler == "constant":
                return 1.0
            progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def evaluate(self, model: Any, data: Any, batch_size: int = 1024) -> tuple[float, float]:
        """``(validation loss, metric)`` of ``model`` on ``data`` under the trainer's precision."""
        import torch

        dtype, _ = resolve_precision(self.amp, self.device)
        loss_fn = self._loss_fn()
        model.eval()
        outputs, targets = [], []
        with torch.no_grad(), torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            for xb, yb in self._batches(data, batch_size, None, shuffle=False):
                outputs.append(model(xb.to(self.device, non_blocking=True)).float())
                targets.append(yb.to(self.device, non_blocking=True))
        out, target = torch.cat(outputs), torch.cat(targets)
        loss = float(loss_fn(out, target))
        if callable(self.metric):
            return loss, float(self.metric(out, target))
        if self.metric == "accuracy":
            return loss, float((out.argmax(dim=1) == target).float().mean())
        if self.metric in ("mse", "mae"):
            fn = torch.nn.functional.mse_loss if self.metric == "mse" else torch.nn.functional.l1_loss
            return loss, float(_regression(fn)(out, target))
        return loss, loss

    def __call__(self, params: dict[str, Any], trial: Trial) -> float:
        import torch

        loop = {**self.defaults, **{k: params[k] for k in LOOP_PARAMS if k in params}}
        self._check_loop_params(loop, "params.")
        model_params = {k: v for k, v in params.items() if k not in LOOP_PARAMS}
        self._prepare_device()
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        model = self.model_fn(model_params).to(self.device)
        optimizer = self._make_optimizer(model.parameters(), loop)
        steps_per_epoch = self._n_batches(self.train_data, loop["batch_size"])
        schedule = self._schedule(optimizer, round(loop["warmup"] * steps_per_epoch), loop["epochs"] * steps_per_epoch)
        dtype, scaled = resolve_precision(self.amp, self.device)
        scaler = torch.amp.GradScaler(self.device.type, enabled=scaled)
        loss_fn = self._loss_fn()
        best_value, best_state, stale, epoch = None, None, 0, 0
        try:
            for epoch in range(loop["epochs"]):
                model.train()
                start = time.perf_counter()
                total = torch.zeros((), device=self.device)
                for xb, yb in self._batches(self.train_data, loop["batch_size"], generator, shuffle=True):
                    xb = xb.to(self.device, non_blocking=True)
                    yb = yb.to(self.device, non_blocking=True)
                    with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                        loss = loss_fn(model(xb), yb)
                    scaler.scale(loss).backward()
                    if self.grad_clip is not None:
                        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                        torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    schedule.step()
                    total += loss.detach()  # summed on the device: no sync per step
                train_loss = float(total) / steps_per_epoch
                if not math.isfinite(train_loss):
                    raise NonFiniteLoss(f"training loss is {train_loss} at epoch {epoch}")
                val_loss, value = self.evaluate(model, self.val_data)
                if not (math.isfinite(val_loss) and math.isfinite(value)):
                    raise NonFiniteLoss(
                        f"validation loss is {val_loss}, {self._metric_name()} {value} at epoch {epoch}"
                    )
                trial.log_metrics(
                    {
                        "train_loss": train_loss,
                        "val_loss": val_loss,
                        f"val_{self._metric_name()}": value,
                        "lr": optimizer.param_groups[0]["lr"],
                        "epoch_time": time.perf_counter() - start,
                    },
                    step=epoch,
                )
                if better(value, best_value, self.direction, margin=self.min_delta):
                    best_value, stale = value, 0
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                else:
                    stale += 1
                trial.report(value, epoch)  # raises TrialPruned when the pruner stops the trial
                if self.patience is not None and stale >= self.patience:
                    break
        finally:
            trial.set_user_attr("epochs", epoch + 1)
        assert best_value is not None and best_state is not None
        model.load_state_dict(best_state)  # the best epoch's weights, not the last
        self.last_model_ = model
        # To the driver's trainer (on_trial_kept), also from a Ray worker: the study's best
        # trial's weights are logged at the end without training it again.
        trial.keep((best_value, dict(params), best_state))
        return best_value

    def _prepare_device(self) -> None:
        """Resolve the device where the trial runs: under Ray, ``auto`` is the GPU Ray assigned."""
        self.device = resolve_device(self._device)
        if self.device.type == "cuda":
            # Page-locked once, so every batch's copy to the GPU can overlap (non_blocking).
            self.train_data = _pinned(self.train_data)
            self.val_data = _pinned(self.val_data)

    def on_trial_kept(self, number: int, kept: Any) -> None:
        """Keep the best weights seen so far (called in the driver for each completed trial)."""
        value, _, _ = kept
        if better(value, None if self._best is None else self._best[0], self.direction):
            self._best = kept

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to Ray workers once per study: without models and weights of earlier trials.
        state = dict(self.__dict__)
        state.update(_best=None, last_model_=None, best_model_=None)
        return state

    def _metric_name(self) -> str:
        return self.metric if isinstance(self.metric, str) else getattr(self.metric, "__name__", "metric")

    @property
    def metric_name(self) -> str:
        """The validation metric a trial returns (its best epoch's)."""
        return f"val_{self._metric_name()}"

    def describe(self) -> dict[str, Any]:
        """The loop's settings and the data's shape (see :meth:`Trainer.describe`)."""

        def name(value: Any) -> str:
            return value if isinstance(value, str) else qualified_name(value)

        rows = [len(data[0] if isinstance(data, tuple) else data) for data in (self.train_data, self.val_data)]
        width = self.train_data[0].shape[1:] if isinstance(self.train_data, tuple) else None
        return {
            **super().describe(),
            "model": name(self.model_fn),
            "loss": name(self.loss),
            "optimizer": name(self.optimizer),
            "scheduler": self.scheduler,
            **self.defaults,
            "amp": self.amp,
            "device": self._device,
            "grad_clip": self.grad_clip,
            "early_stopping": self.patience,
            "seed": self.seed,
            "standardize": self.standardized_with is not None,
            "data.train_rows": rows[0],
            "data.val_rows": rows[1],
            "data.features": None if width is None else "x".join(map(str, width)),
        }

    def datasets(self) -> list[dict[str, str]]:
        """The training and validation rows (tensor data only)."""
        from ._provenance import data_name, dataset_card

        name = data_name(self.data_source)
        return [
            dataset_card(*data, name=f"{name}-{context}", source=self.data_source, context=context)
            for data, context in ((self.train_data, "training"), (self.val_data, "validation"))
            if isinstance(data, tuple)
        ]

    def on_study_end(self, study: Any, run: StudyRun) -> None:
        """Log the best trial's model (its best epoch's weights) as the study's MLflow model."""
        import torch

        if self._best is None or self._best[1] != study.best_params:
            return  # the best trial ran elsewhere (another process): its weights are not here
        _, params, state = self._best
        self._best = None  # the next study with this trainer starts afresh
        model = self.model_fn({k: v for k, v in params.items() if k not in LOOP_PARAMS})
        model.load_state_dict(state)
        example = self.val_data[0][:5].numpy() if isinstance(self.val_data, tuple) else None
        if self.standardized_with is not None:
            # The network learned standardized features; the logged model takes raw ones.
            from ._layers import Standardize

            scaling = Standardize(*self.standardized_with)
            model = torch.nn.Sequential(scaling, model)
            if example is not None:  # the raw rows the standardized ones came from
                example = example * scaling.std.numpy() + scaling.mean.numpy()
        model.eval()
        self.best_model_ = model
        run.log_model("pytorch", model, input_example=example, params=params)

    # -- configs -------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, block: Mapping[str, Any], data: Any, *, base: Path | None = None) -> TorchTrainer:
        """Build from ``trainer: {kind: torch, model: pkg.module:fn, ...}`` and a ``data:`` block.

        The data is split into training and validation rows (``val_fraction``, stratified for
        classification, seeded) and, with ``standardize: true``, scaled with the training rows'
        mean and deviation only.
        """
        keys = (
            "kind",
            "model",
            "loss",
            "metric",
            "epochs",
            "batch_size",
            "optimizer",
            "lr",
            "weight_decay",
            "momentum",
            "scheduler",
            "warmup",
            "amp",
            "device",
            "grad_clip",
            "early_stopping",
            "seed",
            "direction",
            "val_fraction",
            "standardize",
        )
        check_keys(block, keys, "trainer")
        if "model" not in block:
            raise ConfigError(key="trainer.model", message="missing key; e.g. model: examples.models:cnn")
        if data is None:
            raise ConfigError(
                key="data",
                message="missing key; the torch trainer needs {builtin: NAME} or {path: FILE, target: COLUMN}",
            )
        from ._data import load_data

        # The config's folder: its model module lives there.
        model_fn = load_callable(block["model"], "trainer.model", [str(base)] if base is not None else [])
        dataset = load_data(data, base=base)
        options = {k: v for k, v in block.items() if k not in ("kind", "model", "val_fraction", "standardize")}
        train, val, stats = _split_tensors(
            dataset,
            block.get("val_fraction", 0.2),
            block.get("seed", 0),
            classification=_classification(options.get("loss"), options.get("metric", "accuracy"), dataset.y),
            standardize=block.get("standardize", False),
        )
        try:
            trainer = cls(model_fn, train, val, standardized_with=stats, **options)
            trainer.data_source = dataset.source
            return trainer
        except ConfigError as err:
            raise err.under("trainer") from None
        except TypeError as err:
            raise ConfigError(key="trainer", message=str(err)) from None


def _regression(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(outputs, targets)`` for a regression net: its (N, 1) output against an (N,) target
    would otherwise broadcast to (N, N)."""
    return lambda out, target: fn(out.squeeze(-1), target.float())


def _pinned(data: Any) -> Any:
    """Tensor data in page-locked memory (other datasets: the DataLoader pins each batch)."""
    if isinstance(data, tuple):
        return tuple(t if t.is_cuda or t.is_pinned() else t.pin_memory() for t in data)
    return data


def _float_targets(data: Any) -> str:
    """The dtype of regression targets (one float per row), or ``""`` for class labels and
    targets of other shapes (e.g. soft labels, one row of class probabilities each)."""
    import torch

    try:
        target = data[1] if isinstance(data, tuple) else torch.as_tensor(data[0][1])
    except Exception:  # a Dataset whose rows are not (x, y) pairs: its own loss decides
        return ""
    one_per_row = target.dim() == 1 if isinstance(data, tuple) else target.dim() == 0
    return str(target.dtype).removeprefix("torch.") if one_per_row and target.is_floating_point() else ""


def _classification(loss: Any, metric: Any, y: Any) -> bool:
    """Whether a config's study classifies: by its loss, else by its metric, else by the target.

    Raises:
        ConfigError: A classification loss or metric on a target with fractional values.
    """
    import numpy as np

    if isinstance(loss, str):
        classification = loss == "cross_entropy"
    elif isinstance(metric, str) and metric in METRIC_LOSS:
        classification = METRIC_LOSS[metric] == "cross_entropy"
    else:
        classification = not np.issubdtype(np.asarray(y).dtype, np.floating)
    values = np.asarray(y)
    if classification and np.issubdtype(values.dtype, np.floating) and not np.all(np.mod(values, 1) == 0):
        key, value = ("loss", loss) if isinstance(loss, str) else ("metric", metric)
        raise ConfigError(
            key=f"trainer.{key}",
            message=f"{value!r} needs class labels, but the target has fractional values (e.g. "
            f"{values[np.mod(values, 1) != 0][0]!r}); for a regression set metric: mse or mae",
        )
    return classification


def _split_tensors(
    dataset: Any, fraction: Any, seed: Any, *, classification: bool, standardize: Any
) -> tuple[Any, Any, tuple[Any, Any] | None]:
    """Seeded train/validation split of a loaded data block, as tensors, stratified for a
    classification; with the training rows' ``(mean, std)`` when ``standardize`` is on."""
    import numpy as np
    import torch
    from sklearn.model_selection import train_test_split

    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(key="trainer.val_fraction", message=f"expected a number between 0 and 1, got {fraction!r}")
    if not isinstance(standardize, bool):
        raise ConfigError(key="trainer.standardize", message=f"expected true or false, got {standardize!r}")
    X = np.asarray(dataset.X, dtype=np.float32)
    y = np.asarray(dataset.y)
    if classification and not np.issubdtype(y.dtype, np.number):  # class names: labels 0..k-1
        _, y = np.unique(y, return_inverse=True)
    try:
        X_train, X_val, y_train, y_val = train_test_split(
            X, y, test_size=fraction, random_state=seed, stratify=y if classification else None
        )
    except ValueError as err:  # e.g. a class with one row cannot be stratified
        message = f"cannot split the data: {str(err).splitlines()[0]}"
        raise ConfigError(key="trainer.val_fraction", message=message) from None
    stats = None
    if standardize:  # the training rows' statistics only: nothing of the validation rows leaks in
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)  # a constant column is left unscaled (StandardScaler's rule)
        X_train, X_val = (X_train - mean) / std, (X_val - mean) / std
        stats = (mean, std)
    target_type = torch.long if classification else torch.float32
    return (
        (torch.from_numpy(X_train), torch.as_tensor(y_train, dtype=target_type)),
        (torch.from_numpy(X_val), torch.as_tensor(y_val, dtype=target_type)),
        stats,
    )
