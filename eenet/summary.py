"""The evaluate stage's summary.md: each method's test accuracy at each sweep budget, the
oracle as an upper bound, and EENet's margin over the better of max p and entropy with a paired
sign-test z on the test samples, so that a reader can judge which margins are noise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from eenet.budget import distinct_digits
from eenet.evaluation import ORACLE
from eenet.report_layout import as_set, budget_as_set
from eenet.significance import paired_z

if TYPE_CHECKING:  # pandas only names the sweep's type: `eenet schedule`'s table needs none
    import pandas as pd

EENET = "eenet"
HEURISTICS = ("maxprob", "entropy")  # EENet's margin is over the better of these at a budget
Z_NOTE = ("z: paired sign test of EENet against the method its margin is over, on the same "
          "test samples: (wins - losses) / sqrt(wins + losses), a win a sample only EENet "
          "answers correctly, a loss one only the other does; |z| < 2 is within one test "
          "draw's noise.")


def summary_markdown(metrics: Mapping[str, Any], sweep: pd.DataFrame,
                     hits: Mapping[tuple[str, float], np.ndarray],
                     model: Mapping[str, Any] | None = None,
                     costs: Sequence[float] | None = None,
                     given: Mapping[float, Any] | None = None) -> str:
    """summary.md's text from `evaluate_folders`' results: `metrics` (metrics.json's: the
    context and the exits' costs), `sweep` (sweep.csv's rows), `hits` (per (method,
    budget_ms) of a row: each test sample answered correctly), the index's `model` record
    (None: left out) and the exact `costs` the budgets were resolved against (None:
    metrics.json's, rounded to 12 digits, which put a first exit's budget at -0.0 % of the
    range where rounding raised its cost) and `given`, the sweep's budgets as the params gave
    them (`Evaluation.given`): a row whose budget was set as a percentage shows it, '75% =
    0.373', as the headline's row does (metrics.json's `budget_given`). Accuracies and margins
    at 3 decimals: a test split of 4,000 steps by 0.025 points, and at 2 decimals 98.175
    showed as 98.17 beside 97.600 and a margin of +0.58."""
    methods = _methods(metrics, sweep)
    rivals = [m for m in HEURISTICS if m in methods]
    compare = EENET in methods and bool(rivals)
    header = ["budget (ms)", "% of exit range",
              *(f"{m} (upper bound)" if m == ORACLE else m for m in methods)]
    if compare:
        header += [f"eenet - better of {' / '.join(rivals)}", "z"]
    accuracy = {(r["method"], r["budget_ms"]): float(r["test_accuracy"])
                for r in sweep.to_dict("records")}
    budgets = sorted({float(b) for b in sweep["budget_ms"]})
    costs = ([float(c) for c in costs] if costs is not None
             else [float(e["cost_ms"]) for e in metrics["exits"].values()])
    digits = distinct_digits(budgets, apart_from=costs)
    lines = ["# Test accuracy (%) by budget", "", _context(metrics, model, costs), "",
             "| " + " | ".join(header) + " |",
             "|---|" + "---:|" * (len(header) - 1)]
    given = given or {}
    for budget in budgets:
        label = f"{budget:.{digits}g}"
        if budget == metrics["budget_ms"]:
            label = f"**{budget_as_set(metrics, label)}** (headline)"
        else:
            label = as_set(given.get(budget), label)
        cells = [label, _range_share(budget, costs),
                 *(_number(accuracy.get((m, budget)), ".3f") for m in methods)]
        if compare:
            cells += _margin(accuracy, hits, budget)
        lines.append("| " + " | ".join(cells) + " |")
    if compare:
        lines += ["", Z_NOTE]
    return "\n".join(lines) + "\n"


def _range_share(budget: float, costs: list[float]) -> str:
    """Where `budget` lies between the first exit's cost (0) and the last's (100), as text;
    'above 100 (no early exit)' past the last (a headline of 5 ms for a 0.4 ms model showed
    1889.6); '-' for a model of one exit."""
    span = costs[-1] - costs[0]
    if not span:
        return _number(None, ".1f")
    if budget > costs[-1]:  # as fit_headline's note: 100% is the cost itself
        return "above 100 (no early exit)"
    return _number(100.0 * (budget - costs[0]) / span, ".1f")


def _methods(metrics: Mapping[str, Any], sweep: pd.DataFrame) -> list[str]:
    """The methods in metrics.json's order (schedulers.methods), then any other of the
    sweep's, the oracle last."""
    ordered = list(dict.fromkeys([*metrics["methods"], *sweep["method"]]))
    return [m for m in ordered if m != ORACLE] + [m for m in ordered if m == ORACLE]


def _context(metrics: Mapping[str, Any], model: Mapping[str, Any] | None,
             costs: list[float]) -> str:
    """One line: the model (where recorded), the sample counts, where the costs were
    profiled, the exits' costs and the headline budget."""
    parts = []
    if model:
        parts.append(f"Model {model.get('name')} ({model.get('num_classes')} classes)")
    n_val = metrics.get("n_val")
    parts.append(f"fitted on n_val = {'unknown' if n_val is None else n_val}, "
                 f"evaluated on n_test = {metrics['n_test']} test samples")
    at = metrics.get("costs_profiled_at")
    parts.append("costs not profiled here (an imported or given table)" if not at else
                 f"costs profiled on {at.get('device')} (batch size {at.get('batch_size')}, "
                 f"threads {at.get('threads')})")
    exits = " / ".join(f"{c:.4g}" for c in costs)
    headline = budget_as_set(metrics, f"{metrics['budget_ms']:.4g} ms")
    parts.append(f"exits at {exits} ms / sample; headline budget {headline}")
    return "; ".join(parts) + ". % of exit range: 0 = the first exit's cost, 100 = the last's."


def better_rival(accuracy: Mapping[tuple[str, float], float], budget: float) -> str | None:
    """The more accurate on test of the HEURISTICS that ran at `budget` (ties: the first, max
    p): the method EENet's margin there is over; None where EENet or every heuristic did not
    run there. Chosen on the test split, as the reports compare: EENet against the better
    heuristic in hindsight, a bar no rule chosen on validation can clear by luck."""
    ran = [m for m in HEURISTICS if (m, budget) in accuracy]
    if (EENET, budget) not in accuracy or not ran:
        return None
    return max(ran, key=lambda m: accuracy[(m, budget)])


def _margin(accuracy: Mapping[tuple[str, float], float],
            hits: Mapping[tuple[str, float], np.ndarray], budget: float) -> list[str]:
    """EENet's margin over `better_rival` at `budget` (named), and the paired z of its hits
    over that one's; dashes where either did not run there."""
    rival = better_rival(accuracy, budget)
    if rival is None:
        return ["-", "-"]
    margin = accuracy[(EENET, budget)] - accuracy[(rival, budget)]
    z = paired_z(hits[(EENET, budget)], hits[(rival, budget)])
    return [f"{margin:+.3f} (vs {rival})", f"{z:+.1f}"]


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else f"{value:{spec}}"
