"""Several objectives: declaring them, what a trial returns, the Pareto front, select, the
searchers that take them, pruning on one, and the one-line errors of bad input."""

from __future__ import annotations

import math

import optuna
import pytest

import hpo
from hpo import ConfigError
from hpo._objectives import Objectives, Select, check_objectives

SPACE = {"x": hpo.Float(0.0, 1.0), "y": hpo.Float(0.0, 1.0)}
NAMED = {"f1": "minimize", "f2": "minimize"}


def two(params):
    """Schaffer-like: f1 = x, f2 = (1 - x) + y (the front is y = 0, any x)."""
    return {"f1": params["x"], "f2": 1.0 - params["x"] + params["y"]}


def dominated(a, b):
    """Whether values a are dominated by values b (minimizing both)."""
    return all(bj <= aj for aj, bj in zip(a, b)) and any(bj < aj for aj, bj in zip(a, b))


def test_named_objectives_give_a_pareto_front(workdir):
    study = hpo.tune(two, SPACE, objectives=NAMED, n_trials=25, seed=0, tracking=None)
    assert study.multi_objective and study.objective_names == ["f1", "f2"]
    assert study.directions == ["minimize", "minimize"]
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    expected = [t.number for t in complete if not any(dominated(t.values, o.values) for o in complete)]
    assert [t.number for t in study.best_trials] == expected and expected
    with pytest.raises(hpo.HPOError, match="no single best trial; read study.best_trials"):
        _ = study.best_trial
    df = study.trials_df()
    assert list(df.columns[:5]) == ["number", "state", "values.f1", "values.f2", "pareto"]
    assert sorted(df.loc[df["pareto"], "number"]) == expected
    assert "objectives={f1: minimize, f2: minimize}" in repr(study)


def test_a_tuple_with_bare_directions(workdir):
    study = hpo.tune(
        lambda p: (p["x"], -p["y"]), SPACE, directions=["minimize", "maximize"], n_trials=8, seed=0, tracking=None
    )
    assert study.objective_names == ["values_0", "values_1"]
    assert all(t.values == [t.params["x"], -t.params["y"]] for t in study.trials)


@pytest.mark.parametrize(
    ("returned", "reason"),
    [
        ({"f1": 1.0}, "objective returned no f2 (got f1; expected f1, f2)"),
        ((1.0, 2.0, 3.0), "objective returned 3 values, expected 2 (f1, f2)"),
        (0.5, "objective returned float 0.5, expected 2 values (f1, f2): a tuple or a dict"),
        ({"f1": 1.0, "f2": float("nan")}, "objective returned nan for f2"),
        ({"f1": "a", "f2": 1.0}, "objective returned str 'a' for f1, expected a float"),
    ],
)
def test_a_wrong_result_fails_the_trial_with_the_reason(returned, reason, workdir):
    with pytest.raises(hpo.AllTrialsFailedError) as info:
        hpo.tune(lambda p: returned, SPACE, objectives=NAMED, n_trials=2, seed=0, tracking=None)
    errors = set(info.value.study.trials_df()["error"])
    assert errors == {reason}


def test_a_single_named_objective_is_a_plain_study(workdir):
    study = hpo.tune(
        lambda p: {"loss": p["x"]}, SPACE, objectives={"loss": "minimize"}, n_trials=5, seed=0, tracking=None
    )
    assert not study.multi_objective and study.objective_names == ["loss"]
    assert study.best_value == min(t.value for t in study.trials)
    plain = hpo.tune(lambda p: p["x"], SPACE, n_trials=5, seed=0, tracking=None)
    assert plain.objective_names == ["value"] and plain.best_trials == [plain.best_trial]


def test_select_picks_by_one_objective_where_or_by_weights(workdir):
    study = hpo.tune(
        two,
        SPACE,
        objectives=NAMED,
        n_trials=30,
        seed=1,
        tracking=None,
        select={"minimize": "f1", "where": "f2 <= 0.6"},
    )
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    eligible = [t for t in complete if t.values[1] <= 0.6]
    assert study.selected_trial.number == min(eligible, key=lambda t: t.values[0]).number
    assert study.selected_params == study.selected_trial.params
    weights = study.select({"weights": {"f1": 1.0, "f2": 3.0}})
    assert weights.number == min(complete, key=lambda t: t.values[0] + 3 * t.values[1]).number
    with pytest.raises(hpo.HPOError, match=r"no complete trial meets select \(minimize f1 where f2 <= -1\)"):
        study.select({"minimize": "f1", "where": "f2 <= -1"})


