"""One-line checks of a single setting's value (an integer or number in range, a seed) and the
limits they enforce: shared by params.yaml's schema (`eenet.config`), the command-line flags
and settings passed in code. Each failure is one ConfigError naming the setting."""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

from eenet.errors import ConfigError

# Most torch CPU threads a setting may ask for: more than the logical CPUs of any common
# machine (and more threads than CPUs only contend, see `eenet.devices.thread_count_note`),
# while far more crash inside torch (here 10**5 threads were a segmentation fault, 10**9 asked
# libgomp for 216 GB, and past 2**31 torch cannot take the count).
THREADS_MAX = 1024
# Most DataLoader worker processes: likewise more than the CPUs of any common machine (torch
# warns past the CPU count); 10**9 forked until the system's process limit, then hung.
WORKERS_MAX = 1024
# Most rounds of a timing count (warm-up, repeats, measure rounds): a million rounds take
# minutes per exit even at 0.1 ms and their median settled long before; the times are kept in
# one array, which numpy could not make for 10**10 repeats (224 GiB) or past 2**63.
TIMING_MAX = 10**6
# Largest allowed value of counting settings, by their name in any group: the highs of
# `check_minimums` for settings passed in code, and (as `MAXIMUMS`) of params.yaml's paths.
COUNT_MAXIMUMS: dict[str, int] = {"threads": THREADS_MAX, "num_workers": WORKERS_MAX,
                                  "warmup": TIMING_MAX, "repeats": TIMING_MAX,
                                  "rounds": TIMING_MAX}
SEED_MAX = 2**32 - 1  # numpy's legacy seeding (np.random.seed) takes no more


def check_seed(param: str, value: Any) -> None:
    """A random seed: an integer (not a bool) from 0 to SEED_MAX, else a one-line ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{param}: must be an integer from 0 to {SEED_MAX}, got {value!r}")


def check_minimums(
    group: str,
    values: Mapping[str, tuple[Any, int]],
    highs: Mapping[str, int] | None = None,
) -> None:
    """Each `name: (value, low)` must be an integer (not a bool) >= low (and <= `highs[name]`
    where given), else a one-line ConfigError naming `group.name` (for settings passed in
    code, not only from YAML)."""
    for name, (value, low) in values.items():
        check_integer(f"{group}.{name}", value, low, (highs or {}).get(name))


def check_integer(
    param: str, value: Any, low: int, high: int | None = None, *, nullable: bool = False
) -> None:
    """`value` must be an integer (not a bool) >= `low` (and <= `high` unless None), or None
    where `nullable`; else a one-line ConfigError naming `param` and the allowed range."""
    if nullable and value is None:
        return
    valid = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if valid and (high is None or value <= high):
        return
    allowed = f">= {low}" if high is None else f"from {low} to {high}"
    null = " or null" if nullable else ""
    raise ConfigError(f"{param}: must be an integer {allowed}{null}, got {value!r}")


def check_number(
    param: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_ok: bool = True,
    high_ok: bool = True,
) -> None:
    """`value` must be a finite number (not a bool) from `low` to `high`, each bound allowed
    itself unless `low_ok` / `high_ok` is False; else a one-line ConfigError naming `param`."""
    number = value if isinstance(value, Real) and not isinstance(value, bool) else math.nan
    above = number >= low if low_ok else number > low
    below = number <= high if high_ok else number < high
    if math.isfinite(number) and above and below:
        return
    bounds = [f"{'>=' if low_ok else '>'} {low:g}"] if math.isfinite(low) else []
    bounds += [f"{'<=' if high_ok else '<'} {high:g}"] if math.isfinite(high) else []
    allowed = " ".join(["a finite number", " and ".join(bounds)]).strip()
    raise ConfigError(f"{param}: must be {allowed}, got {value!r}")
