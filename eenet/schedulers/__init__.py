"""Exit policies behind one interface: fit on validation outputs + costs + budget, decide on
any split, save as plain data (JSON + safetensors), load back.

Methods: `eenet` (learned, Ilhan et al. WACV 2024), `maxprob` (MSDNet), `entropy`
(BranchyNet), `patience` (PABEE). Each lives in its own module (EENet in a package of them)
exposing `DEFAULTS` (allowed settings), a `FittedPolicy` subclass and `fit(log_probs, labels,
costs, budget_ms, settings, seed, *, settings_param, cache)` (`settings_param`: what the caller
called the settings, for the errors and notes naming them; `cache`: what the fits on one split
share, `base.ScoreCache`: the fixed scores and EENet's input features); `maxprob` and
`entropy` share their policy and fit through `heuristic.py`.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from eenet.checks import check_seed
from eenet.costs import validate_costs
from eenet.errors import ArtifactError, ConfigError, unknown_name
from eenet.outputs import ExitOutputs, check_compatible, validate_exit_outputs
from eenet.schedulers.base import FittedPolicy, ScoreCache, resolve_settings
from eenet.schedulers.plans import check_budget
from eenet.schedulers.policy_file import (
    check_not_many_policies,
    policy_folder,
    read_policy_metadata,
)

# method name -> (module, policy class)
_METHODS: dict[str, tuple[str, str]] = {
    "eenet": ("eenet.schedulers.eenet", "EENetPolicy"),
    "maxprob": ("eenet.schedulers.maxprob", "MaxProbPolicy"),
    "entropy": ("eenet.schedulers.entropy", "EntropyPolicy"),
    "patience": ("eenet.schedulers.patience", "PatiencePolicy"),
}

__all__ = [
    "FittedPolicy",
    "available_methods",
    "check_method_settings",
    "fit_policy",
    "load_policy",
    "method_defaults",
]


def available_methods() -> list[str]:
    """Names of the fitted methods."""
    return list(_METHODS)


def _module(method: str) -> ModuleType:
    """The module of `method`; an unknown one is a one-line ConfigError naming `method`, the
    Python API's parameter (the pipeline and `eenet schedule` check their methods first, in
    the names of schedulers.methods and --method)."""
    if not isinstance(method, str) or method not in _METHODS:
        raise unknown_name("method", method, _METHODS)
    return importlib.import_module(_METHODS[method][0])


def method_defaults(method: str) -> dict[str, Any]:
    """The settings a method accepts, with their defaults."""
    return dict(_module(method).DEFAULTS)


def check_method_settings(
    method: str, settings: Mapping[str, Any] | None, param: str = "settings"
) -> None:
    """`settings` over `method`'s defaults within the method's own ranges: its module's
    `check_settings` where it has one (one-line ConfigError naming the setting as
    `param`.KEY; settings that are no mapping, or an unknown one, name `param`, what the
    caller called them)."""
    module = _module(method)
    resolved = resolve_settings(method, module.DEFAULTS, settings, param)
    check = getattr(module, "check_settings", None)
    if check is not None:
        check(resolved, param)


def fit_log_probs(
    method: str,
    log_probs: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any] | None = None,
    seed: int = 0,
    *,
    settings_param: str = "settings",
    cache: ScoreCache | None = None,
) -> FittedPolicy:
    """`fit_policy` on precomputed validation log-probabilities [K, N, C] (float64). `cache`:
    a dict kept for these `log_probs` across fits (at every budget of a sweep, say): each
    fixed score is computed once into it, at the first fit that needs it (whose `fit_seconds`
    includes it), and read from it by the others (None: computed at every fit)."""
    module = _module(method)
    costs = validate_costs(costs)
    if log_probs.shape[0] != costs.size:
        raise ArtifactError(
            f"inputs: exit outputs have {log_probs.shape[0]} exits but costs list {costs.size}"
        )
    budget_ms = check_budget(costs, budget_ms)
    check_seed("seed", int(seed) if isinstance(seed, np.integer) else seed)
    resolved = resolve_settings(method, module.DEFAULTS, settings, settings_param)
    prepare = getattr(module, "prepare", None)  # a method's one-time library loads, untimed
    if prepare is not None:
        prepare()
    start = time.perf_counter()
    policy = module.fit(log_probs, labels, costs, budget_ms, resolved, int(seed),
                        settings_param=settings_param, cache=cache)
    policy.fit_seconds = time.perf_counter() - start
    policy.n_classes = int(log_probs.shape[2])
    return policy


def fit_policy(
    method: str,
    val: ExitOutputs,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any] | None = None,
    seed: int = 0,
    *,
    settings_param: str = "settings",
) -> FittedPolicy:
    """Fit `method` on the validation split at `budget_ms` (ms/sample).

    A budget below the first exit's cost is a ConfigError stating the feasible range; a budget
    at or above the last exit's cost sends everything to the last exit (no early exit needed).
    Errors and notes about the settings name them `settings_param` (a setting as
    `settings_param`.KEY): what the caller called them, `settings` unless it says otherwise.
    """
    _module(method)
    costs = validate_costs(costs)
    validate_exit_outputs(val, "validation outputs")
    check_compatible(val, costs, "validation outputs and costs")
    return fit_log_probs(method, val.log_probs(), val.labels, costs, budget_ms, settings, seed,
                         settings_param=settings_param)


def load_policy(directory: str | os.PathLike) -> FittedPolicy:
    """Load a fitted policy saved by `FittedPolicy.save` (its folder, or its policy.json),
    dispatching on its `method`."""
    if not isinstance(directory, str | os.PathLike):
        raise ConfigError(f"load_policy: expected a fitted scheduler's folder, got {directory!r}")
    directory = policy_folder(directory)
    check_not_many_policies(Path(directory), "load_policy")
    meta = read_policy_metadata(directory)
    method = meta["method"]
    if not isinstance(method, str) or method not in _METHODS:  # a list is unhashable
        raise ArtifactError(f"{directory}: unknown scheduler method {method!r}; "
                            f"allowed: {', '.join(sorted(_METHODS))}")
    module_name, class_name = _METHODS[method]
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        return cls.from_metadata(meta, Path(directory))
    except (KeyError, ValueError, TypeError) as exc:
        raise ArtifactError(f"{directory}: malformed fitted scheduler ({exc})") from None

