"""The exit-policy interface shared by every scheduler: `FittedPolicy`, and its settings.

A policy gives each exit k a score s_k(x) computed only from exits 0..k, and a threshold t_k;
a sample leaves at the first k with s_k >= t_k, the last exit takes everything left
(t_{K-1} = -inf). Thresholds come from a planned exit distribution (docs/method.md;
`eenet.schedulers.thresholds`); a policy is saved as plain data (`eenet.schedulers.policy_file`).
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from eenet.atomic import atomic_directory, holds_current_folder
from eenet.budget import DEFAULT_COST_UNIT, cost_unit_problem
from eenet.costs import is_real_number
from eenet.errors import ArtifactError, ConfigError
from eenet.jsonio import write_json
from eenet.outputs import (
    HEAD_CHECK_SAMPLES,
    PROB_TOLERANCE,
    ExitOutputs,
    looks_like_probabilities,
    validate_exit_outputs,
)
from eenet.schedulers.policy_file import (
    POLICY_FILE,
    checked,
    foreign_files,
    json_number,
    malformed,
    model_entry,
    number_list,
)
from eenet.schedulers.thresholds import (
    check_first_index,
    exit_fractions,
    first_exit,
    mean_cost,
    thresholds_from_plan,
)

# the rule reported for a policy that lets no sample leave before the last exit
NO_EARLY_EXIT_RULE = "last exit (no early exit)"
# per-split work shared between policies and fits (`cached`), keyed ("scores", <score name>)
# for the fixed scores (`cached_scores`) and ("eenet_features", ...) for EENet's input
# features; every cache also keeps the log-probabilities it is kept for (`check_cache_for`)
ScoreCache = dict[Any, Any]
# the key of the log-probabilities a ScoreCache is kept for
CACHE_OWNER = ("log_probs",)
# the key of the values of them that a ScoreCache checks on each use (`check_cache_for`): one
# value of each row (exit, sample), its class moving from row to row (`_row_sample`): a
# check of every value would cost more than the scores the cache saves; one value per row,
# read with one `take`, costs a seventh of a max p score (2026-12-07, 4 x 100,000 x 100: 3.5
# against 26 ms; the index tuple it replaced 10.7 ms)
CACHE_SAMPLE = ("log_probs_sample",)
# the step between the classes checked in consecutive rows (a prime: the class moves by it,
# modulo the class count, so consecutive rows are checked in different classes)
CACHE_SAMPLE_CLASS_STEP = 7919
# what a ScoreCache keeps under a key: one array, or a list of them (EENet's features)
Cached = TypeVar("Cached", np.ndarray, list[np.ndarray])
# a class count a policy was fitted on where it records none: the count, a function giving it
# (called only when needed), or None (unknown)
ClassCount = int | Callable[[], int | None] | None


# what `decide`, given probabilities instead of float64 log-probabilities, says to do
PROBS_ADVICE = ("these look like probabilities (each row in [0, 1], summing to 1): pass "
                "np.log(probs.astype(np.float64))")


def check_log_probabilities(log_probs: np.ndarray) -> None:
    """Each class row of `log_probs` [K, N, C] (its first HEAD_CHECK_SAMPLES samples) must
    be a log-probability vector: exp summing to 1 within PROB_TOLERANCE, as loaded outputs'
    `log_probs()` are. Raw logits or probabilities are a one-line ArtifactError naming the
    first such row and how to take the log of what was given: every policy would decide on
    them without a word, and wrongly. A guard against the wrong array, not a check of every
    value (`exits_for` checks the outputs in full; -inf for some classes, probability 0, is a
    log-probability)."""
    head = np.asarray(log_probs[:, :HEAD_CHECK_SAMPLES], dtype=np.float64)
    if head.size == 0:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        top = head.max(axis=-1, keepdims=True)
        sums = np.exp(top[..., 0]) * np.exp(head - top).sum(axis=-1)
    sums[top[..., 0] == -np.inf] = 0.0  # a row of -inf only: probabilities summing to 0
    bad = ~(np.abs(sums - 1.0) <= PROB_TOLERANCE)  # NaN is bad too
    if not bad.any():
        return
    exit_k, sample = (int(i[0]) for i in np.nonzero(bad))
    advice = (PROBS_ADVICE if looks_like_probabilities(head) else
              "pass logits through eenet.outputs.log_softmax64 (ExitOutputs.log_probs())")
    raise ArtifactError(
        "log_probs: expected log-probabilities [exits, samples, classes], each row's exp "
        f"summing to 1 (within {PROB_TOLERANCE}); exit {exit_k}, sample {sample} sums to "
        f"{sums[exit_k, sample]:.3g}: {advice}")


def check_float64(log_probs: np.ndarray, method: str) -> None:
    """`log_probs` are float64, as every policy is fitted and run on (`log_softmax64`), else a
    one-line ArtifactError: float32 log-softmax rounds many top log-probabilities to exactly 0,
    so samples a policy tells apart tie at its thresholds and leave elsewhere, without a word
    (a cast back to float64 cannot restore what the rounding lost). Probabilities (float32
    softmax) are told to take their log in float64 instead."""
    if log_probs.dtype != np.float64:
        probs = (log_probs.dtype.kind == "f"
                 and looks_like_probabilities(log_probs[:, :HEAD_CHECK_SAMPLES]))
        advice = (PROBS_ADVICE if probs else "compute them from the logits with "
                  "eenet.outputs.log_softmax64 (or ExitOutputs.log_probs())")
        raise ArtifactError(
            f"{method} policy: expected float64 log-probabilities, got {log_probs.dtype}: "
            f"{advice}; {log_probs.dtype} rounding changes the decisions")


def cached_scores(
    cache: ScoreCache | None, name: str, score: Callable[[np.ndarray], np.ndarray],
    log_probs: np.ndarray,
) -> np.ndarray:
    """`score(log_probs)`, the fixed score called `name`, computed once per `cache`
    (`cached`)."""
    return cached(cache, ("scores", name), log_probs, lambda: score(log_probs))


def cached(cache: ScoreCache | None, key: tuple[Any, ...], log_probs: np.ndarray,
           compute: Callable[[], Cached]) -> Cached:
    """`compute()`, work on `log_probs` that depends on nothing else (a fixed score, EENet's
    input features), done once per `cache` and kept there under `key`: a dict the caller
    keeps for one split's log-probabilities (None: computed, kept nowhere; other
    log-probabilities than the cache's: `check_cache_for`'s ConfigError). Its arrays are kept
    read-only, since every policy and fit on the split reads the same ones."""
    if cache is None:
        return compute()
    check_cache_for(cache, log_probs)
    if key not in cache:
        value = compute()
        for array in value if isinstance(value, list) else [value]:
            array.flags.writeable = False
        cache[key] = value
    return cache[key]


def check_cache_for(cache: ScoreCache, log_probs: np.ndarray) -> None:
    """`cache` is kept for `log_probs`: the first array it was given (kept in it, so that no
    other array can take its memory), or a view of all of it, with the values it had then.
    Other log-probabilities (another split, a part of this one to decide it in parts) are a
    one-line ConfigError naming `cache`: the scores kept for the first would decide them,
    wrongly and without a word. So is the array changed in place since (e.g. recalibrated, or
    one sample's row replaced), as far as one value of each row (`_row_sample`) shows: a
    change that leaves that value of every row as it was does not show."""
    owner = cache.setdefault(CACHE_OWNER, log_probs)
    if owner is not log_probs and not _same_array(owner, log_probs):
        raise ConfigError(
            f"cache: kept for log-probabilities of shape {owner.shape} ({owner.dtype}), given "
            f"another array of shape {np.shape(log_probs)}; give one cache per split's "
            "log-probabilities (a split decided in parts: none, or one per part)")
    if CACHE_SAMPLE not in cache:
        cache[CACHE_SAMPLE] = _row_sample(owner)
    positions, values = cache[CACHE_SAMPLE]
    if not np.array_equal(_values_at(owner, positions), values, equal_nan=True):
        raise ConfigError(
            "cache: its log-probabilities were changed in place after it took them, so the "
            "scores it keeps are out of date; give a new cache after changing them")


def _row_sample(array: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """One position in each row of `array` (every index but the last, the class), the class
    moving by `CACHE_SAMPLE_CLASS_STEP` from row to row, as flat (row-major) indices, and a
    copy of its values there (None and all of an array without rows: fewer than two axes, or
    no values)."""
    if array.ndim < 2 or array.size == 0:
        return None, np.array(array, copy=True)
    n_classes = array.shape[-1]
    rows = np.arange(array.size // n_classes, dtype=np.int64)
    flat = rows * n_classes + rows * CACHE_SAMPLE_CLASS_STEP % n_classes
    return flat, _values_at(array, flat)


def _values_at(array: np.ndarray, flat: np.ndarray | None) -> np.ndarray:
    """`array`'s values at the row-major flat indices `flat` (None: all of it): a `take` on a
    C-contiguous array (an index tuple took three times as long, `CACHE_SAMPLE`), an index
    tuple otherwise (a flat view of a strided array would copy all of it)."""
    if flat is None:
        return array
    if array.flags.c_contiguous:
        return array.reshape(-1).take(flat)
    return array[np.unravel_index(flat, array.shape)]


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `a` and `b` are the same values in the same memory (a view of all of `a`)."""
    if not isinstance(b, np.ndarray):
        return False
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype)


