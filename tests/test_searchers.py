"""Searchers and pruners by name, mapped onto Optuna."""

from __future__ import annotations

import random
import warnings

import optuna
import pytest

import hpo
from hpo import ConfigError, Float, Int, Space
from hpo._searchers import make_pruner, make_sampler

SPACE = Space({"x": Float(-5.0, 5.0), "n": Int(1, 4)})


def _proposals(sampler, space=SPACE, history=12, running=3):
    """What ``sampler`` asks for after ``history`` fixed completed trials, with ``running``
    trials asked and not yet told (as concurrent workers leave them)."""
    study = optuna.create_study(sampler=sampler)
    distributions = space.to_optuna()
    rng = random.Random(7)
    for _ in range(history):
        params = {"x": rng.uniform(-5, 5), "n": rng.randint(1, 4)}
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=distributions, value=(params["x"] - 1) ** 2 + params["n"]
            )
        )
    return [study.ask(distributions).params for _ in range(running)]


def _tpe(**options):
    from hpo._searchers import _tpe_gamma

    defaults = {"seed": 0, "multivariate": True, "constant_liar": False, "n_ei_candidates": 128, "gamma": _tpe_gamma}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna deprecated gamma
        return optuna.samplers.TPESampler(**{**defaults, **options})


def test_names_map_onto_optuna():
    assert isinstance(make_sampler("random", SPACE, seed=0), optuna.samplers.RandomSampler)
    tpe = make_sampler("tpe", SPACE, seed=0)
    assert isinstance(tpe, optuna.samplers.TPESampler)
    # Observed, not read from Optuna's private attributes: the same proposals as Optuna's TPE
    # with hpo's defaults, multivariate, and a constant liar exactly when trials run concurrently.
    assert _proposals(tpe) == _proposals(_tpe())
    liar = _proposals(make_sampler("tpe", SPACE, seed=0, concurrent=True))
    assert liar == _proposals(_tpe(constant_liar=True)) and liar != _proposals(_tpe())
    assert _proposals(make_sampler("tpe", SPACE, seed=0)) != _proposals(_tpe(multivariate=False))
    few = make_sampler({"name": "tpe", "n_startup_trials": 3}, SPACE, seed=0)
    assert _proposals(few, history=4) == _proposals(_tpe(n_startup_trials=3), history=4)
    assert _proposals(few, history=4) != _proposals(_tpe(), history=4)
    grid = Space({"k": ["a", "b"], "n": Int(1, 3)})
    assert isinstance(make_sampler("grid", grid, seed=0), optuna.samplers.GridSampler)
    for name, cls in [
        ("none", optuna.pruners.NopPruner),
        ("median", optuna.pruners.MedianPruner),
        ("successive_halving", optuna.pruners.SuccessiveHalvingPruner),
        ("asha", optuna.pruners.SuccessiveHalvingPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
    ]:
        assert isinstance(make_pruner(name), cls)
    assert isinstance(make_pruner(None), optuna.pruners.NopPruner)
    # n_warmup_steps reached the pruner: a hopeless trial is kept through step 2, pruned at 3.
    study = optuna.create_study(pruner=make_pruner({"name": "median", "n_warmup_steps": 3, "n_startup_trials": 1}))
    for value in (1.0, 1.0):
        trial = study.ask()
        for step in range(5):
            trial.report(value, step)
        study.tell(trial, value)
    hopeless = study.ask()
    decisions = []
    for step in range(5):
        hopeless.report(100.0, step)
        decisions.append(hopeless.should_prune())
    assert decisions == [False, False, False, True, True]


def test_tpe_defaults_tuned_by_search_quality_benchmark(recwarn):
    from hpo._searchers import _tpe_gamma

    tpe = make_sampler("tpe", SPACE, seed=0)
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]  # ours, silenced
    assert [_tpe_gamma(n) for n in (1, 10, 20, 100, 1000)] == [1, 2, 3, 15, 25]
    # 128 EI candidates and the best 15% as the good set: Optuna's own defaults propose otherwise.
    assert _proposals(tpe, history=30) == _proposals(_tpe(), history=30)
    assert _proposals(tpe, history=30) != _proposals(_tpe(n_ei_candidates=24), history=30)
    # Options given override ours.
    own = make_sampler({"name": "tpe", "n_ei_candidates": 8, "gamma": _one}, SPACE, seed=0)
    assert _proposals(own, history=30) == _proposals(_tpe(n_ei_candidates=8, gamma=_one), history=30)


