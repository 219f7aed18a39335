"""Budgeted evaluation, vectorised: accuracy and cost of exit decisions, the oracle upper
bound, and method x budget sweeps (fit on validation, report on test)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from eenet.budget import check_each_once
from eenet.costs import validate_costs
from eenet.errors import ArtifactError, ConfigError
from eenet.evaluation_checks import check_evaluation_inputs
from eenet.fit_progress import fits_shown
from eenet.outputs import ExitOutputs, check_compatible, percent_correct, validate_exit_outputs
from eenet.schedulers import available_methods, fit_log_probs
from eenet.schedulers import check_method_settings as check_settings_of
from eenet.schedulers.base import FittedPolicy, ScoreCache
from eenet.schedulers.plans import check_budget
from eenet.schedulers.thresholds import exit_fractions, mean_cost
from eenet.sweep import check_methods

ORACLE = "oracle"
ORACLE_RULE = "oracle (knows the labels)"  # its `rule` in reports: an upper bound, not a policy


def _evaluate(correct: np.ndarray, exits: np.ndarray, costs: np.ndarray) -> dict[str, Any]:
    exits = np.asarray(exits, dtype=np.int64)
    hit = correct[exits, np.arange(exits.size)]
    return {
        "accuracy": float(percent_correct(hit)),
        "cost_ms": mean_cost(exits, costs),
        "exit_fractions": exit_fractions(exits, correct.shape[0]),
    }


def checked_exits(exits: Any, n_exits: int, n_samples: int) -> np.ndarray:
    """`exits` as int64 [n_samples] after checking them: one integer exit index per sample,
    each in [0, n_exits); a one-line ArtifactError otherwise."""
    exits = np.asarray(exits)
    if exits.shape != (n_samples,):
        raise ArtifactError(f"exits: expected one exit index per sample, shape ({n_samples},); "
                            f"got shape {exits.shape}")
    if exits.dtype.kind not in "iu":
        raise ArtifactError(f"exits: must be integer exit indices, got dtype {exits.dtype}")
    if exits.size and (exits.min() < 0 or exits.max() >= n_exits):
        raise ArtifactError(f"exits: must lie in [0, {n_exits - 1}] ({n_exits} exits), got "
                            f"[{exits.min()}, {exits.max()}]")
    return exits.astype(np.int64, copy=False)


def evaluate_exits(outputs: ExitOutputs, exits: np.ndarray, costs: Any) -> dict[str, Any]:
    """Accuracy (percent), mean cost (ms/sample) and exit fractions of per-sample exits
    (int [N], each in [0, n_exits)): {"accuracy", "cost_ms", "exit_fractions" [n_exits]}."""
    costs = validate_costs(costs)
    validate_exit_outputs(outputs)
    check_compatible(outputs, costs)
    return evaluate_correct(outputs.correct(), exits, costs)


def evaluate_correct(correct: np.ndarray, exits: Any, costs: Any) -> dict[str, Any]:
    """`evaluate_exits` from `correct` (bool [n_exits, N], `ExitOutputs.correct()`), made once
    for many policies' exits (each call of `evaluate_exits` checks the outputs and takes their
    log-softmax again): the exits and the costs are checked here, the outputs where `correct`
    was made."""
    costs = validate_costs(costs)
    if len(costs) != correct.shape[0]:
        raise ArtifactError(f"costs list {len(costs)} exits, the outputs have "
                            f"{correct.shape[0]}")
    return _evaluate(correct, checked_exits(exits, *correct.shape), costs)


def _oracle(correct: np.ndarray, costs: np.ndarray, budget_ms: float) -> np.ndarray:
    n = correct.shape[1]
    exits = np.zeros(n, dtype=np.int64)
    cheapest = correct.argmax(axis=0)  # first correct exit (0 if none)
    movable = np.flatnonzero(~correct[0] & correct.any(axis=0))
    move_cost = costs[cheapest[movable]] - costs[0]
    order = np.argsort(move_cost, kind="stable")
    spent = np.cumsum(move_cost[order])
    take = spent <= (budget_ms - costs[0]) * n * (1 + 1e-12)
    chosen = movable[order[take]]
    exits[chosen] = cheapest[chosen]
    return exits


def oracle_exits(outputs: ExitOutputs, costs: Any, budget_ms: float) -> np.ndarray:
    """UPPER BOUND, uses the labels: the most accurate exits whose mean cost stays <= B.

    Every sample starts at exit 0; a sample wrong there but right later moves to its cheapest
    correct exit; the cheapest moves are taken first while the mean cost stays within budget.
    """
    costs = validate_costs(costs)
    validate_exit_outputs(outputs)
    check_compatible(outputs, costs)
    return oracle_exits_of(outputs.correct(), costs, budget_ms)


def oracle_exits_of(correct: np.ndarray, costs: np.ndarray, budget_ms: float) -> np.ndarray:
    """UPPER BOUND: `oracle_exits` from `correct` (bool [n_exits, N]) made once, `costs`
    validated and as many as its exits."""
    return _oracle(correct, costs, check_budget(costs, budget_ms))


def _oracle_corners(correct: np.ndarray, costs: np.ndarray) -> list[np.ndarray]:
    """The oracle's exits at each break point of its accuracy-vs-budget curve: everyone at
    exit 0, then every sample it moves to exit 1, then also those to exit 2, ... (one entry
    per exit that some sample moves to, in cost order, as `_oracle` takes the moves)."""
    n = correct.shape[1]
    cheapest = correct.argmax(axis=0)  # first correct exit (0 if none)
    movable = ~correct[0] & correct.any(axis=0)
    corners = [np.zeros(n, dtype=np.int64)]
    for k in range(1, correct.shape[0]):
        moved = movable & (cheapest == k)
        if moved.any():
            exits = corners[-1].copy()
            exits[moved] = k
            corners.append(exits)
    return corners


def oracle_curve(outputs: ExitOutputs, costs: Any) -> list[dict[str, Any]]:
    """The oracle's exact accuracy against the budget, as its break points (one dict per point,
    `_evaluate`'s keys plus `budget_ms`), from the first exit's cost to the last's.

    The oracle moves samples wrong at exit 0 to their cheapest correct exit, cheapest moves
    first: all moves to exit k cost alike, so between two break points (the budgets where
    every move to one more exit is taken) its accuracy rises by one sample per (c_k - c_0) / n
    ms, on the straight line between them to within one sample (100 / n points), and stays
    flat after the last one. Drawn through the break points the curve is the bound itself;
    drawn through a sweep's budgets alone it cut the corners and ran below it."""
    costs = validate_costs(costs)
    validate_exit_outputs(outputs)
    check_compatible(outputs, costs)
    correct = outputs.correct()
    points = []
    for exits in _oracle_corners(correct, costs):
        result = _evaluate(correct, exits, costs)
        points.append({"budget_ms": result["cost_ms"], **result})
    points[0]["budget_ms"] = float(costs[0])  # everyone at exit 0: its cost exactly, not a mean
    if points[-1]["budget_ms"] < costs[-1]:  # saturated below the full model's cost: flat
        points.append({**points[-1], "budget_ms": float(costs[-1])})
    return points


