"""Study plots: an interactive HTML (plotly) and a static PNG (matplotlib) of each.

Drawn by Optuna's own plotting functions, on an in-memory copy of the study's trials. The
HTML loads plotly.js from its CDN, as ``mlflow.log_figure`` does (a self-contained page is
4.7 MB); the PNG needs nothing, so it is the one to read offline. Parameter importances are
computed once (fANOVA) and drawn by both renderers.

At the end of a tracked study they are drawn by a process of their own, ``python -m hpo._plots
FOLDER``, which the tracking writer starts with the study: it imports plotly, matplotlib and
Optuna's importance module (seconds) while the trials run, then draws the trials it is sent, on
another core while the writer still writes the last trials' runs. ``hpo show --plots`` draws in
its own process. The driver of a study never imports any of them.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

PLOTS = ("history", "importances", "parallel_coordinate", "slice", "learning_curves")
TOP_CURVES = 5  # learning curves of this many best trials
# fANOVA's forest: with 16 trees instead of Optuna's 64, the leading parameters of the benchmark
# functions came out the same (near-equal ones swap places, as between two seeds of 64 trees),
# in a quarter of the time; 64 trees would be most of the plotting time of a study.
FANOVA_TREES = 16
PLOT_TIMEOUT_S = 300.0  # the writer waits this long for the drawing, then leaves the plots out


class PlotReport(NamedTuple):
    """What :func:`write_plots` did."""

    written: list[Path]
    skipped: dict[str, str]  # plot -> why it does not apply (no learning curves, ...)
    failed: dict[str, str]  # plot -> the error that stopped it


def warm_up() -> None:
    """Import what drawing needs (seconds), ahead of the end of the study. Best effort."""
    try:
        _modules()
    except Exception:  # drawing will report it
        pass


def _modules() -> tuple[Any, Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # only our own processes draw: no display, no GUI backend
    import matplotlib.pyplot as plt
    import optuna.importance  # noqa: F401  (fANOVA imports scikit-learn's forests: seconds)
    import optuna.visualization as plotly_vis
    import optuna.visualization.matplotlib as mpl_vis

    return plotly_vis, mpl_vis, plt


def write_plots(trials: Iterable[Any], direction: str, folder: str | Path) -> PlotReport:
    """Draw the study's plots into ``folder`` as ``<plot>.html`` and ``<plot>.png``.

    Args:
        trials: Every trial of the study (Optuna ``FrozenTrial``), in number order; only the
            completed ones are drawn.
        direction: ``"minimize"`` or ``"maximize"``.
        folder: Where to write; created if missing.

    Returns:
        The files written, the plots that do not apply and why, and the plots that failed to
        draw and why. Nothing is raised: plots are a view of a study that has already ended.
    """
    import optuna

    plotly_vis, mpl_vis, plt = _modules()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    trials = list(trials)
    complete = [
        t
        for t in trials
        if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
    ]
    if not complete:
        return PlotReport([], dict.fromkeys(PLOTS, "no trial completed"), {})
    # Every trial goes in, running ones too, so that each keeps its number in the plots.
    study = _study(trials, direction)
    sign = -1.0 if direction == "maximize" else 1.0
    top = sorted(complete, key=lambda t: sign * t.value)[:TOP_CURVES]

    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    evaluator: Any = None
    if not any(t.params for t in complete):
        skipped.update(dict.fromkeys(("importances", "parallel_coordinate", "slice"), "the space has no parameters"))
    elif len(complete) < 2:
        skipped["importances"] = "needs 2 completed trials"
    else:
        try:
            evaluator = _fixed(_importances(study))
        except Exception as err:  # fANOVA refuses some studies (a single distinct point, ...)
            failed["importances"] = f"{type(err).__name__}: {err}"
    if not any(t.intermediate_values for t in top):
        skipped["learning_curves"] = "no trial reported intermediate values"

    draw: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "history": (
            lambda: plotly_vis.plot_optimization_history(study),
            lambda: mpl_vis.plot_optimization_history(study),
        ),
        "importances": (
            lambda: plotly_vis.plot_param_importances(study, evaluator=evaluator),
            lambda: mpl_vis.plot_param_importances(study, evaluator=evaluator),
        ),
        "parallel_coordinate": (
            lambda: plotly_vis.plot_parallel_coordinate(study),
            lambda: mpl_vis.plot_parallel_coordinate(study),
        ),
        "slice": (lambda: plotly_vis.plot_slice(study), lambda: mpl_vis.plot_slice(study)),
        "learning_curves": (lambda: _curves_plotly(top), lambda: _curves_matplotlib(top, plt)),
    }
    written: list[Path] = []
    with warnings.catch_warnings():
        # The matplotlib functions are marked experimental; they draw what we need all the same.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # matplotlib on a single point ("identical low and high ylims"): expanded, nothing to do.
        warnings.simplefilter("ignore", UserWarning)
        for plot, (html, png) in draw.items():
            if plot in skipped or plot in failed:
                continue
            try:
                figure = html()
                figure.update_layout(title=f"{_TITLES[plot]} ({len(complete)} completed trials)")
                figure.write_html(folder / f"{plot}.html", include_plotlyjs="cdn", auto_open=False)
                written.append(folder / f"{plot}.html")
                _save_png(png(), folder / f"{plot}.png", wide=plot == "parallel_coordinate")
                written.append(folder / f"{plot}.png")
            except Exception as err:
                failed[plot] = f"{type(err).__name__}: {err}"
            finally:
                plt.close("all")
    return PlotReport(written, skipped, failed)


def _curve_label(trial: Any) -> str:
    return f"trial {trial.number} (value {trial.value:.4g})"


def _curves_plotly(top: Sequence[Any]) -> Any:
    """The intermediate values of the best trials, labelled with their own numbers."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for t in top:
        steps = sorted(t.intermediate_values)
        figure.add_trace(
            go.Scatter(x=steps, y=[t.intermediate_values[s] for s in steps], mode="lines+markers", name=_curve_label(t))
        )
    figure.update_layout(xaxis_title="step", yaxis_title="intermediate value")
    return figure


