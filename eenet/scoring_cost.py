"""What each scheduler's own scoring costs during real early exit, per exit, on this host.

The latency profile times the runtime with the reference scorer (max log-probability, the
cheapest). The other policies do more per scored exit: entropy reads the whole distribution,
patience keeps its agreement count, EENet's learned scorer computes features and runs its
member networks. This module measures how much more, inside the runtime itself: the runtime
forced to each exit (`predict_exit`, the call the profile times) with each policy, the
policies taking turns in every round (in alternating order), reading the part of each call
spent scheduling (`schedule_seconds`: scoring, deciding, bookkeeping). The network's own
time is the same for every policy and stays out, with its noise.

`extra_ms[method][k]` = median scheduling ms/sample of reaching exit k with the method minus
the reference's, made non-negative and non-decreasing in k (scoring only accumulates along a
sample's path). What the profile_scoring stage runs; usable without DVC.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import torch

from eenet.checks import COUNT_MAXIMUMS, check_minimums
from eenet.errors import ArtifactError, ConfigError, unknown_name
from eenet.jsonio import read_json_object
from eenet.latency_table import latency_timing_fields
from eenet.models.base import MultiExitModel
from eenet.schedulers.base import FittedPolicy
from eenet.schedulers.thresholds import unreachable_thresholds
from eenet.unscored import saving_problem, unscored_saving

REFERENCE = "maxprob"
# what each pipeline stage times: the fixed scores (stage profile_scoring) and EENet's learned
# scorer (stage profile_eenet_scoring), apart, so that a change of EENet's architecture does not
# time the fixed scores again (and move the baselines' plans by the timing noise)
FIXED_CHARGED = ("entropy", "patience")
LEARNED_CHARGED = ("eenet",)
CHARGED = (*FIXED_CHARGED, *LEARNED_CHARGED)  # methods whose scoring costs more than the reference
# the policy timed beside the reference that lets no sample leave early (not a method)
UNSCORED = "no early exit"
# the schedulers.eenet settings that shape the learned scorer (and so its cost)
ARCHITECTURE = ("top_probs", "agreement", "log_scale", "hidden", "folds", "lookahead")


def check_charged_methods(methods: Sequence[str], param: str = "methods") -> None:
    """`methods` are charged methods (CHARGED), else a one-line ConfigError naming `param`:
    the reference's scoring is what the others' extra is measured against, and a name that is
    no method (or a text, taken letter by letter) has no scoring to time."""
    if isinstance(methods, str):
        raise ConfigError(f"{param}: expected a list of method names, got {methods!r}; "
                          f"e.g. [{methods!r}]")
    for method in methods:
        if method == REFERENCE:
            raise ConfigError(f"{param}: {REFERENCE} is the reference the others' extra scoring "
                              f"cost is measured against (its extra is 0); allowed: "
                              f"{', '.join(CHARGED)}")
        if method not in CHARGED:
            raise unknown_name(param, method, CHARGED)


def scoring_policies(
    n_exits: int, n_classes: int, eenet_settings: Mapping[str, Any] | None = None,
    methods: Sequence[str] = CHARGED, settings_param: str = "eenet_settings",
) -> dict[str, FittedPolicy]:
    """The reference and one policy of each charged method of `methods`, each scoring every
    exit before the last (thresholds no score reaches, but not +inf: the runtime does not score
    an exit of +inf, where no sample may leave). Only for timing: open exits no sample leaves
    at are no rule to report. Bad `eenet_settings` name `settings_param`."""
    from eenet.profiling import reference_policy

    check_charged_methods(methods)
    never = unreachable_thresholds(n_exits)
    policies: dict[str, FittedPolicy] = {REFERENCE: reference_policy(n_exits)}
    if "entropy" in methods:
        from eenet.schedulers.entropy import EntropyPolicy

        policies["entropy"] = EntropyPolicy("entropy", float("nan"), never.copy())
    if "patience" in methods:
        from eenet.schedulers.patience import PatiencePolicy

        policies["patience"] = PatiencePolicy("patience", float("nan"), never.copy())
    if "eenet" in methods:
        from eenet.schedulers.eenet import untrained_policy

        policies["eenet"] = untrained_policy(n_exits, n_classes, eenet_settings,
                                             param=settings_param)
    return policies


def time_scheduling(
    model: MultiExitModel,
    policies: Mapping[str, FittedPolicy],
    *,
    device: str = "cpu",
    batch_size: int = 1,
    threads: int = 1,
    warmup: int = 100,
    repeats: int = 500,
    batch_param: str = "batch_size",
    batch_fix: str = "lower it",
    threads_param: str = "threads",
    last_only: Collection[str] = (),
) -> dict[str, np.ndarray]:
    """Median scheduling ms/sample of reaching each exit with each policy, {name: [K]}.

    Every round runs the forced exit k of every policy for every k, the policies in
    alternating order from round to round (neither always first after the network). The
    policies named in `last_only` are timed at the last exit alone (NaN before it).
    Example inputs past MAX_EXAMPLE_BYTES, or torch failing to allocate during the runs, are
    one-line ConfigErrors naming `batch_param` (where the batch size comes from; the latter
    with `batch_fix`). More threads than CPUs is a note naming `threads_param` (where the
    thread count comes from)."""
    check_minimums("scoring", {"batch_size": (batch_size, 1), "threads": (threads, 0),
                               "warmup": (warmup, 0), "repeats": (repeats, 1)},
                   COUNT_MAXIMUMS)
    from eenet.batching import to_device
    from eenet.devices import memory_names, num_threads, resolve_device
    from eenet.models.base import check_example_batch, example_batch
    from eenet.runtime import EarlyExitPredictor

    target = resolve_device(device, "device")
    check_example_batch(model, batch_size, batch_param)
    names = list(policies)
    n_exits = model.n_exits
    samples = {name: np.full((repeats, n_exits), np.nan) for name in names}
    with (num_threads(threads, threads_param), torch.inference_mode(),
          memory_names(batch_param, batch_size, batch_fix)):
        predictors = {name: EarlyExitPredictor(model, policy, device=str(target))
                      for name, policy in policies.items()}
        inputs = to_device(example_batch(model, batch_size), target)
        for repeat in range(warmup + repeats):
            order = names if repeat % 2 == 0 else names[::-1]
            for k in range(n_exits):
                for name in order:
                    if k < n_exits - 1 and name in last_only:
                        continue
                    seconds = predictors[name].predict_exit(inputs, k).schedule_seconds
                    if repeat >= warmup:
                        samples[name][repeat - warmup, k] = seconds
    return {name: 1000.0 * np.median(t, axis=0) / batch_size for name, t in samples.items()}


def extra_costs(scheduling_ms: Mapping[str, np.ndarray]) -> dict[str, list[float]]:
    """Each charged method's extra cumulative ms/sample over the reference, [K] per method:
    non-negative and non-decreasing in k."""
    reference = np.asarray(scheduling_ms[REFERENCE], dtype=np.float64)
    return {
        name: np.maximum.accumulate(np.maximum(np.asarray(t) - reference, 0.0)).tolist()
        for name, t in scheduling_ms.items() if name != REFERENCE
    }


def scoring_device(latency: Mapping[str, Any], source: str) -> str:
    """Where to time the scoring: the profile's device; this host's CPU for a table imported
    from another device (its device may not be here). A profile taken on a GPU this host lacks
    is a one-line ArtifactError naming the profile `source`."""
    if latency.get("source", "measured") != "measured":
        return "cpu"
    device = str(latency.get("device") or "cpu")
    # a name torch does not know is the profile's field, not a setting (there is no
    # scoring.device): named as the file's
    from eenet.devices import check_device_name

    try:
        check_device_name(device)
    except ConfigError as exc:
        raise ArtifactError(f"{source}: {exc}; rerun profile") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ArtifactError(f"{source}: profiled on {device}, which this host lacks; the "
                            "scoring is timed on the profile's device: rerun profile here "
                            "(dvc repro -f --downstream profile) or profile_scoring on the "
                            "GPU host")
    return device


def latency_timing(latency: Mapping[str, Any], source: str) -> dict[str, Any]:
    """`profile_scoring`'s batch size and threads from a latency table (the profile's; null or
    absent, as in an imported CSV: 1), with the name and fix its memory errors give: the
    table's `batch_size` field in `source`; for a table imported from elsewhere (its `source`
    the table's path, not "measured"), lower it there and rerun import_latency, whose record
    profile copies, and then profile: `dvc repro` does both. The note on more threads than
    CPUs names the table's `threads` and where it comes from: profile.threads, or the
    imported table (profile.table). A value that is no integer in
    range is a one-line ArtifactError naming `source` and the field, ending "rerun profile"
    whatever the source: the import checks a table's as profile checks its own, so the file
    was edited since profile wrote it."""
    values = latency_timing_fields(latency, source, "rerun profile")
    if latency.get("source", "measured") == "measured":
        fix = "lower profile.batch_size and rerun profile"
        threads_from = "profile.threads"
    else:
        fix = (f"lower it in the imported table {latency.get('source')} (profile.table) and "
               "rerun the pipeline (dvc repro: import_latency, then profile)")
        threads_from = f"from the imported table {latency.get('source')}, profile.table"
    return {**values, "batch_param": f"{source}: batch_size", "batch_fix": fix,
            "threads_param": f"{source}'s threads ({threads_from})"}


def profile_scoring(
    model: MultiExitModel,
    eenet_settings: Mapping[str, Any] | None = None,
    *,
    methods: Sequence[str] = CHARGED,
    charge: bool = True,
    device: str = "cpu",
    batch_size: int = 1,
    threads: int = 1,
    warmup: int = 100,
    repeats: int = 500,
    batch_param: str = "batch_size",
    batch_fix: str = "lower it",
    threads_param: str = "threads",
    settings_param: str = "eenet_settings",
    unscored: bool = True,
) -> dict[str, Any]:
    """The scoring table the pipeline plans with: the extra scheduling cost per exit over the
    reference of each charged method of `methods`, measured in the runtime on `device`
    (EENet's scorer of the configured architecture), and, with `unscored`,
    `unscored_saving_ms`: how much less than the last exit's profiled cost the model runs at
    with no early exit, where the runtime scores nothing (the reference's scheduling ms of
    reaching the last exit less a policy's that lets no sample leave early, at least 0).
    `charge` False records zeros. A batch
    too large for memory names `batch_param`, more threads than CPUs `threads_param` (see
    `time_scheduling`; the stage gives `latency_timing`'s), bad `eenet_settings`
    `settings_param` (the stage's: schedulers.eenet)."""
    check_charged_methods(methods)
    n_exits = model.n_exits
    table: dict[str, Any] = {"charged": bool(charge), "reference": REFERENCE,
                             "batch_size": batch_size, "device": str(device),
                             "measured_in": "EarlyExitPredictor.predict_exit schedule_seconds"}
    if not charge or n_exits < 2:
        table["extra_ms"] = {name: [0.0] * n_exits for name in CHARGED if name in methods}
        if unscored:
            table["unscored_saving_ms"] = 0.0
        return table
    policies = scoring_policies(n_exits, _num_classes(model), eenet_settings, methods,
                                settings_param)
    if unscored:
        policies[UNSCORED] = no_early_exit_policy(n_exits)
    times = time_scheduling(model, policies, device=device, batch_size=batch_size,
                            threads=threads, warmup=warmup, repeats=repeats,
                            batch_param=batch_param, batch_fix=batch_fix,
                            threads_param=threads_param, last_only=(UNSCORED,))
    never = times.pop(UNSCORED, None)
    table.update(
        threads=threads or torch.get_num_threads(),  # 0 = torch's count: recorded as used
        warmup=warmup,
        repeats=repeats,
        scheduling_ms={name: t.tolist() for name, t in times.items()},
        extra_ms=extra_costs(times),
    )
    if never is not None:
        table["unscored_saving_ms"] = max(float(times[REFERENCE][-1] - never[-1]), 0.0)
    return table


def no_early_exit_policy(n_exits: int) -> FittedPolicy:
    """The reference policy letting no sample leave before the last exit (thresholds +inf):
    the runtime runs the plain model, scoring nothing."""
    from eenet.profiling import reference_policy
    from eenet.runtime import forced_exit_thresholds

    policy = reference_policy(n_exits)
    policy.set_rule(forced_exit_thresholds(n_exits))
    return policy


def profile_stage(
    model_dir: str | os.PathLike,
    latency_json: str | os.PathLike,
    out_json: str | os.PathLike,
    settings: Mapping[str, Any],
    methods: Sequence[str],
    eenet_settings: Mapping[str, Any] | None = None,
    unscored: bool = True,
) -> dict[str, Any]:
    """What the profile_scoring / profile_eenet_scoring stages run: time `methods` (and, with
    `unscored`, the model run with no early exit: profile_eenet_scoring leaves it to
    profile_scoring) on the trained model in `model_dir` with the latency profile's device,
    batch size and threads (`settings`: params.yaml's `scoring`), write the table to
    `out_json` and print it. A latency table whose costs hold no reference scoring (imported,
    or profiled without decisions or with another policy's) has none to save: its saving is
    0, said in a line."""
    from eenet.jsonio import write_json
    from eenet.latency_table import check_latency_for_model, load_latency
    from eenet.models.artifact import load_trained

    latency = load_latency(latency_json)
    model = load_trained(model_dir)
    check_latency_for_model(latency, latency_json, model_dir, model.n_exits)
    nothing_to_save = unscored and not holds_reference_scoring(latency)
    table = profile_scoring(
        model, eenet_settings, methods=methods, settings_param="schedulers.eenet",
        unscored=unscored and not nothing_to_save,
        device=scoring_device(latency, str(latency_json)),
        **latency_timing(latency, str(latency_json)), **settings,
    )
    if nothing_to_save:
        table["unscored_saving_ms"] = 0.0
    write_json(out_json, table, tidy=True)
    charged = "charged" if table["charged"] else "not charged"
    for name, extra in table["extra_ms"].items():
        print(f"{name:>9} scoring: +{[round(v * 1000, 1) for v in extra]} us/sample to reach "
              f"each exit ({charged})")
    if nothing_to_save:
        print(f"no early exit: no saving taken: {latency_json}'s costs hold no {REFERENCE} "
              "scoring (imported, or profiled without it)")
    elif "unscored_saving_ms" in table:
        print(f"no early exit: -{round(table['unscored_saving_ms'] * 1000, 1)} us/sample "
              f"against the last exit's cost, nothing scored ({charged})")
    return table


def holds_reference_scoring(latency: Mapping[str, Any]) -> bool:
    """Whether a latency table's costs include the reference's scoring at the exits before
    each (a profile measured here with decisions by the reference policy), which a policy of
    no early exit does not run."""
    return (latency.get("source", "measured") == "measured" and latency.get("decisions") is True
            and latency.get("decision_policy") == REFERENCE)


def _num_classes(model: MultiExitModel) -> int:
    """Classes of the model's exits, from one forward pass of an example input."""
    from eenet.batching import to_device
    from eenet.models.base import example_batch
    from eenet.profiling import run_prefix

    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    with torch.inference_mode():
        return int(run_prefix(model.eval(), to_device(example_batch(model, 1), device),
                              0).shape[-1])


def load_scoring(path: str | os.PathLike, n_exits: int | None = None,
                 stage: str = "profile_scoring") -> dict[str, Any]:
    """A scoring table written by `profile_scoring` (by the pipeline's `stage`), for
    `n_exits` exits if given (one-line ArtifactError if malformed or for another number of
    exits, saying to rerun `stage`)."""
    table = read_json_object(path, "scoring table", f"run {stage}",
                             required=("charged", "extra_ms"))
    problem = (extra_problem(table["extra_ms"], n_exits) or saving_problem(table)
               or (None if isinstance(table["charged"], bool) else
                   f"charged must be true or false, got {table['charged']!r}"))
    if problem is not None:
        raise ArtifactError(f"{path}: {problem}; rerun {stage}")
    return table


def extra_problem(extra: Any, n_exits: int | None = None) -> str | None:
    """What is wrong with a scoring table's `extra_ms` (None: nothing): a mapping of method
    names to lists of finite numbers >= 0 that do not decrease along the exits, `n_exits` of
    them if given."""
    if not isinstance(extra, Mapping):
        return "extra_ms must map method names to lists of numbers"
    for name, values in extra.items():
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
            for v in values
        ) or any(later < earlier for earlier, later in pairwise(values)):
            return (f"extra_ms.{name} must be a list of finite numbers >= 0 that do not "
                    f"decrease along the exits")
        if n_exits is not None and len(values) != n_exits:
            return f"{len(values)} exits, the latency table has {n_exits}"
    return None


def load_scoring_tables(
    tables: Sequence[tuple[str | os.PathLike, str]], n_exits: int | None = None,
    latency: Mapping[str, Any] | None = None, latency_source: str = "the latency table",
) -> dict[str, Any]:
    """The scoring tables of the stages that time the fixed scores and EENet's as one, from
    (path, the pipeline stage that writes it) pairs, each read by `load_scoring`: every
    method's extra_ms. A method in two tables (one written before the stages were split) is a
    one-line ArtifactError naming both files and the stage to rerun; so is
    `unscored_saving_ms` in two (it is profile_scoring's; 0 where none records it: the
    last exit's cost throughout). With the `latency` table they are added to (read from
    `latency_source`), each is checked to be timed as it was profiled
    (`check_scoring_profile`)."""
    extra: dict[str, Any] = {}
    source: dict[str, tuple[str | os.PathLike, str]] = {}
    saving: dict[str, Any] = {}
    for path, stage in tables:
        table = load_scoring(path, n_exits, stage)
        if latency is not None:
            check_scoring_profile(table, str(path), stage, latency, latency_source)
        if "unscored_saving_ms" in table:
            if saving:
                raise ArtifactError(
                    f"{path}: unscored_saving_ms is given by {saving['path']} too; one stage "
                    f"times it: rerun {stage}")
            saving = {"path": path, "unscored_saving_ms": table["unscored_saving_ms"]}
        for name, values in table["extra_ms"].items():
            if name in extra:  # the earlier table holds a method that is not its stage's
                earlier, earlier_stage = source[name]
                raise ArtifactError(
                    f"{earlier}: extra_ms.{name} is given by {path} too; each method is "
                    f"timed by one stage: rerun {earlier_stage}")
            extra[name], source[name] = values, (path, stage)
    return {"extra_ms": extra, "unscored_saving_ms": unscored_saving(saving)}


def check_scoring_profile(table: Mapping[str, Any], path: str, stage: str,
                          latency: Mapping[str, Any], latency_source: str) -> None:
    """A scoring table (`path`, written by `stage`) timed on another device or at another
    batch size than the measured latency table it is added to is a one-line ArtifactError
    naming both files: a plan would add costs measured under different conditions. The
    scoring of a table imported from elsewhere is timed on this host's CPU
    (`scoring_device`), and a field either file does not record says nothing: unchecked."""
    if latency.get("source", "measured") != "measured":
        return
    for field in ("device", "batch_size"):
        timed, profiled = table.get(field), latency.get(field)
        if timed is not None and profiled is not None and timed != profiled:
            raise ArtifactError(f"{path}: timed with {field} {timed!r}, {latency_source} was "
                                f"profiled with {profiled!r}; rerun {stage} on the profile's "
                                "costs")


def method_extra(table: Mapping[str, Any], method: str, n_exits: int) -> np.ndarray:
    """The extra ms/sample per exit a method is charged by a scoring table (zeros if none)."""
    values = table["extra_ms"].get(method)
    return np.zeros(n_exits) if values is None else np.asarray(values, dtype=np.float64)