def _one(n):
    return 1


def test_optuna_objects_are_accepted_as_they_are():
    sampler = optuna.samplers.QMCSampler(seed=1)
    pruner = optuna.pruners.PercentilePruner(25.0)
    assert make_sampler(sampler, SPACE, seed=0) is sampler
    assert make_pruner(pruner) is pruner
    study = hpo.tune(lambda p: p["x"] ** 2, SPACE, n_trials=4, searcher=sampler, pruner=pruner, tracking=None)
    assert study.optuna_study.sampler is sampler


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"searcher": "tpee"},
            "searcher: unknown searcher 'tpee', expected one of grid, random, tpe, gp, cmaes, qmc, nsga2, nsga3, auto "
            "or a package.module:attr; did you mean 'tpe'?",
        ),
        (
            {"pruner": "medain"},
            "pruner: unknown pruner 'medain', expected one of none, median, successive_halving, "
            "hyperband or a package.module:attr; did you mean 'median'?",
        ),
        ({"searcher": {"n_startup_trials": 3}}, "searcher: missing key 'name'"),
        ({"searcher": {"name": "tpe", "bogus": 1}}, "searcher: unknown option 'bogus' for TPESampler"),
        (
            {"searcher": {"name": "tpe", "n_startup_trails": 1}},
            "searcher: unknown option 'n_startup_trails' for TPESampler; did you mean 'n_startup_trials'?",
        ),
        ({"pruner": {"name": "median", "n_warmup_steps": -1}}, "pruner: "),
    ],
)
def test_bad_names_and_options(kwargs, message):
    with pytest.raises(ConfigError) as info:
        hpo.tune(lambda p: 0.0, SPACE, n_trials=2, tracking=None, **kwargs)
    assert str(info.value).startswith(message), str(info.value)


def test_grid_runs_every_point_exactly_once():
    space = Space({"x": Float(0.0, 1.0, step=0.25), "n": Int(1, 3), "k": ["a", "b"]})
    seen = []
    study = hpo.tune(lambda p: seen.append(p) or 0.0, space, searcher="grid", seed=3, tracking=None)
    expected = {tuple(sorted(p.items())) for p in space.grid()}
    assert len(seen) == len(expected) == space.grid_size() == 30
    assert {tuple(sorted(p.items())) for p in seen} == expected
    assert study.n_trials == 30


def test_grid_refuses_more_trials_than_points():
    with pytest.raises(ConfigError, match="n_trials: 7 exceeds the 6 points of the grid"):
        hpo.tune(lambda p: 0.0, {"n": {"int": [1, 3]}, "k": ["a", "b"]}, searcher="grid", n_trials=7, tracking=None)


@pytest.mark.parametrize("searcher", ["random", "tpe", "grid"])
def test_same_seed_same_trials(searcher):
    space = Space({"x": Float(-5.0, 5.0, step=0.5), "k": ["a", "b", "c"]})

    def params_of(seed):
        study = hpo.tune(lambda p: p["x"] ** 2, space, n_trials=15, searcher=searcher, seed=seed, tracking=None)
        return [t.params for t in study.trials]

    assert params_of(7) == params_of(7)
    assert params_of(7) != params_of(8)


@pytest.mark.parametrize("pruner", ["median", "successive_halving", "hyperband"])
def test_pruners_stop_hopeless_trials(pruner):
    # Trials with a large x are hopeless from the first step; the pruner must stop some.
    def objective(params, trial):
        for step in range(10):
            trial.report(params["x"] + step * 0.01, step)
        return params["x"]

    study = hpo.tune(
        objective, {"x": {"float": [0, 10]}}, n_trials=30, pruner=pruner, searcher="random", seed=0, tracking=None
    )
    counts = study.counts()
    assert counts["pruned"] > 0
    assert counts["complete"] + counts["pruned"] == 30
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    # Pruning saves work: some trials stopped before their last step.
    assert any(len(t.intermediate_values) < 10 for t in pruned)


