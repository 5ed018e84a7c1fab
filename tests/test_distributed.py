"""Data-parallel trials on real torch.distributed: 2 gloo ranks on the CPU, started per test.

The targets are top-level functions of this module: a rank imports it to find them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
import optuna  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

import hpo  # noqa: E402
from hpo import ConfigError  # noqa: E402
from hpo.plugins import Trial  # noqa: E402
from hpo.trainers._distributed import (  # noqa: E402
    RankTrial,
    all_reduce_mean,
    available_devices,
    check_world_size,
    rank_slice,
    run_data_parallel,
    share_weight,
)
from tests.conftest import descendants, hpo_env, wait_gone  # noqa: E402


class Recorder:
    """A reporter that records what reaches it; its pruner never stops a trial."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def report(self, number: int, value: float, step: int) -> bool:
        self.calls.append(("report", value, step))
        return False

    def should_prune(self, number: int) -> bool:
        return False

    def log_metrics(self, number: int, metrics: Any, step: int | None) -> None:
        self.calls.append(("log_metrics", dict(metrics), step))

    def log_artifact(self, number: int, path: str, artifact_path: str | None) -> None:
        self.calls.append(("log_artifact", Path(path).read_text(), artifact_path))

    def set_user_attr(self, number: int, key: str, value: Any) -> None:
        self.calls.append(("set_user_attr", key, value))

    def set_tag(self, number: int, key: str, value: str) -> None:
        self.calls.append(("set_tag", key, value))


@pytest.fixture
def no_leftovers():
    """Fail the test if it leaves a process of its own running."""
    before = {p.pid for p in descendants(os.getpid())}
    yield
    new = [p for p in descendants(os.getpid()) if p.pid not in before]
    assert not wait_gone(new, 5.0), f"left running: {new}"


# -- targets (run in the ranks) ---------------------------------------------------------------


def fit_linear(X, y, batch_size: int, epochs: int, trial: RankTrial | None) -> Any:
    """SGD on a linear model over global batches of ``batch_size``, shared by the ranks; its weights."""
    rank, world_size = (trial.rank, trial.world_size) if trial else (0, 1)
    torch.manual_seed(0)
    model = torch.nn.Linear(X.shape[1], 1)
    net = DistributedDataParallel(model) if trial else model
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    for epoch in range(epochs):
        order = torch.randperm(len(X), generator=torch.Generator().manual_seed(epoch))  # the same on every rank
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            share = rank_slice(batch, rank, world_size)
            loss = F.mse_loss(net(X[share]), y[share]) * share_weight(len(share), len(batch), world_size)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if trial:
            trial.report(all_reduce_mean(loss.detach()), epoch)
    return torch.cat([model.weight.flatten(), model.bias]).detach()


def report_until_pruned(folder: str, trial: RankTrial) -> float:
    for step in range(10):
        dist.all_reduce(torch.ones(1))  # a collective between reports: a rank left behind would hang here
        try:
            trial.report(1.0, step)
        except optuna.TrialPruned:
            Path(folder, f"rank{trial.rank}").write_text(str(step))
            raise
    return 0.0


class Diverged(ArithmeticError):
    """Like the torch trainer's NonFiniteLoss."""


def fail_on_rank_1(trial: RankTrial) -> None:
    if trial.rank == 1:
        time.sleep(0.5)  # rank 0 is in the barrier by now
        raise Diverged("loss is nan at step 3")
    with contextlib.suppress(RuntimeError):  # gloo may see rank 1 leave: stay stuck, as in a hung collective
        dist.barrier()
    time.sleep(60)


def die_on_rank_1(trial: RankTrial) -> None:
    if trial.rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()
    time.sleep(60)


def log_everything(folder: str, trial: RankTrial) -> str:
    for step in range(3):
        trial.log_metrics({"loss": 1.0 / (step + 1)}, step)
        trial.report(float(step), step)
    trial.set_user_attr("rank_of_writer", trial.rank)
    trial.set_tag("writer", trial.rank)
    artifact = Path(folder, f"notes-{trial.rank}.txt")
    artifact.write_text(f"from rank {trial.rank}")
    trial.log_artifact(str(artifact), "notes")
    artifact.unlink()  # logged (copied) when log_artifact returned
    trial.keep({"rank": trial.rank, "weights": torch.arange(3.0)})
    assert not trial.should_prune()
    return f"value of rank {trial.rank}"


def sleep_forever(folder: str, trial: RankTrial) -> None:
    Path(folder, f"pid{trial.rank}").write_text(str(os.getpid()))
    dist.barrier()
    time.sleep(600)


# -- tests -----------------------------------------------------------------------------------


def data() -> tuple[Any, Any]:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(64, 5, generator=gen)
    return X, X @ torch.randn(5, 1, generator=gen) + 0.1 * torch.randn(64, 1, generator=gen)


def test_two_ranks_train_as_one_process_with_the_same_global_batch(no_leftovers):
    X, y = data()
    # 64 rows in batches of 15: the last batch (4 rows) and the 15-row ones split unevenly.
    single = fit_linear(X, y, 15, 3, None)
    recorder = Recorder()
    ddp = run_data_parallel(functools.partial(fit_linear, X, y, 15, 3), Trial(0, {}, recorder), 2)
    torch.testing.assert_close(ddp, single, atol=1e-5, rtol=0)
    assert [c[2] for c in recorder.calls] == [0, 1, 2]  # rank 0's reports, once each


