"""MSDNet: exit when the maximum softmax probability is high (geometric exit plan)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from eenet.schedulers.base import FittedPolicy
from eenet.schedulers.plans import geometric_plan
from eenet.schedulers.scores import max_log_prob

DEFAULTS: dict[str, Any] = {}


@dataclass
class MaxProbPolicy(FittedPolicy):
    """s_k = log max_c p_k(c) (monotone in METHOD.md's max p; no ties at 1.0)."""

    fixed_scores: ClassVar[bool] = True

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        return max_log_prob(log_probs)


def fit(
    log_probs: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any],
    seed: int,
) -> MaxProbPolicy:
    """Geometric plan solved so the planned cost is B; thresholds from validation scores."""
    policy = MaxProbPolicy("maxprob", budget_ms, np.zeros(log_probs.shape[0]),
        settings=dict(settings))
    policy.apply_plan(policy.scores(log_probs), geometric_plan(costs, budget_ms), costs)
    return policy
