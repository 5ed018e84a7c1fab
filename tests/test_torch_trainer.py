"""TorchTrainer on the CPU: every precision path trains, the scaler and clipping are right,
pruning, NaN, early stopping and seeding behave."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import hpo
from hpo import ConfigError, trainers
from hpo.trainers import TorchTrainer
from hpo.trainers._torch import resolve_precision
from tests.conftest import study_runs


def _digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return (as_x(X_train), torch.tensor(y_train)), (as_x(X_val), torch.tensor(y_val))


TRAIN, VAL = _digits()


def mlp(params):
    return torch.nn.Sequential(
        torch.nn.Linear(64, params.get("hidden", 64)), torch.nn.ReLU(), torch.nn.Linear(params.get("hidden", 64), 10)
    )


@pytest.mark.parametrize("amp", ["bf16", "fp16", "off"])
def test_every_precision_trains_past_a_clear_bar(amp):
    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=15, lr=1e-2, amp=amp, device="cpu", grad_clip=1.0)
    study = hpo.tune(trainer, {"hidden": hpo.Categorical([64])}, searcher="grid", pruner="none", tracking=None)
    assert study.direction == "maximize"
    assert study.best_value > 0.95, (amp, study.best_value)  # chance is 0.10


def test_gradscaler_for_fp16_only():
    cpu = torch.device("cpu")
    assert resolve_precision("fp16", cpu) == (torch.float16, True)
    assert resolve_precision("bf16", cpu) == (torch.bfloat16, False)
    assert resolve_precision("off", cpu) == (None, False)
    assert resolve_precision("auto", cpu) == (None, False)  # fp32 on the CPU unless asked


class RecordingSGD(torch.optim.SGD):
    """A real SGD that records the total gradient norm it steps with."""

    norms: list[float] = []

    def step(self, closure=None):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        RecordingSGD.norms.append(
            float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        )
        return super().step(closure)


def recording_sgd(params, lr, weight_decay, momentum):
    return RecordingSGD(params, lr=lr, momentum=momentum)


def test_clipping_acts_on_unscaled_gradients():
    # Under fp16 the loss is scaled (by 65536 at first). Clipping the *scaled* gradients to 0.05
    # would leave true gradients of ~1e-6; clipping after unscale_ leaves norms right at 0.05.
    RecordingSGD.norms = []
    factory = lambda params, lr, weight_decay, momentum: RecordingSGD(params, lr=lr, momentum=momentum)  # noqa: E731
    trainer = TorchTrainer(
        mlp, TRAIN, VAL, epochs=1, lr=0.1, amp="fp16", device="cpu", grad_clip=0.05, optimizer=factory
    )
    hpo.tune(trainer, {"hidden": hpo.Categorical([64])}, searcher="grid", pruner="none", tracking=None)
    finite = [n for n in RecordingSGD.norms if math.isfinite(n)]
    assert len(finite) > 10
    assert max(finite) <= 0.05 * 1.001
    assert sorted(finite)[len(finite) // 2] > 0.04  # most steps are clipped at the bound, unscaled


def test_pruned_trial_stops_at_the_reported_epoch(tracking_uri, mlflow_client):
    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=6, device="cpu")
    study = hpo.tune(
        trainer,
        {"lr": hpo.Float(1e-5, 1e-1, log=True)},
        n_trials=10,
        seed=0,
        searcher="random",
        pruner={"name": "median", "n_startup_trials": 2},
        study_name="torchprune",
        tracking=tracking_uri,
    )
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned
    for trial in pruned:
        assert trial.user_attrs["epochs"] == len(trial.intermediate_values) < 6
    _, children = study_runs(mlflow_client, "torchprune")
    for run in children:  # one train_loss per epoch run, no more
        number = int(run.data.tags["hpo.trial_number"])
        history = mlflow_client.get_metric_history(run.info.run_id, "train_loss")
        assert len(history) == study.trials[number].user_attrs["epochs"]
        assert {"val_loss", "val_accuracy", "lr", "train_loss"} <= set(run.data.metrics)


def test_nan_loss_fails_the_trial_with_its_reason():
    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=3, device="cpu", optimizer="sgd", momentum=0.0)
    study = hpo.tune(trainer, {"lr": hpo.Categorical([1e-2, 1e12])}, searcher="grid", pruner="none", tracking=None)
    failed = study.trials_df().query("state == 'failed'")
    assert list(failed["params.lr"]) == [1e12]
    assert (
        failed["error"].iloc[0].startswith("NonFiniteLoss: training loss is nan at epoch 0")
        or "inf" in failed["error"].iloc[0]
    )
    assert study.counts()["complete"] == 1


def test_early_stopping_stops_and_restores_the_best_weights():
    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=60, lr=3e-3, device="cpu", early_stopping=3)
    study = hpo.tune(trainer, {"hidden": hpo.Categorical([32])}, searcher="grid", pruner="none", tracking=None)
    trial = study.trials[0]
    assert trial.user_attrs["epochs"] < 60
    values = trial.intermediate_values
    assert trial.value == max(values.values())
    best_epoch = max(values, key=values.get)
    assert trial.user_attrs["epochs"] - 1 - best_epoch == 3  # stopped after 3 epochs without gain
    assert trainer.evaluate(trainer.last_model_, VAL)[1] == pytest.approx(trial.value)  # restored


def test_same_seed_same_metrics_on_cpu():
    def run():
        trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=3, device="cpu", seed=7)
        study = hpo.tune(trainer, {"hidden": hpo.Categorical([48])}, searcher="grid", pruner="none", tracking=None)
        return study.trials[0].intermediate_values

    assert run() == run()


def test_best_model_logged_to_mlflow_predicts(tracking_uri):
    import mlflow.pytorch

    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=3, device="cpu")
    study = hpo.tune(
        trainer,
        {"hidden": hpo.Categorical([16, 32])},
        searcher="grid",
        pruner="none",
        study_name="torchmodel",
        tracking=tracking_uri,
    )
    # The same trainer again, on a study whose best is worse: that study still gets its model.
    again = hpo.tune(
        trainer,
        {"hidden": hpo.Categorical([1])},
        searcher="grid",
        pruner="none",
        study_name="torchmodel-2",
        tracking=tracking_uri,
    )
    assert again.best_value < study.best_value
    for result in (study, again):
        model = mlflow.pytorch.load_model(f"runs:/{result.mlflow_run_id}/model")
        with torch.no_grad():
            accuracy = (model(VAL[0]).argmax(1) == VAL[1]).float().mean().item()
        assert accuracy == pytest.approx(result.best_value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amp": "fp8"}, "amp: expected one of auto, bf16, fp16, off, got 'fp8'"),
        ({"optimizer": "sgdd"}, "optimizer: expected one of adamw, adam, sgd, got 'sgdd'; did you mean 'sgd'?"),
        ({"epochs": 0}, "epochs: expected a positive integer, got 0"),
        ({"early_stopping": {"patiense": 2}}, "early_stopping: unknown key 'patiense'; did you mean 'patience'?"),
        ({"metric": "f1"}, "metric: expected one of accuracy, loss, mse, mae, got 'f1'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError) as info:
        TorchTrainer(mlp, TRAIN, VAL, **kwargs)
    assert str(info.value).startswith(message), str(info.value)


def test_config_block(workdir):
    trainer = trainers.from_config(
        {"kind": "torch", "model": "examples.models:cnn", "epochs": 2, "standardize": True, "val_fraction": 0.25},
        {"builtin": "digits"},
    )
    assert isinstance(trainer, TorchTrainer)
    assert len(trainer.train_data[0]) + len(trainer.val_data[0]) == 1797
    train_mean = trainer.train_data[0].mean(dim=0)
    assert float(train_mean.abs().max()) < 1e-4  # standardized with the training rows only
    with pytest.raises(ConfigError, match=r"^trainer: unknown key 'epoch'; did you mean 'epochs'\?"):
        trainers.from_config({"kind": "torch", "model": "examples.models:cnn", "epoch": 2}, {"builtin": "digits"})
    with pytest.raises(
        ConfigError,
        match=r"^trainer.model: cannot import 'examples.models:rnn': module 'examples.models' has no attribute 'rnn'",
    ):
        trainers.from_config({"kind": "torch", "model": "examples.models:rnn"}, {"builtin": "digits"})


def test_mlp_on_breast_cancer_from_a_config():
    trainer = trainers.from_config(
        {"kind": "torch", "model": "examples.models:mlp", "epochs": 5, "standardize": True, "device": "cpu"},
        {"builtin": "breast_cancer"},
    )
    study = hpo.tune(
        trainer,
        {"hidden": hpo.Categorical([32]), "lr": hpo.Categorical([3e-3])},
        searcher="grid",
        pruner="none",
        tracking=None,
    )
    assert study.best_value > 0.9  # the majority class is 0.63


def test_a_diverged_validation_fails_with_its_reason():
    def broken(params):  # trains fine, but its evaluation blows up to inf
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = mlp(params)

            def forward(self, x):
                out = self.body(x)
                return out if self.training else out * float("inf")

        return Net()

    trainer = TorchTrainer(broken, TRAIN, VAL, epochs=2, device="cpu")
    with pytest.raises(hpo.AllTrialsFailedError) as info:
        hpo.tune(trainer, {"hidden": hpo.Categorical([16, 32])}, searcher="grid", pruner="none", tracking=None)
    errors = list(info.value.study.trials_df()["error"])
    assert len(errors) == 2 and all(e.startswith("NonFiniteLoss: validation loss is nan") for e in errors)


def test_regression_loss_and_metrics():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    train, val = (X[:350], y[:350]), (X[350:], y[350:])
    net = lambda params: torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))  # noqa: E731
    for metric, fn in (("mse", torch.nn.functional.mse_loss), ("mae", torch.nn.functional.l1_loss)):
        trainer = TorchTrainer(net, train, val, loss="mse", metric=metric, epochs=3, lr=1e-2, device="cpu")
        assert trainer.direction == "minimize"
        study = hpo.tune(trainer, {"w": hpo.Categorical([0])}, searcher="grid", pruner="none", tracking=None)
        with torch.no_grad():
            out = trainer.last_model_(val[0])  # (N, 1) against (N,): compared row by row
        assert out.shape == (len(val[1]), 1)
        expected = float(fn(out[:, 0], val[1]))
        assert trainer.evaluate(trainer.last_model_, val)[1] == pytest.approx(expected, rel=1e-6)
        assert study.best_value == pytest.approx(expected, rel=1e-6)


def _diabetes_tensors():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    return (X[:350], y[:350]), (X[350:], y[350:])


def _regression_net(params):
    return torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))


@pytest.mark.parametrize(("metric", "loss"), [("mse", "mse"), ("mae", "l1"), ("loss", "mse")])
def test_the_loss_follows_the_metric_for_a_regression(metric, loss):
    train, val = _diabetes_tensors()
    trainer = TorchTrainer(_regression_net, train, val, metric=metric, epochs=2, lr=1e-2, device="cpu")
    assert trainer.loss == loss and trainer.direction == "minimize"
    study = hpo.tune(trainer, {"w": hpo.Categorical([0])}, searcher="grid", pruner="none", tracking=None)
    assert study.trials_df()["state"].tolist() == ["complete"]


def test_the_loss_follows_the_metric_for_classes():
    assert TorchTrainer(mlp, TRAIN, VAL).loss == "cross_entropy"
    assert TorchTrainer(mlp, TRAIN, VAL, metric="loss").loss == "cross_entropy"  # integer labels


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "mse", "loss": "cross_entropy"}, "loss: 'cross_entropy' needs class labels, got float targets"),
        ({}, "metric: 'accuracy' needs class labels, got float targets (float32)"),
    ],
)
def test_a_classification_loss_on_float_targets_is_refused(kwargs, message):
    train, val = _diabetes_tensors()
    with pytest.raises(ConfigError) as info:
        TorchTrainer(_regression_net, train, val, **kwargs)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def _regression_csv(folder):
    """diabetes with its features scaled x50+300 (far from standardized), and a model module."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    frame = X * 50 + 300
    frame["target"] = y.astype(float) + 0.5  # fractional values: no class labels
    frame.to_csv(folder / "scaled.csv", index=False)
    (folder / "regnet.py").write_text(
        "import torch\n\n\ndef net(params):\n"
        "    return torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))\n"
    )
    return frame


