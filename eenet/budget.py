"""Budgets: average milliseconds per sample on the profiled device.

A budget is either a number (ms/sample, the paper's unit) or a string "N%": N percent of the
way from the cheapest exit's cost (0%) to the full model's cost (100%). The relative form is
feasible on any machine, so it is the embedded default. A sweep is a list of such values, or
"auto": evenly spaced points over the measured feasible range.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from eenet.errors import ConfigError
from eenet.rounding import tidy

AUTO_SWEEP_POINTS = 12
# the costs contract's unit (latency tables are ms/sample); `eenet schedule --cost-unit` names
# another (MFLOPs, s): only cost ratios shape a policy
DEFAULT_COST_UNIT = "ms"
MAX_UNIT_LENGTH = 16


def number_from_text(text: str) -> float:
    """float(text) without Python's digit grouping: '1_0' is a typo, not 10 (ValueError)."""
    if "_" in text:
        raise ValueError(f"could not convert string to float: {text!r}")
    return float(text)


def distinct_digits(values: Sequence[float], least: int = 4,
                    apart_from: Sequence[float] = ()) -> int:
    """The fewest significant digits (at least `least`, at most 17) at which every two
    different `values` print differently with the `g` format, and each prints differently
    from every different number of `apart_from` (exit costs: a budget of 2.9999 under a last
    exit of 3 does not print as 3)."""
    distinct = sorted({float(v) for v in values})
    others = {float(v) for v in apart_from} - set(distinct)
    for digits in range(least, 17):
        shown = {f"{v:.{digits}g}" for v in distinct}
        if len(shown) == len(distinct) and not shown & {f"{v:.{digits}g}" for v in others}:
            return digits
    return 17


def has_unit(text: str) -> bool:
    """Whether `text` is a number with a unit after it ('2ms', '2 ms/sample', '1.5e-3 s')."""
    return re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*"
                        r"[^\W\d_]+(?:\s*/\s*[^\W\d_]+)?", text) is not None


def cost_unit_problem(unit: Any) -> str | None:
    """What makes `unit` unusable as a cost unit's name (a short word such as ms, s, MFLOPs),
    or None."""
    if not isinstance(unit, str) or not unit.strip():
        return f"must be a unit's name such as ms, s or MFLOPs, got {unit!r}"
    if len(unit) > MAX_UNIT_LENGTH or not unit.isprintable() or any(c.isspace() for c in unit):
        return (f"must be one word of at most {MAX_UNIT_LENGTH} printable characters (e.g. ms, "
                f"s, MFLOPs), got {unit!r}")
    if "%" in unit:  # its tables would read "test %" beside "test acc %", its budgets as shares
        return (f"must not hold '%' (a budget 'N%' is a share of the feasible range; the costs "
                f"need a unit such as ms, s or MFLOPs), got {unit!r}")
    return None


def feasible_range(costs: np.ndarray, percent: bool = False, unit: str = DEFAULT_COST_UNIT,
                   digits: int = 4) -> str:
    """'feasible range: <first exit's cost> to <full model's cost> ms/sample' (costs in `unit`,
    `digits` significant digits) for errors, and ', or 0% to 100%' where the relative form is
    accepted too."""
    low, high = float(costs[0]), float(costs[-1])
    text = f"feasible range: {low:.{digits}g} to {high:.{digits}g} {unit}/sample"
    return f"{text}, or 0% to 100%" if percent else text


def check_budget_ms(
    value: float, costs: np.ndarray, param: str = "budget", percent: bool = False,
    unit: str = DEFAULT_COST_UNIT, text: str | None = None,
) -> float:
    """`value` (ms/sample, or `unit`) if it is finite and not below the first exit's cost;
    otherwise a one-line ConfigError naming `param` and the feasible range. `text`: the value
    as written, which a value that is not finite is shown as (1e400 is read as inf)."""
    if not np.isfinite(value):
        raise ConfigError(f"{param}: {value if text is None else text} is not a finite number "
                          f"of {unit}/sample; "
                          f"{feasible_range(costs, percent, unit)}")
    if value < float(costs[0]) * (1 - 1e-9):
        digits = distinct_digits([value, float(costs[0])])  # not "1 is below ... 1 to 4.5"
        raise ConfigError(f"{param}: {value:.{digits}g} {unit}/sample is below the first exit's "
                          f"cost; {feasible_range(costs, percent, unit, digits)}")
    return value


def tidy_between(budget: float, lo: float, hi: float) -> float:
    """A budget computed between the first and the full model's cost (`lo`, `hi`) without
    its float-sum noise (`eenet.rounding.tidy`: 0.3992760000000001 -> 0.399276), kept within
    them; `lo` and `hi` themselves exactly (a cost is the budget of one exit for all)."""
    if not lo < budget < hi:
        return budget
    return min(max(tidy(budget), lo), hi)


