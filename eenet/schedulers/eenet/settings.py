"""EENet's settings: their defaults, the score sources, and the checks on them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any

import numpy as np

from eenet.checks import THREADS_MAX, check_minimums, check_number
from eenet.errors import ArtifactError, ConfigError, counted, unknown_name
from eenet.schedulers.scores import max_log_prob, neg_normalised_entropy

LEARNED = "learned"
LOOKAHEAD = "lookahead"  # stop value from the lookahead heads (departure 8)
# fixed score functions the learned score must beat (the heuristics' confidences)
FIXED_SCORES = {"maxprob": max_log_prob, "entropy": neg_normalised_entropy}

DEFAULTS: dict[str, Any] = {
    "top_probs": 5,  # p_k features: the 5 largest probabilities, sorted (0 = all C, raw)
    "agreement": True,  # add exit k's agreement with exit k-1 to its features (k >= 1)
    "log_scale": False,  # feed log p, log max p, log(H/log C) instead of p, max p, 1-H/log C
    "hidden": 32,  # hidden units of every score / assignment MLP
    "lr": 0.01,  # AdamW learning rate (full batch)
    "weight_decay": 0.01,  # AdamW decoupled weight decay
    "max_epochs": 400,  # full-batch steps, upper bound
    "period": 10,  # steps per alternation phase (score, then assignment)
    "patience": 6,  # early stopping: score phases without held-out improvement
    "folds": 2,  # cross-fitting folds = ensemble members (each early-stops on its fold)
    "restarts": 1,  # initialisations per fold; best by held-out accuracy at B
    "uniform_weight": 0.0,  # share of equal per-sample weight mixed into the r weights
    "alpha_kl": 1e-3,  # weight of KL(target || r)
    "alpha_cost": 1e-2,  # weight of the budget term
    "beta": 1.0,  # target_k proportional to a_k^beta
    "plan_temperatures": [1.0, 0.5, 2.0, 0.0],  # calibrated plans pi^tau * exp(lam c) tried
    # also try the heuristics' geometric plan on the learned scores (the fixed ones always have
    # it: max p's with it is the baseline)
    "geometric_candidate": True,
    "refine_plan": True,  # pattern-search the chosen plan at constant cost on validation
    "refine_min_gain": 0.0005,  # ... keeping a move only if it gains > this fraction (>= 2)
    "switch_z": 2.0,  # leave the heuristic baseline only if out-of-fold val gain has z >= this
    "refine_z": 3.0,  # ... and a refined (searched) plan only if its gain has z >= this
    "lookahead": True,  # also train lookahead heads f_k: P(exit j right | x_k), j >= k
    "threads": 1,  # torch threads while fitting (tiny matmuls: more threads only contend)
    "score_candidates": ["maxprob", "entropy"],  # fixed scores the learned one must beat
    # extra ms/sample of reaching each exit when the learned score runs instead of max p (the
    # scoring the latency profile includes): planned and charged with it; [] = not charged.
    # The pipeline fills it from artifacts/scoring_eenet.json (stage profile_eenet_scoring).
    "scorer_extra_ms": [],
    # the same for the fixed scores of `score_candidates`, {name: [K]} (entropy's costs more
    # than max p's); {} = not charged. Filled by the pipeline likewise.
    "fixed_extra_ms": {},
}


# integer settings that count things: their smallest allowed value
INTEGER_MINIMUMS = {"top_probs": 0, "hidden": 1, "max_epochs": 1, "period": 1, "patience": 1,
                    "folds": 2, "restarts": 1, "threads": 1}
# Most hidden units of a network: training holds a few [validation samples, hidden] float32
# activations per exit and network. With 3 exits over 3200 samples, 4096 units peaked at 1.6 GB
# (65536: 7.5 GB, 40 s a step); 10**9 asked for 28 GB at once, a torch traceback.
HIDDEN_MAX = 4096
# ... and the largest, where one is needed for the work not to fail
INTEGER_MAXIMUMS = {"hidden": HIDDEN_MAX, "threads": THREADS_MAX}
# Highest plan temperature: pi^100 already keeps only pi's most likely exits; past about 1e5
# the calibration's tilt cannot outweigh tau * log(pi) and the plan missed the budget silently
TEMPERATURE_MAX = 100.0
# number settings: (lowest allowed, whether the lowest itself is allowed, highest allowed)
NUMBER_RANGES = {
    "lr": (0.0, False, math.inf),
    "weight_decay": (0.0, True, math.inf),
    "alpha_kl": (0.0, True, math.inf),
    "alpha_cost": (0.0, True, math.inf),
    "beta": (0.0, False, math.inf),
    "uniform_weight": (0.0, True, 1.0),
    "refine_min_gain": (0.0, True, 1.0),
    "switch_z": (-math.inf, True, math.inf),
    "refine_z": (-math.inf, True, math.inf),
}


def check_settings(s: Mapping[str, Any], param: str = "settings") -> None:
    """Every numeric setting in its range (one-line ConfigError naming it as `param`.KEY:
    the Python API's `settings`, a sweep's `settings.eenet`, params.yaml's
    `schedulers.eenet`), and the score and plan candidates usable."""
    check_minimums(param, {key: (s[key], low) for key, low in INTEGER_MINIMUMS.items()},
                   INTEGER_MAXIMUMS)
    for key, (low, low_ok, high) in NUMBER_RANGES.items():
        check_number(f"{param}.{key}", s[key], low, high, low_ok=low_ok)
    temperatures = s["plan_temperatures"]
    if not isinstance(temperatures, list | tuple):
        raise ConfigError(f"{param}.plan_temperatures: expected a list of numbers >= 0, got "
                          f"{temperatures!r}")
    for i, value in enumerate(temperatures):
        check_number(f"{param}.plan_temperatures[{i}]", value, 0.0, TEMPERATURE_MAX)
    if not s["plan_temperatures"] and not s["geometric_candidate"]:
        raise ConfigError(f"{param}.plan_temperatures: empty and no geometric candidate")
    candidates = s["score_candidates"]
    if not isinstance(candidates, list | tuple) or any(c not in FIXED_SCORES for c in candidates):
        raise ConfigError(
            f"{param}.score_candidates: expected a list of {', '.join(FIXED_SCORES)}, "
            f"got {candidates!r}"
        )
    check_extra_ms(f"{param}.scorer_extra_ms", s["scorer_extra_ms"])
    fixed = s["fixed_extra_ms"] or {}
    if not isinstance(fixed, Mapping):
        raise ConfigError(f"{param}.fixed_extra_ms: expected a mapping of score name to ms per "
                          f"exit, or {{}}; got {fixed!r}")
    for name, values in fixed.items():
        if name not in FIXED_SCORES:
            raise unknown_name(f"{param}.fixed_extra_ms", name, FIXED_SCORES)
        check_extra_ms(f"{param}.fixed_extra_ms.{name}", values)


def check_extra_ms(param: str, values: Any) -> None:
    """Extra scoring ms per exit: a list of finite numbers >= 0 that does not decrease along
    the exits (reaching exit k scores exits 0..k; its length is checked against the exits when
    fitting), else a one-line ConfigError naming `param`."""
    if not isinstance(values, list | tuple):
        raise ConfigError(f"{param}: expected a list of ms per exit (numbers >= 0), "
                          f"got {values!r}")
    for i, value in enumerate(values):
        check_number(f"{param}[{i}]", value, 0.0)
    if any(later < earlier for earlier, later in pairwise(values)):
        raise ConfigError(f"{param}: must not decrease along the exits (the scoring to reach "
                          f"an exit includes every earlier exit's), got {list(values)!r}")


def feature_options(settings: Mapping[str, Any]) -> tuple[int, bool, bool]:
    """The scorer's feature settings: `top_probs`, `agreement`, `log_scale`."""
    return int(settings["top_probs"]), bool(settings["agreement"]), bool(settings["log_scale"])


