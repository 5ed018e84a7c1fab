"""The Python API in a dozen lines: `python examples/quickstart.py` from the repository root."""

import hpo
from examples.objectives import svc_digits

if __name__ == "__main__":
    study = hpo.tune(
        svc_digits,
        {"C": hpo.Float(1e-2, 1e3, log=True), "gamma": hpo.Float(1e-5, 1e-1, log=True)},
        n_trials=20,
        direction="maximize",
        searcher="tpe",
        pruner="median",
        seed=0,
        study_name="quickstart",
    )
    print("best accuracy", round(study.best_value, 4), "with", study.best_params)
    print(study.trials_df().sort_values("value", ascending=False).head())
