"""Trial checkpoints (hpo/_checkpoints.py): a rerun of an interrupted trial restores its last
checkpoint, after an interrupt or a SIGKILLed driver; corrupt files and other parameters' files
are never loaded; the disk holds the running trials' and the best complete trials' files only."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hpo
from hpo._checkpoints import CheckpointStore, decode, encode
from tests.conftest import hpo_env

SPACE = {"x": hpo.Float(0.0, 1.0)}
STEPS = 6


def stepping(params, trial):
    """Six steps, a checkpoint after each; trial 1 is interrupted at step 3 when told to."""
    restored = trial.restore()
    state = restored or {"step": 0, "total": 0.0}
    trial.set_user_attr("restored_at", state["step"])
    for step in range(state["step"], STEPS):
        state["total"] += params["x"] * (step + 1)
        state["step"] = step + 1
        trial.checkpoint(state)
        trial.report(state["total"], step)
        if step == 3 and trial.number == 1 and os.environ.get("HPO_TEST_STOP") == "interrupt":
            raise KeyboardInterrupt
        if step == 3 and trial.number == 1 and os.environ.get("HPO_TEST_STOP") == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    return state["total"]


def settings(tmp_path: Path, **extra):
    return dict(
        n_trials=4,
        storage=str(tmp_path / "s.journal"),
        study_name="s",
        tracking=None,
        seed=0,
        pruner="none",
        **extra,
    )


def folder(tmp_path: Path) -> Path:
    return tmp_path / "checkpoints" / "s"


def interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the study until trial 1 is interrupted at step 3."""
    monkeypatch.setenv("HPO_TEST_STOP", "interrupt")
    with pytest.raises(KeyboardInterrupt):
        hpo.tune(stepping, SPACE, **settings(tmp_path))
    monkeypatch.delenv("HPO_TEST_STOP")
    assert sorted(p.name for p in folder(tmp_path).iterdir()) == ["trial-0.ckpt", "trial-1.ckpt"]


def test_rerun_restores_the_last_checkpoint_and_ends_as_if_never_interrupted(tmp_path, monkeypatch):
    interrupted(tmp_path, monkeypatch)
    study = hpo.tune(stepping, SPACE, **settings(tmp_path))
    rerun = next(t for t in study.trials if t.user_attrs.get("hpo:retry_of") == 1)
    assert rerun.user_attrs["restored_at"] == 4  # it went on after step 3
    (tmp_path / "cold").mkdir()
    cold = hpo.tune(stepping, SPACE, **settings(tmp_path / "cold"))
    same = next(t for t in cold.trials if t.number == 1)
    assert rerun.params == same.params
    assert rerun.value == same.value
    # This objective reports only the steps it runs (the trainers report the restored ones again).
    assert rerun.intermediate_values == {k: v for k, v in same.intermediate_values.items() if k >= 4}
    # Only the best complete trial keeps its file (keep_best=1).
    assert [p.name for p in folder(tmp_path).iterdir()] == [f"trial-{study.best_trial.number}.ckpt"]


