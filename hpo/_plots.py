"""Study plots: an interactive HTML (plotly) and a static PNG (matplotlib) of each.

Drawn by Optuna's own plotting functions, on an in-memory copy of the study's trials. The
HTML loads plotly.js from its CDN, as ``mlflow.log_figure`` does (a self-contained page is
4.7 MB); the PNG needs nothing, so it is the one to read offline. Parameter importances are
computed once (fANOVA) and drawn by both renderers.

A study of several objectives gets a Pareto front plot of its own; the plots of one value
(history, importances, parallel coordinates, slice) are drawn for its first objective.

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

PLOTS = ("history", "importances", "parallel_coordinate", "slice", "learning_curves", "pareto")
# Optuna draws these for one value; of several objectives they show the first.
FIRST_OBJECTIVE_PLOTS = ("history", "importances", "parallel_coordinate", "slice")
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


def write_plots(
    trials: Iterable[Any],
    direction: str | Sequence[str],
    folder: str | Path,
    names: Sequence[str] | None = None,
) -> PlotReport:
    """Draw the study's plots into ``folder`` as ``<plot>.html`` and ``<plot>.png``.

    Of several objectives, ``pareto`` is their Pareto front (see :func:`_pareto_plotly`), and
    history, importances, parallel coordinates and slice are drawn for the first objective,
    named in their titles; the learning curves are those of the best trials by it. Of one
    objective, ``pareto`` is skipped and the rest is drawn as it always was.

    Args:
        trials: Every trial of the study (Optuna ``FrozenTrial``), in number order; only the
            completed ones are drawn.
        direction: ``"minimize"`` or ``"maximize"``, or a list of them, one per objective.
        folder: Where to write; created if missing.
        names: The objectives' names, one per direction, for the axes and titles. None:
            ``values_0``, ``values_1``, ... of several objectives, Optuna's labels of one.

    Returns:
        The files written, the plots that do not apply and why, and the plots that failed to
        draw and why. Nothing is raised once the arguments are valid: plots are a view of a
        study that has already ended.

    Raises:
        ValueError: A direction is neither ``"minimize"`` nor ``"maximize"``, or ``names``
            does not name every objective.
    """
    import optuna

    directions = _directions(direction)
    names = _names(names, len(directions))
    multi = len(directions) > 1
    plotly_vis, mpl_vis, plt = _modules()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    trials = list(trials)
    complete = [
        t
        for t in trials
        if t.state == optuna.trial.TrialState.COMPLETE
        and t.values is not None
        and len(t.values) == len(directions)
        and all(math.isfinite(v) for v in t.values)
    ]
    one = {} if multi else {"pareto": "one objective"}
    if not complete:
        return PlotReport([], {**dict.fromkeys(PLOTS, "no trial completed"), **one}, {})
    # Every trial goes in, running ones too, so that each keeps its number in the plots.
    study = _study(trials, directions, names)
    sign = -1.0 if directions[0] == "maximize" else 1.0
    top = sorted(complete, key=lambda t: sign * t.values[0])[:TOP_CURVES]
    # Optuna's plots of one value need a target when there are several; of one objective they
    # stay as they were, but for the axis label of a named one.
    target: Callable[[Any], float] | None = (lambda t: t.values[0]) if multi else None
    of: dict[str, Any] = {"target": target} if multi else {}
    if names is not None:
        of["target_name"] = names[0]
    first = names[0] if multi and names is not None else None

    skipped: dict[str, str] = dict(one)
    failed: dict[str, str] = {}
    evaluator: Any = None
    if not any(t.params for t in complete):
        skipped.update(dict.fromkeys(("importances", "parallel_coordinate", "slice"), "the space has no parameters"))
    elif len(complete) < 2:
        skipped["importances"] = "needs 2 completed trials"
    else:
        try:
            evaluator = _fixed(_importances(study, target))
        except Exception as err:  # fANOVA refuses some studies (a single distinct point, ...)
            failed["importances"] = f"{type(err).__name__}: {err}"
    if not any(t.intermediate_values for t in top):
        skipped["learning_curves"] = "no trial reported intermediate values"
    front: list[Any] = []
    if multi:
        drawn = {id(t) for t in complete}
        # Optuna's own front, as its plots highlight it: of the feasible trials, when the study
        # has outcome constraints. Of its trials only those with finite values are drawn. The
        # study numbers the trials by position, which is how they map back to those given.
        front = [trials[t.number] for t in study.best_trials if id(trials[t.number]) in drawn]

    draw: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "history": (
            lambda: plotly_vis.plot_optimization_history(study, **of),
            lambda: mpl_vis.plot_optimization_history(study, **of),
        ),
        "importances": (
            lambda: plotly_vis.plot_param_importances(study, evaluator=evaluator, **of),
            lambda: mpl_vis.plot_param_importances(study, evaluator=evaluator, **of),
        ),
        "parallel_coordinate": (
            lambda: plotly_vis.plot_parallel_coordinate(study, **of),
            lambda: mpl_vis.plot_parallel_coordinate(study, **of),
        ),
        "slice": (lambda: plotly_vis.plot_slice(study, **of), lambda: mpl_vis.plot_slice(study, **of)),
        "learning_curves": (
            lambda: _curves_plotly(top, names if multi else None),
            lambda: _curves_matplotlib(top, plt, names if multi else None, _title("learning_curves", first)),
        ),
        "pareto": (
            lambda: _pareto_plotly(study, complete, front, directions, names or [], plotly_vis),
            lambda: _pareto_matplotlib(study, complete, front, directions, names or [], mpl_vis, plt),
        ),
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
            title = _title(plot, first)
            try:
                figure = html()
                figure.update_layout(title=f"{title} ({len(complete)} completed trials)")
                figure.write_html(folder / f"{plot}.html", include_plotlyjs="cdn", auto_open=False)
                written.append(folder / f"{plot}.html")
                axes = png()
                if first is not None and plot in FIRST_OBJECTIVE_PLOTS:
                    _retitle(axes, title)  # the PNG, too, says which objective it shows
                _save_png(axes, folder / f"{plot}.png", wide=plot == "parallel_coordinate")
                written.append(folder / f"{plot}.png")
            except Exception as err:
                failed[plot] = f"{type(err).__name__}: {err}"
            finally:
                plt.close("all")
    return PlotReport(written, skipped, failed)


def _directions(direction: str | Sequence[str]) -> list[str]:
    """``direction`` as a list of ``"minimize"``/``"maximize"``, one per objective."""
    given = [direction] if isinstance(direction, str) else list(direction)
    # An Optuna StudyDirection names itself; a str is taken as it is spelled.
    directions = [str(getattr(d, "name", d)).lower() for d in given]
    if not directions or any(d not in ("minimize", "maximize") for d in directions):
        raise ValueError(f"direction must be 'minimize' or 'maximize', or a list of them, not {direction!r}")
    return directions


def _names(names: Sequence[str] | None, n_objectives: int) -> list[str] | None:
    """The objectives' names: as given, ``values_<i>`` of several unnamed, None of one unnamed."""
    if names is None:
        return [f"values_{i}" for i in range(n_objectives)] if n_objectives > 1 else None
    if isinstance(names, str) or len(names) != n_objectives:
        raise ValueError(f"names must name each of the {n_objectives} objectives, not {names!r}")
    return [str(name) for name in names]


