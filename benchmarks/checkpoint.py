"""What the torch trainer's per-epoch checkpoints cost, and what they save when a trial is cut short.

Part 1 -- overhead: the example CNN (``examples.models:cnn``, 32 channels, dropout 0.1) on the
standardized digits, AdamW, cosine schedule with a one-epoch warmup, batch 64, on the CPU, trained
by ``TorchTrainer`` with ``checkpoint=True`` (the default: after each epoch the model, optimizer,
schedule, scaler, early-stopping and gradient-monitor state, every random stream and the epochs'
history go through ``trial.checkpoint``, are encoded with ``torch.save`` and written by the
driver's ``CheckpointStore``, as an inline study does) and with ``checkpoint=False``, in the same
process, the two sides interleaved after a warm-up run of each. The time per epoch is the
interval between consecutive epochs' reports (epochs 2..E of each run; a checkpoint falls between
an epoch's report and the next's, so it is inside the interval). Since the difference is near the
machine's run-to-run noise, the time of each ``trial.checkpoint`` call (encoding and writing the
file) is also clocked inside the runs, as a share of the epoch.

Part 2 -- resuming: one 20-epoch trial of the same CNN in a study on a journal storage, run whole
(``hpo.tune``), against the same study interrupted (KeyboardInterrupt in the model's forward
pass, the first batch of epoch 15: the checkpoint of epoch 14 is the last) and resumed by a second
``hpo.tune``: the time of that second call (opening the study, loading the checkpoint, logging
and reporting the 15 restored epochs again, training the last 5) against the whole trial's, and
the resumed trial's value against the whole one's (equal: the same floats).

Targets (issue 18): checkpointing at most 3% of the epoch time on the CPU; a trial resumed at
epoch 15 of 20 spends at most 30% of a whole trial's time to finish.

Usage: python benchmarks/checkpoint.py [--epochs 10 --repeats 5 --resume-repeats 3 --threads 1]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from _common import standardized_digits  # noqa: E402

import hpo  # noqa: E402
from examples.models import cnn  # noqa: E402
from hpo._checkpoints import CheckpointStore  # noqa: E402
from hpo.trainers import TorchTrainer  # noqa: E402

PARAMS = {"channels": 32, "dropout": 0.1}
BATCH, LR, WARMUP = 64, 3e-3, 1
FULL, CUT = 20, 15  # part 2: epochs of the trial, and the epoch it is interrupted in


class _Driver:
    """A trial reporter as an inline study's: checkpoints written by a real ``CheckpointStore``;
    notes when each epoch reports and how long each checkpoint call takes (never prunes)."""

    def __init__(self, folder: Path) -> None:
        self.store = CheckpointStore(folder)
        self.ends: list[float] = []
        self.values: list[float] = []
        self.size = 0  # bytes of the last checkpoint

    def report(self, number: int, value: float, step: int) -> bool:
        self.ends.append(time.perf_counter())
        self.values.append(value)
        return False

    def should_prune(self, number: int) -> bool:
        return False

    def log_metrics(self, number: int, metrics: Any, step: Any) -> None:
        pass

    def log_artifact(self, number: int, path: str, artifact_path: Any) -> None:
        pass

    def set_user_attr(self, number: int, key: str, value: Any) -> None:
        pass

    def set_tag(self, number: int, key: str, value: str) -> None:
        pass

    def checkpoint(self, number: int, blob: bytes) -> None:
        self.store.save(number, PARAMS, blob)
        self.size = len(blob)

    def restore(self, number: int) -> bytes | None:
        return None


class _TimedTrial(hpo.Trial):
    """A trial that clocks its ``checkpoint`` calls (encoding with ``torch.save``, writing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spent: list[float] = []

    def checkpoint(self, state: Any) -> None:
        start = time.perf_counter()
        super().checkpoint(state)
        self.spent.append(time.perf_counter() - start)


def one_run(
    train: Any, val: Any, epochs: int, checkpoint: bool, folder: Path
) -> tuple[list[float], list[float], list[float], int]:
    """One trial's ``(epoch intervals, checkpoint call times, reported values, checkpoint bytes)``."""
    trainer = TorchTrainer(
        cnn,
        train,
        val,
        epochs=epochs,
        lr=LR,
        warmup=WARMUP,
        batch_size=BATCH,
        device="cpu",
        seed=0,
        checkpoint=checkpoint,
    )
    driver = _Driver(folder)
    trial = _TimedTrial(0, dict(PARAMS), driver)
    trainer(dict(PARAMS), trial)
    shutil.rmtree(folder, ignore_errors=True)
    return [b - a for a, b in zip(driver.ends, driver.ends[1:])], trial.spent, driver.values, driver.size


def part1(args: argparse.Namespace, train: Any, val: Any, folder: Path) -> None:
    sides = {"with checkpoints": True, "without": False}
    for on in sides.values():  # warm-up: first-use imports and allocations
        one_run(train, val, 2, on, folder / "warm")
    intervals: dict[str, list[float]] = {name: [] for name in sides}
    spent: list[float] = []
    values: dict[str, list[float]] = {}
    names, size = list(sides), 0
    for r in range(args.repeats):  # interleaved, each round starting with the other side
        for name in names[r % 2 :] + names[: r % 2]:
            epochs, calls, values[name], written = one_run(train, val, args.epochs, sides[name], folder / "run")
            intervals[name] += epochs
            spent += calls
            size = max(size, written)
    med = {name: statistics.median(v) for name, v in intervals.items()}
    call = statistics.median(spent)
    print(
        f"Part 1: CNN (32 channels) on digits, batch {BATCH}, fp32, CPU ({torch.get_num_threads()} thread(s)), "
        f"median over {args.repeats} runs x {args.epochs - 1} epochs per side, interleaved"
    )
    for name in names:
        print(f"    {name:28} {med[name] * 1000:7.1f} ms/epoch")
    ratio = med["with checkpoints"] / med["without"]
    print(f"    with / without:              {ratio:.3f}x  ({100 * (ratio - 1):+.1f}% of the epoch; target <= +3%)")
    print(
        f"    one trial.checkpoint call:   {call * 1000:7.2f} ms median (encode + write, {len(spent)} calls) = "
        f"{100 * call / med['without']:.1f}% of the epoch without; {size / 1024:.0f} KiB a checkpoint"
    )
    print(f"    same reported values on both sides: {values['with checkpoints'] == values['without']}")


class _Cut(torch.nn.Module):
    """The CNN, interrupted (KeyboardInterrupt) at training forward pass ``at`` when given."""

    def __init__(self, at: int | None) -> None:
        super().__init__()
        self.net, self.at, self.calls = cnn(PARAMS), at, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt
        return self.net(x)


def part2(args: argparse.Namespace, train: Any, val: Any, folder: Path) -> None:
    steps = -(-len(train[0]) // BATCH)

    def trainer(at: int | None) -> TorchTrainer:
        return TorchTrainer(
            lambda params: _Cut(at), train, val, epochs=FULL, lr=LR, warmup=WARMUP, batch_size=BATCH, device="cpu"
        )

    def study(name: str, at: int | None) -> tuple[float, Any]:
        start = time.perf_counter()
        result = hpo.tune(
            trainer(at),
            {"channels": hpo.Categorical([PARAMS["channels"]]), "dropout": hpo.Categorical([PARAMS["dropout"]])},
            searcher="grid",
            pruner="none",
            n_trials=1,
            storage=str(folder / f"{name}.journal"),
            study_name=name,
            tracking=None,
        )
        return time.perf_counter() - start, result

    whole, resumed, same = [], [], []
    for r in range(args.resume_repeats):
        full_s, full = study(f"whole-{r}", None)
        try:
            study(f"cut-{r}", CUT * steps + 1)  # the first batch of epoch CUT
            raise AssertionError("the trial was not interrupted")
        except KeyboardInterrupt:
            pass
        rest_s, rest = study(f"cut-{r}", None)
        whole.append(full_s)
        resumed.append(rest_s)
        rerun = rest.trials[-1]
        same.append(rerun.intermediate_values == full.trials[0].intermediate_values and rerun.value == full.best_value)
    w, s = statistics.median(whole), statistics.median(resumed)
    print(
        f"Part 2: one {FULL}-epoch trial of the same CNN in a study on a journal storage, interrupted in epoch "
        f"{CUT} and resumed; median of {args.resume_repeats}"
    )
    print(f"    whole trial (hpo.tune):                  {w:7.2f} s")
    print(f"    resumed after the interrupt (hpo.tune):  {s:7.2f} s  ({FULL - CUT} of {FULL} epochs trained)")
    print(f"    resumed / whole: {s / w:.3f}  (target <= 0.30; the epochs alone: {(FULL - CUT) / FULL:.2f})")
    print(f"    the resumed trial's values equal the whole trial's, epoch for epoch: {all(same)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resume-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)  # one: see torch_loop.py (a descheduled thread stalls each op)
    train, val = standardized_digits()
    folder = Path(tempfile.mkdtemp(prefix="hpo-bench-checkpoint-"))
    try:
        part1(args, train, val, folder)
        print()
        part2(args, train, val, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
