"""`eenet schedule`: fit exit policies on anyone's validation outputs, report on test.

    eenet schedule --val VAL.npz --test TEST.npz --costs COSTS --method eenet,maxprob \\
        --budgets 1.5,2.0,2.5 [--json] [--seed N] [--set eenet.hidden=64] [--save DIR] \\
        [--cost-unit MFLOPs]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from eenet.budget import (
    AUTO_SWEEP_POINTS,
    DEFAULT_COST_UNIT,
    cost_unit_problem,
    resolve_budget,
    resolve_sweep,
    same_budget,
)
from eenet.checks import check_seed
from eenet.cli import CommaJoined, GivenOnce
from eenet.commands.schedule_report import (
    EENET,
    format_table,
    unscored_at_first_exit,
    unscored_notes,
    validation_overrun_note,
)
from eenet.config import check_schedulers
from eenet.cost_inputs import is_cost_list, load_costs_and_table
from eenet.errors import ArtifactError, ConfigError, counted, naming, once_each, unknown_name
from eenet.evaluation import ORACLE, check_split_pair, fit_and_evaluate_sweep
from eenet.latency_table import check_latency_classes, costs_profiled_at
from eenet.outputs import ExitOutputs, check_exit_outputs_file, load_exit_outputs
from eenet.rounding import tidy_floats
from eenet.schedulers import available_methods
from eenet.schedulers.base import FittedPolicy
from eenet.schedulers.plans import no_early_exit_note
from eenet.sweep import check_schedulers_folder, save_policies
from eenet.time_units import cost_time_unit_problem, ms_per_unit

AUTO = "auto"
JSON_KEYS = (
    "method",
    "budget",
    "budget_given",  # the --budgets item as written ('50%', '2.0'), or 'auto'
    "cost_unit",  # of budget, test_cost and val_cost: --cost-unit (ms by default)
    "test_accuracy",
    "test_cost",
    "val_cost",
    "val_accuracy",
    "exit_fractions",
    "fit_seconds",
    "upper_bound",
    "rule",
)


def register(subparsers: Any) -> None:
    """Add `eenet schedule` and its options."""
    allowed = ",".join([*available_methods(), ORACLE])
    parser = subparsers.add_parser(
        "schedule",
        help="fit budgeted exit policies on validation outputs and evaluate them on test",
        description="Fit each method at each budget on VAL, report accuracy and cost on TEST.",
    )
    parser.add_argument("--val", required=True, action=GivenOnce,
                        help="validation exit outputs (.npz)")
    parser.add_argument("--test", required=True, action=GivenOnce, help="test exit outputs (.npz)")
    parser.add_argument(
        "--costs",
        required=True,
        action=GivenOnce,
        help="cumulative per-exit costs, ms unless --cost-unit: latency .json, one-column .csv, "
        "or a list like 1,2,3.5",
    )
    parser.add_argument(
        "--method",
        default="eenet",
        action=CommaJoined,
        help=f"one or a comma list of: {allowed} (default eenet; repeats join)",
    )
    parser.add_argument(
        "--budgets",
        required=True,
        action=CommaJoined,
        help="comma list of budgets in ms/sample or --cost-unit (or N%% of the range from the "
        "first exit's cost to the last's), or 'auto': 12 budgets over that range; repeats join",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list, one object per method and budget"
    )
    parser.add_argument("--seed", type=int, default=0, action=GivenOnce,
                        help="seed for EENet (default 0)")
    parser.add_argument(
        "--set",
        action="append",
        metavar="METHOD.KEY=VALUE",
        help="a method's setting, as params.yaml's schedulers.<method> (VALUE read as YAML; "
        "repeatable), e.g. --set eenet.hidden=64",
    )
    parser.add_argument(
        "--cost-unit",
        default=DEFAULT_COST_UNIT,
        action=GivenOnce,
        metavar="UNIT",
        help="the unit of --costs and --budgets, for the table and saved policies (default ms, "
        "a latency .json's; e.g. MFLOPs or s: the policies do not depend on it)",
    )
    parser.add_argument(
        "--save",
        metavar="DIR",
        action=GivenOnce,
        help="also write the fitted policies to DIR (<method>/<NN>/ + index.json), for "
        "`eenet predict --policy` and `eenet.schedulers.load_policy`",
    )
    parser.set_defaults(func=handler)


def parse_methods(text: str) -> list[str]:
    """Comma list of method names, validated."""
    allowed = [*available_methods(), ORACLE]
    methods = [m.strip() for m in text.split(",")]
    if not any(methods):
        raise ConfigError(f"--method: empty; allowed: {', '.join(sorted(allowed))}")
    if not all(methods):
        raise ConfigError(f"--method: {text!r} has an empty item; expected a comma list like "
                          "eenet,maxprob")
    for method in methods:
        if method not in allowed:
            raise unknown_name("--method", method, allowed)
    return once_each(methods, "--method", "method")


def is_auto(text: str) -> bool:
    """Whether --budgets asks for the pipeline's automatic sweep."""
    return text.strip().lower() == AUTO


