"""EENet's plan refinement: each tried plan counted by thresholds_from_plan + first_exit (the
reference) vs `HitCounter` (each exit's scores sorted once). Prints seconds and ratios.

On synthetic validation outputs (`eenet.synthetic.make_split_pair`, `--samples` samples, 10
classes) with 4 and 12 exits: max p's scores, the geometric plan at the middle of the cost
range refined at constant cost (`eenet.schedulers.plans.refine_plan`, its default steps) once
with each count, in one process, best of `--repeats`. Both searches must reach the same plan
and count (asserted; `tests/test_schedulers.py` checks the two counts equal plan by plan),
so the ratio is the refinement's speed-up alone. An EENet fit refines from three or more
starts per budget.

Usage (repository root):
    python benchmarks/plan_refinement.py [--samples 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from eenet.checks import check_integer
from eenet.cli import script_cli
from eenet.schedulers.hit_counter import HitCounter
from eenet.schedulers.plans import geometric_plan, refine_plan
from eenet.schedulers.scores import max_log_prob
from eenet.synthetic import make_costs, make_split_pair


def timed_search(count: Callable[[np.ndarray], int], start: np.ndarray, costs: np.ndarray,
                 repeats: int) -> tuple[float, np.ndarray, float, int]:
    """Best seconds of `repeats` refinements from `start`, the plan and count reached, and
    how many plans one refinement counted."""
    calls = 0

    def counted(plan: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        return float(count(plan))

    best = np.inf
    for _ in range(repeats):
        calls = 0
        begin = time.perf_counter()
        plan, value = refine_plan(start, costs, counted, min_gain=2.0)
        best = min(best, time.perf_counter() - begin)
    return best, plan, value, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    check_integer("--samples", args.samples, 1)
    check_integer("--repeats", args.repeats, 1)
    print(f"{args.samples} validation samples, 10 classes, max p scores; best of {args.repeats}")
    print(f"{'exits':>5} {'plans':>6} {'reference':>11} {'HitCounter':>11} {'ratio':>7}")
    for n_exits in (4, 12):
        val, _ = make_split_pair(n_exits, 10, args.samples, 1, seed=0)
        log_probs = val.log_probs()
        scores = max_log_prob(log_probs)
        correct = log_probs.argmax(axis=-1) == val.labels[None, :]
        costs = make_costs(n_exits)
        start = geometric_plan(costs, 0.5 * (costs[0] + costs[-1]))
        counter = HitCounter(scores, correct)
        slow, plan_ref, value_ref, calls = timed_search(counter.reference, start, costs,
                                                        args.repeats)
        fast, plan_fast, value_fast, _ = timed_search(counter.count, start, costs, args.repeats)
        assert value_ref == value_fast and np.array_equal(plan_ref, plan_fast)
        print(f"{n_exits:>5} {calls:>6} {slow:>9.3f} s {fast:>9.3f} s {slow / fast:>6.2f}x")


if __name__ == "__main__":
    script_cli(main)
