"""Study plots: every plot as HTML and PNG, drawn from real Optuna studies; what is left out and why."""

from __future__ import annotations

import io
import json
import math
import pickle
import sys
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from hpo._plots import PLOTS, PlotProcess, main, write_plots

PNG = b"\x89PNG\r\n\x1a\n"
ONE_OBJECTIVE = [p for p in PLOTS if p != "pareto"]


def _study(n_trials: int, *, direction: str = "minimize", report: bool = True, seed: int = 0) -> optuna.Study:
    """A real study with a float, a log float, an int and a categorical; pruned and failed trials."""
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3),
    )

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        lr = trial.suggest_float("lr", 1e-4, 1, log=True)
        n = trial.suggest_int("n", 1, 4)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        if n == 4 and x > 4:
            raise ValueError("diverged")
        value = x * x + math.log10(lr) ** 2 + n + (kind == "a")
        if report:
            for step in range(5):
                trial.report(value + 5 - step, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=n_trials, catch=(ValueError,))
    return study


def test_every_plot_as_html_and_png(tmp_path):
    study = _study(40)
    states = {t.state for t in study.trials}
    assert {optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE} <= states
    report = write_plots(study.trials, "minimize", tmp_path / "plots")
    assert report.skipped == {"pareto": "one objective"} and report.failed == {}
    assert sorted(p.name for p in report.written) == sorted(
        f"{p}.{ext}" for p in ONE_OBJECTIVE for ext in ("html", "png")
    )
    for plot in ONE_OBJECTIVE:
        html = (tmp_path / "plots" / f"{plot}.html").read_text()
        assert "plotly" in html and "completed trials" in html
        assert (tmp_path / "plots" / f"{plot}.png").read_bytes().startswith(PNG)
    # fANOVA finds what the objective is made of: x and lr matter, kind hardly.
    importances = (tmp_path / "plots" / "importances.html").read_text()
    assert all(name in importances for name in ("x", "lr", "n", "kind"))


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_learning_curves_are_the_best_trials_under_their_own_numbers(tmp_path, direction):
    study = _study(30, direction=direction)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = sorted(complete, key=lambda t: t.value, reverse=direction == "maximize")[:5]
    write_plots(study.trials, direction, tmp_path)
    html = (tmp_path / "learning_curves.html").read_text()
    for t in best:
        assert f"trial {t.number} (value {t.value:.4g})" in html
    others = [t for t in complete if t not in best]
    assert others and not any(f"trial {t.number} (value" in html for t in others)


def test_a_study_without_intermediate_values_has_no_learning_curves(tmp_path):
    study = _study(12, report=False)
    report = write_plots(study.trials, "minimize", tmp_path)
    assert report.skipped == {"learning_curves": "no trial reported intermediate values", "pareto": "one objective"}
    assert not (tmp_path / "learning_curves.png").exists()
    assert (tmp_path / "history.png").exists()


def test_one_completed_trial_has_no_importances(tmp_path):
    study = _study(1, report=False)
    report = write_plots(study.trials, "minimize", tmp_path)
    assert report.skipped["importances"] == "needs 2 completed trials"
    assert (tmp_path / "slice.html").exists() and report.failed == {}


def test_nothing_completed_writes_nothing(tmp_path):
    study = optuna.create_study()
    study.optimize(lambda t: float("nan") if t.suggest_float("x", 0, 1) >= 0 else 0.0, n_trials=3)
    trial = study.ask()  # a running trial is fine too
    trial.suggest_float("x", 0, 1)
    report = write_plots(study.trials, "minimize", tmp_path / "plots")
    assert report.written == [] and set(report.skipped) == set(PLOTS)
    assert list((tmp_path / "plots").iterdir()) == []


def test_running_trials_keep_the_numbers_of_the_others(tmp_path):
    study = _study(10, report=False)
    study.ask().suggest_float("x", -5, 5)  # trial 10 still running
    study.optimize(lambda t: t.suggest_float("x", -5, 5) ** 2, n_trials=3)  # trials 11..13
    report = write_plots(study.trials, "minimize", tmp_path)
    assert report.failed == {}
    history = (tmp_path / "history.html").read_text()
    assert '"x":[0,1,2,3,4,5,6,7,8,9,11,12,13]' in history.replace(" ", "")


