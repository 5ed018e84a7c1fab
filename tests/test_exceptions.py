"""One exception root; a ConfigError carries its key, so nesting it is structural."""

from __future__ import annotations

import pickle

import pytest

from hpo import ConfigError, HPOError, StudyNotFoundError, TrackingError


def test_config_error_prints_key_and_message_and_nests():
    err = ConfigError("expected a positive integer, got 0", key="epochs")
    assert str(err) == "epochs: expected a positive integer, got 0"
    assert (err.key, err.message) == ("epochs", "expected a positive integer, got 0")
    nested = err.under("trainer")
    assert str(nested) == "trainer.epochs: expected a positive integer, got 0" and nested.key == "trainer.epochs"
    assert str(ConfigError("bad", key=None).under("trainer")) == "trainer: bad"
    assert str(err.rekeyed("trainer.model")) == "trainer.model: expected a positive integer, got 0"
    assert str(ConfigError("no key at all")) == "no key at all"


def test_config_error_keeps_its_key_through_a_pickle():
    # Errors travel from Ray workers and back.
    err = pickle.loads(pickle.dumps(ConfigError("bad value", key="space.lr")))
    assert (err.key, err.message, str(err)) == ("space.lr", "bad value", "space.lr: bad value")


@pytest.mark.parametrize("cls", [ConfigError, TrackingError, StudyNotFoundError])
def test_every_error_has_one_root(cls):
    assert issubclass(cls, HPOError)
