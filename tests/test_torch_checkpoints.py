"""TorchTrainer checkpoints: a trial cut short at a random epoch (an interrupt, a dead Ray worker)
and resumed from its last checkpoint gives the metrics of an uninterrupted trial, epoch for epoch
and float for float on the CPU; the rerun's MLflow run shows every epoch once; the disk holds the
running trial's file and the best complete trial's; an unreadable checkpoint restarts the trial.

Everything is real: the trainer, the driver's checkpoint store, Optuna, an MLflow sqlite store, a
local Ray. The net is a small MLP with dropout on the digits, so every random stream matters.
"""

from __future__ import annotations

import functools
import logging
import os
import random
from pathlib import Path
from typing import Any

import pytest
import torch

import hpo
from hpo.trainers import TorchTrainer
from tests.conftest import study_runs
from tests.test_torch_trainer import TRAIN, VAL

EPOCHS = 6
BATCH = 64
STEPS = -(-len(TRAIN[0]) // BATCH)  # training forward passes per epoch (one per batch)
SPACE = {"lr": hpo.Categorical([3e-3])}
ONE_TRIAL = dict(searcher="grid", pruner="none", n_trials=1)
#: Every metric the loop logs per epoch, beside its wall time (which no two runs share).
LOGGED = ("train_loss", "val_loss", "val_accuracy", "lr", "grad_norm_mean", "grad_norm_max")


class Net(torch.nn.Module):
    """An MLP with dropout that counts its training forward passes, and can die at one of them.

    Args:
        hidden: Width of the hidden layer.
        kill_at: The training forward pass (from 1) at which to die, or None.
        marker: With ``kill_at``: end the process (``os._exit``, as a worker dies) the first time,
            writing this file; without it, raise KeyboardInterrupt (Ctrl-C in the driver).
    """

    def __init__(self, hidden: int = 32, kill_at: int | None = None, marker: str | None = None) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.3))
        self.head = torch.nn.Linear(hidden, 10)
        self.calls, self.kill_at, self.marker = 0, kill_at, marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if self.calls == self.kill_at:
                if self.marker is None:
                    raise KeyboardInterrupt
                if not Path(self.marker).exists():
                    Path(self.marker).write_text("died")
                    os._exit(1)
        return self.head(self.body(x))


def net(params: dict[str, Any], **kwargs: Any) -> Net:
    return Net(**kwargs)