def test_the_pruner_stops_every_rank_at_the_same_step(tmp_path, no_leftovers):
    def objective(params, trial):
        return run_data_parallel(functools.partial(report_until_pruned, str(tmp_path)), trial, 2)

    study = hpo.tune(
        objective,
        {"x": [1]},
        n_trials=1,
        pruner=optuna.pruners.ThresholdPruner(upper=0.5, n_warmup_steps=1),
        tracking=None,
    )
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert study.trials[0].intermediate_values == {0: 1.0, 1: 1.0}
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"rank0": "1", "rank1": "1"}


def test_an_error_on_one_rank_is_raised_with_its_rank_and_stops_the_others(no_leftovers):
    start = time.monotonic()
    with pytest.raises(Diverged, match=r"^rank 1: loss is nan at step 3$") as caught:
        run_data_parallel(fail_on_rank_1, Trial(0, {}, Recorder()), 2, timeout=60)
    assert time.monotonic() - start < 20
    assert "fail_on_rank_1" in str(caught.value.__cause__)  # the rank's traceback


def test_a_rank_killed_without_a_word_is_named_with_its_exit_code(no_leftovers):
    with pytest.raises(RuntimeError, match=r"^rank 1 exited with code -9 and no result$"):
        run_data_parallel(die_on_rank_1, Trial(0, {}, Recorder()), 2, timeout=60)


def test_rank_0_speaks_for_the_trial_once(tmp_path, no_leftovers):
    recorder = Recorder()
    trial = Trial(3, {"lr": 0.1}, recorder)
    assert run_data_parallel(functools.partial(log_everything, str(tmp_path)), trial, 2) == "value of rank 0"
    assert recorder.calls == [
        ("log_metrics", {"loss": 1.0}, 0),
        ("report", 0.0, 0),
        ("log_metrics", {"loss": 0.5}, 1),
        ("report", 1.0, 1),
        ("log_metrics", {"loss": 1 / 3}, 2),
        ("report", 2.0, 2),
        ("set_user_attr", "rank_of_writer", 0),
        ("set_tag", "writer", "0"),
        ("log_artifact", "from rank 0", "notes"),
    ]
    assert trial.kept["rank"] == 0 and trial.kept["weights"].tolist() == [0.0, 1.0, 2.0]


def test_an_interrupt_or_timeout_in_the_parent_stops_the_ranks(tmp_path, no_leftovers):
    target = functools.partial(sleep_forever, str(tmp_path))

    def interrupt_when_ranks_run() -> None:
        while not (tmp_path / "pid1").exists():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_when_ranks_run, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_data_parallel(target, Trial(0, {}, Recorder()), 2)
    with pytest.raises(TimeoutError, match=r"^trial 0: its 2 ranks ran past timeout=1 s$"):
        run_data_parallel(target, Trial(0, {}, Recorder()), 2, timeout=1)


SCRIPT = """
import os, sys, time
from pathlib import Path

import torch.distributed as dist

from hpo.plugins import Trial
from hpo.trainers._distributed import run_data_parallel
from tests.test_distributed import Recorder

folder = Path(sys.argv[1])
with open(folder / "runs", "a") as runs:  # no __main__ guard: the ranks must not run this again
    runs.write("run\\n")


def sleep_forever(trial):  # of __main__: sent by value
    (folder / f"pid{trial.rank}").write_text(str(os.getpid()))
    dist.barrier()
    time.sleep(600)


run_data_parallel(sleep_forever, Trial(0, {}, Recorder()), 2)
"""


def test_a_script_target_runs_unguarded_and_its_ranks_end_with_a_parent_killed_outright(tmp_path):
    (tmp_path / "study.py").write_text(SCRIPT)
    parent = subprocess.Popen([sys.executable, "study.py", str(tmp_path)], cwd=tmp_path, env=hpo_env())
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "pid1").exists() and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.05)
        ranks = [p for p in descendants(parent.pid) if "_rank_main" in p.args]
        assert len(ranks) == 2, ranks
    finally:
        parent.kill()  # no chance to stop its ranks: they see it gone
        parent.wait()
    assert not wait_gone(ranks, 5.0)
    assert (tmp_path / "runs").read_text() == "run\n"


def test_helpers_outside_a_process_group():
    index = torch.arange(7)
    assert [rank_slice(index, r, 2).tolist() for r in (0, 1)] == [[0, 1, 2, 3], [4, 5, 6]]
    assert share_weight(4, 7, 2) == pytest.approx(8 / 7) and share_weight(0, 1, 2) == 0.0
    assert all_reduce_mean(torch.tensor(2.5)) == 2.5 and all_reduce_mean(3) == 3.0
    assert available_devices() == (torch.cuda.device_count() if torch.cuda.is_available() else os.cpu_count())


@pytest.mark.parametrize(
    "n, message",
    [
        (0, "devices_per_trial: expected a positive integer, got 0"),
        (True, "devices_per_trial: expected a positive integer, got True"),
        (2.0, "devices_per_trial: expected a positive integer, got 2.0"),
        ("2", "devices_per_trial: expected a positive integer, got '2'"),
        (3, "devices_per_trial: expected at most 2 (the CPUs/GPUs available), got 3"),
    ],
)
def test_check_world_size(n, message):
    with pytest.raises(ConfigError) as caught:
        check_world_size(n, available=2)
    assert str(caught.value) == message and caught.value.key == "devices_per_trial"
    assert check_world_size(2, available=2) == 2
    assert check_world_size(1, key="trainer.gpus_per_trial", available=1) == 1
