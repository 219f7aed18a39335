"""Choosing EENet's rule on validation: which score (learned, lookahead or a heuristic's) and
which plan, leaving the heuristics' choice only on a significant out-of-fold gain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eenet.schedulers.eenet.settings import FIXED_SCORES, LEARNED
from eenet.schedulers.hit_counter import HitCounter, plan_hits
from eenet.schedulers.plans import calibrated_plan, geometric_plan, refine_plan
from eenet.significance import paired_z


def candidate_plans(
    pi: np.ndarray | None, costs: np.ndarray, budget: float, s: Mapping[str, Any],
    geometric: bool = False,
) -> list[tuple[str, np.ndarray]]:
    """EENet's pi calibrated at each temperature, then the geometric plan (last) where
    `geometric_candidate` or `geometric` asks for it; only the geometric plan when there is
    no pi (nothing trained)."""
    temps = [float(t) for t in s["plan_temperatures"]] if pi is not None else []
    plans = [(f"eenet_tau{t:g}", calibrated_plan(pi, costs, budget, t)) for t in temps]
    if s["geometric_candidate"] or geometric or pi is None:
        plans.append(("geometric", geometric_plan(costs, budget)))
    return plans


def best_plan_accuracy(
    scores: np.ndarray, correct: np.ndarray, plans: list[tuple[str, np.ndarray]]
) -> float:
    """Accuracy of the most accurate of `plans`, each realised by thresholds on `scores`."""
    return max(float(plan_hits(scores, correct, plan).mean()) for _, plan in plans)


# the most accurate (score, plan) pairs on validation that the plan refinement starts from
REFINE_STARTS = 3


def refine_starts(
    scored: list[tuple[int, str, str, np.ndarray]],
) -> list[tuple[int, str, str, np.ndarray]]:
    """The (hits, score, plan name, plan) pairs a constant-cost refinement starts from: the
    REFINE_STARTS most accurate on validation, then the most accurate of each other score, in
    that order (ties in the pairs' order). A pattern search stops at the first local optimum
    near its start: from the best pair alone, the refined plan at one budget of the pipeline's
    sweep answered fewer validation samples than a plan refined at a lower budget (and so
    cheaper), and EENet fell back to the heuristics' rule there (its curve dipped)."""
    ranked = sorted(scored, key=lambda item: -item[0])  # stable: ties keep their order
    starts = ranked[:REFINE_STARTS]
    sources = {src for _, src, _, _ in starts}
    for item in ranked[REFINE_STARTS:]:
        if item[1] not in sources:
            sources.add(item[1])
            starts.append(item)
    return starts


def choose_rule(
    score_sets: Mapping[str, np.ndarray],
    correct: np.ndarray,
    pi: np.ndarray | None,
    source_costs: Mapping[str, np.ndarray],
    budget: float,
    s: Mapping[str, Any],
    own_plans: Mapping[str, list[tuple[str, np.ndarray]]] | None = None,
) -> tuple[str, str, np.ndarray]:
    """(score source, plan name, plan) used at inference, chosen on validation.

    `score_sets` maps each candidate score to its validation scores [K, N]: the learned g_k
    and the lookahead stop value out of fold (honest), and the fixed confidences of
    `score_candidates` (nothing fitted). Each is tried with its `own_plans` (the lookahead
    rule's exit distribution) and every candidate plan (EENet's pi calibrated to the budget at
    several temperatures, the geometric plan); the best few pairs (`refine_starts`) are refined
    at constant cost and the best plan so reached is one more candidate. The baseline is max p
    (or the one fixed score there is) with the geometric plan, whatever
    `geometric_candidate` says (what the heuristics do; another fixed score only if
    significantly better) or, with no fixed candidates, the learned score with the geometric
    plan (its first plan without `geometric_candidate`). Each score's plans are made with its
    own costs (`source_costs`: the learned score's include its scoring cost where charged). A
    pair replaces the baseline only if it answers significantly more validation samples
    correctly (paired sign test z >= `switch_z`, `refine_z` for the searched plan), so noise in
    a few thousand samples cannot make EENet worse than the heuristics.
    """
    own_plans = own_plans or {}
    # a fixed score always has the geometric plan, its heuristic's own rule and so the
    # baseline (`geometric_candidate: false` drops it from the learned scores' plans alone)
    plans = {src: [*own_plans.get(src, []),
                   *candidate_plans(pi, source_costs[src], budget, s, src in FIXED_SCORES)]
             for src in score_sets}
    # max p first, whatever the order of `score_candidates`: the heuristics' baseline
    fixed = sorted((name for name in score_sets if name in FIXED_SCORES),
                   key=list(FIXED_SCORES).index)
    base_at = -1 if fixed or s["geometric_candidate"] or pi is None else 0
    pairs = [(src, name, plan) for src in score_sets for name, plan in plans[src]]
    hits = {(src, name): plan_hits(score_sets[src], correct, plan) for src, name, plan in pairs}
    # the baseline: the first fixed score, or another fixed one only if significantly better
    base_src, *others = fixed or [LEARNED]
    base_name = plans[base_src][base_at][0]
    for src in others:
        if paired_z(hits[(src, base_name)], hits[(base_src, base_name)]) >= float(s["switch_z"]):
            base_src = src
    best = (base_src, base_name, plans[base_src][base_at][1])
    base_hits = hits[(base_src, base_name)]
    scored = [(int(hits[(src, name)].sum()), src, name, plan) for src, name, plan in pairs]
    if s["refine_plan"]:
        min_gain = max(2.0, float(s["refine_min_gain"]) * correct.shape[1])
        refined, counters = [], {}
        for _, src, name, start in refine_starts(scored):
            # each score's thresholds sorted once for the thousands of plans the search tries
            counter = counters.setdefault(src, HitCounter(score_sets[src], correct))
            plan, value = refine_plan(
                start, source_costs[src], lambda p, c=counter: float(c.count(p)),
                min_gain=min_gain,
            )
            refined.append((int(value), src, f"{name}+refined", plan))
        # one refined candidate, the best reached (ties: the earlier start)
        value, src, name, plan = max(refined, key=lambda item: item[0])
        hits[(src, name)] = plan_hits(score_sets[src], correct, plan)
        scored.append((value, src, name, plan))
    best_value = int(base_hits.sum())
    for value, src, name, plan in scored:
        # a searched plan has had more chances to look good by luck: it must clear a higher bar
        bar = float(s["refine_z"] if name.endswith("+refined") else s["switch_z"])
        if value > best_value and paired_z(hits[(src, name)], base_hits) >= bar:
            best, best_value = (src, name, plan), value
    return best
