"""Search spaces: validation with named one-line errors, YAML forms, grids, Optuna conversion."""

from __future__ import annotations

import math

import optuna
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import hpo
from hpo import Categorical, ConfigError, Float, Int, Space


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"lr": {"float": [0.1, 0.01]}}, "space.lr: low must be < high, got low=0.1, high=0.01"),
        ({"lr": {"float": [0.0, 1.0], "log": True}}, "space.lr: log=True needs low > 0, got low=0.0"),
        ({"n": {"int": [0, 10], "log": True}}, "space.n: log=True needs low >= 1, got low=0"),
        ({"k": {"categorical": []}}, "space.k: choices must not be empty, got []"),
        ({"k": []}, "space.k: choices must not be empty, got []"),
        ({"lr": {"float": [0, 1], "lg": True}}, "space.lr: unknown key 'lg'; did you mean 'log'?"),
        ({"lr": {"flot": [0, 1]}}, "space.lr: unknown key 'flot'; did you mean 'float'?"),
        ({"x": {"float": [0.0, 1.0], "step": 0.3}}, "space.x: step=0.3 does not divide the range [0.0, 1.0]"),
        ({"n": {"int": [0, 10], "step": 3}}, "space.n: step=3 does not divide the range [0, 10]"),
        ({"n": {"int": [0.5, 10]}}, "space.n: low must be an integer, got 0.5"),
        ({"x": {"float": ["a", 1]}}, "space.x.low: expected a number, got 'a'"),
        ({"x": {"float": [1]}}, "space.x.float: expected [low, high], got [1]"),
        ({"x": 5}, "space.x: expected {float: [low, high]}"),
        ({"x": {"type": "float", "low": 1}}, "space.x: missing key 'high'"),
        (
            {"x": {"type": "floaty", "low": 1, "high": 2}},
            "space.x.type: expected float, int or categorical, got 'floaty'",
        ),
        ({"k": ["a", "a"]}, "space.k: choice 'a' is repeated"),
        ({"k": [[1, 2]]}, "space.k: choices must be None, bool, int, float or str, got [1, 2]"),
        ({}, "space: must define at least one hyperparameter"),
    ],
)
def test_bad_space_names_the_parameter_and_value(spec, message):
    with pytest.raises(ConfigError) as info:
        Space.from_dict(spec)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_python_domains_validate_too():
    with pytest.raises(ConfigError, match="low must be < high"):
        Float(1.0, 0.5)
    with pytest.raises(ConfigError, match="step=2 cannot be combined with log=True"):
        Int(1, 9, log=True, step=2)
    with pytest.raises(ConfigError, match="step cannot be combined with log=True"):
        Float(0.1, 1.0, log=True, step=0.1)


def test_a_domain_built_wrong_reads_as_its_call():
    # Python builds the Float before the space that would name it: the error names the call as
    # written (the traceback points at its line); the dict and YAML forms name the parameter.
    with pytest.raises(ConfigError) as info:
        Space({"lr": Float(5, -5)})
    assert str(info.value) == "Float(low=5, high=-5): low must be < high, got low=5, high=-5"
    with pytest.raises(ConfigError) as info:
        Int(1, 9, log=True, step=2)
    assert str(info.value) == "Int(low=1, high=9, log=True, step=2): step=2 cannot be combined with log=True"
    with pytest.raises(ConfigError, match=r"^space\.lr: low must be < high, got low=5, high=-5$"):
        Space({"lr": {"float": [5, -5]}})


