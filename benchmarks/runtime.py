"""Benchmark: does real early exit cost what the latency profile planned?

For each method of --method at 3 budgets of the fitted sweep, on the test split: measured mean
ms/sample of real early exit (`EarlyExitPredictor`) at batch 1 and batch 64, against the cost
the profile plans for exactly those samples' exits (sum of cumulative exit costs / N); the
speed-up over running the full model the same way, with both accuracies; the scheduler's own
overhead.
`planned` comes from profiling this very policy here with the profiler's own functions
(`prefix_calls` + `time_prefixes`: the runtime forced to each exit, the policy's scorer
included) at the batch size of each call (a split's shorter last call at its own; a split
smaller than --big-batch runs, and is profiled, at its size), in blocks interleaved with the
real run; `plan_ref` is the pipeline's plan for this policy, the costs it was fitted with
(`planned_costs_ms`: the pipeline's latency profile, reference max-probability decision work,
plus the scoring cost charged to it; `--latency` only for a policy saved without them), shown
on the row run at the batch size that profile was taken at (the schedulers index's
`costs_profiled_at`): a plan profiled at batch 64 says nothing of batch 1.

A forced-exit profile at batch 64 sends all 64 samples through every segment up to k; in real
early exit the batch shrinks as samples leave, so later segments run at smaller, less efficient
batches. `shrink` is the plan that accounts for this: the same forced-exit profile also taken
at the powers of two below the big batch, exit k's step (difference of consecutive exits)
interpolated at the number of samples really present at exit k in each call, summed.
Prints figures; asserts nothing.

Usage (from the repository root, after `dvc repro`):
    python -m benchmarks.runtime [--model artifacts/model] [--latency artifacts/latency.json]
        [--schedulers artifacts/schedulers] [--data data/mnist1d] [--method eenet[,maxprob]]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eenet.batching import to_device
from eenet.checks import check_integer
from eenet.cli import script_cli
from eenet.data.prepared import PreparedDataset
from eenet.errors import ConfigError
from eenet.inference import collect_exit_logits
from eenet.latency_table import load_latency
from eenet.models.artifact import load_trained
from eenet.models.base import MultiExitModel, example_batch
from eenet.outputs import predicted_classes
from eenet.profiling import (
    num_threads,
    prefix_calls,
    resolve_device,
    run_prefix,
    time_prefixes,
    warm_up,
)
from eenet.real_latency import collate_split
from eenet.runtime import EarlyExitPredictor, EarlyExitResult, robust_ms_per_sample
from eenet.schedulers import load_policy


def run_early_exit(
    predictor: EarlyExitPredictor, data: list, device, first_index: int = 0
) -> tuple[list[EarlyExitResult], np.ndarray]:
    """The result of each call and its seconds, timed from outside the call (what a caller
    sees, as the profile times it). `first_index`: the split index of `data`'s first sample
    (a tie-splitting policy splits by it, as the simulation does on the whole split)."""
    parts, seconds, seen = [], [], first_index
    for inputs, labels in data:
        inputs = to_device(inputs, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        part = predictor.predict(inputs, first_index=seen)
        seconds.append(time.perf_counter() - start)
        seen += part.n_samples
        part.labels = labels.numpy()
        parts.append(part)
    return parts, np.array(seconds)


def present_counts(parts: list[EarlyExitResult], n_exits: int) -> np.ndarray:
    """Samples still in the batch when each call reached exit k, int [calls, n_exits]."""
    return np.stack([(p.exits[:, None] >= np.arange(n_exits)).sum(axis=0) for p in parts])


def step_ms(call_ms: np.ndarray) -> np.ndarray:
    """Per-call ms of exit k's step alone (segment, head, scoring at k) from forced-exit call
    times [..., n_exits]: differences of consecutive exits."""
    return np.diff(call_ms, axis=-1, prepend=0.0)


def shrink_plan_ms(sizes: np.ndarray, call_ms: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Planned ms of each real call when exit k's step runs at the batch still present there:
    sum_k step_k(n_k), step_k linearly interpolated between the profiled batch `sizes` [S]
    (`call_ms` [S, n_exits], medians of the forced-exit calls); 0 where nobody is left."""
    steps = step_ms(call_ms)
    per_exit = np.stack([np.interp(counts[:, k], sizes, steps[:, k])
                         for k in range(steps.shape[1])], axis=1)  # loop over exits only
    return np.where(counts > 0, per_exit, 0.0).sum(axis=1)


