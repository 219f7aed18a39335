"""Schedulers benchmark: EENet vs the heuristics vs the oracle, accuracy x budget.

    python benchmarks/schedulers.py [--val artifacts/logits/val.npz --test ... --costs ...]
        [--budgets 20] [--held-out] [--threads 2]

For the default pipeline's outputs (skipped with a message when absent), a harder synthetic
case (4 exits, 100 classes, 10k validation) and, with --held-out, a few synthetic
configurations not used for tuning, it prints: test accuracy per method x budget, EENet's
margin over the better of maxprob/entropy per budget and on average, the worst budget miss
(realised test cost vs budget, %, every method), EENet fit times, and the time to evaluate
all methods x budgets on test (fitting excluded).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from eenet.evaluation import evaluate_policies
from eenet.outputs import ExitOutputs, check_compatible, load_costs, load_exit_outputs
from eenet.schedulers import fit_log_probs
from eenet.synthetic import make_costs, make_split_pair

METHODS = ["maxprob", "entropy", "patience", "eenet"]
HELD_OUT = [  # (exits, classes, n_val, seed): not used while tuning
    (3, 10, 3000, 101),
    (4, 10, 5000, 102),
    (3, 100, 10000, 103),
    (4, 50, 3000, 104),
]


def run_case(
    name: str, val: ExitOutputs, test: ExitOutputs, costs: np.ndarray, n_budgets: int
) -> dict[str, float]:
    """Fit every method at every budget on val, evaluate on test, print the figures."""
    budgets = np.linspace(costs[0], costs[-1], n_budgets + 2)[1:-1].tolist()
    val_lp, test_lp, test_correct = val.log_probs(), test.log_probs(), test.correct()
    policies = {
        m: [fit_log_probs(m, val_lp, val.labels, costs, b) for b in budgets] for m in METHODS
    }
    start = time.perf_counter()
    results = {
        m: evaluate_policies(ps, budgets, test_lp, test_correct, costs)
        for m, ps in {**policies, "oracle": [None] * len(budgets)}.items()
    }
    eval_seconds = time.perf_counter() - start

    print(f"\n=== {name}: {val.n_exits} exits, {val.n_classes} classes, "
          f"{val.n_samples} val / {test.n_samples} test; costs {np.round(costs, 4).tolist()} ms")
    print("exit accuracy (test): " + ", ".join(f"{a:.2f}" for a in test.exit_accuracy()))
    cols = [*METHODS, "oracle"]
    print(f"{'budget':>8} " + " ".join(f"{m:>9}" for m in cols) + f" {'margin':>7} {'miss %':>7}")
    margins, misses = [], []
    for i, b in enumerate(budgets):
        acc = {m: results[m][i]["accuracy"] for m in cols}
        margin = acc["eenet"] - max(acc["maxprob"], acc["entropy"])
        miss = max(abs(results[m][i]["cost_ms"] / b - 1) * 100 for m in METHODS)
        margins.append(margin)
        misses.append(miss)
        print(f"{b:>8.4g} " + " ".join(f"{acc[m]:>9.2f}" for m in cols)
              + f" {margin:>+7.2f} {miss:>7.2f}")
    fits = [p.fit_seconds for p in policies["eenet"]]
    summary = {
        "mean_margin": float(np.mean(margins)),
        "min_margin": float(np.min(margins)),
        "worst_miss_pct": float(np.max(misses)),
        "fit_mean_s": float(np.mean(fits)),
        "fit_max_s": float(np.max(fits)),
        "eval_s": eval_seconds,
    }
    print(f"EENet margin over best of maxprob/entropy: mean {summary['mean_margin']:+.2f}, "
          f"min {summary['min_margin']:+.2f} points; worst budget miss (all methods) "
          f"{summary['worst_miss_pct']:.2f} %")
    print(f"EENet fit: mean {summary['fit_mean_s']:.2f} s, max {summary['fit_max_s']:.2f} s per "
          f"budget; evaluating {len(cols)} methods x {len(budgets)} budgets on test: "
          f"{eval_seconds:.2f} s")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val", default="artifacts/logits/val.npz")
    parser.add_argument("--test", default="artifacts/logits/test.npz")
    parser.add_argument("--costs", default="artifacts/latency.json")
    parser.add_argument("--budgets", type=int, default=20, help="budgets per sweep")
    parser.add_argument("--held-out", action="store_true", help="also run held-out synthetics")
    parser.add_argument("--skip-hard", action="store_true", help="skip the 4x100 synthetic case")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for evaluation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    summaries = {}
    if Path(args.val).is_file() and Path(args.test).is_file() and Path(args.costs).is_file():
        costs = load_costs(args.costs)
        val, test = load_exit_outputs(args.val), load_exit_outputs(args.test)
        check_compatible(val, costs)
        summaries["pipeline"] = run_case("default pipeline", val, test, costs, args.budgets)
    else:
        print(f"skipping the default pipeline's outputs: {args.val}, {args.test} or "
              f"{args.costs} not found (run `dvc repro` first)")
    if not args.skip_hard:
        val, test = make_split_pair(4, 100, 10_000, 10_000, seed=7)
        summaries["synthetic 4x100"] = run_case(
            "harder synthetic", val, test, make_costs(4), args.budgets
        )
    if args.held_out:
        for n_exits, n_classes, n_val, seed in HELD_OUT:
            val, test = make_split_pair(n_exits, n_classes, n_val, 10_000, seed=seed)
            name = f"held-out {n_exits}x{n_classes}, {n_val} val"
            summaries[name] = run_case(name, val, test, make_costs(n_exits), args.budgets)
    print("\nsummary: case | mean margin | min margin | worst miss % | EENet fit mean/max s")
    for name, s in summaries.items():
        print(f"{name:<32} {s['mean_margin']:>+6.2f} {s['min_margin']:>+6.2f} "
              f"{s['worst_miss_pct']:>6.2f} {s['fit_mean_s']:>6.2f}/{s['fit_max_s']:.2f}")


if __name__ == "__main__":
    main()
