"""Bad input, fuzzed: `hpo run` on malformed configs, spaces, data files and options.

Every case starts from a valid study (a RidgeClassifier on the bundled iris set, 2 trials) and
applies ONE corruption. The CLI runs in-process (``hpo._cli.main``, as the ``hpo`` script does) in
its own temporary folder, which is also the working directory, with the study home (``--dir``)
and the MLflow store (``tracking: sqlite:///TMP/mlflow.db``) inside it. Each case must give:

- exit code 2 and nothing on stdout;
- stderr exactly one line ``error: KEY...: ...`` whose KEY is the corrupted key (``n_trials``,
  ``space.alpha``, ``trainer.cv``, ``data.target``, ...); no traceback. What a real run would add to
  stderr is counted too: warnings that Python shows by default and WARNING log records;
- nothing created: the folder holds exactly what it held before (no study folder, journal,
  index, MLflow database or artifacts).

The cases tried are counted per family and printed at the end of the module. The 30 bugs this
fuzzing found are fixed; each stays as a regression case in ``FIXED_BUGS`` (one minimal input).
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import io
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import hpo._cli
import hpo._config
import hpo._tune
from hpo import search_spaces
from hpo._cli import main
from tests.conftest import hpo_env

TMP = "@TMP@"  # replaced by the case's temporary folder in everything written or passed
KEYS = tuple(hpo._config.KEYS)  # the top-level keys; each needs an oracle in _valid_top_level
SEARCHERS = ("grid", "random", "tpe", "gp", "cmaes", "qmc", "nsga2", "nsga3", "auto")
PRUNERS = ("none", "median", "successive_halving", "hyperband", "asha", "sha", "nop")
SPLITTERS = ("kfold", "stratified", "timeseries", "group", "stratified_group")
BUILTINS = ("digits", "breast_cancer", "wine", "iris", "diabetes")
TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
JOURNAL_SUFFIXES = (".journal", ".log", ".jsonl")
COLUMNS = ("a", "b", "g", "t", "y")
TABLE = "a,b,g,t,y\n" + "".join(f"{i * 0.37 % 5:.3f},{i % 7},{i % 5},{i},{i % 3}\n" for i in range(30))
READY_SPACES = tuple(search_spaces.available())
_NAME_OK = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")  # what a study name should be

# -- the valid study every case corrupts ---------------------------------------------------------


def base() -> dict[str, Any]:
    return {
        "name": "fuzz",
        "trainer": {"kind": "sklearn", "estimator": "sklearn.linear_model.RidgeClassifier", "cv": 3},
        "data": {"builtin": "iris"},
        "space": {"alpha": {"float": [0.01, 10.0], "log": True}},
        "direction": "maximize",
        "n_trials": 2,
        "seed": 0,
        "searcher": "tpe",
        "pruner": "median",
        "executor": "inline",
        "tracking": f"sqlite:///{TMP}/mlflow.db",
    }


def table_base() -> dict[str, Any]:
    """The same study on a CSV table (``table.csv``, written with ``TABLE_FILES``)."""
    config = base()
    config["data"] = {"path": "table.csv", "target": "y"}
    return config


TABLE_FILES = {"table.csv": TABLE}

# The same study as hand-written YAML with flow collections, for the bad-YAML family.
BASE_TEXT = f"""\
name: fuzz
trainer:
  kind: sklearn
  estimator: sklearn.linear_model.RidgeClassifier
  cv: {{name: stratified, n_splits: 3}}
data: {{builtin: iris}}
space:
  alpha: {{float: [0.01, 10.0], log: true}}
  fit_intercept: [true, false]
