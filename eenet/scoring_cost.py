"""What a scheduler's own scoring costs during real early exit, per exit, on this host.

The latency profile times the runtime with the reference scorer (max log-probability, the
cheapest). EENet's learned scorer (features + its members' networks, numpy on the host) costs
more per scored exit; this module measures how much more, so that plans can charge it:
`extra_ms[k]` is the additional ms/sample of reaching exit k (scoring happens at exits
0..K-2 of a sample's path). What the profile_scoring stage runs; usable without DVC.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from eenet.config import check_minimums
from eenet.errors import ArtifactError
from eenet.jsonio import read_json_object
from eenet.schedulers.base import FittedPolicy

REFERENCE = "maxprob"
# the schedulers.eenet settings that shape the learned scorer (and so its cost)
ARCHITECTURE = ("top_probs", "agreement", "log_scale", "hidden", "folds")


def time_scoring(
    policies: Mapping[str, FittedPolicy],
    log_probs: np.ndarray,
    batch_size: int = 1,
    warmup: int = 100,
    repeats: int = 1000,
) -> dict[str, np.ndarray]:
    """Median ms/sample of each policy's `score_step` at exits 0..K-2, {name: [K-1]}.

    Calls are chained as the runtime chains them (the carry passed on), on the first
    `batch_size` samples of `log_probs` [K, N, C]; the policies take turns within every
    repeat, so a slow moment of the machine hits each alike.
    """
    check_minimums("scoring", {"batch_size": (batch_size, 1), "warmup": (warmup, 0),
                               "repeats": (repeats, 1)})
    n_exits = log_probs.shape[0]
    rows = np.arange(batch_size) % log_probs.shape[1]
    history = np.ascontiguousarray(np.asarray(log_probs, dtype=np.float64)[: n_exits - 1][:, rows])
    clock = time.perf_counter_ns
    samples = {name: np.zeros((repeats, n_exits - 1)) for name in policies}
    for repeat in range(warmup + repeats):
        for name, policy in policies.items():
            carry = None
            for k in range(n_exits - 1):
                start = clock()
                _, carry = policy.score_step(k, history[: k + 1], carry)
                if repeat >= warmup:
                    samples[name][repeat - warmup, k] = clock() - start
    return {name: np.median(t, axis=0) / 1e6 / batch_size for name, t in samples.items()}


def extra_costs(scoring_ms: np.ndarray, reference_ms: np.ndarray) -> np.ndarray:
    """Additional cumulative ms/sample of reaching each exit, [K], from per-exit scoring times
    [K-1] of a scorer and of the reference: exit k pays the differences at exits 0..min(k, K-2)."""
    step = np.asarray(scoring_ms, dtype=np.float64) - np.asarray(reference_ms, dtype=np.float64)
    cumulative = np.cumsum(step)
    return np.append(cumulative, cumulative[-1] if cumulative.size else 0.0)


def profile_scoring(
    log_probs: np.ndarray,
    eenet_settings: Mapping[str, Any] | None = None,
    *,
    charge: bool = True,
    batch_size: int = 1,
    warmup: int = 100,
    repeats: int = 1000,
) -> dict[str, Any]:
    """The scoring table the pipeline plans with: EENet's learned scorer (configured
    architecture) timed against the reference on validation log-probabilities [K, N, C].
    `charge` False records zeros (plans then ignore scoring cost beyond the reference's)."""
    from eenet.profiling import reference_policy
    from eenet.schedulers.eenet import untrained_policy

    n_exits, _, n_classes = log_probs.shape
    table: dict[str, Any] = {"charged": bool(charge), "reference": REFERENCE,
                             "batch_size": batch_size, "device": "host cpu (numpy)"}
    if not charge or n_exits < 2:
        table["extra_ms"] = {"eenet": [0.0] * n_exits}
        return table
    times = time_scoring(
        {REFERENCE: reference_policy(n_exits),
         "eenet": untrained_policy(n_exits, n_classes, eenet_settings)},
        log_probs, batch_size, warmup, repeats,
    )
    table.update(
        warmup=warmup,
        repeats=repeats,
        scoring_ms={name: t.tolist() for name, t in times.items()},
        extra_ms={"eenet": extra_costs(times["eenet"], times[REFERENCE]).tolist()},
    )
    return table


def load_scoring(path: str | os.PathLike, n_exits: int | None = None) -> dict[str, Any]:
    """A scoring table written by `profile_scoring`, for `n_exits` exits if given (one-line
    ArtifactError if malformed or for another number of exits)."""
    table = read_json_object(path, "scoring table", "run profile_scoring",
                             required=("charged", "extra_ms"))
    extra = table["extra_ms"]
    if not isinstance(extra, dict) or not isinstance(extra.get("eenet"), list) or not all(
        isinstance(v, int | float) and np.isfinite(v) for v in extra["eenet"]
    ):
        raise ArtifactError(f"{path}: extra_ms.eenet must be a list of finite numbers")
    if n_exits is not None and len(extra["eenet"]) != n_exits:
        raise ArtifactError(f"{path}: {len(extra['eenet'])} exits, the latency table has "
                            f"{n_exits}; rerun profile_scoring")
    return table
