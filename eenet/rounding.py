"""Numbers as people read them: float-sum noise dropped from what the reports and tables show.

A mean, a median of two timings or a point between two costs picks up noise in its last
binary digits (0.3992760000000001, 0.19508899999999996). `tidy` drops it by keeping
`TIDY_DIGITS` significant digits: far below any measured or counted quantity's precision,
and idempotent, so a tidy budget written to one file and read from another still joins
exactly. Thresholds are never tidied (they sit on samples' scores). Exit fractions are shown
at `FRACTION_DIGITS` decimals (`shown_fraction`), alike wherever they are printed.
"""

from __future__ import annotations

import math
from typing import Any

TIDY_DIGITS = 12
FRACTION_DIGITS = 3  # decimals of an exit fraction as `eenet schedule` and `eenet predict` show it


def tidy(value: float, digits: int = TIDY_DIGITS) -> float:
    """`value` at `digits` significant digits (NaN and infinities as they are)."""
    value = float(value)
    return float(f"{value:.{digits}g}") if math.isfinite(value) else value


def tidy_up(value: float, digits: int = TIDY_DIGITS) -> float:
    """The least number of `digits` significant digits that is >= `value` (`tidy` rounds to
    the nearest, which may be below): a budget written tidily still affords what it stands
    for."""
    shown = tidy(value, digits)
    if shown >= value or not math.isfinite(value):
        return shown
    step = 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)  # one unit in the last digit
    return tidy(shown + step, digits)


def tidy_floats(obj: Any, digits: int = TIDY_DIGITS) -> Any:
    """`obj` (dicts, lists and tuples of numbers, as JSON writes them) with every float
    `tidy`; integers, booleans and text as they are."""
    if isinstance(obj, float):
        return tidy(obj, digits)
    if isinstance(obj, dict):
        return {key: tidy_floats(value, digits) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [tidy_floats(value, digits) for value in obj]
    return obj


def shown_fraction(value: float) -> float:
    """An exit fraction at `FRACTION_DIGITS` decimals, rounded as Python's `round` and format
    (`f"{value:.3f}"`) round it: from the float's exact value, so 0.7955 (stored a hair below)
    is 0.795 (np.round scales by 1000 first and gave 0.796)."""
    return round(float(value), FRACTION_DIGITS)
