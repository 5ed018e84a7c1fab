"""Constraints: parameter constraints keep infeasible configurations from running, outcome
constraints make the best trial the best feasible one; the expressions are parsed, never
evaluated as code."""

from __future__ import annotations

import pytest

import hpo
from hpo import ConfigError
from hpo._constraints import Constraints, OutcomeConstraints
from tests.conftest import hpo_cli, study_runs

NAMES = ["n_layers", "width", "n_estimators", "max_depth"]


def test_expressions_over_parameters():
    c = Constraints(["n_layers * width <= 4096", "n_estimators < 500 or max_depth is None"], NAMES)
    assert c.feasible({"n_layers": 4, "width": 1024, "n_estimators": 900, "max_depth": None})
    assert not c.feasible({"n_layers": 4, "width": 2048, "n_estimators": 100, "max_depth": None})
    assert not c.feasible({"n_layers": 1, "width": 8, "n_estimators": 900, "max_depth": 3})
    # A parameter of another branch is absent: the expression does not apply.
    assert c.feasible({"n_layers": 1, "width": 8})
    assert Constraints(["max(width, 2) // 2 == 4 if n_layers > 1 else True"], NAMES).feasible(
        {"width": 8, "n_layers": 2}
    )
    assert not Constraints(["width / n_layers > 1"], NAMES).feasible({"width": 1, "n_layers": 0})  # no crash


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "constraints[0]: calling '__import__' is not allowed (only abs, min, max"),
        ("().__class__.__bases__", "constraints[0]: Attribute"),
        ("[x for x in width]", "constraints[0]: ListComp"),
        ("lambda: width", "constraints[0]: Lambda"),
        ("widht <= 3", "constraints[0]: unknown parameter 'widht'; did you mean 'width'?"),
        ("3 < 4", "constraints[0]: not an expression over parameters: '3 < 4' names none"),
        ("import os", "constraints[0]: not an expression over parameters: invalid syntax in 'import os'"),
        ("width <", "constraints[0]: not an expression over parameters:"),
        ("abs", "constraints[0]: 'abs' is a function: call it"),
        ("", "constraints[0]: expected an expression like 'a * b <= 10', got ''"),
    ],
)
def test_anything_but_an_expression_over_parameters_is_a_one_line_error(text, message):
    with pytest.raises(ConfigError) as err:
        Constraints([text], NAMES)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_huge_power_is_refused_when_evaluated_not_computed():
    assert not Constraints(["width ** 9 ** 9 > 1"], NAMES).feasible({"width": 9})


def test_outcome_constraints_are_optuna_constraint_values():
    oc = OutcomeConstraints(["fit_time_s <= 2", "value >= 0.9"])
    assert oc.metrics == ["fit_time_s", "value"]
    assert oc.values({"fit_time_s": 1.5, "value": 0.95}) == pytest.approx([-0.5, -0.05])
    assert oc.values({"value": 0.95}) is None
    with pytest.raises(ConfigError, match=r"^outcome_constraints\[0\]: expected one comparison like"):
        OutcomeConstraints(["fit_time_s"])


def objective(params, trial):
    assert params["a"] * params["b"] <= 20, params  # never an infeasible configuration
    trial.log_metric("cost", params["a"] * params["b"])
    return -(params["a"] + params["b"])


