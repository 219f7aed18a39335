"""Report figures: accuracy against budget, and where samples leave."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from eenet.atomic import atomic_paths, write_with  # noqa: E402
from eenet.costs import is_real_number  # noqa: E402
from eenet.errors import ArtifactError  # noqa: E402
from eenet.jsonio import read_json_object  # noqa: E402
from eenet.report_layout import budget_as_set, exit_key, method_order, per_exit  # noqa: E402
from eenet.rounding import tidy  # noqa: E402

LABELS = {
    "eenet": "EENet",  # its rule may be a heuristic score with a validation-chosen plan
    "maxprob": "MSDNet (max prob)",
    "entropy": "BranchyNet (entropy)",
    "patience": "PABEE (patience)",
    "oracle": "Oracle (upper bound)",
}
# EENet is drawn wider, with bigger markers and beneath the others: where a baseline's curve
# coincides with it (as max-prob's does at and above the default headline), both stay visible
STYLES = {
    "eenet": {"color": "tab:red", "marker": "o", "lw": 2.6, "ms": 7, "zorder": 1.9},
    "maxprob": {"color": "tab:blue", "marker": "s"},
    "entropy": {"color": "tab:green", "marker": "^"},
    "patience": {"color": "tab:purple", "marker": "v"},
    # as plots/by_method.json draws it (a black line, plus-shaped markers): there dashes tell
    # the revisions of `dvc plots diff` apart, so no method has a dash of its own
    "oracle": {"color": "black", "marker": "P", "lw": 1.2},
}


# the sweep CSV's columns the figures read, numeric but for the method
SWEEP_COLUMNS = ("method", "budget_ms", "test_cost_ms", "test_accuracy")
FIX = "rerun the evaluate stage"


def _numbers(values: Any, count: int | None = None) -> bool:
    """Whether `values` is a list of real numbers (of length `count` when given)."""
    return (isinstance(values, list) and all(is_real_number(v) for v in values)
            and (count is None or len(values) == count))


def exits_of(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """metrics.json's exits in order, each {accuracy, cost_ms}: from its keyed form
    (`{"exit0": ..}`) or the list that reports held before."""
    return per_exit(metrics["exits"]) or []


def fractions_of(result: Mapping[str, Any]) -> list[Any]:
    """A method's `exit_fractions` in exit order, from either form (as `exits_of`)."""
    return per_exit(result.get("exit_fractions")) or []


def _metrics_problem(metrics: Mapping[str, Any]) -> str | None:
    """What in an evaluate stage's metrics the figures cannot draw, in words (None if fine).
    Per-exit values are keyed `exit0`, `exit1`, ... (a list, as written before, is read too)."""
    if not is_real_number(metrics["budget_ms"]):
        return f"budget_ms must be a number, got {metrics['budget_ms']!r}"
    exits = exits_of(metrics)
    if not (exits and all(isinstance(e, dict) and _numbers([e.get("accuracy"), e.get("cost_ms")])
                          for e in exits)):
        return "exits must map exit0, exit1, ... to {accuracy, cost_ms} numbers"
    methods = metrics["methods"]
    if not isinstance(methods, dict) or not methods:
        return "methods must map method names to their results"
    last = exit_key(len(exits) - 1)
    for name, result in methods.items():
        if not (isinstance(result, dict) and _numbers(fractions_of(result), len(exits))):
            return f"methods.{name}.exit_fractions must be one number per exit, exit0 to {last}"
    return None


def read_report(metrics_json: str | os.PathLike,
                sweep_csv: str | os.PathLike) -> tuple[dict[str, Any], pd.DataFrame]:
    """The evaluate stage's metrics and sweep, as the figures read them; anything they could
    not draw is a one-line ArtifactError naming the file."""
    metrics = read_json_object(metrics_json, "metrics report", FIX,
                               required=("budget_ms", "exits", "methods"))
    problem = _metrics_problem(metrics)
    if problem:
        raise ArtifactError(f"{metrics_json}: {problem} ({FIX})")
    return metrics, _read_rows(sweep_csv, "the sweep")


def read_oracle_curve(oracle_csv: str | os.PathLike) -> pd.DataFrame:
    """The evaluate stage's oracle curve (its break points, in the sweep's columns), as the
    accuracy figure reads it; anything it could not draw is a one-line ArtifactError."""
    return _read_rows(oracle_csv, "the oracle curve")