direction: maximize
n_trials: 2
seed: 0
searcher: {{name: tpe, n_startup_trials: 1}}
pruner: median
tracking: "sqlite:///{TMP}/mlflow.db"
"""

# -- running one case ------------------------------------------------------------------------------

TRIED: collections.Counter[str] = collections.Counter()  # cases run, per family
PASSED: collections.Counter[str] = collections.Counter()  # cases that met every property
EXPECTED: dict[str, int] = {}  # fuzzed families: the examples each is configured to generate


@dataclass
class Outcome:
    code: Any  # the SystemExit code
    stdout: str
    stderr: str  # with the warnings and log records a real run would print there
    error: str | None  # the traceback of an exception that escaped main()
    created: list[str]  # paths in the case's folder that were not there before
    text: str  # the config file as written

    def describe(self) -> str:
        return (
            f"\n--- config ---\n{self.text}\n--- exit code: {self.code!r}\n--- stderr ---\n{self.stderr}"
            f"--- stdout ---\n{self.stdout}\n--- created: {self.created}\n--- traceback ---\n{self.error}"
        )


def dump(config: Any) -> str:
    return yaml.safe_dump(config, sort_keys=False, width=1_000_000)


def dumps_faithfully(config: Any) -> bool:
    """Whether PyYAML reads back what it wrote (it does not for keys like '<<' or '=')."""
    try:
        text = dump(config)
        return dump(yaml.safe_load(text)) == text
    except yaml.YAMLError:
        return False


def _snapshot(folder: Path) -> set[tuple[str, bool, int]]:
    return {(str(p.relative_to(folder)), p.is_dir(), 0 if p.is_dir() else p.stat().st_size) for p in folder.rglob("*")}


class _LogSink(logging.Handler):
    """WARNING records, as the last-resort handler of a real run prints them on stderr."""

    def __init__(self, stream: io.StringIO) -> None:
        super().__init__(logging.WARNING)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(record.getMessage() + "\n")


@contextlib.contextmanager
def _logs_to(stream: io.StringIO) -> Iterator[None]:
    handler = _LogSink(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


class StudyWouldStart(Exception):
    """The config passed every check and the study was about to start (see ``run_cli``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("the malformed config was accepted: the study was about to start")


# Python's default filters hide these categories; any other warning is printed on stderr.
_HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def run_cli(
    family: str,
    config: dict[str, Any] | str | bytes,
    *,
    files: dict[str, str | bytes | None] | None = None,
    args: tuple[str, ...] = (),
    config_arg: str | None = None,
    guard: bool = True,
) -> Outcome:
    """Run ``hpo run CONFIG --quiet --dir TMP/home ARGS`` in a fresh temporary folder.

    ``files`` are written first (``None`` makes a folder); ``config`` is a dict (dumped to YAML),
    YAML text or raw bytes, written to ``study.yaml``; ``config_arg`` replaces that path on the
    command line; ``@TMP@`` anywhere is replaced by the folder.

    With ``guard``, a config that gets past planning does not run: ``hpo._driver.run_plan`` raises
    :class:`StudyWouldStart` instead (a traceback, so the case fails at once, and cheaply while
    Hypothesis shrinks it). Every input of the fuzzed families is malformed, so it must be refused
    while planning, before the study folder exists; the known-bug cases run unguarded.
    """
    TRIED[family] += 1
    saved_cwd, saved_path = os.getcwd(), list(sys.path)
    with tempfile.TemporaryDirectory(prefix="hpo-fuzz-") as name:
        tmp = Path(name)
        try:
            os.chdir(tmp)
            for rel, content in (files or {}).items():
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                if content is None:
                    target.mkdir()
                elif isinstance(content, bytes):
                    target.write_bytes(content)
                else:
                    target.write_text(content, encoding="utf-8")
            raw = (
                config if isinstance(config, bytes) else (config if isinstance(config, str) else dump(config)).encode()
            )
            raw = raw.replace(TMP.encode(), str(tmp).encode())
            path = tmp / "study.yaml"
            path.write_bytes(raw)
            before = _snapshot(tmp)
            out, err = io.StringIO(), io.StringIO()
            code, error = None, None
            argv = [
                "run",
                config_arg.replace(TMP, str(tmp)) if config_arg else str(path),
                "--quiet",
                "--dir",
                str(tmp / "home"),
                *(a.replace(TMP, str(tmp)) for a in args),
            ]
            no_run = (
                mock.patch.object(hpo._driver, "run_plan", side_effect=StudyWouldStart)
                if guard
                else contextlib.nullcontext()
            )
            with (
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
                _logs_to(err),
                no_run,
                warnings.catch_warnings(record=True) as caught,
            ):
                warnings.simplefilter("always")
                try:
                    main(argv)
                except SystemExit as exc:
                    code = exc.code
                except Exception:  # a real run prints this as a traceback and exits 1
                    error = traceback.format_exc()
            stderr = err.getvalue() + "".join(
                warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
                for w in caught
                if not issubclass(w.category, _HIDDEN_WARNINGS)
            )
            created = sorted(p for p, _, _ in _snapshot(tmp) - before)
            return Outcome(code, out.getvalue(), stderr, error, created, raw.decode("utf-8", "replace"))
        finally:
            os.chdir(saved_cwd)
            sys.path[:] = saved_path  # the CLI puts the config's folder and the cwd on it


def assert_rejected(family: str, out: Outcome, key: str, *, contains: tuple[str, ...] = ()) -> None:
    """Exit 2, one line ``error: KEY: ...`` (or ``KEY.sub``) holding ``contains``, nothing created."""
    where = out.describe()
    assert out.error is None, f"a traceback instead of an error line{where}"
    assert out.code == 2, f"exit code {out.code!r}, expected 2{where}"
    line = out.stderr[:-1] if out.stderr.endswith("\n") else out.stderr
    assert line, f"no error message{where}"
    assert "\n" not in line and "\r" not in line, f"stderr is not one line{where}"
    assert "Traceback" not in line, where
    assert line.startswith("error: "), f"stderr does not start with 'error: '{where}"
    # (KEY[i]: an item of a list, such as constraints[0].)
    named = line.startswith((f"error: {key}:", f"error: {key}.", f"error: {key}["))
    assert named, f"the message does not name {key!r}{where}"
    for part in contains:
        assert part in line, f"the message lacks {part!r}{where}"
    assert out.stdout == "", f"something on stdout{where}"
    assert out.created == [], f"files were left behind{where}"
    PASSED[family] += 1


FUZZ = {"deadline": None, "derandomize": True, "database": None, "suppress_health_check": [HealthCheck.too_slow]}


def fuzz(family: str, n: int) -> Callable[[Any], Any]:
    """``@settings`` for a fuzzed family of ``n`` generated examples, registered for the count."""
    EXPECTED[family] = n
    return settings(max_examples=n, **FUZZ)


# -- strategies ------------------------------------------------------------------------------------

# Any text (newlines and control characters included): hpo quotes values and most keys with repr().
ANY_TEXT = st.text(min_size=1, max_size=16)
# One-line text (no control characters, no line or paragraph separators): for names hpo prints as
# they are (FIXED_BUGS "newline-in-a-parameter-name", "newline-in-a-splitter-option") and for
# command-line arguments (which cannot hold a NUL).
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=16)
WORD = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1, max_size=12)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
)
VALUES = st.recursive(
    SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(ANY_TEXT, c, max_size=3), max_leaves=6
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@st.composite
def typo(draw: st.DrawFn, words: tuple[str, ...]) -> str:
    """A word one edit away from one of ``words`` (may still be valid: filter it)."""
    word = draw(st.sampled_from(words))
    i = draw(st.integers(0, len(word)))
    edit = draw(st.sampled_from(["insert", "delete", "replace", "swap", "case"]))
    char = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_-.0"))
    if edit == "insert":
        return word[:i] + char + word[i:]
    if edit == "delete" and len(word) > 1:
        i = min(i, len(word) - 1)
        return word[:i] + word[i + 1 :]
    if edit == "swap" and len(word) > 2:
        i = min(i, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if edit == "case":
        return word.upper()
    i = min(i, len(word) - 1)
    return word[:i] + char + word[i + 1 :]


# A wrong value for each top-level key: anything the key does not accept.
def _valid_top_level(key: str, value: Any) -> bool:
    if key == "n_trials":
        return _is_int(value) and value >= 1
    if key == "seed":
        return value is None or (_is_int(value) and 0 <= value < 2**32)
    if key == "searcher":
        return (isinstance(value, str) and value.lower().replace("-", "_") in SEARCHERS) or (
            isinstance(value, dict) and "name" in value
        )
    if key == "pruner":
        return (
            value is None
            or (isinstance(value, str) and value.lower().replace("-", "_") in PRUNERS)
            or (isinstance(value, dict) and "name" in value)
        )
    if key == "space":
        # Mappings are the bad-bounds family.
        return isinstance(value, dict) and bool(value) or (isinstance(value, str) and value in READY_SPACES)
    if key == "trainer":
        return isinstance(value, dict)
    if key == "data":
        return isinstance(value, dict) and ("builtin" in value or "path" in value)
    if key == "direction":
        return value in (None, "minimize", "maximize")
    if key == "executor":
        # Mappings with a kind: the unknown-name and unknown-key families (Ray itself is too slow
        # to start here).
        return value in ("inline", "ray") or (isinstance(value, dict) and "kind" in value)
    if key in ("timeout", "trial_timeout"):
        return value is None or (_is_number(value) and value > 0)
    if key == "tracking":
        if value is None or value is False:
            return True
        return (
            isinstance(value, str)
            and ":" in value
            and (value.split(":", 1)[0].split("+", 1)[0].lower() in TRACKING_SCHEMES)
        )
    if key == "name":
        return isinstance(value, str) and bool(_NAME_OK.fullmatch(value))
    if key == "storage":
        # RDB URLs (FIXED_BUGS["storage-*"] cover those that cannot be opened); journal paths.
        return value is None or (isinstance(value, str) and ("://" in value or value.endswith(JOURNAL_SUFFIXES)))
    if key == "objective":
        return False  # with a trainer: block, any objective is one too many
    if key == "plots":
        return value is None or isinstance(value, bool)
    if key in ("constraints", "outcome_constraints"):
        return value is None  # a list of expressions over the space's names: its own tests
    if key in ("objectives", "directions", "select", "reference_point", "prune_on"):
        # The base config has direction: maximize and one scorer: any value of these is one
        # too many (several objectives have their own tests, tests/test_objectives.py).
        return value is None
    if key == "checkpoint_dir":
        return value is None or (isinstance(value, str) and bool(value.strip()) and "\x00" not in value)
    if key == "keep_best":
        return _is_int(value) and value >= 0
    if key == "warm_start":
        return value is None or value == []  # (an empty list: no configuration to run first)
    if key in ("reproducible", "resource_metrics"):
        return value is None or isinstance(value, bool) or value == {}  # {}: on, with the defaults
    if key == "child_runs":
        return (
            value is None
            or value in ("all", "none")
            or (isinstance(value, dict) and set(value) == {"top_k"} and _is_int(value["top_k"]) and value["top_k"] >= 1)
        )
    raise AssertionError(f"hpo has a new top-level key {key!r}: say in _valid_top_level which values it takes")


@st.composite
def wrong_type(draw: st.DrawFn) -> tuple[str, Any]:
    key = draw(st.sampled_from(KEYS))
    value = draw(VALUES)
    assume(not _valid_top_level(key, value))
    return key, value


# -- the families ------------------------------------------------------------------------------------


@fuzz("wrong type of a top-level key", 250)
@given(wrong_type())
@example(("n_trials", "2")).via("hand-picked")
@example(("n_trials", 0)).via("hand-picked")
@example(("n_trials", 2.5)).via("hand-picked")
@example(("n_trials", None)).via("hand-picked")
@example(("seed", "0")).via("hand-picked")
@example(("seed", 1.5)).via("hand-picked")
@example(("seed", True)).via("hand-picked")
@example(("searcher", 3)).via("hand-picked")
@example(("searcher", {"n_startup_trials": 3})).via("hand-picked")
@example(("pruner", ["median"])).via("hand-picked")
@example(("space", 12)).via("hand-picked")
@example(("space", {})).via("hand-picked")
@example(("space", "nothere.yaml")).via("hand-picked")
@example(("trainer", "sklearn")).via("hand-picked")
@example(("data", "iris")).via("hand-picked")
@example(("data", None)).via("hand-picked")
@example(("direction", "max")).via("hand-picked")
@example(("executor", "threads")).via("hand-picked")
@example(("executor", {"workers": 2})).via("hand-picked")
@example(("timeout", 0)).via("hand-picked")
@example(("timeout", -1.5)).via("hand-picked")
@example(("timeout", math.nan)).via("hand-picked")
@example(("timeout", "60")).via("hand-picked")
@example(("tracking", 5)).via("hand-picked")
@example(("tracking", True)).via("hand-picked")
@example(("tracking", "mlruns")).via("hand-picked")
@example(("tracking", "file:///tmp/mlruns")).via("hand-picked")
@example(("tracking", "sqlite://")).via("hand-picked")
@example(("tracking", "sqlite:///:memory:")).via("hand-picked")
@example(("name", "a b")).via("hand-picked")
@example(("name", "")).via("hand-picked")
@example(("name", "../up")).via("hand-picked")
@example(("name", 7)).via("hand-picked")
@example(("storage", 5)).via("hand-picked")
@example(("storage", "study.db")).via("hand-picked")
@example(("storage", "nothere/study.journal")).via("hand-picked")
@example(("objective", "examples.objectives:quadratic")).via("hand-picked")
def test_wrong_type_of_a_top_level_key(case: tuple[str, Any]) -> None:
    key, value = case
    config = base()
    config[key] = value
    assume(dumps_faithfully(config))
    family = "wrong type of a top-level key"
    assert_rejected(family, run_cli(family, config), key)


def _drop(path: str, *, table: bool = False, put: tuple[str, Any] | None = None) -> dict[str, Any]:
    """The base config without the key at dotted ``path`` (after setting ``put``)."""
    config = table_base() if table else base()
    if put is not None:
        where, value = put
        *parents, last = where.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[last] = value
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    del node[last]
    return config


MISSING = [
    # (id, config, key named, text the line must hold)
    ("space", _drop("space"), "space", ("missing key",)),
    ("trainer", _drop("trainer"), "objective", ("trainer", "neither")),
    ("data", _drop("data"), "data", ("missing key",)),
    ("n_trials", _drop("n_trials"), "n_trials", ("required",)),
    ("trainer.kind", _drop("trainer.kind"), "trainer.kind", ("None",)),
    ("trainer.estimator", _drop("trainer.estimator"), "trainer.estimator", ("missing key",)),
    ("data.builtin", _drop("data.builtin"), "data", ("missing key 'path'",)),
    ("data.path", _drop("data.path", table=True), "data", ("missing key 'path'",)),
    ("data.target", _drop("data.target", table=True), "data", ("missing key 'target'",)),
    (
        "space.alpha.low",
        _drop("space.alpha.low", put=("space.alpha", {"type": "float", "low": 0.1, "high": 1.0})),
        "space.alpha",
        ("'low'",),
    ),
    (
        "space.alpha.high",
        _drop("space.alpha.high", put=("space.alpha", {"type": "int", "low": 1, "high": 9})),
        "space.alpha",
        ("'high'",),
    ),
    (
        "space.alpha.choices",
        _drop("space.alpha.choices", put=("space.alpha", {"type": "categorical", "choices": [1.0]})),
        "space.alpha",
        ("'choices'",),
    ),
    ("space.alpha.float", _drop("space.alpha.float"), "space.alpha", ()),
    (
        "searcher.name",
        _drop("searcher.name", put=("searcher", {"name": "tpe", "n_startup_trials": 1})),
        "searcher",
        ("'name'",),
    ),
    (
        "pruner.name",
        _drop("pruner.name", put=("pruner", {"name": "median", "n_warmup_steps": 1})),
        "pruner",
        ("'name'",),
    ),
    (
        "trainer.cv.name",
        _drop("trainer.cv.name", put=("trainer.cv", {"name": "kfold", "n_splits": 3})),
        "trainer.cv",
        ("'name'",),
    ),
    ("executor.kind", _drop("executor.kind", put=("executor", {"kind": "inline"})), "executor", ("'kind'",)),
    (
        "trainer.estimator.class",
        _drop(
            "trainer.estimator.class",
            put=("trainer.estimator", {"class": "sklearn.linear_model.RidgeClassifier", "params": {}}),
        ),
        "trainer.estimator",
        (),
    ),
]


@pytest.mark.parametrize(("config", "key", "contains"), [pytest.param(*m[1:], id=m[0]) for m in MISSING])
def test_missing_key(config: dict[str, Any], key: str, contains: tuple[str, ...]) -> None:
    family = "missing key"
    assert_rejected(family, run_cli(family, config, files=TABLE_FILES), key, contains=contains)


# Bad bounds of a float or int parameter: every draw breaks a rule of Float or Int.
NON_NUMBERS = st.one_of(
    TEXT.filter(lambda s: not _parses_as_float(s)),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(WORD, st.integers(0, 9), max_size=1),
)
FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def bad_domain(draw: st.DrawFn) -> tuple[dict[str, Any] | list[Any], str]:
    """A parameter spec breaking one rule, and the rule."""
    kind = draw(st.sampled_from(["float", "int", "categorical"]))
    extra: dict[str, Any] = {}
    if kind == "categorical":
        rule = draw(st.sampled_from(["empty", "repeated", "not a scalar", "not a list"]))
        if rule == "empty":
            choices: Any = []
        elif rule == "repeated":
            one = draw(st.one_of(st.integers(-5, 5), FINITE, WORD, st.booleans(), st.none()))
            choices = [one, *draw(st.lists(st.integers(100, 200), max_size=2)), one]
        elif rule == "not a scalar":
            choices = [draw(st.sampled_from([[1, 2], {"a": 1}, []]))]
        else:
            choices = draw(st.one_of(st.integers(), WORD, st.dictionaries(WORD, st.integers(), max_size=1)))
            spec = {"categorical": choices}  # the compact form: a bare list would be valid
            return spec, rule
        return (choices if draw(st.booleans()) else {"categorical": choices}), rule
    numbers = FINITE if kind == "float" else st.integers(-(10**6), 10**6)
    rule = draw(
        st.sampled_from(
            ["low >= high", "log with low too small", "not a number", "bounds shape", "bad step", "log not a bool"]
            + (["non-finite"] if kind == "float" else ["not an integer", "log with step"])
        )
    )
    low, high = draw(numbers), draw(numbers)
    if rule == "low >= high":
        low, high = max(low, high), min(low, high)
        extra["log"] = draw(st.booleans()) and high > (0 if kind == "float" else 1)
    elif rule == "log with low too small":
        low = -abs(low) if kind == "float" else min(low, 0)
        high = low + abs(high) + 1
        extra["log"] = True
    elif rule == "non-finite":
        bad = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        low, high = (bad, high) if draw(st.booleans()) else (low, bad)
    elif rule == "not a number":
        bad = draw(NON_NUMBERS)
        low, high = (bad, max(low, 1) + 1) if draw(st.booleans()) else (min(low, 0), bad)
    elif rule == "not an integer":
        frac = draw(st.sampled_from([0.5, 0.25, 0.1, 0.999]))
        low, high = min(low, high), max(low, high) + 2
        low, high = (low + frac, high) if draw(st.booleans()) else (low, high + frac)
    elif rule == "bad step":
        low, high = min(low, high), max(low, high) + 1
        step = draw(
            st.one_of(
                st.sampled_from([0, -1, -0.5, math.nan]),
                NON_NUMBERS.filter(lambda v: v is not None),  # None: no step
                st.just("does not divide"),
            )
        )
        if step == "does not divide":
            if kind == "float":
                low, high, step = 0.0, 1.0, draw(st.sampled_from([0.3, 0.7, 0.4, 0.15]))
            else:
                low, high, step = 0, 10, draw(st.sampled_from([3, 4, 6, 7]))
        extra["step"] = step
    elif rule == "log with step":  # int only: log needs step 1
        low, high, extra = 1, 9, {"log": True, "step": draw(st.sampled_from([2, 4, 8]))}
    elif rule == "log not a bool":
        low, high = min(low, high), max(low, high) + 1
        extra["log"] = draw(st.one_of(st.integers(0, 2), WORD, st.none(), st.just([True])))
    form = draw(st.sampled_from(["compact", "long"]))
    if rule == "bounds shape":
        bounds = draw(
            st.one_of(
                st.lists(numbers, max_size=4).filter(lambda b: len(b) != 2),
                numbers,
                WORD,
                st.none(),
            )
        )
        return {kind: bounds, **extra}, rule
    if form == "compact":
        return {kind: [low, high], **extra}, rule
    return {"type": kind, "low": low, "high": high, **extra}, rule


# Parameter names: one-line text (a newline in a name is FIXED_BUGS["newline-in-a-parameter-name"]).
PARAM = TEXT.filter(lambda s: s not in ("<<", "="))


@fuzz("bad bounds", 300)
@given(bad_domain(), PARAM)
@example(({"float": [3, -3]}, "low >= high"), "C").via("hand-picked")
@example(({"float": [1.0, 1.0]}, "low >= high"), "C").via("hand-picked")
@example(({"float": [0, 1], "log": True}, "log with low too small"), "C").via("hand-picked")
@example(({"float": [-1e-3, 1], "log": True}, "log with low too small"), "C").via("hand-picked")
@example(({"int": [0, 10], "log": True}, "log with low too small"), "C").via("hand-picked")
@example(({"float": ["abc", 1]}, "not a number"), "C").via("hand-picked")
@example(({"float": [0, None]}, "not a number"), "C").via("hand-picked")
@example(({"float": [math.nan, 1]}, "non-finite"), "C").via("hand-picked")
@example(({"float": [0, math.inf]}, "non-finite"), "C").via("hand-picked")
@example(({"float": [0, "1e400"]}, "non-finite"), "C").via("hand-picked")
@example(({"int": [0.5, 3]}, "not an integer"), "C").via("hand-picked")
@example(({"int": [1, 10], "step": 4}, "bad step"), "C").via("hand-picked")
@example(({"float": [0, 1], "step": 0}, "bad step"), "C").via("hand-picked")
@example(({"float": [0.1, 1], "log": True, "step": 0.1}, "log with step"), "C").via("hand-picked")
@example(({"float": [0, 1, 2]}, "bounds shape"), "C").via("hand-picked")
@example(({"type": "float", "low": 2, "high": 1}, "low >= high"), "C").via("hand-picked")
@example(({"type": "double", "low": 0, "high": 1}, "type"), "C").via("hand-picked")
@example(([], "empty"), "C").via("hand-picked")
@example(([1, 1], "repeated"), "C").via("hand-picked")
@example(({"float": [0, 1], "log": "yes"}, "log not a bool"), "C").via("hand-picked")
def test_bad_bounds(domain: tuple[Any, str], param: str) -> None:
    spec, _rule = domain
    config = base()
    config["space"] = {param: spec}
    assume(dumps_faithfully(config))
    family = "bad bounds"
    assert_rejected(family, run_cli(family, config), f"space.{param}")


def _nested(spec: Any, names: list[tuple[str, str]]) -> dict[str, Any]:
    """``{c1: {choice: {b1: {c2: {choice: {b2: {p: spec}}}}}}}`` for names [(c1, b1), (c2, b2)]."""
    inner: dict[str, Any] = {"p": spec}
    for choice, branch in reversed(names):
        inner = {choice: {"choice": {branch: inner}}}
    return inner


@fuzz("bad domain in a branch", 150)
@given(bad_domain(), st.lists(st.tuples(PARAM, PARAM), min_size=1, max_size=3))
@example(({"float": [3, -3]}, "low >= high"), [("model", "svc")]).via("hand-picked")
@example(({"float": [0, 1], "step": 0}, "bad step"), [("model", "svc"), ("kernel", "poly")]).via("hand-picked")
def test_a_bad_domain_inside_a_branch_names_its_path(domain: tuple[Any, str], names: list[tuple[str, str]]) -> None:
    spec, _rule = domain
    choices = [c for c, _ in names]
    assume(len(set(choices)) == len(choices) and "p" not in choices)  # (else: a name collision)
    config = base()
    config["space"] = _nested(spec, names)
    assume(dumps_faithfully(config))
    family = "bad domain in a branch"
    path = ".".join(f"{c}.{b}" for c, b in names)
    assert_rejected(family, run_cli(family, config), f"space.{path}.p")


@fuzz("bad choice", 60)
@given(PARAM, st.sampled_from(["empty", "not a mapping", "collision", "extra key"]), WORD)
@example("model", "empty", "x").via("hand-picked")
@example("model", "collision", "x").via("hand-picked")
def test_a_bad_choice_is_refused_with_its_path(choice: str, rule: str, word: str) -> None:
    spec: Any
    key = f"space.{choice}"
    if rule == "empty":
        spec, contains = {"choice": {}}, ("at least one branch",)
    elif rule == "not a mapping":
        spec, contains = {"choice": [word]}, ("expected a mapping of branch name to sub-space",)
    elif rule == "extra key":
        spec, contains = {"choice": {word: {}}, "log": True}, ("unknown key 'log'",)
    else:  # a branch parameter named as the choice: both would reach the objective
        spec, contains = {"choice": {word: {choice: [1, 2]}}}, ("also the name of a parameter active with it",)
        key = f"space.{choice}.{word}.{choice}"
    config = base()
    config["space"] = {choice: spec}
    assume(dumps_faithfully(config))
    family = "bad choice"
    assert_rejected(family, run_cli(family, config), key, contains=contains)


# Unknown names: searcher, pruner, splitter, scorer, estimator, data set, trainer kind, executor,
# ready-made space. Random text, or one edit away from a valid name.
def _scorers() -> frozenset[str]:
    from sklearn.metrics import get_scorer_names

    return frozenset(get_scorer_names())


NAMES = {
    # field: (valid names, where it goes, key named)
    "searcher": (SEARCHERS, "searcher", "searcher"),
    "pruner": (PRUNERS, "pruner", "pruner"),
    "splitter": (SPLITTERS, "trainer.cv", "trainer.cv"),
    "scoring": (("accuracy", "f1_macro", "roc_auc_ovr", "balanced_accuracy"), "trainer.scoring", "trainer.scoring"),
    "estimator": (
        ("sklearn.linear_model.RidgeClassifier", "sklearn.svm.SVC", "sklearn.ensemble.RandomForestClassifier"),
        "trainer.estimator",
        "trainer.estimator",
    ),
    "builtin": (BUILTINS, "data.builtin", "data.builtin"),
    "kind": (("sklearn", "torch"), "trainer.kind", "trainer.kind"),
    "executor": (("inline", "ray"), "executor", "executor"),
    "space": (("svc", "logistic_regression", "random_forest", "gradient_boosting"), "space", "space"),
}


def _estimator_exists(name: str) -> bool:
    """Whether a dotted path names something (calling arbitrary things is not this test's job)."""
    import importlib

    module, _, attr = name.partition(":") if ":" in name else name.rpartition(".")
    try:
        target: Any = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, ValueError, TypeError):
        return False
    return True


def _is_valid_name(field: str, name: str) -> bool:
    if field in ("searcher", "pruner"):
        return name.lower().replace("-", "_") in NAMES[field][0]
    if field == "scoring":
        return name in _scorers()
    if field == "estimator":
        return _estimator_exists(name)
    if field == "space":
        return name in READY_SPACES or name.endswith((".yaml", ".yml"))
    return name in NAMES[field][0]


@st.composite
def unknown_name(draw: st.DrawFn) -> tuple[str, str, bool]:
    field = draw(st.sampled_from(sorted(NAMES)))
    if field == "estimator":  # only modules that are safe to import, with an attribute they lack
        module = draw(st.sampled_from(["sklearn.linear_model", "sklearn.svm", "zz_no_such_module", "sklearn.nosuch"]))
        attr = draw(st.one_of(WORD, typo(("LogisticRegression", "SVC", "Ridge"))))
        name = f"{module}.{attr}" if draw(st.booleans()) else f"{module}:{attr}"
    else:
        name = draw(st.one_of(ANY_TEXT, typo(NAMES[field][0])))
    assume(not _is_valid_name(field, name))
    return field, name, draw(st.booleans())


def _put(config: dict[str, Any], where: str, value: Any) -> None:
    *parents, last = where.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value


@fuzz("unknown name", 250)
@given(unknown_name())
@example(("searcher", "bayes", False)).via("hand-picked")
@example(("searcher", "TPEE", True)).via("hand-picked")
@example(("pruner", "medain", False)).via("hand-picked")
@example(("pruner", "asha2", True)).via("hand-picked")
@example(("splitter", "kfolds", False)).via("hand-picked")
@example(("splitter", "3", True)).via("hand-picked")
@example(("scoring", "acuracy", False)).via("hand-picked")
@example(("scoring", "mse", False)).via("hand-picked")
@example(("estimator", "sklearn.linear_model.LogisticRegresion", False)).via("hand-picked")
@example(("estimator", "zz_no_such_module:Model", True)).via("hand-picked")
@example(("builtin", "mnist", False)).via("hand-picked")
@example(("kind", "xgboost", False)).via("hand-picked")
@example(("executor", "dask", True)).via("hand-picked")
@example(("space", "svm", False)).via("hand-picked")
def test_unknown_name(case: tuple[str, str, bool]) -> None:
    field, name, as_mapping = case
    _, where, key = NAMES[field]
    config = base()
    value: Any = name
    if as_mapping and field in ("searcher", "pruner", "splitter"):
        value = {"name": name}
    elif as_mapping and field == "executor":
        value = {"kind": name}
    elif as_mapping and field == "estimator":
        value = {"class": name, "params": {}}
    _put(config, where, value)
    assume(dumps_faithfully(config))
    family = "unknown name"
    assert_rejected(family, run_cli(family, config), key, contains=(repr(name),))


# Unknown keys (random text or typos of a real key) in each mapping of a config.
PLACES = {
    # place: (valid keys there, key named, text the message quotes the key with)
    "config": (KEYS, "config", "unknown key {!r}"),
    "trainer": (
        ("kind", "estimator", "cv", "scoring", "fit_params", "n_jobs", "refit", "test_fraction", "task"),
        "trainer",
        "unknown key {!r}",
    ),
    "data (builtin)": (("builtin",), "data", "unknown key {!r} with builtin data"),
    "data (table)": (
        ("builtin", "path", "target", "time", "groups", "drop", "strict_time"),
        "data",
        "unknown key {!r}",
    ),
    "space (compact)": (("float", "int", "categorical", "log", "step", "type"), "space.alpha", "unknown key {!r}"),
    "space (long)": (("type", "low", "high", "log", "step"), "space.alpha", "unknown key {!r}"),
    "searcher": (
        ("name", *inspect.signature(optuna.samplers.TPESampler).parameters),
        "searcher",
        "unknown option {!r}",
    ),
    "pruner": (("name", *inspect.signature(optuna.pruners.MedianPruner).parameters), "pruner", "unknown option {!r}"),
    "splitter": (("name", "n_splits", "shuffle", "seed"), "trainer.cv.{}", "unknown option for splitter"),
    "executor": (("kind",), "executor", "[{!r}]"),
    "estimator": (("class", "params"), "trainer.estimator", "{!r}: 1"),
}


@st.composite
def unknown_key(draw: st.DrawFn) -> tuple[str, str]:
    place = draw(st.sampled_from(sorted(PLACES)))
    valid = PLACES[place][0]
    # The splitter prints an unknown option's name as it is: one-line text there.
    key = draw(st.one_of(TEXT if place == "splitter" else ANY_TEXT, typo(valid)))
    assume(key not in valid and key not in ("<<", "="))
    return place, key


def _with_unknown_key(place: str, key: str) -> dict[str, Any]:
    config = table_base() if place == "data (table)" else base()
    if place == "config":
        config[key] = 1
    elif place == "trainer":
        config["trainer"][key] = 1
    elif place.startswith("data"):
        config["data"][key] = 1
    elif place == "space (compact)":
        config["space"]["alpha"][key] = 1
    elif place == "space (long)":
        config["space"]["alpha"] = {"type": "float", "low": 0.01, "high": 10.0, key: 1}
    elif place == "searcher":
        config["searcher"] = {"name": "tpe", key: 1}
    elif place == "pruner":
        config["pruner"] = {"name": "median", key: 1}
    elif place == "splitter":
        config["trainer"]["cv"] = {"name": "stratified", "n_splits": 3, key: 1}
    elif place == "executor":
        config["executor"] = {"kind": "inline", key: 1}
    elif place == "estimator":
        config["trainer"]["estimator"] = {"class": "sklearn.linear_model.RidgeClassifier", key: 1}
    return config


@fuzz("unknown key", 250)
@given(unknown_key())
@example(("config", "n_trial")).via("hand-picked")
@example(("config", "searchr")).via("hand-picked")
@example(("trainer", "estimater")).via("hand-picked")
@example(("data (builtin)", "target")).via("hand-picked")
@example(("data (table)", "targets")).via("hand-picked")
@example(("space (compact)", "logg")).via("hand-picked")
@example(("space (long)", "choices")).via("hand-picked")
@example(("searcher", "n_startup")).via("hand-picked")
@example(("pruner", "warmup")).via("hand-picked")
@example(("splitter", "n_split")).via("hand-picked")
@example(("executor", "workers")).via("hand-picked")
@example(("estimator", "param")).via("hand-picked")
def test_unknown_key(case: tuple[str, str]) -> None:
    place, key = case
    _, named, quoted = PLACES[place]
    config = _with_unknown_key(place, key)
    assume(dumps_faithfully(config))
    family = "unknown key"
    out = run_cli(family, config, files=TABLE_FILES)
    assert_rejected(family, out, named.format(key), contains=(quoted.format(key),))


# Bad YAML: one syntax defect in the hand-written config, or bytes that are not UTF-8.
CONTROL = [chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]] + ["\ufffe", "\uffff"]


