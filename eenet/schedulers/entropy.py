"""BranchyNet: exit when the normalised entropy is low (geometric exit plan)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from eenet.schedulers.base import ScoreCache
from eenet.schedulers.heuristic import HeuristicPolicy, fit_geometric
from eenet.schedulers.scores import neg_normalised_entropy

DEFAULTS: dict[str, Any] = {}


@dataclass(eq=False)  # compared by identity: fields hold numpy arrays
class EntropyPolicy(HeuristicPolicy):
    """s_k = -H(p_k)/log C (docs/method.md's 1 - H/log C shifted by a constant)."""

    def exit_score(self, log_probs: np.ndarray) -> np.ndarray:
        return neg_normalised_entropy(log_probs)


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
) -> EntropyPolicy:
    """Geometric plan solved so the planned cost is B; thresholds from validation scores
    (`cache`: scores shared by the fits on these `log_probs`). `settings_param` (what the
    caller called the settings) names nothing: no settings."""
    return fit_geometric(EntropyPolicy, "entropy", log_probs, costs, budget_ms, settings, cache)
