"""One registry pattern: names -> lazily imported module:attr, and any package.module:attr from a
config, for searchers, pruners, executors, trainers and splitters."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import hpo
from hpo import ConfigError
from hpo._executors import InlineExecutor
from hpo._registry import Registry, load_object
from tests.conftest import REPO, hpo_env


class CountingExecutor(InlineExecutor):
    """A user's own executor, named in a config as tests.test_registry:CountingExecutor."""

    started = 0

    def __init__(self, label: str = "x") -> None:
        super().__init__()
        self.label = label

    def start(self, objective, reporter, catch):
        CountingExecutor.started += 1
        super().start(objective, reporter, catch)


def test_registry_loads_names_lazily_and_dotted_targets():
    registry = Registry("widget", {"kfold": "sklearn.model_selection:KFold"})
    assert list(registry) == ["kfold"] and registry["kfold"] == "sklearn.model_selection:KFold"
    assert registry.load("kfold", "cv").__name__ == "KFold"
    assert registry.load("sklearn.model_selection:GroupKFold", "cv").__name__ == "GroupKFold"
    registry.register("group", "sklearn.model_selection:GroupKFold")
    assert registry.load("group", "cv").__name__ == "GroupKFold"
    with pytest.raises(
        ConfigError,
        match=r"^cv: unknown widget 'kfodl', expected one of kfold, group or a "
        r"package.module:attr; did you mean 'kfold'\?$",
    ):
        registry.load("kfodl", "cv")


@pytest.mark.parametrize(
    ("dotted", "message"),
    [
        ("no_such_module_xyz:thing", "searcher: cannot import 'no_such_module_xyz:thing': No module named"),
        ("0:0", "searcher: cannot import '0:0': No module named '0'"),
        (
            "optuna.samplers:NoSuchSampler",
            "searcher: cannot import 'optuna.samplers:NoSuchSampler': module 'optuna.samplers' has no attribute",
        ),
        ("optuna.samplers:", "searcher: expected package.module:attr, got 'optuna.samplers:'"),
    ],
)
def test_bad_dotted_names_are_one_line_errors(dotted, message):
    with pytest.raises(ConfigError) as info:
        load_object(dotted, "searcher")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_config_names_any_sampler_pruner_executor_and_splitter(workdir):
    # The config names the class by its module path, whatever name pytest imported this file under.
    named = load_object("tests.test_registry:CountingExecutor", "executor")
    named.started = 0
    study = hpo.tune(
        lambda p: p["x"] ** 2,
        {"x": {"float": [-1, 1]}},
        n_trials=4,
        searcher={"name": "optuna.samplers:QMCSampler", "qmc_type": "halton"},
        pruner="optuna.pruners:NopPruner",
        executor={"kind": "tests.test_registry:CountingExecutor", "label": "mine"},
        seed=3,
        tracking=None,
    )
    assert len(study.trials) == 4 and named.started == 1
    # Halton points are deterministic for a seed: the same study twice gives the same trials.
    again = hpo.tune(
        lambda p: p["x"] ** 2,
        {"x": {"float": [-1, 1]}},
        n_trials=4,
        seed=3,
        tracking=None,
        searcher={"name": "optuna.samplers:QMCSampler", "qmc_type": "halton"},
    )
    assert [t.params for t in again.trials] == [t.params for t in study.trials]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"searcher": "optuna.pruners:MedianPruner"},
            "searcher: 'optuna.pruners:MedianPruner' is not an Optuna sampler",
        ),
        (
            {"pruner": "optuna.samplers:RandomSampler"},
            "pruner: 'optuna.samplers:RandomSampler' is not an Optuna pruner",
        ),
        (
            {"executor": {"kind": "collections:OrderedDict"}},
            "executor: 'collections:OrderedDict' is not an hpo Executor",
        ),
        (
            {"executor": {"kind": "tests.test_registry:CountingExecutor", "lable": 1}},
            "executor: unknown key 'lable'; did you mean 'label'?",
        ),
    ],
)
def test_dotted_plugins_of_the_wrong_kind_are_refused(kwargs, message):
    with pytest.raises(ConfigError) as info:
        hpo.tune(lambda p: 0.0, {"x": {"float": [0, 1]}}, n_trials=2, tracking=None, **kwargs)
    assert str(info.value).startswith(message), str(info.value)


