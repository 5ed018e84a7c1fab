"""What a study leaves in its parent run at the end: ``summary.md``, ``best_params.yaml``,
``trials.csv`` and the plots (:mod:`hpo._plots`), also written to a folder by ``hpo show --plots``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo._exceptions import HPOError
from hpo._states import COMPLETE, PRUNED
from hpo._study import ERROR, FAIL_REASON, SELECT, time_spent, trial_state

if TYPE_CHECKING:
    from hpo._plots import PlotReport
    from hpo._study import Study


def summary(result: Study) -> dict[str, Any]:
    """The end of a study for the tracking writer: counts, the best trial, the text artifacts
    (``{artifact_file: text}``) and the trials with their direction, to plot."""
    out: dict[str, Any] = {"counts": result.counts()}
    if result.multi_objective:
        out.update(_front(result))
    else:
        try:
            best = result.best_trial
        except HPOError:  # no trial completed
            pass
        else:
            out.update(best_value=best.value, best_params=result.objective_params(best.params), best_trial=best.number)
    if result.constrained():
        out["infeasible"] = result.infeasible()
    test = result.test_score
    if test is not None:  # the tracking writer logs it to the parent run as test_<metric>
        out["test"] = test
    trials = result.trials
    names = result.objective_names
    out["texts"] = {"summary.md": _summary_md(result.name, out, trials), "trials.csv": _trials_csv(trials, names)}
    if "best_params" in out:
        out["texts"]["best_params.yaml"] = yaml_text(out["best_params"])
    if "pareto" in out:
        out["texts"]["pareto.csv"] = _pareto_csv(result)
    directions = result.directions
    out.update(trials=trials, direction=directions if len(directions) > 1 else directions[0], names=names)
    return out


def _front(result: Study) -> dict[str, Any]:
    """A multi-objective study's end: its front, the hypervolume after each trial, and the trial
    its select rule picks (reported as the best trial: its model is the study's)."""
    from hpo._pareto import hypervolume_history

    front = result.best_trials
    if not front:
        return {}
    out: dict[str, Any] = {
        "pareto": [t.number for t in front],
        "objectives": dict(zip(result.objective_names, result.directions)),
    }
    point = result.reference_point
    if point is not None:
        out["reference_point"] = point
        out["hypervolume"] = hypervolume_history(result.trials, result.directions, point)
    try:
        picked = result.select()
    except HPOError as err:  # no rule, or none meets it
        out["select_note"] = str(err).split(": ", 1)[-1]
    else:
        out.update(
            best_trial=picked.number,
            best_values=dict(zip(result.objective_names, picked.values)),
            best_params=result.objective_params(picked.params),
        )
        out["select"] = result.optuna_study.user_attrs.get(SELECT)
    return out


def front_rows(result: Study) -> list[dict[str, Any]]:
    """The Pareto front as rows ``{trial, values: {NAME: v}, params: {...}}``, for ``pareto.csv``
    and ``hpo best``."""
    names = result.objective_names
    return [
        {"trial": t.number, "values": dict(zip(names, t.values)), "params": result.objective_params(t.params)}
        for t in result.best_trials
    ]


def _pareto_csv(result: Study) -> str:
    """The front, one row per member: trial number, each objective, each parameter."""
    import csv
    import io

    rows = front_rows(result)
    names = result.objective_names
    params = sorted({name for row in rows for name in row["params"]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["number", *names, *(f"params.{p}" for p in params)])
    for row in rows:
        writer.writerow([row["trial"], *(row["values"][n] for n in names), *(row["params"].get(p, "") for p in params)])
    return out.getvalue()


def write_summary(result: Study, folder: str | Path) -> PlotReport:
    """Write a study's summary artifacts into ``folder``, laid out as in its parent run.

    Returns:
        What :func:`hpo._plots.write_plots` drew into ``folder/plots``.
    """
    from hpo._plots import write_plots

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = summary(result)
    for name, text in out["texts"].items():
        (folder / name).write_text(text)
    return write_plots(out["trials"], out["direction"], folder / "plots", names=out["names"])


def _summary_md(name: str, summary: dict[str, Any], trials: list[Any]) -> str:
    """A short account of the study: best trial, trials by state, time, what pruning saved."""
    counts = summary["counts"]
    lines = [f"# Study {name}", ""]
    if "pareto" in summary:
        objectives = ", ".join(f"{n} ({d})" for n, d in summary["objectives"].items())
        lines.append(f"- **Objectives**: {objectives}")
        lines.append(
            f"- **Pareto front**: {len(summary['pareto'])} trials "
            f"({', '.join(map(str, summary['pareto']))}); `pareto.csv`"
        )
        if summary.get("hypervolume"):
            point = ", ".join(f"{v:.6g}" for v in summary["reference_point"])
            lines.append(f"- **Hypervolume**: {summary['hypervolume'][-1][1]:.6g} (reference point {point})")
        if "best_trial" in summary:
            values = ", ".join(f"{n} {v:.6g}" for n, v in summary["best_values"].items())
            lines.append(f"- **Selected**: trial {summary['best_trial']} ({values})")
            lines += ["- **Selected params**:", "", "```yaml", yaml_text(summary["best_params"]).rstrip(), "```", ""]
        else:
            lines.append(f"- **Selected**: none ({summary.get('select_note', 'no select rule')})")
    elif "best_value" in summary:
        lines.append(f"- **Best value**: {summary['best_value']:.6g} (trial {summary['best_trial']})")
        lines += ["- **Best params**:", "", "```yaml", yaml_text(summary["best_params"]).rstrip(), "```", ""]
    else:
        lines.append("- No trial completed.")
    if "test" in summary:
        lines.append(f"- **Test score**: {test_score_text(summary['test'])}")
    if "infeasible" in summary:
        infeasible = summary["infeasible"]
        lines.append(f"- **Infeasible**: {infeasible} trials broke a constraint; the best is the best feasible")
    lines.append("- **Trials**: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n))
    spent = time_spent(trials)
    if spent is not None:
        busy, span = spent
        lines.append(f"- **Time**: trials ran {busy:.1f} s in all; first start to last end {span:.1f} s")
    pruned = [t for t in trials if trial_state(t) == PRUNED]
    full = max((len(t.intermediate_values) for t in trials if trial_state(t) == COMPLETE), default=0)
    if pruned and full:
        ran = sum(len(t.intermediate_values) for t in pruned)
        lines.append(
            f"- **Pruning**: {len(pruned)} trials stopped early after {ran} of the {len(pruned) * full} steps "
            f"a complete trial reports ({full} each): {len(pruned) * full - ran} steps saved"
        )
    return "\n".join(lines) + "\n"


def test_score_text(test: dict[str, Any]) -> str:
    """``test_accuracy 0.952778 on 360 held-out rows (best trial 12, scored once)``: a study's
    :attr:`~hpo.Study.test_score` on one line, for ``summary.md``, ``hpo run`` and ``hpo show``."""
    trial = test.get("trial")
    which = f"best trial {trial}, " if trial is not None else ""
    rows = test.get("rows")
    on = f" on {rows} held-out rows" if rows is not None else ""
    return f"{test['metric']} {float(test['value']):.6g}{on} ({which}scored once)"


def _trials_csv(trials: list[Any], objectives: list[str] | None = None) -> str:
    """Every trial as a CSV row: number, state, value (with several objectives one column each,
    by name), params, duration, start, error."""
    import csv
    import io

    names = sorted({name for t in trials for name in t.params})
    several = objectives is not None and len(objectives) > 1
    heads = list(objectives) if several and objectives else ["value"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["number", "state", *heads, *(f"params.{n}" for n in names), "duration_s", "datetime_start", "error"]
    )
    for t in trials:
        state = trial_state(t)
        done = state == COMPLETE and t.values is not None
        writer.writerow(
            [
                t.number,
                state,
                *(t.values if done else [""] * len(heads)),
                *(t.params.get(n, "") for n in names),
                t.duration.total_seconds() if t.duration else "",
                t.datetime_start.isoformat() if t.datetime_start else "",
                t.user_attrs.get(ERROR) or t.user_attrs.get(FAIL_REASON) or "",
            ]
        )
    return out.getvalue()


def yaml_text(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