def _title(plot: str, first: str | None) -> str:
    """The plot's title; ``first``: the name of the first of several objectives, which the
    plots of one value show."""
    title = _TITLES[plot]
    if first is None or plot == "pareto":
        return title
    if plot == "learning_curves":
        return f"{title} by {first}"
    if plot == "importances":
        return title.replace(" (fANOVA)", f" of {first} (fANOVA)")
    return f"{title} of {first}"


def _retitle(axes: Any, title: str) -> None:
    """Replace the title Optuna gave a matplotlib plot, wherever it put it."""
    if not hasattr(axes, "set_title"):  # one axis per parameter: the figure holds the title
        import numpy as np

        np.asarray(axes).flat[0].figure.suptitle(title)
        return
    loc = next((loc for loc in ("center", "left", "right") if axes.get_title(loc)), "center")
    # Optuna raises some titles above their axes (parallel coordinates): keep them there.
    y = axes.title.get_position()[1] if loc == "center" else None
    axes.set_title(title, loc=loc, y=y)


def _curve_label(trial: Any, names: Sequence[str] | None = None) -> str:
    if names is None:
        return f"trial {trial.number} (value {trial.value:.4g})"
    values = ", ".join(f"{name} {value:.4g}" for name, value in zip(names, trial.values))
    return f"trial {trial.number} ({values})"


