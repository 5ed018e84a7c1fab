"""Learning-rate schedules of the torch trainer, each one of ``torch.optim.lr_scheduler``'s.

A schedule is a name with options (``scheduler: cosine`` or ``{name: step, milestones: [5, 8]}``)
and an optional linear warmup over the first optimizer steps. Nothing is re-implemented: warmup
is ``LinearLR``, and every other schedule is the torch class of its name, stepped as its
documentation says: ``cosine`` and ``onecycle`` after every optimizer step, ``step`` and
``plateau`` after every epoch. Torch's schedulers are chainable (each multiplies the current
learning rate), so a per-epoch decay during a per-step warmup composes as in a hand loop that
steps both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpo.plugins import ConfigError, did_you_mean

#: name -> its options and their defaults (``None``: required or derived)
SCHEDULES: dict[str, dict[str, Any]] = {
    "cosine": {"min_lr": 0.0},
    "constant": {},
    "step": {"milestones": None, "step_size": None, "gamma": 0.1},
    "plateau": {"patience": 2, "factor": 0.5, "threshold": 1e-4, "monitor": None, "min_lr": 0.0},
    "onecycle": {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
}
#: schedules stepped once per epoch (the others, once per optimizer step)
PER_EPOCH = ("step", "plateau")


def parse_schedule(spec: Any, key: str = "scheduler") -> tuple[str, dict[str, Any]]:
    """``(name, options)`` of ``scheduler: NAME`` or ``{name: NAME, **options}``, checked.

    Raises:
        ConfigError: An unknown name or option, or a bad value (named ``key.OPTION``).
    """
    if isinstance(spec, Mapping):
        options = dict(spec)
        name = options.pop("name", None)
    else:
        name, options = spec, {}
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ConfigError(
            key=key,
            message=f"expected one of {', '.join(SCHEDULES)} (or {{name: ..., **options}}), "
            f"got {name!r}{did_you_mean(name, list(SCHEDULES))}",
        )
    allowed = SCHEDULES[name]
    for option in options:
        if option not in allowed:
            hint = did_you_mean(option, list(allowed), f"; {name} takes {', '.join(allowed) or 'no options'}")
            raise ConfigError(key=f"{key}.{option}", message=f"unknown option of {name}{hint}")
    options = {**allowed, **options}
    _check_options(name, options, key)
    return name, options


def _positive(value: Any, key: str, *, below_one: bool = False, zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if zero else value > 0)
    if ok and below_one:
        ok = value < 1
    if not ok:
        what = "a number in (0, 1)" if below_one else "a non-negative number" if zero else "a positive number"
        raise ConfigError(key=key, message=f"expected {what}, got {value!r}")


def _check_options(name: str, options: dict[str, Any], key: str) -> None:
    if name == "step":
        milestones, step_size = options["milestones"], options["step_size"]
        if milestones is not None and step_size is not None:
            raise ConfigError(
                key=key, message="step takes milestones (epochs, e.g. [10, 15]) or step_size (every N epochs), not both"
            )
        if milestones is not None and not (
            isinstance(milestones, (list, tuple))
            and milestones
            and all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in milestones)
            and list(milestones) == sorted(set(milestones))
        ):
            raise ConfigError(
                key=f"{key}.milestones", message=f"expected increasing positive epochs, got {milestones!r}"
            )
        if step_size is not None and (isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1):
            raise ConfigError(
                key=f"{key}.step_size", message=f"expected a positive number of epochs, got {step_size!r}"
            )
        _positive(options["gamma"], f"{key}.gamma")
    elif name == "plateau":
        patience = options["patience"]
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ConfigError(key=f"{key}.patience", message=f"expected a number of epochs >= 0, got {patience!r}")
        _positive(options["factor"], f"{key}.factor", below_one=True)
        _positive(options["threshold"], f"{key}.threshold", zero=True)
        _positive(options["min_lr"], f"{key}.min_lr", zero=True)
    elif name == "onecycle":
        _positive(options["pct_start"], f"{key}.pct_start", below_one=True)
        _positive(options["div_factor"], f"{key}.div_factor")
        _positive(options["final_div_factor"], f"{key}.final_div_factor")
    elif name == "cosine":
        _positive(options["min_lr"], f"{key}.min_lr", zero=True)


class Schedule:
    """A schedule with its warmup on one optimizer, stepped by the training loop.

    The loop calls :meth:`after_step` after each optimizer step and :meth:`after_epoch` with the
    epoch's validation results; the learning rates then are those of a hand loop that builds the
    same ``torch.optim.lr_scheduler`` objects and steps them at the same points.

    Args:
        optimizer: The optimizer, its param groups' ``lr`` set to their peak values.
        name: A name of :data:`SCHEDULES`.
        options: Its options (from :func:`parse_schedule`).
        total_steps: Optimizer steps in the whole run (epochs x steps per epoch).
        epochs: Epochs in the whole run: ``step`` without milestones or step_size decays at 50%
            and 75% of them (the ResNet recipe).
        warmup_steps: Steps of linear warmup from ``lr / warmup_steps`` (0 or 1: none). For
            ``onecycle``, whose rising phase is a warmup, they set ``pct_start`` instead.
        mode: ``min`` or ``max``: how ``plateau`` judges the monitored value.
    """

    def __init__(
        self,
        optimizer: Any,
        name: str,
        options: Mapping[str, Any],
        *,
        total_steps: int,
        epochs: int,
        warmup_steps: int = 0,
        mode: str = "min",
    ) -> None:
        from torch.optim import lr_scheduler as S

        self.name = name
        self.monitor = options.get("monitor")
        self.steps = 0
        self.warmup_steps = warmup_steps if name != "onecycle" else 0
        self.warmup = (
            S.LinearLR(optimizer, start_factor=1 / self.warmup_steps, end_factor=1.0, total_iters=self.warmup_steps - 1)
            if self.warmup_steps > 1
            else None
        )
        self.main: Any = None
        if name == "cosine":
            t_max = max(1, total_steps - self.warmup_steps)
            self.main = S.CosineAnnealingLR(optimizer, T_max=t_max, eta_min=options["min_lr"])
        elif name == "onecycle":
            pct = warmup_steps / total_steps if warmup_steps > 0 else options["pct_start"]
            self.main = S.OneCycleLR(
                optimizer,
                max_lr=[group["lr"] for group in optimizer.param_groups],
                total_steps=total_steps,
                pct_start=min(pct, 0.99),
                div_factor=options["div_factor"],
                final_div_factor=options["final_div_factor"],
            )
        elif name == "step":
            if options["step_size"] is not None:
                self.main = S.StepLR(optimizer, step_size=options["step_size"], gamma=options["gamma"])
            else:
                milestones = options["milestones"] or sorted({max(1, round(epochs * f)) for f in (0.5, 0.75)})
                self.main = S.MultiStepLR(optimizer, milestones=list(milestones), gamma=options["gamma"])
        elif name == "plateau":
            self.main = S.ReduceLROnPlateau(
                optimizer,
                mode="max" if mode == "max" else "min",
                factor=options["factor"],
                patience=options["patience"],
                threshold=options["threshold"],
                min_lr=options["min_lr"],
            )

    def after_step(self) -> None:
        """One optimizer step is done."""
        self.steps += 1
        if self.warmup is not None and self.steps < self.warmup_steps:
            self.warmup.step()
        elif self.steps > self.warmup_steps and self.main is not None and self.name not in PER_EPOCH:
            # (At steps == warmup_steps the warmup has reached the peak: the main schedule
            # starts from there, as SequentialLR hands over.)
            self.main.step()

    def after_epoch(self, metrics: Mapping[str, float]) -> None:
        """An epoch is done; ``metrics`` has its validation results (``plateau`` reads one)."""
        if self.name == "step":
            self.main.step()
        elif self.name == "plateau":
            self.main.step(metrics[str(self.monitor)])
