"""Artifact contracts between stages: exit outputs (logits) and per-exit costs.

Exit outputs (`<split>.npz`): `logits` float32 [n_exits, n_samples, n_classes] (raw, before
softmax) and `labels` int64 [n_samples]. A file holding `probs` instead of `logits` is accepted
(its log is used as logits, which gives the same softmax) if they are probabilities: finite,
never negative, and at most 1 and summing to 1 over the classes within PROB_TOLERANCE. A file
holding both is an error.

Costs (`latency.json`): `cumulative_ms`, one per exit, strictly increasing, plus measurement
metadata. Costs can also be read from a one-column CSV (the authors' `seconds.csv`: UTF-8, one
number per line, an optional header on the first line; an existing file without a .json/.csv
suffix is read as one) or given as a comma-separated list.
"""

from __future__ import annotations

import csv
import io
import json
import numbers
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eenet.atomic import write_json, write_with
from eenet.budget import DEFAULT_COST_UNIT
from eenet.config import THREADS_MAX, check_integer
from eenet.errors import ArtifactError, ConfigError, naming, numpy_load_problem
from eenet.jsonio import read_json_object

SECONDS_UNITS = {"s", "sec", "secs", "second", "seconds"}  # CSV cost headers meaning seconds
MS_UNITS = {"ms", "msec", "millisecond", "milliseconds"}
PROB_TOLERANCE = 1e-2  # how far `probs` may stray from [0, 1] and from summing to 1 (float16)


