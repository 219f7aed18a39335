"""EENet (Ilhan et al., WACV 2024): learned exit scores and a learned exit distribution.

For each exit k, features x_k = [p_k, max p_k, 1 - H(p_k)/log C, a_0 .. a_{k-1}]; a score
network g_k gives a_k = sigmoid(g_k(x_k)), the probability that exit k is right, and an
assignment network h_k gives r = softmax_k(h_k(x_k)), the sample's exit distribution. They
are trained in alternation (score: BCE weighted by the detached, per-exit normalised r;
assignment: alpha_kl KL(a^beta / sum || r) + alpha_cost |mean cost of r - B| / B). The plan
pi = mean r is calibrated to the budget and thresholds on the scores come from it.

Departures from the paper (see docs/schedulers.md): class-agnostic p_k features (sorted top
probabilities) plus agreement with the previous exit; full-batch AdamW with a larger learning
rate and step-based alternation; cross-fitting (each of `folds` members trains on the other
folds and early-stops on its own; inference averages their score logits); the score (learned,
or the heuristics' max p / entropy) and the plan (pi calibrated to the budget, the geometric
plan, a constant-cost refinement) chosen on out-of-fold validation accuracy, leaving the
heuristics' choice (max p, geometric plan) only on a significant gain; ranking by the score
logit g_k (same order as a_k, no ties at 1.0); lookahead heads f_k estimating P(exit j right
| x_k) for j >= k, whose stop value P_k - max_j (P_j - lam (c_j - c_k)) is one more candidate
score (lam solved for the budget). Inference runs the same feature code in numpy float64 from
safetensors weights, one exit at a time during real early exit (`score_step`).

Modules: `settings` (defaults, checks), `features` (x_k), `scorer` (numpy inference of the
trained networks), `lookahead` (the stop-value rule), `training` (torch, cross-fitted),
`selection` (score and plan chosen on validation), `policy` (`EENetPolicy`), `fitting`
(`fit` at a budget). Only `training` and `fitting` import torch, on first use of `fit`,
`untrained_policy` or `prepare`: loading or applying a fitted policy, its settings' checks and
`eenet schedule` with the heuristics alone need numpy only.
"""

import importlib
from typing import Any

from eenet.schedulers.eenet.features import data_features, exit_features
from eenet.schedulers.eenet.lookahead import lookahead_scores, solve_lookahead, stop_value
from eenet.schedulers.eenet.policy import FIRST_EXIT_UNSCORED, WEIGHTS_FILE, EENetPolicy
from eenet.schedulers.eenet.scorer import ExitScorer, check_weights, compile_scorer
from eenet.schedulers.eenet.settings import (
    DEFAULTS,
    FIXED_SCORES,
    LEARNED,
    LOOKAHEAD,
    check_settings,
)

# the names whose modules import torch: (module, its name there), imported on first use
TORCH_NAMES: dict[str, tuple[str, str]] = {
    "fit": ("eenet.schedulers.eenet.fitting", "fit"),
    "untrained_policy": ("eenet.schedulers.eenet.fitting", "untrained_policy"),
    "prepare": ("eenet.schedulers.eenet.training", "load_optimizer_machinery"),
}


def __getattr__(name: str) -> Any:
    """`fit`, `untrained_policy` and `prepare` from their modules (torch), on first use."""
    if name not in TORCH_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = TORCH_NAMES[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later uses find it here, as an import had put it
    return value


def __dir__() -> list[str]:
    """The package's names, with those imported on first use (for completion)."""
    return sorted({*globals(), *TORCH_NAMES})


__all__ = [
    "DEFAULTS",
    "FIRST_EXIT_UNSCORED",
    "FIXED_SCORES",
    "LEARNED",
    "LOOKAHEAD",
    "WEIGHTS_FILE",
    "EENetPolicy",
    "ExitScorer",
    "check_settings",
    "check_weights",
    "compile_scorer",
    "data_features",
    "exit_features",
    "fit",
    "lookahead_scores",
    "prepare",
    "solve_lookahead",
    "stop_value",
    "untrained_policy",
]
