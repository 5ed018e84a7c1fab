"""Fine-tuning with the torch trainer: pretrained weights from a file or an earlier study's model,
frozen prefixes, gradual unfreezing, per-group learning rates."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

import hpo
from hpo import ConfigError
from hpo.trainers import TorchTrainer, load_pretrained
from hpo.trainers._finetune import param_groups


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 6, generator=g)
    return X, (X[:, 0] + X[:, 1] > 0).long()


TRAIN, VAL = _data(120, 0), _data(60, 1)


def backbone_and_head():
    torch.manual_seed(1)
    # torch classes only: the MLflow writer process loads the logged model without this module
    return nn.Sequential(OrderedDict(backbone=nn.Sequential(nn.Linear(6, 16), nn.ReLU()), head=nn.Linear(16, 2)))


class Recorded(torch.optim.SGD):
    """A real SGD that records its param groups' learning rates at each step."""

    groups: list[list[float]] = []

    def step(self, closure=None):
        Recorded.groups.append([group["lr"] for group in self.param_groups])
        return super().step(closure)


def recorded(params, lr, weight_decay, momentum):
    return Recorded(params, lr=lr)


def _train(model_fn, **kwargs):
    trainer = TorchTrainer(model_fn, TRAIN, VAL, device="cpu", epochs=2, batch_size=40, **kwargs)
    study = hpo.tune(trainer, {"unused": hpo.Categorical([0])}, searcher="grid", pruner="none", tracking=None)
    assert study.trials[0].state.name == "COMPLETE", study.trials[0].user_attrs
    return trainer.last_model_


def test_frozen_prefixes_keep_their_weights():
    start = backbone_and_head().state_dict()
    model = _train(lambda p: backbone_and_head(), freeze=["backbone"], lr=0.1, scheduler="constant")
    end = model.state_dict()
    for name in ("backbone.0.weight", "backbone.0.bias"):
        assert torch.equal(end[name], start[name])
    assert not torch.equal(end["head.weight"], start["head.weight"])


def test_gradual_unfreezing_trains_a_prefix_from_its_epoch():
    start = backbone_and_head().state_dict()
    # Early stopping would restore the best epoch: compare the last epoch's weights instead.
    still = _train(lambda p: backbone_and_head(), unfreeze={"backbone": 2}, scheduler="constant", metric="loss")
    assert torch.equal(still.state_dict()["backbone.0.weight"], start["backbone.0.weight"])  # 2 epochs: 0 and 1
    moved = _train(lambda p: backbone_and_head(), unfreeze={"backbone": 1}, scheduler="constant", lr=0.1, metric="loss")
    assert not torch.equal(moved.state_dict()["backbone.0.weight"], start["backbone.0.weight"])


def test_learning_rate_groups_are_multipliers_tunable_from_the_space():
    Recorded.groups = []
    trainer = TorchTrainer(
        lambda p: backbone_and_head(),
        TRAIN,
        VAL,
        device="cpu",
        epochs=1,
        batch_size=40,
        lr=0.1,
        scheduler="constant",
        optimizer=recorded,
        lr_groups={"backbone": 0.5},
    )
    hpo.tune(
        trainer, {"lr_groups.backbone": hpo.Categorical([0.01, 0.5])}, searcher="grid", pruner="none", tracking=None
    )
    # Group 0 is the rest (the head) at lr; the backbone's group at lr x the trial's multiplier.
    firsts = {tuple(round(x, 9) for x in groups) for groups in Recorded.groups}
    assert firsts == {(0.1, 0.001), (0.1, 0.05)}


def test_param_groups_take_the_longest_prefix():
    model = backbone_and_head()
    groups = param_groups(model, 1.0, {"backbone": 0.1, "backbone.0": 0.01})
    assert [(g["name"], g["lr"], len(g["params"])) for g in groups] == [("", 1.0, 2), ("backbone.0", 0.01, 2)]


def test_a_freeze_prefix_that_matches_nothing_names_the_closest_before_the_study(tmp_path):
    trainer = TorchTrainer(lambda p: backbone_and_head(), TRAIN, VAL, device="cpu", freeze=["backbon"], epochs=1)
    with pytest.raises(ConfigError) as err:
        hpo.tune(trainer, {"unused": hpo.Categorical([0])}, n_trials=1, tracking=f"sqlite:///{tmp_path}/m.db")
    assert str(err.value).startswith("freeze: 'backbon' matches no parameter; did you mean 'backbone'?")
    assert not (tmp_path / "m.db").exists()  # refused before anything was written