@st.composite
def bad_yaml(draw: st.DrawFn) -> tuple[bytes, str]:
    lines = BASE_TEXT.splitlines(keepends=True)
    defect = draw(
        st.sampled_from(
            ["tab", "unclosed", "extra closing", "open quote", "control character", "not utf-8", "indentation"]
        )
    )
    if defect == "not utf-8":
        raw = BASE_TEXT.encode()
        at = draw(st.integers(0, len(raw)))
        junk = b"\xff" + draw(st.binary(max_size=8))
        return raw[:at] + junk + raw[at:], defect
    if defect == "control character":
        at = draw(st.integers(0, len(BASE_TEXT)))
        return (BASE_TEXT[:at] + draw(st.sampled_from(CONTROL)) + BASE_TEXT[at:]).encode(), defect
    if defect == "tab":
        i = draw(st.sampled_from([i for i, line in enumerate(lines) if line.startswith("  ")]))
        lines[i] = "\t" + lines[i].lstrip(" ")
    elif defect == "unclosed":
        i = draw(st.sampled_from([i for i, line in enumerate(lines) if "}" in line or "]" in line]))
        closers = [j for j, c in enumerate(lines[i]) if c in "}]"]
        j = draw(st.sampled_from(closers))
        lines[i] = lines[i][:j] + lines[i][j + 1 :]
    elif defect == "extra closing":
        i = draw(st.sampled_from([i for i, line in enumerate(lines) if "}" in line or "]" in line]))
        j = max(lines[i].rfind("}"), lines[i].rfind("]"))
        lines[i] = lines[i][: j + 1] + draw(st.sampled_from("]}")) + lines[i][j + 1 :]
    elif defect == "open quote":
        i = draw(st.sampled_from([i for i, line in enumerate(lines) if ": " in line]))
        head, _, tail = lines[i].partition(": ")
        quote = draw(st.sampled_from(['"', "'"]))
        lines[i] = f"{head}: {quote}{tail.lstrip(chr(34))}"
    elif defect == "indentation":
        i = draw(st.sampled_from([i for i, line in enumerate(lines) if i and line.startswith("  ")]))
        lines[i] = " " * draw(st.sampled_from([1, 3, 5])) + lines[i].lstrip(" ")
    return "".join(lines).encode(), defect