def given_budgets(text: str, costs: Any, unit: str = DEFAULT_COST_UNIT) -> dict[float, str]:
    """The budgets of a comma list (ms/sample, or the costs' `unit`, or 'N%'), each checked
    against the feasible range, or of 'auto' (the pipeline's sweep over the feasible range,
    first exit's cost to the last's), in order, each with its item of `text` as written
    ('50%', '2.0'), or 'auto' for each of the automatic sweep's."""
    if is_auto(text):
        return dict.fromkeys(resolve_sweep(AUTO, costs, "--budgets"), AUTO)
    parts = [b.strip() for b in text.split(",")]
    if not any(parts):
        raise ConfigError(f"--budgets: expected a comma list of {unit}/sample values, got "
                          "nothing")
    if not all(parts):
        raise ConfigError(f"--budgets: {text!r} has an empty item; expected a comma list like "
                          "1.5,2.0,2.5")
    if any(is_auto(b) for b in parts):  # the items, not `text`: repeats were joined into it
        raise ConfigError(f"--budgets: 'auto' cannot be combined with other budgets (given: "
                          f"{', '.join(parts)}); give --budgets auto alone (the "
                          f"{AUTO_SWEEP_POINTS} budgets of the feasible range), or a comma "
                          f"list of {unit}/sample values or N%")
    given: dict[float, str] = {}
    for part in parts:
        value = resolve_budget(part, costs, "--budgets", unit)
        if value in given:  # --save numbers the folders in the order of the budgets given
            raise same_budget(f"--budgets: {given[value]}", part, f"{value:.6g} {unit}/sample")
        given[value] = part
    return given


def as_spec(item: str, budget: float) -> float | str:
    """A --budgets item as params.yaml's `budget` would give it: a share of the range as
    written ('50%'), any number as the budget it resolved to."""
    return item.strip() if item.strip().endswith("%") else budget


# what --set's errors and notes call its settings: params.yaml's group, as `schedulers.eenet.KEY`
SET_GROUP = "schedulers"


