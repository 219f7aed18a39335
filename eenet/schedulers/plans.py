"""Planned exit distributions shared by every scheduler.

A plan pi (sum 1) has planned cost sum_k pi_k c_k. Plans are solved so this equals the budget
B exactly, by bisection on one scalar (never a coarse grid). The thresholds that realise a plan
on validation scores come from `thresholds.thresholds_from_plan`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from eenet.budget import DEFAULT_COST_UNIT, check_budget_ms
from eenet.errors import ConfigError
from eenet.report_layout import as_set

_BISECT_STEPS = 200
# how far the exponential family's tilt may be searched: a budget between two exits whose costs
# differ by a millionth of the range needs a tilt past 1e6 (the old limit, where the plan
# stopped and cost more than B); beyond this every weight but one underflows anyway
_TILT_LIMIT = 1e300
# the largest relative change of the planned cost that setting a share's rounding below zero
# to zero may make in the plan refinement (with costs of like size it is about 1e-16)
_CLIP_DRIFT = 1e-9
# a budget more than this many times the last exit's cost (in ms) suggests costs in seconds
# read as ms (a CSV without its header 's'): 1000 times too small
SECONDS_HINT_RATIO = 100.0


def check_budget(costs: np.ndarray, budget_ms: float, param: str = "budget") -> float:
    """Return the budget as float; ConfigError (with the feasible range) if it is infeasible."""
    costs = np.asarray(costs, dtype=np.float64)
    # float(True) is 1.0 and float("2") 2.0: mistakes, not budgets ("N%" has resolve_budget)
    if isinstance(budget_ms, (bool, np.bool_, str, bytes)):
        hint = (" (eenet.budget.resolve_budget turns 'N%' and texts into ms/sample)"
                if isinstance(budget_ms, str) else "")
        raise ConfigError(f"{param}: expected ms/sample, got {budget_ms!r}{hint}")
    try:
        value = float(budget_ms)
    except (TypeError, ValueError):
        raise ConfigError(f"{param}: expected ms/sample, got {budget_ms!r}") from None
    return check_budget_ms(value, costs, param)


def no_early_exit(costs: np.ndarray, budget_ms: float) -> bool:
    """A budget at or above the last exit's cost: everything may go to the last exit."""
    return float(budget_ms) >= float(np.asarray(costs)[-1])


def no_early_exit_note(
    costs: np.ndarray, budget_ms: float, name: str, unit: str = DEFAULT_COST_UNIT,
    typed_costs: bool = False, listed: bool = False, given: str | None = None,
) -> str | None:
    """The note for a budget (`name`: the parameter that gave it; costs in `unit`) at or above
    the last exit's cost, one line; None for a budget that needs early exit. For `typed_costs`
    (a CSV or a typed list, which may hold seconds; not a measured profile) more than
    `SECONDS_HINT_RATIO` times that cost in ms, it says how costs in seconds are read as such
    (a CSV's header; `listed`: a comma list, which has none, is given in ms or with
    `--cost-unit s`); above the cost, how a share of the range is written. `given`: the
    budget as typed, named before its value where it was a share ('100% = 3 ms/sample',
    `eenet.report_layout.as_set`)."""
    if not no_early_exit(costs, budget_ms):
        return None
    last = float(np.asarray(costs)[-1])
    shown = as_set(given, f"{budget_ms:.4g} {unit}/sample")
    note = (f"note: {name} {shown} is at or above the last exit's cost "
            f"({last:.4g} {unit}): no early exit is needed, every policy sends all samples to "
            "the last exit (the oracle, an upper bound, still stops each one where it is first "
            "right)")
    if typed_costs and unit == DEFAULT_COST_UNIT and budget_ms > SECONDS_HINT_RATIO * last:
        # costs in seconds read as ms? a one-column CSV is ms unless its header says otherwise
        note += ("; costs in seconds? a comma list is read as ms: give it in ms, or say "
                 "--cost-unit s and give the budgets in s" if listed else
                 "; costs in seconds? a CSV's header line 's' (or 'seconds') converts them to ms")
    # above it, not at it (100%): likely a share of the range written without its '%'
    return f"{note}; a share of the feasible range is written 'N%'" if budget_ms > last else note


def last_exit_plan(n_exits: int) -> np.ndarray:
    """Everyone at the last exit (no early exit)."""
    plan = np.zeros(n_exits)
    plan[-1] = 1.0
    return plan


def first_exit_plan(n_exits: int) -> np.ndarray:
    """Everyone at the first exit."""
    plan = np.zeros(n_exits)
    plan[0] = 1.0
    return plan


def plan_cost(plan: np.ndarray, costs: np.ndarray) -> float:
    """Planned mean cost sum_k pi_k c_k."""
    return float(np.dot(np.asarray(plan, dtype=np.float64), np.asarray(costs, dtype=np.float64)))


