"""Trial checkpoints: what ``trial.checkpoint(state)`` saves and a rerun's ``trial.restore()`` gets.

A checkpoint is encoded where the trial runs (``torch.save`` once torch is loaded, so tensors
keep their storage; ``pickle`` otherwise) and its bytes travel to the driver as a trial's
artifacts do (from a Ray worker, through the executor's hub), where the :class:`CheckpointStore`
writes them under the study's checkpoint folder: one file per trial, replaced atomically, with a
header holding a digest of the trial's parameters and a CRC of the payload. So a checkpoint
survives what ends a trial early -- a driver SIGKILL, a SIGTERM, a dead Ray worker, Ctrl-C -- and
is read back by the driver when the trial's configuration runs again (the rerun of an
interrupted trial has a new number and the user attribute ``hpo:retry_of``; its checkpoint file
moves to the new number). A file whose header, length or CRC is wrong is reported in one
warning line and never loaded; so is one written for other parameters.

Disk stays bounded: a running trial has one file (the latest checkpoint); when a trial ends,
pruned or failed its file goes, complete it stays only while it is among the ``keep_best`` best
complete trials; an interrupted trial's stays for its rerun.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import pickle
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

__all__ = ["CheckpointStore", "decode", "encode", "params_digest"]

_logger = logging.getLogger("hpo")

MAGIC = b"HPOCKPT1"
_HEADER = struct.Struct(">8s32sQI")  # magic, params digest, payload length, payload CRC32
_TORCH, _PICKLE = b"T", b"P"  # the payload's first byte: how the state was encoded
SUFFIX = ".ckpt"
#: The trial user attribute naming the trial whose configuration an interrupted one reruns.
RETRY_OF = "hpo:retry_of"


def encode(state: Any) -> bytes:
    """``state`` as bytes: ``torch.save`` if torch is loaded (tensors, state dicts), else pickle."""
    if "torch" in sys.modules:
        import torch

        buffer = io.BytesIO()
        buffer.write(_TORCH)
        torch.save(state, buffer)
        return buffer.getvalue()
    return _PICKLE + pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def decode(blob: bytes) -> Any:
    """The state :func:`encode` wrote (raises on bytes it did not write)."""
    kind, payload = blob[:1], memoryview(blob)[1:]
    if kind == _TORCH:
        import torch

        # Not weights_only: a checkpoint holds optimizer and RNG states, numpy arrays, Python
        # objects. The file is the study's own, written by its trials, and never another's.
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    if kind == _PICKLE:
        return pickle.loads(payload)
    raise ValueError(f"unknown checkpoint encoding {bytes(kind)!r}")


def params_digest(params: Any) -> bytes:
    """A digest of a trial's parameters: a checkpoint is only loaded for the same ones."""
    text = json.dumps(params, sort_keys=True, default=repr, allow_nan=True)
    return hashlib.sha256(text.encode()).digest()