def test_the_hypervolume_against_a_reference_point(workdir):
    points = iter([(0.2, 0.8), (0.5, 0.5), (0.8, 0.2), (0.9, 0.9)])
    study = hpo.tune(lambda p: next(points), SPACE, directions=["minimize", "minimize"], n_trials=4, tracking=None)
    # Three steps under (1, 1): 0.8*0.2 + 0.5*0.3 + 0.2*0.3; (0.9, 0.9) adds nothing.
    assert study.hypervolume([1.0, 1.0]) == pytest.approx(0.16 + 0.15 + 0.06)
    assert study.hypervolume({"values_0": 1.0, "values_1": 1.0}) == pytest.approx(0.37)
    assert study.reference_point == [0.9, 0.9]  # the worst of each, by default
    with pytest.raises(ConfigError, match=r"^reference_point: expected 2 values, one per objective"):
        study.hypervolume([1.0])


@pytest.mark.parametrize("searcher", ["tpe", "nsga2", "nsga3", "random", "qmc", "gp"])
def test_searchers_of_several_objectives(searcher, workdir):
    study = hpo.tune(two, SPACE, objectives=NAMED, searcher=searcher, n_trials=12, seed=0, tracking=None)
    assert study.counts()["complete"] == 12 and study.best_trials


def test_grid_of_several_objectives(workdir):
    space = {"x": [0.0, 0.5, 1.0], "y": [0.0, 1.0]}
    study = hpo.tune(two, space, objectives=NAMED, searcher="grid", tracking=None)
    assert sorted((t.params["x"], t.params["y"]) for t in study.best_trials) == [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0)]


def test_pruning_on_one_objective_and_pruned_trials_never_on_the_front(workdir):
    def reports(params, trial):
        for step in range(4):
            trial.report(params["x"] + step, step)  # f1's running value: large x is hopeless
        return two(params)

    study = hpo.tune(
        reports,
        SPACE,
        objectives=NAMED,
        pruner={"name": "median", "n_startup_trials": 3},
        prune_on="f1",
        n_trials=30,
        seed=0,
        tracking=None,
    )
    pruned = {t.number for t in study.trials if t.state.name == "PRUNED"}
    assert pruned and not pruned & {t.number for t in study.best_trials}
    kept = [t for t in study.trials if t.number in pruned][0]
    assert kept.user_attrs["hpo:intermediate"]  # for a resumed study's pruner


def test_a_resumed_study_prunes_from_the_stored_values(workdir):
    def reports(params, trial):
        for step in range(3):
            trial.report(params["x"], step)
        return two(params)

    options = dict(
        objectives=NAMED, pruner={"name": "median", "n_startup_trials": 3}, prune_on="f1", seed=0, tracking=None
    )
    storage = f"sqlite:///{workdir / 'study.db'}"
    hpo.tune(reports, SPACE, n_trials=6, storage=storage, study_name="s", **options)
    # The pruner of the second run starts from the six trials of the first: it prunes at once.
    study = hpo.tune(reports, SPACE, n_trials=20, storage=storage, study_name="s", **options)
    assert any(t.state.name == "PRUNED" for t in study.trials[6:9])


def test_the_default_pruner_prunes_nothing_without_prune_on(workdir):
    def reports(params, trial):
        trial.report(params["x"], 0)
        return two(params)

    study = hpo.tune(reports, SPACE, objectives=NAMED, n_trials=10, seed=0, tracking=None)
    assert study.counts()["complete"] == 10


