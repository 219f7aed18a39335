"""Benchmark: does real early exit cost what the latency profile planned?

For one method at 3 budgets of the fitted sweep, on the test split: measured mean ms/sample of
real early exit (`EarlyExitPredictor`) at batch 1 and batch 64, against the cost the profile
plans for exactly those samples' exits (sum of cumulative exit costs / N); the speed-up over
running the full model the same way, with both accuracies; the scheduler's own overhead.
`planned` comes from profiling this very policy here with the profiler's own functions
(`prefix_calls` + `time_prefixes`: the runtime forced to each exit, the policy's scorer
included) at the batch size of the row, in blocks interleaved with the real run; `plan_ref`
from the `--latency` table (the pipeline's profile, reference max-probability decision work,
batch 1). Prints figures;
asserts nothing.

Usage (from the repository root, after `dvc repro`):
    python -m benchmarks.runtime [--model artifacts/model] [--latency artifacts/latency.json]
        [--schedulers artifacts/schedulers] [--data data/mnist1d] [--method eenet]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eenet.data.prepared import PreparedDataset
from eenet.inference import collect_exit_logits
from eenet.models.artifact import load_trained
from eenet.models.base import MultiExitModel
from eenet.outputs import load_latency
from eenet.profiling import num_threads, prefix_calls, resolve_device, run_prefix, time_prefixes
from eenet.runtime import EarlyExitPredictor, EarlyExitResult
from eenet.schedulers import load_policy
from eenet.training import make_loader, to_device


def batches(model: MultiExitModel, dataset, batch_size: int, limit: int) -> list[tuple[Any, Any]]:
    """Pre-collated (inputs, labels) batches of the first `limit` samples (loading untimed)."""
    out, seen = [], 0
    for inputs, labels in make_loader(dataset, model, batch_size, shuffle=False, seed=0):
        out.append((inputs, labels))
        seen += len(labels)
        if seen >= limit:
            break
    return out


def run_early_exit(
    predictor: EarlyExitPredictor, data: list, device
) -> tuple[EarlyExitResult, np.ndarray]:
    """The concatenated result and the seconds of each call, timed from outside the call (what
    a caller sees, as the profile times it)."""
    parts, seconds = [], []
    for inputs, labels in data:
        inputs = to_device(inputs, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        part = predictor.predict(inputs)
        seconds.append(time.perf_counter() - start)
        part.labels = labels.numpy()
        parts.append(part)
    return EarlyExitResult.concatenate(parts), np.array(seconds)


def result_exits(parts: list[EarlyExitResult]) -> np.ndarray:
    return np.concatenate([p.exits for p in parts])


def robust_ms(per_call: np.ndarray, exits: np.ndarray, n_exits: int) -> float:
    """Batch 1: mean over samples of the median ms of the samples that left at the same exit
    (robust to other processes on a shared machine, like the profile's median)."""
    ms = 1000.0 * per_call
    return float(sum(np.median(ms[exits == k]) * (exits == k).sum()
                     for k in range(n_exits) if (exits == k).any()) / exits.size)


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
        correct += int((logits.argmax(-1) == labels.numpy()).sum())
        n += len(labels)
    return np.asarray(seconds), 100.0 * correct / n


def pick_entries(index: dict[str, Any], method: str, budgets: list[float] | None) -> list[dict]:
    """Three fitted entries of `method`: the requested budgets, or 25/50/75 % of the sweep."""
    entries = sorted((e for e in index["entries"] if e["method"] == method),
                     key=lambda e: e["budget_ms"])
    if not entries:
        methods = sorted({e["method"] for e in index["entries"]})
        raise SystemExit(f"no fitted {method!r} schedulers; fitted methods: {methods}")
    if budgets:
        return [min(entries, key=lambda e, b=b: abs(e["budget_ms"] - b)) for b in budgets]
    below = [e for e in entries if e["budget_ms"] < index["costs_ms"][-1]] or entries
    picks = np.unique(np.round(np.linspace(0.2, 0.8, 3) * (len(below) - 1)).astype(int))
    return [below[i] for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="artifacts/model")
    parser.add_argument("--latency", default="artifacts/latency.json")
    parser.add_argument("--schedulers", default="artifacts/schedulers")
    parser.add_argument("--data", default="data/mnist1d")
    parser.add_argument("--split", default="test")
    parser.add_argument("--method", default="eenet")
    parser.add_argument("--budgets", type=float, nargs="*", help="ms; default 25/50/75 %% of sweep")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="default: the profile's")
    parser.add_argument("--samples-b1", type=int, default=1000, help="samples timed at batch 1")
    parser.add_argument("--big-batch", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=5,
                        help="profile/run blocks interleaved per row (shared-machine drift)")
    parser.add_argument("--repeats", type=int, default=200, help="profile repeats per row")
    args = parser.parse_args()

    needed = [Path(args.model), Path(args.latency), Path(args.schedulers) / "index.json",
              Path(args.data) / "meta.json"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        print(f"skipped: pipeline artifacts missing ({', '.join(missing)}); run `dvc repro`")
        return
    device = resolve_device(args.device)
    latency = load_latency(args.latency)
    costs = np.asarray(latency["cumulative_ms"])
    threads = args.threads if args.threads is not None else int(latency.get("threads") or 1)
    index = json.loads((Path(args.schedulers) / "index.json").read_text())
    model = load_trained(args.model).to(device)
    dataset = PreparedDataset(args.data, args.split)
    test = collect_exit_logits(model, dataset, device)

    with num_threads(threads):
        runs = {1: batches(model, dataset, 1, args.samples_b1),
                args.big_batch: batches(model, dataset, args.big_batch, len(dataset))}
        print(f"device {device} ({latency.get('device_name', '')}), threads {threads}, "
              f"profile {args.latency}: source {latency.get('source')}, batch "
              f"{latency.get('batch_size')}, decisions {latency.get('decision_policy')}, "
              f"cumulative ms/sample {np.round(costs, 4).tolist()}")
        full = {bs: run_full(model, data, device) for bs, data in runs.items()}  # accuracy
        header = (f"{'method':8} {'budget':>7} {'batch':>5} {'n':>5} {'plan_ref':>8} "
                  f"{'planned':>8} {'measured':>8} {'ratio':>6} {'r_mean':>6} {'robust':>6}"
                  f" {'r_ref':>6} "
                  f"{'full':>7} {'speedup':>7} {'acc':>6} {'acc_full':>8} {'sched_ms':>8} "
                  f"{'sched%':>6} {'sim_ok':>6}")
        rows = []
        for entry in pick_entries(index, args.method, args.budgets):
            policy = load_policy(Path(args.schedulers) / entry["dir"])
            predictor = EarlyExitPredictor(model, policy, device=str(device))
            simulated = policy.decide(test.log_probs())
            plans: dict[int, np.ndarray] = {}
            for bs, data in runs.items():
                # the profiler's own measurement of this policy (the runtime forced to each
                # exit, its scorer included), interleaved in blocks with the real run so that
                # load from other processes hits plan and measurement alike
                calls = prefix_calls(model, to_device(model.example_inputs(bs), device), device,
                                     policy=policy)
                time_prefixes(calls, device, 10)  # warm-up
                run_early_exit(predictor, data[:2], device)
                profiled, parts, per_call, full_s = [], [], [], []
                for block in np.array_split(np.arange(len(data)), args.blocks):
                    chunk = [data[i] for i in block]
                    profiled.append(time_prefixes(calls, device, args.repeats // args.blocks))
                    part, seconds = run_early_exit(predictor, chunk, device)
                    parts.append(part)
                    per_call.append(seconds)
                    full_s.append(run_full(model, chunk, device)[0])
                full_s = np.concatenate(full_s)
                profiled = np.concatenate(profiled)
                plans[bs] = np.median(profiled, axis=0) / bs
                planned_mean = float((profiled.mean(axis=0) / bs)[result_exits(parts)].mean())
                result = EarlyExitResult.concatenate(parts)
                per_call = np.concatenate(per_call)
                n = result.n_samples
                planned = float(plans[bs][result.exits].mean())
                plan_ref = float(costs[result.exits].mean()) if bs == 1 else float("nan")
                measured = 1000.0 * per_call.sum() / n
                full_ms = 1000.0 * full_s.sum() / n
                if bs == 1:  # medians, as the profile: per exit, then weighted by exit counts
                    robust_abs = robust_ms(per_call, result.exits, model.n_exits)
                    robust = robust_abs / planned
                    speedup = float(np.median(full_s) * 1000.0) / robust_abs
                    r_ref = robust_abs / plan_ref
                else:
                    robust, r_ref, speedup = float("nan"), float("nan"), full_ms / measured
                if bs == args.big_batch:
                    print(f"{args.method} {entry['budget_ms']:.4f}: profiled ms/sample with its "
                          "scorer " + ", ".join(f"batch {b}: {np.round(c, 4).tolist()}"
                                                for b, c in plans.items()))
                rows.append(f"{args.method:8} {entry['budget_ms']:7.4f} {bs:5d} {n:5d} "
                            f"{plan_ref:8.4f} {planned:8.4f} {measured:8.4f} "
                            f"{measured / planned:6.3f} {measured / planned_mean:6.3f} "
                            f"{robust:6.3f} {r_ref:6.3f} "
                            f"{full_ms:7.4f} {speedup:7.2f} {result.accuracy():6.2f} "
                            f"{full[bs][1]:8.2f} {1000.0 * result.schedule_seconds / n:8.4f} "
                            f"{100.0 * result.schedule_seconds / result.seconds:6.1f} "
                            f"{bool((result.exits == simulated[:n]).all())!s:>6}")
        print(header)
        print("\n".join(rows))
    print("planned = cost of the exits actually taken (ms/sample) from a profile of this "
          "policy at this batch size; plan_ref = the same from --latency (batch 1); ratio = mean "
          "measured/planned; r_mean = mean measured / plan from the profile's means; robust = "
          "measured/planned with per-exit medians (batch 1); r_ref = robust "
          "against plan_ref; full = mean ms "
          "of the whole model run the same way; speedup = full/early exit (medians at batch 1);"
          " sched = scoring, deciding, shrinking; sim_ok = exits equal the simulation")


if __name__ == "__main__":
    main()