def test_pretrained_weights_from_a_file(tmp_path):
    source = backbone_and_head()
    with torch.no_grad():
        source.head.weight.fill_(0.25)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    torch.save(source, tmp_path / "whole.pt")
    for loaded in (
        load_pretrained(tmp_path / "weights.pt", backbone_and_head()),
        load_pretrained(tmp_path / "whole.pt"),
    ):
        assert torch.equal(loaded.head.weight, source.head.weight)
    with pytest.raises(ConfigError, match=r"pretrained: .*holds a state_dict: pass the architecture"):
        load_pretrained(tmp_path / "weights.pt")
    with pytest.raises(ConfigError, match=r"pretrained: no such file"):
        load_pretrained(tmp_path / "missing.pt")


def test_fine_tune_an_earlier_studys_logged_model(tracking_uri):
    first = TorchTrainer(lambda p: backbone_and_head(), TRAIN, VAL, device="cpu", epochs=3, lr=0.05)
    study = hpo.tune(first, {"unused": hpo.Categorical([0])}, searcher="grid", pruner="none", tracking=tracking_uri)
    # (The default store is ./mlflow.db, the test's folder: tracking_uri's. Setting MLflow's
    # tracking URI here would outlive the test.)
    uri = f"runs:/{study.mlflow_run_id}/model"

    def pretrained(params):
        # MLflow 3 logs a torch.export program: its weights go into the architecture.
        model = load_pretrained(uri, backbone_and_head())
        model.head = nn.Linear(16, 2)  # a new head on the pretrained backbone
        return model

    base = load_pretrained(uri, backbone_and_head())
    fresh = backbone_and_head().state_dict()
    assert not torch.equal(base.state_dict()["backbone.0.weight"], fresh["backbone.0.weight"])
    tuned = _train(pretrained, freeze=["backbone"], lr=0.1)
    assert torch.equal(tuned.state_dict()["backbone.0.weight"], base.state_dict()["backbone.0.weight"])


def test_lora_trains_only_its_adapters_and_is_merged_into_the_logged_model():
    from hpo.trainers._finetune import add_lora, merge_lora

    base = backbone_and_head()
    x = torch.randn(5, 6)
    adapted = add_lora(backbone_and_head(), ["backbone"], rank=2, alpha=4)
    torch.testing.assert_close(adapted(x), base(x))  # B starts at zero: the pretrained function
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable == {"backbone.0.A", "backbone.0.B"}

    trainer = TorchTrainer(
        lambda p: backbone_and_head(),
        TRAIN,
        VAL,
        device="cpu",
        epochs=3,
        lr=0.05,
        lora={"targets": ["backbone"], "rank": 2},
    )
    study = hpo.tune(trainer, {"lora.alpha": hpo.Categorical([8.0])}, searcher="grid", tracking=None)
    assert study.best_params == {"lora.alpha": 8.0}
    tuned = trainer.last_model_  # the adapters' layer, with the best epoch's weights
    merged = trainer.best_model_  # the plain architecture, adapters folded in
    assert {n for n, _ in merged.named_parameters()} == {n for n, _ in base.named_parameters()}
    assert torch.equal(tuned.state_dict()["backbone.0.base.weight"], base.state_dict()["backbone.0.weight"])
    assert torch.equal(tuned.state_dict()["head.weight"], base.state_dict()["head.weight"])  # frozen
    assert not torch.equal(tuned.state_dict()["backbone.0.B"], torch.zeros(16, 2))  # the adapter learned
    torch.testing.assert_close(merged(x), tuned(x), rtol=1e-5, atol=1e-5)  # one trial: the best
    assert merge_lora(add_lora(backbone_and_head(), ["head"], 2, 4.0)).head.weight.shape == (2, 16)
    with pytest.raises(ConfigError, match=r"lora.targets: \['neck'\] hold no nn.Linear layer"):
        hpo.tune(
            TorchTrainer(lambda p: backbone_and_head(), TRAIN, VAL, device="cpu", lora={"targets": ["neck"]}),
            {"unused": hpo.Categorical([0])},
            tracking=None,
            n_trials=1,
        )