class _Watched:
    """The trial, noting what the trainer logs and reports; interrupted right after it reports
    epoch ``cut_after_report`` (before that epoch's checkpoint), or right after the checkpoint of
    epoch ``cut_after_checkpoint``, when given."""

    def __init__(self, trial: Any, cut_after_report: int | None, cut_after_checkpoint: int | None) -> None:
        self._trial, self._cut, self._cut_checkpoint = trial, cut_after_report, cut_after_checkpoint
        self.logged: dict[int, dict[str, float]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        assert step is not None
        self.logged.setdefault(step, {}).update({k: v for k, v in metrics.items() if k in LOGGED})
        self._trial.log_metrics(metrics, step)

    def report(self, value: float, step: int) -> None:
        self.logged.setdefault(step, {})["intermediate_value"] = value
        self._trial.report(value, step)
        if step == self._cut:
            raise KeyboardInterrupt

    def checkpoint(self, state: dict[str, Any]) -> None:
        self._trial.checkpoint(state)
        if state["epoch"] == self._cut_checkpoint:
            raise KeyboardInterrupt


class Trainer(TorchTrainer):
    """The trainer under test (real), recording how many training forward passes its trial ran
    (so a test can tell a resumed trial from one that started over) and what it logged and
    reported per epoch, in user attributes (also from a Ray worker).

    Args:
        cut_after_report: Interrupt the trial right after it reports this epoch.
        cut_after_checkpoint: Interrupt the trial right after this epoch's checkpoint.
        hidden: The model's width.
        **kwargs: The model's ``kill_at`` and ``marker`` (see :class:`Net`), then the trainer's.
    """

    def __init__(
        self,
        cut_after_report: int | None = None,
        cut_after_checkpoint: int | None = None,
        hidden: int = 32,
        **kwargs: Any,
    ) -> None:
        model = {k: kwargs.pop(k) for k in ("kill_at", "marker") if k in kwargs}
        options = dict(epochs=EPOCHS, batch_size=BATCH, warmup=1, device="cpu", seed=3, unfreeze={"body": 2})
        super().__init__(functools.partial(net, hidden=hidden, **model), TRAIN, VAL, **{**options, **kwargs})
        self.cut_after_report, self.cut_after_checkpoint = cut_after_report, cut_after_checkpoint

    def __call__(self, params: dict[str, Any], trial: Any) -> Any:
        watched = _Watched(trial, self.cut_after_report, self.cut_after_checkpoint)
        result = super().__call__(params, watched)
        trial.set_user_attr("forward_passes", self.last_model_.calls)
        trial.set_user_attr("logged", {str(step): metrics for step, metrics in sorted(watched.logged.items())})
        return result

    def on_study_end(self, study: Any, run: Any) -> None:
        pass  # logging the best model takes seconds, and is tested in test_torch_trainer.py


def _histories(client: Any, run: Any) -> dict[str, list[tuple[int, float]]]:
    """Each per-epoch metric of an MLflow run as its (step, value) pairs, in step order."""
    return {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        for key in (*LOGGED, "intermediate_value")
        if key in run.data.metrics
    }


def _as_histories(logged: dict[str, dict[str, float]]) -> dict[str, list[tuple[int, float]]]:
    """The ``logged`` user attribute of a trial as :func:`_histories` shows a run."""
    keys = {key for metrics in logged.values() for key in metrics}
    return {key: sorted((int(step), m[key]) for step, m in logged.items() if key in m) for key in keys}


def _kill_point(where: str, seed: int) -> tuple[int, dict[str, Any]]:
    """A random epoch (1 to EPOCHS - 1: a checkpoint exists) and the trainer options that cut it."""
    draw = random.Random(seed)
    epoch = draw.randrange(1, EPOCHS)
    if where == "training":  # in the middle of the epoch's training steps
        return epoch, {"kill_at": epoch * STEPS + draw.randrange(1, STEPS + 1)}
    return epoch, {"cut_after_report": epoch}  # after its report, before its checkpoint


@pytest.mark.parametrize(("where", "seed"), [("training", 0), ("after report", 2)])
def test_an_interrupted_trial_resumes_to_the_uninterrupted_metrics(tracking_uri, mlflow_client, where, seed):
    epoch, cut = _kill_point(where, seed)
    (reference,) = hpo.tune(Trainer(), SPACE, tracking=None, **ONE_TRIAL).trials
    storage = dict(storage="study.journal", study_name="cut", tracking=tracking_uri, **ONE_TRIAL)
    with pytest.raises(KeyboardInterrupt):
        hpo.tune(Trainer(**cut), SPACE, **storage)
    study = hpo.tune(Trainer(), SPACE, **storage)

    first, rerun = study.trials
    assert first.state.name == "FAIL" and first.user_attrs["hpo:fail_reason"] == "interrupted"
    assert rerun.state.name == "COMPLETE" and rerun.user_attrs["hpo:retry_of"] == 0
    # It went on from the last checkpoint, the epoch before the one cut short (cut after its
    # report, that epoch had no checkpoint yet): that epoch is trained again, and none before it.
    assert rerun.user_attrs["forward_passes"] == (EPOCHS - epoch) * STEPS
    assert rerun.user_attrs["epochs"] == EPOCHS
    # The same per-epoch metrics as a trial never interrupted: exactly equal floats.
    assert rerun.intermediate_values == reference.intermediate_values
    assert rerun.user_attrs["logged"] == reference.user_attrs["logged"]
    assert rerun.value == reference.value

    runs = {int(r.data.tags["hpo.trial_number"]): r for r in study_runs(mlflow_client, "cut")[1]}
    assert runs[1].data.tags["hpo.retry_of"] == "0" and runs[1].data.tags["hpo.resumed"] == "true"
    # The rerun's MLflow run shows every epoch once, with the uninterrupted values.
    wanted = _as_histories(reference.user_attrs["logged"])
    assert set(wanted) == {*LOGGED, "intermediate_value"}
    assert all([step for step, _ in history] == list(range(EPOCHS)) for history in wanted.values())
    assert _histories(mlflow_client, runs[1]) == wanted
    # The run cut short keeps the epochs it logged, and ended as killed.
    assert runs[0].info.status == "KILLED" and runs[0].data.tags["hpo.fail_reason"] == "interrupted"
    shown = epoch + (where == "after report")
    assert _histories(mlflow_client, runs[0]) == {key: history[:shown] for key, history in wanted.items()}


#: No epoch after the first beats it by 0.5: early stopping after epoch 3 restores epoch 0's
#: weights; ``plateau`` (patience 0) lowers the learning rate after every epoch but the first.
STOPPING = dict(
    early_stopping={"patience": 3, "min_delta": 0.5}, scheduler={"name": "plateau", "patience": 0}, unfreeze={}
)


@pytest.mark.parametrize(
    "cut",
    [{"kill_at": 2 * STEPS + 7}, {"cut_after_checkpoint": 3}, {"cut_after_checkpoint": EPOCHS - 1}],
    ids=["in epoch 2", "after the stopping epoch's checkpoint", "after the last epoch's checkpoint"],
)
def test_early_stopping_and_plateau_go_on_where_they_were(workdir, cut):
    options = {} if cut.get("cut_after_checkpoint") == EPOCHS - 1 else STOPPING
    (reference,) = hpo.tune(Trainer(**options), SPACE, tracking=None, **ONE_TRIAL).trials
    storage = dict(storage="study.journal", study_name="cut", tracking=None, **ONE_TRIAL)
    with pytest.raises(KeyboardInterrupt):
        hpo.tune(Trainer(**cut, **options), SPACE, **storage)
    trainer = Trainer(**options)
    rerun = hpo.tune(trainer, SPACE, **storage).trials[-1]
    trained = {"kill_at": 2, "cut_after_checkpoint": 0}[next(iter(cut))]  # epochs the rerun trains
    assert rerun.user_attrs["forward_passes"] == trained * STEPS
    assert rerun.intermediate_values == reference.intermediate_values
    assert rerun.user_attrs["logged"] == reference.user_attrs["logged"]
    assert rerun.user_attrs["epochs"] == reference.user_attrs["epochs"] == (4 if options else EPOCHS)
    assert rerun.value == reference.value
    if options:  # the best epoch's weights (epoch 0's, from the checkpoint), not the last epoch's
        assert rerun.value == rerun.intermediate_values[0]
        assert trainer.evaluate(trainer.last_model_, VAL)[1] == rerun.value


@pytest.mark.filterwarnings("ignore:The reported value is ignored")  # the second fit's epochs: Optuna keeps the first
def test_a_second_fit_in_the_same_trial_starts_afresh():
    trainer = Trainer()
    results = []

    def twice(params: dict[str, Any], trial: Any) -> float:  # e.g. two seeds in one objective
        for _ in range(2):
            results.append((trainer(params, trial), trainer.last_model_.calls))
        return results[-1][0]

    hpo.tune(twice, SPACE, tracking=None, **ONE_TRIAL)
    assert results[0] == results[1] and results[1][1] == EPOCHS * STEPS  # trained again, all of it


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    from hpo._ray import worker_env

    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="WARNING", runtime_env=worker_env())
    yield
    ray.shutdown()


