"""``TorchTrainer``: a short, correct mixed-precision training loop with per-epoch pruning.

The loop follows nanoGPT / Lightning Fabric: ``torch.autocast`` around forward and loss, a
``GradScaler`` for fp16 only (bf16 has fp32's range and needs none), gradients unscaled before
clipping, ``zero_grad(set_to_none=True)``, schedules from ``torch.optim.lr_scheduler`` with a
linear warmup (``trainers._schedules``). On top: gradient accumulation (one unscale, clip and step
per ``accumulate`` micro-batches), gradient-norm monitoring, train-only transforms, fine-tuning
(``trainers._finetune``), a held-out test set scored once, and data-parallel trials
(``trainers._distributed``). Tensor data is batched by indexing (no DataLoader overhead); other
datasets use a DataLoader with pinned memory on CUDA.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hpo.plugins import (
    ConfigError,
    Objectives,
    StudyRun,
    Trial,
    better,
    check_keys,
    did_you_mean,
    load_callable,
    qualified_name,
)

from ._base import Trainer
from ._schedules import SCHEDULES, Schedule, parse_schedule

_logger = logging.getLogger("hpo.trainers")

AMP = ("auto", "bf16", "fp16", "off")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = tuple(SCHEDULES)
GRAD_MONITOR = ("global", "layers", "off")
LOSSES = ("cross_entropy", "mse", "l1")
#: metric -> direction
METRICS = {"accuracy": "maximize", "loss": "minimize", "mse": "minimize", "mae": "minimize"}
#: metric -> the training loss it implies when ``loss`` is not given
METRIC_LOSS = {"accuracy": "cross_entropy", "mse": "mse", "mae": "l1"}
#: hyperparameters a trial's params may set for the loop itself (the rest go to model_fn); so
#: may ``lr_groups.PREFIX`` (a multiplier) and ``unfreeze.PREFIX`` (an epoch)
LOOP_PARAMS = ("lr", "weight_decay", "momentum", "warmup", "batch_size", "epochs", "accumulate", "scheduler")
_GROUPED = ("lr_groups.", "unfreeze.", "lora.")


class NonFiniteLoss(ArithmeticError):
    """The training loss became NaN or infinite (e.g. a learning rate too high)."""


class NonFiniteGradient(ArithmeticError):
    """The gradients' norm became NaN or infinite while the loss was finite (exploding gradients)."""


def is_loop_param(name: str) -> bool:
    """Whether a trial's param ``name`` sets the training loop rather than the model."""
    return name in LOOP_PARAMS or name.startswith(_GROUPED)


