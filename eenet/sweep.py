"""Fit every scheduler at every budget, and the folder of fitted schedulers they are saved in.

This is what the fit_headline and fit_schedulers stages run (through `eenet.fitting`); the
evaluate stage reads the folders (`eenet.sweep_evaluation`). Usable without DVC.
Fitted schedulers live under one folder with an `index.json` manifest:
`{"budget": <headline spec>, "headline_ms": ..., "sweep_ms": [...], "costs_ms": [...],
"n_val": <validation samples fitted on>, "entries": [{"method", "budget_ms", "dir"}]}`. A
folder of sweep fits alone (the pipeline's
fit_schedulers; its headline fits are fit_headline's folder) has no `headline_ms`; one of a
list of budgets records each as given (`sweep_given`, beside `sweep_ms`: '75%', 0.3). Where the
costs came from a latency table, the index also records the trained `model` they are for and
`costs_profiled_at` (the table's device, batch size and threads); where the plain model was
planned below the last exit's cost, `unscored_saving_ms` (`fit_charged`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eenet.atomic import atomic_directory, holds_current_folder, nearest_existing
from eenet.budget import DEFAULT_COST_UNIT, check_each_once, cost_unit_problem
from eenet.costs import is_real_number
from eenet.errors import ArtifactError, ConfigError, once_each, unknown_name
from eenet.fit_progress import fits_shown
from eenet.jsonio import read_json_object, write_json
from eenet.outputs import ExitOutputs, check_compatible, correct_of, validate_exit_outputs
from eenet.schedulers import (
    available_methods,
    check_method_settings,
    fit_log_probs,
    fit_policy,
)
from eenet.schedulers.base import FittedPolicy, ScoreCache
from eenet.schedulers.plans import no_early_exit
from eenet.schedulers.policy_file import POLICY_FILE, foreign_files
from eenet.unscored import saving_problem, saving_value_problem, unscored_costs

INDEX_FILE = "index.json"
FITTING_STAGES = "fit_headline / fit_schedulers"  # the pipeline stages that write such folders


def check_methods(methods: Sequence[str], param: str = "schedulers.methods",
                  allowed: Sequence[str] | None = None) -> list[str]:
    """The requested method names, each one of `allowed` (default: the fitted methods) and
    given once; at least one."""
    allowed = available_methods() if allowed is None else allowed
    if isinstance(methods, str) or not methods:
        raise ConfigError(f"{param}: expected a non-empty list; allowed: "
                          f"{', '.join(sorted(allowed))}")
    for name in methods:
        if name not in allowed:
            raise unknown_name(param, name, allowed)
    return once_each(methods, param, "method")


def fit_all(
    val: ExitOutputs,
    costs: np.ndarray,
    methods: Sequence[str],
    sweep_ms: Sequence[float],
    headline_ms: float | None,
    out_dir: str | os.PathLike,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    budget_spec: Any = None,
    charged: Mapping[str, Sequence[float]] | None = None,
    model: Mapping[str, Any] | None = None,
    profiled_at: Mapping[str, Any] | None = None,
    sweep_given: Sequence[Any] | None = None,
    settings_param: str = "settings",
    progress: bool = False,
    unscored_saving_ms: float = 0.0,
) -> dict[str, Any]:
    """Fit each method at each sweep budget and the headline budget (None: none, a folder of
    sweep fits alone; each sweep budget once, a repeat a one-line ConfigError naming both
    `sweep_ms[i]`); write them atomically. `sweep_given`: each of `sweep_ms` as the params
    gave it ('75%', 0.3: `eenet.budget.resolve_sweep_and_given`), kept in the index as
    `sweep_given` for the reports (None: not recorded, as for 'auto'). `model`: the latency
    table's record of the trained model its costs are for, kept in every policy and the index.
    `settings`: each method's settings (`fit_policy`'s), checked before anything fits; bad
    ones, then and while fitting, are named `settings_param`.<method> (what the caller called
    `settings`; the pipeline's: schedulers).
    `profiled_at`: how the costs were measured (`costs_profiled_at`: device, batch size,
    threads), kept in the index for readers that compare a run's time with the plan.
    `progress`: a tqdm bar over the fits on stderr where stderr is a terminal (none in a log).

    `charged` maps a method to the extra ms/sample per exit its own scoring costs over the
    latency table's reference scoring (stage profile_scoring): the method plans with costs +
    extra, except at a budget at or above the last exit's cost, where every method runs the
    plain model (no early exit, nothing scored), and at or below the charged first-exit cost,
    where every method sends everyone out at exit 0 unscored (the runtime scores nothing
    there: the threshold is -inf), at the plain first-exit cost. A budget below that is
    fitted at that cost (it still costs more than the budget) and the entry records
    `fitted_ms`. `unscored_saving_ms`: how much less than the last exit's cost the plain
    model runs at, nothing scored (`fit_charged`'s); the index records it where above 0, for
    the oracle (`eenet.sweep_evaluation`).
    """
    check_compatible(val, costs, "validation outputs vs latency")
    check_saving(unscored_saving_ms)
    methods = check_methods(methods)
    if sweep_given is not None and len(sweep_given) != len(sweep_ms):
        raise ConfigError(f"sweep_given: one per sweep budget ({len(sweep_ms)}), got "
                          f"{len(sweep_given)}")
    # a repeat was fitted once but listed twice in the index's sweep_ms
    check_each_once([float(b) for b in sweep_ms], "sweep_ms", sweep_ms)
    headline = set() if headline_ms is None else {float(headline_ms)}
    budgets = sorted({float(b) for b in sweep_ms} | headline)
    settings = settings or {}
    for method in methods:  # named as given, before anything fits
        if method in settings:
            check_method_settings(method, settings[method], f"{settings_param}.{method}")
    charged = charged or {}
    validate_exit_outputs(val, "validation outputs")
    # one log-softmax, and each fixed score computed once, for all the fits
    val_lp, cache = val.log_probs(), {}
    fitted = []
    fits = [(method, budget) for method in methods for budget in budgets]
    for method, budget in fits_shown(fits, progress):
        policy, fit_ms = fit_charged(method, val, costs, budget, charged.get(method),
                                     settings.get(method, {}), seed,
                                     settings_param=f"{settings_param}.{method}",
                                     val_lp=val_lp, cache=cache,
                                     unscored_saving_ms=unscored_saving_ms)
        policy.model = None if model is None else dict(model)
        entry: dict[str, Any] = {"method": method, "budget_ms": budget, "policy": policy}
        if fit_ms > budget:
            entry["fitted_ms"] = fit_ms
        fitted.append(entry)
    index = {
        **({} if headline_ms is None else {"budget": budget_spec,
                                           "headline_ms": float(headline_ms)}),
        "sweep_ms": [float(b) for b in sweep_ms],
        **({} if sweep_given is None else {"sweep_given": list(sweep_given)}),
        "costs_ms": [float(c) for c in costs],
        **({"unscored_saving_ms": float(unscored_saving_ms)} if unscored_saving_ms > 0 else {}),
        "n_classes": val.n_classes,
        "n_val": val.n_samples,
        **({} if model is None else {"model": dict(model)}),
        **({} if not profiled_at else {"costs_profiled_at": dict(profiled_at)}),
    }
    return save_policies(out_dir, fitted, index)


def fit_charged(
    method: str,
    val: ExitOutputs,
    costs: Any,
    budget_ms: float,
    extra_ms: Sequence[float] | None = None,
    settings: Mapping[str, Any] | None = None,
    seed: int = 0,
    *,
    settings_param: str = "settings",
    val_lp: np.ndarray | None = None,
    cache: ScoreCache | None = None,
    unscored_saving_ms: float = 0.0,
) -> tuple[FittedPolicy, float]:
    """`fit_policy` for a method whose own scoring costs `extra_ms` per exit over `costs`
    (None: nothing more), as the pipeline fits it: planned with costs + extra, except at a
    budget at or above the last exit's cost (the plain model: no early exit, nothing scored)
    and at or below the charged first exit's cost (everyone leaves at exit 0 unscored, at the
    plain first exit's cost; below that cost it is fitted there, over the budget). Returns the
    policy, its `budget_ms` the one asked, and the budget it was fitted at. `settings_param`:
    what the caller called `settings` (`fit_policy`'s). `val_lp`: `val`'s log-probabilities,
    checked, where a sweep holds them (`fit_all`), fitted on as `fit_log_probs` does, sharing
    `cache` (None: `fit_policy` checks `val` and computes them).

    `unscored_saving_ms` (the profile_scoring table's): how much less than the last exit's
    cost the plain model runs at, as the runtime scores nothing for a policy that lets no
    sample leave early. That policy is planned at the lower cost (`eenet.unscored.
    unscored_costs`), and at a budget from there to the last exit's cost it replaces the
    early-exit policy fitted there where it answers at least as many validation samples (as
    many: at no higher validation cost); the kept policy's `fit_seconds` count both fits and
    the choice. A saving that is no finite number >= 0 is a one-line ConfigError."""
    check_saving(unscored_saving_ms)
    plain = np.asarray(costs, dtype=np.float64)
    method_costs = plain if extra_ms is None else plain + np.asarray(extra_ms, dtype=np.float64)
    unscored = unscored_costs(plain, unscored_saving_ms)
    if no_early_exit(plain, budget_ms):  # the plain model, which scores nothing (the runtime
        # skips the scoring of a policy that never exits early)
        table, fit_ms = unscored, budget_ms
    elif budget_ms <= method_costs[0]:  # scoring the first exit alone would cost as much or
        # more: all leave there, unscored (threshold -inf), at the plain cost
        table, fit_ms = plain, float(plain[0])
    else:
        table, fit_ms = method_costs, budget_ms
    if val_lp is None:
        policy = fit_policy(method, val, table, fit_ms, settings or {}, seed,
                            settings_param=settings_param)
    else:
        policy = fit_log_probs(method, val_lp, val.labels, table, fit_ms, settings or {}, seed,
                               settings_param=settings_param, cache=cache)
    if no_early_exit(unscored, budget_ms) and policy.leaves_early():
        start = time.perf_counter()
        if val_lp is None:
            val_lp, cache = val.log_probs(), {}
        plain_model = fit_log_probs(method, val_lp, val.labels, unscored, budget_ms,
                                    settings or {}, seed, settings_param=settings_param,
                                    cache=cache)
        early_seconds = policy.fit_seconds
        if _at_least_as_good(plain_model, policy, val_lp, val.labels, cache):
            policy = plain_model
        policy.fit_seconds = early_seconds + time.perf_counter() - start  # both fits chose
    if fit_ms < budget_ms:  # fitted at the plain first exit's cost, within the budget
        policy.budget_ms = budget_ms  # asked: the one its folder and the index name
    return policy, fit_ms


def check_saving(value: Any, param: str = "unscored_saving_ms") -> None:
    """A saving of the plain model that is no finite number >= 0 is a one-line ConfigError
    naming `param`."""
    problem = saving_value_problem(value, param)
    if problem:
        raise ConfigError(problem)


def _at_least_as_good(plain_model: FittedPolicy, policy: FittedPolicy, val_lp: np.ndarray,
                      labels: np.ndarray, cache: ScoreCache | None) -> bool:
    """Whether the policy of no early exit is at least as accurate on validation as `policy`
    and, as accurate, costs no more there."""
    correct = correct_of(val_lp, labels)
    samples = np.arange(labels.size)
    hits = [int(correct[p.decide(val_lp, cache=cache), samples].sum())
            for p in (plain_model, policy)]
    return hits[0] > hits[1] or (hits[0] == hits[1]
                                 and plain_model.val_cost_ms <= policy.val_cost_ms)


def check_schedulers_folder(folder: Path, param: str) -> None:
    """`folder` may be new or empty, or a folder of fitted schedulers (saving replaces it
    whole); anything else is a one-line ConfigError naming `param` (OS errors pass through)."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{param}: {folder} is a file; give a folder")
    if holds_current_folder(folder):
        raise ConfigError(f"{param}: {folder} is the current folder or holds it, which saving "
                          f"replaces whole; give a folder inside it, e.g. {folder / 'fitted'}")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / INDEX_FILE).is_file():
        raise ConfigError(f"{param}: {folder} is not empty and holds no {INDEX_FILE} of fitted "
                          "schedulers; give a new or empty folder (a schedulers folder is "
                          "replaced)")
    if (folder / INDEX_FILE).is_file():  # a folder of fitted schedulers, or only named so
        try:
            read_index(folder, headline=False)
        except ArtifactError as exc:
            raise ConfigError(f"{param}: {folder} is no folder of fitted schedulers, which "
                              f"saving replaces ({exc}); give a new or empty folder") from None
    strangers = _not_schedulers(folder) if folder.is_dir() else []
    if strangers:  # replacing the folder would delete them (an input file among them, say)
        raise ConfigError(f"{param}: {folder} holds {', '.join(strangers[:3])}"
                          f"{', ...' if len(strangers) > 3 else ''} beside its fitted "
                          "schedulers, which replacing it would delete; give a new or empty "
                          "folder")
    parent = nearest_existing(folder)
    if not parent.is_dir():
        raise ConfigError(f"{param}: {parent} is a file, not a folder; give a folder path that "
                          "can be created")


def _not_schedulers(folder: Path) -> list[str]:
    """Paths in `folder` (relative, sorted) that a folder of fitted schedulers does not hold:
    anything beside its index and one folder per method of policy folders (each its
    policy.json and weights)."""
    methods = set(available_methods())
    strangers = []
    for entry in folder.iterdir():
        if entry.name == INDEX_FILE:
            continue
        if not (entry.is_dir() and entry.name in methods):
            strangers.append(entry.name)
            continue
        for policy in entry.iterdir():
            if not (policy.is_dir() and (policy / POLICY_FILE).is_file()):
                strangers.append(f"{entry.name}/{policy.name}")
                continue
            strangers += [f"{entry.name}/{policy.name}/{name}" for name in foreign_files(policy)]
    return sorted(strangers)


def save_policies(
    out_dir: str | os.PathLike,
    fitted: Sequence[Mapping[str, Any]],
    index: Mapping[str, Any],
) -> dict[str, Any]:
    """Write fitted policies as one folder of schedulers, atomically (a previous one at
    `out_dir` is replaced whole): each under `<method>/<NN>`, numbered per method in the
    given order, and `index.json` = `index` + `entries`. Each item of `fitted` has method,
    budget_ms and policy; its other keys go into its entry as they are. A folder that is
    neither new, empty nor one of fitted schedulers is refused (a one-line ConfigError), as
    is an item that is no fitted policy of a known method, before anything is written."""
    fitted = list(fitted)  # a generator would be spent by the checks below
    if "costs_ms" not in index:  # read_index needs it: the folder would be unreadable
        raise ConfigError("save_policies: the index needs costs_ms, the costs the policies "
                          "were fitted with")
    check_schedulers_folder(Path(out_dir), "save_policies")
    for item in fitted:
        _check_item(item)
    entries = []
    numbers: dict[str, int] = {}
    with atomic_directory(out_dir) as tmp:
        for item in fitted:
            method = item["method"]
            numbers[method] = numbers.get(method, -1) + 1
            rel = f"{method}/{numbers[method]:02d}"
            item["policy"].save(tmp / rel)
            extra = {k: v for k, v in item.items() if k not in ("method", "budget_ms", "policy")}
            entries.append({"method": method, "budget_ms": float(item["budget_ms"]), "dir": rel,
                            **extra})
        manifest = {**index, "entries": entries}
        write_json(tmp / INDEX_FILE, manifest)
    return manifest


def _check_item(item: Any) -> None:
    """One item of `save_policies`: a mapping of a known method, a budget and its fitted
    policy (the oracle has none), else a one-line ConfigError."""
    if not isinstance(item, Mapping) or not {"method", "budget_ms", "policy"} <= set(item):
        raise ConfigError(f"save_policies: each item needs method, budget_ms and policy, got "
                          f"{item!r}")
    method = item["method"]
    check_methods([method], "save_policies: method")
    if not isinstance(item["policy"], FittedPolicy):
        raise ConfigError(f"save_policies: {method} at {item['budget_ms']!r}: expected a fitted "
                          f"policy, got {item['policy']!r} (the oracle is no policy to save)")
    if not is_real_number(item["budget_ms"]):
        raise ConfigError(f"save_policies: {method}: budget_ms must be a number, got "
                          f"{item['budget_ms']!r}")


def read_index(scheduler_dir: str | os.PathLike, headline: bool = True) -> dict[str, Any]:
    """The manifest of a folder of fitted schedulers, its fields checked (one-line
    ArtifactError naming the file: a hand-edited or truncated index); `headline`: it must
    record the headline budget (a folder of sweep fits alone does not)."""
    path = Path(scheduler_dir) / INDEX_FILE
    required = ("headline_ms",) * headline + ("costs_ms", "entries")
    index = read_json_object(path, "scheduler index", f"run {FITTING_STAGES}", required=required)
    problem = _index_problem(index)
    if problem:
        raise ArtifactError(f"{path}: {problem}; rerun {FITTING_STAGES} (or eenet schedule "
                            "--save)")
    return index


def _index_problem(index: Mapping[str, Any]) -> str | None:
    """What is wrong with an index's fields, or None."""
    if "headline_ms" in index and not is_real_number(index["headline_ms"]):
        return f"headline_ms must be a number, got {index['headline_ms']!r}"
    costs = index["costs_ms"]
    if not isinstance(costs, list) or not costs or not all(is_real_number(c) for c in costs):
        return f"costs_ms must be a list of numbers, got {costs!r}"
    saving = saving_problem(index)
    if saving:
        return saving
    n_classes = index.get("n_classes")  # absent in an older index: not checked
    if n_classes is not None and (type(n_classes) is not int or n_classes < 2):
        return f"n_classes must be an integer >= 2, got {n_classes!r}"
    unit_problem = cost_unit_problem(index.get("cost_unit", DEFAULT_COST_UNIT))
    if unit_problem:
        return f"cost_unit {unit_problem}"
    given, sweep = index.get("sweep_given"), index.get("sweep_ms")
    if given is not None and not (isinstance(given, list) and isinstance(sweep, list)
                                  and len(given) == len(sweep)):
        return f"sweep_given must be a list of one budget per sweep_ms, got {given!r}"
    entries = index["entries"]
    if not isinstance(entries, list) or not entries:
        return "entries must be a non-empty list of fitted schedulers"
    for i, entry in enumerate(entries):
        if not (isinstance(entry, dict) and isinstance(entry.get("method"), str)
                and isinstance(entry.get("dir"), str) and is_real_number(entry.get("budget_ms"))):
            return (f"entries[{i}] must hold a method and a dir (text) and a budget_ms "
                    f"(number), got {entry!r}")
    # a hand-edited copy: one listing's fit was dropped in silence, or another's folder read
    for show in (lambda e: f"dir {e['dir']!r}",
                 lambda e: f"method {e['method']!r} at budget_ms {e['budget_ms']!r}"):
        seen: set[str] = set()
        for entry in entries:
            shown = show(entry)
            if shown in seen:
                return f"entries list {shown} twice"
            seen.add(shown)
    return None


def headline_entries(index: Mapping[str, Any],
                     scheduler_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of `index` (read from `scheduler_dir`) fitted at exactly its `headline_ms`,
    as evaluate and measure read them: exact, since the index lists the headline among its
    budgets (two sweep budgets within a rounding of it would otherwise both count). None is
    a one-line ArtifactError naming the index."""
    headline = float(index["headline_ms"])
    entries = [e for e in index["entries"] if float(e["budget_ms"]) == headline]
    if not entries:
        raise ArtifactError(f"{Path(scheduler_dir) / INDEX_FILE}: no fitted scheduler at "
                            f"headline_ms {headline!r}; rerun {FITTING_STAGES}")
    return entries


def check_fitted_costs(scheduler_dir: str | os.PathLike, index: Mapping[str, Any],
                       costs: np.ndarray) -> None:
    """A one-line ArtifactError where the schedulers of `scheduler_dir` (its `index`) were
    fitted with other costs than `costs`, the latency table's now."""
    fitted_costs = np.asarray(index["costs_ms"], dtype=np.float64)
    if fitted_costs.shape != np.shape(costs) or not np.allclose(fitted_costs, costs):
        raise ArtifactError(
            f"{Path(scheduler_dir) / INDEX_FILE}: schedulers were fitted with costs "
            f"{index['costs_ms']} but the latency table now says {costs.tolist()}; rerun fitting"
        )


def check_entry_policy(policy: FittedPolicy, scheduler_dir: str | os.PathLike,
                       index: Mapping[str, Any], entry: Mapping[str, Any]) -> None:
    """A one-line ArtifactError naming both files where the `policy` loaded for one `entry` of
    the `index` of `scheduler_dir` is of another method, or fitted at another budget, than its
    entry says: a policy folder copied in from another run or budget, which was evaluated and
    measured as the entry's without a word."""
    # fitted at the budget, or (a budget below the first exit's cost) where the entry says
    budgets = [entry["budget_ms"], entry.get("fitted_ms")]
    if policy.method == entry["method"] and any(
            is_real_number(b) and math.isclose(policy.budget_ms, b, rel_tol=1e-9)
            for b in budgets):
        return
    raise ArtifactError(
        f"{Path(scheduler_dir) / entry['dir'] / POLICY_FILE}: method {policy.method!r}, "
        f"budget_ms {policy.budget_ms!r}; {Path(scheduler_dir) / INDEX_FILE} lists method "
        f"{entry['method']!r}, budget_ms {entry['budget_ms']!r} for it; rerun {FITTING_STAGES}")
