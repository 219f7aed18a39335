"""A fitted policy's folder on disk: its policy.json (strict JSON, infinities as text) and
the checks that turn a bad field into a one-line ArtifactError naming the file."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from eenet.costs import is_real_number
from eenet.errors import ArtifactError, ConfigError
from eenet.jsonio import read_json_object
from eenet.latency_table import model_record_problem

POLICY_FILE = "policy.json"


def json_number(value: float) -> float | str:
    """`value` for strict JSON: a finite float as is, an infinity or NaN as the text float()
    reads back ("inf", "-inf", "nan"; JSON has no such numbers, jq and JavaScript refuse
    Python's -Infinity)."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def json_float(value: Any) -> float | None:
    """A policy file's number as a float: a JSON number, or a text float() reads as an
    infinity or NaN (what `json_number` writes); None for anything else ("1", true, null)."""
    if is_real_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return None if math.isfinite(number) else number
    return None


def malformed(where: Path, problem: str) -> ArtifactError:
    """The one-line error of a policy file with a bad field."""
    return ArtifactError(f"{where}: malformed fitted scheduler ({problem})")


def checked(meta: Mapping[str, Any], key: str, where: Path, need: str,
            ok: Callable[[Any], bool], default: Any = None) -> Any:
    """`meta[key]` (`default` where absent) if `ok` accepts it, else a `malformed` error
    ("budget_ms must be a finite number > 0, got nan")."""
    value = meta.get(key, default)
    if not ok(value):
        raise malformed(where, f"{key} must be {need}, got {value!r}")
    return value


def model_entry(meta: Mapping[str, Any], where: Path) -> dict[str, Any] | None:
    """`meta['model']` (the trained model the policy was planned for; absent: None) if it is
    a JSON object whose `options` are one (or absent), else a `malformed` error."""
    model = checked(meta, "model", where, "a JSON object (the model it was planned for)",
                    lambda v: v is None or isinstance(v, dict))
    problem = None if model is None else model_record_problem(model)
    if problem:
        raise malformed(where, problem)
    return model


def number_list(meta: Mapping[str, Any], key: str, where: Path, n_exits: int | None,
                need: str, ok: Callable[[list[float]], bool]) -> list[float]:
    """`meta[key]` (absent: []) as floats (see `json_float`) if `ok` accepts them and, with
    `n_exits`, they are none or one per exit; else a `malformed` error saying what `key`
    needs (and, for a wrong count, that it disagrees with the thresholds')."""
    value = meta.get(key, [])
    numbers = [json_float(v) for v in value] if isinstance(value, list) else [None]
    if None in numbers or not ok(numbers):  # type: ignore[arg-type]
        shown = value if None in numbers else numbers
        raise malformed(where, f"{key} needs {need}; got {shown!r}")
    if n_exits is not None and numbers and len(numbers) != n_exits:
        raise malformed(where, f"{key} needs {need}; got {numbers!r}: {len(numbers)} values, "
                               f"but thresholds has {n_exits}")
    return numbers  # type: ignore[return-value]


def is_policy_file(name: str) -> bool:
    """Whether a file named `name` is one a fitted policy writes (its JSON or weights)."""
    return name == POLICY_FILE or name.endswith(".safetensors")


def foreign_files(folder: Path) -> list[str]:
    """Names of what a fitted policy's `folder` holds beside its own files (`is_policy_file`),
    sorted: what replacing the folder whole would delete."""
    return sorted(p.name for p in folder.iterdir() if not (p.is_file() and is_policy_file(p.name)))


def policy_folder(path: str | os.PathLike) -> Path:
    """A fitted policy's folder, given it or its policy.json; a schedulers folder's index.json
    gives that folder, which `check_not_many_policies` then names a policy of."""
    from eenet.sweep import INDEX_FILE

    path = Path(path)
    return path.parent if path.name in (POLICY_FILE, INDEX_FILE) and path.is_file() else path


def check_not_many_policies(folder: Path, label: str) -> None:
    """A folder of fitted schedulers (a schedulers folder with its index.json, written by
    `eenet.sweep.save_policies`, or one of a method's) given where one is wanted: a one-line
    ConfigError naming `label` and a folder to give instead. Anything else passes."""
    from eenet.budget import DEFAULT_COST_UNIT
    from eenet.sweep import INDEX_FILE, read_index

    if (folder / POLICY_FILE).is_file() or not folder.is_dir():
        return
    if (folder / INDEX_FILE).is_file():
        index = read_index(folder, headline=False)
        entries, unit = index["entries"], index.get("cost_unit", DEFAULT_COST_UNIT)
        if entries:
            first = entries[0]
            shown = (f"{folder / first['dir']} ({first['method']} at "
                     f"{float(first['budget_ms']):.4g} {unit}/sample")
            raise ConfigError(
                f"{label}: {folder} is a folder of {len(entries)} fitted schedulers; give one "
                f"of them, e.g. {shown}; all are listed in {folder / INDEX_FILE})"
                if len(entries) > 1 else
                f"{label}: {folder} is a folder of 1 fitted scheduler; give its own folder, "
                f"{shown})")
    inside = sorted(p.parent.name for p in folder.glob(f"*/{POLICY_FILE}"))
    if inside:
        many = (f"{len(inside)} fitted schedulers in subfolders" if len(inside) > 1
                else "a fitted scheduler in a subfolder")
        raise ConfigError(f"{label}: {folder} holds {many} ({', '.join(inside)}); give "
                          f"{'one of them' if len(inside) > 1 else 'that folder'}")


def read_policy_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """Read and minimally validate a saved policy's JSON."""
    return read_json_object(
        Path(directory) / POLICY_FILE,
        "fitted scheduler",
        "fit it with `eenet schedule` or the fit_headline / fit_schedulers stages",
        required=("method", "budget_ms", "thresholds"),
    )
