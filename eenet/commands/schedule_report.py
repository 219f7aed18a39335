"""`eenet schedule`'s report: the readable table of fitted policies and the notes under it.

One line per (method, budget) with columns as wide as their widest cell, EENet's margin over
the better heuristic, and the notes on policies that send everyone to the first exit unscored
or cost more than their budget on validation itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eenet.budget import DEFAULT_COST_UNIT, distinct_digits
from eenet.errors import counted
from eenet.rounding import FRACTION_DIGITS
from eenet.schedulers.base import FittedPolicy
from eenet.schedulers.eenet import FIRST_EXIT_UNSCORED
from eenet.summary import EENET, HEURISTICS, better_rival  # margins over the better heuristic

FRACTIONS_HEADER = "exit fractions (test)"  # the table's column of each exit's share
NOT_APPLICABLE = "-"  # a cell with no value: the oracle's validation cost and fit time


def cell(value: float | None, spec: str) -> str:
    """A number of the table formatted by `spec` ('.4g'), or NOT_APPLICABLE for None (the
    oracle, fitted on nothing, has no validation cost nor fit time)."""
    return NOT_APPLICABLE if value is None else format(value, spec)


def column_width(least: int, cells: list[str]) -> int:
    """A table column's width: `least` (its header's, say), or its widest cell's."""
    return max([least, *map(len, cells)])


def budget_label(row: dict[str, Any], digits: int) -> str:
    """A row's budget for the table: its value to `digits` significant digits, after the
    percentage it was given as where it was one (`budget_given` '50%': '50% (2.35)')."""
    value = f"{row['budget']:.{digits}g}"
    given = row.get("budget_given")
    return f"{given} ({value})" if isinstance(given, str) and given.endswith("%") else value


def format_table(rows: list[dict[str, Any]], unit: str = DEFAULT_COST_UNIT,
                 costs: Sequence[float] = ()) -> str:
    """A readable table, one line per (method, budget), costs in `unit`; each column as wide
    as its header or its widest cell, so the columns line up whatever the costs' size. A
    budget given as a percentage shows it beside its value (`budget_label`). Budgets print
    with the digits that tell them apart, and from each exit's cost in `costs`."""
    # the exit fractions column: as wide as its header or its widest cell (6 characters an
    # exit, a space between)
    width = max([len(FRACTIONS_HEADER), *(7 * len(r["exit_fractions"]) - 1 for r in rows)])
    # budgets that differ print so, and apart from the exit costs they differ from
    digits = distinct_digits([r["budget"] for r in rows], apart_from=costs)
    labels = {r["budget"]: budget_label(r, digits) for r in rows}
    budget = column_width(8, list(labels.values()))
    cost = column_width(max(8, len(f"test {unit}")),  # the two cost columns, alike
                        [cell(r[k], ".4g") for r in rows for k in ("test_cost", "val_cost")])
    fit = column_width(6, [cell(r["fit_seconds"], ".2f") for r in rows])  # 1000 s and more: 7
    header = (
        f"{'method':<10} {'budget':>{budget}} {'test acc %':>10} {'test ' + unit:>{cost}} "
        f"{'val ' + unit:>{cost}} "
        f"{'fit s':>{fit}}  {FRACTIONS_HEADER:<{width}} rule"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        name = r["method"] + ("*" if r.get("upper_bound") else "")
        fractions = " ".join(f"{f:.{FRACTION_DIGITS}f}" for f in r["exit_fractions"])
        lines.append(
            f"{name:<10} {labels[r['budget']]:>{budget}} {r['test_accuracy']:>10.2f} "
            f"{r['test_cost']:>{cost}.4g} {cell(r['val_cost'], '.4g'):>{cost}} "
            f"{cell(r['fit_seconds'], '.2f'):>{fit}}  {fractions:<{width}} {r['rule']}"
        )
    if any(r.get("upper_bound") for r in rows):
        lines.append("* oracle: upper bound that uses the labels; not a policy")
    margins = eenet_margins(rows)
    if margins:
        shown = ", ".join(f"{m:+.2f} at {labels[b]}" for b, m in margins)
        mean = sum(m for _, m in margins) / len(margins)
        ran = [h for h in HEURISTICS if any(r["method"] == h for r in rows)]
        rivals = "best of " + "/".join(ran) if len(ran) > 1 else ran[0]
        lines.append(f"eenet - {rivals} (test accuracy points): {shown}; mean {mean:+.2f}")
    return "\n".join(lines)


def eenet_margins(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(budget, EENet's test accuracy minus the better heuristic's, `better_rival`) at each
    budget where EENet and at least one of the heuristics ran; empty otherwise."""
    accuracy = {(r["method"], r["budget"]): r["test_accuracy"] for r in rows}
    margins = []
    for budget in dict.fromkeys(b for m, b in accuracy if m == EENET):
        rival = better_rival(accuracy, budget)
        if rival is not None:
            margins.append((budget, accuracy[(EENET, budget)] - accuracy[(rival, budget)]))
    return margins


def unscored_at_first_exit(fitted: dict[str, list[FittedPolicy | None]],
                           budgets: list[float]) -> list[tuple[str, float]]:
    """(method, budget) of every fitted policy that sends every sample to exit 0 unscored
    because each score it may use, its own scoring cost charged (`--set`), costs more than the
    budget to reach the first exit."""
    return [(method, budget) for method, policies in fitted.items()
            for budget, policy in zip(budgets, policies, strict=True)
            if getattr(policy, "plan_source", None) == FIRST_EXIT_UNSCORED]


def unscored_notes(pairs: list[tuple[str, float]], costs: np.ndarray,
                   unit: str = DEFAULT_COST_UNIT) -> list[str]:
    """One line per method of `unscored_at_first_exit`: where, and what it spends there."""
    notes = []
    for method in dict.fromkeys(m for m, _ in pairs):
        budgets = [b for m, b in pairs if m == method]
        notes.append(f"note: {method} at {', '.join(f'{b:g}' for b in budgets)}: with its own "
                     f"scoring cost charged (--set {method}.scorer_extra_ms / fixed_extra_ms) "
                     "every score it may use costs more than the budget at the first exit; it "
                     "sends every sample to exit 0 there unscored, at that exit's own cost "
                     f"({float(costs[0]):.4g} {unit}/sample)")
    return notes


def validation_overrun_note(rows: list[dict[str, Any]], n_val: int,
                            tolerance: float = 0.01) -> str | None:
    """A one-line note when fitted policies cost more than their budget on validation itself
    (by more than `tolerance`): a plan is realised in whole samples, so few validation samples
    round it coarsely. None when every policy meets its budget."""
    over = [r for r in rows if r.get("val_cost") is not None  # the oracle's: None
            and r["val_cost"] > r["budget"] * (1.0 + tolerance)]
    if not over:
        return None
    worst = max(over, key=lambda r: r["val_cost"] / r["budget"])
    excess = 100.0 * (worst["val_cost"] / worst["budget"] - 1.0)
    # the counted nouns with their verbs, agreeing with the count
    policies = counted(len(over), "fitted policy costs more than its",
                       "fitted policies cost more than their")
    samples = counted(n_val, "validation sample realises", "validation samples realise")
    by = "by" if len(over) == 1 else "up to"  # one policy's excess, or the largest of several
    return (f"note: {policies} budget on validation, {by} {excess:.1f} % "
            f"({worst['method']} at {worst['budget']:g}: {worst['val_cost']:.4g}): {samples} a "
            "planned exit distribution only in whole samples; more validation samples meet "
            "budgets closely")
