"""Reading costs from a one-column CSV (the authors' `seconds.csv`): UTF-8, one number per
line, an optional header on the first line, which may name the time unit of its values.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from eenet.budget import DEFAULT_COST_UNIT, number_from_text
from eenet.costs import validate_costs
from eenet.errors import ArtifactError, ConfigError
from eenet.time_units import (
    OTHER_TIME_WORDS,
    SHORT_TIME_UNITS,
    TIME_UNITS_MS,
    TIME_UNITS_SHOWN,
    check_cost_time_unit,
    ms_per_unit,
)


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