class CheckpointStore:
    """The study's checkpoint folder, as the driver reads and writes it.

    Args:
        folder: Where the files go (created on the first checkpoint).
        keep_best: How many of the best complete trials keep their last checkpoint.
        direction: ``minimize`` or ``maximize``: what best means (with several objectives, the
            first objective's).
    """

    def __init__(self, folder: Path, keep_best: int = 1, direction: str = "minimize") -> None:
        self.folder = Path(folder)
        self.keep_best = keep_best
        self.direction = direction
        self._kept: list[tuple[float, int]] = []  # (loss, number) of the complete trials kept
        self._files: set[int] = set()  # the trials with a file: the others cost no file system call
        self.peak = 0  # the most files the folder held at once (for the tests and benchmarks)

    def path(self, number: int) -> Path:
        return self.folder / f"trial-{number}{SUFFIX}"

    def files(self) -> list[Path]:
        """The checkpoint files now in the folder."""
        return sorted(self.folder.glob(f"trial-*{SUFFIX}")) if self.folder.is_dir() else []

    def save(self, number: int, params: Any, blob: bytes) -> None:
        """Write trial ``number``'s latest checkpoint, replacing the one before (atomically: a
        crash mid-write leaves the previous checkpoint whole)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(number)
        new = not target.exists()
        tmp = target.with_suffix(".tmp")
        header = _HEADER.pack(MAGIC, params_digest(params), len(blob), zlib.crc32(blob))
        with open(tmp, "wb") as file:
            file.write(header)
            file.write(blob)
        os.replace(tmp, target)
        self._files.add(number)
        if new:
            self.peak = max(self.peak, len(self.files()))

    def load(self, number: int, params: Any) -> bytes | None:
        """Trial ``number``'s last checkpoint, if it has a sound one written for ``params``.

        A corrupt or truncated file, or one written for other parameters, is reported in one
        warning line, deleted, and not loaded: the trial starts from scratch.
        """
        path = self.path(number)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        problem = None
        if len(data) < _HEADER.size:
            problem = f"truncated ({len(data)} bytes, shorter than its header)"
        else:
            magic, digest, length, crc = _HEADER.unpack_from(data)
            blob = data[_HEADER.size :]
            if magic != MAGIC:
                problem = "not an hpo checkpoint"
            elif len(blob) != length:
                problem = f"truncated ({len(blob)} of {length} bytes)"
            elif zlib.crc32(blob) != crc:
                problem = "corrupt (its checksum does not match)"
            elif digest != params_digest(params):
                problem = "written for other parameters"
        if problem is not None:
            _logger.warning(
                "trial %d: checkpoint %s is %s; not loaded, the trial starts from scratch", number, path, problem
            )
            self.drop(number)
            return None
        return blob

    def move(self, old: int, new: int) -> None:
        """Hand trial ``old``'s checkpoint to ``new``, the rerun of its configuration."""
        try:
            os.replace(self.path(old), self.path(new))
        except FileNotFoundError:
            return
        self._files.discard(old)
        self._files.add(new)

    def drop(self, number: int) -> None:
        self.path(number).unlink(missing_ok=True)
        self._files.discard(number)

    def ended(self, number: int, state: str, value: float | None) -> None:
        """Trial ``number`` ended: keep its file only while it is among the ``keep_best`` best
        complete trials (pruned and failed trials need theirs no more)."""
        from hpo._states import COMPLETE

        if number not in self._files:
            return  # the trial never checkpointed
        if state != COMPLETE or value is None or not math.isfinite(value) or self.keep_best == 0:
            self.drop(number)
            return
        self._keep(number, value)

    def remember(self, number: int, value: float | None) -> None:
        """A complete trial of an earlier run whose file is still there (a resumed study)."""
        if value is not None and math.isfinite(value) and self.path(number).exists():
            self._files.add(number)
            self._keep(number, value)

    def _keep(self, number: int, value: float) -> None:
        self._kept.append((value if self.direction == "minimize" else -value, number))
        self._kept.sort()
        for _, dropped in self._kept[self.keep_best :]:
            self.drop(dropped)
        del self._kept[self.keep_best :]


def checkpoint_folder(given: Path | None, storage: Any, study_name: str) -> Path | None:
    """The folder of a study's checkpoints: ``given/NAME``; else beside a journal or sqlite
    storage (``checkpoints/NAME``), else ``$HPO_HOME`` or ``./.hpo`` (``checkpoints/NAME``);
    None for a study in memory (a temporary folder then)."""
    if given is not None:
        return Path(given) / study_name
    if isinstance(storage, Path):
        return storage.parent / "checkpoints" / study_name
    if isinstance(storage, str):
        if storage.startswith("sqlite:///"):
            return Path(storage[len("sqlite:///") :]).parent / "checkpoints" / study_name
        return Path(os.environ.get("HPO_HOME") or ".hpo") / "checkpoints" / study_name
    return None