def parse_settings(items: list[str] | None, methods: list[str]) -> dict[str, dict[str, Any]]:
    """--set METHOD.KEY=VALUE items as {method: {key: value}}, checked as params.yaml's
    `schedulers` group is (known keys, typed values); each method among `methods`."""
    settings: dict[str, dict[str, Any]] = {}
    given: dict[tuple[str, str], str] = {}  # (method, key): its item, to name a repeat
    for item in items or []:
        name, equals, text = item.partition("=")
        method, dot, key = name.strip().partition(".")
        if not equals or not dot or not key:
            raise ConfigError(f"--set: expected METHOD.KEY=VALUE (e.g. eenet.hidden=64), got "
                              f"{item!r}")
        if method not in methods or method == ORACLE:
            raise ConfigError(f"--set: {item!r}: {method!r} is not a fitted method of --method "
                              f"({', '.join(m for m in methods if m != ORACLE)})")
        if (method, key) in given:  # the last one was kept, silently
            raise ConfigError(f"--set: {method}.{key} given twice ({given[method, key]!r}, "
                              f"then {item!r}); give each setting once")
        given[method, key] = item
        try:
            settings.setdefault(method, {})[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set: {item!r}: the value is not valid YAML") from None
    with naming("--set"):
        check_schedulers(SET_GROUP, settings)
    return settings


def scoring_costs_in_unit(settings: dict[str, Any], unit: str) -> dict[str, Any]:
    """EENet's scoring costs (`scorer_extra_ms`, `fixed_extra_ms`) are ms, as their names
    say: converted to a time `unit` (s) like the costs; with a unit that is no time (MFLOPs)
    nothing converts ms, and they are taken in that unit."""
    unit_ms = ms_per_unit(unit)
    eenet = settings.get(EENET)
    if not eenet or unit_ms in (None, 1.0):
        return settings
    eenet = dict(eenet)
    if eenet.get("scorer_extra_ms"):
        eenet["scorer_extra_ms"] = [float(v) / unit_ms for v in eenet["scorer_extra_ms"]]
    if eenet.get("fixed_extra_ms"):
        eenet["fixed_extra_ms"] = {name: [float(v) / unit_ms for v in values]
                                   for name, values in eenet["fixed_extra_ms"].items()}
    return {**settings, EENET: eenet}


# what the rows mean where the test split is the validation split
SAME_SAMPLES = ("the test figures measure the fit on the samples fitted on, not how the "
                "policies do on unseen ones")


def same_samples_note(val_path: str, test_path: str, val: ExitOutputs,
                      test: ExitOutputs) -> str | None:
    """A one-line note when --val and --test give the same samples, None otherwise: one file
    (the same path, or two paths to it: a link, a path through '..'), or two files of the same
    outputs (a copy: equal labels and logits). The test figures then show how the policies fit
    the samples they were fitted on, not how they generalise. The shapes are compared first,
    so different splits cost no pass over the logits."""
    if os.path.samefile(val_path, test_path):
        named = val_path if val_path == test_path else f"{val_path} and {test_path}"
        return f"note: --val and --test are the same file ({named}): {SAME_SAMPLES}"
    if (val.logits.shape != test.logits.shape or not np.array_equal(val.labels, test.labels)
            or not np.array_equal(val.logits, test.logits)):
        return None
    return (f"note: --val and --test hold the same outputs ({val_path} and {test_path}): "
            f"{SAME_SAMPLES}")


def check_cost_unit(unit: str, costs_spec: str) -> str:
    """--cost-unit: a short word, no time costs are not read in (minutes, hours); a latency
    .json's costs are ms, so it must be ms with one."""
    problem = cost_unit_problem(unit) or cost_time_unit_problem(unit)
    if problem:
        raise ConfigError(f"--cost-unit: {problem}")
    if unit != DEFAULT_COST_UNIT and Path(costs_spec).suffix.lower() == ".json":
        raise ConfigError(f"--cost-unit: {costs_spec} is a latency table, in "
                          f"{DEFAULT_COST_UNIT}; got {unit!r} (leave --cost-unit out)")
    return unit


def check_save_dir(path: str) -> None:
    """--save may name a new or empty folder, or one of fitted schedulers (replaced whole);
    checked before any fitting."""
    if not path.strip():
        raise ConfigError(f"--save: {path!r} is no folder name; give a folder to write, e.g. "
                          "fitted")
    try:
        check_schedulers_folder(Path(path), "--save")
    except OSError as exc:  # a name the file system refuses, say
        raise ConfigError(f"--save: cannot write {path} ({exc.strerror or exc})") from None


def save_fitted(
    path: str,
    fitted: dict[str, list[FittedPolicy | None]],
    budgets: list[float],
    costs: np.ndarray,
    n_classes: int,
    seed: int,
    unit: str = DEFAULT_COST_UNIT,
    latency: dict[str, Any] | None = None,
    n_val: int | None = None,
    given: dict[float, str] | None = None,
) -> None:
    """The fitted policies (not the oracle, which is no policy) as a schedulers folder;
    the first budget is its headline; costs in `unit` (recorded in the index, and in each
    policy where it is not ms). With `--costs` a latency table (`latency`), the index and each
    policy record the model it measured, and the index how (`costs_profiled_at`), as the
    pipeline's fits do: `eenet predict` then refuses another architecture's model. `n_val`:
    the validation samples they were fitted on, recorded as the pipeline's index does.
    `given`: each budget's --budgets item (`given_budgets`); the index records the budgets as
    the pipeline's does params.yaml's, its `budget` and `sweep_given` ('50%' as written, a
    number as resolved), so that `evaluate_all` on the folder gives the `budget_given` the
    command printed; none for 'auto' (the headline `budget` is then its number)."""
    model = (latency or {}).get("model")
    for policies in fitted.values():
        for policy in policies:
            if policy is not None:
                policy.cost_unit = unit
                policy.model = None if model is None else dict(model)
    items = [{"method": method, "budget_ms": budget, "policy": policy}
             for method, policies in fitted.items()
             for budget, policy in zip(budgets, policies, strict=True) if policy is not None]
    specs = (None if not given or any(is_auto(g) for g in given.values())
             else [as_spec(given[b], b) for b in budgets])
    index = {"budget": budgets[0] if specs is None else specs[0], "headline_ms": budgets[0],
             "sweep_ms": budgets, **({} if specs is None else {"sweep_given": specs}),
             "costs_ms": [float(c) for c in costs], "n_classes": n_classes,
             **({} if n_val is None else {"n_val": n_val}), "seed": seed,
             "fitted_by": "eenet schedule", "cost_unit": unit,
             **({} if model is None else {"model": dict(model)}),
             **({"costs_profiled_at": at} if (at := costs_profiled_at(latency or {})) else {})}
    try:
        save_policies(path, items, index)
    except OSError as exc:
        raise ArtifactError(f"--save: cannot write {path} ({exc.strerror or exc})") from None
    print(f"saved {counted(len(items), 'fitted policy', 'fitted policies')} to {path}",
          file=sys.stderr)


def check_eenet_sizes(overrides: dict[str, Any], val: ExitOutputs) -> None:
    """EENet's folds (where --set gives them) against the validation samples, and the memory
    of its scorer for `val`'s exits and classes: one-line ConfigErrors naming
    schedulers.eenet.KEY, before any fitting (a fit would name them the same)."""
    from eenet.schedulers.eenet.fitting import check_scorer_size
    from eenet.schedulers.eenet.settings import check_fold_count

    group = f"{SET_GROUP}.{EENET}"
    if "folds" in overrides:
        check_fold_count(int(overrides["folds"]), val.n_samples, group)
    check_scorer_size(overrides, val.n_exits, val.n_classes, group)


def handler(args: argparse.Namespace) -> int:
    """Fit and evaluate the methods on the given exit outputs and costs; the exit status."""
    check_seed("--seed", args.seed)
    methods = parse_methods(args.method)
    settings = parse_settings(args.set, methods)
    unit = check_cost_unit(args.cost_unit, args.costs)
    settings = scoring_costs_in_unit(settings, unit)
    for flag, path in (("--val", args.val), ("--test", args.test)):  # a missing file in the
        with naming(flag):  # order of the usage line, before the costs are read
            check_exit_outputs_file(path)
    costs, latency = load_costs_and_table(args.costs, "--costs", unit)  # a .json's table, else None
    if EENET in settings:  # EENet's own modules: imported only where it is asked for
        from eenet.schedulers.eenet.settings import check_exit_counts

        with naming("--set"):
            check_exit_counts(settings[EENET], costs, f"{SET_GROUP}.{EENET}")
    given = given_budgets(args.budgets, costs, unit)
    budgets = list(given)
    with naming("--val"):
        val = load_exit_outputs(args.val)
    with naming("--test"):
        test = load_exit_outputs(args.test)
    check_split_pair(val, test, costs, (f"--val {args.val}", f"--test {args.test}"),
                     f"--costs {args.costs}")
    if latency is not None:
        check_latency_classes(latency, f"--costs {args.costs}", val.n_classes,
                              f"--val {args.val}")
    # the inputs are fine: what the rows mean
    note = same_samples_note(args.val, args.test, val, test)
    if note:
        print(note, file=sys.stderr)
    if EENET in methods:  # checked before any fitting, as --set's own
        from eenet.schedulers.eenet.settings import check_sample_count

        check_sample_count(val.n_samples, costs, budgets, f"--val: {args.val}")
        with naming("--set"):
            check_eenet_sizes(settings.get(EENET, {}), val)
    if args.save is not None:
        check_save_dir(args.save)
        if methods == [ORACLE]:
            raise ConfigError("--save: --method oracle fits no policy (it is an upper bound "
                              "that uses the labels); add a fitted method: "
                              f"{', '.join(available_methods())}")
    for budget in [] if is_auto(args.budgets) else budgets:
        note = no_early_exit_note(costs, budget, "--budgets", unit,
                                  typed_costs=latency is None,  # a CSV or a list
                                  listed=is_cost_list(args.costs), given=given[budget])
        if note:
            print(note, file=sys.stderr)
    budgets, fitted, rows = fit_and_evaluate_sweep(val, test, costs, methods, budgets, settings,
                                                   seed=args.seed, settings_param=SET_GROUP,
                                                   progress=True)
    rows = [{**r, "budget_given": given[r["budget"]]} for r in rows]
    for note in unscored_notes(unscored_at_first_exit(fitted, budgets), costs, unit):
        print(note, file=sys.stderr)
    note = validation_overrun_note(rows, val.n_samples)
    if note:
        print(note, file=sys.stderr)
    if args.save is not None:
        save_fitted(args.save, fitted, budgets, costs, val.n_classes, args.seed, unit, latency,
                    val.n_samples, given)
    if args.json:
        rows = [{**r, "cost_unit": unit} for r in rows]
        # the budget exact (its number as given, or a resolved one, tidy already); measured
        # and averaged numbers tidy
        print(json.dumps([{k: r[k] if k == "budget" else tidy_floats(r[k]) for k in JSON_KEYS}
                          for r in rows], indent=2))
    else:
        print(format_table(rows, unit, costs))
    return 0