def test_numpy_values_become_python_values():
    np = pytest.importorskip("numpy")
    yaml = pytest.importorskip("yaml")
    # scikit-learn's param_grid style: arrays of choices, numpy scalars in lists, tuples.
    space = Space(
        {
            "C": np.logspace(-3, 3, 3),
            "k": [np.int64(1), np.int64(3)],
            "kernel": np.array(["rbf", "linear"]),
            "shrink": (True, np.bool_(False)),
            "n": Int(np.int64(1), np.int64(5)),
            "lr": {"float": np.array([0.01, 0.1]), "log": True},
        }
    )
    assert space == Space(
        {
            "C": [0.001, 1.0, 1000.0],
            "k": [1, 3],
            "kernel": ["rbf", "linear"],
            "shrink": [True, False],
            "n": Int(1, 5),
            "lr": Float(0.01, 0.1, log=True),
        }
    )
    for choices in (space["C"].choices, space["k"].choices, space["kernel"].choices, space["shrink"].choices):
        assert all(type(c) in (float, int, str, bool) for c in choices), choices
    assert Categorical(np.array([0.5, 2.0])).choices == (0.5, 2.0)
    assert type(Categorical([np.float64(0.5)]).choices[0]) is float  # a float subclass: still converted
    # Plain values write as YAML (hpo best, the MLflow params) and run on the grid.
    assert Space.from_yaml(yaml.safe_dump(space.to_dict())) == space
    study = hpo.tune(lambda p: p["C"], {"C": np.logspace(-1, 1, 3)}, searcher="grid", tracking=None)
    assert sorted(t.params["C"] for t in study.trials) == [0.1, 1.0, 10.0]


def test_a_list_of_param_grids_is_refused_on_one_line():
    grids = [{"kernel": ["rbf"], "gamma": [0.1, 1.0]}, {"kernel": ["linear"]}]
    message = (
        r"^space: a list of 2 spaces \(scikit-learn's list of param grids\) is not supported yet; "
        r"run one study per grid, or use one space$"
    )
    with pytest.raises(ConfigError, match=message):
        Space(grids)
    with pytest.raises(ConfigError, match=message):
        hpo.tune(lambda p: 0.0, grids, n_trials=1, tracking=None)


def test_a_ready_made_space_under_a_pipeline_step():
    from hpo import search_spaces
    from hpo._space import space_from_spec

    plain = search_spaces.load("gradient_boosting")
    space = space_from_spec({"preset": "gradient_boosting", "step": "hgb"})
    assert list(space) == [f"hgb__{name}" for name in plain]
    assert [space[f"hgb__{name}"] for name in plain] == list(plain.values())
    assert search_spaces.load("gradient_boosting", step="hgb") == space
    # It writes as the expanded form, which reads back the same.
    assert Space.from_dict(space.to_dict()) == space and "hgb__learning_rate" in space.to_dict()
    assert space_from_spec({"preset": "svc"}) == search_spaces.load("svc")  # no step: as by name
    # A parameter may still be called preset or step: only a string there means this form.
    assert list(space_from_spec({"preset": [1, 2], "step": {"int": [1, 3]}})) == ["preset", "step"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"preset": "gradient_boostin", "step": "hgb"},
            "space.preset: no ready-made space named 'gradient_boostin'; did you mean 'gradient_boosting'?",
        ),
        ({"preset": "svc", "stpe": "svc"}, "space: unknown key 'stpe'; did you mean 'step'?"),
        ({"presett": "svc", "step": "svc"}, "space: unknown key 'presett'; did you mean 'preset'?"),
        ({"step": "svc"}, "space: missing key 'preset' (a ready-made space's name), got {'step': 'svc'}"),
        (
            {"preset": "svc", "step": "svc__"},
            "space.step: expected the name of a Pipeline step (its parameters are STEP__NAME), got 'svc__'",
        ),
        ({"preset": "svc", "step": 3}, "space.step: expected the name of a Pipeline step"),
        ({"preset": "svc", "step": "svc", "C": [1, 2]}, "space: unknown key 'C'; allowed: preset, step"),
        (5, "space: expected a mapping of parameters, a ready-made space's name or {preset: NAME, step: STEP}, got 5"),
    ],
)
def test_bad_preset_specs_name_the_key(spec, message):
    with pytest.raises(ConfigError) as info:
        hpo.tune(lambda p: 0.0, spec, n_trials=1, tracking=None)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_yaml_forms_are_equivalent():
    compact = Space.from_yaml(
        """
        lr: {float: [1e-4, 1.0e-1], log: true}
        depth: {int: [2, 8], step: 2}
        kernel: [rbf, linear]
        """
    )
    long = Space.from_dict(
        {
            "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
            "depth": {"type": "int", "low": 2, "high": 8, "step": 2},
            "kernel": {"type": "categorical", "choices": ["rbf", "linear"]},
        }
    )
    python = Space(
        {"lr": Float(1e-4, 0.1, log=True), "depth": Int(2, 8, step=2), "kernel": Categorical(["rbf", "linear"])}
    )
    assert compact == long == python
    assert Space.from_dict(python.to_dict()) == python