def resolve_settings(
    method: str, defaults: Mapping[str, Any], settings: Mapping[str, Any] | None,
    param: str = "settings",
) -> dict[str, Any]:
    """Defaults overridden by `settings`; an unknown key, or settings that are no mapping,
    is a one-line ConfigError naming `param` (what the caller called the settings: the Python
    API's `settings`, or e.g. `settings.eenet` of a sweep's per-method settings); so is a
    value of an on/off setting that is not true or false (the text "false" would have
    switched it on)."""
    if settings is not None and not isinstance(settings, Mapping):
        raise ConfigError(f"{param}: expected a mapping of {method} setting names to values, "
                          f"got {settings!r}")
    # numpy numbers as Python's (np.int64(16) hidden units were refused; policy.json records
    # the settings, and JSON has no numpy types)
    settings = {key: value.item() if isinstance(value, np.generic) else value
                for key, value in (settings or {}).items()}
    unknown = sorted(set(settings) - set(defaults), key=str)
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "(none)"
        raise ConfigError(
            f"{param}: unknown {method} setting {unknown[0]!r}; allowed: {allowed}"
        )
    for key, value in settings.items():
        if isinstance(defaults[key], bool) and not isinstance(value, bool):
            raise ConfigError(f"{param}.{key}: expected true or false, got {value!r}")
    return {**defaults, **settings}