def scorer_extra(settings: Mapping[str, Any], n_exits: int, param: str = "settings"
                 ) -> np.ndarray:
    """`scorer_extra_ms` as [K] (zeros when not charged); a wrong length is a ConfigError
    naming it as `param`.scorer_extra_ms (`param`: what the caller called the settings)."""
    extra = np.asarray(settings["scorer_extra_ms"] or np.zeros(n_exits), dtype=np.float64)
    if extra.shape != (n_exits,) or not np.isfinite(extra).all() or (extra < 0).any():
        raise ConfigError(
            f"{param}.scorer_extra_ms: expected {n_exits} finite values >= 0 (one per "
            f"exit) or [], got {settings['scorer_extra_ms']!r}"
        )
    return extra


def check_exit_counts(overrides: Mapping[str, Any], costs: np.ndarray,
                      param: str = "settings") -> None:
    """The per-exit lists among `overrides` (`scorer_extra_ms`, `fixed_extra_ms`) have one
    value per exit of `costs`; checked before fitting, a ConfigError naming the setting as
    `param`.KEY."""
    settings = {**DEFAULTS, **overrides}
    scorer_extra(settings, costs.size, param)
    fixed_costs(settings, costs, param)


def check_sample_count(n_samples: int, costs: np.ndarray, budgets: Iterable[float],
                       source: str) -> None:
    """EENet cross-fits its scorer (a member fits on one sample and early-stops on another)
    at any budget strictly between the first and the last exit's costs: there, validation
    outputs of fewer than 2 samples are a one-line ArtifactError naming `source` (the file, or
    the flag and file, that gave them), before anything is fitted."""
    costs = np.asarray(costs, dtype=np.float64)
    trains = costs.size > 1 and any(costs[0] < b < costs[-1] for b in budgets)
    if trains and n_samples < 2:
        raise ArtifactError(f"{source}: {counted(n_samples, 'validation sample')}; EENet needs "
                            "at least 2 to cross-fit its scorer below the last exit's cost "
                            "(give more, or fit the other methods alone)")


