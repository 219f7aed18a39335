"""Does real early exit cost what was planned? Measure it at the headline budget.

For every method fitted at the headline budget: run the model with real early exit
(`measure_real_latency`) on the first samples of a split, and compare the measured ms/sample
with the cost the pipeline planned for exactly those samples' exits (mean of the policy's
planned cumulative cost of each sample's exit: the profile's, plus its charged scoring cost),
and with a profile of the running policy itself taken
now on this machine (its own scorer's cost included, the machine's current load). Also checks
that the real exits equal the simulated ones from the dumped logits. What the measure stage
runs; usable without DVC.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from eenet.errors import ArtifactError, ConfigError
from eenet.outputs import load_exit_outputs, load_latency
from eenet.sweep import read_index


def robust_ms_per_sample(call_ms: np.ndarray, exits: np.ndarray, batch_size: int) -> float:
    """A load-robust ms/sample, the profile's statistic. Batch 1: the median ms of the samples
    leaving at each exit, averaged with the exits' counts; larger batches: median over calls."""
    if batch_size > 1:
        return float(np.median(call_ms))
    return float(sum(np.median(call_ms[exits == k]) * np.count_nonzero(exits == k)
                     for k in np.unique(exits)) / exits.size)


def _check(settings: dict[str, Any]) -> None:
    for name, low in (("batch_size", 1), ("limit", 0), ("threads", 0), ("warmup", 0),
                      ("repeats", 1)):
        value = settings[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"measure.{name}: must be an integer >= {low}, got {value!r}")


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
    threads: int = 1,
    device: str = "auto",
    warmup: int = 20,
    repeats: int = 200,
) -> dict[str, Any]:
    """Measured vs planned ms/sample of real early exit at the headline budget, per method.

    `limit` caps the test samples run (0 = the whole split); `warmup` untimed batches precede
    each timed run, and `warmup` / `repeats` also drive the profile of each running policy (as
    in the profile stage). Returns plain data (the measure
    stage's metrics JSON); `enabled` False returns `{"enabled": False}` and measures nothing.
    """
    if not enabled:
        return {"enabled": False}
    settings = {"batch_size": batch_size, "limit": limit, "threads": threads,
                "warmup": warmup, "repeats": repeats}
    _check(settings)
    from eenet.models.artifact import load_trained
    from eenet.profiling import profile_model
    from eenet.runtime import measure_real_latency
    from eenet.schedulers import load_policy

    latency = load_latency(latency_json)
    planned_costs = np.asarray(latency["cumulative_ms"], dtype=np.float64)
    index = read_index(scheduler_dir)
    headline = float(index["headline_ms"])
    test = load_exit_outputs(test_npz)
    log_probs = test.log_probs()
    model = load_trained(model_dir)
    if model.n_exits != planned_costs.size:
        raise ArtifactError(f"{latency_json}: {planned_costs.size} exits, the model in "
                            f"{model_dir} has {model.n_exits}")
    methods: dict[str, Any] = {}
    for entry in index["entries"]:
        if not np.isclose(float(entry["budget_ms"]), headline):
            continue
        policy_dir = Path(scheduler_dir) / entry["dir"]
        real = measure_real_latency(model_dir, policy_dir, data_dir, batch_size,
                                    device=device, threads=threads, limit=limit or None,
                                    warmup_batches=max(2, warmup))
        exits = np.asarray(real["exits"], dtype=np.int64)
        n = exits.size
        if n > log_probs.shape[1]:
            raise ArtifactError(f"{test_npz}: {log_probs.shape[1]} samples, the split in "
                                f"{data_dir} has more; rerun dump_logits")
        policy = load_policy(policy_dir)
        simulated = policy.decide(log_probs[:, :n])
        own = profile_model(model, device=device, batch_size=batch_size, threads=threads,
                            warmup=warmup, repeats=repeats, policy=policy)
        own_costs = np.asarray(own["cumulative_ms"])
        call_ms = np.asarray(real["call_ms"])
        robust = robust_ms_per_sample(call_ms, exits, batch_size)
        plan = policy.cost_table(planned_costs)  # the profile + its charged scoring cost
        planned, planned_own = float(plan[exits].mean()), float(own_costs[exits].mean())
        methods[entry["method"]] = {
            "ms_per_sample": real["ms_per_sample"],
            "robust_ms_per_sample": robust,
            "planned_ms": planned,
            "ratio": real["ms_per_sample"] / planned,
            "ratio_robust": robust / planned,
            "own_profile_planned_ms": planned_own,
            "ratio_own_profile": real["ms_per_sample"] / planned_own,
            "ratio_own_profile_robust": robust / planned_own,
            "schedule_ms_per_sample": real["schedule_ms_per_sample"],
            "accuracy": real["accuracy"],
            "exit_fractions": real["exit_fractions"],
            "exits_match_simulation": bool(np.array_equal(exits, simulated)),
        }
    if not methods:
        raise ArtifactError(f"{scheduler_dir}: no scheduler fitted at the headline budget "
                            f"{headline:.6g} ms")
    return {
        "enabled": True,
        "budget_ms": headline,
        "batch_size": batch_size,
        "n_samples": n,
        "device": real["device"],
        "threads": real["threads"],
        "plan": str(latency.get("source", "measured")),
        "methods": methods,
    }
