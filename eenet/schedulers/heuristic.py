"""What the heuristic exit rules share: a fixed per-exit confidence score and the geometric plan.

MSDNet (`maxprob`) and BranchyNet (`entropy`) differ only in the score of one exit's
log-probabilities; each module gives that function to `HeuristicPolicy` and fits with
`fit_geometric` (a sweep's fits on one split share the scores: `ScoreCache`). The score of
exit k reads exit k alone, so real early exit scores one exit per step (`score_step`) with no
state between exits.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from eenet.schedulers.base import FittedPolicy, ScoreCache
from eenet.schedulers.plans import geometric_plan

P = TypeVar("P", bound="HeuristicPolicy")


@dataclass(eq=False)  # compared by identity: fields hold numpy arrays
class HeuristicPolicy(FittedPolicy):
    """s_k = `exit_score`(log-probabilities of exit k); subclasses define `exit_score`."""

    fixed_scores: ClassVar[bool] = True
    plan_name: ClassVar[str | None] = "geometric"

    @abstractmethod
    def exit_score(self, log_probs: np.ndarray) -> np.ndarray:
        """Scores [..., N] from log-probabilities [..., N, C], independently per leading index."""

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        return self.exit_score(log_probs)

    def score_step(
        self, k: int, history: np.ndarray, carry: np.ndarray | None
    ) -> tuple[np.ndarray, None]:
        """Exit k's scores from exit k alone (no carry): O(1) exits of work per step."""
        return self.exit_score(history[k]), None


def fit_geometric(
    policy_cls: type[P],
    method: str,
    log_probs: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any],
    cache: ScoreCache | None = None,
) -> P:
    """Geometric plan solved so the planned cost is B; thresholds from validation scores
    (taken from `cache`, the fits' on these `log_probs`, where another fit computed them)."""
    policy = policy_cls(method, budget_ms, np.zeros(log_probs.shape[0]), settings=dict(settings))
    policy.apply_plan(policy.scores_cached(log_probs, cache), geometric_plan(costs, budget_ms),
                      costs)
    return policy