@fuzz("bad YAML", 150)
@given(bad_yaml())
@example((b"name: fuzz\nspace: [svc\n", "unclosed")).via("hand-picked")
@example((b"name: fuzz\ntrainer:\n\tkind: sklearn\n", "tab")).via("hand-picked")
@example((b"\xff\xfe\x00garbage", "not utf-8")).via("hand-picked")
@example((b"name: \x00fuzz\n", "control character")).via("hand-picked")
@example((b"objective: m:f\nspace: !!python/object/apply:os.system [echo hi]\n", "unsafe tag")).via("hand-picked")
def test_bad_yaml(case: tuple[bytes, str]) -> None:
    raw, defect = case
    try:
        yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        pass
    else:
        assume(False)  # the defect happened to be valid YAML (e.g. a quote inside a plain scalar)
    family = "bad YAML"
    out = run_cli(family, raw)
    assert_rejected(family, out, "config", contains=("cannot read" if defect == "not utf-8" else "invalid YAML",))


# Arbitrary text as the whole config: whatever it is, a one-line error naming a key of the config.
YAMLISH = st.text("abcnmeo_:{}[]-, \n\t'\"#&*!|>%@`0123456789.?", max_size=80)


@fuzz("arbitrary text as the config", 200)
@given(st.one_of(YAMLISH, st.text(max_size=60), st.binary(max_size=60)))
@example("").via("hand-picked")
@example("- just\n- a list\n").via("hand-picked")
@example("42").via("hand-picked")
@example("{a: 1}").via("hand-picked")
def test_arbitrary_text_as_the_config(text: str | bytes) -> None:
    family = "arbitrary text as the config"
    out = run_cli(family, text if isinstance(text, bytes) else text.encode())
    first = out.stderr.removeprefix("error: ").split(":", 1)[0].split(".", 1)[0]
    assert_rejected(family, out, first if first in KEYS else "config")


