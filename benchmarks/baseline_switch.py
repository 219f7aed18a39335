"""Study: how sure must validation be before EENet's baseline leaves max p for entropy?

EENet's baseline is max p with the geometric plan, replaced by entropy only when entropy
answers significantly more validation samples correctly (paired sign test z >= `switch_z`).
On random synthetic configurations (3 or 4 exits, 10 to 100 classes, 3,000 to 10,000
validation samples; seeds drawn from --seed, none of the held-out cases of
`benchmarks/schedulers.py`) this fits both heuristics at 20 budgets on validation and scores
them on a fresh draw of --expected test samples (their accuracy in expectation), then prints,
for each bar, how far the baseline it picks falls below the better of the two: mean, minimum
and the share of budgets where it is more than 0.05 points below. Prints figures; asserts
nothing.

Usage: python benchmarks/baseline_switch.py [--cases 10] [--seed 0] [--expected 100000]
    [--budgets 20]
"""

from __future__ import annotations

import argparse

import numpy as np
from schedulers import hits_on, inner_budgets  # the schedulers benchmark beside this script

from eenet.checks import check_integer
from eenet.cli import script_cli
from eenet.outputs import ExitOutputs, percent_correct
from eenet.schedulers import fit_log_probs
from eenet.significance import paired_z
from eenet.summary import HEURISTICS
from eenet.synthetic import make_costs, make_split_pair

BARS = {"z >= 2 (default)": 2.0, "z >= 1": 1.0, "z >= 0.5": 0.5, "any gain": 0.0,
        "always max p": np.inf}


def shortfalls(val: ExitOutputs, fresh: ExitOutputs, costs: np.ndarray,
               n_budgets: int) -> dict[str, list[float]]:
    """Per bar, the picked baseline's expected accuracy minus the better heuristic's, at each
    budget strictly inside the feasible range."""
    val_lp, val_ok = val.log_probs(), val.correct()
    fresh_lp, fresh_ok = fresh.log_probs(), fresh.correct()
    out: dict[str, list[float]] = {bar: [] for bar in BARS}
    for budget in inner_budgets(costs, n_budgets):
        val_hits, expected = {}, {}
        for method in HEURISTICS:
            policy = fit_log_probs(method, val_lp, val.labels, costs, float(budget))
            val_hits[method] = hits_on(policy, val_lp, val_ok)
            expected[method] = float(percent_correct(hits_on(policy, fresh_lp, fresh_ok)))
        z = paired_z(val_hits["entropy"], val_hits["maxprob"])
        best = max(expected.values())
        for bar, threshold in BARS.items():
            pick = "entropy" if z >= threshold and z > 0 else "maxprob"
            out[bar].append(expected[pick] - best)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--expected", type=int, default=100_000, metavar="N")
    parser.add_argument("--budgets", type=int, default=20)
    args = parser.parse_args()
    for name in ("cases", "expected", "budgets"):
        check_integer(f"--{name}", getattr(args, name), 1)
    rng = np.random.default_rng(args.seed)
    totals: dict[str, list[float]] = {bar: [] for bar in BARS}
    for _ in range(args.cases):
        n_exits, n_classes = int(rng.choice([3, 4])), int(rng.choice([10, 50, 100]))
        n_val, seed = int(rng.choice([3000, 5000, 10000])), int(rng.integers(1000, 10**6))
        val, fresh = make_split_pair(n_exits, n_classes, n_val, args.expected, seed=seed)
        case = shortfalls(val, fresh, make_costs(n_exits), args.budgets)
        print(f"{n_exits} exits x {n_classes} classes, {n_val} val (seed {seed}): min "
              + ", ".join(f"{bar} {min(v):+.2f}" for bar, v in case.items()), flush=True)
        for bar, values in case.items():
            totals[bar] += values
    print(f"\nbaseline's expected accuracy minus the better of max p / entropy, "
          f"{len(totals['any gain'])} budgets:")
    for bar, values in totals.items():
        v = np.asarray(values)
        print(f"  {bar:<18} mean {v.mean():+.3f}  min {v.min():+.2f}  more than 0.05 below at "
              f"{100.0 * np.mean(v < -0.05):.1f} % of budgets")


if __name__ == "__main__":
    script_cli(main)