# The searchers added in issue 15: gp, cmaes, qmc and auto.

MIXED = Space({"x": Float(-5.0, 5.0), "lr": Float(1e-4, 1e-1, log=True), "n": Int(1, 4), "k": ["a", "b", "c"]})
#: Each searcher's options for a short study: the model-based ones start modelling early.
SHORT = {"gp": {"n_startup_trials": 3}, "cmaes": {"popsize": 4}, "qmc": {}}


def _quadratic(params):
    return (params["x"] - 1) ** 2 + (params["n"] - 2) ** 2 + (params["k"] != "b") + abs(params["lr"] - 0.01)


def test_new_names_map_onto_optuna():
    # Observed, not read from Optuna's private attributes: the same proposals as Optuna's class
    # with hpo's defaults, and not those of the class with Optuna's defaults where ours differ.
    gp = make_sampler("gp", SPACE, seed=0)
    assert isinstance(gp, optuna.samplers.GPSampler)
    assert _proposals(gp) == _proposals(optuna.samplers.GPSampler(seed=0))
    cmaes = make_sampler("CMAES", SPACE, seed=0)  # case folded
    assert isinstance(cmaes, optuna.samplers.CmaEsSampler)
    assert _proposals(cmaes) == _proposals(optuna.samplers.CmaEsSampler(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sobol = optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=0)
        unscrambled = optuna.samplers.QMCSampler(qmc_type="sobol", seed=0)
        halton = optuna.samplers.QMCSampler(qmc_type="halton", scramble=True, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", optuna.exceptions.ExperimentalWarning)  # ours is silenced
        qmc = make_sampler("qmc", SPACE, seed=0)
    assert isinstance(qmc, optuna.samplers.QMCSampler)
    assert _proposals(qmc) == _proposals(sobol)
    assert _proposals(qmc) != _proposals(unscrambled) and _proposals(qmc) != _proposals(halton)
    # Options reach the class: n_startup_trials=20 keeps GP on its random start-up after 12 trials.
    late = make_sampler({"name": "gp", "n_startup_trials": 20}, SPACE, seed=0)
    assert _proposals(late) == _proposals(optuna.samplers.GPSampler(seed=0, n_startup_trials=20))
    assert _proposals(late) != _proposals(gp)


@pytest.mark.parametrize("searcher", ["gp", "cmaes", "qmc", "auto"])
def test_new_searchers_run_reproducibly_within_the_space(searcher):
    spec = {"name": searcher, **SHORT[searcher]} if searcher in SHORT else searcher

    def trials_of(seed):
        study = hpo.tune(_quadratic, MIXED, n_trials=12, searcher=spec, seed=seed, tracking=None)
        assert study.counts()["complete"] == 12
        return [t.params for t in study.trials]

    first = trials_of(5)
    assert first == trials_of(5)
    assert first != trials_of(6)
    for params in first:
        assert MIXED.contains(params), params
        assert type(params["n"]) is int and type(params["x"]) is float and params["k"] in ("a", "b", "c")
        assert 1e-4 <= params["lr"] <= 1e-1


def test_cmaes_samples_categorical_parameters_with_optunas_independent_sampler():
    # CMA-ES models x and n; Optuna draws k with its seeded RandomSampler: every choice comes up.
    study = hpo.tune(_quadratic, MIXED, n_trials=20, searcher="cmaes", seed=0, tracking=None)
    assert {t.params["k"] for t in study.trials} == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("searcher", "message"),
    [
        (
            {"name": "gp", "n_startup_trails": 3},
            "searcher: unknown option 'n_startup_trails' for GPSampler; did you mean 'n_startup_trials'?",
        ),
        ({"name": "cmaes", "sigma": 0.5}, "searcher: unknown option 'sigma' for CmaEsSampler; did you mean 'sigma0'?"),
        (
            {"name": "qmc", "qmc_typ": "halton"},
            "searcher: unknown option 'qmc_typ' for QMCSampler; did you mean 'qmc_type'?",
        ),
        ({"name": "qmc", "qmc_type": "lhs"}, "searcher: The `qmc_type='lhs'` is invalid. Choose either `halton` or"),
        (
            {"name": "auto", "n_startup_trials": 3},
            "searcher: unknown option 'n_startup_trials' for auto: it takes none; name a searcher to give it options",
        ),
        ("cmaess", "searcher: unknown searcher 'cmaess', expected one of "),
    ],
)
def test_new_searchers_bad_options_are_one_line_errors(searcher, message):
    with pytest.raises(ConfigError) as info:
        hpo.tune(_quadratic, MIXED, n_trials=4, searcher=searcher, tracking=None)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("searcher", "module", "message"),
    [
        ("cmaes", "cmaes", "searcher: 'cmaes' needs cmaes, not installed: pip install cmaes"),
        ("gp", "torch", "searcher: 'gp' needs torch, not installed: pip install 'hpo[torch]'"),
    ],
)
def test_a_searcher_whose_package_is_missing_is_refused_up_front(monkeypatch, searcher, module, message):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else find_spec(name, *a))
    with pytest.raises(ConfigError) as info:
        hpo.tune(_quadratic, MIXED, n_trials=4, searcher=searcher, tracking=None)
    assert str(info.value) == message


