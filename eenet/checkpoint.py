"""Training checkpoints: written atomically every epoch, read back with `weights_only=True`."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from eenet.atomic import write_with
from eenet.errors import ArtifactError

CHECKPOINT_FILE = "last.pt"


def config_fingerprint(config: Any) -> str:
    """A stable hash of everything that defines a training run (params, data, model)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def save_checkpoint(directory: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write a checkpoint (tensors, numbers, strings and dicts of them only).

    Through an open file: torch.save given a path names the archive's records after the
    file, here a random temporary name, so equal states gave different bytes (and DVC saw a
    changed output on every identical rerun)."""
    path = Path(directory) / CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)

    return write_with(path, _write)


def load_checkpoint(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The last checkpoint under `directory`, or None; refuses anything but plain tensors/data."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    if not (zipfile.is_zipfile(path) or _starts_as_pickle(path)):  # neither torch format
        raise ArtifactError(f"{path}: corrupt checkpoint (not a torch.save archive)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ArtifactError(f"{path}: refused to load, not a plain checkpoint ({first})") from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(f"{path}: corrupt checkpoint ({first})") from None


def _starts_as_pickle(path: Path) -> bool:
    """Whether the file begins like a pickle (protocol 2+), torch's legacy format: loaded with
    weights_only and refused there if it holds more than plain data."""
    with open(path, "rb") as fh:
        return fh.read(1) == b"\x80"