@dataclass(eq=False)  # compared by identity: fields hold numpy arrays
class FittedPolicy(ABC):
    """A policy fitted at one budget: plain data that can be saved and reloaded."""

    method: str
    budget_ms: float
    thresholds: np.ndarray
    val_cost_ms: float = float("nan")
    val_exit_fractions: list[float] = field(default_factory=list)
    fit_seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    # cumulative ms/sample per exit the thresholds were planned with (the latency table, plus
    # the policy's own scoring cost where it was charged); empty: the shared latency table
    planned_costs: list[float] = field(default_factory=list)
    # per exit, the share of samples tied exactly at its threshold that leave there (see
    # `thresholds_from_plan`); empty: all of them, as everywhere without a tie to split
    tie_shares: list[float] = field(default_factory=list)
    # the unit of the budget and costs (`eenet schedule --cost-unit`); the pipeline's is ms
    cost_unit: str = DEFAULT_COST_UNIT
    # classes of the exit outputs it was fitted on: outputs with another count are refused;
    # None: not recorded (a policy file written before the count was)
    n_classes: int | None = None
    # the trained model whose latency profile it was planned with (`eenet.models.artifact.
    # model_identity`: architecture and weights' sha256); None: not recorded (costs of a CSV,
    # a comma list, or a policy file written before)
    model: dict[str, Any] | None = None

    # True when `scores` does not depend on what was fitted (heuristics): callers may cache
    fixed_scores: ClassVar[bool] = False
    # how a fixed method turns its scores into thresholds, named in `rule` after its score
    plan_name: ClassVar[str | None] = None

    @abstractmethod
    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        """Scores [k, N] from log-probabilities [k, N, C] of exits 0..k-1 (causal per exit)."""

    def scores_cached(self, log_probs: np.ndarray, cache: ScoreCache | None) -> np.ndarray:
        """`scores(log_probs)`, sharing work through `cache` between policies on one split
        (`cached_scores`; None: nothing shared)."""
        if not self.fixed_scores:
            return self.scores(log_probs)
        return cached_scores(cache, self.method, self.scores, log_probs)

    def score_step(
        self, k: int, history: np.ndarray, carry: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Exit k's scores during real early exit, [N], from `history` = log-probabilities of
        exits 0..k of the samples still present, [k+1, N, C].

        `carry` is what the previous call returned (None at exit 0): per-sample state with
        samples on axis 0, which the caller shrinks with the batch. Equals `scores(history)[k]`;
        subclasses override it to do O(1) work per exit instead of rescoring exits 0..k.
        """
        return self.scores(history)[k], None

    def exits_from_scores(self, scores: np.ndarray, first_index: int = 0) -> np.ndarray:
        """Exit index of every sample, int64 [N], from its scores [K, N] (tied samples split
        by their index, counted from `first_index`)."""
        return first_exit(scores, self.thresholds, self.tie_shares or None, first_index)

    def decide(
        self, log_probs: np.ndarray, first_index: int = 0, *, cache: ScoreCache | None = None
    ) -> np.ndarray:
        """Exit index of every sample, int64 [N], from all exits' log-probabilities [K, N, C]
        (K: the exits it was fitted for; anything else is a one-line ArtifactError).
        `first_index`: the index of the first sample in the split it comes from, so that a
        policy splitting tied samples by their index decides a split given in parts, each with
        its offset, as the whole split at once (and as the runtime does). `cache`: scores
        shared with other policies deciding the same `log_probs` (`scores_cached`; a cache
        kept for other log-probabilities, a part of them too, is a ConfigError)."""
        first_index = check_first_index(first_index)
        if not isinstance(log_probs, np.ndarray):  # a list: a TypeError deep in the scores
            raise ArtifactError(f"{self.method} policy: expected log-probabilities as a numpy "
                                f"array, got {type(log_probs).__name__}")
        shape = np.shape(log_probs)
        if len(shape) != 3:
            raise ArtifactError(
                f"{self.method} policy: fitted for {len(self.thresholds)} exits; expected "
                f"log-probabilities [{len(self.thresholds)}, n_samples, n_classes], got shape "
                f"{shape}")
        self.check_exits(shape[0], "the log-probabilities have")
        self.check_classes(shape[2], "the log-probabilities have")
        check_float64(log_probs, self.method)
        check_log_probabilities(log_probs)
        if shape[1] == 0:  # no sample, no decision (EENet's scorer cannot reshape nothing)
            return np.zeros(0, dtype=np.int64)
        return self.exits_from_scores(self.scores_cached(log_probs, cache), first_index)

    def check_fits(self, n_exits: int, n_classes: int, have: str,
                   fitted_classes: ClassCount = None) -> None:
        """Outputs of `n_exits` exits and `n_classes` classes are ones this policy was fitted
        for, else a one-line ArtifactError ("maxprob policy: fitted for 3 exits; <have> 4").
        The one check every consumer of a loaded policy (evaluation, runtime, predict) runs."""
        self.check_exits(n_exits, have)
        self.check_classes(n_classes, have, fitted_classes)

    def check_exits(self, n_exits: int, have: str) -> None:
        """`n_exits` exits are what this policy was fitted for, else a one-line ArtifactError
        ("maxprob policy: fitted for 3 exits; <have> 4")."""
        fitted = len(self.thresholds)
        if n_exits != fitted:
            raise ArtifactError(f"{self.method} policy: fitted for {fitted} exits; {have} "
                                f"{n_exits}")

    def check_classes(self, n_classes: int, have: str, fitted: ClassCount = None) -> None:
        """Outputs of `n_classes` classes are ones this policy was fitted for, else a one-line
        ArtifactError ("... fitted on 10 classes; <have> 100"). `fitted`: the count where the
        policy does not record it (known from elsewhere), or a function giving it, called only
        then; unknown (None): anything goes."""
        if self.n_classes is not None:
            fitted = self.n_classes
        elif callable(fitted):
            fitted = fitted()
        if fitted is not None and n_classes != fitted:
            raise ArtifactError(f"{self.method} policy: fitted on exit outputs of "
                                f"{fitted} classes; {have} {n_classes}")

    def exits_scored(self) -> int:
        """How many exits, from the first, need a score: up to the last exit before the last
        whose threshold is below +inf (where a sample may leave), and not from the first exit
        that lets every sample leave (`exit_for_all`) on. 0: nobody leaves early, or everyone
        leaves at the first exit. Exits from there on need no score (the runtime skips scoring
        them)."""
        open_exits = np.flatnonzero(self._early_thresholds() < np.inf)
        return min(int(open_exits[-1]) + 1 if open_exits.size else 0, self.exit_for_all())

    def exit_for_all(self) -> int:
        """The first exit at which every sample still present leaves, without a score: the
        first threshold of -inf (every score passes it), else the last exit."""
        everyone = np.flatnonzero(self._early_thresholds() == -np.inf)
        return int(everyone[0]) if everyone.size else len(self.thresholds) - 1

    def leaves_early(self) -> bool:
        """Whether any sample can leave before the last exit (a threshold below +inf there)."""
        return bool((self._early_thresholds() < np.inf).any())

    def _early_thresholds(self) -> np.ndarray:
        """The thresholds of the exits before the last, float64."""
        return np.asarray(self.thresholds[:-1], dtype=np.float64)

    def rule(self) -> str:
        """The fitted rule in a few words (score / plan), for reports."""
        if not self.leaves_early():
            return NO_EARLY_EXIT_RULE
        return self.method if self.plan_name is None else f"{self.method} / {self.plan_name}"

    def exits_for(self, outputs: ExitOutputs, first_index: int = 0) -> np.ndarray:
        """Exit index of every sample of a split (checked: no NaN or +inf logits, no row of -inf
        only, labels in range); `first_index` as for `decide`."""
        return self.decide(validate_exit_outputs(outputs).log_probs(), first_index)

    def apply_plan(self, val_scores: np.ndarray, plan: np.ndarray, costs: np.ndarray) -> None:
        """Set thresholds realising `plan` on the validation scores, and record the result."""
        self.set_rule(*thresholds_from_plan(val_scores, plan))
        self.record_validation(val_scores, costs)

    def set_rule(self, thresholds: np.ndarray, shares: np.ndarray | None = None) -> None:
        """Thresholds and tie shares (None or all 1: no tie split) of the fitted rule."""
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        split = shares is not None and bool((np.asarray(shares) < 1.0).any())
        self.tie_shares = [float(q) for q in shares] if split else []

    def record_validation(self, val_scores: np.ndarray, costs: np.ndarray) -> None:
        """Store the realised validation cost and exit fractions of the fitted thresholds."""
        exits = self.exits_from_scores(val_scores)
        self.val_cost_ms = mean_cost(exits, costs)
        self.val_exit_fractions = exit_fractions(exits, val_scores.shape[0])
        self.planned_costs = [float(c) for c in costs]

    def cost_table(self, costs: np.ndarray) -> np.ndarray:
        """The per-exit costs this policy really runs at: its planned costs, or `costs` (the
        shared latency table) for a policy saved without them."""
        if not self.planned_costs:
            return np.asarray(costs, dtype=np.float64)
        if len(self.planned_costs) != np.size(costs):
            raise ValueError(f"planned for {len(self.planned_costs)} exits, the costs list "
                             f"{np.size(costs)}")
        return np.asarray(self.planned_costs, dtype=np.float64)

    # ---- persistence: JSON metadata (+ tensors written by subclasses)
    def metadata(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "budget_ms": self.budget_ms,
            "thresholds": [json_number(t) for t in self.thresholds],
            "val_cost_ms": json_number(self.val_cost_ms),
            "val_exit_fractions": list(self.val_exit_fractions),
            "fit_seconds": self.fit_seconds,
            "settings": self.settings,
            "planned_costs_ms": list(self.planned_costs),
            "tie_shares": list(self.tie_shares),
            # only another unit is written: a policy file without one is in ms, as before
            **({"cost_unit": self.cost_unit} if self.cost_unit != DEFAULT_COST_UNIT else {}),
            **({"n_classes": self.n_classes} if self.n_classes is not None else {}),
            **({"model": self.model} if self.model is not None else {}),
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the policy as plain data under `directory` (never a pickle), all at once: the
        folder is swapped in whole (an interrupted save leaves the old policy, never its JSON
        beside another fit's weights). A folder holding anything but a policy's own files is
        refused (a one-line ArtifactError), since saving replaces it."""
        directory = Path(directory)
        if directory.is_symlink():  # saving replaces the folder: the one the link names
            directory = directory.resolve()
        if holds_current_folder(directory):
            raise ArtifactError(f"{directory}: the current folder or one holding it, which "
                                "saving a policy replaces whole; give a folder inside it, e.g. "
                                f"{directory / 'policy'}")
        strangers = foreign_files(directory) if directory.is_dir() else []
        if strangers:
            raise ArtifactError(f"{directory}: holds {', '.join(strangers[:3])}"
                                f"{', ...' if len(strangers) > 3 else ''} beside a fitted "
                                "policy's files, which saving the policy there would delete; "
                                "give a new or empty folder")
        with atomic_directory(directory) as tmp:
            self.save_tensors(tmp)
            write_json(tmp / POLICY_FILE, self.metadata(), strict=True)
        return directory / POLICY_FILE

    def save_tensors(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Subclasses with weights write them here (safetensors)."""

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], directory: Path) -> FittedPolicy:
        """The policy of a policy.json's fields, each checked: a bad one is a one-line
        ArtifactError naming the file, the field and what it allows."""
        where = directory / POLICY_FILE
        thresholds = number_list(
            meta, "thresholds", where, None,
            'one number per exit (or "inf" / "-inf"), not NaN, the last exit\'s "-inf"',
            lambda t: bool(t) and not any(map(math.isnan, t)) and t[-1] == -math.inf,
        )
        n = len(thresholds)
        shares = number_list(meta, "tie_shares", where, n,
                             f"one value in [0, 1] per exit ({n}), or none",
                             lambda q: all(0.0 <= x <= 1.0 for x in q))
        planned = number_list(
            meta, "planned_costs_ms", where, n,
            f"one finite cost > 0 per exit ({n}), increasing, or none",
            lambda c: all(math.isfinite(x) and x > 0 for x in c)
            and all(a < b for a, b in pairwise(c)),
        )
        fractions = number_list(meta, "val_exit_fractions", where, n,
                                f"one fraction in [0, 1] per exit ({n}), or none",
                                lambda f: all(0.0 <= x <= 1.0 for x in f))
        unit = meta.get("cost_unit", DEFAULT_COST_UNIT)
        problem = cost_unit_problem(unit)
        if problem:
            raise malformed(where, f"cost_unit {problem}")
        return cls(
            method=meta["method"],
            budget_ms=checked(meta, "budget_ms", where, "a finite number > 0",
                              lambda v: is_real_number(v) and math.isfinite(v) and v > 0),
            thresholds=np.array(thresholds, dtype=np.float64),
            val_cost_ms=float(checked(
                meta, "val_cost_ms", where, 'a finite number >= 0 or "nan" (not recorded)',
                lambda v: v == "nan" or is_real_number(v) and (math.isnan(v) or 0 <= v < math.inf),
                "nan")),
            val_exit_fractions=fractions,
            fit_seconds=checked(meta, "fit_seconds", where, "a finite number >= 0",
                                lambda v: is_real_number(v) and 0 <= v < math.inf, 0.0),
            settings=dict(checked(meta, "settings", where, "a JSON object",
                                  lambda v: isinstance(v, dict), {})),
            planned_costs=planned,
            tie_shares=shares,
            cost_unit=unit,
            n_classes=checked(meta, "n_classes", where, "an integer >= 1",
                              lambda v: v is None or type(v) is int and v >= 1),
            model=model_entry(meta, where),
        )


