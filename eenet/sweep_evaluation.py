"""Evaluate folders of fitted schedulers (`eenet.sweep`) and the oracle on a split, and write
the evaluate stage's reports: metrics.json at the headline budget, the method x budget sweep
CSV, one curve per method, the oracle's exact curve (its break points), the summary
(`eenet.summary`) and the per-exit table (`exits_table`). Usable without DVC."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eenet.atomic import atomic_paths
from eenet.costs import validate_costs
from eenet.errors import ArtifactError, first_line, naming
from eenet.evaluation import (
    ORACLE,
    ORACLE_RULE,
    evaluate_correct,
    oracle_curve,
    oracle_exits_of,
)
from eenet.jsonio import json_text
from eenet.latency_table import check_latency_classes, load_latency
from eenet.outputs import ExitOutputs, check_compatible, load_exit_outputs, percent_correct
from eenet.report_layout import budget_as_set, by_exit, method_order, per_exit
from eenet.rounding import tidy, tidy_up
from eenet.schedulers import load_policy
from eenet.schedulers.base import ScoreCache
from eenet.summary import summary_markdown
from eenet.sweep import (
    check_entry_policy,
    check_fitted_costs,
    headline_entries,
    read_index,
)
from eenet.unscored import unscored_costs, unscored_saving

# written exactly: the budget as fitted, and capped at the full model's cost (an exit's cost)
EXACT = ("budget_ms", "budget_capped_ms")


def _optional_float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _row(method: str, budget: float, result: Mapping[str, Any], full_cost_ms: float,
         **extra: Any) -> dict[str, Any]:
    """One sweep row: the budget exactly as fitted (rows join on it) and `budget_capped_ms`,
    the same capped at the full model's cost `full_cost_ms` (what a policy can spend there: the
    x `dvc plots` draws it at), every other number `tidy` (a mean cost of 0.19508899999999996
    ms is shown as 0.195089)."""
    row = {
        "method": method,
        "budget_ms": budget,
        "budget_capped_ms": min(budget, full_cost_ms),
        "test_accuracy": result["accuracy"],
        "test_cost_ms": result["cost_ms"],
    }
    row.update(extra)
    row.update({f"exit{k}_fraction": f for k, f in enumerate(result["exit_fractions"])})
    return {key: tidy(value) if key not in EXACT and isinstance(value, float) else value
            for key, value in row.items()}


def decide_checked(
    policy: Any, log_probs: np.ndarray, scheduler_dir: str | os.PathLike, entry: Mapping,
    cache: ScoreCache | None = None,
) -> np.ndarray:
    """`policy.decide`, with a policy that does not fit the outputs as a one-line ArtifactError
    naming its folder; `cache`: scores shared with the other policies deciding `log_probs`."""
    n_exits, _, n_classes = log_probs.shape
    with naming(str(Path(scheduler_dir) / entry["dir"])):
        policy.check_fits(n_exits, n_classes, "the outputs have")
        try:
            return policy.decide(log_probs, cache=cache)
        except (ValueError, KeyError, IndexError) as exc:
            raise ArtifactError(f"fitted scheduler does not fit outputs of {n_exits} exits x "
                                f"{n_classes} classes ({first_line(exc)})") from None


def _check_index_fits(folder: Path, index: Mapping[str, Any], test: ExitOutputs,
                      costs: np.ndarray) -> None:
    """A one-line ArtifactError where a schedulers folder was fitted with other costs or
    another class count than the test outputs and latency table have."""
    check_fitted_costs(folder, index, costs)
    if index.get("n_classes") not in (None, test.n_classes):
        raise ArtifactError(
            f"{folder}: schedulers were fitted on {index['n_classes']} classes, "
            f"test outputs have {test.n_classes}"
        )


@dataclass
class Evaluation:
    """`evaluate_folders`' results: `evaluate_all`'s two, each row's per-sample hits, the
    index's record of the trained model and each budget as given."""

    metrics: dict[str, Any]
    sweep: pd.DataFrame
    # per (method, budget_ms) of a sweep row (budget_ms exactly as there): whether each test
    # sample is answered correctly, as evaluated (bool [n_test])
    hits: dict[tuple[str, float], np.ndarray]
    model: dict[str, Any] | None  # the headline index's `model` (None: costs given as numbers)
    # per budget_ms of a row, the budget as the params gave it ('75%', 0.3): the headline's
    # `budget` and each sweep folder's `sweep_given` (none for 'auto' or an older index)
    given: dict[float, Any] = field(default_factory=dict)
    # the costs the oracle is bounded with: the latency table's, the last exit's lowered by
    # the folders' largest `unscored_saving_ms` (the plain model's cost where it was planned
    # so); `oracle_curve_table` takes them
    oracle_costs: np.ndarray | None = None