def check_fold_count(n_folds: int, n_samples: int, param: str = "settings") -> None:
    """Every member early-stops on its own fold, so each fold needs a validation sample: a
    ConfigError naming `param`.folds when there are more folds than samples."""
    if n_folds > n_samples:
        allowed = (f"allowed: 2 to {n_samples}" if n_samples >= 2
                   else "cross-fitting needs at least 2")
        raise ConfigError(f"{param}.folds: {n_folds} folds but "
                          f"{counted(n_samples, 'validation sample')}; {allowed}")


def fixed_costs(settings: Mapping[str, Any], costs: np.ndarray, param: str = "settings"
                ) -> dict[str, np.ndarray]:
    """Each fixed score candidate's costs: `costs` plus its `fixed_extra_ms` if charged;
    a wrong length is a ConfigError naming it as `param`.fixed_extra_ms."""
    extra = settings["fixed_extra_ms"] or {}
    if not isinstance(extra, Mapping) or any(
        name not in FIXED_SCORES or np.shape(values) != costs.shape
        or not np.isfinite(np.asarray(values, dtype=np.float64)).all()
        or (np.asarray(values, dtype=np.float64) < 0).any()
        for name, values in extra.items()
    ):
        raise ConfigError(
            f"{param}.fixed_extra_ms: expected {{score: {costs.size} finite values >= 0}} "
            f"for scores among {', '.join(FIXED_SCORES)}, or {{}}; got {extra!r}"
        )
    return {src: costs + np.asarray(extra.get(src, np.zeros(costs.size)), dtype=np.float64)
            for src in settings["score_candidates"]}
