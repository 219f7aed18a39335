"""Latency tables measured elsewhere (`profile.table`), read and recorded for the pipeline.

A table is our latency JSON (a profile run on the target) or a one-column CSV of cumulative
per-exit costs, such as the EENet authors' `seconds.csv`. The pipeline's `import_latency` stage
reads the table `profile.table` names and writes what it read, normalised, as one small
record (`save_import`), or a record of no table; `profile` reads that record (`load_import`)
instead of the table. The stage lists the tables' folder, so a table edited there reruns it,
and the record's content, not the folder, decides whether `profile` reruns: a file added to or
edited in the folder that `profile.table` does not name leaves the record, and so every stage
after it, as it was.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from eenet.budget import DEFAULT_COST_UNIT
from eenet.cost_csv import header_time_unit, read_cost_column, scaled_costs
from eenet.costs import validate_costs
from eenet.errors import ArtifactError, ConfigError, naming, require_regular_file
from eenet.jsonio import read_json_object, write_json
from eenet.latency_table import checked_latency, latency_timing_fields, load_user_latency
from eenet.rounding import TIDY_DIGITS, tidy_floats
from eenet.time_units import TIME_UNITS_SHOWN, ms_per_unit, unread_time_problem

# the folder the import stage lists as a DVC dependency: a table edited there reruns it
WATCHED_TABLES = Path("latency_tables")
# the stage that reads profile.table, and so what to rerun when its record is wrong
IMPORT_STAGE = "import_latency"


def unwatched_table_note(path: str | os.PathLike, watched: Path = WATCHED_TABLES) -> str | None:
    """A note when `profile.table` names a file outside the `watched` folder (relative to the
    working directory): DVC does not see edits to it, so a rerun would keep the old costs."""
    resolved, folder = Path(path).resolve(), watched.resolve()
    if resolved.is_relative_to(folder):
        return None
    return (f"note: profile.table {path} is outside {watched}/, which DVC watches: after "
            f"editing it, run `dvc repro -f -s {IMPORT_STAGE}` then `dvc repro` (or move it "
            f"into {watched}/)")


def load_latency_table(path: str | os.PathLike, unit: str | None = None) -> dict[str, Any]:
    """A latency table measured elsewhere: our JSON, or a one-column CSV of cumulative costs.

    CSV values are milliseconds unless a header line or `unit` names another time unit: the
    authors' `seconds.csv` files hold cumulative milliseconds despite the name (ResNet-56 on
    CIFAR-10: 2.31, 4.15, 4.93, the scale of the paper's 2.5 ms budget). A header naming a
    time unit of another scale than `unit` is a ConfigError (`unit` won, reading the values
    1000x off). `source` records the
    path; measurement details the file does not give are None. Every error names
    `profile.table`, the parameter that gives the file, but a bad `unit`'s, which names it.
    """
    if unit is not None and (not isinstance(unit, str) or ms_per_unit(unit) is None):
        raise ConfigError(f"unit: {unit_problem(unit)}; give unit as {TIME_UNITS_SHOWN}")
    with naming("profile.table"):
        return _load_latency_table(Path(path), unit)


def unit_problem(unit: Any) -> str:
    """Why `unit` (no time of s, ms, us, ns) is no latency table's unit: minutes and hours
    are times latencies are not read in (`eenet.time_units.unread_time_problem`), anything
    else no time at all."""
    return unread_time_problem(unit, "latencies") or f"unknown unit {unit!r}"


def _load_latency_table(path: Path, unit: str | None) -> dict[str, Any]:
    """`load_latency_table` of `path`, its errors not yet naming the parameter."""
    require_regular_file(path, "a latency table (.json or one-column .csv)",
                         "latency table not found")
    if path.suffix.lower() == ".json":
        table = load_user_latency(path)  # profile_scoring times at its batch size, threads
        field = non_finite_field(table)
        if field is not None:  # the record is strict JSON: NaN made json.dumps' traceback
            raise ArtifactError(f"{path}: {field}: must be a finite number (no NaN or "
                                "infinity); fix the table")
        table.setdefault("measured_as", table.get("source", "measured"))
        table["source"] = str(path)
        for key in ("device", "batch_size", "threads", "p50_ms", "p90_ms", "flops"):
            table.setdefault(key, None)
        return table
    if path.suffix.lower() not in {".csv", ".txt"}:
        raise ConfigError(
            f"{path}: expected a .json latency table or a one-column .csv"
        )
    values, header = read_cost_column(path, unit or DEFAULT_COST_UNIT)  # its errors' unit
    named = header_time_unit(header)  # 'latency (s)': 's'
    if unit is not None and named is not None and ms_per_unit(named) != ms_per_unit(unit):
        raise ConfigError(f"{path}: its header says the values are in {named!r}, but unit is "
                          f"{unit!r}; give unit as {named!r} (or none), or fix the header")
    unit = unit or named or header
    scale = ms_per_unit(unit)
    if scale is None:
        raise ConfigError(f"{path}: {unit_problem(unit)}; use a time unit as the header "
                          f"({TIME_UNITS_SHOWN}), alone or last, e.g. 'latency (ms)'")
    costs = scaled_costs(values, path, unit, "ms", scale)
    return {
        "cumulative_ms": costs.tolist(),
        "p50_ms": None,
        "p90_ms": None,
        "flops": None,
        "device": None,
        "batch_size": None,
        "threads": None,
        "source": str(path),
    }


def non_finite_field(value: Any, where: str = "") -> str | None:
    """Where a JSON value holds NaN or an infinity, as a key path (`p50_ms[1]`); None where it
    holds none."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "the table"
    if isinstance(value, dict):
        items: Any = ((f"{where}.{key}" if where else str(key), item)
                      for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{where}[{i}]", item) for i, item in enumerate(value))
    else:
        return None
    return next((found for key, item in items
                 if (found := non_finite_field(item, key)) is not None), None)


# ---------------------------------------------------------------- the import stage's record


def import_record(table_path: str | os.PathLike | None) -> dict[str, Any]:
    """What the import stage records for `profile.table`: the table's path and what was read
    from it (`load_latency_table`), its numbers as the record keeps them (`tidy_floats`), or
    None for both where no table is named (profile measures). Costs that are strictly
    increasing only past TIDY_DIGITS significant digits are a one-line ArtifactError naming
    profile.table: recorded equal, profile refused them, telling to rerun this stage."""
    if not table_path:
        return {"table": None, "latency": None}
    # keys sorted: a JSON table rewritten in another key order records the same
    latency = tidy_floats(json.loads(json.dumps(load_latency_table(table_path), sort_keys=True)))
    with naming("profile.table"):
        validate_costs(latency["cumulative_ms"],
                       f"{table_path} (at {TIDY_DIGITS} significant digits, as recorded)")
    return {"table": str(table_path), "latency": latency}


def save_import(path: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Atomically write an `import_record` as JSON (floats tidy)."""
    return write_json(path, record, strict=True, tidy=True)


def load_import(path: str | os.PathLike) -> dict[str, Any] | None:
    """The latency table an import record at `path` holds, checked; None where it records no
    table. A record that is not one is a one-line ArtifactError saying to rerun the stage."""
    fix = f"rerun {IMPORT_STAGE}"
    try:
        return _load_import(path, fix)
    except ArtifactError as exc:
        if fix in str(exc):
            raise
        raise ArtifactError(f"{exc}; {fix}") from None


def _load_import(path: str | os.PathLike, fix: str) -> dict[str, Any] | None:
    """`load_import` of `path`; some of its errors not yet ending with `fix`."""
    record = read_json_object(path, "imported latency record", fix,
                              required=("table", "latency"))
    table, latency = record["table"], record["latency"]
    if table is None and latency is None:
        return None
    if not isinstance(table, str) or not isinstance(latency, dict):
        raise ArtifactError(f"{path}: expected a table path and its latency object, or null "
                            f"for both; {fix}")
    latency = checked_latency(latency, str(path), fix)
    latency_timing_fields(latency, str(path), fix)
    return latency