# Several objectives. (accuracy, latency) of seven trials: accuracy maximized, latency minimized.
# The front is the first four, 0.70 < 0.80 < 0.85 < 0.95 in accuracy; each of the others is
# dominated by one of them.
NAMES = ["accuracy", "latency"]
POINTS = [(0.70, 1.0), (0.80, 3.0), (0.85, 6.0), (0.95, 8.0), (0.75, 4.0), (0.60, 2.0), (0.90, 9.0)]


def _multi(points, directions, *, names=None, curves=True) -> optuna.Study:
    """A real study of ``points`` (one value per objective) over a float and a categorical,
    with learning curves; a failed trial, and a running one, in between."""
    distributions = {"x": FloatDistribution(0, 1), "kind": CategoricalDistribution(["a", "b"])}
    study = optuna.create_study(directions=directions)
    if names is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    for i, values in enumerate(points):
        params = {"x": (i * 0.37) % 1, "kind": "ab"[i % 2]}
        if i == 3:
            study.add_trial(
                optuna.trial.create_trial(state=TrialState.FAIL, params=params, distributions=distributions)
            )
            study.ask().suggest_float("x", 0, 1)
        curve = {step: values[0] * (step + 1) / 4 for step in range(4)} if curves else None
        study.add_trial(
            optuna.trial.create_trial(
                values=list(values), params=params, distributions=distributions, intermediate_values=curve
            )
        )
    return study


def _traces(html: str) -> list[dict]:
    """The traces a plotly HTML page draws."""
    start = html.index("Plotly.newPlot(")
    start = html.index("[", html.index(",", start))
    return json.JSONDecoder().raw_decode(html[start:])[0]


def test_two_objectives_draw_the_front_and_the_first_objective(tmp_path):
    study = _multi(POINTS, ["maximize", "minimize"], names=NAMES)
    report = write_plots(study.trials, ["maximize", "minimize"], tmp_path, NAMES)
    assert report.skipped == {} and report.failed == {}
    assert sorted(p.name for p in report.written) == sorted(f"{p}.{ext}" for p in PLOTS for ext in ("html", "png"))
    for plot in PLOTS:
        assert (tmp_path / f"{plot}.png").read_bytes().startswith(PNG)
    pareto = (tmp_path / "pareto.html").read_text()
    assert "Pareto front (7 completed trials)" in pareto and "accuracy" in pareto and "latency" in pareto
    # The front as a staircase through its points, by accuracy; maximized: vertical first.
    (line,) = [t for t in _traces(pareto) if t.get("name") == "Pareto front"]
    assert line["x"] == [0.70, 0.80, 0.85, 0.95] and line["y"] == [1.0, 3.0, 6.0, 8.0]
    assert line["line"]["shape"] == "vh"
    # Optuna's plots of one value show the first objective, and say so.
    for plot, title in [
        ("history", "Optimization history of accuracy"),
        ("importances", "Parameter importances of accuracy (fANOVA)"),
        ("parallel_coordinate", "Parallel coordinates of accuracy"),
        ("slice", "Slice plot of accuracy"),
        ("learning_curves", "Learning curves of the 5 best trials by accuracy"),
    ]:
        assert f"{title} (7 completed trials)" in (tmp_path / f"{plot}.html").read_text()
    history = _traces((tmp_path / "history.html").read_text())
    assert [0.70, 0.80, 0.85] == [y for t in history for y in t.get("y", [])][:3]
    # The learning curves of the five most accurate, each with its number and its values.
    curves = (tmp_path / "learning_curves.html").read_text()
    for number, (accuracy, latency) in [(5, (0.95, 8.0)), (8, (0.90, 9.0)), (2, (0.85, 6.0))]:
        assert f"trial {number} (accuracy {accuracy:.4g}, latency {latency:.4g})" in curves
    assert "trial 7 (" not in curves  # 0.60: the least accurate


def test_a_minimized_first_objective_draws_the_front_horizontal_first(tmp_path):
    points = [(1.0 - a, b) for a, b in POINTS]  # the same front, of an error rate
    report = write_plots(_multi(points, ["minimize", "minimize"]).trials, ["minimize", "minimize"], tmp_path)
    assert report.failed == {}
    (line,) = [t for t in _traces((tmp_path / "pareto.html").read_text()) if t.get("name") == "Pareto front"]
    assert line["y"] == [8.0, 6.0, 3.0, 1.0] and line["line"]["shape"] == "hv"
    # Unnamed objectives are values_0, values_1, ...
    assert "Optimization history of values_0" in (tmp_path / "history.html").read_text()
    assert "trial 5 (values_0 0.05, values_1 8)" in (tmp_path / "learning_curves.html").read_text()