def evaluate_policies(
    policies: Sequence[FittedPolicy | None],
    budgets_ms: Sequence[float],
    log_probs: np.ndarray,
    correct: np.ndarray,
    costs: np.ndarray,
    cache: ScoreCache | None = None,
) -> list[dict[str, Any]]:
    """Evaluate fitted policies (None = the oracle at that budget) on one split.

    Work that does not depend on the fit (heuristic scores, EENet's input features) is shared
    through `cache`, so a sweep costs little more than one policy: a dict kept for these
    `log_probs` (the fits' on validation, say, or other methods'; None: a new one). A
    policy's cost is counted with its own planned costs (`cost_table`: its scoring cost
    included where it was charged). What it is given is checked first
    (`check_evaluation_inputs`: one-line errors naming the argument).
    """
    costs = check_evaluation_inputs(policies, budgets_ms, log_probs, correct, costs)
    return _evaluate_checked(policies, budgets_ms, log_probs, correct, costs, cache)


def _evaluate_checked(
    policies: Sequence[FittedPolicy | None],
    budgets_ms: Sequence[float],
    log_probs: np.ndarray,
    correct: np.ndarray,
    costs: np.ndarray,
    cache: ScoreCache | None = None,
) -> list[dict[str, Any]]:
    """`evaluate_policies` on what `check_evaluation_inputs` has checked."""
    cache = {} if cache is None else cache
    results = []
    for policy, budget in zip(policies, budgets_ms, strict=True):
        if policy is None:
            exits = _oracle(correct, costs, budget)
        else:
            exits = policy.exits_from_scores(policy.scores_cached(log_probs, cache))
        results.append(_evaluate(correct, exits, costs if policy is None
                                 else policy.cost_table(costs)))
    return results


