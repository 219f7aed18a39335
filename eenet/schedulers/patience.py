"""PABEE: leave once the prediction has stayed the same for P consecutive exits.

The budget picks P and, between two P, a mix: the score is s_k = n_k + max_c p_k / 2, where
n_k counts the consecutive exits up to k that agree with exit k's prediction. One threshold t,
shared by exits 0..K-2 and solved on validation so the cost meets the budget, means: leave
when n_k >= P = ceil(t), or n_k == floor(t) and the exit is confident enough. The confidence
tie-break makes the mix deterministic (no random coin per sample). Where many samples still tie
at t (max p saturated at exactly 1.0), a share of them leaves (`thresholds.tie_uniforms`), solved so
the validation cost meets the budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from eenet.schedulers.base import FittedPolicy, ScoreCache
from eenet.schedulers.plans import bisect_to_budget, no_early_exit, solve_monotone_threshold
from eenet.schedulers.scores import patience_counts
from eenet.schedulers.thresholds import first_exit, mean_cost

DEFAULTS: dict[str, Any] = {}
_TIE_BISECT_STEPS = 40  # q to 1e-12: finer than the gap between two samples' tie numbers


@dataclass(eq=False)  # compared by identity: fields hold numpy arrays
class PatiencePolicy(FittedPolicy):
    """Patience count plus half the max probability (tie-break within one patience level)."""

    fixed_scores: ClassVar[bool] = True
    plan_name: ClassVar[str | None] = "shared_threshold"  # one threshold for exits 0..K-2

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        counts = patience_counts(log_probs).astype(np.float64)
        return counts + 0.5 * np.exp(np.asarray(log_probs, dtype=np.float64).max(axis=-1))

    def score_step(
        self, k: int, history: np.ndarray, carry: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exit k's scores from exit k and the carry: int64 [N, 2] = (exit k-1's prediction,
        its patience count) per sample; returns exit k's (prediction, count) as the new carry.
        Without a carry (exit 0, or a caller starting late) the counts come from `history`."""
        log_probs = history[k]  # float64 [N, C]
        preds = log_probs.argmax(axis=-1)
        if carry is None:
            counts = patience_counts(history[:k + 1])[k]
        else:
            counts = np.where(preds == carry[:, 0], carry[:, 1] + 1, 1)
        score = counts + 0.5 * np.exp(log_probs.max(axis=-1))  # int64 + float64: as `scores`
        state = np.empty((preds.size, 2), dtype=np.int64)
        state[:, 0], state[:, 1] = preds, counts
        return score, state


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
) -> PatiencePolicy:
    """One threshold for exits 0..K-2, chosen so the validation cost is closest to B
    (`cache`: scores shared by the fits on these `log_probs`). `settings_param` (what the
    caller called the settings) names nothing: no settings."""
    n_exits = log_probs.shape[0]
    policy = PatiencePolicy("patience", budget_ms, np.full(n_exits, np.inf), settings=settings)
    policy.thresholds[-1] = -np.inf
    scores = policy.scores_cached(log_probs, cache)
    if budget_ms <= costs[0]:  # the first exit's cost: everyone leaves there, whatever the score
        policy.thresholds[:] = -np.inf
    elif not no_early_exit(costs, budget_ms) and n_exits > 1:

        def cost_at(t: float) -> float:
            thresholds = np.full(n_exits, t)
            thresholds[-1] = -np.inf
            return mean_cost(first_exit(scores, thresholds), costs)

        candidates = np.append(scores[:-1].ravel(), np.inf)
        t = solve_monotone_threshold(candidates, cost_at, budget_ms)
        shares = None
        # many samples tied at the cheaper side of the budget (max p saturated at exactly
        # 1.0): let a share of them leave there instead
        cheaper = float(candidates.max(where=candidates < t, initial=-np.inf))
        tied_t = t if cost_at(t) <= budget_ms else cheaper
        if np.count_nonzero(scores[:-1] == tied_t) > 1:
            t = tied_t
            shares = _tie_shares(scores, t, costs, budget_ms)
        policy.thresholds[:-1] = t
        policy.set_rule(policy.thresholds, shares)
    policy.record_validation(scores, costs)
    return policy


def _tie_shares(
    scores: np.ndarray, t: float, costs: np.ndarray, budget_ms: float
) -> np.ndarray:
    """One tie share q for exits 0..K-2 at the shared threshold t (samples scoring exactly t
    leave if their `tie_uniforms` number is below q), by bisection so the validation cost is
    closest to B; cost_at(1) <= B, since t sits on the cheaper side."""
    n_exits = scores.shape[0]
    thresholds = np.full(n_exits, t)
    thresholds[-1] = -np.inf

    def shares_at(q: float) -> np.ndarray:
        shares = np.full(n_exits, q)
        shares[-1] = 1.0
        return shares

    def cost_at(q: float) -> float:  # non-increasing in q: a larger q only lets more leave
        return mean_cost(first_exit(scores, thresholds, shares_at(q)), costs)

    lo, hi = bisect_to_budget(cost_at, 0.0, 1.0, budget_ms, _TIE_BISECT_STEPS)
    return shares_at(lo if abs(cost_at(lo) - budget_ms) < abs(cost_at(hi) - budget_ms) else hi)