def per_sample(transform: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A batch transform applying a torchvision-style ``transform(sample)`` to each row."""
    import torch

    def batch(x: Any) -> Any:
        return torch.stack([transform(row) for row in x])

    batch.__qualname__ = f"per_sample({qualified_name(transform)})"
    return batch


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
            ``batch_size``, ``epochs``, ``accumulate``, ``scheduler`` (a name),
            ``lr_groups.PREFIX`` and ``unfreeze.PREFIX`` in the params override the arguments
            below. It may return a pretrained network (see :func:`load_pretrained`).
        train_data: ``(X, y)`` tensors, a ``TensorDataset`` or any ``Dataset``.
        val_data: The same, for validation after each epoch.
        loss: ``cross_entropy``, ``mse``, ``l1`` or ``loss(outputs, targets) -> tensor`` (a
            mean over the rows). By default it follows ``metric``: ``accuracy`` trains with
            ``cross_entropy``, ``mse`` with ``mse``, ``mae`` with ``l1``; for ``loss`` or a
            callable metric, the targets decide (``mse`` for float targets, ``cross_entropy``
            for class labels).
        metric: ``accuracy``, ``loss`` (validation loss), ``mse``, ``mae`` or
            ``metric(outputs, targets) -> float`` (maximized unless ``direction`` says so).
        epochs: Epochs to train (at most, with early stopping).
        batch_size: Rows per forward pass (a micro-batch when ``accumulate`` > 1).
        optimizer: ``adamw``, ``adam``, ``sgd`` or ``factory(parameters, lr=..., weight_decay=...,
            momentum=...) -> Optimizer`` (``parameters``: param groups).
        lr, weight_decay, momentum: Optimizer settings (momentum for SGD).
        scheduler: ``cosine`` (to ``min_lr``), ``constant``, ``step`` (``milestones`` or
            ``step_size``, ``gamma``; by default x0.1 at 50% and 75% of the epochs),
            ``plateau`` (``patience``, ``factor``, ``threshold``, ``monitor``: ``val_loss`` or
            the validation metric, the default), ``onecycle`` (``pct_start``, ``div_factor``,
            ``final_div_factor``), as a name or ``{name: ..., **options}``; each is the
            ``torch.optim.lr_scheduler`` class of its name. ``cosine`` and ``onecycle`` step
            after each optimizer step, ``step`` and ``plateau`` after each epoch.
        warmup: Linear warmup, in epochs (may be fractional), before the schedule; for
            ``onecycle`` it is the rising phase (its ``pct_start``).
        accumulate: Micro-batches per optimizer step: ``accumulate`` micro-batches of
            ``batch_size`` rows make the update of one batch of their total rows.
        amp: ``auto`` (bf16 on a CUDA device that supports it, else fp32), ``bf16``, ``fp16``
            (with a GradScaler) or ``off``.
        device: ``auto`` (CUDA when present, else CPU) or a torch device string.
        grad_clip: Clip the gradients' total norm to this (after unscaling), or ``None``.
        grad_monitor: ``global`` logs the gradients' total norm before clipping (the epoch's
            mean and max: ``grad_norm_mean``, ``grad_norm_max``); ``layers`` also each
            parameter's at the epoch's last step (``grad_norm.NAME``); ``off``. A non-finite
            norm fails the trial (with fp16, the GradScaler skips such steps instead).
        vanishing: ``{threshold: T, epochs: N}``: a mean gradient norm below ``T`` for ``N``
            epochs in a row tags the trial's run ``hpo.warning.vanishing_gradients``.
        transform: A train-only transform, ``transform(x) -> x`` on a batch (on the device) or
            ``transform(x, y) -> (x, y)``; wrap a per-sample torchvision-style transform with
            :func:`per_sample`. It must keep the rows and labels (checked on the first batch).
        transform_fn: ``transform_fn(params) -> transform`` (or ``None``): a transform built
            per trial from its params, so augmentation strength can be tuned.
        freeze: Name prefixes of parameters not trained (``["backbone"]``).
        unfreeze: ``{prefix: epoch}``: parameters frozen until that epoch (gradual unfreezing).
        lr_groups: ``{prefix: multiplier}``: those parameters learn at ``lr * multiplier``.
        lora: ``{targets: [prefix, ...], rank: 4, alpha: 8}``: low-rank adapters on the
            ``nn.Linear`` layers under the targets, everything else frozen (a small pure-torch
            LoRA; the logged model has them merged into its weights). ``lora.rank`` and
            ``lora.alpha`` may come from the space.
        early_stopping: Stop after this many epochs without improvement (an int, or
            ``{patience: N, min_delta: D}``); the best epoch's weights are restored.
        seed: Seed of initialization and batch order: the same params give the same metrics on
            the CPU.
        direction: ``minimize`` or ``maximize``; by default from ``metric``.
        standardized_with: ``(mean, std)`` per feature, when the data given here was
            standardized with them: the model logged at the end then puts that scaling in front
            of the network, so it takes raw features. ``from_config`` sets it for
            ``standardize: true``.
        test_data: Held-out rows, never seen by the search: after it, the best trial's model
            is scored on them once, logged to the study's run as ``test_<metric>``.
        devices_per_trial: Processes (one GPU each on CUDA) a trial trains on with
            DistributedDataParallel, each taking its share of every batch.
        objectives: Objectives beside the validation metric, measured on the trained model
            (best epoch's weights), both minimized: ``n_params`` (its parameter count) and
            ``latency_ms`` (milliseconds of inference per validation row). With any, the trial
            returns ``{val_<metric>: ..., "n_params": ..., "latency_ms": ...}`` and the study
            has several objectives; the pruner judges the metric (``prune_on: val_<metric>``).
        checkpoint: Save the trial's whole training state after each epoch
            (``trial.checkpoint``), so that an interrupted trial's rerun goes on from its last
            epoch with the same metrics; ``False`` turns it off. Data-parallel trials
            (``devices_per_trial`` > 1) are never checkpointed.

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
        scheduler: str | Mapping[str, Any] = "cosine",
        warmup: float = 0.0,
        accumulate: int = 1,
        amp: str = "auto",
        device: str = "auto",
        grad_clip: float | None = None,
        grad_monitor: str = "global",
        vanishing: Mapping[str, Any] | None = None,
        transform: Callable[..., Any] | None = None,
        transform_fn: Callable[[dict[str, Any]], Any] | None = None,
        freeze: Sequence[str] = (),
        unfreeze: Mapping[str, int] | None = None,
        lr_groups: Mapping[str, float] | None = None,
        lora: Mapping[str, Any] | None = None,
        early_stopping: int | Mapping[str, Any] | None = None,
        seed: int = 0,
        direction: str | None = None,
        standardized_with: tuple[Any, Any] | None = None,
        test_data: Any = None,
        devices_per_trial: int = 1,
        objectives: Sequence[str] = (),
        checkpoint: bool = True,
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
        self.scheduler, self.schedule_options = parse_schedule(scheduler)
        self._check_monitor(self.schedule_options.get("monitor"), "scheduler.monitor")
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
            "accumulate": accumulate,
        }
        self._check_loop_params(self.defaults, "")
        if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
            raise ConfigError(key="grad_clip", message=f"expected a positive number or null, got {grad_clip!r}")
        self.grad_clip = grad_clip
        self.grad_monitor = _choice(grad_monitor, GRAD_MONITOR, "grad_monitor")
        check_keys(vanishing or {}, ("threshold", "epochs"), "vanishing")
        self.vanishing = {"threshold": 1e-6, "epochs": 3, **(vanishing or {})}
        if not (_number(self.vanishing["threshold"]) and self.vanishing["threshold"] >= 0):
            raise ConfigError(
                key="vanishing.threshold", message=f"expected a number >= 0, got {self.vanishing['threshold']!r}"
            )
        if not (_integer(self.vanishing["epochs"]) and self.vanishing["epochs"] >= 1):
            raise ConfigError(
                key="vanishing.epochs", message=f"expected a positive integer, got {self.vanishing['epochs']!r}"
            )
        for key, hook in (("transform", transform), ("transform_fn", transform_fn)):
            if hook is not None and not callable(hook):
                raise ConfigError(key=key, message=f"expected a callable or null, got {hook!r}")
        if transform is not None and transform_fn is not None:
            raise ConfigError(key="transform", message="give transform or transform_fn, not both")
        self.transform, self.transform_fn = transform, transform_fn
        if transform is not None:  # before any trial: a fixed transform is checked on the first rows
            rows = self._first_rows(batch_size)
            if rows is not None:
                _check_transform(_as_batch_transform(transform), *rows, key="transform")
        self.freeze = _prefixes(freeze)
        self.unfreeze = _prefix_map(unfreeze, "unfreeze", integer=True)
        self.lr_groups = _prefix_map(lr_groups, "lr_groups", integer=False)
        self.lora = _lora_options(lora, "lora")
        if self.lora and (self.freeze or self.unfreeze):
            raise ConfigError(
                key="lora", message="trains only its adapters, the rest frozen: leave freeze and unfreeze out"
            )
        if not (_integer(devices_per_trial) and devices_per_trial >= 1):
            raise ConfigError(
                key="devices_per_trial", message=f"expected a positive integer, got {devices_per_trial!r}"
            )
        self.devices_per_trial = devices_per_trial
        if not isinstance(checkpoint, bool):
            raise ConfigError(key="checkpoint", message=f"expected true or false, got {checkpoint!r}")
        self.checkpoint = checkpoint
        self.test_data = None if test_data is None else _as_tensors(test_data, "test_data")
        self.best_test_score_: float | None = None
        self._from_config = False  # errors found later name trainer.KEY
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
        # The trials with the best value so far: number -> (value, params, weights).
        self._best: dict[int, tuple[float, dict[str, Any], dict[str, Any]]] = {}
        self.model_flavor = "pytorch"
        self.extra_objectives = _extra_objectives(objectives)
        if self.extra_objectives:  # several: the metric, then the model's size and speed (minimized)
            names = (self.metric_name, *self.extra_objectives)
            self.objectives = Objectives(names, (self.direction, *("minimize",) * len(self.extra_objectives)))
            self.reported_objective = self.metric_name
        #: With several objectives, the weights of the trials on the front so far, by number.
        self._front: dict[int, tuple[dict[str, float], dict[str, Any], dict[str, Any]]] = {}

    @staticmethod
    def _check_loop_params(values: Mapping[str, Any], where: str) -> None:
        for key in ("batch_size", "epochs", "accumulate"):
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

    def _check_monitor(self, monitor: Any, key: str) -> None:
        """``plateau`` must watch a validation value the loop computes."""
        allowed = ("val_loss", self.metric_name)
        if monitor is not None and monitor not in allowed:
            raise ConfigError(
                key=key,
                message=f"plateau watches a validation metric: expected {' or '.join(allowed)}, got {monitor!r}",
            )

    def _first_rows(self, n: int) -> tuple[Any, Any] | None:
        """The first ``n`` training rows as ``(x, y)`` tensors (``None`` for other datasets)."""
        if isinstance(self.train_data, tuple):
            return self.train_data[0][:n], self.train_data[1][:n]
        return None

    def _trial_settings(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(loop settings, model params)`` of a trial: its loop params over the defaults."""
        loop: dict[str, Any] = {**self.defaults, **{k: params[k] for k in LOOP_PARAMS if k in params}}
        name = loop.get("scheduler", self.scheduler)
        if name == self.scheduler:
            loop["scheduler"], loop["schedule_options"] = self.scheduler, self.schedule_options
        else:  # a name from the space: that schedule with its default options
            loop["scheduler"], loop["schedule_options"] = parse_schedule(name, "params.scheduler")
        if loop["scheduler"] == "plateau" and loop["schedule_options"]["monitor"] is None:
            loop["schedule_options"] = {**loop["schedule_options"], "monitor": self.metric_name}
        self._check_loop_params(loop, "params.")
        loop["lr_groups"] = {**self.lr_groups, **_grouped(params, "lr_groups.")}
        loop["unfreeze"] = {**self.unfreeze, **_grouped(params, "unfreeze.")}
        _prefix_map(loop["lr_groups"], "params.lr_groups", integer=False)
        _prefix_map(loop["unfreeze"], "params.unfreeze", integer=True)
        loop["lora"] = _lora_options({**self.lora, **_grouped(params, "lora.")}, "params.lora") if self.lora else {}
        model_params = {k: v for k, v in params.items() if not is_loop_param(k)}
        return loop, model_params

    # -- the loop ------------------------------------------------------------------------------

    def _batches(self, data: Any, batch_size: int, generator: Any, shuffle: bool, min_rows: int = 1) -> Any:
        """The batches of an epoch; a last one of fewer than ``min_rows`` rows (a data-parallel
        trial's ranks: each needs one) is left out."""
        import torch

        drop = 0 < self._rows(data) % batch_size < min_rows
        if isinstance(data, tuple):
            X, y = data
            n = len(X)
            order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
            for start in range(0, n - (n % batch_size if drop else 0), batch_size):
                index = order[start : start + batch_size]
                yield X[index], y[index]
            return
        from torch.utils.data import DataLoader

        loader = DataLoader(
            data,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            pin_memory=self.device.type == "cuda",
            drop_last=drop,
        )
        yield from loader

    def _steps(self, batches: Iterator[Any], accumulate: int) -> Iterator[list[Any]]:
        """The micro-batches of each optimizer step: ``accumulate`` at a time (fewer at the end)."""
        step: list[Any] = []
        for batch in batches:
            step.append(batch)
            if len(step) == accumulate:
                yield step
                step = []
        if step:
            yield step

    @staticmethod
    def _rows(data: Any) -> int:
        return len(data[0] if isinstance(data, tuple) else data)

    def _n_batches(self, data: Any, batch_size: int, min_rows: int = 1) -> int:
        n = self._rows(data)
        return n // batch_size + (1 if n % batch_size >= min_rows else 0)

    def _loss_fn(self) -> Callable[..., Any]:
        import torch.nn.functional as F

        if callable(self.loss):
            return self.loss
        if self.loss == "cross_entropy":
            return F.cross_entropy
        return _regression(F.mse_loss if self.loss == "mse" else F.l1_loss)

    def _make_optimizer(self, groups: list[dict[str, Any]], loop: Mapping[str, Any]) -> Any:
        import torch

        kwargs = {"lr": loop["lr"], "weight_decay": loop["weight_decay"]}
        if callable(self.optimizer):
            return self.optimizer(groups, momentum=loop["momentum"], **kwargs)
        if self.optimizer == "sgd":
            return torch.optim.SGD(groups, momentum=loop["momentum"], **kwargs)
        cls = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
        return cls(groups, **kwargs)

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

    def __call__(self, params: dict[str, Any], trial: Trial) -> float | dict[str, float]:
        if self.devices_per_trial > 1:
            from functools import partial

            from ._distributed import run_data_parallel

            return run_data_parallel(partial(self._fit, params), trial, self.devices_per_trial)
        return self._fit(params, trial)

    def _fit(self, params: dict[str, Any], trial: Trial, resume: bool = True) -> float | dict[str, float]:
        """One trial's training; in a data-parallel trial, one rank's (``trial.rank``).

        After each epoch the whole training state is saved with ``trial.checkpoint`` (one
        process only: not in a data-parallel trial); with ``resume``, a checkpoint an earlier
        attempt of this configuration left (``trial.restore()``) is loaded and the loop goes on
        from the epoch after it, giving the metrics an uninterrupted run gives.
        """
        import torch

        from ._finetune import add_lora, check_prefixes, param_groups, set_trainable

        rank, world = getattr(trial, "rank", 0), getattr(trial, "world_size", 1)
        loop, model_params = self._trial_settings(params)
        self._prepare_device(rank if world > 1 else None)
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        model = self.model_fn(model_params).to(self.device)
        check_prefixes(model, self.freeze, "freeze")
        check_prefixes(model, loop["unfreeze"], "unfreeze")
        check_prefixes(model, loop["lr_groups"], "lr_groups")
        if loop["lora"]:
            add_lora(model, loop["lora"]["targets"], loop["lora"]["rank"], loop["lora"]["alpha"])
        else:
            # Those to unfreeze later are frozen at the epoch loop's top, after DDP has taken
            # them in: DDP leaves out of its reduction what does not need a gradient when built.
            set_trainable(model, self.freeze, {}, 0)
        net = model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            from ._distributed import rank_slice

            ids = [self.device.index] if self.device.type == "cuda" else None
            # Parameters frozen for some epochs get no gradient then: DDP must not wait for them.
            net = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=bool(loop["unfreeze"]))
        optimizer = self._make_optimizer(param_groups(model, loop["lr"], loop["lr_groups"]), loop)
        batches_per_epoch = self._n_batches(self.train_data, loop["batch_size"], world)
        steps_per_epoch = math.ceil(batches_per_epoch / loop["accumulate"])
        schedule = Schedule(
            optimizer,
            loop["scheduler"],
            loop["schedule_options"],
            total_steps=loop["epochs"] * steps_per_epoch,
            epochs=loop["epochs"],
            warmup_steps=round(loop["warmup"] * steps_per_epoch),
            mode=self._monitor_mode(loop["schedule_options"].get("monitor")),
        )
        dtype, scaled = resolve_precision(self.amp, self.device)
        scaler = torch.amp.GradScaler(self.device.type, enabled=scaled)
        loss_fn = self._loss_fn()
        transform = self._trial_transform(model_params)
        grads = _GradMonitor(self.grad_monitor, self.grad_clip, scaled, self.vanishing, self.device)
        best_value, best_state, stale, epoch, checked = None, None, 0, 0, transform is None
        best_epoch, start_epoch = -1, 0
        # Each finished epoch's logged metrics, reported value and warning tag: a rerun with a
        # new number (a new MLflow run) logs and reports them again, and carries them on.
        history: list[dict[str, Any]] = []
        # One state per trial: a data-parallel trial's ranks would need theirs saved together.
        saving = self.checkpoint and world == 1
        state = trial.restore() if saving and resume else None
        if state is not None:
            try:
                start_epoch = self._load_checkpoint(state, model, optimizer, schedule, scaler, grads)
                history = list(state["history"])
                best_value, best_epoch, stale = state["best_value"], state["best_epoch"], state["stale"]
                best_state, rng, saved_by = state["best_state"], state["rng"], state["number"]
            except Exception as err:  # e.g. a model_fn changed since: the trial starts afresh
                _logger.warning(
                    "trial %s: its checkpoint does not fit this model (%s: %s); the trial starts from scratch",
                    trial.number,
                    type(err).__name__,
                    " ".join(str(err).split())[:200],
                )
                return self._fit(params, trial, resume=False)
            epoch = start_epoch - 1
            if best_state is None:  # saved as the epoch's own weights (the best epoch was the last)
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        try:
            if state is not None:
                if saved_by != trial.number:
                    # The rerun of an interrupted trial: a new number and MLflow run. Show the
                    # epochs it goes on from there once each, and to the pruner (which may stop
                    # it now); then the checkpoint is this number's (a Ray retry of it, with the
                    # same number and run, must not show them twice).
                    for epoch, record in enumerate(history):
                        trial.log_metrics(record["metrics"], step=epoch)
                        if record["tag"] is not None:
                            trial.set_tag(_VANISHING_TAG, record["tag"])
                        trial.report(record["value"], epoch)
                    trial.checkpoint({**state, "number": trial.number})
                # Last, right before the next epoch: nothing else may draw from them first.
                _set_rng_state(rng, generator, self.device)
            stopped = self.patience is not None and stale >= self.patience  # (early-stopped at the checkpoint)
            for epoch in range(start_epoch, start_epoch if stopped else loop["epochs"]):
                if loop["unfreeze"]:
                    set_trainable(model, self.freeze, loop["unfreeze"], epoch)
                model.train()
                start = time.perf_counter()
                total = torch.zeros((), device=self.device)  # summed on the device: no sync per step
                rows = torch.zeros((), device=self.device)
                loss_bad_step = torch.full((), _NEVER, device=self.device)
                batches = self._batches(self.train_data, loop["batch_size"], generator, shuffle=True, min_rows=world)
                for step, micro in enumerate(self._steps(batches, loop["accumulate"])):
                    step_rows = sum(len(yb) for _, yb in micro)
                    for i, (xb, yb) in enumerate(micro):
                        if world > 1:  # this rank's share of the batch
                            share = rank_slice(torch.arange(len(yb)), rank, world)
                            xb, yb = xb[share], yb[share]
                        xb = xb.to(self.device, non_blocking=True)
                        yb = yb.to(self.device, non_blocking=True)
                        if transform is not None:
                            xb, yb = (
                                _check_transform(transform, xb, yb, key="transform")
                                if not checked
                                else transform(xb, yb)
                            )
                            checked = True
                        # Gradients are reduced across ranks only after the step's last micro-batch.
                        sync = i == len(micro) - 1 or world == 1
                        with contextlib.nullcontext() if sync else net.no_sync():
                            with torch.autocast(
                                self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None
                            ):
                                loss = loss_fn(net(xb), yb)
                            # Each micro-batch weighs by its rows: the sum is the mean over the
                            # step's rows, across ranks too (DDP averages the ranks' gradients).
                            scaler.scale(loss * (len(yb) * world / step_rows)).backward()
                        total += loss.detach() * len(yb)
                        rows += len(yb)
                    grads.before_step(model, optimizer, scaler, last=step == steps_per_epoch - 1)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    schedule.after_step()
                    if grads.mode != "off":  # which went first, the loss or the gradients
                        first = torch.isfinite(total) | (loss_bad_step < _NEVER)
                        loss_bad_step = torch.where(first, loss_bad_step, float(step))
                if world > 1:
                    import torch.distributed as dist

                    both = torch.stack([total, rows])
                    dist.all_reduce(both)
                    total, rows = both[0], both[1]
                train_loss = float(total / rows)
                if not math.isfinite(train_loss):
                    grads.check_cause(loss_bad_step, epoch)
                    raise NonFiniteLoss(f"training loss is {train_loss} at epoch {epoch}")
                grad_metrics = grads.end_epoch(epoch)  # raises NonFiniteGradient
                val_loss, value = self.evaluate(model, self.val_data)
                if not (math.isfinite(val_loss) and math.isfinite(value)):
                    raise NonFiniteLoss(
                        f"validation loss is {val_loss}, {self._metric_name()} {value} at epoch {epoch}"
                    )
                metrics = {
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    f"val_{self._metric_name()}": value,
                    "lr": optimizer.param_groups[0]["lr"],
                    "epoch_time": time.perf_counter() - start,
                    **grad_metrics,
                }
                trial.log_metrics(metrics, step=epoch)
                warning = None
                if grads.vanishing_since is not None and grads.vanishing_since == epoch - self.vanishing["epochs"] + 1:
                    warning = (
                        f"gradient norm below {self.vanishing['threshold']:g} for {self.vanishing['epochs']} "
                        f"epochs from epoch {grads.vanishing_since}"
                    )
                    _logger.warning("trial %s: %s", trial.number, warning)
                    trial.set_tag(_VANISHING_TAG, warning)
                schedule.after_epoch({"val_loss": val_loss, self.metric_name: value})
                if better(value, best_value, self.direction, margin=self.min_delta):
                    best_value, best_epoch, stale = value, epoch, 0
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                else:
                    stale += 1
                history.append({"metrics": metrics, "value": value, "tag": warning})
                trial.report(value, epoch)  # raises TrialPruned when the pruner stops the trial
                if saving:
                    # After the report, so every epoch a checkpoint holds was logged and reported
                    # by the trial that saved it: a rerun of the same trial (a Ray retry) shows
                    # none twice, and one cut short between the two trains the epoch again.
                    trial.checkpoint(
                        {
                            "version": _CHECKPOINT_VERSION,
                            "number": trial.number,
                            "epoch": epoch,
                            "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "schedule": _schedule_state(schedule),
                            "scaler": scaler.state_dict(),
                            "best_value": best_value,
                            "best_epoch": best_epoch,
                            # The same tensors as the model's when this epoch is the best: not twice.
                            "best_state": None if best_epoch == epoch else best_state,
                            "stale": stale,
                            "vanishing_since": grads.vanishing_since,
                            "rng": _rng_state(generator, self.device),
                            "history": history,
                        }
                    )
                if self.patience is not None and stale >= self.patience:
                    break
        finally:
            trial.set_user_attr("epochs", epoch + 1)
        assert best_value is not None and best_state is not None
        model.load_state_dict(best_state)  # the best epoch's weights, not the last
        self.last_model_ = model
        # To the driver's trainer (on_trial_kept), also from a Ray worker: the study's best
        # trial's weights are logged at the end without training it again.
        if not self.extra_objectives:
            trial.keep((best_value, dict(params), best_state))
            return best_value
        values = {self.metric_name: best_value, **self._size_and_speed(model)}
        trial.keep((values, dict(params), best_state))
        return values

    @staticmethod
    def _load_checkpoint(
        state: Mapping[str, Any], model: Any, optimizer: Any, schedule: Any, scaler: Any, grads: Any
    ) -> int:
        """Load a checkpoint's training state into a trial's freshly built loop.

        Returns:
            The epoch to go on from.

        Raises:
            ValueError: The checkpoint is of another version or kind.
            RuntimeError: Its weights or optimizer state do not fit the model (e.g. ``model_fn``
                changed since it was saved).
        """
        if not isinstance(state, Mapping) or state.get("version") != _CHECKPOINT_VERSION:
            raise ValueError("not a checkpoint of this version of the torch trainer")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _load_schedule_state(schedule, state["schedule"])
        scaler.load_state_dict(state["scaler"])
        grads.vanishing_since = state["vanishing_since"]
        return int(state["epoch"]) + 1

    def _size_and_speed(self, model: Any) -> dict[str, float]:
        """The extra objectives of a trained model: ``n_params``, its parameter count, and
        ``latency_ms``, the milliseconds per validation row of inference (eval mode, no
        gradients, the trainer's precision and batch size, after one warm-up batch; the fastest
        of three passes over the rows; on a GPU the device is synchronized before each clock
        read)."""
        import torch

        out: dict[str, float] = {}
        if "n_params" in self.extra_objectives:
            out["n_params"] = float(sum(p.numel() for p in model.parameters()))
        if "latency_ms" in self.extra_objectives:
            dtype, _ = resolve_precision(self.amp, self.device)
            size = int(self.defaults["batch_size"])
            batches = [xb.to(self.device) for xb, _ in self._batches(self.val_data, size, None, shuffle=False)]
            rows = sum(len(xb) for xb in batches)
            model.eval()
            sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
            passes = []
            autocast = torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
            with torch.no_grad(), autocast:
                model(batches[0])  # warm-up: lazy initialisation and kernel selection
                for _ in range(3):  # the fastest of 3 passes: the least disturbed by other work
                    sync()
                    start = time.perf_counter()
                    for xb in batches:
                        model(xb)
                    sync()
                    passes.append(time.perf_counter() - start)
            out["latency_ms"] = min(passes) * 1000 / rows
        return out

    def _monitor_mode(self, monitor: str | None) -> str:
        """How ``plateau`` judges its value: the validation loss falls, the metric per direction."""
        if monitor == "val_loss":
            return "min"
        return "min" if self.direction == "minimize" else "max"

    def _trial_transform(self, model_params: dict[str, Any]) -> Callable[[Any, Any], tuple[Any, Any]] | None:
        """This trial's train-only transform as ``transform(x, y) -> (x, y)``, if any."""
        transform = self.transform if self.transform_fn is None else self.transform_fn(model_params)
        if transform is None:
            return None
        if not callable(transform):
            raise ConfigError(
                key="transform", message=f"transform_fn returned {transform!r}, expected a callable or None"
            )
        return _as_batch_transform(transform)

    def _prepare_device(self, rank: int | None = None) -> None:
        """Resolve the device where the trial runs: under Ray, ``auto`` is the GPU Ray assigned;
        a data-parallel rank takes the GPU of its number."""
        import torch

        self.device = resolve_device(self._device)
        if self.device.type == "cuda":
            if rank is not None:
                self.device = torch.device("cuda", rank % torch.cuda.device_count())
                torch.cuda.set_device(self.device)
            # Page-locked once, so every batch's copy to the GPU can overlap (non_blocking).
            self.train_data = _pinned(self.train_data)
            self.val_data = _pinned(self.val_data)

    def on_trial_kept(self, number: int, kept: Any) -> None:
        """Keep the best weights seen so far (called in the driver for each completed trial);
        with several objectives, those of every trial on the front so far."""
        value, _, _ = kept
        if self.objectives is not None:
            self._keep_on_front(number, kept)
        else:
            best = next(iter(self._best.values()))[0] if self._best else None
            if better(value, best, self.direction):
                self._best = {number: kept}
            elif value == best:
                # Tied: which one the study calls best depends on its storage and on the order
                # trials ended in (workers finish in any order); keep each.
                self._best[number] = kept

    def _keep_on_front(self, number: int, kept: Any) -> None:
        """Add a trial's weights unless another kept trial dominates it; drop those it dominates
        (what select can pick is on the front, or tied with a member)."""
        assert self.objectives is not None
        signs = {n: 1.0 if d == "minimize" else -1.0 for n, d in zip(self.objectives.names, self.objectives.directions)}

        def loss(values: Mapping[str, float]) -> list[float]:
            return [signs[n] * values[n] for n in self.objectives.names]  # type: ignore[union-attr]

        def dominates(a: list[float], b: list[float]) -> bool:
            return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

        new = loss(kept[0])
        if any(dominates(loss(other[0]), new) for other in self._front.values()):
            return
        self._front = {n: other for n, other in self._front.items() if not dominates(new, loss(other[0]))}
        self._front[number] = kept

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to Ray workers once per study: without models and weights of earlier trials.
        state = dict(self.__dict__)
        state.update(_best={}, _front={}, last_model_=None, best_model_=None)
        return state

    def check_executor(self, executor: Any) -> None:
        """A data-parallel trial's ranks must fit what one trial gets: on Ray its
        ``gpus_per_trial`` (or ``cpus_per_trial`` without GPUs; ``gpus_per_trial`` > 1 alone
        makes the trials data-parallel over those GPUs), inline this machine's GPUs or CPUs.

        Raises:
            ConfigError: ``devices_per_trial`` larger than that.
        """
        from ._distributed import available_devices

        gpus = getattr(executor, "gpus_per_trial", None)
        if gpus is None:  # inline: this machine
            available, what = available_devices(), "the GPUs, else CPUs, of this machine"
        else:
            if self.devices_per_trial == 1 and gpus > 1:
                self.devices_per_trial = int(gpus)
            available = int(gpus) if gpus >= 1 else int(executor.cpus_per_trial)
            what = f"the executor's {'gpus' if gpus >= 1 else 'cpus'}_per_trial"
        if self.devices_per_trial > available:
            key = "trainer.devices_per_trial" if self._from_config else "devices_per_trial"
            raise ConfigError(key=key, message=f"expected at most {available} ({what}), got {self.devices_per_trial}")

    def check_space(self, space: Any) -> None:
        """Before the study: every ``scheduler`` choice is a schedule, and the params at the
        space's first point build a model whose parameters ``freeze``, ``unfreeze`` and
        ``lr_groups`` name, and a transform that keeps the first batch's rows and labels."""
        for choice in getattr(space.get("scheduler"), "choices", ()):
            parse_schedule(choice, "space.scheduler")
        try:
            self._check_first_point(space)
        except ConfigError as err:
            raise (err.under("trainer") if self._from_config else err) from None

    def _check_first_point(self, space: Any) -> None:
        from ._finetune import check_prefixes

        first = {name: _first_value(domain) for name, domain in space.items()}
        loop, model_params = self._trial_settings({k: v for k, v in first.items() if v is not None})
        rows = self._first_rows(loop["batch_size"])
        if self.transform_fn is not None and rows is not None:
            transform = self._trial_transform(model_params)
            if transform is not None:
                _check_transform(transform, *rows, key="transform")
        if self.freeze or loop["unfreeze"] or loop["lr_groups"] or loop["lora"]:
            try:
                model = self.model_fn(model_params)
            except Exception:  # params this first point lacks: the trials will tell
                return
            check_prefixes(model, self.freeze, "freeze")
            check_prefixes(model, loop["unfreeze"], "unfreeze")
            check_prefixes(model, loop["lr_groups"], "lr_groups")
            if loop["lora"]:
                from ._finetune import add_lora

                add_lora(model, loop["lora"]["targets"], loop["lora"]["rank"], loop["lora"]["alpha"])

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

        rows = [
            len(data[0] if isinstance(data, tuple) else data) if data is not None else 0
            for data in (self.train_data, self.val_data, self.test_data)
        ]
        width = self.train_data[0].shape[1:] if isinstance(self.train_data, tuple) else None
        options = {k: v for k, v in self.schedule_options.items() if v is not None}
        return {
            **super().describe(),
            "model": name(self.model_fn),
            "loss": name(self.loss),
            "optimizer": name(self.optimizer),
            "scheduler": self.scheduler,
            **{f"scheduler.{k}": v for k, v in options.items()},
            **self.defaults,
            "amp": self.amp,
            "device": self._device,
            "grad_clip": self.grad_clip,
            "grad_monitor": self.grad_monitor,
            "transform": None
            if self.transform is None and self.transform_fn is None
            else name(self.transform or self.transform_fn),
            "freeze": ",".join(self.freeze) or None,
            **{f"unfreeze.{k}": v for k, v in self.unfreeze.items()},
            **{f"lr_groups.{k}": v for k, v in self.lr_groups.items()},
            **{f"lora.{k}": ",".join(v) if k == "targets" else v for k, v in self.lora.items()},
            "early_stopping": self.patience,
            "seed": self.seed,
            "standardize": self.standardized_with is not None,
            "devices_per_trial": self.devices_per_trial,
            "checkpoint": self.checkpoint,
            "data.train_rows": rows[0],
            "data.val_rows": rows[1],
            "data.test_rows": rows[2],
            "data.features": None if width is None else "x".join(map(str, width)),
        }

    def datasets(self) -> list[dict[str, str]]:
        """The training and validation rows (tensor data only)."""
        from ._provenance import data_name, dataset_card

        name = data_name(self.data_source)
        return [
            dataset_card(*data, name=f"{name}-{context}", source=self.data_source, context=context)
            for data, context in (
                (self.train_data, "training"),
                (self.val_data, "validation"),
                (self.test_data, "testing"),
            )
            if isinstance(data, tuple)
        ]

    def on_study_end(self, study: Any, run: StudyRun) -> None:
        """Log the best trial's model (its best epoch's weights) as the study's MLflow model;
        with test data, score it there once and log ``test_<metric>``."""
        import torch

        chosen = study.selected_trial  # the best, or with several objectives select's pick
        kept = (self._front if self.objectives is not None else self._best).get(chosen.number)
        if kept is None or kept[1] != study.selected_params:
            return  # the trial ran elsewhere (another process): its weights are not here
        _, params, state = kept
        self._best, self._front = {}, {}  # the next study with this trainer starts afresh
        model = self.model_fn({k: v for k, v in params.items() if not is_loop_param(k)})
        lora = self._trial_settings(params)[0]["lora"]
        if lora:  # the adapters the weights have, then folded in: the plain architecture
            from ._finetune import add_lora, merge_lora

            add_lora(model, lora["targets"], lora["rank"], lora["alpha"])
            model.load_state_dict(state)
            model = merge_lora(model)
        else:
            model.load_state_dict(state)
        if self.test_data is not None:  # once, after the search, on rows it never saw
            self.device = resolve_device(self._device)
            _, score = self.evaluate(model.to(self.device), self.test_data)
            model.to("cpu")
            self.best_test_score_ = score
            rows = len(self.test_data[0] if isinstance(self.test_data, tuple) else self.test_data)
            run.log_test_score(self._metric_name(), score, rows=rows, trial=chosen.number)
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
        classification, seeded), after ``test_fraction`` of it is held out first (the same way)
        and, with ``standardize: true``, scaled with the training rows' mean and deviation only.
        ``transform: pkg.module:fn`` names a ``transform_fn(params)``, as ``model`` names a
        ``model_fn(params)``.
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
            "accumulate",
            "amp",
            "device",
            "grad_clip",
            "grad_monitor",
            "vanishing",
            "transform",
            "freeze",
            "unfreeze",
            "lr_groups",
            "lora",
            "early_stopping",
            "seed",
            "direction",
            "val_fraction",
            "test_fraction",
            "standardize",
            "devices_per_trial",
            "objectives",
            "checkpoint",
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
        path = [str(base)] if base is not None else []
        model_fn = load_callable(block["model"], "trainer.model", path)
        transform_fn = load_callable(block["transform"], "trainer.transform", path) if block.get("transform") else None
        dataset = load_data(data, base=base)
        local = ("kind", "model", "val_fraction", "test_fraction", "standardize", "transform")
        options = {k: v for k, v in block.items() if k not in local}
        train, val, test, stats = _split_tensors(
            dataset,
            block.get("val_fraction", 0.2),
            block.get("seed", 0),
            classification=_classification(options.get("loss"), options.get("metric", "accuracy"), dataset.y),
            standardize=block.get("standardize", False),
            test_fraction=block.get("test_fraction"),
        )
        try:
            trainer = cls(
                model_fn, train, val, standardized_with=stats, test_data=test, transform_fn=transform_fn, **options
            )
            trainer._from_config = True
            trainer.data_source = dataset.source
            return trainer
        except ConfigError as err:
            raise err.under("trainer") from None
        except TypeError as err:
            raise ConfigError(key="trainer", message=str(err)) from None