# Data files that cannot serve: missing, a folder, not a CSV/Parquet, garbage, empty.
FILENAME = st.text("abcdefghijklmnopqrstuvwxyzABC0123456789_- ", min_size=1, max_size=10)  # "~user": FIXED_BUGS


@st.composite
def bad_data_file(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, Any], str]:
    kind = draw(
        st.sampled_from(
            ["missing", "a folder", "not csv", "garbage csv", "garbage parquet", "empty", "header only", "utf-16"]
        )
    )
    stem = draw(FILENAME)
    sub = draw(st.sampled_from(["", "data/", "deep/er/"]))
    files: dict[str, Any] = {}
    name = f"{sub}{stem}.csv"
    if kind == "a folder":
        files[name] = None
    elif kind == "not csv":
        suffix = draw(st.sampled_from(["", ".txt", ".json", ".xlsx", ".csv.gz", ".tsv", ".CSVX", ".yaml"]))
        name = f"{sub}{stem}{suffix}"
        files[name] = TABLE
    elif kind == "garbage csv":
        files[name] = draw(st.binary(max_size=300))
    elif kind == "garbage parquet":
        name = f"{sub}{stem}.parquet"
        files[name] = draw(st.binary(max_size=300))
    elif kind == "empty":
        files[name] = b""
    elif kind == "header only":
        files[name] = "a,b,y\n"
    elif kind == "utf-16":
        files[name] = TABLE.replace("a,b", "é,b").encode("utf-16")
    data = {"path": name if draw(st.booleans()) else f"{TMP}/{name}", "target": "y"}
    key = "data.path" if kind in ("missing", "a folder", "not csv", "garbage parquet", "empty") else "data"
    return kind, data, files, key