def resolve_budget(
    spec: float | int | str, costs: np.ndarray, param: str = "budget", unit: str = DEFAULT_COST_UNIT
) -> float:
    """Budget in ms/sample (or the costs' `unit`); raise ConfigError if it is malformed or below
    the first exit's cost."""
    costs = np.asarray(costs, dtype=np.float64)
    lo, hi = float(costs[0]), float(costs[-1])
    if isinstance(spec, bool | np.bool_):
        raise ConfigError(f"{param}: expected {unit}/sample or 'N%', got {spec!r}")
    written = None  # the budget's text, for an error
    if isinstance(spec, str):
        text = written = spec.strip()
        if text.endswith("%"):
            try:
                fraction = number_from_text(text[:-1]) / 100.0
            except ValueError:
                raise ConfigError(f"{param}: {spec!r} is not a percentage like '50%'") from None
            if not 0.0 <= fraction <= 1.0:
                raise ConfigError(f"{param}: {spec!r} is outside 0%..100%; "
                                  f"{feasible_range(costs, True, unit)}")
            # 100% is the full model's cost itself (lo + (hi - lo) can miss it by a rounding)
            return hi if fraction == 1.0 else tidy_between(lo + fraction * (hi - lo), lo, hi)
        try:
            spec = number_from_text(text)
        except ValueError:
            # '2ms': a budget's unit is the costs', never written (and '1.5e-3 s' with ms is no
            # 1.5e-3, so the number is not offered)
            hint = ("" if not has_unit(text) else
                    f"; write a number without a unit: budgets are in the costs' unit, {unit}")
            raise ConfigError(f"{param}: expected {unit}/sample or 'N%', got {spec!r}{hint}"
                              ) from None
    return check_budget_ms(float(spec), costs, param, percent=True, unit=unit, text=written)


def shown_item(item: Any) -> str:
    """A budget as its list gave it, for an error: '30%' quoted, a number as Python writes it
    (2.0, 5; a numpy number as the plain one)."""
    return repr(item.item() if isinstance(item, np.generic) else item)


def same_budget(first: str, second: str, value: str) -> ConfigError:
    """The one-line error for two budgets of one list that are the same budget (`value`: it
    in ms/sample, or as both gave it), worded as `eenet schedule --budgets`' is."""
    return ConfigError(f"{first} and {second} are the same budget ({value}); give each budget "
                       "once")


def check_each_once(budgets: Sequence[float], param: str, items: Sequence[Any] | None = None,
                    unit: str = DEFAULT_COST_UNIT) -> None:
    """Each budget of a list once: the first two items that are the same budget (in `unit`,
    e.g. '50%' and 2.0 on costs 1 to 3) are a one-line ConfigError naming both as
    `param`[i] with the item as given (`items`, default the budgets): a sweep holds each
    budget once, and a repeat would otherwise be dropped without a word."""
    shown = budgets if items is None else items
    first: dict[float, int] = {}
    for j, value in enumerate(budgets):
        i = first.setdefault(float(value), j)
        if i != j:
            raise same_budget(f"{param}[{i}] ({shown_item(shown[i])})",
                              f"{param}[{j}] ({shown_item(shown[j])})",
                              f"{float(value):.6g} {unit}/sample")


def resolve_sweep_and_given(
    spec: str | Sequence[float | int | str], costs: np.ndarray, param: str = "budgets"
) -> tuple[list[float], list[float | int | str] | None]:
    """Sorted sweep budgets in ms ("auto" spans the feasible range), and each of them as the
    list gave it ('75%', 0.3); None for 'auto', which gives no budget. A list giving one
    budget twice (the same ms/sample: '30%' twice, or '50%' and 2.0 on costs 1 to 3) is a
    one-line ConfigError naming both items (`check_each_once`), as `eenet schedule --budgets`
    refuses it; 'auto' gives its points once (one exit: one point)."""
    costs = np.asarray(costs, dtype=np.float64)
    if isinstance(spec, str):
        if spec.strip().lower() != "auto":
            raise ConfigError(f"{param}: expected 'auto' or a list of budgets, got {spec!r}")
        # unique: one point when the costs leave no range (one exit)
        lo, hi = float(costs[0]), float(costs[-1])
        return sorted({tidy_between(float(b), lo, hi)
                       for b in np.linspace(lo, hi, AUTO_SWEEP_POINTS)}), None
    if not isinstance(spec, Sequence) or len(spec) == 0:
        raise ConfigError(f"{param}: expected 'auto' or a non-empty list of budgets, got {spec!r}")
    budgets = [resolve_budget(item, costs, f"{param}[{i}]") for i, item in enumerate(spec)]
    check_each_once(budgets, param, spec)
    order = sorted(range(len(budgets)), key=budgets.__getitem__)
    return [budgets[i] for i in order], [spec[i] for i in order]


def resolve_sweep(
    spec: str | Sequence[float | int | str], costs: np.ndarray, param: str = "budgets"
) -> list[float]:
    """Sorted sweep budgets in ms, each given once; "auto" spans the feasible range."""
    return resolve_sweep_and_given(spec, costs, param)[0]