#: What a torch trainer can measure of a trained model, as objectives beside its metric.
EXTRA_OBJECTIVES = ("n_params", "latency_ms")


def _extra_objectives(value: Any) -> tuple[str, ...]:
    """``objectives``: a list of ``n_params`` and ``latency_ms``, each once (empty: one objective)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(key="objectives", message=f"expected a list of {', '.join(EXTRA_OBJECTIVES)}, got {value!r}")
    for item in items:
        if item not in EXTRA_OBJECTIVES:
            hint = did_you_mean(item, list(EXTRA_OBJECTIVES)) if isinstance(item, str) else ""
            raise ConfigError(
                key="objectives",
                message=f"unknown objective {item!r}{hint}; the trainer measures {', '.join(EXTRA_OBJECTIVES)}",
            )
    if len(set(items)) != len(items):
        raise ConfigError(key="objectives", message=f"each objective once, got {list(items)!r}")
    return tuple(items)


def _first_value(domain: Any) -> Any:
    """A value of a space's domain: its first choice or its low end (``None``: other kinds)."""
    choices = getattr(domain, "choices", None)
    if choices:
        return choices[0]
    return getattr(domain, "low", None)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _prefixes(value: Any) -> list[str]:
    """``freeze``: a list of parameter-name prefixes."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) and p for p in value):
        raise ConfigError(key="freeze", message=f"expected a list of parameter-name prefixes, got {value!r}")
    return list(value)


def _prefix_map(value: Any, key: str, *, integer: bool) -> dict[str, Any]:
    """``unfreeze`` (prefix -> epoch >= 0) or ``lr_groups`` (prefix -> multiplier > 0)."""
    if value is None:
        return {}
    what = "an epoch >= 0" if integer else "a multiplier > 0"
    if not isinstance(value, Mapping):
        raise ConfigError(key=key, message=f"expected {{prefix: {what}}}, got {value!r}")
    for prefix, number in value.items():
        ok = _integer(number) and number >= 0 if integer else _number(number) and number > 0
        if not (isinstance(prefix, str) and prefix and ok):
            raise ConfigError(key=f"{key}.{prefix}", message=f"expected {what}, got {number!r}")
    return dict(value)


def _lora_options(value: Any, key: str) -> dict[str, Any]:
    """``lora: {targets: [prefix, ...], rank: 4, alpha: 8}``, checked (``{}``: none)."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(key=key, message=f"expected {{targets: [prefix, ...], rank: R, alpha: A}}, got {value!r}")
    check_keys(value, ("targets", "rank", "alpha"), key)
    options = {"rank": 4, "alpha": 8.0, **value}
    targets = options.get("targets")
    if isinstance(targets, str):
        targets = [targets]
    if not (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets)):
        raise ConfigError(key=f"{key}.targets", message=f"expected a list of module-name prefixes, got {targets!r}")
    if not (_integer(options["rank"]) and options["rank"] >= 1):
        raise ConfigError(key=f"{key}.rank", message=f"expected a positive integer, got {options['rank']!r}")
    if not (_number(options["alpha"]) and options["alpha"] > 0):
        raise ConfigError(key=f"{key}.alpha", message=f"expected a positive number, got {options['alpha']!r}")
    return {**options, "targets": targets}


