"""Fitting EENet at a budget: train the networks, choose the rule, set the thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eenet.devices import num_threads
from eenet.schedulers.base import ScoreCache, cached_scores
from eenet.schedulers.eenet.features import exit_features
from eenet.schedulers.eenet.lookahead import lookahead_scores, solve_lookahead
from eenet.schedulers.eenet.policy import FIRST_EXIT_UNSCORED, EENetPolicy, cached_features
from eenet.schedulers.eenet.scorer import check_fused_sizes, forward, mean_assignment
from eenet.schedulers.eenet.seeds import uniforms
from eenet.schedulers.eenet.selection import choose_rule
from eenet.schedulers.eenet.settings import (
    DEFAULTS,
    FIXED_SCORES,
    LEARNED,
    LOOKAHEAD,
    check_settings,
    feature_options,
    fixed_costs,
    scorer_extra,
)
from eenet.schedulers.eenet.training import MLP, ScoreAssignmentNets, train_members, weights_header
from eenet.schedulers.plans import first_exit_plan, last_exit_plan, no_early_exit
from eenet.schedulers.thresholds import thresholds_from_plan, unreachable_thresholds


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
) -> EENetPolicy:
    """Train score + assignment networks on validation, then plan and thresholds at B (torch
    on `threads` threads meanwhile). Errors and notes name a setting `settings_param`.KEY,
    what the caller called the settings (fit_policy's `settings`, a sweep's
    `settings.eenet`, the pipeline's `schedulers.eenet`). `cache`: the fixed scores (the
    heuristics' own) and input features shared by the fits on these `log_probs`."""
    check_settings(settings, settings_param)
    with num_threads(int(settings["threads"]), f"{settings_param}.threads"):
        return _fit(log_probs, labels, costs, budget_ms, settings, seed, settings_param,
                    cache)


def _fit(
    log_probs: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any],
    seed: int,
    param: str,
    cache: ScoreCache | None = None,
) -> EENetPolicy:
    """`fit` within its thread setting: the learned score (and lookahead heads) trained
    unless the budget rules them out, the rule chosen on validation, thresholds set. Bad
    settings are named `param`.KEY; the fixed scores and input features come from `cache`
    where given."""
    n_exits, n = log_probs.shape[:2]
    correct_np = log_probs.argmax(-1) == labels[None, :]  # [K, N]
    policy = EENetPolicy("eenet", budget_ms, np.zeros(n_exits), settings=dict(settings))
    if no_early_exit(costs, budget_ms) or n_exits == 1:
        policy.thresholds = np.full(n_exits, np.inf)
        policy.thresholds[-1] = -np.inf
        policy.plan = last_exit_plan(n_exits).tolist()
        policy.plan_source = "last_exit (budget >= the last exit's cost: no early exit needed)"
        policy.record_validation(np.zeros((n_exits, n)), costs)
        return policy
    costs = np.asarray(costs, dtype=np.float64)
    learned_costs = costs + scorer_extra(settings, n_exits, param)
    source_costs = {LEARNED: learned_costs, **fixed_costs(settings, costs, param)}
    # a score whose own scoring cost alone breaks the budget is not a candidate (at exactly
    # its first exit's cost every sample leaves there whatever the score: the fixed scores
    # give that rule without training networks for nothing); a budget that `check_budget`
    # took as the first exit's cost within rounding counts as that cost
    floor = max(budget_ms, float(costs[0]))
    learned_feasible = floor > learned_costs[0]
    fixed = [src for src in settings["score_candidates"] if source_costs[src][0] <= floor]
    if not fixed and not learned_feasible:
        return _everyone_at_first_exit(policy, log_probs, costs, cache)
    feats = cached_features(cache, log_probs, feature_options(settings))
    score_sets: dict[str, np.ndarray] = {}
    own_plans: dict[str, list[tuple[str, np.ndarray]]] = {}
    pi = val_logits = val_looks = None
    if learned_feasible:
        policy.weights, score_sets[LEARNED], oof_looks = train_members(
            feats, correct_np, learned_costs, budget_ms, settings, seed, param
        )
        val_logits, val_a, val_looks = forward(policy.weights, feats)
        pi = mean_assignment(policy.weights, feats, val_a)
        if oof_looks is not None:  # the lookahead rule at the price that meets the budget
            policy.lookahead_lambda, natural = solve_lookahead(oof_looks, learned_costs,
                                                               budget_ms)
            policy.lookahead_costs = learned_costs.tolist()
            score_sets[LOOKAHEAD] = lookahead_scores(oof_looks, learned_costs,
                                                     policy.lookahead_lambda)
            source_costs[LOOKAHEAD] = learned_costs
            own_plans[LOOKAHEAD] = [("lookahead", natural)]
    score_sets.update({src: cached_scores(cache, src, FIXED_SCORES[src], log_probs)
                       for src in fixed})
    source, name, plan = choose_rule(score_sets, correct_np, pi, source_costs, budget_ms,
                                      settings, own_plans)
    if source in FIXED_SCORES:
        val_scores = score_sets[source]
    elif source == LOOKAHEAD:  # the ensemble's scores on all of validation, as at inference
        val_scores = lookahead_scores(val_looks, learned_costs, policy.lookahead_lambda)
    else:
        val_scores = val_logits
    return _apply_rule(policy, source, name, plan, val_scores, source_costs[source], costs)