def _curves_plotly(top: Sequence[Any], names: Sequence[str] | None = None) -> Any:
    """The intermediate values of the best trials, labelled with their own numbers; of several
    objectives (``names`` given) with each of their values, by name."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for t in top:
        steps = sorted(t.intermediate_values)
        figure.add_trace(
            go.Scatter(
                x=steps,
                y=[t.intermediate_values[s] for s in steps],
                mode="lines+markers",
                name=_curve_label(t, names),
            )
        )
    figure.update_layout(xaxis_title="step", yaxis_title="intermediate value")
    return figure


def _curves_matplotlib(top: Sequence[Any], plt: Any, names: Sequence[str] | None = None, title: str = "") -> Any:
    _, axes = plt.subplots()
    for t in top:
        steps = sorted(t.intermediate_values)
        axes.plot(steps, [t.intermediate_values[s] for s in steps], marker=".", label=_curve_label(t, names))
    axes.set(xlabel="step", ylabel="intermediate value", title=title or _TITLES["learning_curves"])
    axes.legend(fontsize="small")
    return axes


FRONT_COLOR = "#d62728"  # the front: red, as Optuna's best trials
DOMINATED_COLOR = "#b0b0b0"


def _pareto_plotly(
    study: Any,
    complete: Sequence[Any],
    front: Sequence[Any],
    directions: Sequence[str],
    names: Sequence[str],
    plotly_vis: Any,
) -> Any:
    """The Pareto front of a study of several objectives, in plotly.

    Two objectives: Optuna's scatter, the front highlighted and drawn as the staircase that
    bounds what it dominates. Three: Optuna's 3-D scatter. More (Optuna draws at most three):
    our own parallel coordinates of the objectives' values of the completed trials, one axis
    per objective, the front's trials highlighted.
    """
    import plotly.graph_objects as go

    if len(directions) > 3:
        return _objectives_plotly(complete, front, directions, names)
    figure = plotly_vis.plot_pareto_front(study)
    if len(directions) == 2:
        xs, ys = _front_line(front)
        line = go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            # Horizontal first when the first objective is minimized, as the dominated region
            # of each front point lies to its right; vertical first when maximized.
            line={"shape": "hv" if directions[0] == "minimize" else "vh", "color": FRONT_COLOR, "width": 1.5},
            name="Pareto front",
            hoverinfo="skip",
        )
        figure = go.Figure(data=[line, *figure.data], layout=figure.layout)  # under the points
    return figure


def _pareto_matplotlib(
    study: Any,
    complete: Sequence[Any],
    front: Sequence[Any],
    directions: Sequence[str],
    names: Sequence[str],
    mpl_vis: Any,
    plt: Any,
) -> Any:
    """:func:`_pareto_plotly` in matplotlib."""
    if len(directions) > 3:
        return _objectives_matplotlib(complete, front, directions, names, plt)
    axes = mpl_vis.plot_pareto_front(study)
    if len(directions) == 2:
        xs, ys = _front_line(front)
        step = "steps-post" if directions[0] == "minimize" else "steps-pre"  # see _pareto_plotly
        axes.plot(xs, ys, drawstyle=step, color=FRONT_COLOR, linewidth=1.2, zorder=1, label="Pareto front")
        axes.legend()
    return axes


def _front_line(front: Sequence[Any]) -> tuple[list[float], list[float]]:
    """The front's points of two objectives, sorted by the first (then the second)."""
    points = sorted((t.values[0], t.values[1]) for t in front)
    return [x for x, _ in points], [y for _, y in points]