def test_rerun_after_the_driver_was_sigkilled(tmp_path):
    script = textwrap.dedent(
        f"""
        import hpo
        from tests.test_checkpoints import SPACE, settings, stepping
        from pathlib import Path
        hpo.tune(stepping, SPACE, **settings(Path({str(tmp_path)!r})))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env=hpo_env(HPO_TEST_STOP="kill"), capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    study = hpo.tune(stepping, SPACE, **settings(tmp_path))
    rerun = next(t for t in study.trials if t.user_attrs.get("hpo:retry_of") == 1)
    assert rerun.user_attrs["restored_at"] == 4
    assert len(rerun.intermediate_values) == STEPS - 4  # this run reported the steps it ran


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "other params"])
def test_a_bad_checkpoint_is_reported_and_the_trial_starts_from_scratch(tmp_path, monkeypatch, caplog, damage):
    interrupted(tmp_path, monkeypatch)
    file = folder(tmp_path) / "trial-1.ckpt"
    data = file.read_bytes()
    if damage == "truncated":
        file.write_bytes(data[: len(data) - 7])
    elif damage == "corrupt":
        file.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    else:  # trial 0's checkpoint (other parameters) in trial 1's place
        file.write_bytes((folder(tmp_path) / "trial-0.ckpt").read_bytes())
    with caplog.at_level(logging.WARNING, logger="hpo"):
        study = hpo.tune(stepping, SPACE, **settings(tmp_path))
    lines = [r.getMessage() for r in caplog.records if "checkpoint" in r.getMessage()]
    expected = {"truncated": "truncated", "corrupt": "corrupt", "other params": "written for other parameters"}
    assert len(lines) == 1 and expected[damage] in lines[0] and "starts from scratch" in lines[0]
    rerun = next(t for t in study.trials if t.user_attrs.get("hpo:retry_of") == 1)
    assert rerun.user_attrs["restored_at"] == 0 and rerun.state.name == "COMPLETE"


def pruned_or_failing(params, trial):
    for step in range(3):
        trial.checkpoint({"step": step, "weights": [params["x"]] * 100})
        trial.report(params["x"], step)
    if params["x"] > 0.9:
        raise ValueError("too large")
    return params["x"]


def test_disk_holds_the_best_complete_trials_only(tmp_path):
    peaks = []

    def count(study, trial):
        peaks.append(len(list(folder(tmp_path).glob("*.ckpt"))))

    study = hpo.tune(
        pruned_or_failing,
        SPACE,
        **{**settings(tmp_path), "n_trials": 20, "pruner": "median", "keep_best": 2},
        callbacks=[count],
    )
    kept = sorted(p.name for p in folder(tmp_path).iterdir())
    best = sorted(study.trials_df().query("state == 'complete'").nsmallest(2, "value")["number"])
    assert kept == [f"trial-{n}.ckpt" for n in best]
    assert max(peaks) <= 2  # after each trial: the kept ones, never a pruned or failed trial's
    assert study.counts()["pruned"] > 0


def test_keep_best_zero_leaves_no_file(tmp_path):
    hpo.tune(pruned_or_failing, SPACE, **{**settings(tmp_path), "keep_best": 0})
    assert list(folder(tmp_path).glob("*.ckpt")) == []


def test_in_memory_study_checkpoints_in_a_folder_removed_at_its_end(tmp_path):
    temp = Path(os.environ.get("TMPDIR", "/tmp"))
    before = set(temp.glob("hpo-checkpoints-*"))
    seen = []

    def objective(params, trial):
        trial.checkpoint({"x": params["x"]})
        # What this attempt started from (None: a fresh trial), not what it saved since.
        seen.append(
            (trial.restore(), [len(list(f.glob("*.ckpt"))) for f in set(temp.glob("hpo-checkpoints-*")) - before])
        )
        return params["x"]

    hpo.tune(objective, SPACE, n_trials=2, tracking=None)
    assert seen == [(None, [1]), (None, [2])]  # the best and the running trial's
    assert set(temp.glob("hpo-checkpoints-*")) == before


def test_checkpoint_dir_and_keep_best_are_checked(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(hpo.ConfigError, match=r"checkpoint_dir: .*file.* is a file, expected a folder"):
        hpo.tune(stepping, SPACE, n_trials=1, tracking=None, checkpoint_dir=str(tmp_path / "file"))
    with pytest.raises(hpo.ConfigError, match=r"keep_best: expected a non-negative integer, got -1"):
        hpo.tune(stepping, SPACE, n_trials=1, tracking=None, keep_best=-1)


def test_checkpoint_dir_holds_a_folder_per_study(tmp_path):
    hpo.tune(stepping, SPACE, **settings(tmp_path, checkpoint_dir=str(tmp_path / "ck")))
    assert [p.name for p in (tmp_path / "ck").iterdir()] == ["s"]
    assert len(list((tmp_path / "ck" / "s").glob("*.ckpt"))) == 1


def test_store_round_trip_and_moves(tmp_path):
    store = CheckpointStore(tmp_path, keep_best=1)
    state = {"a": [1, 2], "b": "text"}
    store.save(3, {"x": 0.5}, encode(state))
    assert decode(store.load(3, {"x": 0.5})) == state
    store.move(3, 7)
    assert store.load(3, {"x": 0.5}) is None and decode(store.load(7, {"x": 0.5})) == state
    store.ended(7, "pruned", None)
    assert store.files() == []
