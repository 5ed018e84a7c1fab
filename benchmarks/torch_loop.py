"""TorchTrainer's loop against a plain hand-written loop, and bf16 autocast against fp32 on a GPU.

Part 1 (any device) -- the same CNN (examples.models:cnn, 32 channels), the same standardized
digits split, AdamW, the same cosine schedule with warmup, the training loss summed on the device
and a validation pass after each epoch, at the same precision, trained by ``TorchTrainer`` (called
as a study calls it, with a reporter that notes the time of each epoch's report) and by a
hand-written nanoGPT-style loop, interleaved after one warm-up run of each. The time per epoch is
measured alike on every side: the interval between the ends of consecutive epochs (epochs 2..E of
each run), so one-time costs (first-use imports, building the model) count on no side. Each
trainer side ends at the same validation accuracy as its hand-written anchor, which the script
checks: they do the same work.

The trainer's defaults include ``grad_monitor="global"``: the gradients' total norm after every
optimizer step, summed and maxed on the device and read once per epoch (``grad_norm_mean``,
``grad_norm_max``). So the main comparison is the trainer with its defaults against a hand loop
that also keeps that norm (``torch.nn.utils.get_total_norm`` per step, read once per epoch), and,
beside it, against the plain hand loop that keeps no norm (what the monitor costs a user who
would not have written one), and ``grad_monitor="off"`` against the plain hand loop.

Then the cost of each feature, in the same interleaved rounds, as a ratio against the trainer
with ``grad_monitor="off"`` and no clipping (and of each hand-written anchor against the plain
hand loop): ``grad_monitor="global"``; ``grad_clip=1.0`` (``clip_grad_norm_`` per step, monitor
off); ``accumulate=4`` at batch 16 (the same 64 rows per optimizer step, four forward/backward
passes; each micro-batch's loss weighed by its rows); ``grad_monitor="layers"`` (also each
parameter's norm at the epoch's last step). Since those differences are near the machine's
run-to-run noise (a few percent), each feature's own work per optimizer step is also timed alone
on the CNN's gradients, the hand loop's code and the trainer's (``_GradMonitor.before_step``).

Part 2 (CUDA only) -- images/s of TorchTrainer on a convolutional net big enough to load a GPU
(synthetic 3x64x64 images, 10 classes), with amp="bf16" against amp="off" (fp32).

On the CPU torch runs one thread by default here (``--threads``): on a 2-core machine a second
intra-op thread gains this small net little, and when any other process holds a core, each op
waits for the descheduled thread (epochs 2-30x slower, at random), which no median survives.

Targets (issue 4): trainer time per epoch at most 1.05x the hand-written loop's; on an NVIDIA GPU
bf16 at least 1.5x the fp32 throughput.

Usage: python benchmarks/torch_loop.py [--epochs 10 --repeats 5 --amp off --threads 1]
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
from _common import standardized_digits  # noqa: E402

import hpo  # noqa: E402
from examples.models import cnn  # noqa: E402
from hpo.trainers import TorchTrainer  # noqa: E402
from hpo.trainers._torch import _GradMonitor, resolve_precision  # noqa: E402

PARAMS = {"channels": 32, "dropout": 0.1}
BATCH, LR, WARMUP = 64, 3e-3, 1


def total_norm(grads):
    """The gradients' 2-norm together, as ``clip_grad_norm_`` computes it (on the device)."""
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch >= 2.6
        return torch.nn.utils.get_total_norm(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def hand_written(train, val, epochs, amp, device, *, monitor="off", clip=None, batch_size=BATCH, accumulate=1):
    """What a careful user writes by hand: the same work, no framework.

    ``monitor``: ``global`` keeps the gradients' total norm per step on the device (sum and max,
    read once per epoch); ``layers`` also each parameter's at the epoch's last step. ``clip``:
    ``clip_grad_norm_`` before each step. ``accumulate``: micro-batches of ``batch_size`` per
    optimizer step, each loss weighed by its share of the step's rows.
    """
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = cnn(PARAMS).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)  # the trainer's default
    X, y = train
    rows_per_step = batch_size * accumulate
    steps = math.ceil(len(X) / rows_per_step)
    total, warm = epochs * steps, round(WARMUP * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, total - warm))))
        ),
    )
    dtype, scaled = resolve_precision(amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=scaled)
    ends, result = [], {}
    for _ in range(epochs):
        model.train()
        loss_sum = torch.zeros((), device=device)
        norm_sum, norm_max, layers = torch.zeros((), device=device), torch.zeros((), device=device), {}
        skipped = torch.zeros((), device=device)  # fp16: steps the GradScaler skips (an inf norm)
        order = torch.randperm(len(X), generator=gen)
        for step, i in enumerate(range(0, len(X), rows_per_step)):
            idx = order[i : i + rows_per_step]
            for j in range(0, len(idx), batch_size):
                micro = idx[j : j + batch_size]
                xb, yb = X[micro].to(device, non_blocking=True), y[micro].to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    loss = F.cross_entropy(model(xb), yb)
                scaler.scale(loss * (len(micro) / len(idx)) if accumulate > 1 else loss).backward()
                loss_sum += loss.detach() * len(micro)
            if monitor != "off" or clip is not None:
                scaler.unscale_(opt)
                if clip is not None:
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                else:
                    norm = total_norm([p.grad for p in model.parameters()])
                if monitor != "off":
                    if scaled:
                        finite = torch.isfinite(norm)
                        skipped += (~finite).float()
                        norm = torch.where(finite, norm, torch.zeros_like(norm))
                    norm_sum += norm
                    norm_max = torch.maximum(norm_max, norm)
                if monitor == "layers" and step == steps - 1:
                    layers = {name: p.grad.detach().norm() for name, p in model.named_parameters()}
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
        result = {"train_loss": float(loss_sum) / len(X)}  # the mean over the rows, logged by any real loop
        assert math.isfinite(result["train_loss"])
        if monitor != "off":  # logged per epoch, as the trainer does
            mean = float(norm_sum) / max(1.0, steps - float(skipped))
            result.update(grad_norm_mean=mean, grad_norm_max=float(norm_max))
            result.update({f"grad_norm.{k}": float(v) for k, v in layers.items()})
            assert math.isfinite(result["grad_norm_mean"]) and math.isfinite(result["grad_norm_max"])
        model.eval()
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(val[0].to(device)).float()
            result["val_accuracy"] = float((out.argmax(1) == val[1].to(device)).float().mean())
        ends.append(time.perf_counter())  # float() above synchronized with the device
    return ends, result