def _read_rows(csv_path: str | os.PathLike, what: str) -> pd.DataFrame:
    """A CSV of sweep rows (`SWEEP_COLUMNS`, numeric but the method), checked."""
    try:
        rows = pd.read_csv(csv_path)
    except (OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise ArtifactError(f"{csv_path}: not a readable CSV file ({detail}; {FIX})") from None
    missing = [c for c in SWEEP_COLUMNS if c not in rows.columns]
    bad = [c for c in SWEEP_COLUMNS[1:] if c in rows.columns
           and not pd.api.types.is_numeric_dtype(rows[c])]
    if missing or bad or rows.empty:
        problem = (f"missing column(s) {', '.join(missing)}" if missing else "no rows"
                   if rows.empty else f"column(s) {', '.join(bad)} not all numbers")
        raise ArtifactError(f"{csv_path}: {problem}; {what} needs {', '.join(SWEEP_COLUMNS)} "
                            f"({FIX})")
    line = _unfinished_line(rows)
    if line is not None:
        raise ArtifactError(f"{csv_path}: line {line} holds an empty, NaN or infinite value; "
                            f"{what} needs {', '.join(SWEEP_COLUMNS)} in every row ({FIX})")
    return rows


def _unfinished_line(rows: pd.DataFrame) -> int | None:
    """The file's line (the header is line 1) of the first row whose method is empty or whose
    drawn numbers are empty, NaN or infinite, else None: a truncated or hand-edited CSV, whose
    row was drawn as a gap without a word."""
    numbers = rows[list(SWEEP_COLUMNS[1:])].to_numpy(dtype=np.float64)
    broken = rows["method"].isna().to_numpy() | ~np.isfinite(numbers).all(axis=1)
    return int(np.flatnonzero(broken)[0]) + 2 if broken.any() else None


# no creation date in the PDF (matplotlib writes the time of saving): the same figure gives
# the same bytes on every run, as DVC's hash of the output expects
PDF_METADATA = {"CreationDate": None}


def _save(fig: plt.Figure, path: str | os.PathLike,
          pdf_path: str | os.PathLike | None = None) -> None:
    """`fig` as a PNG at `path` and, given `pdf_path`, as a PDF there (vector; byte for byte
    the same each time the same figure is saved), each written atomically."""
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight"))
    if pdf_path is not None:
        write_with(pdf_path, lambda tmp: fig.savefig(tmp, format="pdf", bbox_inches="tight",
                                                     metadata=PDF_METADATA))
    plt.close(fig)


def _budget_text(metrics: Mapping[str, Any], unit: str = "ms / sample") -> str:
    """The headline budget as '0.274 ms / sample', with its spec when that was a percentage
    ('50% = 0.274 ms / sample')."""
    return budget_as_set(metrics, f"{metrics['budget_ms']:.3g} {unit}")


def _mark_headline(ax: Any, metrics: Mapping[str, Any], full_cost_ms: float) -> None:
    """A dotted line at the headline budget, labelled upright along it in the empty lower
    middle (the legend holds the lower right, the oracle's bound the top). A budget above the
    full model's cost (50 ms for a model of 1 ms: a forgotten '%') is said in the legend
    instead: a line there stretched the x-axis to it and squashed every curve to its left (and
    a note in the top corner sat on the oracle's bound). The label gives the budget as it was
    set where that was a percentage ('headline budget 50% = 0.266 ms'), as the exit figure's
    title does. The two are compared at the precision metrics.json records an exit's cost in
    (`tidy`): a 100% budget is the exact cost, 0.30000000000000004 for costs summed in floats,
    which is above that cost written as 0.3, but is no budget above the full model's."""
    budget_ms, text = float(metrics["budget_ms"]), _budget_text(metrics, "ms")
    if tidy(budget_ms) > tidy(full_cost_ms):  # as fit_headline's note (100% is the cost itself)
        ax.plot([], [], ls="none", label=f"headline budget {text}: above the\n"
                f"full model's cost, no early exit")
        return
    ax.axvline(budget_ms, color="gray", ls=":", lw=1)
    low, high = ax.get_ylim()
    ax.annotate(f"headline budget {text}", (budget_ms, low + 0.3 * (high - low)),
                fontsize=8, rotation=90, textcoords="offset points", xytext=(3, 0),
                color="gray")


def _with_break_points(x: np.ndarray, y: np.ndarray, curve: pd.DataFrame | None,
                       low: float, high: float) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The oracle's sweep points (x sorted) joined by its curve's break points within
    [low, high] (the plotted budgets), in budget order; and the indices of the sweep's points
    among them (the markers). A break point at a sweep budget counts once, as the sweep's."""
    if curve is None:
        return x, y, list(range(len(x)))
    bx, by = curve["budget_ms"].to_numpy(float), curve["test_accuracy"].to_numpy(float)
    keep = (bx >= low) & (bx <= high) & ~np.isin(bx, x)
    points = sorted([(b, a, True) for b, a in zip(x, y, strict=True)]
                    + [(b, a, False) for b, a in zip(bx[keep], by[keep], strict=True)],
                    key=lambda p: p[0])
    return (np.array([p[0] for p in points]), np.array([p[1] for p in points]),
            [i for i, p in enumerate(points) if p[2]])


def plot_accuracy_vs_budget(
    sweep: pd.DataFrame, metrics: Mapping[str, Any], path: str | os.PathLike,
    oracle_curve: pd.DataFrame | None = None, pdf_path: str | os.PathLike | None = None,
) -> Path:
    """Test accuracy against the budget (ms/sample) per method, the oracle's upper bound and
    the single exits, as the `dvc plots` view `accuracy_vs_budget` draws it (its companion
    `accuracy_vs_realised_cost` has the realised test cost on x).

    `oracle_curve` (the evaluate stage's oracle_curve.csv: `read_oracle_curve`) gives the
    oracle's break points: its line then runs through those within the plotted budgets too,
    and is the bound itself (its markers stay at the sweep's budgets); without them it joins
    the sweep's points, cutting the bound's corners. Exit k alone is a policy any budget from
    its cost up affords: its star is at budget = its cost. A budget above the full model's
    cost (the last exit's: no early exit is needed) is drawn there: at 5 ms for a 0.6 ms
    model, it stretched the x-axis and squashed every curve to its left.

    Written as a PNG at `path` and, given `pdf_path`, the same figure as a PDF (for papers;
    no creation date in it, so a rerun writes the same bytes)."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    # in metrics.json's order (schedulers.methods, then the oracle), as the exit figure and
    # `dvc plots` (sweep.csv's method_order) list them
    order = method_order(metrics.get("methods", {}), sweep["method"])
    groups = sorted(sweep.groupby("method", sort=False), key=lambda g: order[g[0]])
    exits = exits_of(metrics)
    full_cost = float(exits[-1]["cost_ms"])
    budgets = np.minimum(sweep["budget_ms"].to_numpy(float), full_cost)
    for method, rows in groups:
        rows = rows.sort_values(["budget_ms", "test_accuracy"])
        style = {"marker": "o", "ms": 4, **STYLES.get(method, {})}
        x = np.minimum(rows["budget_ms"].to_numpy(float), full_cost)
        y = rows["test_accuracy"].to_numpy(float)
        marked = list(range(len(x)))
        if method == "oracle":  # eenet.evaluation.ORACLE (it imports the schedulers)
            x, y, marked = _with_break_points(x, y, oracle_curve, budgets.min(), budgets.max())
        ax.plot(x, y, label=LABELS.get(method, method), markevery=marked, **style)
    ax.scatter(
        [e["cost_ms"] for e in exits], [e["accuracy"] for e in exits],
        marker="*", s=160, color="goldenrod", edgecolor="black", zorder=5,
        label="single exit k (at budget = its cost)",
    )
    for k, e in enumerate(exits):
        ax.annotate(f"exit {k}", (e["cost_ms"], e["accuracy"]), textcoords="offset points",
                    xytext=(6, -12), fontsize=8)
    _mark_headline(ax, metrics, full_cost)
    ax.set_xlabel("budget (ms / sample)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Test accuracy vs budget (ms / sample) over the budget sweep")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path, pdf_path)
    return Path(path)


def plot_exit_distribution(metrics: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Stacked bars: fraction of test samples leaving at each exit, per method, at the headline."""
    methods = metrics["methods"]
    names = list(methods)
    n_exits = len(exits_of(metrics))
    fig, ax = plt.subplots(figsize=(7.5, 4))
    bottoms = [0.0] * len(names)
    cmap = plt.get_cmap("viridis", n_exits)
    for k in range(n_exits):
        values = [fractions_of(methods[m])[k] for m in names]
        ax.bar([LABELS.get(m, m) for m in names], values, bottom=bottoms, color=cmap(k),
               label=f"exit {k}")
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    ax.set_ylabel("fraction of test samples")
    ax.set_title(f"Where test samples leave at the headline budget ({_budget_text(metrics)})")
    ax.tick_params(axis="x", labelsize=8, rotation=15)
    ax.set_ylim(0.0, 1.0)
    # outside the axes: inside, it covered the top of the first method's bars
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], fontsize=8,  # top to bottom, as the stack
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    return Path(path)


def plot_reports(metrics: Mapping[str, Any], sweep: pd.DataFrame,
                 oracle_curve: pd.DataFrame | None, accuracy_png: str | os.PathLike,
                 accuracy_pdf: str | os.PathLike, exits_png: str | os.PathLike) -> None:
    """The stage plot's figures as one unit (`eenet.atomic.atomic_paths`): accuracy vs budget
    (PNG and PDF) and the exit distribution, each drawn to a temporary file, then all renamed
    into place together; an interrupt leaves all three old figures or all three new ones."""
    with atomic_paths([accuracy_png, accuracy_pdf, exits_png]) as (png, pdf, exits):
        plot_accuracy_vs_budget(sweep, metrics, png, oracle_curve, pdf)
        plot_exit_distribution(metrics, exits)