def _curves_matplotlib(top: Sequence[Any], plt: Any) -> Any:
    _, axes = plt.subplots()
    for t in top:
        steps = sorted(t.intermediate_values)
        axes.plot(steps, [t.intermediate_values[s] for s in steps], marker=".", label=_curve_label(t))
    axes.set(xlabel="step", ylabel="intermediate value", title=_TITLES["learning_curves"])
    axes.legend(fontsize="small")
    return axes


_TITLES = {
    "history": "Optimization history",
    "importances": "Parameter importances (fANOVA)",
    "parallel_coordinate": "Parallel coordinates",
    "slice": "Slice plot",
    "learning_curves": f"Learning curves of the {TOP_CURVES} best trials",
}


def _study(trials: Sequence[Any], direction: str) -> Any:
    """An in-memory study of ``trials`` that hands them out without copying.

    Optuna's plotting functions read ``study.trials``, a deep copy of every trial, several times
    per plot: a third of the drawing time for 200 trials. They only read them.
    """
    import optuna

    class ReadOnly(optuna.study.Study):
        def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
            return super().get_trials(deepcopy=False, states=states)

    storage = optuna.storages.InMemoryStorage()
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created in memory"
    try:
        study = optuna.create_study(direction=optuna.study.StudyDirection[direction.upper()], storage=storage)
    finally:
        optuna.logging.set_verbosity(level)
    study.add_trials(trials)
    return ReadOnly(study_name=study.study_name, storage=storage)


def _importances(study: Any) -> dict[str, float]:
    import optuna

    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=FANOVA_TREES, seed=0)
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def _save_png(axes: Any, path: Path, *, wide: bool = False) -> None:
    import numpy as np

    figure = np.asarray(axes).flat[0].figure
    if wide:  # one axis per parameter: give each room for its tick labels, and the slanted
        # first label room below (a tight bounding box would cost a second drawing of it)
        figure.set_size_inches(max(6.4, 1.6 * len(figure.axes)), 5.0)
        figure.subplots_adjust(bottom=0.18)
    figure.savefig(path, dpi=100)


def _fixed(importances: dict[str, float]) -> Any:
    """An importance evaluator that returns importances computed once, for both renderers."""
    import optuna

    class Fixed(optuna.importance.BaseImportanceEvaluator):
        def evaluate(self, study: Any, params: Any = None, *, target: Any = None) -> dict[str, float]:
            return dict(importances)

    return Fixed()


class PlotProcess:
    """``python -m hpo._plots FOLDER``, started with the study: it imports plotly and
    matplotlib while the trials run, and draws once it is handed the ended study.

    The tracking writer starts it, hands it the trials with :meth:`send` as soon as the study
    ends (it draws while the writer writes the last runs), and takes the plots with
    :meth:`collect`.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="hpo-plots-"))
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "hpo._plots", str(self.folder)], stdin=subprocess.PIPE
        )

    def send(self, trials: Sequence[Any] | None, direction: str) -> None:
        """Hand over the ended study (no trials: nothing to draw); drawing starts at once."""
        if self.proc is None or self.proc.stdin is None or self.proc.stdin.closed:
            return
        if trials:
            data = pickle.dumps((list(trials), direction), protocol=pickle.HIGHEST_PROTOCOL)
            (self.folder / "trials.pickle").write_bytes(data)
        self.proc.stdin.close()  # the plotter's signal: the study has ended

    def collect(self, timeout: float = PLOT_TIMEOUT_S) -> tuple[str | None, list[str]]:
        """Wait for the drawing: the folder of plots to log (or None), and what was left out."""
        if self.proc is None:
            return None, []
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, [f"plots left out: drawing them took over {timeout:.0f} s"]
        failed = self.folder / "failed.json"
        notes = [
            f"plot {plot!r} left out: {reason}"
            for plot, reason in (json.loads(failed.read_text()) if failed.exists() else {}).items()
        ]
        if self.proc.returncode != 0:
            notes.append(f"plots left out: the plotting process exited with {self.proc.returncode}")
        plots = self.folder / "plots"
        return (str(plots) if plots.is_dir() and any(plots.iterdir()) else None), notes

    def discard(self) -> None:
        """Stop the process if it still runs and remove its folder."""
        if self.proc is None:
            return
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.proc = None


def main() -> int:
    """``python -m hpo._plots FOLDER``: import while the study runs, then draw it at its end.

    The tracking writer closes stdin at the end of the study, after writing the trials and
    direction, pickled, to ``FOLDER/trials.pickle`` (no such file: nothing to draw). The plots go
    to ``FOLDER/plots``, the plots that failed, as JSON, to ``FOLDER/failed.json``.
    """
    folder = Path(sys.argv[1])
    warm_up()
    sys.stdin.buffer.read()  # until the writer closes it: the study has ended
    source = folder / "trials.pickle"
    if not source.exists():
        return 0
    trials, direction = pickle.loads(source.read_bytes())
    source.unlink()
    report = write_plots(trials, direction, folder / "plots")
    (folder / "failed.json").write_text(json.dumps(report.failed))
    return 0


if __name__ == "__main__":
    code = main()
    # Every file is written and closed. Skip the interpreter's shutdown (half a second of
    # plotly's and matplotlib's teardown) that the writer would wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