def test_a_float_target_from_a_config_is_a_regression_never_stratified(tmp_path):
    _regression_csv(tmp_path)
    data = {"path": "scaled.csv", "target": "target"}
    block = {"kind": "torch", "model": "regnet:net", "metric": "mse", "epochs": 2, "device": "cpu"}
    trainer = trainers.from_config(block, data, base=tmp_path)
    assert trainer.loss == "mse" and trainer.train_data[1].dtype == torch.float32
    with pytest.raises(ConfigError) as info:  # the default metric, accuracy, needs classes
        trainers.from_config({**block, "metric": "accuracy"}, data, base=tmp_path)
    assert str(info.value).startswith("trainer.metric: 'accuracy' needs class labels, but the target has fractional")


def test_a_class_with_one_row_is_a_one_line_error(tmp_path):
    import pandas as pd

    pd.DataFrame({"x": range(20), "label": [0] * 10 + [1] * 9 + [2]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ConfigError) as info:
        trainers.from_config(
            {"kind": "torch", "model": "examples.models:mlp"}, {"path": "c.csv", "target": "label"}, base=tmp_path
        )
    assert str(info.value).startswith("trainer.val_fraction: cannot split the data: The least populated class")
    assert "\n" not in str(info.value)


def test_logged_model_takes_raw_features_and_reproduces_the_best_value(tmp_path, tracking_uri):
    import mlflow.pytorch
    import numpy as np
    from mlflow.models import get_model_info
    from sklearn.model_selection import train_test_split

    frame = _regression_csv(tmp_path)
    block = {"kind": "torch", "model": "regnet:net", "metric": "mse", "epochs": 30, "device": "cpu"}
    trainer = trainers.from_config(
        {**block, "standardize": True, "seed": 3}, {"path": "scaled.csv", "target": "target"}, base=tmp_path
    )
    study = hpo.tune(
        trainer, {"lr": hpo.Categorical([3e-2, 1e-1])}, searcher="grid", pruner="none", tracking=tracking_uri
    )
    # The validation rows as the CSV has them: the same seeded split the trainer made.
    X = frame.drop(columns="target").to_numpy(dtype=np.float32)
    _, X_val, _, y_val = train_test_split(X, frame["target"].to_numpy(), test_size=0.2, random_state=3)
    uri = f"runs:/{study.mlflow_run_id}/model"
    model = mlflow.pytorch.load_model(uri)
    with torch.no_grad():
        out = model(torch.from_numpy(X_val))[:, 0]
    mse = float(torch.nn.functional.mse_loss(out, torch.tensor(y_val, dtype=torch.float32)))
    assert mse == pytest.approx(study.best_value, rel=1e-4)
    assert study.best_value < float(np.var(y_val))  # it learned something
    inputs = get_model_info(uri).signature.inputs.to_dict()
    assert len(inputs) == 1 and tuple(inputs[0]["tensor-spec"]["shape"]) == (-1, 10)
    # The logged model carries the best trial's params, and loads where hpo cannot be imported.
    info = get_model_info(uri)
    assert mlflow.get_logged_model(info.model_id).params["lr"] == str(study.best_params["lr"])
    _load_without_hpo(tracking_uri, uri, tmp_path)


def _load_without_hpo(tracking_uri, uri, cwd):
    """Load a logged torch model in a Python where hpo cannot be imported, and run it."""
    blocker = (
        "import sys, importlib.abc\n"
        "class NoHpo(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'hpo': raise ImportError('hpo is not installed here')\n"
        "sys.meta_path.insert(0, NoHpo())\n"
        "import mlflow, mlflow.pytorch, torch\n"
        f"mlflow.set_tracking_uri({tracking_uri!r})\n"
        f"model = mlflow.pytorch.load_model({uri!r})\n"
        "print(float(model(torch.zeros(1, 10)).sum()))\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


class Rows(torch.utils.data.Dataset):
    """A map-style dataset of (x, y) rows: no example rows to trace a model with."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


def test_a_model_without_example_rows_is_pickled_and_loads_without_hpo(tmp_path, tracking_uri):
    (X, y), (X_val, y_val) = _diabetes_tensors()
    mean, std = X.mean(0), X.std(0)
    trainer = TorchTrainer(
        _regression_net,
        Rows((X - mean) / std, y),
        Rows((X_val - mean) / std, y_val),
        metric="mse",
        epochs=1,
        device="cpu",
        standardized_with=(mean.numpy(), std.numpy()),
    )
    study = hpo.tune(trainer, {"w": hpo.Categorical([0])}, searcher="grid", pruner="none", tracking=tracking_uri)
    _load_without_hpo(tracking_uri, f"runs:/{study.mlflow_run_id}/model", tmp_path)


def test_categorical_columns_are_refused_by_the_torch_trainer(tmp_path):
    import pandas as pd

    pd.DataFrame({"store": ["a", "b"] * 10, "x": range(20), "label": [0, 1] * 10}).to_csv(
        tmp_path / "s.csv", index=False
    )
    data = {"path": "s.csv", "target": "label", "categorical": ["store"]}
    with pytest.raises(ConfigError, match=r"^data.categorical: this trainer needs numeric features"):
        trainers.from_config({"kind": "torch", "model": "examples.models:mlp"}, data, base=tmp_path)


def test_describe_names_callables_and_loss_modules():
    train, val = _diabetes_tensors()
    trainer = TorchTrainer(_regression_net, train, val, loss=torch.nn.MSELoss(), metric="mse")
    described = trainer.describe()
    assert described["model"] == f"{_regression_net.__module__}:_regression_net"
    assert described["loss"] == "torch.nn.modules.loss:MSELoss"  # an instance: its class
    assert described["optimizer"] == "adamw" and described["metric"] == "val_mse"


# -- gradient accumulation, monitoring, transforms ----------------------------------------------


def _linear_data(n=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 8, generator=g)
    return X, (X[:, :3].sum(dim=1) > 0).long()


def _weights(**kwargs):
    torch.manual_seed(0)
    options = dict(epochs=2, lr=0.05, optimizer="sgd", metric="loss", device="cpu", grad_monitor="off", seed=3)
    trainer = TorchTrainer(lambda p: torch.nn.Linear(8, 2), _linear_data(), _linear_data(40, 1), **(options | kwargs))
    hpo.tune(trainer, {"unused": hpo.Categorical([0])}, searcher="grid", pruner="none", tracking=None)
    return trainer.last_model_.state_dict()


@pytest.mark.parametrize("clip", [None, 0.05])
def test_accumulated_micro_batches_make_the_update_of_one_big_batch(clip):
    # 100 rows: 4 steps of 32 (the last of 4 rows) against micro-batches of 8, 4 at a time (the
    # last step's micro-batches: 8, 8, 8 and 4 rows, weighted by rows).
    big = _weights(batch_size=32, accumulate=1, grad_clip=clip)
    small = _weights(batch_size=8, accumulate=4, grad_clip=clip)
    for name in big:
        torch.testing.assert_close(small[name], big[name], rtol=1e-5, atol=1e-6)
    different = _weights(batch_size=8, accumulate=1, grad_clip=clip)
    assert not torch.allclose(different["weight"], big["weight"], atol=1e-4)


def test_fp16_accumulation_unscales_once_per_step_and_trains():
    # GradScaler.unscale_ raises when called twice before a step: one unscale per k micro-batches.
    trainer = TorchTrainer(
        mlp, TRAIN, VAL, epochs=8, lr=1e-2, amp="fp16", device="cpu", grad_clip=1.0, batch_size=16, accumulate=4
    )
    study = hpo.tune(trainer, {"hidden": hpo.Categorical([64])}, searcher="grid", pruner="none", tracking=None)
    assert study.best_value > 0.9


def test_gradient_norms_are_logged_per_epoch(tracking_uri, mlflow_client):
    RecordingSGD.norms = []
    trainer = TorchTrainer(
        mlp, TRAIN, VAL, epochs=2, device="cpu", optimizer=recording_sgd, batch_size=256, grad_monitor="layers"
    )
    study = hpo.tune(trainer, {"hidden": hpo.Categorical([16])}, searcher="grid", pruner="none", tracking=tracking_uri)
    _, (run,) = study_runs(mlflow_client, study.name)
    history = {m.step: m.value for m in mlflow_client.get_metric_history(run.info.run_id, "grad_norm_mean")}
    steps = math.ceil(len(TRAIN[0]) / 256)
    first, second = RecordingSGD.norms[:steps], RecordingSGD.norms[steps:]
    assert history[0] == pytest.approx(sum(first) / steps, rel=1e-4)
    assert history[1] == pytest.approx(sum(second) / steps, rel=1e-4)
    top = mlflow_client.get_metric_history(run.info.run_id, "grad_norm_max")
    assert [m.value for m in top] == pytest.approx([max(first), max(second)], rel=1e-4)
    layers = {k for k in run.data.metrics if k.startswith("grad_norm.")}
    assert layers == {"grad_norm.0.weight", "grad_norm.0.bias", "grad_norm.2.weight", "grad_norm.2.bias"}


class _Exploding(torch.nn.Module):
    """A linear layer whose gradients are multiplied by ``scale`` (inf: a finite loss, an infinite
    gradient; 1e-12: vanishing gradients)."""

    def __init__(self, scale):
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)
        for parameter in self.linear.parameters():
            parameter.register_hook(lambda grad: grad * scale)

    def forward(self, x):
        return self.linear(x)


def test_a_non_finite_gradient_norm_fails_the_trial_with_its_reason():
    trainer = TorchTrainer(lambda p: _Exploding(float("inf")), TRAIN, VAL, epochs=2, device="cpu", amp="off")
    with pytest.raises(hpo.AllTrialsFailedError) as err:
        hpo.tune(trainer, {"x": hpo.Categorical([0])}, searcher="grid", tracking=None)
    (trial,) = err.value.study.trials
    assert trial.user_attrs["hpo:error"].startswith(
        "NonFiniteGradient: gradient norm is not finite at epoch 0, step 0, while the loss was finite"
    )


def test_vanishing_gradients_tag_the_trial_run(tracking_uri, mlflow_client):
    trainer = TorchTrainer(
        lambda p: _Exploding(p["scale"]), TRAIN, VAL, epochs=3, device="cpu", vanishing={"threshold": 1e-6, "epochs": 2}
    )
    study = hpo.tune(
        trainer, {"scale": hpo.Categorical([1e-12, 1.0])}, searcher="grid", pruner="none", tracking=tracking_uri
    )
    runs = {int(r.data.tags["hpo.trial_number"]): r for r in study_runs(mlflow_client, study.name)[1]}
    tiny = next(t.number for t in study.trials if t.params["scale"] == 1e-12)
    tag = runs[tiny].data.tags["hpo.warning.vanishing_gradients"]
    assert tag == "gradient norm below 1e-06 for 2 epochs from epoch 0"
    assert "hpo.warning.vanishing_gradients" not in runs[1 - tiny].data.tags


ROWS_SEEN: list[int] = []


def noisy(x):
    """A train-only augmentation that counts the rows it sees."""
    ROWS_SEEN.append(len(x))
    return x + 0.01 * torch.randn_like(x)


def test_the_transform_sees_training_batches_only():
    ROWS_SEEN.clear()
    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=2, lr=1e-2, batch_size=100, device="cpu", transform=noisy)
    ROWS_SEEN.clear()  # (the constructor checked it on the first rows)
    study = hpo.tune(trainer, {"hidden": hpo.Categorical([16])}, searcher="grid", pruner="none", tracking=None)
    assert study.best_value > 0.5
    assert sum(ROWS_SEEN) == 2 * len(TRAIN[0])  # every training row once per epoch, no validation row


def test_a_tunable_transform_is_built_per_trial_from_its_params():
    built = []

    def transform_fn(params):
        built.append(params["noise"])
        return (lambda x: x + params["noise"] * torch.randn_like(x)) if params["noise"] else None

    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=1, device="cpu", transform_fn=transform_fn)
    study = hpo.tune(trainer, {"noise": hpo.Categorical([0.0, 0.1])}, searcher="grid", pruner="none", tracking=None)
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    assert sorted(built[-2:]) == [0.0, 0.1]  # (the first was the check of the space's first point)


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        (
            lambda x: x[: len(x) // 2],
            "transform: changed the batch from shape (64, 64) to (32, 64): a transform must keep the rows",
        ),
        (lambda x, y: (x, torch.zeros_like(y)), "transform: changed the labels of the first batch"),
        (
            lambda x: x.reshape(7, -1),
            "transform: failed on the first batch of shape (64, 64): RuntimeError: shape '[7, -1]'",
        ),
    ],
)
def test_a_transform_that_breaks_the_batch_is_a_one_line_error(transform, message):
    with pytest.raises(ConfigError) as err:
        TorchTrainer(mlp, TRAIN, VAL, device="cpu", transform=transform)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accumulate": 0}, "accumulate: expected a positive integer, got 0"),
        ({"grad_monitor": "all"}, "grad_monitor: expected one of global, layers, off, got 'all'"),
        ({"vanishing": {"treshold": 1}}, "vanishing: unknown key 'treshold'; did you mean 'threshold'?"),
        ({"devices_per_trial": 0}, "devices_per_trial: expected a positive integer, got 0"),
        ({"lr_groups": {"0": 0}}, "lr_groups.0: expected a multiplier > 0, got 0"),
        ({"unfreeze": {"0": -1}}, "unfreeze.0: expected an epoch >= 0, got -1"),
        ({"freeze": "0", "transform": 3}, "transform: expected a callable or null, got 3"),
    ],
)
def test_bad_loop_arguments(kwargs, message):
    with pytest.raises(ConfigError) as err:
        TorchTrainer(mlp, TRAIN, VAL, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


# -- the held-out test set -----------------------------------------------------------------------


def test_a_config_holds_out_a_stratified_test_set_scored_once_at_the_end(workdir, tracking_uri, mlflow_client):
    trainer = trainers.from_config(
        {
            "kind": "torch",
            "model": "examples.models:mlp",
            "epochs": 3,
            "standardize": True,
            "device": "cpu",
            "test_fraction": 0.2,
        },
        {"builtin": "breast_cancer"},
    )
    X_test, y_test = trainer.test_data
    rows = [len(trainer.train_data[0]), len(trainer.val_data[0]), len(X_test)]
    assert sum(rows) == 569 and rows[2] == math.ceil(0.2 * 569)
    share = float(y_test.float().mean())
    assert abs(share - 357 / 569) < 0.01  # stratified: the classes' proportions kept
    assert float(trainer.train_data[0].mean(dim=0).abs().max()) < 1e-4  # scaled with the training rows only
    study = hpo.tune(trainer, {"hidden": hpo.Categorical([8, 16])}, searcher="grid", tracking=tracking_uri)
    score = study.test_score
    assert score["metric"] == "test_accuracy" and score["rows"] == rows[2]
    assert score["trial"] == study.best_trial.number
    # The logged model (Standardize in front) on the raw test rows gives the same score.
    raw = X_test * torch.as_tensor(trainer.standardized_with[1]) + torch.as_tensor(trainer.standardized_with[0])
    with torch.no_grad():
        predicted = trainer.best_model_(raw).argmax(dim=1)
    assert float((predicted == y_test).float().mean()) == pytest.approx(score["value"], abs=1e-6)
    parent, _ = study_runs(mlflow_client, study.name)
    assert parent[0].data.metrics["test_accuracy"] == pytest.approx(score["value"])


def test_test_data_from_python_is_never_seen_by_the_search():
    seen = []

    def watching(out, target):
        seen.append(len(target))
        return float((out.argmax(dim=1) == target).float().mean())

    test = (VAL[0][:100], VAL[1][:100])
    val = (VAL[0][100:], VAL[1][100:])
    trainer = TorchTrainer(mlp, TRAIN, val, test_data=test, metric=watching, epochs=2, device="cpu")
    study = hpo.tune(trainer, {"hidden": hpo.Categorical([16])}, searcher="grid", tracking=None)
    assert seen[:-1] == [len(val[1])] * 2  # every epoch's validation, then the test rows once
    assert seen[-1] == 100 and study.test_score["metric"] == "test_watching"
    assert trainer.best_test_score_ == study.test_score["value"]


@pytest.mark.parametrize("fraction", [0, 0.6, -0.1, "x", True])
def test_a_test_fraction_outside_the_range_is_a_one_line_error(workdir, fraction):
    block = {"kind": "torch", "model": "examples.models:mlp", "test_fraction": fraction}
    with pytest.raises(ConfigError) as err:
        trainers.from_config(block, {"builtin": "breast_cancer"})
    assert str(err.value).startswith("trainer.test_fraction: expected a number in (0, 0.5], got ")


# -- data-parallel trials ------------------------------------------------------------------------


def _ddp_weights(devices, net=None, **kwargs):
    options = dict(epochs=3, batch_size=20, lr=0.1, optimizer="sgd", metric="loss", device="cpu", seed=1)
    trainer = TorchTrainer(
        net or _linear_net, _linear_data(103), _linear_data(40, 1), devices_per_trial=devices, **(options | kwargs)
    )
    study = hpo.tune(trainer, {"unused": hpo.Categorical([0])}, searcher="grid", pruner="none", tracking=None)
    return study, trainer.best_model_.state_dict()


def _linear_net(params):
    return torch.nn.Linear(8, 2)


def test_a_data_parallel_trial_equals_one_process_with_the_same_global_batch():
    # 103 rows in batches of 20: the last batch's 3 rows split 2 + 1 over the ranks, and
    # accumulate=2 syncs the gradients once per 2 micro-batches.
    one_study, one = _ddp_weights(1, accumulate=2)
    two_study, two = _ddp_weights(2, accumulate=2)
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6)
    assert two_study.best_value == pytest.approx(one_study.best_value, rel=1e-5)
    assert two_study.trials[0].user_attrs["epochs"] == 3  # rank 0's records reach the trial once


def _two_layers(params):
    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))


def test_gradual_unfreezing_in_a_data_parallel_trial_equals_one_process():
    # The layer unfrozen at epoch 1 must be in DDP's reduction from the start.
    _, one = _ddp_weights(1, net=_two_layers, unfreeze={"0": 1})
    _, two = _ddp_weights(2, net=_two_layers, unfreeze={"0": 1})
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6)


def test_a_pruned_data_parallel_trial_stops_every_rank():
    import optuna

    trainer = TorchTrainer(
        _linear_net, _linear_data(100), _linear_data(40, 1), epochs=5, metric="loss", device="cpu", devices_per_trial=2
    )
    study = hpo.tune(
        trainer,
        {"unused": hpo.Categorical([0])},
        searcher="grid",
        pruner=optuna.pruners.ThresholdPruner(upper=0.0),  # any loss is above 0: pruned at epoch 0
        tracking=None,
    )
    (trial,) = study.trials
    assert trial.state.name == "PRUNED" and trial.user_attrs["epochs"] == 1


def test_more_devices_per_trial_than_the_machine_has_is_refused_before_the_study():
    import os

    too_many = (os.cpu_count() or 1) + (torch.cuda.device_count() if torch.cuda.is_available() else 0) + 1
    trainer = TorchTrainer(_linear_net, _linear_data(), _linear_data(40, 1), devices_per_trial=too_many)
    with pytest.raises(
        ConfigError,
        match=rf"^devices_per_trial: expected at most \d+ \(the GPUs, else CPUs, of this machine\), got {too_many}$",
    ):
        hpo.tune(trainer, {"unused": hpo.Categorical([0])}, n_trials=1, tracking=None)


# -- several objectives -------------------------------------------------------------------------


def test_accuracy_size_and_latency_as_objectives(tracking_uri, mlflow_client):
    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=3, lr=1e-2, device="cpu", objectives=["n_params", "latency_ms"])
    assert trainer.objectives.names == ("val_accuracy", "n_params", "latency_ms")
    assert trainer.objectives.directions == ("maximize", "minimize", "minimize")
    study = hpo.tune(
        trainer,
        {"hidden": hpo.Categorical([4, 16, 64])},
        searcher="grid",
        study_name="sized",
        select={"maximize": "val_accuracy", "where": "n_params <= 2000"},
    )
    for t in study.trials:
        hidden = t.params["hidden"]
        assert t.values[1] == 64 * hidden + hidden + hidden * 10 + 10  # the MLP's weights and biases
        assert 0 < t.values[2] < 50  # ms per row
    picked = study.selected_trial
    assert picked.params["hidden"] in (4, 16)  # 64 hidden units have 4810 parameters
    # The logged model is the selected trial's, with its best epoch's weights.
    assert sum(p.numel() for p in trainer.best_model_.parameters()) == picked.values[1]
    _, score = trainer.evaluate(trainer.best_model_, VAL)
    assert score == pytest.approx(picked.values[0])
    [parent], _ = study_runs(mlflow_client, "sized")
    assert parent.data.tags["hpo.best_trial"] == str(picked.number)


@pytest.mark.parametrize(
    ("objectives", "message"),
    [
        (["flops"], "objectives: unknown objective 'flops'; the trainer measures n_params, latency_ms"),
        (["latency"], "objectives: unknown objective 'latency'; did you mean 'latency_ms'?"),
        (["n_params", "n_params"], "objectives: each objective once, got ['n_params', 'n_params']"),
        ({"n_params": 1}, "objectives: expected a list of n_params, latency_ms, got {'n_params': 1}"),
    ],
)
def test_bad_objectives(objectives, message):
    with pytest.raises(ConfigError) as info:
        TorchTrainer(mlp, TRAIN, VAL, objectives=objectives)
    assert str(info.value).startswith(message), str(info.value)


def test_trials_tied_at_the_best_value_each_keep_their_weights_whatever_order_they_end_in():
    # On Ray trials end in any order; the study's best among tied trials depends on its storage.
    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=1, device="cpu")
    trainer.on_trial_kept(1, (0.5, {"hidden": 16}, {"w": 1}))
    trainer.on_trial_kept(0, (0.5, {"hidden": 32}, {"w": 0}))
    trainer.on_trial_kept(2, (0.4, {"hidden": 8}, {"w": 2}))
    assert sorted(trainer._best) == [0, 1]
    trainer.on_trial_kept(3, (0.6, {"hidden": 8}, {"w": 3}))
    assert list(trainer._best) == [3]
