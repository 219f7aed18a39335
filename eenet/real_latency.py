"""Real early exit of a saved model and fitted policy on a prepared split, without DVC.

Whether the policy fits the model (its exits, its classes, the architecture its costs were
profiled on), the split's first samples collated into model-ready batches before any timing,
and `measure_real_latency`: the measured ms/sample, exits and accuracy of such a run. What the
measure stage and `benchmarks/runtime.py` build on; the predictor itself is `eenet.runtime`.
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from eenet.batching import split_batches, to_device
from eenet.devices import memory_names, resolve_device
from eenet.errors import ArtifactError, naming
from eenet.models.base import MultiExitModel
from eenet.runtime import EarlyExitPredictor, EarlyExitResult, NoAnswerError, robust_ms_per_sample
from eenet.schedulers.base import ClassCount, FittedPolicy
from eenet.time_units import in_ms


def check_policy_for_model(policy: FittedPolicy, policy_dir: str | os.PathLike,
                           n_exits: int, num_classes: int,
                           model_dir: str | os.PathLike, *, label: str | None = None,
                           have: str | None = None, fitted_classes: ClassCount = None) -> None:
    """A policy fitted on another model's outputs (other exit count, or other classes where the
    policy records them or `fitted_classes` gives them) or planned with another architecture's
    costs (where it records the model of its latency profile) is a one-line ArtifactError,
    before any run. It begins with `label` (default: the policy's folder) and says what the
    model has as `have` does (default: "the model in <model_dir> has")."""
    where = str(policy_dir) if label is None else label
    with naming(where):
        policy.check_fits(n_exits, num_classes, have or f"the model in {model_dir} has",
                          fitted_classes)
    problem = planned_for_other_model(policy, model_dir)
    if problem:
        raise ArtifactError(f"{where}: {problem}")


def other_weights_note(policy: FittedPolicy, model_dir: str | os.PathLike,
                       named: str) -> str | None:
    """The note for a policy (`named`: how the caller names it, "--policy DIR") planned for
    other weights of the architecture in `model_dir` (retrained since): it runs, but its
    thresholds were set on that model's exit outputs. None where it records this model's
    weights, or none."""
    from eenet.models.artifact import other_weights

    if not other_weights(policy.model, model_dir):
        return None
    return (f"note: {named} was fitted for other weights of this model (retrained since?): "
            "its thresholds were set on that model's exit outputs, so its exit fractions and "
            f"cost may differ from its plan; refit it for {model_dir}")


def planned_for_other_model(policy: FittedPolicy, model_dir: str | os.PathLike) -> str | None:
    """What is wrong when `policy` was planned with the latency profile of another
    architecture than the trained model's in `model_dir` (None: the same, or not recorded)."""
    from eenet.models.artifact import architecture_mismatch

    mismatch = architecture_mismatch(policy.model, model_dir)
    if mismatch is None:
        return None
    return f"planned with the costs of {mismatch}; fit it with this model's latency profile"


def collate_split(
    model: MultiExitModel, dataset: Dataset, batch_size: int, limit: int | None,
    device: torch.device,
) -> list[tuple[Any, torch.Tensor]]:
    """The first `limit` samples (all when None or 0), exactly, as model-ready (inputs on
    `device`, labels) batches, in order: collated before any timing."""
    return [(to_device(inputs, device), labels)
            for inputs, labels in split_batches(dataset, model, batch_size, limit=limit)]


def data_named(data_dir: str | os.PathLike, split: str) -> AbstractContextManager[None]:
    """Samples the model gives no answer for (its logits overflow, `NoAnswerError`): the
    error names the split's file, `DATA_DIR/SPLIT.npz`, as `eenet predict --data`'s does."""
    return naming(str(Path(data_dir) / f"{split}.npz"), NoAnswerError)


def measure_real_latency(
    model_dir: str | os.PathLike,
    policy_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    batch_size: int = 1,
    *,
    split: str = "test",
    device: str = "auto",
    threads: int = 1,
    limit: int | None = None,
    warmup_batches: int = 2,
) -> dict[str, Any]:
    """Real early exit of a saved model + policy on a prepared split, without DVC.

    `limit` caps the samples run (None or 0: the whole split). Batches are collated before
    timing; the first `warmup_batches` are run untimed. Returns plain data: the batch size
    it ran at (fewer samples: their one batch), mean ms/sample, `robust_ms_per_sample` (the
    measure stage's and `eenet predict`'s statistic: at batch 1 each exit's median call
    weighted by the samples leaving there, else the median over calls),
    `median_ms_per_sample` (the plain median over calls: at batch 1 about the cost of the exit
    most samples take), each call's ms/sample, scheduler ms/sample, exit fractions, accuracy,
    and the exits' ids so a caller can compare with a plan.
    """
    from eenet.checks import THREADS_MAX, check_minimums
    from eenet.data.prepared import split_for_model
    from eenet.devices import num_threads
    from eenet.models.artifact import load_trained, read_trained_config
    from eenet.schedulers import load_policy

    check_minimums("measure_real_latency", {
        "batch_size": (batch_size, 1), "threads": (threads, 0),
        "warmup_batches": (warmup_batches, 0), "limit": (0 if limit is None else limit, 0)},
        {"threads": THREADS_MAX})
    target = resolve_device(device)
    model = load_trained(model_dir)
    policy = load_policy(policy_dir)
    check_policy_for_model(policy, policy_dir, model.n_exits,
                           int(read_trained_config(model_dir)["num_classes"]), model_dir)
    note = other_weights_note(policy, model_dir, f"measure_real_latency: policy {policy_dir}")
    if note:  # as `eenet predict` notes it
        print(note, file=sys.stderr)
    predictor = EarlyExitPredictor(model, policy, device=str(target))
    batches = collate_split(model, split_for_model(model, model_dir, data_dir, split),
                            batch_size, limit, target)
    with num_threads(threads), memory_names("measure_real_latency.batch_size", batch_size), \
            data_named(data_dir, split):
        predictor.predict_in_order(batches[:warmup_batches])  # untimed; errors name the index
        parts = predictor.predict_in_order(batches)
        used_threads = torch.get_num_threads()
    if not parts:
        raise ArtifactError(f"{data_dir}: split {split!r} has no samples")
    result = EarlyExitResult.concatenate(parts)
    per_call = result.call_ms_per_sample()
    n = result.n_samples
    return {
        "method": policy.method,
        # the policy's budget in its cost unit, and in ms where that is a time (else None)
        "cost_unit": policy.cost_unit,
        "budget": float(policy.budget_ms),
        "budget_ms": in_ms(policy.budget_ms, policy.cost_unit),
        # the batch it ran at: fewer samples than `batch_size` ran as one smaller batch, as
        # `eenet predict` and the measure stage report it
        "batch_size": max(part.n_samples for part in parts),
        "n_samples": n,
        "device": str(target),  # with its index: cuda:1
        "threads": used_threads,
        "ms_per_sample": 1000.0 * result.seconds / n,
        # batch 1: each exit's median call weighted by its samples (as the measure stage)
        "robust_ms_per_sample": robust_ms_per_sample(per_call, result.exits, batch_size),
        "median_ms_per_sample": float(np.median(per_call)),  # plain median over calls
        "call_ms": per_call.tolist(),  # ms/sample of each call, in order
        "schedule_ms_per_sample": 1000.0 * result.schedule_seconds / n,
        "exit_fractions": result.exit_fractions(model.n_exits).tolist(),
        "accuracy": result.accuracy(),
        "exits": result.exits.tolist(),
    }
