"""Tuning check: EENet's margin over the better heuristic on the outputs a change is tuned on.

Never the held-out outputs of `benchmarks/schedulers.py`: the pipeline's own outputs (when
present; uncharged, as that benchmark fits them) and synthetic outputs of the four held-out
shapes drawn with other seeds (--seeds, default 201,202,203; a held-out case's seed is refused).
For each case it fits maxprob, entropy and EENet at --budgets budgets on validation and prints
EENet's margin over the better of the two heuristics on test and, for the synthetic cases, in
expectation over test draws (the same policies on a fresh draw of --expected samples). --save
keeps every budget's margins and EENet's rules (JSON); --compare prints how this run differs
from a saved one, case by case: the mean change of the margins, the worst and best budget, and
how many of EENet's rules changed. What the scheduler changes of docs/schedulers.md
(departure 5) were measured with. Prints figures; asserts nothing.

Usage: python benchmarks/tuning.py [--seeds 201,202,203] [--shapes 4] [--budgets 20]
    [--expected 100000] [--no-pipeline] [--save FILE] [--compare FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from schedulers import (  # the schedulers benchmark beside this script
    HELD_OUT,
    PIPELINE_OUTPUTS,
    expected_draw,
    inner_budgets,
    margins_on,
    pipeline_case,
    sweep_ends,
)

from eenet.atomic import write_text
from eenet.checks import check_integer
from eenet.cli import script_cli
from eenet.errors import ConfigError
from eenet.evaluation import evaluate_policies
from eenet.outputs import ExitOutputs
from eenet.schedulers import fit_log_probs
from eenet.synthetic import make_costs, make_split_pair

METHODS = ("maxprob", "entropy", "eenet")
HELD_OUT_SEEDS = {seed for *_, seed in HELD_OUT}


def parse_seeds(text: str) -> list[int]:
    """--seeds as integers >= 0, none of them a held-out case's (one-line ConfigError)."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds: expected a comma list of integers, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"--seeds: expected integers >= 0, got {text!r}")
    held = sorted(HELD_OUT_SEEDS.intersection(seeds))
    if held:
        raise ConfigError(f"--seeds: {held[0]} is a held-out case's seed in "
                          "benchmarks/schedulers.py; tune on others")
    return seeds


def margins(val: ExitOutputs, test: ExitOutputs, costs: np.ndarray, n_budgets: int,
            fresh: ExitOutputs | None) -> dict[str, Any]:
    """EENet's margin over the better heuristic at each budget strictly inside the feasible
    range, on test (and on `fresh`, in expectation), and EENet's rule at each."""
    budgets = inner_budgets(costs, n_budgets)
    val_lp = val.log_probs()
    policies = {m: [fit_log_probs(m, val_lp, val.labels, costs, b) for b in budgets]
                for m in METHODS}
    result: dict[str, Any] = {"rules": [p.rule() for p in policies["eenet"]]}
    for tag, split in (("test", test), ("expected", fresh)):
        if split is None:
            continue
        lp, correct = split.log_probs(), split.correct()
        evaluated = {m: evaluate_policies(ps, budgets, lp, correct, costs)
                     for m, ps in policies.items()}
        ends = sweep_ends(correct, costs)
        result[tag] = [margins_on(evaluated, i, ends)[0] for i in range(len(budgets))]
    return result


def case_line(name: str, result: dict[str, Any]) -> str:
    """One case's margins: mean and minimum on test (and in expectation)."""
    parts = [f"{name:<26}"]
    for tag in ("test", "expected"):
        if tag in result:
            values = np.array(result[tag])
            parts.append(f"{tag} {values.mean():+.3f} / {values.min():+.2f}")
    return "  ".join(parts)


def comparison_lines(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Per case of both runs (and budgets alike): this run's margins minus the saved run's."""
    lines = []
    for name, now in current.items():
        before = saved.get(name)
        if before is None:
            lines.append(f"{name:<26}  not in the saved run")
            continue
        if len(before["rules"]) != len(now["rules"]):
            lines.append(f"{name:<26}  another number of budgets in the saved run")
            continue
        parts = [f"{name:<26}"]
        for tag in ("test", "expected"):
            if tag in now and tag in before:
                change = np.array(now[tag]) - np.array(before[tag])
                parts.append(f"{tag} mean {change.mean():+.3f} (worst {change.min():+.2f}, "
                             f"best {change.max():+.2f})")
        changed = sum(a != b for a, b in zip(before["rules"], now["rules"], strict=True))
        parts.append(f"rules changed at {changed} of {len(now['rules'])}")
        lines.append("  ".join(parts))
    return lines


def read_saved(path: str) -> dict[str, Any]:
    """A file --save wrote (one-line ConfigError if missing or not one)."""
    try:
        saved = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"--compare: cannot read {path} ({exc.strerror})") from None
    except ValueError:
        raise ConfigError(f"--compare: {path} is not JSON written by --save") from None
    if not isinstance(saved, dict) or not all(
            isinstance(case, dict) and isinstance(case.get("rules"), list)
            for case in saved.values()):
        raise ConfigError(f"--compare: {path} is not a file written by --save")
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="201,202,203")
    parser.add_argument("--shapes", type=int, default=len(HELD_OUT),
                        help="the first N held-out shapes (3x10, 4x10, 3x100, 4x50)")
    parser.add_argument("--budgets", type=int, default=20, help="budgets per sweep")
    parser.add_argument("--expected", type=int, default=100_000,
                        help="test samples of each synthetic case's fresh draw")
    parser.add_argument("--no-pipeline", action="store_true",
                        help="leave out the pipeline's outputs")
    parser.add_argument("--save", metavar="FILE", help="write the margins and rules (JSON)")
    parser.add_argument("--compare", metavar="FILE", help="a run saved with --save")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    check_integer("--shapes", args.shapes, 1, len(HELD_OUT))
    check_integer("--budgets", args.budgets, 1)
    check_integer("--expected", args.expected, 1)
    saved = read_saved(args.compare) if args.compare else None

    results: dict[str, dict[str, Any]] = {}
    pipeline = None if args.no_pipeline else pipeline_case(*PIPELINE_OUTPUTS)
    if pipeline is not None:
        val, test, costs = pipeline
        results["pipeline"] = margins(val, test, costs, args.budgets, None)
        print(case_line("pipeline", results["pipeline"]), flush=True)
    elif not args.no_pipeline:
        print(f"skipping the pipeline's outputs: {', '.join(PIPELINE_OUTPUTS)} not all found")
    for n_exits, n_classes, n_val, _ in HELD_OUT[: args.shapes]:
        for seed in seeds:
            val, test = make_split_pair(n_exits, n_classes, n_val, 10_000, seed=seed)
            fresh = expected_draw(val, test, seed, args.expected)
            name = f"{n_exits}x{n_classes} {n_val} val, seed {seed}"
            results[name] = margins(val, test, make_costs(n_exits), args.budgets, fresh)
            print(case_line(name, results[name]), flush=True)
    if args.save:
        write_text(args.save, json.dumps(results, indent=1))  # whole or not at all
    if saved is not None:
        print(f"\nthis run minus {args.compare}:")
        print("\n".join(comparison_lines(saved, results)))


if __name__ == "__main__":
    script_cli(main)