class _ConditionalSpace(Space):
    """A flat space that says it is conditional, as one with a ``Choice`` does."""

    @property
    def conditional(self) -> bool:
        return True


CONTINUOUS = Space({"x": Float(-5.0, 5.0), "lr": Float(1e-4, 1e-1, log=True), "n": Int(1, 4)})


@pytest.mark.parametrize(
    ("space", "n_trials", "picked"),
    [
        (CONTINUOUS, 30, "gp"),  # flat, Float and Int only, a small budget: GP
        (CONTINUOUS, 100, "gp"),
        (CONTINUOUS, 101, "tpe"),  # beyond the budgets measured
        (CONTINUOUS, None, "tpe"),  # a timeout only: the budget is not known
        (MIXED, 30, "tpe"),  # a categorical parameter
        (Space({f"x{i}": Float(0.0, 1.0) for i in range(10)}), 50, "gp"),
        (Space({f"x{i}": Float(0.0, 1.0) for i in range(11)}), 50, "tpe"),  # more parameters than measured
        (_ConditionalSpace({"x": Float(0.0, 1.0)}), 30, "tpe"),
    ],
)
def test_auto_picks_by_space_and_budget(space, n_trials, picked):
    from hpo._plan import Settings, plan_study
    from hpo._searchers import pick_searcher

    assert pick_searcher(space, n_trials) == picked
    timeout = None if n_trials else 60.0
    plan = plan_study(_quadratic, space, Settings(searcher="AUTO", n_trials=n_trials, timeout=timeout, tracking=None))
    # The driver builds what the plan says; the study's parent run logs the label.
    assert (plan.searcher, plan.searcher_label) == (picked, f"auto ({picked})")


def test_auto_without_torch_picks_tpe(monkeypatch):
    import importlib.util

    from hpo._searchers import pick_searcher

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a))
    assert pick_searcher(CONTINUOUS, 30) == "tpe"
    assert isinstance(make_sampler("auto", CONTINUOUS, seed=0), optuna.samplers.TPESampler)


def test_auto_label_reaches_the_parent_run(tracking_uri, mlflow_client):
    from tests.conftest import study_runs

    study = hpo.tune(lambda p: (p["x"] - 1) ** 2, CONTINUOUS, n_trials=3, searcher="auto", tracking=tracking_uri)
    assert isinstance(study.optuna_study.sampler, optuna.samplers.GPSampler)
    (parent,), _ = study_runs(mlflow_client, study.name)
    assert parent.data.params["searcher"] == "auto (gp)"
