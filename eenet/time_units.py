"""Names of times that costs and budgets are given in, and the ms in one of each.

Costs are read in s, ms, us or ns; minutes and hours are names of times they are never read
in (refused, rather than read as ms); any other cost unit (MFLOPs) names no time.
"""

from __future__ import annotations

from typing import Any

from eenet.errors import ConfigError

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
