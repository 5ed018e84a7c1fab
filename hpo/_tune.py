"""``tune()``: the entry point from Python. It plans the study (every argument checked,
``hpo._plan``) and runs the plan (``hpo._driver``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hpo._driver import Callback, run_plan
from hpo._executors import ExecutorLike
from hpo._plan import Settings, plan_study
from hpo._searchers import PrunerLike, SearcherLike
from hpo._space import Space
from hpo._study import Study
from hpo._tracking import DEFAULT

__all__ = ["tune"]


def tune(
    objective: Callable[..., Any],
    space: Space | Mapping[str, Any] | str,
    *,
    n_trials: int | None = None,
    direction: str | None = None,
    searcher: SearcherLike = "tpe",
    pruner: PrunerLike = "median",
    seed: int | None = None,
    storage: Any = None,
    study_name: str | None = None,
    tracking: Any = DEFAULT,
    executor: ExecutorLike = "inline",
    timeout: float | None = None,
    trial_timeout: float | None = None,
    catch: Iterable[type[Exception]] | type[Exception] = (Exception,),
    callbacks: Iterable[Callback] = (),
    plots: bool | None = None,
) -> Study:
    """Search ``space`` for the hyperparameters that optimize ``objective``.

    Args:
        objective: ``objective(params, trial) -> float`` (or ``objective(params)``). ``params``
            is a dict; ``trial.report(value, step)`` reports intermediate values and raises
            :class:`hpo.TrialPruned` when the pruner stops the trial. A trainer is such a callable.
        space: A :class:`Space`, its dict form, or the name of a ready-made space in
            ``search_spaces``.
        n_trials: Trials to end on their own (complete, pruned or failed) -- counted over the
            whole study, so running the same call on a persistent storage again resumes it.
            Optional for ``grid`` (defaults to the grid size) or with a ``timeout``.
        direction: ``"minimize"`` or ``"maximize"``; by default the objective's own
            ``direction`` attribute (trainers have one), else ``"minimize"``.
        searcher: ``"tpe"``, ``"random"``, ``"grid"``, ``{"name": ..., **options}`` with options
            for the Optuna sampler, or an Optuna sampler.
        pruner: ``"median"``, ``"successive_halving"``, ``"hyperband"``, ``"none"`` (or
            ``None``), a mapping with options, or an Optuna pruner.
        seed: Seed of the searcher.
        storage: Where trials are kept: ``None`` (in memory), an RDB URL, a journal file path,
            or an Optuna storage. With a persistent storage and a ``study_name``, a study that
            exists is resumed.
        study_name: The study's name, also its MLflow experiment; generated when omitted.
        tracking: MLflow tracking URI; by default ``$MLFLOW_TRACKING_URI`` or
            ``sqlite:///mlflow.db`` in the working directory; ``None`` turns tracking off.
        executor: ``"inline"`` (trials one after another in this process), ``"ray"`` or
            ``{"kind": "ray", "workers": N, "address": ..., "cpus_per_trial": ...,
            "gpus_per_trial": ..., "max_retries": ...}`` (trials at once on Ray workers), or an
            :class:`Executor`.
        timeout: Stop starting new trials after this many seconds.
        trial_timeout: Stop a trial that runs longer than this many seconds and fail it
            (``TrialTimeout: ...``); the study goes on.
        catch: Exceptions of the objective that fail the trial and let the study go on; any
            other exception fails the trial and ends the study with it.
        callbacks: ``callback(study, frozen_trial)`` after each trial ends.
        plots: Draw the study's plots into its MLflow parent run at the end (``plots/``:
            history, parameter importances, parallel coordinates, slice, learning curves;
            HTML and PNG), in a process of their own that imports plotly and matplotlib while
            the trials run (~3 s of CPU). Only with tracking on. By default ``$HPO_PLOTS``
            (``0`` or ``1``), else on.

    Returns:
        The :class:`Study`.

    Raises:
        ConfigError: A bad argument; nothing was run or written.
        AllTrialsFailedError: Every trial failed (``err.study`` holds them).
    """
    settings = Settings(
        n_trials=n_trials,
        direction=direction,
        searcher=searcher,
        pruner=pruner,
        seed=seed,
        storage=storage,
        study_name=study_name,
        tracking=tracking,
        executor=executor,
        timeout=timeout,
        trial_timeout=trial_timeout,
        catch=catch,
        plots=plots,
    )
    return run_plan(plan_study(objective, space, settings), callbacks=callbacks)
