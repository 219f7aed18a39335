"""Training checkpoints: written atomically every epoch, read back with `weights_only=True`."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from eenet.atomic import write_text, write_with
from eenet.digests import file_sha256
from eenet.errors import ArtifactError, first_line

CHECKPOINT_FILE = "last.pt"
# beside it once its run's artifact is written: the sha256 of the checkpoint delivered
DELIVERED_FILE = "delivered.sha256"


def config_fingerprint(config: Any) -> str:
    """A stable hash of everything that defines a training run (params, data, model)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


# what to do about a checkpoint that cannot be resumed: it is training's own resume point
RESTART = "delete it to train from the start"


def save_checkpoint(directory: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write a checkpoint (tensors, numbers, strings and dicts of them only).

    Through an open file: torch.save given a path names the archive's records after the
    file, here a random temporary name, so equal states gave different bytes (and DVC saw a
    changed output on every identical rerun).

    Then the delivered mark goes (`mark_delivered`): this checkpoint's run has not written its
    artifact, even where the checkpoint equals the one marked (a run trained again, as
    before). Removed after the write, never before: the marked checkpoint never stands
    unmarked."""
    path = Path(directory) / CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)

    write_with(path, _write)
    (path.parent / DELIVERED_FILE).unlink(missing_ok=True)
    return path


def mark_delivered(directory: str | os.PathLike) -> Path:
    """Record that the checkpoint under `directory` is delivered (its run's artifact is
    written): its sha256 in DELIVERED_FILE, which marks that checkpoint alone, not one a
    later run writes there."""
    return write_text(Path(directory) / DELIVERED_FILE,
                      file_sha256(Path(directory) / CHECKPOINT_FILE) + "\n")


def is_delivered(directory: str | os.PathLike) -> bool:
    """Whether DELIVERED_FILE under `directory` marks the checkpoint there."""
    mark, path = Path(directory) / DELIVERED_FILE, Path(directory) / CHECKPOINT_FILE
    if not (mark.is_file() and path.is_file()):
        return False
    return mark.read_bytes().strip() == file_sha256(path).encode()


def load_checkpoint(directory: str | os.PathLike) -> Any:
    """The last checkpoint under `directory`, or None; refuses anything but plain tensors/data.

    Whatever plain object the file holds is returned: whether it is a training checkpoint
    (a dict of the expected entries) is `checked_checkpoint`'s to check."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    if not (zipfile.is_zipfile(path) or _starts_as_pickle(path)):  # neither torch format
        raise ArtifactError(f"{path}: corrupt checkpoint (not a torch.save archive); "
                            f"{RESTART}")
    damaged = _damaged_record(path)
    if damaged is not None:
        raise ArtifactError(f"{path}: corrupt checkpoint ({damaged}); {RESTART}")
    try:
        with warnings.catch_warnings():  # a pickle of protocol 3+ (not torch.save's): torch
            # warns of the protocol, in lines beside the one-line refusal
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _refusal_reason(str(exc))
        if reason.startswith(UNKNOWN_OPCODE):  # a pickle protocol torch.save never writes
            reason = f"a pickle, not a torch.save checkpoint: {reason}"
        raise ArtifactError(f"{path}: refused to load, not a plain checkpoint "
                            f"({reason}); {RESTART}") from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ArtifactError(f"{path}: corrupt checkpoint ({first_line(exc)}); {RESTART}") from None


# how torch's weights_only unpickler refuses an opcode it does not know ("Unsupported operand
# 149": protocol 4's FRAME), which no torch.save file holds: a pickle written by `pickle` itself
UNKNOWN_OPCODE = "Unsupported operand"


def _damaged_record(path: Path) -> str | None:
    """What fails the CRC-32 check of a torch.save archive's records (torch.load does not
    check them: damaged weights loaded as numbers), or None; a pickle-format file has none."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        return f"unreadable archive: {first_line(exc)}"
    return None if bad is None else f"record {bad} fails its CRC check: damaged bytes"


def _refusal_reason(message: str) -> str:
    """The line of torch's weights_only refusal that says what the file holds (its first line
    advises loading with weights_only=False, which would run the file's code: not relayed)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "Unsupported" in line:  # its advice to allow it cut off too
            return line.split(" Please use ")[0].split(" Check the documentation")[0]
    return next((line for line in lines if "weights_only" not in line), "it holds more than "
                "tensors and plain data")


def _starts_as_pickle(path: Path) -> bool:
    """Whether the file begins like a pickle (protocol 2+), torch's legacy format: loaded with
    weights_only and refused there if it holds more than plain data."""
    with open(path, "rb") as fh:
        return fh.read(1) == b"\x80"


def _is_state_dict(value: Any) -> bool:
    """Whether `value` is a state dict (a dict; its contents are load_state_dict's to check)."""
    return isinstance(value, dict)


def _is_count(value: Any, low: int) -> bool:
    """Whether `value` is an integer (not a bool) >= `low`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_metrics_log(value: Any) -> bool:
    """Whether `value` is a list of per-epoch {metric: number} dicts."""
    return isinstance(value, list) and all(
        isinstance(row, dict) and all(isinstance(v, (int, float)) for v in row.values())
        for row in value
    )


# what `train_model` saves in a checkpoint: name -> (test, what it must be, required); the
# states' contents are checked by the load_state_dict calls that resume from them
CHECKPOINT_ENTRIES: dict[str, tuple[Callable[[Any], bool], str, bool]] = {
    "epoch": (lambda v: _is_count(v, 0), "an integer >= 0", True),
    "model": (_is_state_dict, "a state dict", True),
    "optimizer": (_is_state_dict, "a state dict", True),
    "scheduler": (_is_state_dict, "a state dict", True),
    "scaler": (_is_state_dict, "a state dict", True),
    "rng": (lambda v: isinstance(v, torch.Tensor), "a tensor", True),
    "cuda_rng": (lambda v: isinstance(v, (list, tuple))
                 and all(isinstance(t, torch.Tensor) for t in v), "a list of tensors", False),
    "world_size": (lambda v: _is_count(v, 1), "an integer >= 1", False),
    "history": (_is_metrics_log, "a list of per-epoch metrics", False),
    "settings": (lambda v: isinstance(v, dict), "a dict of settings", False),  # newer only
    # a run that marks its artifact written (`mark_delivered`); newer only
    "marks_delivery": (lambda v: isinstance(v, bool), "a bool", False),
}


def checked_checkpoint(path: Path, state: Any, fingerprint: str) -> dict[str, Any] | None:
    """`state`, loaded from `path`, if it is a training checkpoint of the run `fingerprint`;
    None if it is one of another run (trained afresh, like a run whose params changed). Any
    other object is refused, as a corrupt file is: a one-line ArtifactError naming `path`."""
    def refuse(reason: str) -> ArtifactError:
        return ArtifactError(f"{path}: not a training checkpoint ({reason})")

    if not isinstance(state, dict):
        raise refuse(f"a {type(state).__name__}, not a dict of training states")
    if not isinstance(state.get("fingerprint"), str):
        raise refuse(_entry_problem(state, "fingerprint", "a string"))
    if state["fingerprint"] != fingerprint:
        return None
    for name, (test, words, required) in CHECKPOINT_ENTRIES.items():
        if (name in state or required) and not test(state.get(name)):
            raise refuse(_entry_problem(state, name, words))
    return state


def _entry_problem(state: dict[str, Any], name: str, words: str) -> str:
    """Why `state[name]` is not `words`, e.g. "no 'epoch'" or "'epoch' is 'x', not ..."."""
    if name not in state:
        return f"no {name!r}"
    value = state[name]
    shown = repr(value) if isinstance(value, (bool, int, float, str)) else None
    if shown is None or len(shown) > 40:
        shown = f"a {type(value).__name__}"
    return f"{name!r} is {shown}, not {words}"
