"""summary.md and the held-out test score: ``StudyRun.log_test_score`` stores it with the study,
``Study.test_score`` reads it back (also from a reloaded storage), the summary shows it."""

from __future__ import annotations

import optuna
import pytest

import hpo
from hpo._storage import open_storage
from hpo._summary import summary
from hpo._trial import StudyRun


class ScoredOnce:
    """An objective whose on_study_end scores a made-up test set once, as a trainer does."""

    direction = "maximize"

    def __call__(self, params):
        return params["x"]

    def on_study_end(self, study, run):
        run.log_test_score("val_accuracy", 0.5, rows=40)  # the trial defaults to the best
        with pytest.raises(RuntimeError, match="scored once"):
            run.log_test_score("accuracy", 0.9, rows=40)
        self.ended = True


def test_the_test_score_is_stored_with_the_study_and_in_its_summary(workdir):
    objective = ScoredOnce()
    journal = workdir / "study.journal"
    study = hpo.tune(objective, {"x": [1, 3, 2]}, searcher="grid", study_name="t", storage=str(journal), tracking=None)
    assert objective.ended
    best = study.best_trial.number
    expected = {"metric": "test_accuracy", "value": 0.5, "rows": 40, "trial": best}
    assert study.test_score == expected
    # Read back from the storage alone, as hpo show and hpo compare do.
    reloaded = hpo.Study(optuna.load_study(study_name="t", storage=open_storage(journal)))
    assert reloaded.test_score == expected
    out = summary(reloaded)
    assert out["test"] == expected
    lines = out["texts"]["summary.md"].splitlines()
    assert f"- **Test score**: test_accuracy 0.5 on 40 held-out rows (best trial {best}, scored once)" in lines


def test_no_test_score_without_a_test_set():
    study = hpo.tune(lambda p: p["x"], {"x": [1, 2]}, searcher="grid", tracking=None)
    assert study.test_score is None
    out = summary(study)
    assert "test" not in out and "Test score" not in out["texts"]["summary.md"]
    # Given by hand, the trial is named as given; a name is prefixed once.
    StudyRun(None, study).log_test_score("test_mse", 2.5, rows=7, trial=0)
    assert study.test_score == {"metric": "test_mse", "value": 2.5, "rows": 7, "trial": 0}