def _grouped(params: Mapping[str, Any], head: str) -> dict[str, Any]:
    """``{PREFIX: value}`` of a trial's ``head + PREFIX`` params (``lr_groups.backbone: 0.1``)."""
    return {k[len(head) :]: v for k, v in params.items() if k.startswith(head)}


def _as_batch_transform(transform: Callable[..., Any]) -> Callable[[Any, Any], tuple[Any, Any]]:
    """``transform(x, y) -> (x, y)`` of a transform taking ``(x, y)`` or ``x`` alone."""
    try:
        positional = [
            p
            for p in inspect.signature(transform).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        positional = []
    if len(positional) == 2:
        return transform
    return lambda x, y: (transform(x), y)


def _check_transform(transform: Callable[[Any, Any], tuple[Any, Any]], x: Any, y: Any, *, key: str) -> tuple[Any, Any]:
    """Apply ``transform`` to a first batch; it must keep the batch's rows and labels.

    Raises:
        ConfigError: It changed the number of rows or the labels, or failed.
    """
    import torch

    try:
        out = transform(x, y)
        new_x, new_y = out
    except Exception as err:
        message = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        raise ConfigError(key=key, message=f"failed on the first batch of shape {tuple(x.shape)}: {message}") from None
    if not isinstance(new_x, torch.Tensor) or len(new_x) != len(x):
        shape = tuple(new_x.shape) if isinstance(new_x, torch.Tensor) else type(new_x).__name__
        raise ConfigError(
            key=key, message=f"changed the batch from shape {tuple(x.shape)} to {shape}: a transform must keep the rows"
        )
    if not (isinstance(new_y, torch.Tensor) and new_y.shape == y.shape and torch.equal(new_y, y)):
        raise ConfigError(
            key=key, message="changed the labels of the first batch: a train-only transform must keep them"
        )
    return new_x, new_y


_NEVER = float(2**31)  # "no such step yet", as a float on the device
_VANISHING_TAG = "hpo.warning.vanishing_gradients"
_CHECKPOINT_VERSION = 1  # of the state the loop saves after each epoch


def _schedule_state(schedule: Schedule) -> dict[str, Any]:
    """What a :class:`Schedule` needs to go on: its step count and its torch schedulers' states."""
    return {
        "steps": schedule.steps,
        "warmup": None if schedule.warmup is None else schedule.warmup.state_dict(),
        "main": None if schedule.main is None else schedule.main.state_dict(),
    }


def _load_schedule_state(schedule: Schedule, state: Mapping[str, Any]) -> None:
    """Put a :class:`Schedule` back where :func:`_schedule_state` found it (after the optimizer's
    own state is loaded: its param groups hold the learning rates)."""
    if (schedule.warmup is None) != (state["warmup"] is None) or (schedule.main is None) != (state["main"] is None):
        raise ValueError("the checkpoint's schedule is not this trial's")
    schedule.steps = int(state["steps"])
    if schedule.warmup is not None:
        schedule.warmup.load_state_dict(state["warmup"])
    if schedule.main is not None:
        schedule.main.load_state_dict(state["main"])


def _rng_state(generator: Any, device: Any) -> dict[str, Any]:
    """Every random stream a trial draws from: torch's (dropout, initialization), the batch
    order's generator (also a DataLoader's), the trial's CUDA device's, numpy's and Python's
    (a model or transform may use them)."""
    import random

    import numpy as np
    import torch

    state = {
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
        "numpy": np.random.get_state(),
        "random": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, Any], generator: Any, device: Any) -> None:
    """Set the streams :func:`_rng_state` saved (CUDA's when the trial runs on CUDA again)."""
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    np.random.set_state(state["numpy"])
    random.setstate(state["random"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


class _GradMonitor:
    """The gradients' total norm before clipping, per step on the device (no sync), summarized
    per epoch: mean, max, each parameter's at the epoch's last step (``layers``), and a streak of
    vanishing epochs."""

    def __init__(self, mode: str, clip: float | None, scaled: bool, vanishing: Mapping[str, Any], device: Any) -> None:
        self.mode, self.clip, self.scaled, self.device = mode, clip, scaled, device
        self.threshold, self.patience = vanishing["threshold"], vanishing["epochs"]
        self.vanishing_since: int | None = None
        self._reset()

    def _reset(self) -> None:
        import torch

        self.sum = torch.zeros((), device=self.device)
        self.max = torch.zeros((), device=self.device)
        self.skipped = torch.zeros((), device=self.device)
        self.bad_step = torch.full((), _NEVER, device=self.device)  # the first non-finite norm's step
        self.steps = 0
        self.layers: dict[str, Any] = {}

    def before_step(self, model: Any, optimizer: Any, scaler: Any, *, last: bool) -> None:
        """After the step's last backward: unscale once, measure, clip."""
        import torch

        if self.mode == "off" and self.clip is None:
            return
        scaler.unscale_(optimizer)  # the true gradients (fp16), once per step
        params = [p for p in model.parameters() if p.grad is not None]
        if self.clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.clip)  # returns the norm before clipping
        else:
            norm = _total_norm([p.grad for p in params])
        if self.mode == "off":
            return
        finite = torch.isfinite(norm)
        if self.scaled:  # fp16: an overflowed step is the GradScaler's to skip, not a failure
            self.skipped += (~finite).float()
            norm = torch.where(finite, norm, torch.zeros_like(norm))
        else:
            self.bad_step = torch.where(finite | (self.bad_step < _NEVER), self.bad_step, float(self.steps))
        self.sum += norm
        self.max = torch.maximum(self.max, norm)
        self.steps += 1
        if last and self.mode == "layers":
            self.layers = {name: p.grad.detach().norm() for name, p in model.named_parameters() if p.grad is not None}

    def check_cause(self, loss_bad_step: Any, epoch: int) -> None:
        """The loss became non-finite: if a gradient did first (while the loss was finite), say so.

        Raises:
            NonFiniteGradient: The gradients exploded before the loss did.
        """
        step = float(self.bad_step)
        if step < float(loss_bad_step):
            raise NonFiniteGradient(
                f"gradient norm is not finite at epoch {epoch}, step {int(step)}, while the loss was finite "
                "(exploding gradients): lower lr, or set grad_clip"
            )

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """The epoch's gradient metrics.

        Raises:
            NonFiniteGradient: A step's norm was NaN or infinite (without a GradScaler).
        """
        if self.mode == "off":
            return {}
        skipped = float(self.skipped)
        mean = float(self.sum) / max(1.0, self.steps - skipped)
        top = float(self.max)
        if not (math.isfinite(mean) and math.isfinite(top)):
            raise NonFiniteGradient(
                f"gradient norm is not finite at epoch {epoch}, step {int(float(self.bad_step))}, while the loss "
                "was finite (exploding gradients): lower lr, or set grad_clip"
            )
        metrics = {"grad_norm_mean": mean, "grad_norm_max": top}
        if self.scaled:
            metrics["grad_steps_skipped"] = skipped
        metrics.update({f"grad_norm.{name}": float(norm) for name, norm in self.layers.items()})
        if mean < self.threshold:
            self.vanishing_since = epoch if self.vanishing_since is None else self.vanishing_since
        else:
            self.vanishing_since = None
        self._reset()
        return metrics


def _total_norm(grads: list[Any]) -> Any:
    """The 2-norm of all gradients together, as ``clip_grad_norm_`` computes it."""
    import torch

    if hasattr(torch.nn.utils, "get_total_norm"):  # torch >= 2.6
        return torch.nn.utils.get_total_norm(grads)
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


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
    dataset: Any, fraction: Any, seed: Any, *, classification: bool, standardize: Any, test_fraction: Any = None
) -> tuple[Any, Any, Any, tuple[Any, Any] | None]:
    """Seeded train/validation(/test) split of a loaded data block, as tensors, stratified for a
    classification; with the training rows' ``(mean, std)`` when ``standardize`` is on. The test
    rows (``test_fraction``, else ``None``) are split off first."""
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
    X_test = y_test = None
    if test_fraction is not None:  # held out before anything else: the search never sees it
        from ._splits import split_test

        rest, held = split_test(X, y, test_fraction, seed=seed, stratify=classification, key="trainer.test_fraction")
        X, y, X_test, y_test = X[rest], y[rest], X[held], y[held]
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
        X_test = None if X_test is None else (X_test - mean) / std
        stats = (mean, std)
    target_type = torch.long if classification else torch.float32

    def tensors(X: Any, y: Any) -> Any:
        return None if X is None else (torch.from_numpy(np.ascontiguousarray(X)), torch.as_tensor(y, dtype=target_type))

    return tensors(X_train, y_train), tensors(X_val, y_val), tensors(X_test, y_test), stats