class _Clock:
    """A trial reporter that notes when each epoch reports (and never prunes)."""

    def __init__(self):
        self.ends, self.values, self.metrics = [], [], {}

    def report(self, number, value, step):
        self.ends.append(time.perf_counter())
        self.values.append(value)
        return False

    def should_prune(self, number):
        return False

    def log_metrics(self, number, metrics, step):
        self.metrics = dict(metrics)  # the last epoch's

    def log_artifact(self, number, path, artifact_path):
        pass

    def set_user_attr(self, number, key, value):
        pass

    def set_tag(self, number, key, value):
        pass


def with_trainer(train, val, epochs, amp, device, **options):
    """``TorchTrainer`` with ``options`` (grad_monitor, grad_clip, batch_size, accumulate)."""
    options = {"batch_size": BATCH, **options}
    trainer = TorchTrainer(
        cnn, train, val, epochs=epochs, lr=LR, warmup=WARMUP, amp=amp, device=str(device), seed=0, **options
    )
    clock = _Clock()
    trainer(dict(PARAMS), hpo.Trial(0, dict(PARAMS), clock))
    return clock.ends, clock.metrics


#: feature -> (hand-written anchor's options, trainer's options); the first row is the baseline
FEATURES = {
    "none (grad_monitor off)": ({}, {"grad_monitor": "off"}),
    'grad_monitor="global" (default)': ({"monitor": "global"}, {}),
    "grad_clip=1.0": ({"clip": 1.0}, {"grad_monitor": "off", "grad_clip": 1.0}),
    "accumulate=4, batch 16": (
        {"batch_size": BATCH // 4, "accumulate": 4},
        {"grad_monitor": "off", "batch_size": BATCH // 4, "accumulate": 4},
    ),
    'grad_monitor="layers"': ({"monitor": "layers"}, {"grad_monitor": "layers"}),
}


def same_work(hand, trainer):
    """Whether a trainer side did its anchor's work: the same last epoch's validation accuracy,
    and its training loss and gradient norms (where both log them) within float rounding."""
    if hand["val_accuracy"] != trainer["val_accuracy"]:
        return False
    shared = [k for k in hand if k in trainer and k != "val_accuracy"]
    return all(math.isclose(hand[k], trainer[k], rel_tol=1e-4, abs_tol=1e-7) for k in shared)


def per_step(device, steps_per_epoch, number=400):
    """Microseconds per optimizer step of each feature's bookkeeping, timed alone on the CNN's
    gradients after one backward pass (median of 5 timings of ``number`` calls): the hand loop's
    code and the trainer's own (its ``_GradMonitor.before_step``). ``layers`` reads each
    parameter's norm at an epoch's last step only: the steps' average is shown."""
    torch.manual_seed(0)
    model = cnn(PARAMS).to(device)
    X = torch.randn(BATCH, 64, device=device)
    F.cross_entropy(model(X), torch.randint(0, 10, (BATCH,), device=device)).backward()
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    state = {"sum": torch.zeros((), device=device), "max": torch.zeros((), device=device)}

    def hand_global():
        norm = total_norm([p.grad for p in model.parameters()])
        state["sum"] += norm
        state["max"] = torch.maximum(state["max"], norm)

    def hand_layers():
        return {name: p.grad.detach().norm() for name, p in model.named_parameters()}

    def trainer(mode, clip, last=False):
        monitor = _GradMonitor(mode, clip, False, {"threshold": 1e-6, "epochs": 3}, device)
        return lambda: monitor.before_step(model, opt, scaler, last=last)

    def time_us(fn):
        fn()
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            runs.append((time.perf_counter() - start) / number * 1e6)
        return statistics.median(runs)

    g_hand, g_trainer = time_us(hand_global), time_us(trainer("global", None))
    layer_hand, layer_trainer = time_us(hand_layers), time_us(trainer("layers", None, last=True))
    return {
        'grad_monitor="global" (default)': (g_hand, g_trainer),
        "grad_clip=1.0": (
            time_us(lambda: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)),
            time_us(trainer("off", 1.0)),
        ),
        'grad_monitor="layers"': (
            g_hand + layer_hand / steps_per_epoch,
            g_trainer + (layer_trainer - g_trainer) / steps_per_epoch,
        ),
    }


def part1(args, device):
    train, val = standardized_digits()
    sides = {}
    for feature, (hand, trainer) in FEATURES.items():
        sides[("hand", feature)] = lambda e, o=hand: hand_written(train, val, e, args.amp, device, **o)
        sides[("trainer", feature)] = lambda e, o=trainer: with_trainer(train, val, e, args.amp, device, **o)
    for run in sides.values():  # warm-up: first-use imports and allocations
        run(2)
    epochs: dict[tuple[str, str], list[float]] = {side: [] for side in sides}
    result: dict[tuple[str, str], dict[str, float]] = {}
    names = list(sides)
    for r in range(args.repeats):  # interleaved, so machine load drifts hit every side
        for side in names[r % len(names) :] + names[: r % len(names)]:  # each round starts elsewhere
            ends, result[side] = sides[side](args.epochs)
            epochs[side] += [b - a for a, b in zip(ends, ends[1:])]
    med = {side: statistics.median(v) for side, v in epochs.items()}
    base, glob = list(FEATURES)[:2]

    def line(label, side):
        accuracy = result[side]["val_accuracy"]
        print(f"    {label:44} {med[side] * 1000:7.1f} ms/epoch   last val accuracy {accuracy:.4f}")

    print(
        f"Part 1: CNN (32 channels) on digits, batch {BATCH}, amp={args.amp}, device={device} "
        f"({torch.get_num_threads()} threads), median over {args.repeats} runs x {args.epochs - 1} epochs per side"
    )
    print("  The trainer with its defaults, which include grad_monitor=global (the gradients' total norm")
    print("  after each step, summed and maxed on the device, read once per epoch), against hand loops:")
    line("hand-written, keeping the same norm", ("hand", glob))
    line("hand-written, no gradient norm", ("hand", base))
    line("TorchTrainer, defaults (grad_monitor=global)", ("trainer", glob))
    line("TorchTrainer, grad_monitor=off", ("trainer", base))
    ratio = lambda a, b: med[a] / med[b]  # noqa: E731
    print(
        f"    TorchTrainer defaults / hand-written with the norm:    "
        f"{ratio(('trainer', glob), ('hand', glob)):.3f}x (target <= 1.05x; the same work)"
    )
    print(f"    TorchTrainer defaults / hand-written without:          {ratio(('trainer', glob), ('hand', base)):.3f}x")
    print(f"    TorchTrainer grad_monitor=off / hand-written without:  {ratio(('trainer', base), ('hand', base)):.3f}x")
    print()
    print("  The cost of each feature: each trainer side against the trainer with grad_monitor=off and no")
    print("  clipping (x off), each hand-written anchor against the plain hand loop (x plain), and the")
    print("  trainer against its anchor:")
    print(
        f"    {'feature':32} {'hand ms':>8} {'x plain':>8} {'trainer ms':>11} {'x off':>7} "
        f"{'trainer/hand':>13}  same work"
    )
    every = True
    for feature in FEATURES:
        h, t = ("hand", feature), ("trainer", feature)
        same = same_work(result[h], result[t])
        every &= same
        print(
            f"    {feature:32} {med[h] * 1000:8.1f} {ratio(h, ('hand', base)):7.3f}x {med[t] * 1000:11.1f} "
            f"{ratio(t, ('trainer', base)):6.3f}x {ratio(t, h):12.3f}x  {same}"
        )
    print(
        "  same work: every trainer side ends at its anchor's validation accuracy, training loss and "
        f"gradient norms: {every}"
    )
    steps = math.ceil(len(train[0]) / BATCH)
    print()
    print(f"  Per optimizer step, each feature's own work timed alone ({steps} steps an epoch):")
    for feature, (hand, trainer) in per_step(device, steps).items():
        share = trainer * steps / 1e6 / med[("trainer", base)]
        print(
            f"    {feature:32} hand {hand:6.1f} us   trainer {trainer:6.1f} us = {trainer * steps / 1000:5.2f} ms "
            f"an epoch, {100 * share:.1f}% of the trainer's epoch"
        )


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
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"])
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads (0: torch's default)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    part1(args, device)
    print()
    part2(args)


if __name__ == "__main__":
    main()
