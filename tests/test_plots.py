"""Study plots: every plot as HTML and PNG, drawn from real Optuna studies; what is left out and why."""

from __future__ import annotations

import math

import optuna
import pytest

from hpo._plots import PLOTS, write_plots

PNG = b"\x89PNG\r\n\x1a\n"


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
    assert report.skipped == {} and report.failed == {}
    assert sorted(p.name for p in report.written) == sorted(f"{p}.{ext}" for p in PLOTS for ext in ("html", "png"))
    for plot in PLOTS:
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
    assert report.skipped == {"learning_curves": "no trial reported intermediate values"}
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
