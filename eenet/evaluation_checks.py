"""The checks of what `eenet.evaluation.evaluate_policies` is given: one split's
log-probabilities, hits and costs, and one budget per policy (one-line errors naming each)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eenet.costs import validate_costs
from eenet.errors import ArtifactError, ConfigError
from eenet.outputs import ExitOutputs, check_logit_values
from eenet.schedulers.base import FittedPolicy, check_float64, check_log_probabilities
from eenet.schedulers.plans import check_budget

# what evaluate_policies takes, for an ExitOutputs given in the place of an array
FROM_OUTPUTS = "pass outputs.log_probs() and outputs.correct() (or outputs.log_probs_and_correct())"


def check_evaluation_inputs(
    policies: Sequence[FittedPolicy | None], budgets_ms: Sequence[float],
    log_probs: np.ndarray, correct: np.ndarray, costs: Any,
) -> np.ndarray:
    """The costs as float64 [n_exits] once `policies` (None: the oracle) and `budgets_ms` pair
    up, `log_probs` are float64 log-probabilities [n_exits, n_samples, n_classes] of the
    costs' exits, each row with an answer (`check_logit_values`), `correct` is bool [n_exits,
    n_samples], each policy was fitted for these exits and classes, and each oracle budget
    is feasible; else a one-line ArtifactError or ConfigError naming the argument. Decided
    unchecked, raw logits or float32 gave wrong figures without a word."""
    if len(policies) != len(budgets_ms):
        raise ConfigError(f"budgets_ms: {len(budgets_ms)} budgets for {len(policies)} "
                          "policies; give one budget per policy (None: the oracle)")
    costs = validate_costs(costs)
    shape = _array_shape(log_probs, "log_probs", "float64 log-probabilities [exits, samples, "
                         "classes]", 3)
    if shape[0] != len(costs):
        raise ArtifactError(f"log_probs: {shape[0]} exits, but costs list {len(costs)}")
    hits_shape = _array_shape(correct, "correct", "bool hits [exits, samples]", 2)
    if hits_shape != shape[:2] or correct.dtype != np.bool_:
        raise ArtifactError(f"correct: expected bool hits of shape {shape[:2]} (the "
                            f"log-probabilities' exits and samples), got {correct.dtype} "
                            f"{hits_shape}")
    fitted = [policy for policy in policies if policy is not None]
    for policy in fitted:
        policy.check_fits(shape[0], shape[2], "the log-probabilities have")
    if fitted:
        check_float64(log_probs, fitted[0].method)
        check_log_probabilities(log_probs)
        check_logit_values(log_probs, "log_probs", "log-probabilities")  # -inf: masked classes
    for i, (policy, budget) in enumerate(zip(policies, budgets_ms, strict=True)):
        if policy is None:
            check_budget(costs, budget, f"budgets_ms[{i}]")
    return costs


def _array_shape(value: Any, name: str, expected: str, ndim: int) -> tuple[int, ...]:
    """The shape of `value`, a numpy array of `ndim` axes, else a one-line ArtifactError
    naming `name` and what it should be (`expected`)."""
    if isinstance(value, ExitOutputs):
        raise ArtifactError(f"{name}: expected {expected}, got ExitOutputs: {FROM_OUTPUTS}")
    if not isinstance(value, np.ndarray) or value.ndim != ndim:
        got = f"shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
        raise ArtifactError(f"{name}: expected {expected} as a numpy array, got {got}")
    return value.shape
