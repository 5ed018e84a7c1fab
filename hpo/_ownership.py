"""Who runs which trial of a study shared by several processes: ownership, heartbeat, recovery
of trials a crash left running, and the ``n_trials`` budget counted across processes.

Every process running a study on a persistent storage claims the trials it runs (the trial's
user attribute ``hpo:owner``) and keeps a heartbeat in the study's system attributes. A trial
left running is only taken over (failed as interrupted, its configuration queued again) when its
owner is gone: its process is dead (same machine) or its heartbeat is older than ``GRACE_S``.
Optuna's own heartbeat exists for RDB storages only; this one works on journals too.
"""

from __future__ import annotations

import bisect
import os
import socket
import threading
import time
import uuid
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from hpo._checkpoints import RETRY_OF
from hpo._states import COMPLETE, ENDED, FAILED, INTERRUPTED, PRUNED, RUNNING, WAITING
from hpo._study import FAIL_REASON, trial_state

if TYPE_CHECKING:
    import optuna

HEARTBEAT_S = 5.0
GRACE_S = 30.0  # six missed beats: the owner (on another machine) is gone
OWNER = "hpo:owner"
_BEAT = "hpo:heartbeat:"


class Owner:
    """This process's claim on the trials it runs, kept alive by a heartbeat thread.

    Args:
        study: The study, on a persistent storage.
        interval: Seconds between heartbeats.
    """

    def __init__(self, study: optuna.study.Study, interval: float = HEARTBEAT_S) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._storage = study._storage
        self._study_id = study._study_id
        self._interval = interval
        self._stop = threading.Event()
        self._beat(time.time())
        self._thread = threading.Thread(target=self._run, name="hpo-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, when: float) -> None:
        self._storage.set_study_system_attr(self._study_id, _BEAT + self.id, when)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat(time.time())
            except Exception:  # a storage hiccup: the next beat tries again
                pass

    def claim(self, trial_id: int) -> None:
        """Mark a trial as run by this process."""
        self._storage.set_trial_user_attr(trial_id, OWNER, self.id)

    def stop(self) -> None:
        """End the heartbeat; a last beat of 0 tells the others at once that this one is gone."""
        self._stop.set()
        self._thread.join()
        try:
            self._beat(0.0)
        except Exception:
            pass


def live_owners(study: optuna.study.Study) -> set[str]:
    """The owners whose heartbeat is fresh and whose process, if on this machine, is alive."""
    now = time.time()
    live = set()
    for key, beat in study._storage.get_study_system_attrs(study._study_id).items():
        if key.startswith(_BEAT) and beat and now - beat < GRACE_S and _process_alive(key[len(_BEAT) :]):
            live.add(key[len(_BEAT) :])
    return live


def _process_alive(owner: str) -> bool:
    host, pid, _ = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return True  # only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def recover_interrupted(study: optuna.study.Study, live: Collection[str] = ()) -> list[optuna.trial.FrozenTrial]:
    """Fail the trials a crash left running, and queue their configurations again.

    Trials claimed by a ``live`` owner (another process still running them) are left alone.

    Each such trial becomes FAIL with the user attribute ``hpo:fail_reason = interrupted``
    (so it does not count towards ``n_trials``) and its parameters are enqueued, so the
    configuration is run again instead of being skipped.

    Returns:
        The trials recovered, as they were before.
    """
    from optuna.trial import TrialState

    recovered = []
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER)
        if owner in live:
            continue
        if owner is None and live and trial.datetime_start and now - trial.datetime_start.timestamp() < GRACE_S:
            continue  # just asked by a live process that has not claimed it yet
        # (A waiting trial popped by a call whose reply was lost was never suggested: its
        # configuration is still the one it was queued with.)
        params = trial.params or trial.system_attrs.get("fixed_params") or {}
        mark_interrupted(study, trial._trial_id, trial.number, params)
        recovered.append(trial)
    return recovered


def mark_interrupted(
    study: optuna.study.Study, trial_id: int, number: int, params: dict[str, Any], *, reason: str = INTERRUPTED
) -> None:
    """Fail one running trial as interrupted and enqueue its configuration again.

    With ``reason="surplus"`` (another process filled ``n_trials`` first) nothing is enqueued.
    """
    from optuna.trial import TrialState

    storage = study._storage
    storage.set_trial_user_attr(trial_id, FAIL_REASON, reason)
    if storage.set_trial_state_values(trial_id, TrialState.FAIL) and params and reason == INTERRUPTED:
        study.enqueue_trial(params, user_attrs={RETRY_OF: number})


class SharedBudget:
    """``n_trials`` on a study several processes may run at once, counted in the storage.

    A slot is a trial that ended on its own, runs, or waits to run again (an interrupted trial's
    configuration). Slots go by trial number, which the storage hands out in order: a trial
    whose number comes after ``n_trials`` slots is surplus, dropped before it runs.

    A finished trial never changes, so each is classified once: a call reads the study (Optuna's
    cache of an RDB storage sends only the unfinished trials again) and looks only at the trials
    not finished before. Classifying every trial on every ask made a 10,000-trial study's
    driver ~40% slower by its end.
    """

    _SLOTS = (COMPLETE, PRUNED, FAILED, RUNNING, WAITING)

    def __init__(self, study: optuna.study.Study, n_trials: int) -> None:
        self.study = study
        self.n_trials = n_trials
        self._final: dict[int, str] = {}  # number -> hpo state of a finished trial
        self._ended = 0  # finished trials that count towards n_trials
        self._not_slots: list[int] = []  # numbers of finished trials that take no slot, ascending
        self._first_open = 0  # every trial before this index is in _final

    def _read(self) -> dict[str, int]:
        """Fold newly finished trials in; the states of the trials not finished (running, waiting)."""
        trials = self.study.get_trials(deepcopy=False)
        live: dict[str, int] = {RUNNING: 0, WAITING: 0}
        still_open = True
        for index in range(self._first_open, len(trials)):
            t = trials[index]
            if t.number in self._final:
                pass
            elif t.state.is_finished():
                state = self._final[t.number] = trial_state(t)
                if state in ENDED:
                    self._ended += 1
                elif state not in self._SLOTS:
                    bisect.insort(self._not_slots, t.number)
            else:
                state = trial_state(t)
                live[state] = live.get(state, 0) + 1
                still_open = False
                continue
            if still_open:
                self._first_open = index + 1
        return live

    def may_ask(self, mine: Mapping[int, Any]) -> bool:
        """Whether asking could still fill a slot (a waiting trial always can)."""
        live = self._read()
        if live[WAITING]:
            return True
        if self._ended + live[RUNNING] < self.n_trials:
            return True
        if live[RUNNING] > len(mine):
            # Full, with others' trials running: take over those whose process has died.
            if recover_interrupted(self.study, live_owners(self.study)):
                return True
        return False

    def fits(self, number: int) -> bool:
        """Whether trial ``number`` (just asked) has a slot."""
        self._read()
        # Numbers run 0, 1, ...: every trial up to ``number`` takes a slot but those that take none.
        used = number + 1 - bisect.bisect_right(self._not_slots, number)
        return used <= self.n_trials