def test_a_resumed_study_keeps_its_objectives(workdir):
    storage = f"sqlite:///{workdir / 'study.db'}"
    hpo.tune(two, SPACE, objectives=NAMED, n_trials=2, storage=storage, study_name="s", tracking=None)
    with pytest.raises(ConfigError, match=r"^objectives: study 's' exists with objectives f1, f2, got a, b$"):
        hpo.tune(
            two,
            SPACE,
            objectives={"a": "minimize", "b": "minimize"},
            n_trials=4,
            storage=storage,
            study_name="s",
            tracking=None,
        )
    with pytest.raises(ConfigError, match=r"^objectives: study 's' exists with directions \['minimize', 'minimize'\]"):
        hpo.tune(lambda p: 1.0, SPACE, n_trials=4, storage=storage, study_name="s", tracking=None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"direction": "minimize", "directions": ["minimize", "minimize"]},
            "directions: give one of direction (one objective), directions or objectives (several), "
            "got direction and directions",
        ),
        (
            {"directions": ["minimize", "maximise"]},
            "directions[1]: expected 'minimize' or 'maximize', got 'maximise'; did you mean 'maximize'?",
        ),
        (
            {"objectives": {"f1": "down", "f2": "minimize"}},
            "objectives.f1: expected 'minimize' or 'maximize', got 'down'",
        ),
        ({"objectives": [("f1", "minimize"), ("f1", "maximize")]}, "objectives.f1: named twice"),
        ({"objectives": {"f 1": "minimize"}}, "objectives: expected names like accuracy or latency_ms, got 'f 1'"),
        (
            {"objectives": NAMED, "select": {"maximize": "acc"}},
            "select.maximize: unknown objective 'acc'; the objectives: f1, f2",
        ),
        (
            {"objectives": NAMED, "select": {"minimize": "f1", "where": "latency <= 5"}},
            "select.where: unknown objective 'latency'",
        ),
        ({"objectives": NAMED, "select": {"weights": {"f1": -1}}}, "select.weights.f1: expected a weight >= 0, got -1"),
        (
            {"objectives": NAMED, "select": {"minimize": "f1", "maximize": "f2"}},
            "select: expected one of maximize, minimize or weights",
        ),
        (
            {"objectives": NAMED, "reference_point": [1.0]},
            "reference_point: expected 2 values, one per objective (f1, f2), got 1: [1.0]",
        ),
        (
            {"objectives": NAMED, "reference_point": {"f1": 1.0}},
            "reference_point: no f2: expected a value for each objective",
        ),
        (
            {"objectives": NAMED, "searcher": "cmaes"},
            "searcher: 'cmaes' optimizes one objective, got 2; for several use tpe",
        ),
        (
            {"objectives": NAMED, "pruner": "median"},
            "prune_on: required with pruner 'median' in a study of several objectives",
        ),
        ({"objectives": NAMED, "prune_on": "f3"}, "prune_on: unknown objective 'f3'"),
        ({"prune_on": "value"}, "prune_on: names the objective to prune on in a study of several"),
        ({"select": {"maximize": "value"}}, "select: picks a trial of a study of several objectives; this one has one"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(kwargs, message, workdir):
    with pytest.raises(ConfigError) as info:
        hpo.tune(two, SPACE, n_trials=2, **kwargs)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)
    assert list(workdir.iterdir()) == []  # nothing written, no MLflow store either


def test_objectives_check_against_a_trainers_own():
    class Scorers:
        objectives = Objectives(("acc", "fit_time"), ("maximize", "minimize"))

        def __call__(self, params):
            return {"acc": 1.0, "fit_time": 0.1}

    assert check_objectives(None, None, None, Scorers()) == Scorers.objectives
    with pytest.raises(ConfigError, match=r"^objectives: \{acc: minimize, fit_time: minimize\} contradicts"):
        check_objectives(None, None, {"acc": "minimize", "fit_time": "minimize"}, Scorers())
    with pytest.raises(ConfigError, match=r"^direction: 'maximize' for an objective of several"):
        check_objectives("maximize", None, None, Scorers())


def test_select_ties_go_to_the_front_then_the_lowest_number():
    objectives = Objectives(("a", "b"), ("maximize", "minimize"))
    trials = [
        optuna.trial.create_trial(values=v, params={}, distributions={}) for v in ([1.0, 5.0], [1.0, 2.0], [0.5, 1.0])
    ]
    for number, t in enumerate(trials):
        t.number = number
    rule = Select({"maximize": "a"}, objectives)
    assert rule.pick(trials, front=[1, 2]).number == 1
    assert rule.pick(trials).number == 0
    assert Select({"maximize": "a", "where": "b < 1.5"}, objectives).pick(trials).number == 2
    assert rule.text() == "maximize a" and math.isfinite(rule._score({"a": 1.0, "b": 2.0}))


# -- MLflow and the CLI -------------------------------------------------------------------------


def test_mlflow_holds_every_objective_the_front_and_the_hypervolume(tracking_uri, mlflow_client):
    from tests.conftest import study_runs

    study = hpo.tune(
        two,
        SPACE,
        objectives=NAMED,
        n_trials=12,
        seed=0,
        study_name="mo",
        reference_point=[1.0, 2.0],
        select={"minimize": "f1", "where": "f2 <= 0.8"},
    )
    [parent], children = study_runs(mlflow_client, "mo")
    by_number = {int(r.data.tags["hpo.trial_number"]): r for r in children}
    for t in study.trials:
        assert by_number[t.number].data.metrics["f1"] == pytest.approx(t.values[0])
        assert by_number[t.number].data.metrics["f2"] == pytest.approx(t.values[1])
    front = {t.number for t in study.best_trials}
    assert {n for n, r in by_number.items() if r.data.tags.get("hpo.pareto") == "true"} == front
    assert parent.data.params["objectives"] == "f1: minimize, f2: minimize"
    assert parent.data.params["select"] == "minimize f1 where f2 <= 0.8"
    assert parent.data.metrics["n_pareto"] == len(front)
    history = mlflow_client.get_metric_history(parent.info.run_id, "hypervolume")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == [t.number for t in study.trials]
    assert max(m.value for m in history) == pytest.approx(study.hypervolume())
    assert parent.data.tags["hpo.best_trial"] == str(study.selected_trial.number)
    assert by_number[study.selected_trial.number].data.tags["hpo.best"] == "true"
    csv = mlflow_client.download_artifacts(parent.info.run_id, "pareto.csv")
    with open(csv) as f:
        lines = f.read().splitlines()
    assert lines[0] == "number,f1,f2,params.x,params.y" and len(lines) == len(front) + 1
    summary = open(mlflow_client.download_artifacts(parent.info.run_id, "summary.md")).read()
    assert f"- **Pareto front**: {len(front)} trials" in summary and "- **Selected**: trial" in summary


