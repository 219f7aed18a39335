"""`eenet predict --policy`: which fitted scheduler it names, what its schedulers folder
records of it, and whether it fits the model (one-line errors naming --policy)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eenet.errors import ArtifactError, ConfigError, naming

if TYPE_CHECKING:
    from eenet.schedulers.base import FittedPolicy


def check_policy_dir(path: str) -> Path:
    """--policy names one fitted scheduler (its folder, or its policy.json); a folder of them
    (or of one method's) is a one-line error that names the folders to choose from."""
    from eenet.schedulers.policy_file import POLICY_FILE, check_not_many_policies, policy_folder

    folder = policy_folder(path)  # the policy's file names its folder
    if folder.is_file():
        raise ConfigError(f"--policy: {folder} is a file; give a fitted scheduler's folder or "
                          f"its {POLICY_FILE}")
    check_not_many_policies(folder, "--policy")  # passes a policy's folder, or none
    return folder


def index_entry(folder: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The schedulers folder's index (`index.json`) that lists `folder`, and its entry there;
    None where no readable index lists it."""
    from eenet.sweep import INDEX_FILE, read_index

    resolved = folder.resolve()
    for root in (folder.parent, folder.parent.parent):
        if not (root / INDEX_FILE).is_file():
            continue
        try:
            index = read_index(root, headline=False)
        except ArtifactError:
            return None  # an unreadable index is only context here, not the input
        for entry in index["entries"]:
            if (root / entry["dir"]).resolve() == resolved:
                return index, entry
    return None


def index_classes(folder: Path) -> int | None:
    """`n_classes` recorded by the schedulers folder (`index.json`) that lists `folder`."""
    listed = index_entry(folder)
    classes = None if listed is None else listed[0].get("n_classes")
    return classes if isinstance(classes, int) else None


def asked_budget(folder: Path, policy: FittedPolicy) -> float | None:
    """The budget the schedulers folder's index says was asked for `folder`'s policy, where
    it differs from the one the policy was fitted at (below the first exit's cost, the fit
    spends that cost)."""
    listed = index_entry(folder)
    if listed is None or "fitted_ms" not in listed[1]:
        return None
    asked = float(listed[1]["budget_ms"])
    return asked if asked != policy.budget_ms else None


def weights_classes(policy: FittedPolicy, num_classes: int) -> int | None:
    """Classes an EENet policy's networks take, where their inputs show them (`top_probs` = 0:
    every class's probability is a feature of exit 0)."""
    from eenet.schedulers.eenet.features import exit_features
    from eenet.schedulers.eenet.scorer import member_prefixes, recorded_feature_options

    weights = getattr(policy, "weights", None)
    if not weights or not member_prefixes(weights):
        return None
    options = recorded_feature_options(weights)
    first = weights.get(f"{member_prefixes(weights)[0]}g0.w1")
    if options[0] != 0 or first is None:
        return None
    extra = exit_features(np.zeros((1, num_classes)), None, *options).shape[1] - num_classes
    return int(np.shape(first)[0]) - extra


def check_policy_fits(policy: FittedPolicy, folder: Path, n_exits: int, num_classes: int,
                      model_dir: str) -> None:
    """A policy fitted on another model's outputs (other exits or classes) or planned with
    another architecture's costs is a one-line ArtifactError naming --policy, before any
    inference; one planned for other weights of the same architecture gets a note."""
    from eenet.outputs import log_softmax64
    from eenet.real_latency import check_policy_for_model, other_weights_note
    from eenet.sweep_evaluation import decide_checked

    check_policy_for_model(
        policy, folder, n_exits, num_classes, model_dir, label=f"--policy: {folder}",
        have="the model has",
        fitted_classes=lambda: index_classes(folder) or weights_classes(policy, num_classes))
    note = other_weights_note(policy, model_dir, f"--policy {folder}")
    if note:
        print(note, file=sys.stderr)
    probe = np.random.default_rng(0).standard_normal((n_exits, 2, num_classes))
    with naming("--policy"):  # anything else that does not fit: decide on two samples of it
        decide_checked(policy, log_softmax64(probe.astype(np.float32)), folder, {"dir": "."})


def costs_profiled_at(folder: Path) -> dict[str, Any] | None:
    """The device, batch size and threads the policy's costs were profiled at, as the
    schedulers folder's index records them (None: no index, or costs of an imported CSV)."""
    listed = index_entry(folder)
    recorded = None if listed is None else listed[0].get("costs_profiled_at")
    return recorded if isinstance(recorded, dict) and recorded else None


def unrecorded_profile_note(policy: FittedPolicy, folder: Path) -> str | None:
    """A note for a policy planned with a latency profile's costs (it records the profile's
    model) whose folder no schedulers index lists (a policy.json copied out on its own): how
    those costs were profiled is kept in the index only, so the run cannot say whether its
    batch size, threads and device are the profile's. None otherwise (an index lists it, or
    its costs were typed: they are whatever they say)."""
    if policy.model is None or index_entry(folder) is not None:
        return None
    return (f"note: --policy {folder}: no schedulers index (index.json) lists it, so where its "
            "costs were profiled (device, batch size, threads) is not known here; its planned "
            "ms compare with a run at the profile's settings (the pipeline's: "
            "artifacts/latency.json)")