def test_a_retried_ray_task_resumes_to_the_uninterrupted_metrics(local_ray, workdir, tracking_uri, mlflow_client):
    epoch, cut = _kill_point("training", 3)
    ray_executor = {"kind": "ray", "workers": 1, "max_retries": 1}
    marker = workdir / "died"
    # Both on a Ray worker: the same process settings (torch's threads) as the retried task's.
    (reference,) = hpo.tune(Trainer(), SPACE, executor=ray_executor, tracking=None, **ONE_TRIAL).trials
    study = hpo.tune(
        Trainer(marker=str(marker), **cut),
        SPACE,
        executor=ray_executor,
        study_name="retried",
        tracking=tracking_uri,
        **ONE_TRIAL,
    )
    assert marker.exists()  # the first attempt's worker died
    (trial,) = study.trials
    assert trial.state.name == "COMPLETE"
    assert trial.user_attrs["forward_passes"] == (EPOCHS - epoch) * STEPS  # the retry went on from the checkpoint
    assert trial.intermediate_values == reference.intermediate_values
    assert trial.value == reference.value
    # One run, as the retried task keeps the trial's number: every epoch in it once, the first
    # attempt's and the retry's together.
    ((run,),) = (study_runs(mlflow_client, "retried")[1],)
    assert _histories(mlflow_client, run) == _as_histories(reference.user_attrs["logged"])