def test_three_objectives_draw_optunas_3d_front(tmp_path):
    study = optuna.create_study(directions=["minimize"] * 3, sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 1), 1 - t.suggest_float("y", 0, 1), t.params["x"] * t.params["y"]),
        n_trials=12,
    )
    report = write_plots(study.trials, ["minimize"] * 3, tmp_path, ["a", "b", "c"])
    assert report.failed == {} and report.skipped == {"learning_curves": "no trial reported intermediate values"}
    pareto = (tmp_path / "pareto.html").read_text()
    assert "Pareto front (12 completed trials)" in pareto
    assert {t["type"] for t in _traces(pareto)} == {"scatter3d"}
    assert (tmp_path / "pareto.png").read_bytes().startswith(PNG)
    assert "Slice plot of a" in (tmp_path / "slice.html").read_text()


def test_four_objectives_draw_their_values_in_parallel_coordinates(tmp_path):
    points = [(a, b, a + b, -a) for a, b in POINTS]
    study = _multi(points, ["maximize", "minimize", "minimize", "minimize"], curves=False)
    report = write_plots(study.trials, ["maximize", "minimize", "minimize", "minimize"], tmp_path)
    assert report.failed == {} and "pareto" not in report.skipped
    assert (tmp_path / "pareto.png").read_bytes().startswith(PNG)
    pareto = (tmp_path / "pareto.html").read_text()
    (figure,) = _traces(pareto)
    assert figure["type"] == "parcoords"
    assert [d["label"] for d in figure["dimensions"]] == [
        "values_0 (max)",
        "values_1 (min)",
        "values_2 (min)",
        "values_3 (min)",
    ]
    # The front last, highlighted: trials 0, 1, 2 and 5 (the fourth point, after the failed one).
    assert figure["line"]["color"] == [0, 0, 0, 1, 1, 1, 1]
    assert figure["dimensions"][0]["values"][3:] == [0.70, 0.80, 0.85, 0.95]
    assert "the Pareto front (4 trials)" in pareto and "Pareto front (7 completed trials)" in pareto


def test_one_objective_has_no_pareto_front(tmp_path):
    study = _study(4, report=False)
    report = write_plots(study.trials, ["minimize"], tmp_path)  # a list of one is one objective too
    assert report.skipped["pareto"] == "one objective" and report.failed == {}
    assert (tmp_path / "history.html").exists()
    assert not (tmp_path / "pareto.html").exists() and not (tmp_path / "pareto.png").exists()


def test_several_objectives_none_completed(tmp_path):
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.optimize(lambda t: (float("nan"), t.suggest_float("x", 0, 1)), n_trials=2)  # failed
    study.add_trial(optuna.trial.create_trial(values=[math.inf, 1.0], params={}, distributions={}))
    study.ask()  # running
    report = write_plots(study.trials, ["minimize", "minimize"], tmp_path / "plots", NAMES)
    assert report.written == [] and report.skipped == dict.fromkeys(PLOTS, "no trial completed")
    assert list((tmp_path / "plots").iterdir()) == []


def test_names_must_name_each_objective(tmp_path):
    with pytest.raises(ValueError, match="names"):
        write_plots([], ["minimize", "maximize"], tmp_path, ["only one"])
    with pytest.raises(ValueError, match="direction"):
        write_plots([], ["minimize", "up"], tmp_path)


def test_the_plotter_process_draws_the_objectives_it_is_sent():
    study = _multi(POINTS, ["maximize", "minimize"], curves=False)
    plotter = PlotProcess()
    try:
        plotter.send(study.trials, ["maximize", "minimize"], NAMES)
        folder, notes = plotter.collect(timeout=120)
        assert folder is not None and notes == []
        drawn = {p.name for p in Path(folder).iterdir()}
        assert {"pareto.html", "pareto.png", "slice.html"} <= drawn
        assert "Slice plot of accuracy" in (Path(folder) / "slice.html").read_text()
    finally:
        plotter.discard()


def test_the_plotter_reads_the_trials_and_direction_of_an_older_writer(tmp_path, monkeypatch):
    study = _study(4, report=False)
    (tmp_path / "trials.pickle").write_bytes(pickle.dumps((study.trials, "minimize")))
    monkeypatch.setattr(sys, "argv", ["hpo._plots", str(tmp_path)])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))  # the study has ended
    assert main() == 0
    assert json.loads((tmp_path / "failed.json").read_text()) == {}
    assert {p.name for p in (tmp_path / "plots").iterdir()} >= {"history.html", "history.png"}