def evaluate_all(
    test: ExitOutputs,
    costs: np.ndarray,
    scheduler_dir: str | os.PathLike,
    sweep_dir: str | os.PathLike | None = None,
    source: str = "test outputs vs latency",
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Evaluate every fitted scheduler (and the oracle) on `test`.

    `scheduler_dir` holds the fits at the headline budget (and maybe the sweep's, as `eenet
    schedule --save` writes them); `sweep_dir`, when given, a folder of sweep fits alone (the
    pipeline's fit_schedulers). A method fitted at the same budget in both counts once, from
    `scheduler_dir`. Returns the headline metrics (at the headline budget: each method's rule,
    accuracy, costs and exit fractions, each exit's own, and the context: `budget_given`,
    `n_val`, `n_test`, `costs_profiled_at` from the index) and the method x budget sweep
    table (by method and budget; `method_order`: each method's place in the figures' legends,
    `eenet.report_layout.method_order`). `source` names test and costs in the error when
    their exit counts differ (checked first). `evaluate_folders` also keeps each row's
    per-sample hits.
    """
    evaluation = evaluate_folders(test, costs, scheduler_dir, sweep_dir, source)
    return evaluation.metrics, evaluation.sweep


def evaluate_folders(
    test: ExitOutputs,
    costs: np.ndarray,
    scheduler_dir: str | os.PathLike,
    sweep_dir: str | os.PathLike | None = None,
    source: str = "test outputs vs latency",
) -> Evaluation:
    """`evaluate_all`, each policy's exits decided once, keeping what each row's exits answered
    correctly (`Evaluation.hits`, for paired comparisons) and the index's model record. The
    test outputs' correctness is taken once, for every policy and the oracle (not the whole
    split's log-softmax again for each)."""
    costs = validate_costs(costs)
    check_compatible(test, costs, source)
    index = read_index(scheduler_dir)
    headline = float(index["headline_ms"])
    headline_entries(index, scheduler_dir)  # fails before any evaluation
    folders = [(Path(scheduler_dir), index)]
    if sweep_dir is not None:
        sweep_index = read_index(sweep_dir, headline=False)
        if not sweep_index.get("sweep_ms"):  # the headline folder given twice, say
            raise ArtifactError(f"{sweep_dir}: holds no sweep (its index lists no sweep_ms); "
                                "give the sweep's folder (fit_schedulers' output)")
        folders.append((Path(sweep_dir), sweep_index))
    for folder, folder_index in folders:
        _check_index_fits(folder, folder_index, test, costs)
    log_probs, correct = test.log_probs_and_correct()
    cache: ScoreCache = {}  # each fixed score (and EENet's features) once, not per budget
    samples, top = np.arange(test.n_samples), float(costs[-1])
    rows, seen, hits = [], set(), {}
    for folder, folder_index in folders:
        for entry in folder_index["entries"]:
            if (entry["method"], entry["budget_ms"]) in seen:
                continue
            seen.add((entry["method"], entry["budget_ms"]))
            policy = load_policy(folder / entry["dir"])
            exits = decide_checked(policy, log_probs, folder, entry, cache)
            check_entry_policy(policy, folder, folder_index, entry)
            try:
                own_costs = policy.cost_table(costs)
            except ValueError as exc:
                raise ArtifactError(f"{folder / entry['dir']}: {exc}") from None
            result = evaluate_correct(correct, exits, own_costs)  # checks the exits
            hits[(entry["method"], entry["budget_ms"])] = correct[np.asarray(exits), samples]
            rows.append(
                _row(
                    entry["method"], entry["budget_ms"], result, top,
                    val_cost_ms=policy.val_cost_ms, fit_seconds=policy.fit_seconds,
                    rule=policy.rule(),
                )
            )
    # the bound of every policy, the plain model run unscored below the last exit's cost too
    oracle_costs = unscored_costs(costs, max(unscored_saving(i) for _, i in folders))
    for budget in sorted({budget for _, budget in seen}):
        exits = oracle_exits_of(correct, oracle_costs, budget)
        result = evaluate_correct(correct, exits, oracle_costs)
        hits[(ORACLE, budget)] = correct[exits, samples]
        rows.append(_row(ORACLE, budget, result, top, rule=ORACLE_RULE))
    sweep = pd.DataFrame(rows)
    # exact, as in headline_entries (the headline folder's rows come first, so these are its)
    at_headline = sweep[sweep["budget_ms"] == headline]
    metrics = {
        # the headline budget as given (params.yaml's `budget`: '50%', 0.3): named apart from
        # that param, which `dvc exp show` shows beside it (`eenet schedule --json`'s name)
        "budget_given": index.get("budget"),
        "budget_ms": headline,
        # what the numbers rest on: the samples fitted on (null: an index from before it was
        # recorded) and evaluated on, and where the costs were profiled (the index's
        # `costs_profiled_at`: device, batch size, threads; null for an imported CSV table)
        "n_val": index.get("n_val"),
        "n_test": test.n_samples,
        "costs_profiled_at": index.get("costs_profiled_at") or None,
        "methods": {
            row["method"]: {
                "rule": row["rule"],  # sweep.csv's: score / plan (EENet's as chosen)
                "test_accuracy": round(float(row["test_accuracy"]), 4),
                "test_cost_ms": float(row["test_cost_ms"]),
                "val_cost_ms": _optional_float(row.get("val_cost_ms")),
                # keyed by exit, as every per-exit value here: dvc metrics / exp show drop
                # lists; exact, as sweep.csv (4 places cut 0.27675 to 0.2767)
                "exit_fractions": by_exit(
                    float(row[f"exit{k}_fraction"]) for k in range(test.n_exits)),
            }
            for row in at_headline.to_dict("records")
        },
        "exits": by_exit(
            {"accuracy": round(float(a), 4), "cost_ms": tidy(c)}
            for a, c in zip(percent_correct(correct, axis=1), costs, strict=True)
        ),
    }
    # each method's place in the legends (the PNG's order), for `dvc plots`' (by_method.json)
    sweep.insert(1, "method_order", sweep["method"].map(method_order(metrics["methods"],
                                                                     sweep["method"])))
    sweep = sweep.sort_values(["method", "budget_ms"]).reset_index(drop=True)
    return Evaluation(metrics, sweep, hits, index.get("model") or None, _as_given(folders),
                      oracle_costs)


def _as_given(folders: list[tuple[Path, Mapping[str, Any]]]) -> dict[float, Any]:
    """Each budget of the folders' indexes as given, where recorded: the sweeps'
    `sweep_given`, then the headline's `budget` (the first folder's), which wins."""
    given = {float(b): g for _, index in folders if index.get("sweep_given") is not None
             for b, g in zip(index["sweep_ms"], index["sweep_given"], strict=True)}
    headline = folders[0][1]
    if headline.get("budget") is not None:
        given[float(headline["headline_ms"])] = headline["budget"]
    return given


def oracle_curve_table(test: ExitOutputs, costs: np.ndarray,
                       oracle_costs: np.ndarray | None = None) -> pd.DataFrame:
    """The oracle's exact accuracy-vs-budget curve on `test` (`eenet.evaluation.oracle_curve`:
    its break points, from the first exit's cost to the last's), in sweep.csv's columns: drawn
    through these and the sweep's budgets, the oracle's line is the bound itself. The oracle is
    bounded with `oracle_costs` where given (`Evaluation.oracle_costs`: the plain model's lower
    last-exit cost), its curve still drawn on to the last exit's cost in `costs`. A point's
    budget is rounded up (`tidy_up`, at most the last exit's cost): rounded to the nearest it
    could fall below what the point's last move costs, and `oracle_exits` at the budget written
    answered a sample fewer than the row said."""
    top = float(costs[-1])
    # the first at the first exit's cost exactly: kept so
    points = oracle_curve(test, costs if oracle_costs is None else oracle_costs)
    if points[-1]["budget_ms"] < top:  # flat on to the last exit's cost, as oracle_curve's
        points.append({**points[-1], "budget_ms": top})
    return pd.DataFrame([_row(ORACLE, point["budget_ms"] if i == 0
                              else min(tidy_up(point["budget_ms"]), top), point, top,
                              rule=ORACLE_RULE)
                         for i, point in enumerate(points)])


def exits_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """metrics.json's per-exit values as a table, one row per exit: `exit` (0-based),
    `cost_ms` (the cumulative cost per sample of reaching it, from the latency table) and
    `test_accuracy` (%, the exit alone on test); the very numbers metrics.json's `exits`
    holds (`exits.exit<k>.cost_ms`, `.accuracy`), so the two files agree exactly."""
    exits = per_exit(metrics["exits"])
    if exits is None:
        raise ValueError("metrics' exits must be keyed exit0, exit1, ... (or a list)")
    return pd.DataFrame({"exit": range(len(exits)),
                         "cost_ms": [e["cost_ms"] for e in exits],
                         "test_accuracy": [e["accuracy"] for e in exits]})


def write_reports(metrics: Mapping[str, Any], sweep: pd.DataFrame, metrics_json: str | os.PathLike,
                  sweep_csv: str | os.PathLike,
                  oracle: pd.DataFrame | None = None,
                  oracle_csv: str | os.PathLike | None = None,
                  summary: str | None = None,
                  summary_md: str | os.PathLike | None = None,
                  exits_csv: str | os.PathLike | None = None) -> None:
    """`evaluate_all`'s results as the evaluate stage's outputs: metrics JSON, the sweep CSV
    (every method's rows), given both, the oracle's exact curve (`oracle_curve_table`) as
    `oracle_csv`, given both, the summary's text (`eenet.summary.summary_markdown`) as
    `summary_md` and, given `exits_csv`, the metrics' per-exit values (`exits_table`) there.
    All are written in full to temporary paths first and renamed into place together at the
    end (`eenet.atomic.atomic_paths`; exits, summary, oracle curve, sweep, metrics last): an
    interrupt leaves all the old ones or all the new ones, an error while writing the old
    ones, and a failed rename never leaves new metrics beside an old sweep."""
    if (oracle is None) != (oracle_csv is None):
        raise TypeError("write_reports: give both oracle and oracle_csv, or neither")
    if (summary is None) != (summary_md is None):
        raise TypeError("write_reports: give both summary and summary_md, or neither")
    exits = None if exits_csv is None else exits_table(metrics)  # before anything is written
    texts = {} if exits is None else {exits_csv: sweep_csv_text(exits)}
    if summary is not None:
        texts[summary_md] = summary
    if oracle is not None:
        texts[oracle_csv] = sweep_csv_text(oracle)
    texts[sweep_csv] = sweep_csv_text(sweep)
    texts[metrics_json] = json_text(metrics)  # renamed last
    with atomic_paths(list(texts)) as tmps:
        for tmp, text in zip(tmps, texts.values(), strict=True):
            tmp.write_text(text)


def sweep_csv_text(rows: pd.DataFrame) -> str:
    """`rows` as CSV text, each float in its shortest exact form (Python's repr): read back,
    a row's budget_ms equals metrics.json's and the sweep's own float (6 significant digits
    wrote 0.3515695 as 0.351569, which no exact join found); the measured and averaged
    numbers are already tidy (`_row`)."""
    return rows.to_csv(index=False)


def evaluate_artifacts(
    test_npz: str | os.PathLike, latency_json: str | os.PathLike,
    headline_dir: str | os.PathLike, sweep_dir: str | os.PathLike,
    metrics_json: str | os.PathLike, sweep_csv: str | os.PathLike,
    oracle_csv: str | os.PathLike, summary_md: str | os.PathLike,
    exits_csv: str | os.PathLike,
) -> Evaluation:
    """The evaluate stage's work: the test split's exit outputs (`test_npz`) and the latency
    table's costs, every policy of the headline and sweep folders and the oracle evaluated
    (`evaluate_folders`), and the five reports written together (`write_reports`): metrics,
    the sweep, the oracle's exact curve, summary.md (`eenet.summary.summary_markdown`) and
    the per-exit table. Returns the evaluation (`headline_lines` prints its headline)."""
    latency = load_latency(latency_json)
    costs = np.asarray(latency["cumulative_ms"])
    test = load_exit_outputs(test_npz)
    check_latency_classes(latency, str(latency_json), test.n_classes, str(test_npz))
    result = evaluate_folders(test, costs, headline_dir, sweep_dir,
                              source=f"{test_npz} vs {latency_json}")
    write_reports(result.metrics, result.sweep, metrics_json, sweep_csv,
                  oracle_curve_table(test, costs, result.oracle_costs), oracle_csv,
                  summary_markdown(result.metrics, result.sweep, result.hits, result.model,
                                   costs, result.given),
                  summary_md, exits_csv)
    return result


def headline_lines(result: Evaluation) -> list[str]:
    """One line per method at the headline budget: its test accuracy to 3 decimals and cost.

    The accuracy is the sweep's exact value, as summary.md gives it (metrics.json's, at 4
    decimals, rounded twice: 1902 of 2200, 86.4545 there, printed 86.454 beside summary.md's
    86.455); the budget as set where that was a share ('50% = 0.2691 ms')."""
    metrics = result.metrics
    budget = budget_as_set(metrics, f"{metrics['budget_ms']:.4g} ms")
    headline = result.sweep[result.sweep["budget_ms"] == metrics["budget_ms"]]
    accuracy = dict(zip(headline["method"], headline["test_accuracy"], strict=True))
    return [f"{method:>9}: {accuracy[method]:7.3f}% at {values['test_cost_ms']:#.4g} ms "
            f"(budget {budget})" for method, values in metrics["methods"].items()]
