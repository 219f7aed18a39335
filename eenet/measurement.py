"""Does real early exit cost what was planned? Measure it at the headline budget.

For every method fitted at the headline budget: run the model with real early exit
(`EarlyExitPredictor`) on the first samples of the test split, the methods taking turns in an
order that changes from round to round (`round_order`), and compare the measured ms/sample with
the cost the pipeline planned for exactly those samples' exits (mean of the policy's planned
cumulative cost of each sample's exit: the profile's, plus its charged scoring cost), and with
a profile of the running policy itself taken now on this machine (its own scorer's cost
included, the machine's current load). Also checks that the real exits equal the simulated ones
from the dumped logits. What the measure stage runs; usable without DVC. The stage's metrics
file (`write_report`) holds the report under one top-level key, `measured`: `dvc metrics show`
and `dvc exp show` then name its columns `measured.budget_ms`,
`measured.methods.<m>.exit_fractions.exit0`, ..., apart from metrics.json's `budget_ms` and
`methods.<m>.exit_fractions.exit0` (with the same names DVC prefixed some columns by their file
and not others).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from eenet.checks import COUNT_MAXIMUMS, check_minimums
from eenet.errors import ArtifactError, counted
from eenet.jsonio import write_json
from eenet.latency_table import check_latency_for_model, load_latency
from eenet.outputs import ExitOutputs, load_exit_outputs
from eenet.report_layout import by_exit
from eenet.sweep import (
    FITTING_STAGES,
    check_entry_policy,
    check_fitted_costs,
    headline_entries,
    read_index,
)

if TYPE_CHECKING:
    from eenet.models.base import MultiExitModel
    from eenet.schedulers.base import FittedPolicy


def round_order(n_methods: int, round_index: int) -> list[int]:
    """The order the methods (by index) run in round `round_index`: a Williams design, so no
    method keeps the same place in the round, nor runs right after the same other method, round
    after round (cache state, CPU frequency or a shared machine's drift then biases none alike).

    Round r runs (r + w_k) mod n for w = 0, 1, n-1, 2, n-2, ...: in rounds 0 to n-1 (and
    each later block of n) each method takes each place once. With an even n each method
    follows each other method once in those n rounds; with an odd n the next n rounds run the
    same orders reversed, and each method follows each other one twice in 2n rounds. The
    orders repeat with that period (`order_period`); two methods alternate."""
    if n_methods < 1 or round_index < 0:
        raise ValueError(f"round_order: needs n_methods >= 1 and round_index >= 0, got "
                         f"{n_methods} and {round_index}")
    offsets = [0] + [(k + 1) // 2 if k % 2 else n_methods - k // 2 for k in range(1, n_methods)]
    index = round_index % order_period(n_methods)
    order = [(index + w) % n_methods for w in offsets]
    return order[::-1] if index >= n_methods else order


def order_period(n_methods: int) -> int:
    """After how many rounds `round_order` repeats: n for an even n (or one method), 2n for an
    odd n (the orders, then the same reversed)."""
    return n_methods if n_methods % 2 == 0 or n_methods == 1 else 2 * n_methods


def round_orders(methods: list[str], rounds: int) -> dict[str, str]:
    """The report's record of the orders run: `{"round0": "a, b, c", ...}`, one entry per round
    of one period of `round_order` (at most `rounds`): round r ran round (r mod period)'s. A
    string per round, as DVC shows no lists."""
    return {f"round{r}": ", ".join(methods[i] for i in round_order(len(methods), r))
            for r in range(min(rounds, order_period(len(methods))))}


def own_profile(model: MultiExitModel, policy: FittedPolicy, method: str, device: str,
                batch_size: int, threads: int, warmup: int, repeats: int) -> np.ndarray:
    """The running policy's forced-exit profile (ms/sample to reach each exit), taken with the
    measure settings; a failed one (not increasing, a batch too large for memory) names them."""
    from eenet.profiling import NotIncreasingError, not_increasing_advice, profile_model

    try:
        return np.asarray(profile_model(model, device=device, batch_size=batch_size,
                                        threads=threads, warmup=warmup, repeats=repeats,
                                        policy=policy, group="measure")["cumulative_ms"])
    except NotIncreasingError as exc:
        raise NotIncreasingError(exc.medians, exc.repeats, f"measure: {method}'s own profile",
                                 not_increasing_advice("measure")) from None


def check_outputs_for_model(outputs: ExitOutputs, source: str | os.PathLike, n_exits: int,
                            n_classes: int, model_dir: str | os.PathLike) -> None:
    """Exit outputs (`source`) dumped from another model than the one measured are a one-line
    ArtifactError naming both, before anything runs (the real exits are compared with the
    simulation on them only after every round)."""
    if (outputs.n_exits, outputs.n_classes) != (n_exits, n_classes):
        raise ArtifactError(f"{source}: {counted(outputs.n_exits, 'exit')} and "
                            f"{counted(outputs.n_classes, 'class', 'classes')}, the model in "
                            f"{model_dir} has {n_exits} and {n_classes}; rerun dump_logits")


def check_same_weights(policy: FittedPolicy, policy_dir: str | os.PathLike,
                       model_dir: str | os.PathLike, weights_sha256: str) -> None:
    """A one-line ArtifactError where a headline policy (in `policy_dir`) records other
    weights than the model's in `model_dir` (their digest `weights_sha256`; replaced or
    retrained since): its plan, and the exits measured against it, are another model's
    (`eenet predict` runs such a policy, with a note)."""
    from eenet.models.artifact import other_weights

    if other_weights(policy.model, model_dir, weights_sha256):
        raise ArtifactError(
            f"{policy_dir}: fitted for other weights of the model in {model_dir} (retrained "
            f"or replaced since?), so its plan is not this model's; rerun {FITTING_STAGES} "
            "with this model (dvc repro)")


def measure_headline(
    model_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    scheduler_dir: str | os.PathLike,
    latency_json: str | os.PathLike,
    test_npz: str | os.PathLike,
    *,
    enabled: bool = True,
    batch_size: int = 1,
    limit: int = 500,
    rounds: int = 5,
    threads: int = 1,
    device: str = "auto",
    warmup: int = 20,
    repeats: int = 200,
) -> dict[str, Any]:
    """Measured vs planned ms/sample of real early exit at the headline budget, per method.

    `limit` caps the test samples run (0 = the whole split). Every method runs them `rounds`
    times, the methods taking turns within each round (a slow moment of a shared machine then
    hits each alike) in an order that changes from round to round (`round_order`: no method
    always first, or always right after the same other; the report's `orders` records them),
    after `warmup` (at least 2) untimed batches each (repeated for a second
    on a GPU, as the profile warms up there); a call's time is its median over the rounds.
    `warmup` / `repeats` also drive the profile of each running policy
    (as in the profile stage). Returns plain data, which the measure stage's metrics JSON holds
    under `measured` (`write_report`); `enabled` False returns `{"enabled": False}` and
    measures nothing.
    """
    if not enabled:
        return {"enabled": False}
    check_minimums("measure", {"batch_size": (batch_size, 1), "limit": (limit, 0),
                               "rounds": (rounds, 1), "threads": (threads, 0),
                               "warmup": (warmup, 0), "repeats": (repeats, 1)},
                   COUNT_MAXIMUMS)
    from eenet.data.prepared import split_for_model
    from eenet.devices import memory_names, num_threads, resolve_device
    from eenet.models.artifact import load_trained, read_trained_config, weights_digest
    from eenet.profiling import warm_for_device
    from eenet.real_latency import (
        check_policy_for_model,
        collate_split,
        data_named,
    )
    from eenet.runtime import EarlyExitPredictor, EarlyExitResult, robust_ms_per_sample
    from eenet.schedulers import load_policy

    target = resolve_device(device, "measure.device")
    latency = load_latency(latency_json)
    planned_costs = np.asarray(latency["cumulative_ms"], dtype=np.float64)
    index = read_index(scheduler_dir)
    headline = float(index["headline_ms"])
    entries = headline_entries(index, scheduler_dir)
    outputs = load_exit_outputs(test_npz)
    model = load_trained(model_dir)
    check_latency_for_model(latency, latency_json, model_dir, model.n_exits)
    check_fitted_costs(scheduler_dir, index, planned_costs)
    policies = {e["method"]: load_policy(Path(scheduler_dir) / e["dir"]) for e in entries}
    classes = int(read_trained_config(model_dir)["num_classes"])
    check_outputs_for_model(outputs, test_npz, model.n_exits, classes, model_dir)
    log_probs = outputs.log_probs()
    weights_sha256 = weights_digest(model_dir)  # once, for every policy's record of it
    for e in entries:
        check_policy_for_model(policies[e["method"]], Path(scheduler_dir) / e["dir"],
                               model.n_exits, classes, model_dir)
        check_entry_policy(policies[e["method"]], scheduler_dir, index, e)
        check_same_weights(policies[e["method"]], Path(scheduler_dir) / e["dir"], model_dir,
                           weights_sha256)
    batches = collate_split(model, split_for_model(model, model_dir, data_dir, "test"),
                            batch_size, limit or None, target)
    n = sum(len(labels) for _, labels in batches)
    if n > log_probs.shape[1]:
        raise ArtifactError(f"{test_npz}: {log_probs.shape[1]} samples, the split in "
                            f"{data_dir} has more; rerun dump_logits")
    sizes = np.array([len(labels) for _, labels in batches])
    asked = batch_size  # the setting, named when its batches do not fit in memory
    # fewer samples than a batch (`limit` or the split): the calls ran at that size, and the
    # policies' own profiles and the report compare like with like at it
    batch_size = int(sizes.max())
    seconds = {m: np.zeros((rounds, len(batches))) for m in policies}
    schedule = {m: np.zeros(rounds) for m in policies}
    results: dict[str, EarlyExitResult] = {}
    with num_threads(threads, "measure.threads"):
        used_threads = torch.get_num_threads()
        predictors = {m: EarlyExitPredictor(model, p, device=str(target))
                      for m, p in policies.items()}
        # the batches are on `target` already; samples without an answer name the test split
        with memory_names("measure.batch_size", asked), data_named(data_dir, "test"):
            for predictor in predictors.values():  # untimed: once, for a second on a GPU
                warm_for_device(partial(predictor.predict_in_order, batches[:max(2, warmup)]),
                                target)
            names = list(predictors)
            for r in range(rounds):
                for method in (names[i] for i in round_order(len(names), r)):
                    predictor = predictors[method]
                    parts = predictor.predict_in_order(batches)
                    seconds[method][r] = [p.seconds for p in parts]
                    schedule[method][r] = sum(p.schedule_seconds for p in parts)
                    if r == 0:
                        results[method] = EarlyExitResult.concatenate(parts)
        # each policy's own forced-exit profile, after the real runs (it moves the model)
        own = {m: own_profile(model, p, m, str(target), batch_size, threads, warmup, repeats)
               for m, p in policies.items()}
    methods: dict[str, Any] = {}
    for method, policy in policies.items():
        result = results[method]
        exits = result.exits
        call_ms = np.median(1000.0 * seconds[method] / sizes, axis=0)
        mean_ms = float(1000.0 * seconds[method].sum(axis=1).mean() / n)
        robust = robust_ms_per_sample(call_ms, exits, batch_size)
        plan = policy.cost_table(planned_costs)  # the profile + its charged scoring cost
        planned, planned_own = float(plan[exits].mean()), float(own[method][exits].mean())
        methods[method] = {
            "ms_per_sample": mean_ms,
            "robust_ms_per_sample": robust,
            "planned_ms": planned,
            "ratio": mean_ms / planned,
            "ratio_robust": robust / planned,
            "own_profile_planned_ms": planned_own,
            "ratio_own_profile": mean_ms / planned_own,
            "ratio_own_profile_robust": robust / planned_own,
            "schedule_ms_per_sample": float(1000.0 * schedule[method].mean() / n),
            # of the samples run (the first `limit`), not metrics.json's whole test split: 4
            # decimals, as its test_accuracy (97.39999999999999 for 487 of 500)
            "subset_accuracy": round(result.accuracy(), 4),
            # keyed by exit, as metrics.json's: dvc metrics / exp show drop lists
            "exit_fractions": by_exit(result.exit_fractions(model.n_exits).tolist()),
            "exits_match_simulation": bool(np.array_equal(exits,
                                                          policy.decide(log_probs[:, :n]))),
        }
    return {
        "enabled": True,
        "budget_ms": headline,
        "batch_size": batch_size,
        "n_samples": n,
        "rounds": rounds,
        # the methods' order in each round (one period; round r ran round r mod period's)
        "orders": round_orders(list(policies), rounds),
        "device": str(target),  # with its index: cuda:1
        "threads": used_threads,
        "plan": str(latency.get("source", "measured")),
        "plan_batch_size": latency.get("batch_size"),
        "methods": methods,
    }


# the measure stage's metrics file holds `measure_headline`'s report under this key alone
REPORT_KEY = "measured"


def write_report(path: str | os.PathLike, report: dict[str, Any]) -> None:
    """`measure_headline`'s report as the measure stage's metrics file: under the top-level
    key `measured` (REPORT_KEY), every float tidy."""
    write_json(path, {REPORT_KEY: report}, tidy=True)


def report_notes(report: dict[str, Any]) -> list[str]:
    """Notes on what `ratio` compares, when it is not like with like: a plan imported from
    another device, or measured at another batch size than the plan was profiled at (a
    shrinking batch runs less efficiently). 'ratio_own_profile' compares with a profile taken
    here at the batch size run: like with like at batch 1; at a larger batch, the shrinking
    batch is what the forced-exit profile does not see."""
    if not report.get("enabled"):
        return []
    notes = []
    if report["plan"] != "measured":
        notes.append(f"note: the plan is a latency table imported from {report['plan']}: "
                     "'ratio' compares this host's time with it; 'ratio_own_profile' compares "
                     "like with like")
    planned_at = report.get("plan_batch_size")
    if planned_at not in (None, report["batch_size"]):
        notes.append(f"note: measured at batch {report['batch_size']}, the plan was profiled "
                     f"at batch {planned_at}: 'ratio' compares the two batch sizes; "
                     "'ratio_own_profile' compares with a profile at this batch size, which "
                     "does not see the batch shrink as samples leave (docs/runtime.md)")
    return notes


def method_lines(report: dict[str, Any]) -> list[str]:
    """One line per method of an enabled report: measured and planned ms/sample, `ratio`, and
    `ratio_robust` named by the statistic it took at the report's batch size."""
    # `eenet.runtime.robust_ms_per_sample`'s statistic at that batch size
    robust = "per-exit medians" if report["batch_size"] == 1 else "the median over calls"
    return [f"{method:>9}: {row['ms_per_sample']:#.4g} ms/sample measured, "
            f"{row['planned_ms']:#.4g} ms/sample planned (ratio {row['ratio']:.3f}; "
            f"ratio_robust, of {robust}, {row['ratio_robust']:.3f}); "
            f"exits equal the simulation: {row['exits_match_simulation']}"
            for method, row in report["methods"].items()]