def test_thirty_trials_keep_one_file_and_never_more_than_two(tmp_path):
    folder = tmp_path / "checkpoints" / "bounded"
    counts: list[int] = []
    stores: list[Any] = []

    def count() -> None:
        counts.append(len(list(folder.glob("*.ckpt"))))

    class Counting(TorchTrainer):
        def __call__(self, params: dict[str, Any], trial: Any) -> Any:
            stores.append(trial._reporter.checkpoints)  # the driver's own store (inline)
            checkpoint = trial.checkpoint

            def counted(state: Any) -> None:  # a file appears only when one is written
                checkpoint(state)
                count()

            trial.checkpoint = counted
            return super().__call__(params, trial)

    small = (TRAIN[0][:256], TRAIN[1][:256])
    trainer = Counting(
        functools.partial(net, hidden=16), small, VAL, epochs=3, batch_size=64, device="cpu", grad_monitor="off"
    )
    study = hpo.tune(
        trainer,
        {"lr": hpo.Float(1e-4, 1e-1, log=True)},
        n_trials=30,
        seed=0,
        pruner={"name": "median", "n_startup_trials": 3},
        study_name="bounded",
        checkpoint_dir=str(tmp_path / "checkpoints"),
        tracking=None,
        callbacks=[lambda study, trial: count()],
    )
    states = study.counts()
    assert states["complete"] + states["pruned"] == 30 and states["pruned"] > 0
    # At the end: the best complete trial's file only (keep_best=1).
    assert [p.name for p in folder.glob("*.ckpt")] == [f"trial-{study.best_trial.number}.ckpt"]
    # During the run: the running trial's and the best complete trial's, never more.
    assert max(counts) == 2 == stores[-1].peak
    assert all(store is stores[0] for store in stores)


@pytest.mark.parametrize("damage", ["truncated", "another model"])
def test_an_unreadable_checkpoint_restarts_the_trial_with_one_warning(workdir, caplog, damage):
    epoch, cut = _kill_point("training", 4)
    (reference,) = hpo.tune(Trainer(), SPACE, tracking=None, **ONE_TRIAL).trials
    storage = dict(storage="study.journal", study_name="cut", tracking=None, **ONE_TRIAL)
    with pytest.raises(KeyboardInterrupt):
        hpo.tune(Trainer(**cut), SPACE, **storage)
    path = workdir / "checkpoints" / "cut" / "trial-0.ckpt"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hpo"):
        # "another model": model_fn changed since the checkpoint (a narrower layer, same params).
        study = hpo.tune(Trainer(hidden=16 if damage == "another model" else 32), SPACE, **storage)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert ("is truncated" if damage == "truncated" else "does not fit this model") in warnings[0]
    assert "starts from scratch" in warnings[0] and "\n" not in warnings[0]
    rerun = study.trials[-1]
    assert rerun.state.name == "COMPLETE" and rerun.user_attrs["forward_passes"] == EPOCHS * STEPS
    if damage == "truncated":  # from scratch, the same trial as one never interrupted
        assert rerun.intermediate_values == reference.intermediate_values
        assert rerun.user_attrs["logged"] == reference.user_attrs["logged"]
