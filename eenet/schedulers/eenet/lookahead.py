"""The lookahead rule (departure 8): leave at exit k when P(right at k) is at least the best
continuation's P(right at j) minus lam (c_j - c_k), with lam solved for the budget."""

from __future__ import annotations

import numpy as np

from eenet.schedulers.eenet.scorer import sigmoid
from eenet.schedulers.plans import bisect_to_budget
from eenet.schedulers.thresholds import exit_distribution, first_exit

_BISECT_STEPS = 60  # the price lam to 2^-60 of its bracket


def stop_value(look_logits: np.ndarray, costs_ahead: np.ndarray, lam: float) -> np.ndarray:
    """Value of leaving at exit k over the best continuation, [N]: P(right at k) minus the
    max over later exits j of P(right at j) - lam (c_j - c_k). `look_logits` [N, K-k] are the
    lookahead logits for exits k..K-1, `costs_ahead` their costs [K-k]."""
    p = sigmoid(look_logits)
    ahead = p[:, 1:] - lam * (costs_ahead[1:] - costs_ahead[0])
    return p[:, 0] - ahead.max(axis=1)


def lookahead_scores(
    looks: list[np.ndarray], costs: np.ndarray | list[float], lam: float
) -> np.ndarray:
    """`stop_value` at every exit but the last (zeros there: it takes everyone left), [K, N]."""
    costs = np.asarray(costs, dtype=np.float64)
    out = np.zeros((len(looks), looks[0].shape[0]))
    for k, z in enumerate(looks[:-1]):
        out[k] = stop_value(z, costs[k:], lam)
    return out


def solve_lookahead(
    looks: list[np.ndarray], costs: np.ndarray, budget: float
) -> tuple[float, np.ndarray]:
    """(lam, exit distribution) of the lookahead rule "leave at the first exit whose stop
    value is >= 0" with the smallest price lam whose mean cost on these samples is <= budget,
    by bisection (a higher price never sends a sample further). lam < 0 spends budget where
    continuing costs the least accuracy, when the rule at lam = 0 spends less than B.

    Where the cost jumps over B at that price (samples whose stop values tie, e.g. from
    one-hot probabilities, all switch at once) the distribution mixes the rule's just above
    and just below the price so that it costs exactly B; thresholds on the stop values at lam
    realise it, splitting the tied samples (the rule alone spent up to 1.7 % under B)."""
    costs = np.asarray(costs, dtype=np.float64)
    zero = np.zeros(len(looks))
    zero[-1] = -np.inf

    def exits(lam: float) -> np.ndarray:
        return first_exit(lookahead_scores(looks, costs, lam), zero)

    # beyond +-span everyone leaves at exit 0 / K-1; the gap's floor (for steps lost in
    # rounding) is relative to the costs, so the bracket does not depend on their unit
    least_gap = float(np.diff(costs).min())
    gap = max(least_gap, 1e-9 * float(np.abs(costs).max()))
    span = 2.0 / gap
    within = budget * (1 + 1e-12)  # a mean that equals the budget up to rounding meets it

    def cost_at(lam: float) -> float:
        return float(costs[exits(lam)].mean())

    # two exits closer in cost than the floor: at +-2 / (their gap) everyone leaves at exit 0
    # (which meets any feasible budget) / goes on to the last (which spends any below its
    # cost); at +-span the rule could cost more than B, or between the last two exits less
    bottom, top = -span, span
    if least_gap < gap:
        top = top if cost_at(top) <= within else 2.0 / least_gap
        bottom = bottom if cost_at(bottom) > within else -2.0 / least_gap
    lo, hi = bisect_to_budget(cost_at, bottom, top, within, _BISECT_STEPS)
    under, over = (exit_distribution(exits(lam), len(looks)) for lam in (hi, lo))
    cost_under, cost_over = float(under @ costs), float(over @ costs)
    if cost_under < budget < cost_over:  # a jump over B: mix its two sides to cost exactly B
        share = (budget - cost_under) / (cost_over - cost_under)
        return hi, (1.0 - share) * under + share * over
    return hi, under