@fuzz("unreadable data file", 150)
@given(bad_data_file())
@example(("missing", {"path": "nothere.csv", "target": "y"}, {}, "data.path")).via("hand-picked")
@example(("a folder", {"path": "dir.csv", "target": "y"}, {"dir.csv": None}, "data.path")).via("hand-picked")
@example(("not csv", {"path": "table.txt", "target": "y"}, {"table.txt": TABLE}, "data.path")).via("hand-picked")
@example(("garbage csv", {"path": "bin.csv", "target": "y"}, {"bin.csv": bytes(range(256)) * 4}, "data")).via(
    "hand-picked"
)
@example(("empty", {"path": "empty.csv", "target": "y"}, {"empty.csv": b""}, "data.path")).via("hand-picked")
@example(("missing", {"path": "", "target": "y"}, {}, "data.path")).via("hand-picked")
@example(("missing", {"path": 3, "target": "y"}, {}, "data.path")).via("hand-picked")
@example(("missing", {"path": "x.csv\0", "target": "y"}, {}, "data.path")).via("hand-picked")
def test_unreadable_data_file(case: tuple[str, dict[str, Any], dict[str, Any], str]) -> None:
    _kind, data, files, key = case
    config = base()
    config["data"] = data
    family = "unreadable data file"
    assert_rejected(family, run_cli(family, config, files=files), key)


# A CSV that reads fine, with a wrong column for target (or drop, time, groups).
@st.composite
def wrong_column(draw: st.DrawFn) -> tuple[str, Any]:
    field = draw(st.sampled_from(["target", "drop", "time", "groups"]))
    value = draw(
        st.one_of(
            ANY_TEXT.filter(lambda s: s not in COLUMNS),
            typo(COLUMNS).filter(lambda s: s not in COLUMNS),
            st.integers(0, 9),
            st.lists(ANY_TEXT, min_size=1, max_size=2),
            st.booleans(),
            st.dictionaries(WORD, WORD, max_size=1),
        )
    )
    if field == "drop" and isinstance(value, list):
        assume(any(v not in COLUMNS for v in value))
    return field, value


@fuzz("wrong target column", 200)
@given(wrong_column())
@example(("target", "Y")).via("hand-picked")
@example(("target", "label")).via("hand-picked")
@example(("target", None)).via("hand-picked")
@example(("target", 4)).via("hand-picked")
@example(("target", ["y"])).via("hand-picked")
@example(("drop", "a")).via("hand-picked")
@example(("drop", ["a", "zz"])).via("hand-picked")
@example(("time", "day")).via("hand-picked")
@example(("groups", "store")).via("hand-picked")
def test_wrong_target_column(case: tuple[str, Any]) -> None:
    field, value = case
    config = table_base()
    config["data"][field] = value
    assume(dumps_faithfully(config))
    family = "wrong target column"
    out = run_cli(family, config, files=TABLE_FILES)
    assert_rejected(family, out, f"data.{field}", contains=(repr(value),) if isinstance(value, str) else ())


@pytest.mark.parametrize(
    ("table", "key", "contains"),
    [
        pytest.param(TABLE.replace(",0\n", ",\n"), "data.target", ("missing values",), id="target-with-missing-values"),
        pytest.param(
            TABLE.replace(",1\n", ",0.5\n"), "trainer.cv", ("target",), id="continuous-target-for-a-classifier"
        ),
        pytest.param("a,y\n" + "x,1\n" * 9, "data", ("'a'", "not numeric"), id="text-feature-without-a-pipeline"),
        pytest.param("y\n" + "1\n" * 9, "data", ("no feature columns",), id="target-is-the-only-column"),
    ],
)
def test_target_column_content(table: str, key: str, contains: tuple[str, ...]) -> None:
    family = "wrong target column"
    out = run_cli(family, table_base(), files={"table.csv": table})
    assert_rejected(family, out, key, contains=contains)


SECONDS_OPTIONS = tuple(
    o for o in ("--timeout", "--trial-timeout") if any(o in p.opts for p in hpo._cli.run.params)
)  # click.FloatRange(min=0, min_open=True)


# Command-line options whose values hpo checks (HPOError path: "error: KEY: ...").
@st.composite
def bad_option(draw: st.DrawFn) -> tuple[str, str]:
    option = draw(st.sampled_from(["--searcher", "--pruner", "--name", "--tracking", "--storage", *SECONDS_OPTIONS]))
    value = draw(st.one_of(TEXT, typo(SEARCHERS + PRUNERS)))
    if option in SECONDS_OPTIONS:
        value = draw(st.sampled_from(["nan", "NaN", "-nan"]))  # click's FloatRange lets NaN through
    assume(not value.startswith("-") or option in SECONDS_OPTIONS)
    if option == "--searcher":
        assume(value.lower().replace("-", "_") not in SEARCHERS)
    elif option == "--pruner":
        assume(value.lower().replace("-", "_") not in PRUNERS)
    elif option == "--name":
        assume(not _valid_top_level("name", value))
    elif option == "--tracking":
        assume(value.lower() not in ("none", "off", "null") and not _valid_top_level("tracking", value))
    elif option == "--storage":
        assume(not _valid_top_level("storage", value))
    return option, value


