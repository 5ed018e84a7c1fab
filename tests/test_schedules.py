"""Each schedule of the torch trainer applies, optimizer step by optimizer step, the learning
rates of a hand loop that steps the same ``torch.optim.lr_scheduler`` objects."""

from __future__ import annotations

import pytest
import torch
from torch.optim import lr_scheduler as S

import hpo
from hpo import ConfigError
from hpo.trainers import TorchTrainer
from hpo.trainers._schedules import parse_schedule

N_ROWS, BATCH, EPOCHS, LR = 96, 16, 5, 0.1  # 6 steps per epoch, 30 in all
STEPS = N_ROWS // BATCH


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N_ROWS, 4, generator=g)
    return X, (X[:, 0] > 0).long()


class RecordingSGD(torch.optim.SGD):
    """A real SGD that records the learning rate of each of its steps (every group's)."""

    lrs: list[list[float]] = []

    def step(self, closure=None):
        RecordingSGD.lrs.append([group["lr"] for group in self.param_groups])
        return super().step(closure)


def recording_sgd(params, lr, weight_decay, momentum):
    return RecordingSGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)


ACCURACIES: list[float] = []


def recorded_accuracy(out, target):
    """The validation accuracy, recorded so the plateau reference sees the same values."""
    value = float((out.argmax(dim=1) == target).float().mean())
    ACCURACIES.append(value)
    return value


def _run(scheduler, warmup=0.0, metric="accuracy"):
    RecordingSGD.lrs = []
    ACCURACIES.clear()
    trainer = TorchTrainer(
        lambda params: torch.nn.Linear(4, 2),
        _data(0),
        _data(1),
        metric=recorded_accuracy if metric == "recorded" else metric,
        direction="maximize",
        epochs=EPOCHS,
        batch_size=BATCH,
        optimizer=recording_sgd,
        lr=LR,
        scheduler=scheduler,
        warmup=warmup,
        device="cpu",
        grad_monitor="off",
    )
    hpo.tune(trainer, {"unused": hpo.Categorical([0])}, searcher="grid", pruner="none", tracking=None)
    return [lrs[0] for lrs in RecordingSGD.lrs]