MO_OBJECTIVE = """
def two(params):
    return {"f1": params["x"], "f2": 1.0 - params["x"] + params["y"]}
"""

MO_CONFIG = """
name: mo
objective: mo_objectives:two
space: {x: {float: [0, 1]}, y: {float: [0, 1]}}
objectives: {f1: minimize, f2: minimize}
select: {minimize: f1, where: "f2 <= 0.8"}
reference_point: [1.0, 2.0]
n_trials: 10
seed: 0
"""


def test_the_cli_prints_the_front(workdir):
    import yaml

    from tests.conftest import hpo_cli

    (workdir / "mo_objectives.py").write_text(MO_OBJECTIVE)
    (workdir / "mo.yaml").write_text(MO_CONFIG)
    run = hpo_cli("run", "mo.yaml", "--tracking", "none", cwd=workdir)
    assert run.returncode == 0, run.stderr
    assert "Pareto front:" in run.stdout and "selected: trial" in run.stdout
    best = hpo_cli("best", "mo", cwd=workdir)
    assert best.returncode == 0, best.stderr
    assert best.stdout.startswith("# Pareto front of study 'mo': ")
    front = yaml.safe_load(best.stdout)
    assert front and set(front[0]) == {"trial", "values", "params"} and set(front[0]["values"]) == {"f1", "f2"}
    picked = hpo_cli("best", "mo", "--select", cwd=workdir)
    eligible = [row for row in front if row["values"]["f2"] <= 0.8]
    expected = min(eligible, key=lambda row: row["values"]["f1"])
    assert yaml.safe_load(picked.stdout) == expected["params"]
    other = hpo_cli("best", "mo", "--select", "{maximize: f1}", cwd=workdir)
    assert yaml.safe_load(other.stdout) == max(front, key=lambda row: row["values"]["f1"])["params"]
    shown = hpo_cli("show", "mo", cwd=workdir)
    assert shown.returncode == 0 and f"* on the Pareto front ({len(front)} trials)" in shown.stdout
    compared = hpo_cli("compare", "mo", "--reference", "1,2", cwd=workdir)
    assert compared.returncode == 0, compared.stderr
    assert "hypervolume" in compared.stdout and "1, 2" in compared.stdout  # the stated reference point
    wrong = hpo_cli("compare", "mo", "--reference", "1", cwd=workdir)
    assert wrong.returncode == 2
    assert wrong.stderr == "error: --reference: expected 2 values for study 'mo' (f1, f2), got 1: 1\n"
    unknown = hpo_cli("best", "mo", "--select", "{maximize: f3}", cwd=workdir)
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: select.maximize: unknown objective 'f3'")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("select: {maximize: latency}", "error: select.maximize: unknown objective 'latency'"),
        ("objectives: {f1: minimize, f1: maximize}", "error: objectives.f1: repeated at line 5"),
        ("direction: minimize", "error: objectives: give one of direction (one objective), directions or objectives"),
        ("reference_point: [1, 2, 3]", "error: reference_point: expected 2 values, one per objective"),
    ],
)
def test_bad_config_exit_2_nothing_written(line, message, workdir):
    from tests.conftest import hpo_cli

    (workdir / "mo_objectives.py").write_text(MO_OBJECTIVE)
    config = MO_CONFIG.replace('select: {minimize: f1, where: "f2 <= 0.8"}\n', "").replace(
        "reference_point: [1.0, 2.0]\n", ""
    )
    if line.startswith("objectives"):
        config = config.replace("objectives: {f1: minimize, f2: minimize}", line)
    else:
        config += line + "\n"
    (workdir / "mo.yaml").write_text(config)
    result = hpo_cli("run", "mo.yaml", cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in workdir.iterdir()) == ["mo.yaml", "mo_objectives.py"]