@fuzz("bad option value", 150)
@given(bad_option())
@example(("--searcher", "bayes")).via("hand-picked")
@example(("--pruner", "early")).via("hand-picked")
@example(("--name", "a/b")).via("hand-picked")
@example(("--tracking", "mlruns")).via("hand-picked")
@example(("--storage", "study.sqlite")).via("hand-picked")
@example(("--timeout", "nan")).via("hand-picked")
def test_bad_option_value(case: tuple[str, str]) -> None:
    option, value = case
    family = "bad option value"
    out = run_cli(family, base(), args=(option, value))
    assert_rejected(family, out, option.removeprefix("--").replace("-", "_"))


# Options click types itself (--trials, --seed, --timeout, --trial-timeout): click's usage error,
# which hpo prints as one line too (FIXED_BUGS["click-usage-error-is-not-one-line"]).
@st.composite
def bad_typed_option(draw: st.DrawFn) -> tuple[str, str]:
    option = draw(st.sampled_from(["--trials", "--seed", *SECONDS_OPTIONS]))
    value = draw(st.one_of(TEXT, st.integers(-(10**9), 0).map(str), st.floats().map(str)))
    if option == "--trials":
        assume(
            not (value.strip().lstrip("+-").isdigit() and _int_or_none(value) is not None and _int_or_none(value) >= 1)
        )
    elif option == "--seed":
        assume(_int_or_none(value) is None)
    else:
        assume(not _parses_as_float(value) or not (float(value) > 0 or math.isnan(float(value))))
    return option, value


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


@fuzz("bad typed option", 100)
@given(bad_typed_option())
@example(("--trials", "0")).via("hand-picked")
@example(("--trials", "two")).via("hand-picked")
@example(("--seed", "1.5")).via("hand-picked")
@example(("--timeout", "-1")).via("hand-picked")
@example(("--timeout", "0")).via("hand-picked")
def test_bad_typed_option(case: tuple[str, str]) -> None:
    option, value = case
    family = "bad typed option"
    assert_rejected(family, run_cli(family, base(), args=(option, value)), option)


@pytest.mark.parametrize(
    ("config_arg", "key"),
    [
        pytest.param("nothere.yaml", "config", id="config-file-missing"),
        pytest.param(f"{TMP}/no/such/folder/study.yaml", "config", id="config-folder-missing"),
    ],
)
def test_config_file_that_does_not_exist(config_arg: str, key: str) -> None:
    family = "missing key"
    assert_rejected(family, run_cli(family, base(), config_arg=config_arg), key, contains=("does not exist",))


# -- bugs this fuzzing found, fixed: one minimal input each, kept as regression cases ---------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda config: _put(config, path, value)


