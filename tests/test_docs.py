"""The code in README.md and docs/*.md runs as written, so the docs cannot drift from the code.

Every fenced block is found and checked by its language:

- ```python: executed, each block on its own (a fresh namespace), in a temporary working
  directory with ``MLFLOW_TRACKING_URI`` unset (a tracked study writes ./mlflow.db there) and
  ``HPO_PLOTS=0``. Blocks keep to a few trials on scikit-learn's bundled data sets.
- ```yaml: parsed, refusing repeated keys. A study config (``space`` and ``objective`` or
  ``trainer``) is validated with ``parse_config`` as ``hpo run`` reads it (relative paths and
  objective modules from ``examples/``), and its ``trainer:`` block is built, data included. A
  fragment of a config (only config keys, such as an ``executor:`` or ``data:`` block) is
  completed into a config and validated the same way. Any other mapping is a search space and is
  validated with ``hpo.Space.from_yaml``.
- ```bash, ```console, ```text: shown, not run.

A block is skipped only when the line before it (blank lines aside) is
``<!-- doctest: skip (REASON) -->`` with a reason; ``test_skipped_blocks_are_listed`` prints them.
Test ids name the file and the block's index in it (``README.md-2-python``).
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo._config import KEYS, parse_config
from hpo._executors import make_executor

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
RUN = ("python", "yaml")
SHOWN = ("bash", "console", "text")
_FENCE = re.compile(r"^```(\S*)\s*$")
_SKIP = re.compile(r"^<!--\s*doctest:\s*skip\s*\((?P<reason>[^)]*\S[^)]*)\)\s*-->\s*$")


@dataclass
class Block:
    file: Path
    index: int  # among the file's fenced blocks, from 0
    line: int  # of the opening fence, from 1
    lang: str
    text: str
    skip: str | None  # the reason, when marked to skip

    @property
    def id(self) -> str:
        return f"{self.file.relative_to(REPO_ROOT)}-{self.index}-{self.lang or 'plain'}"

    def where(self) -> str:
        return f"{self.file.relative_to(REPO_ROOT)}:{self.line} (block {self.index}, {self.lang})"


def find_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a Markdown file, with the skip mark before it, if any."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, lang = i, fence.group(1).lower()
        i += 1
        body = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{path.name}:{start + 1}: code block never closed")
        i += 1
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        mark = _SKIP.match(lines[before].strip()) if before >= 0 else None
        skip = mark.group("reason").strip() if mark else None
        blocks.append(Block(path, len(blocks), start + 1, lang, "\n".join(body) + "\n", skip))
    return blocks


BLOCKS = [block for path in DOC_FILES for block in find_blocks(path)]


def _params(kind: str) -> list[Any]:
    return [
        pytest.param(b, id=b.id, marks=[pytest.mark.skip(reason=b.skip)] if b.skip else [])
        for b in BLOCKS
        if b.lang == kind
    ]


# ---------------------------------------------------------------------------------------------
# The docs themselves


def test_the_docs_exist_and_have_blocks() -> None:
    names = {p.name for p in DOC_FILES}
    for page in (
        "index.md",
        "trainers.md",
        "tracking.md",
        "ray.md",
        "reliability.md",
        "benchmarks.md",
        "architecture.md",
    ):
        assert page in names, f"docs/{page} is missing"
    assert any(b.lang == "python" for b in BLOCKS if b.file.name == "README.md")
    assert len(REPO_ROOT.joinpath("README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_every_block_names_a_known_language() -> None:
    unknown = [b.where() for b in BLOCKS if b.lang not in RUN + SHOWN]
    assert not unknown, f"code blocks must be one of {RUN + SHOWN}: {unknown}"


def test_skip_marks_stand_before_runnable_blocks() -> None:
    # A mark before a shell block, or a mark with no block after it, is a mistake.
    for path in DOC_FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        inside, outside = False, []
        for n, line in enumerate(lines, 1):
            if _FENCE.match(line) or (inside and line.rstrip() == "```"):
                inside = not inside
            elif not inside:
                outside.append(n)
        marked = [n for n in outside if "doctest:" in lines[n - 1]]
        for n in marked:
            assert _SKIP.match(lines[n - 1].strip()), f"{path.name}:{n}: write <!-- doctest: skip (REASON) -->"
        skipped = {b.line for b in BLOCKS if b.file == path and b.skip}
        assert len(skipped) == len(marked), f"{path.name}: a skip mark that stands before no block"
    for b in BLOCKS:
        assert not (b.skip and b.lang in SHOWN), f"{b.where()}: shell blocks are never run; drop the mark"


def test_skipped_blocks_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    skipped = [f"{b.where()}: {b.skip}" for b in BLOCKS if b.skip]
    with capsys.disabled():
        print(
            "\nskipped doc blocks:" + "".join(f"\n  {s}" for s in skipped) if skipped else "\nno doc block is skipped"
        )


def test_relative_links_resolve() -> None:
    for path in DOC_FILES:
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            file = (path.parent / target.split("#")[0]).resolve()
            assert file.exists(), f"{path.relative_to(REPO_ROOT)}: link to {target} points nowhere"


# ---------------------------------------------------------------------------------------------
# Python blocks


@pytest.fixture
def doc_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("HPO_PLOTS", "0")
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # `from examples.models import cnn`, as from the repository root
    return tmp_path


@pytest.mark.parametrize("block", _params("python"))
def test_python_block_runs(block: Block, doc_env: Path) -> None:
    code = compile(block.text, block.where(), "exec")
    # A module of its own name, so that functions defined in a block travel to Ray workers by value.
    namespace: dict[str, Any] = {"__name__": f"doc_block_{block.index}"}
    exec(code, namespace)  # noqa: S102 -- the repository's own docs, run as written


# ---------------------------------------------------------------------------------------------
# YAML blocks


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key repeated in one mapping (which YAML lets the last win)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"repeated key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_config(text: str) -> None:
    config = parse_config(text, base=REPO_ROOT / "examples", default_name="doc")
    if config.objective is not None:
        module, _, attr = config.objective.partition(":")
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        target: Any = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
        assert callable(target), f"objective: {config.objective} is not callable"
    if config.trainer is not None:
        from hpo import trainers

        trainers.from_config(config.trainer, config.data, base=REPO_ROOT / "examples")
    make_executor(config.settings.executor)  # options checked; building one starts nothing


def _complete(fragment: dict[str, Any]) -> dict[str, Any]:
    """A config around a fragment: an objective (a ridge trainer for a data block) and a space."""
    config = dict(fragment)
    if "trainer" not in config and "objective" not in config:
        if "data" in config:  # classification or regression data alike
            config["trainer"] = {"kind": "sklearn", "estimator": "sklearn.linear_model.Ridge"}
            config.setdefault("space", "ridge")
        else:
            config["objective"] = "examples.objectives:svc_digits"
    config.setdefault("space", "svc")
    return config


@pytest.mark.parametrize("block", _params("yaml"))
def test_yaml_block_is_valid(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    try:
        data = yaml.load(block.text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        pytest.fail(f"{block.where()}: {err}")
    assert isinstance(data, dict), f"{block.where()}: expected a mapping, got {type(data).__name__}"
    keys = KEYS
    if "space" in data and ("objective" in data or "trainer" in data):
        _check_config(block.text)
    elif set(data) <= set(keys):
        _check_config(yaml.safe_dump(_complete(data), sort_keys=False))
    else:
        import hpo

        space = hpo.Space.from_yaml(block.text)
        assert len(space) == len(data)
