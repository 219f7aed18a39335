"""Schedulers benchmark: EENet vs the heuristics vs the oracle, accuracy x budget.

    python benchmarks/schedulers.py [--val artifacts/logits/val.npz --test ... --costs ...]
        [--budgets 20] [--held-out] [--real-held-out] [--entropy-favoured] [--cases N]
        [--expected N] [--threads 2]

For the default pipeline's outputs (skipped with a message when absent), a harder synthetic
case (4 exits, 100 classes, 10k validation), with --held-out a few synthetic configurations not
used for tuning, and with --real-held-out small real networks trained on fresh MNIST-1D draws
(benchmarks/real_outputs.py), and with --entropy-favoured synthetic outputs on which entropy
ranks samples better than max p (benchmarks/runner_up_outputs.py) (--cases N: the first N cases
of each of these three families, for a quicker run), it prints: test accuracy per
method x budget, EENet's margin over the better of maxprob/entropy per budget and on average
(with a paired sign-test z on the test samples: a negative margin with |z| < 2 is within one
test draw's noise), the margin at equal realised test cost (the heuristics' accuracy
interpolated along their sweep at EENet's realised cost: a method that overspends the budget on
a test draw buys accuracy with it), the worst budget miss (realised test cost vs budget, %, per
method, and the sampling noise of the worst), EENet fit times, and the time to evaluate all
methods x budgets on test from its logits (fitting excluded). With --expected N, the same
fitted policies of each synthetic, real held-out and entropy-favoured case are also evaluated
on a fresh draw of N test samples from the case's distribution (for a real case: its trained
network on N new MNIST-1D samples, so N from 100 to 1,000,000 with --real-held-out): their
margins in expectation over test draws (a test draw's noise gone), nominal and at equal
realised cost, and their budget misses in expectation (what remains is the validation split's
sampling).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from real_outputs import REAL_HELD_OUT, check_fresh_samples, trained_outputs  # beside this script
from runner_up_outputs import ENTROPY_FAVOURED, split_pair

from eenet.checks import check_integer
from eenet.cli import script_cli
from eenet.cost_inputs import load_costs
from eenet.errors import ConfigError
from eenet.evaluation import evaluate_policies
from eenet.outputs import ExitOutputs, check_compatible, load_exit_outputs, percent_correct
from eenet.schedulers import FittedPolicy, fit_log_probs
from eenet.schedulers.base import ScoreCache
from eenet.schedulers.eenet import FIRST_EXIT_UNSCORED
from eenet.significance import paired_z
from eenet.synthetic import make_costs, make_draws, make_split_pair

METHODS = ["maxprob", "entropy", "patience", "eenet"]
HELD_OUT = [  # (exits, classes, n_val, seed): not used while tuning
    (3, 10, 3000, 101),
    (4, 10, 5000, 102),
    (3, 100, 10000, 103),
    (4, 50, 3000, 104),
]


def inner_budgets(costs: np.ndarray, n_budgets: int) -> list[float]:
    """`n_budgets` evenly spaced budgets strictly between the first exit's cost and the last's
    (every one needs early exit, none is the first exit alone): the sweep the benchmarks fit."""
    return np.linspace(costs[0], costs[-1], n_budgets + 2)[1:-1].tolist()


# the default pipeline's exit outputs and latency table (`dvc repro` writes them)
PIPELINE_OUTPUTS = ("artifacts/logits/val.npz", "artifacts/logits/test.npz",
                    "artifacts/latency.json")


def pipeline_case(val_npz: str, test_npz: str, costs_file: str
                  ) -> tuple[ExitOutputs, ExitOutputs, np.ndarray] | None:
    """The validation and test outputs and the costs of a pipeline run, checked against each
    other; None when one of the three files is missing."""
    if not all(Path(path).is_file() for path in (val_npz, test_npz, costs_file)):
        return None
    costs = load_costs(costs_file)
    val, test = load_exit_outputs(val_npz), load_exit_outputs(test_npz)
    check_compatible(val, costs)
    return val, test, costs


def hits_on(policy: FittedPolicy, log_probs: np.ndarray, correct: np.ndarray,
            cache: ScoreCache | None = None) -> np.ndarray:
    """Which samples of a split the policy answers correctly (`cache`: the split's scores)."""
    exits = policy.decide(log_probs, cache=cache)
    return correct[exits, np.arange(exits.size)]


Point = tuple[float, float]  # (realised cost, accuracy %) of one policy on one split


def sweep_ends(correct: np.ndarray, costs: np.ndarray) -> tuple[Point, Point]:
    """The two ends of every heuristic's sweep on a split (`correct`: [K, N]): everyone at the
    first exit (its cost, its accuracy) and everyone at the last, the policies its thresholds
    give at budgets of the first and the last exit's cost."""
    accuracy = percent_correct(correct, axis=1)
    return (float(costs[0]), float(accuracy[0])), (float(costs[-1]), float(accuracy[-1]))


def accuracy_at_cost(sweep: list[dict[str, float]], cost: float, ends: tuple[Point, Point]
                     ) -> float:
    """A method's accuracy at realised cost `cost`, interpolated along its sweep with its two
    `ends` (`sweep_ends`): outside the budgets' realised costs it runs on to those ends (held
    flat it credited the heuristic, below its cheapest point, with that point's accuracy);
    of points of one cost the most accurate counts (np.interp takes no ties)."""
    best: dict[float, float] = {}
    for c, a in [*ends, *((r["cost_ms"], r["accuracy"]) for r in sweep)]:
        best[c] = max(a, best.get(c, -np.inf))
    xs = sorted(best)
    return float(np.interp(cost, xs, [best[x] for x in xs]))


def cost_noise_pct(
    policy: FittedPolicy, costs: np.ndarray, budget: float, splits: tuple[np.ndarray, ...]
) -> float:
    """Standard error of (test cost - validation cost) / budget, percent: how far a realised
    cost strays from the budget by the sampling of the two splits (log-probs) alone."""
    table = policy.cost_table(costs)
    variances = [table[policy.decide(lp)].var() / lp.shape[1] for lp in splits]
    return 100 * float(np.sqrt(sum(variances))) / budget


def margins_on(
    results: dict[str, list[dict[str, float]]], index: int, ends: tuple[Point, Point]
) -> tuple[float, float]:
    """EENet's margin over the better of maxprob / entropy at budget `index` of sweeps
    evaluated on one split: nominal, and at EENet's realised cost (the heuristics interpolated
    there, their sweeps run on to that split's `ends`)."""
    nominal = results["eenet"][index]["accuracy"] - max(
        results[m][index]["accuracy"] for m in ("maxprob", "entropy"))
    cost = results["eenet"][index]["cost_ms"]
    matched = results["eenet"][index]["accuracy"] - max(
        accuracy_at_cost(results[m], cost, ends) for m in ("maxprob", "entropy"))
    return nominal, matched


def misses_pct(sweep: list[dict[str, float]], budgets: list[float]) -> list[float]:
    """|realised cost / budget - 1| at each budget of an evaluated sweep, percent."""
    return [abs(r["cost_ms"] / b - 1) * 100 for r, b in zip(sweep, budgets, strict=True)]


def rule_summary(policies: list[FittedPolicy]) -> str:
    """Where EENet's rules come from: how many budgets use a trained score (learned g_k or
    the lookahead stop value), and how many a heuristic's score with another plan than the
    heuristics' geometric one (the no-early-exit budgets count as neither)."""
    sources = [getattr(p, "score_source", "") for p in policies]
    trained = sum(s in ("learned", "lookahead")
                  and not getattr(p, "plan_source", "").startswith("last_exit")
                  for s, p in zip(sources, policies, strict=True))
    replanned = sum(s in ("maxprob", "entropy")
                    and getattr(p, "plan_source", "") not in ("geometric", FIRST_EXIT_UNSCORED)
                    for s, p in zip(sources, policies, strict=True))
    return (f"EENet's rule: a trained score (learned or lookahead) at {trained} of "
            f"{len(policies)} budgets; a heuristic's score with a plan chosen on validation at "
            f"{replanned}; the heuristics' own rule at the rest")


def run_case(
    name: str,
    val: ExitOutputs,
    test: ExitOutputs,
    costs: np.ndarray,
    n_budgets: int,
    expected: ExitOutputs | None = None,
) -> dict[str, float]:
    """Fit every method at every budget on val, evaluate on test (and on a large `expected`
    draw of the same distribution, if given), print the figures."""
    budgets = inner_budgets(costs, n_budgets)
    val_lp, val_cache = val.log_probs(), {}  # each fixed score once, as a sweep computes it
    policies = {
        m: [fit_log_probs(m, val_lp, val.labels, costs, b, cache=val_cache) for b in budgets]
        for m in METHODS
    }
    # evaluating starts from the test logits: their log-probabilities and each exit's hits
    # are timed with the rest (untimed, they were 0.15 s of 4x100's 10k, beside its 0.6 s)
    start = time.perf_counter()
    test_lp, test_correct = test.log_probs(), test.correct()
    test_cache: ScoreCache = {}  # each fixed score (and EENet's features) once on test
    results = {
        m: evaluate_policies(ps, budgets, test_lp, test_correct, costs, test_cache)
        for m, ps in {**policies, "oracle": [None] * len(budgets)}.items()
    }
    eval_seconds = time.perf_counter() - start
    in_expectation = None  # the same policies on a large fresh draw: no test-draw noise
    if expected is not None:
        expected_lp, expected_correct = expected.log_probs(), expected.correct()
        expected_cache: ScoreCache = {}
        in_expectation = {
            m: evaluate_policies(policies[m], budgets, expected_lp, expected_correct, costs,
                                 expected_cache)
            for m in METHODS
        }
        expected_ends = sweep_ends(expected_correct, costs)

    print(f"\n=== {name}: {val.n_exits} exits, {val.n_classes} classes, "
          f"{val.n_samples} val / {test.n_samples} test; costs {np.round(costs, 4).tolist()}")
    print("exit accuracy (test): " + ", ".join(f"{a:.2f}" for a in test.exit_accuracy()))
    cols = [*METHODS, "oracle"]
    print(f"{'budget':>8} " + " ".join(f"{m:>9}" for m in cols)
          + f" {'margin':>7} {'z':>5} {'matched':>7} {'miss %':>7}"
          + (f" {'E margin':>8} {'E match':>7}" if in_expectation else "") + "  EENet's rule")
    margins, zs, matched, expected_margins = [], [], [], []
    test_ends = sweep_ends(test_correct, costs)
    misses = {m: misses_pct(results[m], budgets) for m in METHODS}
    for i, b in enumerate(budgets):
        acc = {m: results[m][i]["accuracy"] for m in cols}
        rival = max(("maxprob", "entropy"), key=lambda m: acc[m])
        # the margin, and the same comparison at equal realised test cost: a heuristic that
        # overspends the budget on this test draw buys accuracy with it
        margin, at_cost = margins_on(results, i, test_ends)
        # paired sign test on the test samples: is the margin more than this draw's noise?
        z = paired_z(hits_on(policies["eenet"][i], test_lp, test_correct, test_cache),
                     hits_on(policies[rival][i], test_lp, test_correct, test_cache))
        miss = max(misses[m][i] for m in METHODS)
        margins.append(margin)
        zs.append(z)
        matched.append(at_cost)
        row = (f"{b:>8.4g} " + " ".join(f"{acc[m]:>9.2f}" for m in cols)
               + f" {margin:>+7.2f} {z:>+5.1f} {at_cost:>+7.2f} {miss:>7.2f}")
        if in_expectation:
            expected_margins.append(margins_on(in_expectation, i, expected_ends))
            row += f" {expected_margins[-1][0]:>+8.2f} {expected_margins[-1][1]:>+7.2f}"
        print(f"{row}  {policies['eenet'][i].rule()}")
    worst_m, worst_i = max(((m, i) for m in METHODS for i in range(len(budgets))),
                           key=lambda mi: misses[mi[0]][mi[1]])
    noise = cost_noise_pct(policies[worst_m][worst_i], costs, budgets[worst_i], (val_lp, test_lp))
    fits = [p.fit_seconds for p in policies["eenet"]]
    summary = {
        "mean_margin": float(np.mean(margins)),
        "min_margin": float(np.min(margins)),
        "budgets_below": int(np.sum(np.array(margins) < 0)),
        "n_budgets": len(budgets),
        "min_z": float(np.min(zs)),
        "min_matched": float(np.min(matched)),
        "worst_miss_pct": float(max(np.max(v) for v in misses.values())),
        "eenet_miss_pct": float(np.max(misses["eenet"])),
        "worst_miss_noise_pct": noise,
        "fit_mean_s": float(np.mean(fits)),
        "fit_max_s": float(np.max(fits)),
        "eval_s": eval_seconds,
    }
    print(f"EENet margin over best of maxprob/entropy: mean {summary['mean_margin']:+.2f}, "
          f"min {summary['min_margin']:+.2f} points (paired test z at the worst budget "
          f"{zs[int(np.argmin(margins))]:+.1f}, lowest z {summary['min_z']:+.1f}); at equal "
          f"realised test cost: mean {np.mean(matched):+.2f}, min {summary['min_matched']:+.2f};"
          f" worst budget "
          f"miss (all methods) {summary['worst_miss_pct']:.2f} % ("
          + ", ".join(f"{m} {np.max(v):.2f}" for m, v in misses.items())
          + f"); sampling noise of the worst (standard error of test - val cost): {noise:.2f} %")
    if in_expectation:
        nominal, at_cost = (np.array(column) for column in zip(*expected_margins, strict=True))
        expected_misses = {m: max(misses_pct(in_expectation[m], budgets)) for m in METHODS}
        summary.update(expected_mean=float(nominal.mean()), expected_min=float(nominal.min()),
                       expected_below=int(np.sum(nominal < 0)),
                       expected_min_matched=float(at_cost.min()),
                       expected_miss_pct=max(expected_misses.values()),
                       expected_eenet_miss_pct=expected_misses["eenet"])
        print(f"In expectation (the same policies on a fresh draw of {expected.n_samples} test "
              f"samples): margin mean {nominal.mean():+.2f}, min {nominal.min():+.2f}; at "
              f"equal realised cost mean {at_cost.mean():+.2f}, min {at_cost.min():+.2f}; "
              "worst budget miss " + ", ".join(f"{m} {v:.2f}" for m, v in
                                                expected_misses.items()) + " %")
    print(rule_summary(policies["eenet"]))
    print(f"EENet fit: mean {summary['fit_mean_s']:.2f} s, max {summary['fit_max_s']:.2f} s per "
          f"budget; evaluating {len(cols)} methods x {len(budgets)} budgets on test: "
          f"{eval_seconds:.2f} s")
    return summary


def print_targets(summaries: dict[str, dict[str, float]]) -> None:
    """Issue 4's targets, case by case: whether each holds on this run, with its figure."""
    def verdict(ok: bool) -> str:
        return "holds" if ok else "FAILS"

    print("\ntargets (per case: holds / FAILS, with the figure):")
    for name, s in summaries.items():
        below = (f"{s['budgets_below']} of {s['n_budgets']} budgets below, min "
                 f"{s['min_margin']:+.2f} (lowest test z {s['min_z']:+.1f}; at equal cost "
                 f"{s['min_matched']:+.2f})")
        if "expected_below" in s:
            below += (f"; in expectation {s['expected_below']} below, min "
                      f"{s['expected_min']:+.2f}, at equal cost {s['expected_min_matched']:+.2f}")
        print(f"{name}:\n"
              f"  EENet >= better of max p / entropy at every budget: "
              f"{verdict(s['min_margin'] >= 0)} ({below})\n"
              f"  EENet above it on average: {verdict(s['mean_margin'] > 0)} "
              f"({s['mean_margin']:+.2f})\n"
              f"  every method's realised test cost within 3 % of every budget: "
              f"{verdict(s['worst_miss_pct'] <= 3)} ({s['worst_miss_pct']:.2f} %"
              + (f"; in expectation {s['expected_miss_pct']:.2f} %" if "expected_miss_pct" in s
                 else "") + ")")
    hard = summaries.get("synthetic 4x100")
    if hard is not None:
        print(f"synthetic 4x100 (10k val, 4 exits, 100 classes):\n"
              f"  EENet fit <= 10 s per budget: {verdict(hard['fit_max_s'] <= 10)} (max "
              f"{hard['fit_max_s']:.2f} s, mean {hard['fit_mean_s']:.2f} s)\n"
              f"  5 methods x {hard['n_budgets']} budgets evaluated on 10k test < 2 s: "
              f"{verdict(hard['eval_s'] < 2)} ({hard['eval_s']:.2f} s"
              + ("" if hard["n_budgets"] == 20 else "; the target is at 20 budgets") + ")")


def expected_draw(val: ExitOutputs, test: ExitOutputs, seed: int, n_samples: int
                  ) -> ExitOutputs | None:
    """A fresh test draw of `n_samples` from the distribution of the synthetic case whose
    splits `val` and `test` were drawn by `make_split_pair(..., seed=seed)`: drawn after both
    by the same generator, so independent of either (drawn in the test split's place, it
    reused the test split's random numbers: its first labels were the test split's); None
    when `n_samples` is 0."""
    if n_samples <= 0:
        return None
    same_val, same_test, draw = make_draws(val.n_exits, val.n_classes,
                                           (val.n_samples, test.n_samples, n_samples), seed)
    assert np.array_equal(same_val.logits, val.logits) and np.array_equal(
        same_test.logits, test.logits), "not the case's distribution"
    return draw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val", default=PIPELINE_OUTPUTS[0])
    parser.add_argument("--test", default=PIPELINE_OUTPUTS[1])
    parser.add_argument("--costs", default=PIPELINE_OUTPUTS[2])
    parser.add_argument("--budgets", type=int, default=20, help="budgets per sweep")
    parser.add_argument("--held-out", action="store_true", help="also run held-out synthetics")
    parser.add_argument("--real-held-out", action="store_true",
                        help="also train small real networks on fresh MNIST-1D draws (minutes)")
    parser.add_argument("--entropy-favoured", action="store_true",
                        help="also run synthetic cases where entropy beats max p")
    parser.add_argument("--cases", type=int, default=None, metavar="N",
                        help="run only the first N cases of --held-out, --real-held-out and "
                             "--entropy-favoured each (default: all)")
    parser.add_argument("--skip-hard", action="store_true", help="skip the 4x100 synthetic case")
    parser.add_argument("--expected", type=int, default=0, metavar="N",
                        help="also evaluate each synthetic case's policies on a fresh draw of "
                             "N test samples (margins in expectation over test draws)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for evaluation")
    args = parser.parse_args()
    check_integer("--budgets", args.budgets, 1)
    check_integer("--threads", args.threads, 1)
    check_integer("--expected", args.expected, 0)
    if args.real_held_out:  # before the synthetic cases' fits and the networks' training
        check_fresh_samples(args.expected, "--expected")
    if args.cases is not None:  # None: every case
        check_integer("--cases", args.cases, 1)
        if not (args.held_out or args.real_held_out or args.entropy_favoured):
            raise ConfigError("--cases: counts the cases of --held-out, --real-held-out and "
                              "--entropy-favoured; give one of them")
    torch.set_num_threads(args.threads)
    first = slice(args.cases)  # slice(None): every case

    summaries = {}
    pipeline = pipeline_case(args.val, args.test, args.costs)
    if pipeline is not None:
        summaries["pipeline"] = run_case("default pipeline", *pipeline, args.budgets)
    else:
        print(f"skipping the default pipeline's outputs: {args.val}, {args.test} or "
              f"{args.costs} not found (run `dvc repro` first)")
    if not args.skip_hard:
        val, test = make_split_pair(4, 100, 10_000, 10_000, seed=7)
        summaries["synthetic 4x100"] = run_case(
            "harder synthetic", val, test, make_costs(4), args.budgets,
            expected_draw(val, test, 7, args.expected),
        )
    if args.held_out:
        for n_exits, n_classes, n_val, seed in HELD_OUT[first]:
            val, test = make_split_pair(n_exits, n_classes, n_val, 10_000, seed=seed)
            name = f"held-out {n_exits}x{n_classes}, {n_val} val"
            summaries[name] = run_case(name, val, test, make_costs(n_exits), args.budgets,
                                       expected_draw(val, test, seed, args.expected))
    if args.real_held_out:
        for case in REAL_HELD_OUT[first]:
            val, test, mflops, fresh = trained_outputs(case, args.expected)
            summaries[case.name] = run_case(f"{case.name} (costs in MFLOPs)", val, test, mflops,
                                            args.budgets, fresh)
    if args.entropy_favoured:
        for case in ENTROPY_FAVOURED[first]:
            val, test, fresh = split_pair(case, 10_000, args.expected)
            summaries[case.name] = run_case(case.name, val, test, make_costs(case.n_exits),
                                            args.budgets, fresh)
    print("\nsummary: case | mean margin | min margin | lowest test z | min margin at equal cost"
          " | worst miss % all methods / EENet | its sampling noise % | EENet fit mean/max s")
    for name, s in summaries.items():
        print(f"{name:<44} {s['mean_margin']:>+6.2f} {s['min_margin']:>+6.2f} {s['min_z']:>+5.1f} "
              f"{s['min_matched']:>+6.2f} "
              f"{s['worst_miss_pct']:>6.2f} / {s['eenet_miss_pct']:.2f} "
              f"{s['worst_miss_noise_pct']:>5.2f} "
              f"{s['fit_mean_s']:>6.2f}/{s['fit_max_s']:.2f}")
    expected_cases = {name: s for name, s in summaries.items() if "expected_mean" in s}
    if expected_cases:
        print(f"\nin expectation (fresh draw of {args.expected} test samples): case | mean "
              "margin | min margin | min margin at equal cost | worst miss % all methods / "
              "EENet")
        for name, s in expected_cases.items():
            print(f"{name:<44} {s['expected_mean']:>+6.2f} {s['expected_min']:>+6.2f} "
                  f"{s['expected_min_matched']:>+6.2f} {s['expected_miss_pct']:>6.2f} / "
                  f"{s['expected_eenet_miss_pct']:.2f}")
    print_targets(summaries)


if __name__ == "__main__":
    script_cli(main)
