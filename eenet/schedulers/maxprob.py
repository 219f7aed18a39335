"""MSDNet: exit when the maximum softmax probability is high (geometric exit plan)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from eenet.schedulers.base import ScoreCache
from eenet.schedulers.heuristic import HeuristicPolicy, fit_geometric
from eenet.schedulers.scores import max_log_prob

DEFAULTS: dict[str, Any] = {}


@dataclass(eq=False)  # compared by identity: fields hold numpy arrays
class MaxProbPolicy(HeuristicPolicy):
    """s_k = log max_c p_k(c) (monotone in docs/method.md's max p; far fewer ties than max p)."""

    def exit_score(self, log_probs: np.ndarray) -> np.ndarray:
        return max_log_prob(log_probs)


def fit(
    log_probs: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any],
    seed: int,
    *,
    settings_param: str = "settings",
    cache: ScoreCache | None = None,
) -> MaxProbPolicy:
    """Geometric plan solved so the planned cost is B; thresholds from validation scores
    (`cache`: scores shared by the fits on these `log_probs`). `settings_param` (what the
    caller called the settings) names nothing: no settings."""
    return fit_geometric(MaxProbPolicy, "maxprob", log_probs, costs, budget_ms, settings, cache)