def check_split_pair(
    val: ExitOutputs,
    test: ExitOutputs,
    costs: np.ndarray,
    names: tuple[str, str] = ("validation outputs", "test outputs"),
    costs_name: str = "costs",
) -> None:
    """Validation and test outputs that fit the costs and each other (one-line errors that
    call them by `names`, e.g. their files, and the costs by `costs_name`, e.g. the option
    that gave them)."""
    validate_exit_outputs(val, names[0])
    validate_exit_outputs(test, names[1])
    # each other first: with val and costs agreeing, a test split of another model's was
    # blamed on the costs
    for what, v, t in (("exits", val.n_exits, test.n_exits),
                       ("classes", val.n_classes, test.n_classes)):
        if v != t:
            raise ArtifactError(f"{names[1]}: {t} {what}, but {names[0]}: {v}; both must come "
                                "from the same model")
    check_compatible(val, costs, f"{names[0]} and {costs_name}")
    check_compatible(test, costs, f"{names[1]} and {costs_name}")


def fit_sweep(
    val: ExitOutputs,
    costs: Any,
    methods: Sequence[str],
    budgets_ms: Sequence[float],
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    settings_param: str = "settings",
    progress: bool = False,
) -> tuple[list[float], dict[str, list[FittedPolicy | None]]]:
    """Fit each method at each budget on `val`: (the checked budgets, {method: [policy per
    budget]}); the oracle's entries are None (it is computed on each split from its labels).
    `progress`: a tqdm bar over the fits on stderr where stderr is a terminal (none in a log).
    Errors and notes about a method's settings name them `settings_param`.<method> (what the
    caller called `settings`; `eenet schedule`'s: schedulers). A budget given twice is a
    one-line ConfigError naming both (`budgets_ms[i]`), a method given twice one naming it,
    as `eenet schedule` and the pipeline refuse them; so are no methods or no budgets."""
    costs = validate_costs(costs)
    validate_exit_outputs(val, "validation outputs")
    methods, budgets = _checked_sweep(val, costs, methods, budgets_ms, settings, settings_param)
    return budgets, _fit_methods(val.log_probs(), val.labels, costs, methods, budgets,
                                 settings or {}, seed, settings_param, progress, {})


def _checked_sweep(
    val: ExitOutputs,
    costs: np.ndarray,
    methods: Sequence[str],
    budgets_ms: Sequence[float],
    settings: Mapping[str, Mapping[str, Any]] | None,
    settings_param: str,
) -> tuple[list[str], list[float]]:
    """`fit_sweep`'s checks of validated `val` and `costs`: the methods and the checked
    budgets, or a one-line error before anything fits."""
    check_compatible(val, costs, "validation outputs and costs")
    allowed = [*available_methods(), ORACLE]
    if isinstance(methods, str):  # its letters would be taken for method names, one by one
        raise ConfigError(f"methods: expected a list of method names, got {methods!r}; "
                          f"e.g. [{methods!r}]")
    # a generator would be spent by the checks; a repeat's rows were given once, silently
    methods = check_methods(list(methods), "methods", allowed)
    check_method_settings(settings, methods, settings_param)
    # named as the Python caller typed them (`eenet schedule` checks its --budgets first)
    if isinstance(budgets_ms, str):  # 'auto' was taken letter by letter: "got 'a'"
        raise ConfigError(f"budgets_ms: expected a list of ms/sample values, got "
                          f"{budgets_ms!r} (eenet.budget.resolve_sweep turns 'auto' and 'N%' "
                          "into them)")
    given = list(budgets_ms)  # a generator would be spent by the checks
    if not given:
        raise ConfigError("budgets_ms: empty; give one or more budgets in ms/sample")
    budgets = [check_budget(costs, b, f"budgets_ms[{i}]") for i, b in enumerate(given)]
    check_each_once(budgets, "budgets_ms", given)  # each budget's fits and rows once
    return methods, budgets