def test_trainer_and_splitter_from_dotted_names():
    from hpo import trainers

    trainer = trainers.from_config(
        {
            "kind": "hpo.trainers._sklearn:SklearnTrainer",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "cv": {"name": "sklearn.model_selection:ShuffleSplit", "n_splits": 2, "test_size": 0.3},
        },
        {"builtin": "iris"},
    )
    assert type(trainer).__name__ == "SklearnTrainer" and len(trainer.folds) == 2
    with pytest.raises(ConfigError, match=r"^trainer.kind: 'collections:OrderedDict' is not an hpo Trainer class"):
        trainers.from_config({"kind": "collections:OrderedDict"}, {"builtin": "iris"})


def test_core_imports_no_plugin_and_plugins_import_nothing_private():
    code = "import sys, hpo; print(sorted(m for m in sys.modules if m.startswith('hpo.')))"
    out = subprocess.run([sys.executable, "-c", code], env=hpo_env(), capture_output=True, text=True, check=True)
    loaded = eval(out.stdout)  # noqa: S307 -- our own printed list
    assert not [m for m in loaded if m.startswith(("hpo.trainers", "hpo.search_spaces", "hpo._ray"))], loaded
    for folder in ("trainers", "search_spaces"):
        for file in sorted((REPO / folder).glob("*.py")):
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                    private = [n for n in names if n.startswith("hpo._")]
                    assert not private, f"{Path(file).relative_to(REPO)} imports {private} from the core"


BROKEN = {
    "syntax": ("x = 1\n\ndef f(params:\n    return 0\n", "SyntaxError at {file}:3: "),
    "raises": ("import os\n\n\n\nraise RuntimeError('boom')\n", "RuntimeError at {file}:5: boom"),
    "value": (
        "def load():\n    raise ValueError('no data in\\n./data')\n\nDATA = load()\n",
        "ValueError at {file}:2: no data in",
    ),
    "name": (
        "def f(params):\n    return 0\n\nundefined_name\n",
        "NameError at {file}:4: name 'undefined_name' is not defined",
    ),
    "imports": ("from os import no_such_thing\n", "ImportError at {file}:1: cannot import name 'no_such_thing'"),
    "exits": ("import sys\nsys.exit(2)\n", "SystemExit at {file}:2: 2"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_an_objective_module_that_fails_at_import_is_one_line_at_its_file_and_line(case, tmp_path, monkeypatch):
    source, message = BROKEN[case]
    module = f"broken_{case}_objective"
    file = tmp_path / f"{module}.py"
    file.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as info:
        load_object(f"{module}:f", "objective")
    expected = f"objective: cannot import '{module}:f': " + message.format(file=file)
    assert str(info.value).startswith(expected), str(info.value)
    assert "\n" not in str(info.value) and info.value.key == "objective"


def test_the_line_named_is_the_deepest_in_the_users_files(tmp_path, monkeypatch):
    # The objective's module imports a helper of the user's that calls into the standard library.
    (tmp_path / "deep_helper.py").write_text("import json\n\n\ndef read():\n    return json.loads('{')\n\nread()\n")
    (tmp_path / "deep_objective.py").write_text("import deep_helper\n\ndef f(params):\n    return 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as info:
        load_object("deep_objective:f", "trainer.model")
    assert str(info.value).startswith(
        f"trainer.model: cannot import 'deep_objective:f': JSONDecodeError at {tmp_path / 'deep_helper.py'}:5: "
    ), str(info.value)


def test_qualified_name_is_what_load_object_takes():
    from hpo._registry import qualified_name

    assert qualified_name(load_object("optuna.pruners:MedianPruner", "k")) == "optuna.pruners._median:MedianPruner"
    assert load_object(qualified_name(Registry), "k") is Registry
    assert qualified_name(Registry("x", {})) == "hpo._registry:Registry"  # an instance: its class