def test_to_optuna():
    space = Space({"lr": Float(1e-4, 0.1, log=True), "n": Int(1, 9, step=2), "k": Categorical([1, "a", None])})
    dists = space.to_optuna()
    assert dists["lr"] == optuna.distributions.FloatDistribution(1e-4, 0.1, log=True)
    assert dists["n"] == optuna.distributions.IntDistribution(1, 9, step=2)
    assert dists["k"] == optuna.distributions.CategoricalDistribution([1, "a", None])


def test_grid_enumeration_is_exact():
    space = Space({"x": Float(0.0, 1.0, step=0.1), "n": Int(2, 8, step=3), "k": ["a", "b"]})
    values = space.grid_values()
    assert values["x"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert values["n"] == [2, 5, 8]
    points = space.grid()
    assert len(points) == space.grid_size() == 11 * 3 * 2
    assert len({tuple(p.values()) for p in points}) == len(points)
    assert all(space.contains(p) for p in points)


def test_continuous_domain_in_grid_is_a_clear_error():
    space = Space({"lr": Float(1e-4, 0.1, log=True), "k": ["a"]})
    with pytest.raises(ConfigError, match=r"^space\.lr: .* is continuous and cannot be enumerated"):
        space.grid_values()
    with pytest.raises(ConfigError, match=r"^space\.lr: "):
        hpo.tune(lambda p: 0.0, space, searcher="grid", tracking=None)


# -- random and TPE respect every domain, on many seeds (hypothesis) ---------------------------


@st.composite
def domains(draw):
    kind = draw(st.sampled_from(["float", "float_log", "float_step", "int", "int_log", "int_step", "cat"]))
    if kind == "cat":
        return Categorical(
            draw(st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=3)), min_size=1, max_size=4, unique=True))
        )
    if kind.startswith("int"):
        low = draw(st.integers(1 if kind == "int_log" else -50, 50))
        step = draw(st.integers(1, 5)) if kind == "int_step" else 1
        n = draw(st.integers(1, 20))
        return Int(low, low + step * n, log=kind == "int_log", step=step)
    if kind == "float_step":
        low = draw(st.integers(-10, 10)) / 4
        step = draw(st.sampled_from([0.25, 0.5, 1.0]))
        return Float(low, low + step * draw(st.integers(1, 12)), step=step)
    low = draw(st.floats(1e-6, 10)) if kind == "float_log" else draw(st.floats(-100, 100))
    return Float(low, low + draw(st.floats(1e-3, 100)), log=kind == "float_log")


@settings(max_examples=40, deadline=None)
@given(
    space=st.dictionaries(st.sampled_from(list("abcdef")), domains(), min_size=1, max_size=4),
    seed=st.integers(0, 10_000),
    searcher=st.sampled_from(["random", {"name": "tpe", "n_startup_trials": 3}]),
)
def test_random_and_tpe_respect_every_domain(space, seed, searcher):
    space = Space(space)
    seen = []

    def objective(params):
        assert space.contains(params), params
        for name, value in params.items():
            if isinstance(space[name], Int):
                assert type(value) is int
        seen.append(params)
        return sum(
            v for v in params.values() if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        )

    hpo.tune(objective, space, n_trials=8, searcher=searcher, seed=seed, tracking=None)
    assert len(seen) == 8


# -- conditional spaces ----------------------------------------------------------------------------

CASH_YAML = """
model:
  choice:
    svc:
      C: {float: [0.1, 100], log: true}
      kernel:
        choice:
          rbf: {gamma: {float: [1.0e-4, 1], log: true}}
          poly: {degree: [2, 3, 4]}
    logistic_regression:
      C: {float: [0.01, 10], log: true}
    knn: {}
scale: [true, false]
"""