@pytest.mark.parametrize("searcher", ["tpe", "random", "grid"])
def test_infeasible_configurations_never_run_and_the_best_is_feasible(searcher, tracking_uri, mlflow_client):
    space = {"a": hpo.Int(1, 10), "b": hpo.Int(1, 10)}
    study = hpo.tune(
        objective,
        space,
        n_trials=None if searcher == "grid" else 25,
        searcher=searcher,
        seed=0,
        direction="minimize",
        tracking=tracking_uri,
        constraints=["a * b <= 20"],
        outcome_constraints=["cost <= 12"],
    )
    counts = study.counts()
    assert counts["infeasible"] > 0 and counts["failed"] == 0
    if searcher != "grid":
        assert counts["complete"] == 25  # infeasible ones take no slot of n_trials
    best = study.best_trial
    assert best.params["a"] * best.params["b"] <= 12
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    feasible = [t.value for t in complete if t.params["a"] * t.params["b"] <= 12]
    assert best.value == min(feasible) and best.value > min(t.value for t in complete)
    (parent,), children = study_runs(mlflow_client, study.name)
    assert len(children) == len(complete)  # an infeasible configuration has no run
    assert parent.data.metrics["n_infeasible"] == study.infeasible()


def test_constraints_in_a_conditional_space_apply_to_their_branch():
    seen = []

    def record(params):
        seen.append(params)
        return params.get("x", 0.0)

    space = {"m": hpo.Choice({"a": {"x": hpo.Float(0, 1)}, "b": {"y": hpo.Float(0, 1)}})}
    hpo.tune(record, space, n_trials=30, seed=0, direction="minimize", tracking=None, constraints=["x >= 0.5"])
    assert all(p["x"] >= 0.5 for p in seen if p["m"] == "a")
    assert any(p["m"] == "b" for p in seen)


def test_a_space_constrained_to_nothing_is_refused_before_the_study(tmp_path):
    with pytest.raises(ConfigError, match=r"^constraints: none of 2000 random configurations of the space meets"):
        hpo.tune(
            objective,
            {"a": hpo.Int(1, 10), "b": hpo.Int(1, 10)},
            n_trials=3,
            constraints=["a > 10"],
            tracking=f"sqlite:///{tmp_path}/m.db",
        )
    assert not (tmp_path / "m.db").exists()


CONFIG = """
name: {name}
objective: cons_objective:objective
space: {{a: {{int: [1, 10]}}, b: {{int: [1, 10]}}}}
n_trials: 8
seed: 0
direction: minimize
tracking: null
{extra}
"""

OBJECTIVE = """
def objective(params, trial):
    trial.log_metric("cost", params["a"] * params["b"])
    return -(params["a"] + params["b"])
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("constraints: [a * c <= 20]", "error: constraints[0]: unknown parameter 'c'; known: a, b\n"),
        ("constraints: [\"__import__('os')\"]", "error: constraints[0]: calling '__import__' is not allowed"),
        ("constraints: [a > 10]", "error: constraints: none of 2000 random configurations"),
        ("constraints: 5", "error: constraints: expected a list of expressions like 'a * b <= 10', got 5\n"),
    ],
)
def test_bad_constraints_exit_2_one_line_nothing_written(workdir, extra, message):
    (workdir / "cons_objective.py").write_text(OBJECTIVE)
    (workdir / "c.yaml").write_text(CONFIG.format(name="cons", extra=extra))
    before = sorted(p.name for p in workdir.iterdir())
    result = hpo_cli("run", "c.yaml", cwd=workdir)
    assert (result.returncode, result.stderr[: len(message)]) == (2, message), result.stderr
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in workdir.iterdir() if p.name != "__pycache__") == before


def test_hpo_best_says_how_many_trials_were_infeasible(workdir):
    (workdir / "cons_objective.py").write_text(OBJECTIVE)
    extra = "constraints: [a * b <= 20]\noutcome_constraints: [cost <= 12]"
    (workdir / "c.yaml").write_text(CONFIG.format(name="best", extra=extra))
    assert hpo_cli("run", "c.yaml", cwd=workdir).returncode == 0
    best = hpo_cli("best", "best", cwd=workdir)
    assert best.returncode == 0, best.stderr
    first = best.stdout.splitlines()[0]
    assert first.startswith("# best feasible trial ") and "trials infeasible (constraints)" in first
    import yaml

    params = yaml.safe_load(best.stdout)
    assert params["a"] * params["b"] <= 12