def log_softmax64(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Float64 log-softmax over the last axis of float32 logits: the one arithmetic used by the
    simulation (`ExitOutputs.log_probs`) and by real early exit (`eenet.runtime`).

    z = x - max x; z - log(sum exp z), written into `out` (float64, the logits' shape; a new
    array when None) with ufuncs called directly and in place: the per-call overhead matters
    at batch 1, where the runtime calls this once per exit."""
    z = np.empty(logits.shape, dtype=np.float64) if out is None else out
    top = np.maximum.reduce(logits, axis=-1, keepdims=True)  # exact in float32 as in float64
    np.subtract(logits, top, out=z, dtype=np.float64)  # both cast to float64 exactly first
    total = np.add.reduce(np.exp(z), axis=-1, keepdims=True)
    return np.subtract(z, np.log(total, out=total), out=z)


@dataclass(frozen=True)
class ExitOutputs:
    """What every exit of a multi-exit model produced on one split."""

    logits: np.ndarray  # float32 [n_exits, n_samples, n_classes]
    labels: np.ndarray  # int64 [n_samples]

    @property
    def n_exits(self) -> int:
        return int(self.logits.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.logits.shape[1])

    @property
    def n_classes(self) -> int:
        return int(self.logits.shape[2])

    def log_probs(self) -> np.ndarray:
        """Log-softmax of the logits in float64, [n_exits, n_samples, n_classes]."""
        return log_softmax64(self.logits)

    def probs(self) -> np.ndarray:
        """Softmax of the logits in float64, [n_exits, n_samples, n_classes]."""
        return np.exp(self.log_probs())

    def predictions(self) -> np.ndarray:
        """Predicted class of every exit, int64 [n_exits, n_samples]."""
        return self.logits.argmax(axis=-1)

    def correct(self) -> np.ndarray:
        """Whether each exit is right on each sample, bool [n_exits, n_samples]."""
        return self.predictions() == self.labels[None, :]

    def exit_accuracy(self) -> np.ndarray:
        """Accuracy (percent) of each exit alone, [n_exits]."""
        return 100.0 * self.correct().mean(axis=1)


def checked_labels(labels: np.ndarray, n_samples: int, n_classes: int, source: str,
                   name: str = "labels") -> np.ndarray:
    """`labels` as int64 after checking them: one integer per sample, each in [0, n_classes);
    an ArtifactError naming `source` and the array's `name` otherwise."""
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ArtifactError(
            f"{source}: {name} must be [n_samples] with n_samples={n_samples}, "
            f"got shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ArtifactError(f"{source}: {name} must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ArtifactError(
            f"{source}: {name} must lie in [0, {n_classes - 1}] ({n_classes} classes), "
            f"got [{labels.min()}, {labels.max()}]"
        )
    return labels.astype(np.int64, copy=False)


def validate_exit_outputs(outputs: ExitOutputs, source: str = "exit outputs") -> ExitOutputs:
    """Check shapes, dtypes, finiteness and label range; raise ArtifactError naming `source`."""
    logits = outputs.logits
    if logits.ndim != 3:
        raise ArtifactError(
            f"{source}: logits must be [n_exits, n_samples, n_classes], got shape {logits.shape}"
        )
    if logits.shape[0] < 1 or logits.shape[1] < 1 or logits.shape[2] < 2:
        raise ArtifactError(f"{source}: need >=1 exit, >=1 sample, >=2 classes; got {logits.shape}")
    checked_labels(outputs.labels, logits.shape[1], logits.shape[2], source)
    if not np.isfinite(logits).all():
        raise ArtifactError(f"{source}: logits contain NaN or inf")
    return outputs


def save_exit_outputs(path: str | os.PathLike, outputs: ExitOutputs) -> Path:
    """Validate and atomically write exit outputs as an uncompressed npz."""
    validate_exit_outputs(outputs, str(path))

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                logits=outputs.logits.astype(np.float32),
                labels=outputs.labels.astype(np.int64),
            )

    return write_with(path, _write)


def _reject_directory(path: Path, wanted: str) -> None:
    """A directory where a file is expected is a one-line error saying which file to give."""
    if path.is_dir():
        raise ArtifactError(f"{path}: is a directory; give {wanted} file")


def _real_array(array: np.ndarray, name: str, path: Path) -> np.ndarray:
    """`array` unchanged if it holds real numbers (ints or floats); complex, bool or text is an
    error (a cast would silently drop the imaginary part or invent numbers)."""
    if array.dtype.kind not in "iuf":
        raise ArtifactError(
            f"{path}: {name} must be real numbers (float or int), got dtype {array.dtype}"
        )
    return array


def _logits_as_float32(logits: np.ndarray, path: Path) -> np.ndarray:
    """Logits cast to float32; finite values beyond float32's range are a one-line error (no
    numpy overflow warning)."""
    with np.errstate(over="ignore"):
        cast = logits.astype(np.float32)
    if not np.isfinite(cast).all() and np.isfinite(logits).all():
        raise ArtifactError(
            f"{path}: logits exceed the float32 range (|x| <= {np.finfo(np.float32).max:.4g})"
        )
    return cast


def _check_probs(probs: np.ndarray, path: Path) -> None:
    """Probabilities [n_exits, n_samples, n_classes]: finite, never negative, at most
    1 + PROB_TOLERANCE, each row summing to 1 within PROB_TOLERANCE (float16 rounding)."""
    if probs.ndim != 3:
        raise ArtifactError(
            f"{path}: probs must be [n_exits, n_samples, n_classes], got shape {probs.shape}"
        )
    if probs.size == 0:
        return
    if not np.isfinite(probs).all():
        raise ArtifactError(f"{path}: probs contain NaN or inf")
    if probs.min() < 0:
        raise ArtifactError(f"{path}: probs contain negative values")
    if probs.max() > 1 + PROB_TOLERANCE:
        raise ArtifactError(f"{path}: probs must lie in [0, 1], got a value of {probs.max():.6g}")
    sums = probs.sum(axis=-1)
    off = np.abs(sums - 1) > PROB_TOLERANCE
    if off.any():
        exit_k, sample = (int(i[0]) for i in np.nonzero(off))
        raise ArtifactError(
            f"{path}: probs must sum to 1 over the classes (within {PROB_TOLERANCE}); "
            f"exit {exit_k}, sample {sample} sums to {sums[exit_k, sample]:.6g}"
        )


def _logits_from_probs(probs: np.ndarray, path: Path) -> np.ndarray:
    """Validated probabilities' log as float32 logits (the same softmax)."""
    probs = probs.astype(np.float64)
    _check_probs(probs, path)
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(probs), -1e4).astype(np.float32)