def _hand_loop(per_step=(), per_epoch=(), plateau=None, values=()):
    """The learning rate of each step of a hand loop stepping the schedulers built by the
    callables on one SGD, ``per_step`` after each step and ``per_epoch`` after each epoch."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    step_schedulers = [make(optimizer) for make in per_step]
    epoch_schedulers = [make(optimizer) for make in per_epoch]
    reduce = plateau(optimizer) if plateau else None
    seen = []
    for epoch in range(EPOCHS):
        for _ in range(STEPS):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            for scheduler in step_schedulers:
                scheduler.step()
        for scheduler in epoch_schedulers:
            scheduler.step()
        if reduce is not None:
            reduce.step(values[epoch])
    return seen


def _sequential(optimizer, warmup, then):
    return S.SequentialLR(
        optimizer,
        [S.LinearLR(optimizer, 1 / warmup, 1.0, total_iters=warmup - 1), then(optimizer)],
        milestones=[warmup],
    )


TOTAL = EPOCHS * STEPS


@pytest.mark.parametrize(
    ("scheduler", "warmup", "reference"),
    [
        ("cosine", 0, dict(per_step=[lambda o: S.CosineAnnealingLR(o, T_max=TOTAL)])),
        (
            "cosine",
            1,  # one epoch: 6 steps
            dict(per_step=[lambda o: _sequential(o, STEPS, lambda o: S.CosineAnnealingLR(o, T_max=TOTAL - STEPS))]),
        ),
        ("constant", 0, dict()),
        ("constant", 0.5, dict(per_step=[lambda o: S.LinearLR(o, 1 / 3, 1.0, total_iters=2)])),
        (
            {"name": "step", "milestones": [2, 4], "gamma": 0.5},
            0,
            dict(per_epoch=[lambda o: S.MultiStepLR(o, [2, 4], 0.5)]),
        ),
        ({"name": "step", "step_size": 2}, 0, dict(per_epoch=[lambda o: S.StepLR(o, 2, 0.1)])),
        ("step", 0, dict(per_epoch=[lambda o: S.MultiStepLR(o, [2, 4], 0.1)])),  # 50% and 75% of 5 epochs
        (
            {"name": "step", "milestones": [1, 3]},
            1.5,  # a per-epoch decay during a per-step warmup: both chain
            dict(
                per_step=[lambda o: S.LinearLR(o, 1 / 9, 1.0, total_iters=8)],
                per_epoch=[lambda o: S.MultiStepLR(o, [1, 3], 0.1)],
            ),
        ),
        ("onecycle", 0, dict(per_step=[lambda o: S.OneCycleLR(o, max_lr=LR, total_steps=TOTAL)])),
        ("onecycle", 2, dict(per_step=[lambda o: S.OneCycleLR(o, max_lr=LR, total_steps=TOTAL, pct_start=12 / TOTAL)])),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else "",
)
def test_each_schedule_matches_its_torch_scheduler_step_for_step(scheduler, warmup, reference):
    applied = _run(scheduler, warmup)
    # The per-step schedulers of the hand loop step after the last step too; the warmup of a
    # per-step warmup is stepped only while it lasts (the trainer stops at the peak).
    expected = _hand_loop(**reference)
    assert len(applied) == TOTAL
    assert applied == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_plateau_matches_reduce_lr_on_plateau_on_the_validation_metric():
    applied = _run({"name": "plateau", "patience": 0, "factor": 0.5}, metric="recorded")
    values = list(ACCURACIES)
    assert len(values) == EPOCHS
    expected = _hand_loop(plateau=lambda o: S.ReduceLROnPlateau(o, mode="max", patience=0, factor=0.5), values=values)
    assert applied == pytest.approx(expected, rel=1e-6)


def test_plateau_on_the_validation_loss_reduces_when_it_stalls():
    applied = _run({"name": "plateau", "monitor": "val_loss", "patience": 0, "factor": 0.5})
    assert applied[0] == LR and min(applied) <= LR  # judged with mode min: it ran
    assert all(a >= b for a, b in zip(applied, applied[1:]))


def test_the_scheduler_is_tunable_per_trial():
    trainer = TorchTrainer(
        lambda params: torch.nn.Linear(4, 2), _data(0), _data(1), epochs=2, batch_size=BATCH, device="cpu"
    )
    study = hpo.tune(
        trainer,
        {"scheduler": hpo.Categorical(["cosine", "onecycle", "plateau", "step"])},
        searcher="grid",
        pruner="none",
        tracking=None,
    )
    assert sorted(t.params["scheduler"] for t in study.trials) == ["cosine", "onecycle", "plateau", "step"]
    assert all(t.state.name == "COMPLETE" for t in study.trials)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cosin", "scheduler: expected one of cosine, constant, step, plateau, onecycle"),
        ({"name": "step", "milestone": [3]}, "scheduler.milestone: unknown option of step; did you mean 'milestones'?"),
        (
            {"name": "step", "milestones": [5, 3]},
            "scheduler.milestones: expected increasing positive epochs, got [5, 3]",
        ),
        ({"name": "step", "milestones": [3], "step_size": 2}, "not both"),
        ({"name": "plateau", "factor": 1.5}, "scheduler.factor: expected a number in (0, 1), got 1.5"),
        ({"name": "onecycle", "pct_start": 0}, "scheduler.pct_start: expected a number in (0, 1), got 0"),
    ],
)
def test_bad_schedules_are_one_line_errors(spec, message):
    with pytest.raises(ConfigError) as err:
        parse_schedule(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_plateau_needs_a_validation_metric_to_watch():
    with pytest.raises(
        ConfigError,
        match=r"scheduler.monitor: plateau watches a validation metric: expected val_loss or val_accuracy, "
        r"got 'train_loss'",
    ):
        TorchTrainer(
            lambda params: torch.nn.Linear(4, 2),
            _data(0),
            _data(1),
            scheduler={"name": "plateau", "monitor": "train_loss"},
        )


def test_a_bad_scheduler_choice_in_the_space_is_refused_before_the_study():
    trainer = TorchTrainer(lambda params: torch.nn.Linear(4, 2), _data(0), _data(1), epochs=1, device="cpu")
    with pytest.raises(ConfigError, match=r"space.scheduler: expected one of .*got 'cosin'; did you mean 'cosine'\?"):
        hpo.tune(trainer, {"scheduler": hpo.Categorical(["cosin", "step"])}, n_trials=1, tracking=None)