def _everyone_at_first_exit(
    policy: EENetPolicy, log_probs: np.ndarray, costs: np.ndarray,
    cache: ScoreCache | None = None,
) -> EENetPolicy:
    """Every score's own cost (charged) puts its first exit above the budget: all samples
    leave at exit 0 unscored (its threshold is -inf, and the runtime scores no exit whose
    threshold lets every sample leave), at the plain first-exit cost, which meets the budget;
    as the pipeline's `fit_all` plans such a budget for a charged heuristic. Nothing trains."""
    source = next(iter(FIXED_SCORES))  # never computed: nobody is scored
    return _apply_rule(policy, source, FIRST_EXIT_UNSCORED, first_exit_plan(log_probs.shape[0]),
                       cached_scores(cache, source, FIXED_SCORES[source], log_probs), costs,
                       costs)


def _apply_rule(
    policy: EENetPolicy, source: str, name: str, plan: np.ndarray, val_scores: np.ndarray,
    rule_costs: np.ndarray, costs: np.ndarray,
) -> EENetPolicy:
    """`policy` with the rule of score `source` and plan `name`: thresholds on `val_scores`
    realising `plan`, and its validation cost at the costs it runs at: `rule_costs` (its
    score's own charge included), or the plain `costs` for a rule that lets everyone leave at
    exit 0, which scores nothing there (the runtime skips it)."""
    policy.score_source = source
    policy.set_rule(*thresholds_from_plan(val_scores, plan))
    policy.plan, policy.plan_source = plan.tolist(), name
    policy.record_validation(val_scores, costs if policy.exit_for_all() == 0 else rule_costs)
    return policy


def check_scorer_size(overrides: Mapping[str, Any], n_exits: int, n_classes: int,
                      param: str = "settings") -> list[int]:
    """The data features of each exit's networks (the feature options of `overrides` over
    DEFAULTS, for `n_classes` classes), once the scorer they configure for `n_exits` exits
    fits `check_fused_sizes`' limit; else a ConfigError naming `param`.folds."""
    s = {**DEFAULTS, **overrides}
    blank = np.zeros((1, n_classes))
    dims = [exit_features(blank, blank if k else None, *feature_options(s)).shape[1]
            for k in range(n_exits)]
    check_fused_sizes(int(s["folds"]), int(s["hidden"]), dims, bool(s["lookahead"]), param)
    return dims


def untrained_policy(
    n_exits: int, n_classes: int, settings: Mapping[str, Any] | None = None, seed: int = 0,
    param: str = "settings",
) -> EENetPolicy:
    """A learned-score EENet policy of the configured architecture (`folds` members, `hidden`
    units, the feature options, lookahead heads) with random weights that scores every exit and
    lets no sample leave early (its thresholds are above every score; `leaves_early()` reads
    them as open exits): what its scorer costs does not depend on training, so this is what the
    scoring profile times. Only for timing. Bad `settings` are one-line errors naming them as
    `param`."""
    s = {**DEFAULTS, **(settings or {})}
    check_settings(s, param)
    dims = check_scorer_size(s, n_exits, n_classes, param)
    weights = weights_header(int(s["folds"]), s)
    for member in range(int(s["folds"])):
        state = ScoreAssignmentNets(dims, int(s["hidden"]), seed + member).state()
        if s["lookahead"]:
            draw = uniforms(seed + member)
            for k in range(n_exits - 1):
                head = MLP(dims[k] + k, int(s["hidden"]), draw, outputs=n_exits - k)
                state.update({f"f{k}.{key}": value for key, value in head.state().items()})
        weights.update({f"m{member}.{key}": value for key, value in state.items()})
    # with lookahead heads, the dearer of the two learned scores (the stop value on top)
    return EENetPolicy("eenet", float("inf"), unreachable_thresholds(n_exits),
                       settings=dict(s), weights=weights,
                       score_source=LOOKAHEAD if s["lookahead"] else LEARNED,
                       lookahead_costs=np.arange(n_exits, dtype=np.float64).tolist(),
                       n_classes=n_classes)
