"""Several processes on one study: the heartbeat keeps each one's trials its own, and
``n_trials`` holds across them (no trial lost, none doubled, no lock errors)."""

from __future__ import annotations

import sys
import time

import optuna
import pytest

from hpo._ownership import OWNER
from hpo._storage import check_storage, open_storage
from hpo._study import FAIL_REASON, trial_state
from tests.conftest import study_runs

pytest.importorskip("ray")

SHARED = """
import os, sys, time
import hpo

GO = sys.argv[4]

def objective(params, trial):
    # Trials wait until the test has seen both processes claim one, so that they really overlap
    # however fast or slow the machine (Ray's start-up takes seconds of the second one).
    deadline = time.time() + 120
    while not os.path.exists(GO) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.15)
    trial.report(params["x"], 0)
    return params["x"] ** 2

study = hpo.tune(objective, {"x": {"float": [-2, 2]}}, n_trials=30, searcher="tpe", seed=int(sys.argv[3]),
                 storage=sys.argv[1], study_name="shared", tracking=sys.argv[2], pruner="none",
                 executor={"kind": "ray", "workers": 2})
print("DONE", study.mlflow_run_id)
"""


def _load(storage):
    return optuna.load_study(study_name="shared", storage=open_storage(check_storage(storage)))


@pytest.mark.parametrize("storage_kind", ["journal", "sqlite", "postgresql"])
def test_two_processes_share_one_study(request, workdir, tracking_uri, mlflow_client, storage_kind, spawn):
    if storage_kind == "postgresql":
        storage = request.getfixturevalue("postgres").new_database()
    else:
        storage = str(workdir / "study.journal") if storage_kind == "journal" else f"sqlite:///{workdir / 'optuna.db'}"
    (workdir / "shared.py").write_text(SHARED)

    def start(seed):
        # Ended with the test, also when it fails: their local Rays and tracking writers too.
        return spawn([sys.executable, "shared.py", storage, tracking_uri, str(seed), str(workdir / "go")])

    first = start(0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the second joins once the first is running trials
        time.sleep(0.5)
        try:
            if len(_load(storage).trials) >= 2:
                break
        except KeyError:  # the study is not created yet
            pass
    second = start(1)
    while time.monotonic() < deadline:  # both processes hold trials: let the trials go on
        time.sleep(0.2)
        if len({t.user_attrs.get(OWNER) for t in _load(storage).trials} - {None}) == 2:
            break
    (workdir / "go").touch()
    outs = [p.communicate(timeout=300) for p in (first, second)]
    for proc, (_, err) in zip((first, second), outs):
        assert proc.returncode == 0, err[-3000:]
        assert "locked" not in err and "Traceback" not in err, err[-3000:]

    trials = _load(storage).trials
    states = [trial_state(t) for t in trials]
    ended = [t for t, s in zip(trials, states) if s in ("complete", "pruned", "failed")]
    assert len(ended) == 30 and states.count("running") == 0 and states.count("failed") == 0
    cut = [t for t, s in zip(trials, states) if s == "interrupted"]
    assert all(t.user_attrs[FAIL_REASON] == "surplus" for t in cut)  # nothing interrupted, nothing lost
    owners = {t.user_attrs[OWNER] for t in ended}
    assert len(owners) == 2  # both processes ran trials of the study

    parents, children = study_runs(mlflow_client, "shared")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    numbers = sorted(int(r.data.tags["hpo.trial_number"]) for r in children)
    assert numbers == sorted(t.number for t in ended)  # one run per trial, none doubled
    assert all(r.info.status == "FINISHED" for r in children)


def test_the_budget_counts_slots_as_trials_end_between_its_reads(workdir):
    from optuna.trial import TrialState, create_trial

    from hpo._ownership import SharedBudget, mark_interrupted
    from hpo._study import WARM_START

    study = optuna.create_study(storage=open_storage(check_storage(f"sqlite:///{workdir / 'b.db'}")))
    budget = SharedBudget(study, n_trials=3)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study.add_trial(create_trial(params={"x": 0.1}, distributions=dist, value=1.0, user_attrs={WARM_START: "old"}))
    first, second = study.ask(dist), study.ask(dist)  # numbers 1, 2
    assert budget.may_ask({}) and budget.fits(2)  # warm: no slot; two running
    study.tell(first, 0.5)
    mark_interrupted(study, second._trial_id, second.number, dict(second.params))  # no slot; enqueued again
    third = study.ask(dist)  # the rerun, number 3
    assert budget.fits(3) and budget.may_ask({3: third})  # slots: 1 ended, 3 running
    fourth = study.ask(dist)
    assert budget.fits(4) and not budget.may_ask({3: third, 4: fourth})  # 1, 3, 4: full
    fifth = study.ask(dist)
    assert not budget.fits(5)  # a fourth slot
    study.tell(third, state=TrialState.FAIL)  # a failed trial keeps its slot
    mark_interrupted(study, fifth._trial_id, 5, {}, reason="surplus")
    assert not budget.may_ask({4: fourth})
    mark_interrupted(study, fourth._trial_id, 4, dict(fourth.params))  # its rerun waits: room again
    assert budget.may_ask({})
    assert budget._ended == 2 and budget._not_slots == [0, 2, 4, 5]


def test_a_queued_trial_taken_but_never_suggested_is_queued_again(workdir):
    # What a lost reply to taking a queued trial leaves: a running trial with no owner and no params.
    from hpo._ownership import recover_interrupted

    study = optuna.create_study(storage=open_storage(check_storage(f"sqlite:///{workdir / 'q.db'}")))
    study.enqueue_trial({"x": 0.25})
    waiting = study.get_trials(deepcopy=False)[0]
    study._storage.set_trial_state_values(waiting._trial_id, optuna.trial.TrialState.RUNNING)
    assert [t.number for t in recover_interrupted(study)] == [0]
    trials = study.get_trials(deepcopy=False)
    assert [trial_state(t) for t in trials] == ["interrupted", "waiting"]
    assert trials[1].system_attrs["fixed_params"] == {"x": 0.25}
