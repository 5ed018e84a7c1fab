"""Searchers and pruners by name, mapped onto Optuna's samplers and pruners.

Nothing is re-implemented here: each name picks an Optuna class and our defaults for it.
Optuna sampler and pruner objects are accepted as they are.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Union

from hpo._exceptions import ConfigError
from hpo._registry import Registry, load_object
from hpo._space import Categorical, Space
from hpo._validation import did_you_mean, name_and_options

if TYPE_CHECKING:
    import optuna

SearcherLike = Union[str, Mapping[str, Any], "optuna.samplers.BaseSampler"]
PrunerLike = Union[str, Mapping[str, Any], None, "optuna.pruners.BasePruner"]

#: ``searcher: NAME`` -> a builder ``(options, *, space, seed, concurrent) -> sampler``.
SEARCHERS = Registry(
    "searcher",
    {
        "grid": "hpo._searchers:grid_sampler",
        "random": "hpo._searchers:random_sampler",
        "tpe": "hpo._searchers:tpe_sampler",
        "gp": "hpo._searchers:gp_sampler",
        "cmaes": "hpo._searchers:cmaes_sampler",
        "qmc": "hpo._searchers:qmc_sampler",
        "nsga2": "hpo._searchers:nsga2_sampler",
        "nsga3": "hpo._searchers:nsga3_sampler",
        "auto": "hpo._searchers:auto_sampler",
    },
    fold_case=True,
)
#: ``auto`` picks ``gp`` up to this budget and this many parameters (see :func:`pick_searcher`).
AUTO_GP_MAX_TRIALS = 100
AUTO_GP_MAX_PARAMS = 10
#: What each searcher needs beyond hpo's own dependencies: ``name -> (module, ...)``.
_NEEDS = {"gp": ("torch", "scipy"), "cmaes": ("cmaes",), "qmc": ("scipy",)}


class _DefaultPruner(str):
    """The default pruner, ``"median"``, told apart from one asked for by name: a study of several
    objectives runs without it unless told which objective to prune on."""


DEFAULT_PRUNER: Any = _DefaultPruner("median")
#: Searchers that optimize one objective only: refused for a study of several.
SINGLE_OBJECTIVE = ("cmaes",)
#: ``pruner: NAME`` -> the Optuna pruner class.
PRUNERS = Registry(
    "pruner",
    {
        "none": "optuna.pruners:NopPruner",
        "median": "optuna.pruners:MedianPruner",
        "successive_halving": "optuna.pruners:SuccessiveHalvingPruner",
        "hyperband": "optuna.pruners:HyperbandPruner",
    },
    aliases={"asha": "successive_halving", "sha": "successive_halving", "nop": "none"},
    fold_case=True,
)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs a line per trial at INFO and each failure at WARNING; hpo says it instead."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _split(spec: Any, registry: Registry) -> tuple[str, dict[str, Any]]:
    """Read ``"tpe"`` or ``{name: tpe, n_startup_trials: 5}`` into (name, options); the name is
    a registered one or a ``package.module:attr``."""
    name, options = name_and_options(spec, registry.kind)
    return registry.canonical(name, registry.kind), options


def searcher_name(spec: SearcherLike) -> str:
    """The searcher's name (``grid``, ``random``, ``tpe``, a ``module:attr``) or the sampler's
    class name."""
    if isinstance(spec, (str, Mapping)):
        return _split(spec, SEARCHERS)[0]
    return type(spec).__name__


def pruner_name(spec: PrunerLike) -> str:
    """The pruner's name or the pruner's class name."""
    if spec is None:
        return "none"
    if isinstance(spec, (str, Mapping)):
        return _split(spec, PRUNERS)[0]
    return type(spec).__name__


def validate_searcher(spec: SearcherLike, space: Space, n_objectives: int = 1) -> str:
    """Check a searcher spec without building it; returns its name.

    Args:
        n_objectives: The study's objectives: a searcher of one alone (``cmaes``) is refused
            for several.
    """
    name = searcher_name(spec)
    if n_objectives > 1 and name in SINGLE_OBJECTIVE:
        raise ConfigError(
            key="searcher",
            message=f"{name!r} optimizes one objective, got {n_objectives}; for several use tpe, nsga2, nsga3, gp, "
            "random, grid or qmc",
        )
    if name == "grid":
        space.grid_values()  # raises for a continuous domain
    elif name == "auto" and isinstance(spec, Mapping):
        _refuse_auto_options(dict(spec))
    elif name in _NEEDS:
        _check_installed(name)
    elif ":" in name:
        load_object(name, "searcher")
    return name


def resolve_searcher(
    spec: SearcherLike, space: Space, n_trials: int | None, n_objectives: int = 1
) -> tuple[SearcherLike, str]:
    """The searcher to run and its label: ``auto`` becomes the name :func:`pick_searcher` picks
    for this space and budget (``tpe`` for several objectives: see docs/benchmarks.md),
    labelled ``auto (gp)``; any other spec is returned as it is, with its name."""
    name = searcher_name(spec)
    if name != "auto":
        return spec, name
    picked = "tpe" if n_objectives > 1 else pick_searcher(space, n_trials)
    return picked, f"auto ({picked})"


def pick_searcher(space: Space, n_trials: int | None) -> str:
    """The searcher ``auto`` runs for a space and a budget.

    ``gp`` for a flat space of Float and Int parameters only, at most
    ``AUTO_GP_MAX_PARAMS`` of them, with a budget of at most ``AUTO_GP_MAX_TRIALS`` trials
    (and torch installed); ``tpe`` for everything else: a conditional space, a categorical
    parameter, more parameters or trials, or no ``n_trials`` (a timeout only). The rule and its
    limits come from ``benchmarks/search_quality.py`` (see docs/benchmarks.md); ``cmaes`` and
    ``qmc`` beat ``tpe`` on none of its problems at 30 or 100 trials, so ``auto`` never picks them.

    Args:
        space: The search space.
        n_trials: The study's budget; ``None`` when only a timeout bounds it.
    """
    import importlib.util

    if getattr(space, "conditional", False):
        return "tpe"
    domains = list(space.values())
    if any(isinstance(domain, Categorical) for domain in domains):
        return "tpe"
    if n_trials is None or n_trials > AUTO_GP_MAX_TRIALS or len(domains) > AUTO_GP_MAX_PARAMS:
        return "tpe"
    if any(importlib.util.find_spec(module) is None for module in _NEEDS["gp"]):
        return "tpe"
    return "gp"


def _refuse_auto_options(options: dict[str, Any]) -> None:
    options.pop("name", None)
    if options:
        key = next(iter(options))
        raise ConfigError(
            key="searcher",
            message=f"unknown option {key!r} for auto: it takes none; name a searcher to give it options",
        )


def _check_installed(name: str) -> None:
    """Refuse a searcher whose Optuna class needs a package that is not installed."""
    import importlib.util

    missing = [module for module in _NEEDS.get(name, ()) if importlib.util.find_spec(module) is None]
    if missing:
        fix = "pip install 'hpo[torch]'" if "torch" in missing else f"pip install {' '.join(missing)}"
        raise ConfigError(key="searcher", message=f"{name!r} needs {' and '.join(missing)}, not installed: {fix}")


def _build(cls: Any, options: dict[str, Any], field: str) -> Any:
    accepted = _parameters(cls)
    for key in options:
        if key not in accepted:
            hint = did_you_mean(key, accepted)
            raise ConfigError(key=field, message=f"unknown option {key!r} for {cls.__name__}{hint}")
    try:
        return cls(**options)
    except TypeError as err:
        raise ConfigError(key=field, message=f"bad options {options!r} for {cls.__name__}: {err}") from None
    except ValueError as err:
        raise ConfigError(key=field, message=str(err)) from None


def make_sampler(
    spec: SearcherLike, space: Space, *, seed: int | None, concurrent: bool = False, n_objectives: int = 1
) -> optuna.samplers.BaseSampler:
    """Build the Optuna sampler for a searcher name or spec.

    Args:
        spec: ``"grid"``, ``"random"``, ``"tpe"``, ``"gp"``, ``"cmaes"``, ``"qmc"``, ``"auto"``
            (built here for an unknown budget: a study resolves it with its ``n_trials`` when
            planned), a ``package.module:attr`` naming a sampler class, a mapping
            ``{name: ..., **options}`` whose options go to the Optuna class, or an Optuna
            sampler (returned as is).
        space: The search space (the grid sampler enumerates it).
        seed: Seed for reproducible sampling (given to a class that takes ``seed``).
        concurrent: Whether several trials run at once (TPE then uses ``constant_liar``; GP
            accounts for running trials itself, CMA-ES and QMC need nothing).
        n_objectives: The study's objectives (TPE has other defaults for several).

    Raises:
        ConfigError: An unknown searcher or option, naming ``searcher``.
    """
    import optuna

    if isinstance(spec, optuna.samplers.BaseSampler):
        return spec
    name, options = _split(spec, SEARCHERS)
    if name in SEARCHERS:
        builder = SEARCHERS.load(name, "searcher")
        return builder(options, space=space, seed=seed, concurrent=concurrent, n_objectives=n_objectives)
    cls = load_object(name, "searcher")
    if "seed" in _parameters(cls):
        options.setdefault("seed", seed)
    sampler = _build(cls, options, "searcher")
    if not isinstance(sampler, optuna.samplers.BaseSampler):
        raise ConfigError(f"{name!r} is not an Optuna sampler, got {type(sampler).__name__}", key="searcher")
    return sampler


def grid_sampler(
    options: dict[str, Any], *, space: Space, seed: int | None, concurrent: bool, n_objectives: int = 1
) -> Any:
    """``searcher: grid``: every point of the space once, in an order fixed by the seed (for a
    conditional space, every branch's own grid: see :mod:`hpo._grid`)."""
    if space.conditional:
        from hpo._grid import ConditionalGridSampler

        return _build(ConditionalGridSampler, {"points": space.grid(), "seed": seed, **options}, "searcher")
    options = {"search_space": space.grid_values(), "seed": seed, **options}
    return _build(_grid_sampler_class(), options, "searcher")


def random_sampler(
    options: dict[str, Any], *, space: Space, seed: int | None, concurrent: bool, n_objectives: int = 1
) -> Any:
    """``searcher: random``: independent uniform draws."""
    import optuna

    return _build(optuna.samplers.RandomSampler, {"seed": seed, **options}, "searcher")


def tpe_sampler(
    options: dict[str, Any], *, space: Space, seed: int | None, concurrent: bool, n_objectives: int = 1
) -> Any:
    """``searcher: tpe``: Optuna's TPE with hpo's defaults.

    With several objectives, Optuna's defaults for them (its MOTPE), with the constant liar for
    concurrent trials: hpo's single-objective options lowered the hypervolume there (see
    docs/benchmarks.md). For one objective: multivariate modelling captures interactions
    between parameters; the constant liar keeps
    concurrent workers from sampling the same point while trials are still running. 128
    candidates per proposal (Optuna: 24) and the best 15% of trials as the "good" set (Optuna:
    10%; both at most 25) lower the median regret by 35-65% on Branin and Hartmann6 and match
    Optuna on Styblinski-Tang (benchmarks/search_quality.py, seeds 0..59). Optuna deprecated
    ``gamma`` in 4.9 (its warning is silenced for our own default only) and drops it in 6.0,
    where Optuna's own split applies.
    """
    import warnings

    import optuna

    if n_objectives > 1:
        # Several objectives: Optuna's own defaults (MOTPE). Ours cost 7-24% of the hypervolume on
        # ZDT1, ZDT2 and DTLZ2, multivariate modelling most (benchmarks/multi_objective.py).
        return _build(optuna.samplers.TPESampler, {"seed": seed, "constant_liar": concurrent, **options}, "searcher")
    ours = {"seed": seed, "multivariate": True, "constant_liar": concurrent, "n_ei_candidates": 128}
    if space.conditional:  # each branch's parameters modelled jointly, over the trials that have them
        ours["group"] = True
    with warnings.catch_warnings():
        # (Optuna warns of its experimental group option: silenced for our own default only.)
        if "group" in ours and "group" not in options:
            warnings.filterwarnings("ignore", ".*``group`` is an experimental", optuna.exceptions.ExperimentalWarning)
        options = {**ours, **options}
        if "gamma" in options or "gamma" not in _parameters(optuna.samplers.TPESampler):
            return _build(optuna.samplers.TPESampler, options, "searcher")
        warnings.filterwarnings("ignore", "`gamma` has been deprecated", FutureWarning)
        return _build(optuna.samplers.TPESampler, {**options, "gamma": _tpe_gamma}, "searcher")


def gp_sampler(
    options: dict[str, Any], *, space: Space, seed: int | None, concurrent: bool, n_objectives: int = 1
) -> Any:
    """``searcher: gp``: Optuna's Gaussian-process Bayesian optimization (``GPSampler``).

    After 10 random start-up trials, each proposal fits a Gaussian process (Matern 5/2 kernel,
    one length scale per parameter) to the trials so far and maximizes the log expected
    improvement; categorical parameters have a kernel of their own. With trials running
    concurrently Optuna conditions the proposal on their parameters (q-batch log EI), so no
    constant liar is needed. Needs torch and scipy (imported by Optuna when it first proposes).
    """
    import optuna

    _check_installed("gp")
    return _build(optuna.samplers.GPSampler, {"seed": seed, **options}, "searcher")


def cmaes_sampler(
    options: dict[str, Any], *, space: Space, seed: int | None, concurrent: bool, n_objectives: int = 1
) -> Any:
    """``searcher: cmaes``: Optuna's CMA-ES (``CmaEsSampler``), for Float and Int parameters.

    CMA-ES does not model categorical parameters: Optuna samples them with its independent
    sampler (a ``RandomSampler`` with the same seed unless ``independent_sampler`` is given), and
    hpo keeps that. Concurrent workers each draw a new point from the current generation's
    distribution; Optuna has no constant liar for CMA-ES, and a trial of an older generation
    that ends after the next one has started is not used. Needs the ``cmaes`` package.
    """
    import optuna

    _check_installed("cmaes")
    return _build(optuna.samplers.CmaEsSampler, {"seed": seed, **options}, "searcher")


def nsga2_sampler(
    options: dict[str, Any], *, space: Space, seed: int | None, concurrent: bool, n_objectives: int = 1
) -> Any:
    """``searcher: nsga2``: Optuna's NSGA-II (``NSGAIISampler``), a genetic algorithm for several
    objectives (Optuna's default for them): generations of ``population_size`` (50) trials, the
    next bred from the best by non-domination rank and crowding distance."""
    import optuna

    return _build(optuna.samplers.NSGAIISampler, {"seed": seed, **options}, "searcher")


def nsga3_sampler(
    options: dict[str, Any], *, space: Space, seed: int | None, concurrent: bool, n_objectives: int = 1
) -> Any:
    """``searcher: nsga3``: Optuna's NSGA-III (``NSGAIIISampler``): NSGA-II with reference points
    instead of crowding distance, which keeps the front spread out for three or more objectives."""
    import warnings

    import optuna

    with warnings.catch_warnings():  # experimental since Optuna 3.2: our choice to offer it
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _build(optuna.samplers.NSGAIIISampler, {"seed": seed, **options}, "searcher")


def qmc_sampler(
    options: dict[str, Any], *, space: Space, seed: int | None, concurrent: bool, n_objectives: int = 1
) -> Any:
    """``searcher: qmc``: a scrambled Sobol sequence (Optuna's ``QMCSampler``), seeded.

    A space-filling design that ignores the results: fewer gaps and clumps than ``random``,
    best at a power-of-two number of trials. The study keeps the sequence's position, so
    concurrent workers and a resumed study take the next points. Optuna samples the first trial
    with its independent sampler. Its ``ExperimentalWarning`` is silenced.
    """
    import warnings

    import optuna

    _check_installed("qmc")
    options = {"qmc_type": "sobol", "scramble": True, "seed": seed, **options}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _build(optuna.samplers.QMCSampler, options, "searcher")


def auto_sampler(
    options: dict[str, Any], *, space: Space, seed: int | None, concurrent: bool, n_objectives: int = 1
) -> Any:
    """``searcher: auto`` with no budget known: the searcher :func:`pick_searcher` picks for it.

    A study resolves ``auto`` when it is planned, with its ``n_trials`` (see
    :func:`resolve_searcher`); this builder serves ``make_sampler("auto", ...)`` called alone.
    """
    _refuse_auto_options(options)
    name = "tpe" if n_objectives > 1 else pick_searcher(space, None)
    builder = SEARCHERS.load(name, "searcher")
    return builder({}, space=space, seed=seed, concurrent=concurrent, n_objectives=n_objectives)


def _tpe_gamma(n: int) -> int:
    """The size of TPE's "good" set: the best 15% of ``n`` trials, at most 25."""
    return min(-(-3 * n // 20), 25)


def _parameters(cls: Any) -> Mapping[str, Any]:
    try:
        return inspect.signature(cls).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return {}


def rehearse(sampler: Any, pruner: Any, space: Space) -> None:
    """Ask, report and tell two throwaway trials in memory with a fresh sampler and pruner.

    Optuna checks most options only when it uses them (``n_startup_trials="x"`` fails in the
    first ``ask``), which would be after the study was created: here they fail up front.

    Raises:
        ConfigError: Naming ``searcher`` or ``pruner``.
    """
    import optuna

    study = optuna.create_study(sampler=sampler, pruner=pruner)
    distributions = space.to_optuna()
    for _ in range(2):
        try:
            if space.conditional:
                trial = study.ask()
                space.suggest(trial)
            else:
                trial = study.ask(distributions)
        except (TypeError, ValueError) as err:
            raise ConfigError(key="searcher", message=f"bad option for {type(sampler).__name__}: {err}") from None
        try:
            for step in range(2):
                trial.report(0.0, step)
                trial.should_prune()
        except (TypeError, ValueError) as err:
            raise ConfigError(key="pruner", message=f"bad option for {type(pruner).__name__}: {err}") from None
        try:
            study.tell(trial, 0.0)
        except (TypeError, ValueError) as err:
            raise ConfigError(key="searcher", message=f"bad option for {type(sampler).__name__}: {err}") from None


def make_pruner(spec: PrunerLike) -> optuna.pruners.BasePruner:
    """Build the Optuna pruner for a pruner name, a ``package.module:attr``, a mapping with
    options, or an Optuna pruner (``None`` means no pruning)."""
    import optuna

    if spec is None:
        return optuna.pruners.NopPruner()
    if isinstance(spec, optuna.pruners.BasePruner):
        return spec
    name, options = _split(spec, PRUNERS)
    pruner = _build(PRUNERS.load(name, "pruner"), options, "pruner")
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise ConfigError(f"{name!r} is not an Optuna pruner, got {type(pruner).__name__}", key="pruner")
    return pruner


@functools.cache
def _grid_sampler_class() -> type:
    import optuna

    class AskTellGridSampler(optuna.samplers.GridSampler):
        """Optuna's GridSampler for an ask/tell loop.

        Its ``after_trial`` calls ``study.stop()``, which raises outside ``study.optimize``; our
        driver counts the grid itself, so the stop signal is not needed.
        """

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    # Named as a module attribute (see __getattr__ below), so that a study holding one pickles.
    AskTellGridSampler.__qualname__ = "AskTellGridSampler"
    return AskTellGridSampler


def __getattr__(name: str) -> Any:
    # Pickle finds the grid sampler's class here; built on first use, to import Optuna late.
    if name == "AskTellGridSampler":
        return _grid_sampler_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