def test_a_conditional_space_round_trips_between_yaml_and_python():
    from hpo import Choice

    space = Space.from_yaml(CASH_YAML)
    assert space.conditional and not Space({"x": Float(0, 1)}).conditional
    by_hand = Space(
        {
            "model": Choice(
                {
                    "svc": {
                        "C": Float(0.1, 100, log=True),
                        "kernel": Choice({"rbf": {"gamma": Float(1e-4, 1, log=True)}, "poly": {"degree": [2, 3, 4]}}),
                    },
                    "logistic_regression": {"C": Float(0.01, 10, log=True)},
                    "knn": None,
                }
            ),
            "scale": [True, False],
        }
    )
    assert space == by_hand
    assert Space.from_dict(space.to_dict()) == space
    assert Space.from_yaml(yaml.safe_dump(space.to_dict())) == space
    assert list(space.paths()) == [
        "model",
        "model.svc.C",
        "model.svc.kernel",
        "model.svc.kernel.rbf.gamma",
        "model.svc.kernel.poly.degree",
        "model.logistic_regression.C",
        "scale",
    ]


def test_the_objective_gets_the_active_parameters_by_their_own_names():
    space = Space.from_yaml(CASH_YAML)
    by_path = {"model": "svc", "model.svc.C": 1.0, "model.svc.kernel": "poly", "model.svc.kernel.poly.degree": 3}
    by_path["scale"] = True
    assert space.contains(by_path)
    assert space.objective_params(by_path) == {"model": "svc", "C": 1.0, "kernel": "poly", "degree": 3, "scale": True}
    assert not space.contains({**by_path, "model.logistic_regression.C": 1.0})  # an inactive one
    assert not space.contains({"model": "knn"})  # scale missing
    assert space.contains({"model": "knn", "scale": False})


def test_a_grid_over_branches_is_the_sum_of_their_products():
    space = Space({"m": {"choice": {"a": {"k": [1, 2, 3]}, "b": {"k": [1, 2], "j": [0, 1]}, "c": None}}, "s": [0, 1]})
    points = space.grid()
    assert space.grid_size() == len(points) == (3 + 2 * 2 + 1) * 2
    assert len({tuple(sorted(p.items())) for p in points}) == len(points)
    assert {"m": "c", "s": 1} in points and {"m": "b", "m.b.k": 2, "m.b.j": 0, "s": 0} in points


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"m": {"choice": {}}}, "space.m: a choice needs at least one branch, got {}"),
        ({"m": {"choice": {"svc": {"C": {"float": [2, 1]}}}}}, "space.m.svc.C: low must be < high, got low=2, high=1"),
        ({"m": {"choice": {"": {}}}}, "space.m: branch names must be non-empty strings, got ''"),
        (
            {"m": {"choice": {"a.b": {"C": [1]}, "a": {"b.C": [2]}}}},
            "space.m.a.b.C: two parameters would have this path",
        ),
        ({"m": {"choice": ["svc"]}}, "space.m: expected a mapping of branch name to sub-space, got ['svc']"),
        ({"m": {"choice": {"a": {"x": [1]}}}, "x": [2]}, "space.m.a.x: 'x' is also the name of a parameter"),
        ({"m": {"choice": {"a": {"m": [1]}}}}, "space.m.a.m: 'm' is also the name of a parameter"),
        (
            {"m": {"choice": {"a": {"x": [1]}}}, "n": {"choice": {"b": {"x": [2]}}}},
            "space.n.b.x: 'x' is also the name of a parameter",
        ),
    ],
)
def test_bad_conditional_spaces_name_the_full_path(spec, message):
    with pytest.raises(ConfigError) as err:
        Space(spec)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_branches_may_repeat_a_name_and_a_repeated_branch_is_refused():
    Space({"m": {"choice": {"a": {"C": [1]}, "b": {"C": [2]}}}})  # never active together
    with pytest.raises(ConfigError, match=r"^space.m.choice.a: repeated at line 4; each key once"):
        Space.from_yaml("m:\n  choice:\n    a: {C: [1]}\n    a: {C: [2]}\n")
    with pytest.raises(ConfigError, match=r"space.m.a.C: .* is continuous and cannot be enumerated"):
        Space({"m": {"choice": {"a": {"C": {"float": [0, 1]}}}}}).grid()
