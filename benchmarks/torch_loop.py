"""TorchTrainer's loop against a plain hand-written loop, and bf16 autocast against fp32 on a GPU.

Part 1 (any device) -- the same CNN (examples.models:cnn, 32 channels), the same standardized
digits split, AdamW, the same cosine schedule with warmup, the training loss summed on the device
and a validation pass after each epoch, at the same precision, trained by ``TorchTrainer`` (called
as a study calls it, with a reporter that notes the time of each epoch's report) and by a
hand-written nanoGPT-style loop, interleaved after one warm-up run of each. The time per epoch is
measured alike on both sides: the interval between the ends of consecutive epochs (epochs 2..E of
each run), so one-time costs (first-use imports, building the model) count on neither side. Both
sides end at the same validation accuracy, which the script checks: they do the same work.

Part 2 (CUDA only) -- images/s of TorchTrainer on a convolutional net big enough to load a GPU
(synthetic 3x64x64 images, 10 classes), with amp="bf16" against amp="off" (fp32).

Targets (issue 4): trainer time per epoch at most 1.05x the hand-written loop's; on an NVIDIA GPU
bf16 at least 1.5x the fp32 throughput.

Usage: python benchmarks/torch_loop.py [--epochs 10 --repeats 3 --amp off]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import hpo  # noqa: E402
from examples.models import cnn  # noqa: E402
from hpo.trainers import TorchTrainer  # noqa: E402
from hpo.trainers._torch import resolve_precision  # noqa: E402

PARAMS = {"channels": 32, "dropout": 0.1}


def digits(device):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    mean, std = X_train.mean(0), X_train.std(0)
    std[std < 1e-8] = 1.0  # constant pixels stay unscaled, as StandardScaler does
    t = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    return (t(X_train), torch.tensor(y_train)), (t(X_val), torch.tensor(y_val))


def hand_written(train, val, epochs, batch_size, lr, warmup, amp, device):
    """What a careful user writes by hand: the same work, no framework."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = cnn(PARAMS).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)  # the trainer's default
    X, y = train
    steps = math.ceil(len(X) / batch_size)
    total, warm = epochs * steps, round(warmup * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, total - warm))))
        ),
    )
    dtype, scaled = resolve_precision(amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=scaled)
    ends = []
    for _ in range(epochs):
        model.train()
        loss_sum = torch.zeros((), device=device)
        order = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), batch_size):
            idx = order[i : i + batch_size]
            xb, yb = X[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = F.cross_entropy(model(xb), yb)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
            loss_sum += loss.detach()
        train_loss = float(loss_sum) / steps  # logged by any real loop
        assert math.isfinite(train_loss)
        model.eval()
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(val[0].to(device)).float()
            accuracy = float((out.argmax(1) == val[1].to(device)).float().mean())
        ends.append(time.perf_counter())  # float() above synchronized with the device
    return ends, accuracy


class _Clock:
    """A trial reporter that notes when each epoch reports (and never prunes)."""

    def __init__(self):
        self.ends, self.values = [], []

    def report(self, number, value, step):
        self.ends.append(time.perf_counter())
        self.values.append(value)
        return False

    def should_prune(self, number):
        return False

    def log_metrics(self, number, metrics, step):
        pass

    def log_artifact(self, number, path, artifact_path):
        pass

    def set_user_attr(self, number, key, value):
        pass


def with_trainer(train, val, epochs, batch_size, lr, warmup, amp, device):
    trainer = TorchTrainer(
        cnn, train, val, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup, amp=amp, device=str(device), seed=0
    )
    clock = _Clock()
    trainer(dict(PARAMS), hpo.Trial(0, dict(PARAMS), clock))
    return clock.ends, clock.values[-1]


def part1(args, device):
    train, val = digits(device)
    sides = {"hand-written": hand_written, "TorchTrainer": with_trainer}
    for run in sides.values():  # warm-up: first-use imports and allocations
        run(train, val, 2, 64, 3e-3, 1, args.amp, device)
    epochs: dict[str, list[float]] = {name: [] for name in sides}
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for _ in range(args.repeats):  # interleaved, so machine load drifts hit both
        for name, run in sides.items():
            ends, accuracy = run(train, val, args.epochs, 64, 3e-3, 1, args.amp, device)
            epochs[name] += [b - a for a, b in zip(ends, ends[1:])]
            runs[name].append((0.0, accuracy))
    med = {k: statistics.median(v) for k, v in epochs.items()}
    print(
        f"Part 1: CNN (32 channels) on digits, batch 64, amp={args.amp}, device={device}, "
        f"median over {args.repeats} runs x {args.epochs - 1} epochs"
    )
    for name, values in runs.items():
        print(
            f"  {name:14} {med[name] * 1000:8.1f} ms/epoch   {1 / med[name]:6.2f} epochs/s   last val "
            f"accuracy {values[-1][1]:.4f}"
        )
    print(f"  ratio TorchTrainer / hand-written: {med['TorchTrainer'] / med['hand-written']:.3f}x (target <= 1.05x)")
    same = runs["TorchTrainer"][-1][1] == runs["hand-written"][-1][1]
    print(f"  same work: both end at the same validation accuracy: {same}")


def big_cnn(params):
    from torch import nn

    w = 128
    layers, c = [], 3
    for out in (w, w, 2 * w, 2 * w, 4 * w):
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        c = out
        if out != w or len(layers) > 3:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


def part2(args):
    if not torch.cuda.is_available():
        print("Part 2: no CUDA device here: bf16 vs fp32 on the GPU skipped")
        return
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(8192, 3, 64, 64, generator=gen)
    y = torch.randint(0, 10, (8192,), generator=gen)
    Xv, yv = X[:1024], y[:1024]
    rates = {}
    for amp in ("off", "bf16", "off", "bf16"):  # warm-up pass first, then the measured pass
        trainer = TorchTrainer(big_cnn, (X, y), (Xv, yv), epochs=2, batch_size=256, amp=amp, device="cuda")
        start = time.perf_counter()
        hpo.tune(trainer, {"w": hpo.Categorical([0])}, searcher="grid", pruner="none", tracking=None)
        torch.cuda.synchronize()
        rates[amp] = 2 * len(X) / (time.perf_counter() - start)
    print(f"Part 2: {torch.cuda.get_device_name()} -- 5-conv net, 8192 images 3x64x64, batch 256, 2 epochs")
    print(
        f"  fp32 {rates['off']:9.0f} images/s   bf16 {rates['bf16']:9.0f} images/s   ratio "
        f"{rates['bf16'] / rates['off']:.2f}x (target >= 1.5x)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"])
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    part1(args, device)
    print()
    part2(args)


if __name__ == "__main__":
    main()