def forced_plan_ms(parts: list[EarlyExitResult], sizes: np.ndarray,
                   call_ms: np.ndarray) -> np.ndarray:
    """Each sample's planned ms, [N] in order: the forced-exit cost of its call at the exit it
    took, profiled at the call's own batch size (`call_ms` [S, n_exits] at `sizes`), shared by
    the call's samples. A split's last call holds fewer samples than the others (32 of 4000 at
    batch 64): priced at the others' size, its samples were planned too cheap."""
    row_of = {int(b): i for i, b in enumerate(sizes)}
    return np.concatenate([call_ms[row_of[p.n_samples], p.exits] / p.n_samples for p in parts])


def profile_sizes(big_batch: int) -> np.ndarray:
    """Batch sizes profiled for the shrink-aware plan: powers of two up to `big_batch`, and it."""
    powers = 2 ** np.arange(int(np.log2(big_batch)) + 1)
    return np.unique(np.append(powers, big_batch))


@torch.inference_mode()
def run_full(model: MultiExitModel, data: list, device) -> tuple[np.ndarray, float]:
    """Seconds per batch and accuracy of the full model (last exit), timed like the runtime."""
    seconds, correct, n = [], 0, 0
    for inputs, labels in data:
        inputs = to_device(inputs, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        logits = run_prefix(model, inputs, model.n_exits - 1).float().cpu().numpy()
        seconds.append(time.perf_counter() - start)
        correct += int((predicted_classes(logits) == labels.numpy()).sum())  # as reported
        n += len(labels)
    return np.asarray(seconds), 100.0 * correct / n


def pick_entries(index: dict[str, Any], method: str, budgets: list[float] | None) -> list[dict]:
    """Fitted entries of `method`: the nearest to each requested budget, or three: those 20,
    50 and 80 % of the way along its sweep's entries below the last exit's cost."""
    entries = sorted((e for e in index["entries"] if e["method"] == method),
                     key=lambda e: e["budget_ms"])
    if not entries:
        methods = ", ".join(sorted({e["method"] for e in index["entries"]}))
        raise ConfigError(f"--method: no fitted {method!r} schedulers; fitted methods: "
                          f"{methods}")
    if budgets:
        picks = [min(entries, key=lambda e, b=b: abs(e["budget_ms"] - b)) for b in budgets]
        for asked, entry in zip(budgets, picks, strict=True):
            if not math.isclose(entry["budget_ms"], asked, rel_tol=1e-3):
                print(f"note: {method} has no policy fitted at {asked:g} ms; measuring the "
                      f"nearest, {entry['budget_ms']:.4g} ms", file=sys.stderr)
        return list({entry["dir"]: entry for entry in picks}.values())  # each once
    below = [e for e in entries if e["budget_ms"] < index["costs_ms"][-1]] or entries
    picks = np.unique(np.round(np.linspace(0.2, 0.8, 3) * (len(below) - 1)).astype(int))
    return [below[i] for i in picks]


def plan_batch_size(index: dict[str, Any], latency: dict[str, Any]) -> int:
    """The batch size the policies' planned costs were profiled at: the schedulers index's
    record (`costs_profiled_at`), else the latency table's, else 1 (a CSV table records
    none)."""
    recorded = (index.get("costs_profiled_at") or {}).get("batch_size")
    return int(recorded or latency.get("batch_size") or 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="artifacts/model")
    parser.add_argument("--latency", default="artifacts/latency.json")
    parser.add_argument("--schedulers", default="artifacts/schedulers")
    parser.add_argument("--data", default="data/mnist1d")
    parser.add_argument("--split", default="test")
    parser.add_argument("--method", default="eenet",
                        help="a method, or a comma list measured one after another in this run "
                             "(e.g. eenet,maxprob: their ratios then share the machine's state)")
    parser.add_argument("--budgets", type=float, nargs="*",
                        help="ms (the nearest fitted budget of each); default the fitted "
                             "budgets 20 / 50 / 80 %% of the way along the sweep's below the "
                             "last exit's cost")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="default: the profile's")
    parser.add_argument("--samples-b1", type=int, default=1000, help="samples timed at batch 1")
    parser.add_argument("--big-batch", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=5,
                        help="profile/run blocks interleaved per row (shared-machine drift)")
    parser.add_argument("--repeats", type=int, default=200, help="profile repeats per row")
    args = parser.parse_args()
    for name in ("samples_b1", "big_batch", "blocks"):
        check_integer(f"--{name.replace('_', '-')}", getattr(args, name), 1)
    if args.repeats < args.blocks:  # each block profiles repeats // blocks rounds
        raise ConfigError(f"--repeats: must be at least --blocks ({args.blocks}), got "
                          f"{args.repeats}")

    needed = [Path(args.model), Path(args.latency), Path(args.schedulers) / "index.json",
              Path(args.data) / "meta.json"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        paths = ("model", "latency", "schedulers", "data")
        if any(Path(getattr(args, name)).resolve() != Path(parser.get_default(name)).resolve()
               for name in paths):
            parser.error(f"missing: {', '.join(missing)}")  # paths the user gave
        print(f"skipped: pipeline artifacts missing ({', '.join(missing)}); run `dvc repro`")
        return
    device = resolve_device(args.device)
    latency = load_latency(args.latency)
    costs = np.asarray(latency["cumulative_ms"])
    threads = args.threads if args.threads is not None else int(latency.get("threads") or 1)
    index = json.loads((Path(args.schedulers) / "index.json").read_text())
    plan_batch = plan_batch_size(index, latency)
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    picked = [(m, e) for m in methods for e in pick_entries(index, m, args.budgets)]  # first
    model = load_trained(args.model).to(device)
    dataset = PreparedDataset(args.data, args.split)
    test = collect_exit_logits(model, dataset, device)

    with num_threads(threads):
        runs = {1: collate_split(model, dataset, 1, args.samples_b1, device),
                args.big_batch: collate_split(model, dataset, args.big_batch, None, device)}
        print(f"device {device} ({latency.get('device_name', '')}), threads {threads}, "
              f"profile {args.latency}: source {latency.get('source')}, batch "
              f"{latency.get('batch_size')}, decisions {latency.get('decision_policy')}, "
              f"cumulative ms/sample {np.round(costs, 4).tolist()}; plan_ref profiled at batch "
              f"{plan_batch}")
        full = {bs: run_full(model, data, device) for bs, data in runs.items()}  # accuracy
        rows = []
        for method, entry in picked:
            policy = load_policy(Path(args.schedulers) / entry["dir"])
            predictor = EarlyExitPredictor(model, policy, device=str(device))
            simulated = policy.decide(test.log_probs())
            for bs, data in runs.items():
                row = measure_row(model, policy, predictor, data, device, args)
                row.update(method=method, budget=entry["budget_ms"],
                           acc_full=full[bs][1], costs=policy.cost_table(costs),
                           plan_batch=plan_batch,
                           sim_ok=bool((row["result"].exits == simulated[:row["n"]]).all()))
                if row["bs"] > 1:
                    print_steps(method, entry["budget_ms"], row["sizes"], row["call_ms"])
                rows.append(format_row(row))
        print(HEADER)
        print("\n".join(rows))
    print(LEGEND)


HEADER = (f"{'method':8} {'budget':>7} {'batch':>5} {'n':>5} {'plan_ref':>8} {'planned':>8} "
          f"{'measured':>8} {'ratio':>6} {'r_mean':>6} {'robust':>6} {'r_ref':>6} "
          f"{'shrink':>8} {'r_shrink':>8} {'r_sh_med':>8} {'full':>7} {'speedup':>7} {'acc':>6} "
          f"{'acc_full':>8} {'sched_ms':>8} {'sched%':>6} {'sim_ok':>6}")

LEGEND = (
    "batch = the size of the row's calls (a split smaller than --big-batch: its size); planned "
    "= cost of the exits actually taken (ms/sample) from a profile of this policy at each "
    "call's batch size (forced exits: the whole call reaches exit k; a shorter last call at its "
    "own size); plan_ref = the pipeline's "
    "plan for this policy (the costs it was fitted with: the pipeline's profile plus its "
    "charged scoring cost), only on the row at the batch size it was profiled at; ratio = mean "
    "measured/planned; r_mean = mean measured / plan from the "
    "profile's means; robust = measured/planned with per-exit medians (batch 1); r_ref = robust "
    "(batch > 1: the mean) against plan_ref; shrink = plan with exit k's step costed at the "
    "batch size really present at exit k (profiled at powers of two, interpolated), r_shrink = "
    "measured/shrink, r_sh_med = median over calls of call ms / its shrink plan; full = "
    "mean ms of the whole model (every exit's head, no scoring) run the same way; speedup = "
    "full/early exit (medians at batch 1); sched = scoring, deciding, shrinking; sim_ok = "
    "exits equal the simulation")


def measure_row(model: MultiExitModel, policy, predictor: EarlyExitPredictor, data: list,
                device, args: argparse.Namespace) -> dict[str, Any]:
    """Profile this policy (forced exits, at the row's batch size `bs`, that of its largest
    call, at the smaller powers of two and at a shorter last call's size) in blocks
    interleaved with the real run and the full model; timings of one row. A split smaller
    than --big-batch runs as one call of its size and is planned at that size, as the measure
    stage does (it was planned at --big-batch)."""
    call_sizes = [len(labels) for _, labels in data]
    bs = max(call_sizes)
    sizes = np.union1d(profile_sizes(bs), call_sizes)
    calls = {int(b): prefix_calls(model, to_device(example_batch(model, int(b)), device), device,
                                  policy=policy) for b in sizes}  # in the weights' precision
    for size_calls in calls.values():
        warm_up(size_calls, device, 10)
    run_early_exit(predictor, data[:2], device)
    profiled: dict[int, list[np.ndarray]] = {b: [] for b in calls}
    parts, per_call, full_s = [], [], []
    starts = np.cumsum([0] + [len(labels) for _, labels in data])  # each call's first sample
    # no empty block (more blocks than calls: the full model's time of none divided by 0)
    for block in np.array_split(np.arange(len(data)), min(args.blocks, len(data))):
        chunk = [data[i] for i in block]
        for b, size_calls in calls.items():
            profiled[b].append(time_prefixes(size_calls, device, args.repeats // args.blocks))
        block_parts, seconds = run_early_exit(predictor, chunk, device, int(starts[block[0]]))
        parts += block_parts
        per_call.append(seconds)
        full_s.append(run_full(model, chunk, device)[0])
    samples = {b: np.concatenate(t) for b, t in profiled.items()}
    call_ms = np.stack([np.median(samples[int(b)], axis=0) for b in sizes])  # [S, K]
    mean_ms = np.stack([samples[int(b)].mean(axis=0) for b in sizes])
    result = EarlyExitResult.concatenate(parts)
    n = result.n_samples
    shrink_calls = shrink_plan_ms(sizes, call_ms, present_counts(parts, model.n_exits))
    per_call = np.concatenate(per_call)
    return {
        "result": result, "n": n, "bs": bs, "sizes": sizes, "call_ms": call_ms,
        "per_call": per_call, "full_s": np.concatenate(full_s),
        # each sample's planned ms (medians, means of the profile) at its call's size
        "plan": forced_plan_ms(parts, sizes, call_ms),
        "plan_mean": forced_plan_ms(parts, sizes, mean_ms),
        "shrink": float(shrink_calls.sum() / n),
        "r_shrink_median": float(np.median(1000.0 * per_call / shrink_calls)),
    }


def print_steps(method: str, budget: float, sizes: np.ndarray, call_ms: np.ndarray) -> None:
    """Per-sample ms of each exit's step (segment, head, scoring) at each profiled batch size:
    how much less efficient the smaller batches left after early exits are."""
    steps = step_ms(call_ms) / sizes[:, None]
    print(f"{method} {budget:.4f}: forced-exit ms/sample of each exit's step by batch size: "
          + "; ".join(f"b={b}: {np.round(st, 4).tolist()}" for b, st in zip(sizes, steps,
                                                                            strict=True)))


def format_row(row: dict[str, Any]) -> str:
    """One printed row of figures (ratios against each plan)."""
    result, bs, n = row["result"], row["bs"], row["n"]
    per_call, full_s = row["per_call"], row["full_s"]
    planned, planned_mean = float(row["plan"].mean()), float(row["plan_mean"].mean())
    # the pipeline's plan compares with a run at the batch size it was profiled at only
    at_plan = bs == row["plan_batch"]
    plan_ref = float(row["costs"][result.exits].mean()) if at_plan else float("nan")
    measured = 1000.0 * per_call.sum() / n
    full_ms = 1000.0 * full_s.sum() / n
    if bs == 1:  # medians, as the profile: per exit, then weighted by exit counts
        robust_abs = robust_ms_per_sample(1000.0 * per_call, result.exits, 1)
        robust, r_ref = robust_abs / planned, robust_abs / plan_ref
        speedup = float(np.median(full_s) * 1000.0) / robust_abs
    else:
        robust, r_ref, speedup = float("nan"), measured / plan_ref, full_ms / measured
    return (f"{row['method']:8} {row['budget']:7.4f} {bs:5d} {n:5d} {plan_ref:8.4f} "
            f"{planned:8.4f} {measured:8.4f} {measured / planned:6.3f} "
            f"{measured / planned_mean:6.3f} {robust:6.3f} {r_ref:6.3f} {row['shrink']:8.4f} "
            f"{measured / row['shrink']:8.3f} {row['r_shrink_median']:8.3f} {full_ms:7.4f} "
            f"{speedup:7.2f} {result.accuracy():6.2f} {row['acc_full']:8.2f} "
            f"{1000.0 * result.schedule_seconds / n:8.4f} "
            f"{100.0 * result.schedule_seconds / result.seconds:6.1f} {row['sim_ok']!s:>6}")


if __name__ == "__main__":
    script_cli(main)  # a device that is not there, a missing artifact: one line