def _fit_methods(
    val_lp: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    methods: list[str],
    budgets: list[float],
    settings: Mapping[str, Mapping[str, Any]],
    seed: int,
    settings_param: str,
    progress: bool = False,
    cache: ScoreCache | None = None,
) -> dict[str, list[FittedPolicy | None]]:
    """Each method fitted at each budget on validation log-probabilities `val_lp`, each fixed
    score computed once into `cache` (`fit_log_probs`'); with `progress`, a tqdm bar over the
    fits on stderr where stderr is a terminal (none in a log), naming the fit under way."""
    fits = [(method, b) for method in methods if method != ORACLE for b in budgets]
    policies: dict[tuple[str, float], FittedPolicy] = {}
    for method, b in fits_shown(fits, progress):
        policies[method, b] = fit_log_probs(method, val_lp, labels, costs, b,
                                            settings.get(method), seed,
                                            settings_param=f"{settings_param}.{method}",
                                            cache=cache)
    return {method: [None if method == ORACLE else policies[method, b] for b in budgets]
            for method in methods}


def check_method_settings(settings: Any, methods: Sequence[str], param: str = "settings"
                          ) -> None:
    """`settings` maps methods being fitted to their settings, each in range: anything else
    (no mapping, a method not among `methods`, the oracle's, a bad setting) is a one-line
    ConfigError before anything fits, as `--set` is; the settings are named as the caller
    gave them, `param` (a method's `param`.<method>)."""
    if settings is None:
        return
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{param}: expected a mapping of method name to its settings, got "
                          f"{settings!r}")
    fitted = [m for m in methods if m != ORACLE]
    for method in settings:
        if method not in fitted:
            raise ConfigError(f"{param}: {method!r} is not a method fitted here (fitted: "
                              f"{', '.join(fitted) or 'none'}); its settings would be ignored")
        check_settings_of(method, settings[method], f"{param}.{method}")


def _evaluate_split(
    outputs: ExitOutputs,
    costs: np.ndarray,
    budgets_ms: Sequence[float],
    fitted: Mapping[str, Sequence[FittedPolicy | None]],
) -> dict[str, list[dict[str, Any]]]:
    """Every method's policies evaluated on one split; its float64 log-probabilities live only
    here, so a sweep holds one split's at a time (they are 2x the logits' size)."""
    return _evaluate_log_probs(*outputs.log_probs_and_correct(), costs, budgets_ms, fitted)


