"""The per-exit costs contract: cumulative ms (or another unit) of reaching each exit.

A cost vector holds one number per exit, finite, from COST_MIN to COST_MAX and strictly
increasing (`validate_costs`). Where costs come from: `eenet.latency_table` (the latency JSON,
`cumulative_ms` plus measurement metadata), `eenet.cost_csv` (a one-column CSV of costs),
`eenet.cost_inputs` (a user's costs spec: a file or a comma-separated list).
"""

from __future__ import annotations

import json
import numbers
from typing import Any

import numpy as np

from eenet.errors import ArtifactError

# the largest cost taken: sums of costs over any number of samples stay finite (at 1e308 the
# mean cost of a split overflowed to Infinity)
COST_MAX = 1e250
# the smallest: far below any time, and far above float64's subnormals, where costs lose their
# digits (costs 5e-324, 1e-323, 1.5e-323 planned a mean cost of 4.9e-324 for 9.9e-324)
COST_MIN = 1e-100


def show(value: Any) -> str:
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
                    f"got {show(entry)} at index {index}"
                )
    elif np.asarray(costs).dtype.kind not in "iuf":
        raise ArtifactError(
            f"{source}: cumulative costs must be a list of numbers (ms per exit), "
            f"got {show(costs)}"
        )


def _out_of_range(source: str, costs: Any) -> ArtifactError:
    """The one-line error for costs that are not all finite, from COST_MIN to COST_MAX."""
    return ArtifactError(f"{source}: cumulative costs must be finite, from {COST_MIN:g} to "
                         f"{COST_MAX:g}, got {show(costs)}")


def validate_costs(costs: Any, source: str = "costs") -> np.ndarray:
    """Return costs as float64 [n_exits]; they must be finite, from COST_MIN to COST_MAX and
    strictly increasing."""
    _check_cost_entries(costs, source)
    try:
        arr = np.asarray(costs, dtype=np.float64)
    except OverflowError:  # a Python int beyond float64 (10**400): an OverflowError traceback
        raise _out_of_range(source, costs) from None
    if arr.ndim == 1 and arr.size == 0:
        raise ArtifactError(f"{source}: no cumulative costs given; expected one number per exit")
    if arr.ndim != 1:
        raise ArtifactError(
            f"{source}: cumulative costs must be a flat list of numbers, got shape {arr.shape}"
        )
    if not np.isfinite(arr).all() or (arr < COST_MIN).any() or (arr > COST_MAX).any():
        raise _out_of_range(source, arr.tolist())
    if (np.diff(arr) <= 0).any():
        raise ArtifactError(
            f"{source}: cumulative costs must be strictly increasing, got "
            f"{show(arr.tolist())}"
        )
    return arr
