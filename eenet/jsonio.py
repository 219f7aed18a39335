"""JSON artifacts: how they are written (indented, floats optionally tidied: their bytes) and
read (a missing, unreadable or incomplete file is a one-line error)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eenet.atomic import write_text
from eenet.errors import ArtifactError, require_regular_file
from eenet.rounding import tidy_floats

INT_LIMIT = 2**63  # artifact integers are counts, seeds and sizes: int64 holds them all


def _bounded_int(text: str) -> int:
    """A JSON integer within int64 (a larger one would overflow numpy and float conversions
    far from where it was read)."""
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        shown = text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"
        raise ValueError(f"integer {shown} is outside the 64-bit range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (Python keeps the last of a repeated key,
    other readers the first: a hand-edited file would mean different things to each)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"key {repeated!r} appears more than once in an object")
    return value


def read_json_object(
    path: str | os.PathLike, what: str, hint: str = "", required: Iterable[str] = ()
) -> dict[str, Any]:
    """Load a JSON object; errors name the file, what it should be, and how to get it.

    `what` is what the file holds, a singular noun without an article ("fitted scheduler"),
    as every message reads it: "give the {what} file", "{what} not found ({hint})", "{what}
    not readable", "expected a JSON object ({what})", "not a valid {what} (missing ...)"."""
    path = require_regular_file(Path(path), f"the {what}",
                                f"{what} not found{f' ({hint})' if hint else ''}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is no error
    except OSError as exc:  # no permission to read it, say: the file is not what is wrong
        raise ArtifactError(f"{path}: {what} not readable ({exc.strerror or exc})") from None
    except ValueError as exc:  # not UTF-8
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None
    if not text.strip():  # a zero-byte file (an interrupted copy, a full disk)
        raise ArtifactError(f"{path}: not valid JSON (the file is empty)")
    try:
        value = json.loads(text, parse_int=_bounded_int, object_pairs_hook=_unique_keys)
    except ValueError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:  # brackets nested thousands deep: no artifact of ours
        raise ArtifactError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(value, dict):
        raise ArtifactError(f"{path}: expected a JSON object ({what})")
    missing = [key for key in required if key not in value]
    if missing:
        raise ArtifactError(f"{path}: not a valid {what} (missing {', '.join(missing)})")
    return value


def write_json(path: str | os.PathLike, obj: Any, strict: bool = False,
               tidy: bool = False) -> Path:
    """Atomically write `obj` as indented JSON; `strict`: refuse NaN and infinities (which
    Python writes as NaN / Infinity, not JSON); `tidy`: every float without its float-sum
    noise (`eenet.rounding.tidy`), for tables of measurements and reports."""
    return write_text(path, json_text(obj, strict, tidy))


def json_text(obj: Any, strict: bool = False, tidy: bool = False) -> str:
    """`obj` as the indented JSON text `write_json` writes (`strict`, `tidy` as there), for a
    file written with others as one unit (`eenet.atomic.atomic_paths`)."""
    if tidy:
        obj = tidy_floats(obj)
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=not strict) + "\n"