def _set_all(*pairs: tuple[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        for path, value in pairs:
            _put(config, path, value)

    return change


_GARBAGE = "not a database, not a journal {\n" * 40
_OFF = ("tracking", None)  # these runs get as far as a study: tracking off keeps them quick (same bug with it on)


def _case(
    case_id: str,
    reason: str,
    change: Callable[[dict[str, Any]], Any],
    key: str,
    *,
    files: dict[str, Any] | None = None,
    args: tuple[str, ...] = (),
    table: bool = False,
) -> Any:
    config = table_base() if table else base()
    change(config)
    return pytest.param(config, files, args, key, id=case_id)


# Found by this fuzzing and fixed: each stays as a regression case (the reason says what it was).
FIXED_BUGS = [
    _case(
        "space-long-form-unhashable-type",
        "hpo/_space.py _domain_from_spec: `kind not in _LONG_KEYS` raises TypeError: unhashable type: 'list'",
        _set("space", {"alpha": {"type": ["float"], "low": 0.1, "high": 1.0}}),
        "space.alpha",
    ),
    _case(
        "float-range-overflows",
        "Float(-1e308, 1e308) is accepted; study.ask raises OverflowError: Range exceeds "
        "valid bounds, after the study folder and journal are created",
        _set_all(("space", {"alpha": {"float": [-1.0e308, 1.0e308]}}), _OFF),
        "space.alpha",
    ),
    _case(
        "trainer-fit-params-not-a-mapping",
        "trainers/_sklearn.py: dict(fit_params) raises ValueError",
        _set("trainer.fit_params", "abc"),
        "trainer.fit_params",
    ),
    _case(
        "estimator-params-not-a-mapping",
        "trainers/_sklearn.py resolve_estimator: dict(params) raises TypeError",
        _set("trainer.estimator", {"class": "sklearn.linear_model.RidgeClassifier", "params": [1]}),
        "trainer.estimator",
    ),
    _case(
        "storage-journal-is-a-folder",
        "a journal path that is a folder: IsADirectoryError traceback",
        _set_all(("storage", "folder.journal"), _OFF),
        "storage",
        files={"folder.journal": None},
    ),
    _case(
        "tracking-path-with-nul",
        "hpo/_tracking.py resolve_tracking_uri: Path.resolve raises ValueError: embedded null byte",
        _set("tracking", f"sqlite:///{TMP}/a\0b.db"),
        "tracking",
    ),
    _case(
        "ray-cpus-per-trial-nan",
        "hpo/_ray.py RayExecutor: NaN passes `value < 0`; int(cpu_count // nan) raises ValueError",
        _set("executor", {"kind": "ray", "cpus_per_trial": math.nan}),
        "executor.cpus_per_trial",
    ),
    _case(
        "data-path-unknown-user",
        "trainers/_data.py load_table: Path.expanduser raises RuntimeError for ~user",
        _set("data", {"path": "~nosuchuser/table.csv", "target": "y"}),
        "data.path",
    ),
    _case(
        "space-file-is-a-folder",
        "hpo/_config.py _space: read_text of a folder raises IsADirectoryError",
        _set("space", "folder.yaml"),
        "space",
        files={"folder.yaml": None},
    ),
    _case(
        "space-file-not-utf8",
        "hpo/_config.py _space: read_text raises UnicodeDecodeError",
        _set("space", "binary.yaml"),
        "space",
        files={"binary.yaml": b"\xff\xfe\x00C: [1, 2]\n"},
    ),
    _case(
        "space-file-nul",
        "hpo/_config.py _space: read_text raises ValueError: embedded null byte",
        _set("space", "a\0.yaml"),
        "space",
    ),
    _case(
        "seed-out-of-range",
        "seed: -1 (or >= 2**32) is reported as 'searcher: Seed must be between 0 and "
        "2**32 - 1': the message names searcher, not seed",
        _set("seed", -1),
        "seed",
    ),
    _case(
        "name-trailing-newline",
        "hpo/_config.py _NAME uses $, which matches before a trailing newline: "
        "name 'fuzz\\n' is accepted and a folder 'fuzz\\n' is created (exit 0)",
        _set_all(("name", "fuzz\n"), _OFF),
        "name",
    ),
    _case(
        "newline-in-a-parameter-name",
        "hpo/_space.py: 'space.{name}' interpolates the name raw, so the message spans lines",
        _set("space", {"a\nb": {"float": [3, 1]}}),
        "space.a\\nb",
    ),
    _case(
        "newline-in-a-splitter-option",
        "trainers/_splits.py: 'cv.{key}' interpolates the key raw, so the message spans lines",
        _set("trainer.cv", {"name": "kfold", "x\ny": 1}),
        "trainer.cv",
    ),
    _case(
        "dir-is-a-file",
        "hpo/_cli.py _execute: --dir naming a file raises NotADirectoryError (after planning)",
        lambda config: None,
        "--dir",
        files={"afile": "x"},
        args=("--dir", f"{TMP}/afile"),
    ),
    _case(
        "click-usage-error-is-not-one-line",
        "click usage errors print 'Usage: ...', a hint and a blank line before 'Error: ...' (4 lines, capitalized)",
        lambda config: None,
        "--trials",
        args=("--trials", "0"),
    ),
    _case(
        "config-is-a-folder",
        "a config path that is a folder is a click usage error: 4 lines",
        lambda config: None,
        "config",
        files={"folder.yaml": None},
        args=(),
    ),
    _case(
        "estimator-param-of-the-wrong-type",
        "estimator params are not validated up front: every trial fails (exit 1) after the study is created",
        _set_all(
            ("trainer.estimator", {"class": "sklearn.linear_model.RidgeClassifier", "params": {"max_iter": "abc"}}),
            _OFF,
        ),
        "trainer.estimator",
    ),
    _case(
        "scoring-is-a-list",
        "scoring: [accuracy, f1_macro] passed check_scoring (multi-metric) and every trial failed "
        "(float(dict)), exit 1, study created; a list is now several objectives, and a config "
        "that also says direction: maximize contradicts itself",
        _set_all(("trainer.scoring", ["accuracy", "f1_macro"]), _OFF),
        "direction",
    ),
    _case(
        "scoring-list-repeats-a-name",
        "a scorer named twice in scoring's list would be one objective twice",
        _set_all(("trainer.scoring", ["accuracy", "accuracy"]), _OFF),
        "trainer.scoring.accuracy",
    ),
    _case(
        "space-parameter-unknown-to-the-estimator",
        "a space parameter the estimator lacks (a typo) is not caught "
        "up front: every trial fails, exit 1, study created",
        _set_all(("space", {"alpah": {"float": [0.01, 10.0], "log": True}}), _OFF),
        "space.alpah",
    ),
    _case(
        "timeseries-negative-gap",
        "cv {name: timeseries, gap: -1} is accepted (TimeSeriesSplit does not check it): the study runs, exit 0",
        _set_all(("trainer.cv", {"name": "timeseries", "n_splits": 3, "gap": -1}), _OFF),
        "trainer.cv",
        table=True,
        files=TABLE_FILES,
    ),
    _case(
        "storage-sqlite-folder-missing",
        "hpo/_storage.py check_storage returns RDB URLs unchecked: sqlalchemy OperationalError traceback",
        _set_all(("storage", f"sqlite:///{TMP}/nothere/study.db"), _OFF),
        "storage",
    ),
    _case(
        "storage-rdb-driver-missing",
        "postgresql:// without its driver: ImportError traceback from optuna",
        _set_all(("storage", "postgresql://user@127.0.0.1:1/db"), _OFF),
        "storage",
    ),
    _case(
        "storage-sqlite-not-a-database",
        "an existing non-database file as sqlite storage: sqlalchemy DatabaseError traceback",
        _set_all(("storage", f"sqlite:///{TMP}/garbage.db"), _OFF),
        "storage",
        files={"garbage.db": _GARBAGE},
    ),
    _case(
        "storage-journal-garbage",
        "a journal file that is not a journal: JSONDecodeError traceback",
        _set_all(("storage", "garbage.journal"), _OFF),
        "storage",
        files={"garbage.journal": _GARBAGE},
    ),
    _case(
        "tracking-store-not-a-database",
        "tracking: an existing non-database file passes check_reachable; the "
        "writer fails after the study folder, journal and index are written, and the message spans lines",
        _set("tracking", f"sqlite:///{TMP}/garbage.db"),
        "tracking",
        files={"garbage.db": _GARBAGE},
    ),
    _case(
        "time-column-not-dates-warns",
        "trainers/_data.py: pd.to_datetime prints a UserWarning (2 more stderr lines) before the error",
        _set("data.time", "a"),
        "data.time",
        table=True,
        files={"table.csv": TABLE.replace("\n0.", "\nx0.")},
    ),
    _case(
        "searcher-option-of-the-wrong-type",
        "searcher options are not type-checked: TPESampler("
        "n_startup_trials='x') raises TypeError in study.ask, after the study is created",
        _set_all(("searcher", {"name": "tpe", "n_startup_trials": "x"}), _OFF),
        "searcher",
    ),
    _case(
        "pruner-option-of-the-wrong-type",
        "pruner options are not type-checked: hyperband min_resource='x' "
        "fails trials at run time and the study ends with exit 0",
        _set_all(("pruner", {"name": "hyperband", "min_resource": "x"}), _OFF),
        "pruner",
    ),
]


@pytest.mark.parametrize(("config", "files", "args", "key"), FIXED_BUGS)
def test_fixed_bug(
    request: pytest.FixtureRequest,
    config: dict[str, Any],
    files: dict[str, Any] | None,
    args: tuple[str, ...],
    key: str,
) -> None:
    family = "fixed bug"
    config_arg = f"{TMP}/folder.yaml" if request.node.callspec.id == "config-is-a-folder" else None
    assert_rejected(family, run_cli(family, config, files=files, args=args, config_arg=config_arg, guard=False), key)


# -- the harness itself --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "files"),
    [
        pytest.param(base(), {}, id="base-with-mlflow"),
        pytest.param({**table_base(), "tracking": None}, TABLE_FILES, id="table-base"),
        pytest.param(BASE_TEXT.replace(f'"sqlite:///{TMP}/mlflow.db"', "null"), {}, id="yaml-base"),
    ],
)
def test_the_valid_bases_run_and_leave_a_study(config: Any, files: dict[str, Any]) -> None:
    """Each corruption starts from a study that runs; the leftovers check sees what a run leaves."""
    out = run_cli("valid base", config, files=files, guard=False)
    assert out.error is None and out.code == 0, out.describe()
    assert {"home/fuzz/study.journal", "home/fuzz/study.yaml"} <= set(out.created), out.describe()
    tracked = isinstance(config, dict) and config.get("tracking") is not None
    assert ("mlflow.db" in out.created) == tracked, out.describe()


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({**base(), "space": {"C": {"float": [3, -3]}}}, id="bad-bounds"),
        pytest.param({**base(), "n_trial": 2}, id="typo"),
        pytest.param({**base(), "data": {"builtin": "mnist"}}, id="unknown-data-set"),
    ],
)
def test_the_real_command_prints_the_same(config: dict[str, Any]) -> None:
    """`python -m hpo run` in a subprocess: the same exit code and stderr as in-process."""
    inside = run_cli("real command", config)
    with tempfile.TemporaryDirectory(prefix="hpo-fuzz-") as name:
        tmp = Path(name)
        (tmp / "study.yaml").write_text(dump(config).replace(TMP, name))
        result = subprocess.run(
            [sys.executable, "-m", "hpo", "run", str(tmp / "study.yaml"), "--quiet", "--dir", str(tmp / "home")],
            cwd=tmp,
            env=hpo_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        left = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))
    assert result.returncode == inside.code == 2
    assert result.stderr == inside.stderr and result.stderr.startswith("error: ")
    assert result.stdout == "" and left == ["study.yaml"]


@pytest.fixture(autouse=True, scope="module")
def _clean_environment_and_summary() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("HPO_HOME", raising=False)
        mp.delenv("RAY_ADDRESS", raising=False)
        yield
    families = [f for f in TRIED if f not in ("valid base", "real command", "fixed bug")]
    tried = sum(TRIED[f] for f in families)
    passed = sum(PASSED[f] for f in families)
    lines = [
        f"fuzz: {tried} malformed inputs tried, {passed} exited 2 with one line naming the key and left nothing behind"
    ]
    lines += [f"  {f}: {TRIED[f]} tried, {PASSED[f]} passed" for f in families]
    if TRIED["fixed bug"]:
        lines.append(
            f"  bugs found by fuzzing, fixed: {TRIED['fixed bug']} regression cases, {PASSED['fixed bug']} passed"
        )
    print("\n" + "\n".join(lines))


def test_zz_every_fuzzed_family_ran_its_examples() -> None:
    """Runs last: each fuzzed family that ran tried at least its configured number of examples."""
    ran = {f: n for f, n in EXPECTED.items() if TRIED[f]}
    if not ran:
        pytest.skip("no fuzzed family ran (deselected)")
    for family, n in ran.items():
        assert TRIED[family] >= n, f"{family}: {TRIED[family]} cases tried, {n} configured"
        assert PASSED[family] == TRIED[family], f"{family}: {TRIED[family] - PASSED[family]} cases failed"
