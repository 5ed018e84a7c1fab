"""Search spaces: validation with named one-line errors, YAML forms, grids, Optuna conversion."""

from __future__ import annotations

import math

import optuna
import pytest
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
