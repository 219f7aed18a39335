"""The latency table (`latency.json`): `cumulative_ms`, one cost per exit, plus measurement
metadata (batch size, threads, device, the model it was measured on); saved, loaded and
checked here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from eenet.checks import THREADS_MAX, check_integer
from eenet.costs import show, validate_costs
from eenet.errors import ArtifactError, ConfigError, reject_directory
from eenet.jsonio import read_json_object, write_json
from eenet.rounding import tidy_floats

# the longest device name a latency table may record (torch's are "cpu", "cuda")
DEVICE_NAME_MAX = 64


def _check_device_field(table: Mapping[str, Any], source: str, fix: str) -> None:
    """A latency table's `device` (what it was measured on) must be null or absent, or a
    printable name of at most DEVICE_NAME_MAX characters; else a one-line ArtifactError."""
    value = table.get("device")
    if value is None or (isinstance(value, str) and value.strip() and value.isprintable()
                         and len(value) <= DEVICE_NAME_MAX):
        return
    raise ArtifactError(f"{source}: device: must be a device name such as cpu or cuda (at most "
                        f"{DEVICE_NAME_MAX} characters), or null, got {value!r}; {fix}")


def latency_timing_fields(table: dict[str, Any], source: str, fix: str) -> dict[str, int]:
    """A latency table's `batch_size` and `threads` (null or absent, as in an imported CSV: 1),
    its `device` checked too. A value that is no integer in range (batch size >= 1, threads
    from 1 to THREADS_MAX), or a device that is no name, is a one-line ArtifactError naming
    `source` and the field, ending with `fix`."""
    values = {}
    for key, high in (("batch_size", None), ("threads", THREADS_MAX)):
        value = table.get(key)
        try:
            check_integer(key, value, 1, high, nullable=True)
        except ConfigError as exc:
            raise ArtifactError(f"{source}: {exc}; {fix}") from None
        values[key] = 1 if value is None else value
    _check_device_field(table, source, fix)
    return values


def save_latency(path: str | os.PathLike, table: dict[str, Any]) -> Path:
    """Validate `table['cumulative_ms']` (a list or array) and the timing fields
    (`latency_timing_fields`), and atomically write the latency JSON; numpy numbers and arrays
    are written as JSON numbers and lists, floats tidy (`eenet.rounding`)."""
    if not isinstance(table, dict):
        raise ArtifactError(f"{path}: a latency table is a dict with cumulative_ms, got "
                            f"{type(table).__name__}")
    table = tidy_floats({key: value.tolist() if isinstance(value, np.ndarray | np.generic)
                         else value for key, value in table.items()})
    validate_costs(table.get("cumulative_ms"), str(path))
    latency_timing_fields(table, str(path), "fix the table")
    return write_json(path, table)


def model_record_problem(model: Mapping[str, Any]) -> str | None:
    """What is wrong with a recorded model entry, in words; None when it is whole: `options`
    (its builder's keyword arguments) a JSON object, absent or null (none), `name` a
    non-empty string and `num_classes` an integer >= 2, which a trained model is compared by
    (`eenet predict` refused every model of a record without them, as "None classes")."""
    options = model.get("options")
    if options is not None and not isinstance(options, dict):
        return ("model.options must be a JSON object (the model's builder options), got "
                f"{show(options)}")
    name = model.get("name")
    if not isinstance(name, str) or not name:
        return f"model.name must be the model's name (a non-empty string), got {show(name)}"
    classes = model.get("num_classes")
    if type(classes) is not int or classes < 2:
        return (f"model.num_classes must be the model's class count (an integer >= 2), got "
                f"{show(classes)}")
    return None


def load_latency(path: str | os.PathLike, fix: str = "rerun profile") -> dict[str, Any]:
    """Load a latency JSON (the costs contract), validating `cumulative_ms` and its `model`
    entry (a JSON object whose `options` are one); a bad entry's error ends with `fix`."""
    reject_directory(Path(path), "a latency .json")
    table = read_json_object(path, "latency table", required=("cumulative_ms",))
    return checked_latency(table, str(path), fix)


def checked_latency(table: dict[str, Any], source: str,
                    fix: str = "rerun profile") -> dict[str, Any]:
    """`table` (a latency JSON object read from `source`) with its `cumulative_ms` validated
    (as a list) and its `model` entry checked; a problem is a one-line ArtifactError ending
    with `fix`."""
    if "cumulative_ms" not in table:
        raise ArtifactError(f"{source}: not a valid latency table (missing cumulative_ms); "
                            f"{fix}")
    table["cumulative_ms"] = validate_costs(table["cumulative_ms"], source).tolist()
    if "model" not in table:  # an imported table, or one written before the record
        return table
    model = table["model"]
    if not isinstance(model, dict):
        raise ArtifactError(f"{source}: model must be a JSON object (the trained model it was "
                            f"measured on), got {show(model)}; {fix}")
    problem = model_record_problem(model)
    if problem:
        raise ArtifactError(f"{source}: {problem}; {fix}")
    return table


def load_user_latency(path: str | os.PathLike) -> dict[str, Any]:
    """A latency JSON a user gives (`eenet schedule --costs`, `profile.table`): `load_latency`
    with its batch size, threads and device checked too (`latency_timing_fields`), as they
    are copied on (into `schedule --save`'s index, into the pipeline's profile)."""
    table = load_latency(path, "fix the table")
    latency_timing_fields(table, str(path), "fix the table")
    return table


def check_latency_for_model(latency: Mapping[str, Any], source: str | os.PathLike,
                            model_dir: str | os.PathLike, n_exits: int,
                            fix: str = "rerun profile") -> None:
    """A latency table (`source`) measured for another model is a one-line ArtifactError
    naming both and ending with `fix`: another exit count, or another architecture where the
    table records its model (a measured table does; a CSV, or a table written before, not)."""
    from eenet.models.artifact import architecture_mismatch

    check_model_exits(len(latency["cumulative_ms"]), n_exits, str(source), model_dir, fix)
    mismatch = architecture_mismatch(latency.get("model"), model_dir)
    if mismatch:
        raise ArtifactError(f"{source}: measured on {mismatch}; {fix}")


def check_latency_classes(latency: Mapping[str, Any], source: str, n_classes: int,
                          outputs: str) -> None:
    """A latency table (`source`) whose `model` record names another class count than the
    exit outputs' (`outputs`: where they come from) is a one-line ConfigError naming both: the
    policies fitted on them would record both, and `eenet predict` refuse every model."""
    recorded = (latency.get("model") or {}).get("num_classes")
    if recorded is not None and int(recorded) != n_classes:
        raise ConfigError(f"{source}: measured on a model of {recorded} classes, {outputs} "
                          f"holds exit outputs of {n_classes}; give the costs measured on the "
                          "model that gave them")


def check_model_exits(n_costs: int, n_exits: int, source: str,
                      model_dir: str | os.PathLike, fix: str) -> None:
    """A latency table of `n_costs` exits for a model of `n_exits` is a one-line ArtifactError
    naming the table (`source`), the model and what to do (`fix`)."""
    if n_costs != n_exits:
        raise ArtifactError(f"{source}: {n_costs} exits, the model in {model_dir} has "
                            f"{n_exits}; {fix}")


def costs_profiled_at(latency: Mapping[str, Any]) -> dict[str, Any]:
    """The latency table's device, batch size and threads, where it records them (an
    imported CSV records none)."""
    return {key: latency[key] for key in ("device", "batch_size", "threads")
            if latency.get(key) is not None}
