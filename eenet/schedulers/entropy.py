"""BranchyNet: exit when the normalised entropy is low (geometric exit plan)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from eenet.schedulers.base import FittedPolicy
from eenet.schedulers.plans import geometric_plan
from eenet.schedulers.scores import neg_normalised_entropy

DEFAULTS: dict[str, Any] = {}


@dataclass
class EntropyPolicy(FittedPolicy):
    """s_k = -H(p_k)/log C (METHOD.md's 1 - H/log C shifted by a constant)."""

    fixed_scores: ClassVar[bool] = True

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        return neg_normalised_entropy(log_probs)


def fit(
    log_probs: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any],
    seed: int,
) -> EntropyPolicy:
    """Geometric plan solved so the planned cost is B; thresholds from validation scores."""
    policy = EntropyPolicy("entropy", budget_ms, np.zeros(log_probs.shape[0]),
        settings=dict(settings))
    policy.apply_plan(policy.scores(log_probs), geometric_plan(costs, budget_ms), costs)
    return policy
