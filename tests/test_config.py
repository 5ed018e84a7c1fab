"""Study configs: safe YAML, every key checked, one-line errors naming the key."""

from __future__ import annotations

import pytest

from hpo import ConfigError, Float, Space
from hpo._config import import_objective, load_config

GOOD = """
name: cfg
objective: mod:objective
space:
  lr: {float: [1e-4, 1e-1], log: true}
  k: [a, b]
n_trials: 4
searcher: {name: tpe, n_startup_trials: 2}
pruner: none
seed: 1
tracking: null
storage: study.journal
"""


def _write(workdir, text, name="study.yaml"):
    path = workdir / name
    path.write_text(text)
    return path


def test_good_config(workdir):
    config = load_config(_write(workdir, GOOD))
    assert config.name == "cfg"
    assert config.space == Space({"lr": Float(1e-4, 1e-1, log=True), "k": ["a", "b"]})
    assert config.settings.searcher == {"name": "tpe", "n_startup_trials": 2}
    assert config.settings.tracking is None
    assert config.settings.storage == str(workdir / "study.journal")  # relative to the config's folder
    assert config.text == GOOD


def test_space_by_name_and_by_file(workdir):
    config = load_config(_write(workdir, "objective: m:f\nspace: svc\n"))
    assert set(config.space) == {"C", "gamma"}
    assert config.name == "study"  # the file's stem
    _write(workdir, "a: {int: [1, 5]}\n", "space.yaml")
    assert set(load_config(_write(workdir, "objective: m:f\nspace: space.yaml\n")).space) == {"a"}


def test_a_ready_made_space_under_a_pipeline_step(workdir):
    from hpo import search_spaces

    config = load_config(_write(workdir, "objective: m:f\nspace: {preset: gradient_boosting, step: hgb}\n"))
    assert config.space == search_spaces.load("gradient_boosting", step="hgb")
    assert set(config.space) == {f"hgb__{name}" for name in search_spaces.load("gradient_boosting")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("objective: m:f\nspace: svc\nn_trail: 3\n", "config: unknown key 'n_trail'; did you mean 'n_trials'?"),
        ("space: svc\n", "objective: give either objective: package.module:function or a trainer: block, got neither"),
        (
            "objective: m:f\ntrainer: {kind: sklearn}\nspace: svc\n",
            "objective: give either objective: package.module:function or a trainer: block, got both",
        ),
        ("objective: m:f\nspace: svc\ndata: {builtin: iris}\n", "data: only used by a trainer: block"),
        ("objective: m.f\nspace: svc\n", "objective: expected package.module:function, got 'm.f'"),
        ("objective: m:f\n", "space: missing key"),
        ("objective: m:f\nspace: svm\n", "space: no ready-made space named 'svm'; did you mean 'svc'?"),
        ("objective: m:f\nspace: nothere.yaml\n", "space: file"),
        (
            "objective: m:f\nspace: {preset: gradient_boosting, stpe: hgb}\n",
            "space: unknown key 'stpe'; did you mean 'step'?",
        ),
        (
            "objective: m:f\nspace: {preset: svm, step: svc}\n",
            "space.preset: no ready-made space named 'svm'; did you mean 'svc'?",
        ),
        ("objective: m:f\nspace: {preset: svc, step: ''}\n", "space.step: expected the name of a Pipeline step"),
        (
            "objective: m:f\nspace: [{kernel: [rbf]}, {kernel: [linear]}]\n",
            "space: a list of 2 spaces (scikit-learn's list of param grids) is not supported yet",
        ),
        ("objective: m:f\nspace: 3\n", "space: expected a mapping of parameters, a ready-made space's name or"),
        ("objective: m:f\nspace: {lr: {float: [1, 0]}}\n", "space.lr: low must be < high, got low=1, high=0"),
        (
            "objective: m:f\nspace: svc\nname: 'a b'\n",
            "name: expected letters, digits, '.', '_' or '-' (a folder name), got 'a b'",
        ),
        ("objective: m:f\nspace: [svc\n", "config: invalid YAML at line 3"),
        ("- just\n- a list\n", "config: expected a mapping of keys"),
        ("objective: m:f\nspace: !!python/object/apply:os.system [echo hi]\n", "config: invalid YAML"),
    ],
)
def test_bad_configs_are_one_line_errors_naming_the_key(workdir, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(_write(workdir, text))
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(workdir):
    with pytest.raises(ConfigError, match=r"^config: file 'nope.yaml' does not exist$"):
        load_config("nope.yaml")


def test_import_objective(workdir):
    (workdir / "my_objectives.py").write_text("def f(params):\n    return 1.0\nvalue = 3\n")
    assert import_objective("my_objectives:f", [str(workdir)])({}) == 1.0
    with pytest.raises(
        ConfigError, match=r"^objective: cannot import 'no_such_module:f': No module named 'no_such_module'"
    ):
        import_objective("no_such_module:f", [str(workdir)])
    with pytest.raises(
        ConfigError, match=r"^objective: cannot import 'my_objectives:g': module 'my_objectives' has no attribute 'g'$"
    ):
        import_objective("my_objectives:g", [str(workdir)])
    with pytest.raises(ConfigError, match=r"^objective: 'my_objectives:value' is not callable, got int$"):
        import_objective("my_objectives:value", [str(workdir)])
