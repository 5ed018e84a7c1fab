"""Runnable examples; `hpo run examples/digits_svc.yaml` is the quick start."""
