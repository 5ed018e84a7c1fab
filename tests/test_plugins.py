"""Plugins a user's own files cannot shadow: a project folder with its own ``trainers.py`` and
``search_spaces.py`` (common names in ML projects) runs ``hpo run`` and ``hpo.tune()`` with
hpo's trainers and ready-made spaces."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import hpo_cli, hpo_env

USER_TRAINERS = """
# The user's own module, named like hpo's plugin package.
def train(model):
    raise AssertionError("hpo imported the user's trainers.py")
"""

USER_SPACES = """
raise AssertionError("hpo imported the user's search_spaces.py")
"""

CONFIG = """
name: shadow
trainer: {kind: sklearn, estimator: sklearn.linear_model.LogisticRegression, cv: 3}
data: {builtin: iris}
space: logistic_regression
n_trials: 2
seed: 0
tracking: null
"""

SCRIPT = """
import trainers  # the user's own, first on sys.path (the script's folder)

import hpo
from hpo.trainers import SklearnTrainer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
study = hpo.tune(SklearnTrainer(LogisticRegression(max_iter=500), X, y, cv=3), "logistic_regression",
                 n_trials=2, seed=0, tracking=None)
print("best", study.best_value, trainers.__file__)
"""


def test_user_modules_named_like_the_plugins_do_not_shadow_them(workdir):
    (workdir / "trainers.py").write_text(USER_TRAINERS)
    (workdir / "search_spaces.py").write_text(USER_SPACES)
    (workdir / "study.yaml").write_text(CONFIG)
    (workdir / "script.py").write_text(SCRIPT)

    run = hpo_cli("run", "study.yaml", "--quiet", cwd=workdir, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 complete" in run.stdout and "Traceback" not in run.stderr

    spaces = hpo_cli("spaces", cwd=workdir, timeout=120)
    assert spaces.returncode == 0 and "logistic_regression" in spaces.stdout, spaces.stderr[-3000:]

    script = subprocess.run(
        [sys.executable, "script.py"], cwd=workdir, env=hpo_env(), capture_output=True, text=True, timeout=300
    )
    assert script.returncode == 0, script.stderr[-3000:]
    assert script.stdout.startswith("best ") and str(workdir / "trainers.py") in script.stdout