def _split(complete: Sequence[Any], front: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """The other trials (dominated or infeasible) and the front's, in number order."""
    best = {id(t) for t in front}
    return [t for t in complete if id(t) not in best], [t for t in complete if id(t) in best]


def _axis_label(name: str, direction: str) -> str:
    return f"{name} ({'min' if direction == 'minimize' else 'max'})"


def _objectives_plotly(
    complete: Sequence[Any], front: Sequence[Any], directions: Sequence[str], names: Sequence[str]
) -> Any:
    """Parallel coordinates of the objectives' values, the front's trials highlighted."""
    import plotly.graph_objects as go

    dominated, best = _split(complete, front)
    ordered = dominated + best  # the front last: drawn over the rest
    dimensions = [
        {"label": _axis_label(name, direction), "values": [t.values[i] for t in ordered]}
        for i, (name, direction) in enumerate(zip(names, directions))
    ]
    line = {
        "color": [0] * len(dominated) + [1] * len(best),
        "colorscale": [[0, DOMINATED_COLOR], [1, FRONT_COLOR]],
        "cmin": 0,
        "cmax": 1,
    }
    figure = go.Figure(go.Parcoords(dimensions=dimensions, line=line))
    figure.add_annotation(  # parallel coordinates have no legend
        text=f"red: the Pareto front ({len(best)} trials); grey: the others ({len(dominated)})",
        xref="paper",
        yref="paper",
        x=0,
        y=-0.12,
        showarrow=False,
        xanchor="left",
    )
    return figure


def _objectives_matplotlib(
    complete: Sequence[Any], front: Sequence[Any], directions: Sequence[str], names: Sequence[str], plt: Any
) -> Any:
    """:func:`_objectives_plotly` in matplotlib: each objective scaled to its own range."""
    import numpy as np
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    dominated, best = _split(complete, front)
    values = np.array([t.values for t in complete], dtype=float)
    low, high = values.min(axis=0), values.max(axis=0)
    span = np.where(high > low, high - low, 1.0)  # a constant objective sits at the bottom
    x = np.arange(len(names))
    with plt.style.context("ggplot"):  # as Optuna draws its own pareto plots
        _, axes = plt.subplots(figsize=(max(6.4, 1.6 * len(names)), 4.8))

    def lines(trials: Sequence[Any]) -> list[Any]:
        scaled = (np.array([t.values for t in trials], dtype=float).reshape(-1, len(names)) - low) / span
        return [np.column_stack([x, row]) for row in scaled]

    # One collection per group: thousands of trials would be thousands of Line2D otherwise.
    axes.add_collection(LineCollection(lines(dominated), colors=DOMINATED_COLOR, linewidths=0.8, alpha=0.6))
    axes.add_collection(LineCollection(lines(best), colors=FRONT_COLOR, linewidths=1.4))
    box = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
    for i in x:
        axes.axvline(i, color="black", linewidth=0.8, zorder=0.5)
        # Each axis spans its objective's range: its ends say what that is.
        axes.annotate(
            f"{high[i]:.4g}", (i, 1.0), xytext=(0, 5), textcoords="offset points", ha="center", va="bottom", bbox=box
        )
        axes.annotate(
            f"{low[i]:.4g}", (i, 0.0), xytext=(0, -5), textcoords="offset points", ha="center", va="top", bbox=box
        )
    axes.set(xlim=(-0.3, len(names) - 0.7), ylim=(-0.1, 1.1), yticks=[], xticks=x)
    axes.grid(False)
    axes.set_xticklabels([_axis_label(n, d) for n, d in zip(names, directions)])
    axes.set_title("Pareto front")
    axes.legend(
        [Line2D([], [], color=FRONT_COLOR), Line2D([], [], color=DOMINATED_COLOR)],
        [f"Pareto front ({len(best)} trials)", f"the others ({len(dominated)})"],
        fontsize="small",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        ncol=2,
    )
    axes.figure.subplots_adjust(bottom=0.2)
    return axes


_TITLES = {
    "history": "Optimization history",
    "importances": "Parameter importances (fANOVA)",
    "parallel_coordinate": "Parallel coordinates",
    "slice": "Slice plot",
    "learning_curves": f"Learning curves of the {TOP_CURVES} best trials",
    "pareto": "Pareto front",
}


def _study(trials: Sequence[Any], directions: Sequence[str], names: Sequence[str] | None = None) -> Any:
    """An in-memory study of ``trials`` that hands them out without copying.

    Optuna's plotting functions read ``study.trials``, a deep copy of every trial, several times
    per plot: a third of the drawing time for 200 trials. They only read them. ``names``, if
    any, become the study's metric names, which Optuna's plots label their axes with.
    """
    import optuna

    class ReadOnly(optuna.study.Study):
        def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
            return super().get_trials(deepcopy=False, states=states)

    storage = optuna.storages.InMemoryStorage()
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created in memory"
    try:
        study = optuna.create_study(
            directions=[optuna.study.StudyDirection[d.upper()] for d in directions], storage=storage
        )
    finally:
        optuna.logging.set_verbosity(level)
    if names is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable enough
            study.set_metric_names(list(names))
    study.add_trials(trials)
    return ReadOnly(study_name=study.study_name, storage=storage)


def _importances(study: Any, target: Callable[[Any], float] | None = None) -> dict[str, float]:
    """fANOVA's importances of the parameters for the objective, or for ``target`` of several."""
    import optuna

    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=FANOVA_TREES, seed=0)
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator, target=target))


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

    def send(
        self, trials: Sequence[Any] | None, direction: str | Sequence[str], names: Sequence[str] | None = None
    ) -> None:
        """Hand over the ended study (no trials: nothing to draw); drawing starts at once.

        ``direction`` and ``names`` are those of :func:`write_plots`.
        """
        if self.proc is None or self.proc.stdin is None or self.proc.stdin.closed:
            return
        if trials:
            directions = direction if isinstance(direction, str) else list(direction)
            names = None if names is None else list(names)
            data = pickle.dumps((list(trials), directions, names), protocol=pickle.HIGHEST_PROTOCOL)
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

    The tracking writer closes stdin at the end of the study, after writing the trials, the
    direction(s) and the objectives' names, pickled, to ``FOLDER/trials.pickle`` (no such file:
    nothing to draw). The plots go
    to ``FOLDER/plots``, the plots that failed, as JSON, to ``FOLDER/failed.json``.
    """
    folder = Path(sys.argv[1])
    warm_up()
    sys.stdin.buffer.read()  # until the writer closes it: the study has ended
    source = folder / "trials.pickle"
    if not source.exists():
        return 0
    trials, direction, *rest = pickle.loads(source.read_bytes())
    names = rest[0] if rest else None  # (trials, direction) of an older writer: no names
    source.unlink()
    report = write_plots(trials, direction, folder / "plots", names)
    (folder / "failed.json").write_text(json.dumps(report.failed))
    return 0


if __name__ == "__main__":
    code = main()
    # Every file is written and closed. Skip the interpreter's shutdown (half a second of
    # plotly's and matplotlib's teardown) that the writer would wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