def _solve_exponential_family(
    log_base: np.ndarray, feature: np.ndarray, costs: np.ndarray, budget_ms: float
) -> np.ndarray:
    """pi proportional to exp(log_base + t * feature), t solved by bisection so cost == budget.

    The planned cost is the mean of increasing costs under an exponential tilt along an
    increasing feature, hence monotone in t. The bracket doubles until it holds B, however
    large t must be (exits whose costs differ by a tiny share of the range).
    """
    costs = np.asarray(costs, dtype=np.float64)
    if no_early_exit(costs, budget_ms):
        return last_exit_plan(costs.size)
    if budget_ms <= costs[0]:
        return first_exit_plan(costs.size)

    def plan_at(t: float) -> np.ndarray:
        z = log_base + t * feature
        w = np.exp(z - z.max())
        return w / w.sum()

    lo, hi = -1.0, 1.0
    while plan_cost(plan_at(lo), costs) > budget_ms and lo > -_TILT_LIMIT:
        lo *= 2.0
    while plan_cost(plan_at(hi), costs) < budget_ms and hi < _TILT_LIMIT:
        hi *= 2.0
    for _ in range(_BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        if plan_cost(plan_at(mid), costs) < budget_ms:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, abs(mid)):
            break
    return plan_at(0.5 * (lo + hi))


def geometric_plan(costs: np.ndarray, budget_ms: float) -> np.ndarray:
    """pi_k proportional to q^k with q solved by bisection (on log q) so the cost is B."""
    costs = np.asarray(costs, dtype=np.float64)
    k = np.arange(costs.size, dtype=np.float64)
    return _solve_exponential_family(np.zeros(costs.size), k, costs, budget_ms)


def calibrated_plan(
    base: np.ndarray, costs: np.ndarray, budget_ms: float, temperature: float = 1.0
) -> np.ndarray:
    """Calibrate a plan to the budget: pi proportional to base^temperature * exp(lam * c~).

    c~ are the costs scaled to [0, 1]; lam is solved by bisection so the planned cost is B.
    `temperature` 1 keeps the base's shape, 0 ignores it. A tiny floor keeps every exit
    reachable so any budget in range can be met.
    """
    costs = np.asarray(costs, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    base = np.clip(base, 0.0, None) + 1e-6
    base = base / base.sum()
    span = costs[-1] - costs[0]
    feature = (costs - costs[0]) / span if span > 0 else np.zeros_like(costs)
    return _solve_exponential_family(temperature * np.log(base), feature, costs, budget_ms)


def solve_monotone_threshold(
    candidates: np.ndarray, cost_at: Callable[[float], float], budget_ms: float
) -> float:
    """Pick the candidate threshold whose (non-decreasing) cost is closest to the budget.

    Binary search over the sorted candidates for the first one reaching the budget, then keep
    whichever of it and its predecessor is closer (ties go to the cheaper one).
    """
    cand = np.unique(np.asarray(candidates, dtype=np.float64))
    lo, hi = 0, cand.size - 1
    if cost_at(cand[hi]) <= budget_ms:
        return float(cand[hi])
    while lo < hi:
        mid = (lo + hi) // 2
        if cost_at(cand[mid]) >= budget_ms:
            hi = mid
        else:
            lo = mid + 1
    best = float(cand[lo])
    if lo > 0:
        below = float(cand[lo - 1])
        if abs(cost_at(below) - budget_ms) <= abs(cost_at(best) - budget_ms):
            best = below
    return best


def bisect_to_budget(
    cost_at: Callable[[float], float], lo: float, hi: float, budget_ms: float, steps: int
) -> tuple[float, float]:
    """Bracket [lo, hi] around the smallest parameter whose cost is <= the budget, for a cost
    non-increasing in the parameter (cost_at(hi) <= budget < cost_at(lo) kept), after `steps`
    halvings."""
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if cost_at(mid) <= budget_ms:
            hi = mid
        else:
            lo = mid
    return lo, hi


def cost_neutral_directions(costs: np.ndarray) -> list[np.ndarray]:
    """Directions v with sum v = 0 and sum v c = 0 (moving along them keeps the cost), one per
    triple of exits, scaled to unit L1 norm."""
    costs = np.asarray(costs, dtype=np.float64)
    n = costs.size
    dirs = []
    for i in range(n):
        for j in range(i + 1, n):
            for m in range(j + 1, n):
                v = np.zeros(n)
                v[i], v[j], v[m] = costs[m] - costs[j], costs[i] - costs[m], costs[j] - costs[i]
                dirs.append(v / np.abs(v).sum())
    return dirs


def refine_plan(
    plan: np.ndarray,
    costs: np.ndarray,
    score: Callable[[np.ndarray], float],
    steps: tuple[float, ...] = (0.08, 0.04, 0.02, 0.01),
    max_moves: int = 40,
    min_gain: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Pattern search for the plan maximising `score` at the same planned cost.

    From `plan`, try moves of each step size along every cost-neutral direction (both signs),
    keep a move only if it improves `score` by more than `min_gain`, shrink the step when none
    does. Plans stay non-negative and sum to one; the planned cost does not change.
    """
    plan = np.asarray(plan, dtype=np.float64)
    best = score(plan)
    dirs = cost_neutral_directions(costs)
    planned = plan_cost(plan, costs)
    for step in steps:
        for _ in range(max_moves):
            moved = False
            for v in dirs:
                for sign in (1.0, -1.0):
                    cand = plan + sign * step * v
                    lowest = cand.min()
                    if lowest < -1e-12:
                        continue
                    if lowest < 0.0:  # a share's rounding below zero, set to zero
                        cand = np.clip(cand, 0.0, None)
                        # ... which moves the cost by it times that exit's cost: with one exit
                        # 1e11 times dearer than the others' gaps, by a share of the budget
                        if abs(plan_cost(cand, costs) - planned) > _CLIP_DRIFT * abs(planned):
                            continue
                    value = score(cand)
                    if value > best + min_gain:
                        plan, best, moved = cand, value, True
            if not moved:
                break
    return plan, best
