"""The fitted EENet policy: thresholds on its chosen score, weights in safetensors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from eenet.atomic import write_with
from eenet.costs import is_real_number
from eenet.errors import ArtifactError, require_regular_file
from eenet.schedulers.base import (
    NO_EARLY_EXIT_RULE,
    FittedPolicy,
    ScoreCache,
    cached,
    cached_scores,
)
from eenet.schedulers.eenet.features import data_features, exit_features
from eenet.schedulers.eenet.lookahead import lookahead_scores, stop_value
from eenet.schedulers.eenet.scorer import (
    ExitScorer,
    check_weights,
    compile_scorer,
    forward,
    fused_layout,
    mean_score_logits,
    recorded_feature_options,
    step_exit,
)
from eenet.schedulers.eenet.settings import FIXED_SCORES, LEARNED, LOOKAHEAD
from eenet.schedulers.policy_file import POLICY_FILE, checked, number_list

WEIGHTS_FILE = "eenet.safetensors"
# the plan of a policy whose every score costs more than the budget to reach the first exit
# (its own scoring charged): everyone leaves there unscored, and its rule says so
FIRST_EXIT_UNSCORED = "first_exit (every score's own cost breaks the budget: unscored)"
FIRST_EXIT_UNSCORED_RULE = "exit 0 for all, unscored"


def cached_features(
    cache: ScoreCache | None, log_probs: np.ndarray, options: tuple[int, bool, bool]
) -> list[np.ndarray]:
    """`data_features(log_probs, *options)`, computed once per `cache` (`cached`): EENet's fits
    and its policies at every budget of a sweep read the same budget-independent input
    features."""
    return cached(cache, ("eenet_features", *options), log_probs,
                  lambda: data_features(log_probs, *options))


@dataclass(eq=False)  # compared by identity: fields hold numpy arrays
class EENetPolicy(FittedPolicy):
    """Thresholds on the score logits g_k (or on a fixed score, or on the lookahead stop
    value); weights kept as plain float32 arrays."""

    weights: dict[str, np.ndarray] = field(default_factory=dict)
    plan: list[float] = field(default_factory=list)
    plan_source: str = ""
    score_source: str = LEARNED  # "learned" (g_k), "lookahead" or a score of FIXED_SCORES
    lookahead_lambda: float = 0.0  # the lookahead stop value's price of a ms (accuracy / ms)
    lookahead_costs: list[float] = field(default_factory=list)  # ... and the costs it uses
    _scorers: list[ExitScorer] = field(default_factory=list, init=False, repr=False,
                                       compare=False)
    _options: tuple[int, bool, bool] = field(default=(0, False, False), init=False,
                                             repr=False, compare=False)
    _compiled_from: Mapping[str, np.ndarray] | None = field(default=None, init=False,
                                                            repr=False, compare=False)

    def rule(self) -> str:
        """Its score source and plan, e.g. 'maxprob / eenet_tau0+refined' (a heuristic's
        score with a plan chosen on validation) or 'lookahead / lookahead'."""
        if not self.leaves_early():
            return NO_EARLY_EXIT_RULE
        if self.plan_source == FIRST_EXIT_UNSCORED:  # no score is computed: none to name
            return FIRST_EXIT_UNSCORED_RULE
        return f"{self.score_source} / {self.plan_source}"

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        if self.score_source in FIXED_SCORES:
            return FIXED_SCORES[self.score_source](log_probs)
        options = recorded_feature_options(self.weights)
        return self._learned_scores(data_features(log_probs, *options))

    def _learned_scores(self, feats: list[np.ndarray]) -> np.ndarray:
        """g_k, or the lookahead stop value, of the exits of `feats` ([k, N])."""
        if self.score_source != LOOKAHEAD:
            return mean_score_logits(self.weights, feats)
        return lookahead_scores(forward(self.weights, feats)[2], self.lookahead_costs,
                                self.lookahead_lambda)

    def score_step(
        self, k: int, history: np.ndarray, carry: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Exit k's score from exits k-1 and k only; carry = the members' a_0..a_{k-1},
        [N, members, k]. Equal to `scores(history)[k]`."""
        if self.score_source in FIXED_SCORES:
            return FIXED_SCORES[self.score_source](history[k : k + 1])[0], None
        if self._compiled_from is not self.weights:  # compile once per weights object
            self._scorers = compile_scorer(self.weights)
            self._options = recorded_feature_options(self.weights)
            self._compiled_from = self.weights
        if not self._scorers:
            return np.zeros(history.shape[1]), None
        scorer = self._scorers[k]
        x = exit_features(history[k], history[k - 1] if k > 0 else None, *self._options)
        z, carry = step_exit(scorer, x, carry)
        if self.score_source != LOOKAHEAD:
            return z[:, scorer.members], carry
        if scorer.looks < 2:  # the last exit: it takes everyone left
            return np.zeros(z.shape[0]), carry
        costs = np.asarray(self.lookahead_costs, dtype=np.float64)[k:]
        return stop_value(z[:, scorer.members + 1 :], costs, self.lookahead_lambda), carry

    def scores_cached(self, log_probs: np.ndarray, cache: ScoreCache | None) -> np.ndarray:
        """Policies fitted at other budgets share the (budget-independent) input features
        (None: nothing shared)."""
        if self.score_source in FIXED_SCORES:  # same key as the heuristic policies use
            return cached_scores(cache, self.score_source, self.scores, log_probs)
        return self._learned_scores(
            cached_features(cache, log_probs, recorded_feature_options(self.weights)))

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(plan=list(self.plan), plan_source=self.plan_source,
                    score_source=self.score_source, weights=WEIGHTS_FILE)
        if self.score_source == LOOKAHEAD:
            meta.update(lookahead_lambda=float(self.lookahead_lambda),
                        lookahead_costs_ms=[float(c) for c in self.lookahead_costs])
        return meta

    def save_tensors(self, directory: Path) -> None:
        def _write(tmp: Path) -> None:
            save_file({k: np.ascontiguousarray(v) for k, v in self.weights.items()}, str(tmp))

        write_with(directory / WEIGHTS_FILE, _write)

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], directory: Path) -> EENetPolicy:
        base = FittedPolicy.from_metadata.__func__(cls, meta, directory)  # type: ignore[attr-defined]
        where, n = directory / POLICY_FILE, len(base.thresholds)
        name = checked(meta, "weights", where, "a file name in the policy's folder",
                       lambda v: isinstance(v, str) and bool(v) and Path(v).name == v
                       and v not in (".", ".."), WEIGHTS_FILE)
        path = directory / name
        require_regular_file(path, "the EENet weights", "EENet weights not found")
        try:
            base.weights = dict(load_file(str(path)))
        except Exception as exc:  # safetensors raises its own error types
            raise ArtifactError(f"{path}: not a readable safetensors file ({exc})") from None
        check_weights(base.weights, path, n, base.n_classes)
        base.plan = number_list(meta, "plan", where, n,
                                f"one fraction in [0, 1] per exit ({n}), or none",
                                lambda p: all(0.0 <= x <= 1.0 for x in p))
        base.plan_source = checked(meta, "plan_source", where, "text",
                                   lambda v: isinstance(v, str), "")
        base.score_source = meta.get("score_source", LEARNED)
        allowed = [LEARNED, LOOKAHEAD, *FIXED_SCORES]
        if not isinstance(base.score_source, str) or base.score_source not in allowed:
            raise ArtifactError(f"{where}: unknown score_source {base.score_source!r}; "
                                f"allowed: {', '.join(allowed)}")
        if base.score_source == LOOKAHEAD:
            _load_lookahead(base, meta, where)
        return base


def _load_lookahead(policy: EENetPolicy, meta: Mapping[str, Any], where: Path) -> None:
    """The lookahead rule's price and costs from policy.json, checked against the weights."""
    if "lookahead_lambda" not in meta or "lookahead_costs_ms" not in meta:
        raise ArtifactError(f"{where}: score_source 'lookahead' needs a number "
                            "lookahead_lambda and a list lookahead_costs_ms")
    n_exits = len(policy.thresholds)
    policy.lookahead_lambda = float(checked(
        meta, "lookahead_lambda", where, "a finite number",
        lambda v: is_real_number(v) and math.isfinite(v)))
    policy.lookahead_costs = number_list(
        meta, "lookahead_costs_ms", where, n_exits,
        f"{n_exits} values (one finite cost per exit)",
        lambda c: len(c) == n_exits and all(map(math.isfinite, c)))
    # the weights' shapes alone (checked by `check_weights`): no fused scorer built to read
    # them, the first `score_step` compiles it once
    heads = [looks for _, _, looks in fused_layout(policy.weights)]
    if heads[:-1] != list(range(n_exits, 1, -1)):
        raise ArtifactError(f"{where}: score_source 'lookahead' but the weights have no "
                            "lookahead heads for every exit before the last")
