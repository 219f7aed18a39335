"""A user's costs spec read as cumulative per-exit costs: a latency JSON, a one-column CSV (an
existing file without a .json/.csv suffix is read as one) or a comma-separated list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from eenet.budget import DEFAULT_COST_UNIT, number_from_text
from eenet.cost_csv import csv_costs
from eenet.costs import validate_costs
from eenet.errors import ConfigError, naming, require_regular_file
from eenet.latency_table import load_user_latency
from eenet.time_units import check_cost_time_unit

COST_FILE_SUFFIXES = (".csv", ".txt")  # read as a one-column CSV, never as a comma list
# numpy's files (exit outputs) given as costs: refused by name, not read as a CSV that is no text
EXIT_OUTPUTS_SUFFIXES = (".npz", ".npy")


def _parse_comma_list(text: str) -> list[float] | None:
    """Values of "1.0,2.0,3.5"; None when `text` is not such a list (an empty item included)."""
    try:
        return [number_from_text(v) for v in text.split(",")]
    except ValueError:
        return None


def is_cost_list(spec: str | os.PathLike) -> bool:
    """Whether `load_costs` reads `spec` as a comma list of costs ("1.0,2.0,3.5"), not as a
    file."""
    text = str(spec)
    return (Path(text).suffix.lower() not in {".json", *COST_FILE_SUFFIXES}
            and bool(text.replace(",", "").strip()) and _parse_comma_list(text) is not None)


def load_costs(
    spec: str | os.PathLike, name: str | None = None, unit: str = DEFAULT_COST_UNIT
) -> np.ndarray:
    """Cumulative per-exit costs in `unit` (ms by default) from a latency JSON (ms), a
    one-column CSV (any other existing file is read as one; a header naming a time unit is
    converted to `unit`), or "1.0,2.0,3.5"; `name` (e.g. a CLI flag) prefixes every error
    about the costs. A `unit` of minutes or hours is a one-line ConfigError naming `unit`."""
    return load_costs_and_table(spec, name, unit)[0]


def load_costs_and_table(
    spec: str | os.PathLike, name: str | None = None, unit: str = DEFAULT_COST_UNIT
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """`load_costs`, and the latency table the costs come from where `spec` is a latency
    JSON (its model record, device and batch size; None for a CSV or a list)."""
    check_cost_time_unit(unit)
    if name is None:
        return _load_costs(str(spec), "costs", unit)
    with naming(name):
        return _load_costs(str(spec), name, unit)


def _load_costs(
    text: str, label: str, unit: str = DEFAULT_COST_UNIT
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """`load_costs_and_table` of `text` in `unit`; errors not about a file name `label`."""
    path = Path(text)
    if path.suffix.lower() == ".json":
        table = load_user_latency(path)
        return np.asarray(table["cumulative_ms"], dtype=np.float64), table
    if path.suffix.lower() not in COST_FILE_SUFFIXES:
        values = _parse_comma_list(text) if text.replace(",", "").strip() else []
        if values is not None:
            return validate_costs(values, label), None
        if not path.exists():
            empty = " (it has an empty item)" if "" in map(str.strip, text.split(",")) else ""
            raise ConfigError(f"{label}: {text!r} is neither a .json/.csv file nor a comma list "
                              f"of {unit} values{empty}")
    require_regular_file(path, "a .json latency table or a one-column .csv",
                         "costs file not found")
    if path.suffix.lower() in EXIT_OUTPUTS_SUFFIXES:  # the files given in each other's place
        raise ConfigError(f"{path}: an {path.suffix.lower()} file, such as exit outputs, not "
                          "costs; give a .json latency table, a one-column .csv or a comma list "
                          f"of cumulative {unit} like 1,2,3.5")
    return csv_costs(path, unit), None
