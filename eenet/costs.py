"""The per-exit costs contract: cumulative ms (or another unit) of reaching each exit.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from eenet.atomic import write_json
from eenet.budget import DEFAULT_COST_UNIT, number_from_text
from eenet.checks import THREADS_MAX, check_integer
from eenet.errors import (
    ArtifactError,
    ConfigError,
    naming,
    reject_directory,
    require_regular_file,
)
from eenet.jsonio import read_json_object
from eenet.rounding import tidy_floats

# the largest cost taken: sums of costs over any number of samples stay finite (at 1e308 the
# mean cost of a split overflowed to Infinity)
COST_MAX = 1e250
# the smallest: far below any time, and far above float64's subnormals, where costs lose their
# digits (costs 5e-324, 1e-323, 1.5e-323 planned a mean cost of 4.9e-324 for 9.9e-324)
COST_MIN = 1e-100
# the names of a time a CSV cost header (or --cost-unit) may give, and the ms in one of it
TIME_UNITS_MS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1000.0),
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 1.0),
    **dict.fromkeys(("us", "\u00b5s", "\u03bcs", "usec", "microsecond", "microseconds"), 1e-3),
    **dict.fromkeys(("ns", "nsec", "nanosecond", "nanoseconds"), 1e-6),
}
TIME_UNITS_SHOWN = "s, ms, us or ns"
SHORT_TIME_UNITS = {1000.0: "s", 1.0: "ms", 1e-3: "us", 1e-6: "ns"}  # by the ms in one
# times costs are never read in, by the name of the time: a CSV header naming one is refused,
# not taken as a column name (minutes read as ms); 'm' is no such name (metres? minutes?)
OTHER_TIME_WORDS = {
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "min"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
}
# ... each as a cost unit's error names it
OTHER_TIME_NAMES = {"min": "minutes (a minute is 60 s)", "h": "hours (an hour is 3600 s)"}
COST_FILE_SUFFIXES = (".csv", ".txt")  # read as a one-column CSV, never as a comma list
# numpy's files (exit outputs) given as costs: refused by name, not read as a CSV that is no text
EXIT_OUTPUTS_SUFFIXES = (".npz", ".npy")


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


def _out_of_range(source: str, costs: Any) -> ArtifactError:
    """The one-line error for costs that are not all finite, from COST_MIN to COST_MAX."""
    return ArtifactError(f"{source}: cumulative costs must be finite, from {COST_MIN:g} to "
                         f"{COST_MAX:g}, got {_show(costs)}")


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
            f"{_show(arr.tolist())}"
        )
    return arr


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


def model_options_problem(model: Mapping[str, Any]) -> str | None:
    """What is wrong with a recorded model entry's `options` (its builder's keyword arguments;
    absent or null: none), in words; None when they are a JSON object."""
    options = model.get("options")
    if options is None or isinstance(options, dict):
        return None
    return ("model.options must be a JSON object (the model's builder options), got "
            f"{_show(options)}")


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
    model = table.get("model", {})
    if not isinstance(model, dict):
        raise ArtifactError(f"{source}: model must be a JSON object (the trained model it was "
                            f"measured on), got {_show(table['model'])}; {fix}")
    problem = model_options_problem(model)
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


def check_model_exits(n_costs: int, n_exits: int, source: str,
                      model_dir: str | os.PathLike, fix: str) -> None:
    """A latency table of `n_costs` exits for a model of `n_exits` is a one-line ArtifactError
    naming the table (`source`), the model and what to do (`fix`)."""
    if n_costs != n_exits:
        raise ArtifactError(f"{source}: {n_costs} exits, the model in {model_dir} has "
                            f"{n_exits}; {fix}")


def _read_text(path: Path, unit: str) -> str:
    """A costs file's text (a UTF-8 byte-order mark dropped); other encodings or binary data
    are a one-line error (saying the costs expected are in `unit`)."""
    not_text = f"{path}: not a UTF-8 text file; expected a one-column CSV of cumulative {unit}"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ArtifactError(not_text) from None
    except OSError as exc:
        raise ArtifactError(f"{path}: costs file not readable ({exc.strerror})") from None
    if "\0" in text:  # UTF-16 without a byte-order mark decodes, with NULs
        raise ArtifactError(not_text)
    return text


def _too_many_fields(path: Path, line_no: int, cells: list[str], unit: str) -> ArtifactError:
    """Error for a CSV row with more than one value (costs in `unit`), hinting at a decimal
    comma."""
    shown = ",".join(cells)
    hint = ""
    if len(cells) == 2 and re.fullmatch(r"[+-]?\d+", cells[0]) and re.fullmatch(r"\d+", cells[1]):
        hint = f" (decimal comma? write {cells[0]}.{cells[1]})"
    return ArtifactError(
        f"{path}: line {line_no}: {shown!r} has {len(cells)} fields{hint}; "
        f"expected one cumulative {unit} value per line"
    )


def read_cost_column(path: Path, unit: str = DEFAULT_COST_UNIT) -> tuple[list[float], str | None]:
    """Values of a one-column CSV (one number per non-blank line) and its header, lower-cased,
    if the first non-blank line is one (e.g. a unit: 'ms', 's'); None otherwise. Its errors
    say the costs expected are in `unit`."""
    values: list[float] = []
    header: str | None = None
    reader = csv.reader(io.StringIO(_read_text(path, unit), newline=""))
    first = True
    for row in reader:
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        if len(cells) > 1:
            raise _too_many_fields(path, reader.line_num, cells, unit)
        try:
            values.append(number_from_text(cells[0]))
        except ValueError:
            if _several_numbers(cells[0]):  # '1;2;3': not a header
                raise ArtifactError(
                    f"{path}: line {reader.line_num}: {cells[0]!r} holds several numbers; "
                    "expected one cumulative cost per line (a one-column CSV)"
                ) from None
            # a header is only allowed on the first non-blank line, and is no number
            # mistyped ('1.O', '0x1': a header would silently drop the first exit's cost)
            if not first or re.match(r"[+-]?\.?\d", cells[0]):
                raise ArtifactError(
                    f"{path}: line {reader.line_num}: not a number: {cells[0]!r}"
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
        [number_from_text(p) for p in parts]
    except ValueError:
        return False
    return True


def _header_words(header: str) -> list[str]:
    """A CSV header's words, lower-cased: split at spaces, punctuation and underscores
    ('latency (s)', 'time [ms]', 'cost_us', 'time / s'); an apostrophe stays in its word
    ("exit's" is no 's')."""
    return [word for word in re.split(r"[^\w'\u2019]+|_+", header.lower()) if word]


def header_time_unit(header: str | None) -> str | None:
    """The time unit a costs CSV's header says its values are in, lower-cased: the header
    itself when it is one ('s', 'ms', 'us', 'ns' and their long names), or its last word when
    that is one, the header holding no digit and no word for another time ('latency (s)',
    'time [ms]', 'cost_us', 'time / s', 'time in seconds'); None for no header or any other
    ('cost', 'MFLOPs', 'ms per sample', 'ms per s', 'latency (1e-3 s)', 's per min')."""
    if header is None:
        return None
    if header.strip().lower() in TIME_UNITS_MS:
        return header.strip().lower()
    words = _header_words(header)
    if (not words or ms_per_unit(words[-1]) is None or re.search(r"\d", header)
            or any(word in OTHER_TIME_WORDS for word in words)):
        return None
    times = {TIME_UNITS_MS[word] for word in words if word in TIME_UNITS_MS}
    return words[-1] if len(times) == 1 else None


def check_header_times(header: str, unit: str, path: Path) -> None:
    """A costs CSV header that names no unit (`header_time_unit`) is a column name, its values
    read in `unit`; one that mentions a time other than `unit` ('second exit first', 'ms per
    s' or 'latency (1e-3 s)' with ms; 'minutes' or 'latency (h)', times costs are never read
    in, with any `unit` but that time) is a one-line ConfigError rather than values read
    1000x, or 60000x, off."""
    unit_ms = ms_per_unit(unit)
    words = _header_words(header)
    other = [word for word in words if word in TIME_UNITS_MS and TIME_UNITS_MS[word] != unit_ms]
    unread = [word for word in words if word in OTHER_TIME_WORDS]
    if other:
        short = SHORT_TIME_UNITS[TIME_UNITS_MS[other[0]]]
        raise ConfigError(f"{path}: its header {header!r} mentions {other[0]!r}, a time, but "
                          f"names no one unit (alone, or last with no other time nor number: "
                          f"'{short}', 'latency ({short})'), and as a column name it would leave "
                          f"the values in {unit}; write the header so, or drop it")
    if unread and unit_ms is None:  # no time: told to give one, which it refuses
        raise ConfigError(f"{path}: its header {header!r} mentions {unread[0]!r}, a time, but "
                          f"the cost unit is {unit!r}, which names no time; drop the header if "
                          f"the values are in {unit} (times are read in {TIME_UNITS_SHOWN}, "
                          "with a cost unit naming one)")
    if unread:
        raise ConfigError(f"{path}: its header {header!r} mentions {unread[0]!r}, a time costs "
                          f"are not read in ({TIME_UNITS_SHOWN}); give the values in one of "
                          f"those under a header naming it ('s', 'latency (s)'), or drop the "
                          f"header if they are in {unit}")


def ms_per_unit(unit: str | None) -> float | None:
    """Milliseconds in one `unit` of a costs column (its header, any case): 1000 for seconds,
    1 for ms or no unit, 0.001 for microseconds, 1e-6 for ns; None for a unit naming no time
    (MFLOPs), or a time costs are not read in (minutes, hours: `check_cost_time_unit` refuses
    them as a cost unit, `check_header_times` as a header)."""
    return 1.0 if unit is None else TIME_UNITS_MS.get(unit.lower())


def unread_time_problem(unit: Any, read: str) -> str | None:
    """Where `unit` names minutes or hours (any case), in which neither costs nor latencies
    are read, the phrase saying so ("'min' names minutes (a minute is 60 s), a time `read` are
    not read in"); None for any other `unit`. Each caller adds what to give instead."""
    other = OTHER_TIME_WORDS.get(unit.lower()) if isinstance(unit, str) else None
    if other is None:
        return None
    return f"{unit!r} names {OTHER_TIME_NAMES[other]}, a time {read} are not read in"


def cost_time_unit_problem(unit: str) -> str | None:
    """What makes `unit`, a cost unit's name, unusable as a time (minutes, hours: no costs are
    read in them, and no header converts to them), or None."""
    problem = unread_time_problem(unit, "costs")
    if problem is None:
        return None
    return (f"{problem}; give the costs in {TIME_UNITS_SHOWN}, or in a unit that is no time, "
            "such as MFLOPs")


def check_cost_time_unit(unit: str, param: str = "unit") -> None:
    """`cost_time_unit_problem` as a one-line ConfigError naming `param`."""
    problem = cost_time_unit_problem(unit)
    if problem:
        raise ConfigError(f"{param}: {problem}")


def in_ms(value: float | None, unit: str) -> float | None:
    """`value` (a cost or budget in `unit`, a policy's `cost_unit`) in milliseconds; None
    where it is None or `unit` names no time (MFLOPs), which no ms compares with."""
    scale = ms_per_unit(unit)
    return None if value is None or scale is None else float(value) * scale


def scaled_costs(values: list[float], path: Path, from_unit: str | None, to_unit: str,
                 times: float = 1.0, per: float = 1.0) -> np.ndarray:
    """A costs file's `values` (in `from_unit`) converted to `to_unit` (value * `times` /
    `per`; as they are where the two are equal, the same unit: a round trip changed about one
    value in thirty in its last bit), validated: the file's own numbers first, then any
    converted ones, whose error says they were converted."""
    costs = validate_costs(values, str(path))
    if times == per:
        return costs
    return validate_costs(costs * times / per,
                          f"{path} (its values in {from_unit!r}, converted to {to_unit})")


def csv_costs(path: Path, unit: str = DEFAULT_COST_UNIT) -> np.ndarray:
    """A one-column CSV's costs in `unit`: its values, converted where its header names a time
    unit (s, ms, us, ns: alone or last, `header_time_unit`) and `unit` is one too (any other
    header is a column name: the values are in `unit` as they are, unless it mentions another
    time, `check_header_times`). A time header with a `unit` that is no time (MFLOPs) is a
    one-line ConfigError; so is a `unit` of minutes or hours (`check_cost_time_unit`)."""
    check_cost_time_unit(unit)
    values, header = read_cost_column(path, unit)
    named = header_time_unit(header)
    if named is None:
        if header is not None:
            check_header_times(header, unit, path)
        return scaled_costs(values, path, header, unit)
    header, header_ms = named, ms_per_unit(named)
    unit_ms = ms_per_unit(unit)
    if unit_ms is None:
        raise ConfigError(f"{path}: its header says the costs are in {header!r}, a time, but "
                          f"the cost unit is {unit!r}, which names no time; give the unit as one "
                          f"({TIME_UNITS_SHOWN}), or drop the header")
    return scaled_costs(values, path, header, unit, header_ms, unit_ms)


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
    check_cost_time_unit(unit)
    if name is None:
        return _load_costs(str(spec), "costs", unit)
    with naming(name):
        return _load_costs(str(spec), name, unit)


def _load_costs(text: str, label: str, unit: str = DEFAULT_COST_UNIT) -> np.ndarray:
    """`load_costs` of `text` in `unit`; errors not about a file name `label`."""
    path = Path(text)
    if path.suffix.lower() == ".json":
        return np.asarray(load_user_latency(path)["cumulative_ms"], dtype=np.float64)
    if path.suffix.lower() not in COST_FILE_SUFFIXES:
        values = _parse_comma_list(text) if text.replace(",", "").strip() else []
        if values is not None:
            return validate_costs(values, label)
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
    return csv_costs(path, unit)