def _read_npz_arrays(npz: np.lib.npyio.NpzFile, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(float32 logits, labels) from an open npz holding `labels` and `logits` or `probs`."""
    keys = set(npz.files)
    if "labels" not in keys or not ({"logits", "probs"} & keys):
        raise ArtifactError(
            f"{path}: expected arrays 'logits' (or 'probs') and 'labels', found {sorted(keys)}"
        )
    if {"logits", "probs"} <= keys:
        raise ArtifactError(
            f"{path}: holds both 'logits' and 'probs'; expected one of them (and 'labels')"
        )
    labels = npz["labels"]
    if "logits" in keys:
        return _logits_as_float32(_real_array(npz["logits"], "logits", path), path), labels
    return _logits_from_probs(_real_array(npz["probs"], "probs", path), path), labels


def load_exit_outputs(path: str | os.PathLike) -> ExitOutputs:
    """Load and validate an exit-outputs npz (`logits` or `probs`, and `labels`)."""
    path = Path(path)
    _reject_directory(path, "an exit-outputs .npz")
    if not path.is_file():
        raise ArtifactError(f"{path}: exit outputs file not found")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ArtifactError(
                f"{path}: a single .npy array, not an .npz archive; expected an .npz with "
                "arrays 'logits' (or 'probs') and 'labels' (np.savez)"
            )
        with loaded as npz:
            logits, labels = _read_npz_arrays(npz, path)
    except ArtifactError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ArtifactError(f"{path}: not a readable npz file ({numpy_load_problem(exc)})"
                            ) from None
    validate_exit_outputs(ExitOutputs(logits, labels), str(path))
    return ExitOutputs(logits, labels.astype(np.int64, copy=False))


# ---------------------------------------------------------------- costs


def _show(value: Any) -> str:
    """A value as its JSON text where it has one (null, true, "1"), else its repr; at most 60
    characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_real_number(value: Any) -> bool:
    """An int or float (Python or numpy); bools are not numbers here."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_cost_entries(costs: Any, source: str) -> None:
    """Every entry of a list of costs is a number; anything else is a one-line error."""
    if isinstance(costs, (list, tuple)):
        for index, entry in enumerate(costs):
            if not is_real_number(entry):
                raise ArtifactError(
                    f"{source}: cumulative costs must be numbers (ms per exit), "
                    f"got {_show(entry)} at index {index}"
                )
    elif np.asarray(costs).dtype.kind not in "iuf":
        raise ArtifactError(
            f"{source}: cumulative costs must be a list of numbers (ms per exit), "
            f"got {_show(costs)}"
        )


def validate_costs(costs: Any, source: str = "costs") -> np.ndarray:
    """Return costs as float64 [n_exits]; they must be finite, positive, strictly increasing."""
    _check_cost_entries(costs, source)
    arr = np.asarray(costs, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0:
        raise ArtifactError(f"{source}: no cumulative costs given; expected one number per exit")
    if arr.ndim != 1:
        raise ArtifactError(
            f"{source}: cumulative costs must be a flat list of numbers, got shape {arr.shape}"
        )
    if not np.isfinite(arr).all() or (arr <= 0).any():
        raise ArtifactError(
            f"{source}: cumulative costs must be finite and > 0, got {arr.tolist()}"
        )
    if (np.diff(arr) <= 0).any():
        raise ArtifactError(
            f"{source}: cumulative costs must be strictly increasing, got {arr.tolist()}"
        )
    return arr


def latency_timing_fields(table: dict[str, Any], source: str, fix: str) -> dict[str, int]:
    """A latency table's `batch_size` and `threads` (null or absent, as in an imported CSV: 1).
    A value that is no integer in range (batch size >= 1, threads from 1 to THREADS_MAX) is a
    one-line ArtifactError naming `source` and the field, ending with `fix`."""
    values = {}
    for key, high in (("batch_size", None), ("threads", THREADS_MAX)):
        value = table.get(key)
        try:
            check_integer(key, value, 1, high, nullable=True)
        except ConfigError as exc:
            raise ArtifactError(f"{source}: {exc}; {fix}") from None
        values[key] = 1 if value is None else value
    return values


def save_latency(path: str | os.PathLike, table: dict[str, Any]) -> Path:
    """Validate `table['cumulative_ms']` and atomically write the latency JSON."""
    validate_costs(table.get("cumulative_ms"), str(path))
    return write_json(path, table)


def load_latency(path: str | os.PathLike) -> dict[str, Any]:
    """Load a latency JSON (the costs contract), validating `cumulative_ms`."""
    _reject_directory(Path(path), "a latency .json")
    table = read_json_object(path, "latency table", required=("cumulative_ms",))
    table["cumulative_ms"] = validate_costs(table["cumulative_ms"], str(path)).tolist()
    return table


def _read_text(path: Path) -> str:
    """A costs file's text (a UTF-8 byte-order mark dropped); other encodings or binary data
    are a one-line error."""
    not_text = f"{path}: not a UTF-8 text file; expected a one-column CSV of cumulative ms"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ArtifactError(not_text) from None
    except OSError as exc:
        raise ArtifactError(f"{path}: costs file not readable ({exc.strerror})") from None
    if "\0" in text:  # UTF-16 without a byte-order mark decodes, with NULs
        raise ArtifactError(not_text)
    return text


def _too_many_fields(path: Path, line_no: int, cells: list[str]) -> ArtifactError:
    """Error for a CSV row with more than one value, hinting at a decimal comma."""
    shown = ",".join(cells)
    hint = ""
    if len(cells) == 2 and re.fullmatch(r"[+-]?\d+", cells[0]) and re.fullmatch(r"\d+", cells[1]):
        hint = f" (decimal comma? write {cells[0]}.{cells[1]})"
    return ArtifactError(
        f"{path}: line {line_no}: {shown!r} has {len(cells)} fields{hint}; "
        "expected one cumulative ms value per line"
    )


def read_cost_column(path: Path) -> tuple[list[float], str | None]:
    """Values of a one-column CSV (one number per non-blank line) and its header, lower-cased,
    if the first non-blank line is one (e.g. a unit: 'ms', 's'); None otherwise."""
    values: list[float] = []
    header: str | None = None
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    first = True
    for row in reader:
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        if len(cells) > 1:
            raise _too_many_fields(path, reader.line_num, cells)
        try:
            values.append(float(cells[0]))
        except ValueError:
            if not first:  # a header is only allowed on the first non-blank line
                raise ArtifactError(
                    f"{path}: line {reader.line_num}: not a number: {cells[0]!r}"
                ) from None
            if _several_numbers(cells[0]):  # '1;2;3': not a header
                raise ArtifactError(
                    f"{path}: line {reader.line_num}: {cells[0]!r} holds several numbers; "
                    "expected one cumulative cost per line (a one-column CSV)"
                ) from None
            header = cells[0].lower()
        first = False
    return values, header


def _several_numbers(cell: str) -> bool:
    """Whether `cell` is numbers joined by semicolons, tabs or spaces ('1;2;3')."""
    parts = [p for p in re.split(r"[;\t ]+", cell) if p]
    if len(parts) < 2:
        return False
    try:
        [float(p) for p in parts]
    except ValueError:
        return False
    return True


def ms_per_unit(unit: str | None) -> float | None:
    """Milliseconds in one `unit` of a costs column (its header, any case): 1000 for seconds,
    1 for ms or no unit; None for a unit neither names."""
    if unit is None or unit.lower() in MS_UNITS:
        return 1.0
    return 1000.0 if unit.lower() in SECONDS_UNITS else None


def csv_costs(path: Path, unit: str = DEFAULT_COST_UNIT) -> list[float]:
    """A one-column CSV's costs in `unit`: its values, converted where its header names a time
    unit (seconds or ms) and `unit` is one too (any other header is a column name: the values
    are in `unit` as they are). A time header with a `unit` that is no time (MFLOPs) is a
    one-line ConfigError."""
    values, header = read_cost_column(path)
    header_ms = ms_per_unit(header) if header is not None else None
    if header_ms is None:
        return values
    unit_ms = ms_per_unit(unit)
    if unit_ms is None:
        raise ConfigError(f"{path}: its header says the costs are in {header!r}, a time, but "
                          f"the cost unit is {unit!r}; give the unit as ms or s, or drop the "
                          "header")
    return [v * header_ms / unit_ms for v in values]


def _parse_comma_list(text: str) -> list[float] | None:
    """Values of "1.0,2.0,3.5"; None when `text` is not such a list (an empty item included)."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        return None


def load_costs(
    spec: str | os.PathLike, name: str | None = None, unit: str = DEFAULT_COST_UNIT
) -> np.ndarray:
    """Cumulative per-exit costs in `unit` (ms by default) from a latency JSON (ms), a
    one-column CSV (any other existing file is read as one; a header naming seconds or ms is
    converted to `unit`), or "1.0,2.0,3.5"; `name` (e.g. a CLI flag) prefixes every error."""
    if name is None:
        return _load_costs(str(spec), "costs", unit)
    with naming(name):
        return _load_costs(str(spec), name, unit)


def _load_costs(text: str, label: str, unit: str = DEFAULT_COST_UNIT) -> np.ndarray:
    """`load_costs` of `text` in `unit`; errors not about a file name `label`."""
    path = Path(text)
    if path.suffix.lower() == ".json":
        return np.asarray(load_latency(path)["cumulative_ms"], dtype=np.float64)
    if path.suffix.lower() not in {".csv", ".txt"}:
        values = _parse_comma_list(text) if text.replace(",", "").strip() else []
        if values is not None:
            return validate_costs(values, label)
        if not (path.is_file() or path.is_dir()):
            empty = " (it has an empty item)" if "" in map(str.strip, text.split(",")) else ""
            raise ConfigError(f"{label}: {text!r} is neither a .json/.csv file nor a comma list "
                              f"of ms values{empty}")
    _reject_directory(path, "a .json latency table or a one-column .csv")
    if not path.is_file():
        raise ArtifactError(f"{path}: costs file not found")
    return validate_costs(csv_costs(path, unit), str(path))


def check_compatible(outputs: ExitOutputs, costs: np.ndarray, source: str = "inputs") -> None:
    """The exit outputs and the costs must describe the same number of exits."""
    if outputs.n_exits != len(costs):
        raise ArtifactError(
            f"{source}: exit outputs have {outputs.n_exits} exits but costs list {len(costs)}"
        )
