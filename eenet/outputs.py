"""Artifact contracts between stages: exit outputs (logits) and per-exit costs.

Exit outputs (`<split>.npz`): `logits` float32 [n_exits, n_samples, n_classes] (raw, before
softmax) and `labels` int64 [n_samples]. A file holding `probs` instead of `logits` is accepted
(its log is used as logits, which gives the same softmax).

Costs (`latency.json`): `cumulative_ms`, one per exit, strictly increasing, plus measurement
metadata. Costs can also be read from a one-column CSV (the authors' `seconds.csv`) or given as
a comma-separated list.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eenet.atomic import write_json, write_with
from eenet.errors import ArtifactError, ConfigError
from eenet.jsonio import read_json_object


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


def validate_exit_outputs(outputs: ExitOutputs, source: str = "exit outputs") -> ExitOutputs:
    """Check shapes, dtypes, finiteness and label range; raise ArtifactError naming `source`."""
    logits, labels = outputs.logits, outputs.labels
    if logits.ndim != 3:
        raise ArtifactError(
            f"{source}: logits must be [n_exits, n_samples, n_classes], got shape {logits.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != logits.shape[1]:
        raise ArtifactError(
            f"{source}: labels must be [n_samples] with n_samples={logits.shape[1]}, "
            f"got shape {labels.shape}"
        )
    if logits.shape[0] < 1 or logits.shape[1] < 1 or logits.shape[2] < 2:
        raise ArtifactError(f"{source}: need >=1 exit, >=1 sample, >=2 classes; got {logits.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ArtifactError(f"{source}: labels must be integers, got dtype {labels.dtype}")
    if not np.isfinite(logits).all():
        raise ArtifactError(f"{source}: logits contain NaN or inf")
    if labels.min() < 0 or labels.max() >= logits.shape[2]:
        raise ArtifactError(
            f"{source}: labels must lie in [0, {logits.shape[2] - 1}], "
            f"got [{labels.min()}, {labels.max()}]"
        )
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


def load_exit_outputs(path: str | os.PathLike) -> ExitOutputs:
    """Load and validate an exit-outputs npz (`logits` or `probs`, and `labels`)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: exit outputs file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if "labels" not in keys or not ({"logits", "probs"} & keys):
                raise ArtifactError(
                    f"{path}: expected arrays 'logits' (or 'probs') and 'labels', "
                    f"found {sorted(keys)}"
                )
            labels = npz["labels"]
            if "logits" in keys:
                logits = npz["logits"].astype(np.float32)
            else:
                probs = npz["probs"].astype(np.float64)
                if probs.min() < 0:
                    raise ArtifactError(f"{path}: probs contain negative values")
                with np.errstate(divide="ignore"):
                    logits = np.maximum(np.log(probs), -1e4).astype(np.float32)
    except ArtifactError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ArtifactError(f"{path}: not a readable npz file ({exc})") from None
    if not np.issubdtype(labels.dtype, np.integer):
        raise ArtifactError(f"{path}: labels must be integers, got dtype {labels.dtype}")
    return validate_exit_outputs(ExitOutputs(logits, labels.astype(np.int64)), str(path))


# ---------------------------------------------------------------- costs


def validate_costs(costs: Any, source: str = "costs") -> np.ndarray:
    """Return costs as float64 [n_exits]; they must be finite, positive, strictly increasing."""
    arr = np.asarray(costs, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 1:
        raise ArtifactError(f"{source}: cumulative costs must be a non-empty list, got {arr.shape}")
    if not np.isfinite(arr).all() or (arr <= 0).any():
        raise ArtifactError(
            f"{source}: cumulative costs must be finite and > 0, got {arr.tolist()}"
        )
    if (np.diff(arr) <= 0).any():
        raise ArtifactError(
            f"{source}: cumulative costs must be strictly increasing, got {arr.tolist()}"
        )
    return arr


def save_latency(path: str | os.PathLike, table: dict[str, Any]) -> Path:
    """Validate `table['cumulative_ms']` and atomically write the latency JSON."""
    validate_costs(table.get("cumulative_ms"), str(path))
    return write_json(path, table)


def load_latency(path: str | os.PathLike) -> dict[str, Any]:
    """Load a latency JSON (the costs contract), validating `cumulative_ms`."""
    table = read_json_object(path, "latency table", required=("cumulative_ms",))
    table["cumulative_ms"] = validate_costs(table["cumulative_ms"], str(path)).tolist()
    return table


def _read_csv_costs(path: Path) -> list[float]:
    values: list[float] = []
    with open(path, newline="") as fh:
        for row in csv.reader(fh):
            cells = [c.strip() for c in row if c.strip()]
            if not cells:
                continue
            try:
                values.append(float(cells[0]))
            except ValueError:
                if values:  # a header is only allowed on the first line
                    raise ArtifactError(f"{path}: not a number: {cells[0]!r}") from None
    return values


def load_costs(spec: str | os.PathLike) -> np.ndarray:
    """Cumulative per-exit costs (ms) from a latency JSON, a one-column CSV, or "1.0,2.0,3.5"."""
    text = str(spec)
    path = Path(text)
    if path.suffix.lower() == ".json":
        return np.asarray(load_latency(path)["cumulative_ms"], dtype=np.float64)
    if path.suffix.lower() in {".csv", ".txt"}:
        if not path.is_file():
            raise ArtifactError(f"{path}: costs file not found")
        return validate_costs(_read_csv_costs(path), str(path))
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            f"costs: {text!r} is neither a .json/.csv file nor a comma list of ms values"
        ) from None
    return validate_costs(values, "costs")


def check_compatible(outputs: ExitOutputs, costs: np.ndarray, source: str = "inputs") -> None:
    """The exit outputs and the costs must describe the same number of exits."""
    if outputs.n_exits != len(costs):
        raise ArtifactError(
            f"{source}: exit outputs have {outputs.n_exits} exits but costs list {len(costs)}"
        )