def _evaluate_log_probs(
    log_probs: np.ndarray,
    correct: np.ndarray,
    costs: np.ndarray,
    budgets_ms: Sequence[float],
    fitted: Mapping[str, Sequence[FittedPolicy | None]],
    cache: ScoreCache | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every method's policies evaluated on one split's log-probabilities and hits, the
    scores shared through `cache` (the split's; None: a new one). What they are given is
    checked once for all methods (`check_evaluation_inputs`), not once per method."""
    cache = {} if cache is None else cache
    every = [policy for policies in fitted.values() for policy in policies]
    costs = check_evaluation_inputs(every, list(budgets_ms) * len(fitted), log_probs, correct,
                                    costs)
    return {method: _evaluate_checked(policies, budgets_ms, log_probs, correct, costs, cache)
            for method, policies in fitted.items()}


def evaluate_sweep(
    val: ExitOutputs,
    test: ExitOutputs,
    costs: Any,
    budgets_ms: Sequence[float],
    fitted: Mapping[str, Sequence[FittedPolicy | None]],
) -> list[dict[str, Any]]:
    """Rows of `fit_sweep`'s policies evaluated on `val` and `test`: one dict per (method,
    budget). Keys: method, budget, test_accuracy (percent), test_cost, val_cost, val_accuracy,
    exit_fractions (test), fit_seconds, upper_bound (True only for "oracle", which uses the
    labels of each split and is not a policy), rule (`FittedPolicy.rule`: score / plan).
    The oracle's val_cost, val_accuracy and fit_seconds are None: it is no policy fitted on
    validation (the evaluate stage's reports leave them empty too)."""
    costs = validate_costs(costs)
    check_split_pair(val, test, costs)
    val_res = _evaluate_split(val, costs, budgets_ms,  # the oracle's not computed there
                              {m: p for m, p in fitted.items() if m != ORACLE})
    test_res = _evaluate_split(test, costs, budgets_ms, fitted)
    return _sweep_rows(budgets_ms, fitted, val_res, test_res)


def _sweep_rows(
    budgets_ms: Sequence[float],
    fitted: Mapping[str, Sequence[FittedPolicy | None]],
    val_res: Mapping[str, list[dict[str, Any]]],
    test_res: Mapping[str, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """`evaluate_sweep`'s rows from each split's results (no validation results: the
    oracle's)."""
    rows: list[dict[str, Any]] = []
    for method, policies in fitted.items():
        for budget, policy, v, t in zip(
            budgets_ms, policies, val_res.get(method, [None] * len(policies)),
            test_res[method], strict=True
        ):
            rows.append(
                {
                    "method": method,
                    "budget": float(budget),
                    "test_accuracy": t["accuracy"],
                    "test_cost": t["cost_ms"],
                    "val_cost": None if v is None else v["cost_ms"],
                    "val_accuracy": None if v is None else v["accuracy"],
                    "exit_fractions": t["exit_fractions"],
                    "fit_seconds": None if policy is None else policy.fit_seconds,
                    "upper_bound": method == ORACLE,
                    "rule": ORACLE_RULE if policy is None else policy.rule(),
                }
            )
    return rows


def schedule_sweep(
    val: ExitOutputs,
    test: ExitOutputs,
    costs: Any,
    methods: Sequence[str],
    budgets_ms: Sequence[float],
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Fit each method at each budget on `val`, evaluate on `test`: one dict per pair (the
    keys of `evaluate_sweep`)."""
    return fit_and_evaluate_sweep(val, test, costs, methods, budgets_ms, settings, seed)[2]


def fit_and_evaluate_sweep(
    val: ExitOutputs,
    test: ExitOutputs,
    costs: Any,
    methods: Sequence[str],
    budgets_ms: Sequence[float],
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    settings_param: str = "settings",
    progress: bool = False,
) -> tuple[list[float], dict[str, list[FittedPolicy | None]], list[dict[str, Any]]]:
    """`fit_sweep` then `evaluate_sweep`: (the checked budgets, the fitted policies, the rows),
    the same numbers, with one log-softmax per split: the validation log-probabilities the
    fits read are evaluated on, then freed before the test split's are computed (each is
    twice the logits' size); and each fixed score (max p, entropy, patience) computed once
    per split, not at every budget. `progress` as `fit_sweep`'s."""
    costs = validate_costs(costs)
    check_split_pair(val, test, costs)  # before the fits, which take seconds
    methods, budgets = _checked_sweep(val, costs, methods, budgets_ms, settings, settings_param)
    val_lp, val_correct = val.log_probs_and_correct()
    val_cache: ScoreCache = {}  # each fixed score of validation computed once, fits and all
    fitted = _fit_methods(val_lp, val.labels, costs, methods, budgets, settings or {}, seed,
                          settings_param, progress, val_cache)
    val_res = _evaluate_log_probs(val_lp, val_correct, costs, budgets,  # no oracle there
                                  {m: p for m, p in fitted.items() if m != ORACLE}, val_cache)
    del val_lp, val_cache  # one split's log-probabilities (and scores) at a time
    test_res = _evaluate_split(test, costs, budgets, fitted)
    return budgets, fitted, _sweep_rows(budgets, fitted, val_res, test_res)
