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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from eenet.atomic import write_with
from eenet.errors import ArtifactError, ConfigError
from eenet.schedulers.base import FittedPolicy, first_exit, thresholds_from_plan
from eenet.schedulers.plans import (
    calibrated_plan,
    geometric_plan,
    last_exit_plan,
    no_early_exit,
    refine_plan,
)
from eenet.schedulers.scores import entropy_of, max_log_prob, neg_normalised_entropy

WEIGHTS_FILE = "eenet.safetensors"
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
    "geometric_candidate": True,  # also try the heuristics' geometric plan on EENet scores
    "refine_plan": True,  # pattern-search the chosen plan at constant cost on validation
    "refine_min_gain": 0.0005,  # ... keeping a move only if it gains > this fraction (>= 2)
    "switch_z": 2.0,  # leave the heuristic baseline only if out-of-fold val gain has z >= this
    "refine_z": 3.0,  # ... and a refined (searched) plan only if its gain has z >= this
    "lookahead": True,  # also train lookahead heads f_k: P(exit j right | x_k), j >= k
    "threads": 1,  # torch threads while fitting (tiny matmuls: more threads only contend)
    "score_candidates": ["maxprob", "entropy"],  # fixed scores the learned one must beat
    # extra ms/sample of reaching each exit when the learned score runs instead of max p (the
    # scoring the latency profile includes): planned and charged with it; [] = not charged.
    # The pipeline fills it from artifacts/scoring.json (stage profile_scoring).
    "scorer_extra_ms": [],
    # the same for the fixed scores of `score_candidates`, {name: [K]} (entropy's costs more
    # than max p's); {} = not charged. Filled by the pipeline likewise.
    "fixed_extra_ms": {},
}


# ------------------------------------------------------------------ features and forward


def data_features(
    log_probs: np.ndarray, top: int = 0, agreement: bool = False, log_scale: bool = False
) -> list[np.ndarray]:
    """Per exit k: [p_k, max p_k, 1 - H(p_k)/log C (, agreement)] as float64 [N, d_k].

    `top` = 0 keeps p_k as it is (C values, the paper); `top` > 0 keeps the `top` largest
    probabilities in decreasing order: class-agnostic, so it generalises from a few thousand
    validation samples where 100 class-specific inputs overfit. `agreement` adds, for k >= 1,
    whether exit k predicts the same class as exit k-1 and the probability exit k gives to
    exit k-1's class (still causal: exits k-1 and k only).
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    return [
        exit_features(log_probs[k], log_probs[k - 1] if k > 0 else None, top, agreement,
                      log_scale)
        for k in range(log_probs.shape[0])
    ]


def exit_features(
    log_probs: np.ndarray,
    previous: np.ndarray | None,
    top: int = 0,
    agreement: bool = False,
    log_scale: bool = False,
) -> np.ndarray:
    """One exit's data features [N, d] from its log-probabilities [N, C] and, for the
    agreement features, the previous exit's (None at exit 0). See `data_features`.

    Few numpy calls: it runs once per exit per batch during real early exit, where at batch 1
    each call's fixed overhead, not the arithmetic, is the cost."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    p = np.exp(log_probs)
    conf = 1.0 - entropy_of(p, log_probs) / math.log(log_probs.shape[-1])
    if top > 0:  # sorted decreasing; its first column is max p
        shown = np.sort(p, axis=-1)[:, : -min(int(top), p.shape[-1]) - 1 : -1]
        top_p = shown[:, :1]
    else:
        shown, top_p = p, p.max(axis=-1, keepdims=True)
    parts = [shown, top_p, conf[:, None]]
    if log_scale:  # same information, resolution where confident samples crowd near 1
        parts = [np.log(np.clip(shown, 1e-12, None)), np.log(top_p),
                 np.log(np.clip(1.0 - conf, 1e-12, None))[:, None]]
    if agreement and previous is not None:
        before = np.asarray(previous).argmax(-1)
        same = log_probs.argmax(-1) == before
        parts += [same[:, None], p[np.arange(p.shape[0]), before][:, None]]
    return np.concatenate(parts, 1, dtype=np.float64)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass(frozen=True)
class ExitScorer:
    """Exit k's networks of all M ensemble members fused into one two-layer net: member i's
    g_k on [x_k, a^i_0..a^i_{k-1}] is hidden block i of w1 / b1 (then, with lookahead heads,
    member i's f_k is hidden block M + i), so one call scores every member (zeros elsewhere
    add exact zeros). Output columns: the M members' g_k, their mean (the ensemble's score),
    then the members' mean of the `looks` lookahead logits (exits k..K-1)."""

    w1: np.ndarray  # [d + M*k, blocks]: data-feature rows shared, then member-major a rows
    b1: np.ndarray  # [blocks]
    w2: np.ndarray  # [blocks, M + 1 + looks]
    b2: np.ndarray  # [M + 1 + looks]
    members: int
    looks: int = 0

    def logits(self, features: np.ndarray, carry: np.ndarray | None) -> np.ndarray:
        """Every member's g_k, their mean and the mean lookahead logits, [N, M + 1 + looks];
        `carry` = the members' a_0..a_{k-1}, [N, M, k]."""
        if carry is not None and carry.shape[2]:
            features = np.concatenate([features, carry.reshape(carry.shape[0], -1)], 1)
        # einsum, not BLAS matmul: a row's result must not depend on the batch size (BLAS
        # picks kernels by shape, and a 1-ulp difference could move a sample across its
        # threshold between real early exit at batch 1 and the simulation on the full split)
        hidden = np.einsum("nd,dh->nh", features, self.w1)
        hidden += self.b1
        np.maximum(hidden, 0.0, out=hidden)
        z = np.einsum("nh,hm->nm", hidden, self.w2)
        z += self.b2
        return z


def _net(weights: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {key: np.asarray(weights[f"{prefix}.{key}"], dtype=np.float64)
            for key in ("w1", "b1", "w2", "b2")}


def compile_scorer(weights: Mapping[str, np.ndarray]) -> list[ExitScorer]:
    """The fused float64 networks of every exit (empty when nothing was trained)."""
    members = _members(weights)
    n = len(members)
    n_exits = sum(1 for name in weights if members and name.startswith(f"{members[0]}g")
                  and name.endswith(".w1"))
    scorers: list[ExitScorer] = []
    for k in range(n_exits):
        nets = [_net(weights, f"{m}g{k}") for m in members]
        heads = ([_net(weights, f"{m}f{k}") for m in members]
                 if f"{members[0]}f{k}.w1" in weights else [])
        d = nets[0]["w1"].shape[0] - k
        looks = heads[0]["w2"].shape[1] if heads else 0
        blocks = nets + heads
        edges = np.cumsum([0, *(net["w1"].shape[1] for net in blocks)])
        w1 = np.zeros((d + n * k, edges[-1]))
        w2 = np.zeros((edges[-1], n + 1 + looks))
        b2 = np.zeros(n + 1 + looks)
        for i, net in enumerate(blocks):
            cols, member = slice(edges[i], edges[i + 1]), i % n
            w1[:d, cols] = net["w1"][:d]
            w1[d + member * k : d + (member + 1) * k, cols] = net["w1"][d:]
            if i < n:
                w2[cols, i], b2[i] = net["w2"][:, 0], net["b2"][0]
            else:
                w2[cols, n + 1 :] = net["w2"] / n
        w2[:, n], b2[n] = w2[:, :n].sum(axis=1) / n, b2[:n].mean()
        if heads:
            b2[n + 1 :] = np.mean([net["b2"] for net in heads], axis=0)
        b1 = np.concatenate([net["b1"] for net in blocks])
        scorers.append(ExitScorer(w1, b1, w2, b2, n, looks))
    return scorers


def _step(
    scorer: ExitScorer, features: np.ndarray, carry: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exit k's outputs [N, M + 1 + looks] (see ExitScorer) and the carry extended by the
    members' a_k."""
    z = scorer.logits(features, carry)
    a = _sigmoid(z[:, : scorer.members])[:, :, None]
    return z, a if carry is None else np.concatenate([carry, a], 2)


def stop_value(look_logits: np.ndarray, costs_ahead: np.ndarray, lam: float) -> np.ndarray:
    """Value of leaving at exit k over the best continuation, [N]: P(right at k) minus the
    max over later exits j of P(right at j) - lam (c_j - c_k). `look_logits` [N, K-k] are the
    lookahead logits for exits k..K-1, `costs_ahead` their costs [K-k]."""
    p = _sigmoid(look_logits)
    ahead = p[:, 1:] - lam * (costs_ahead[1:] - costs_ahead[0])
    return p[:, 0] - ahead.max(axis=1)


def lookahead_scores(
    looks: list[np.ndarray], costs: np.ndarray | list[float], lam: float
) -> np.ndarray:
    """`stop_value` at every exit but the last (zeros there: it takes everyone left), [K, N]."""
    costs = np.asarray(costs, dtype=np.float64)
    out = np.zeros((len(looks), looks[0].shape[0]))
    for k, z in enumerate(looks[:-1]):
        out[k] = stop_value(z, costs[k:], lam)
    return out


def score_logits(weights: Mapping[str, np.ndarray], log_probs: np.ndarray) -> np.ndarray:
    """g_k(x_k) for the exits given, [k, N]; causal: row j uses exits 0..j only."""
    return _score_logits(weights, data_features(log_probs, *_feature_options(weights)))


def _feature_options(weights: Mapping[str, np.ndarray]) -> tuple[int, bool, bool]:
    """The feature options used at fit time, recorded in the weights file."""
    top = int(np.asarray(weights.get("top", np.zeros(1)))[0])
    agreement = bool(np.asarray(weights.get("agreement", np.zeros(1)))[0])
    log_scale = bool(np.asarray(weights.get("log_scale", np.zeros(1)))[0])
    return top, agreement, log_scale


def _members(weights: Mapping[str, np.ndarray]) -> list[str]:
    """Weight-name prefixes of the ensemble members ("" for a single unprefixed network)."""
    if "members" in weights:
        return [f"m{i}." for i in range(int(np.asarray(weights["members"])[0]))]
    return [""] if "g0.w1" in weights else []


def _forward(
    weights: Mapping[str, np.ndarray], feats: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(mean score logits [K, N], every member's a_k [N, M, K], mean lookahead logits per exit
    [N, looks_k]) over the exits of `feats`."""
    scorers = compile_scorer(weights)
    n = feats[0].shape[0]
    if not scorers:  # fitted without training (no early exit needed): no scores
        return np.zeros((len(feats), n)), np.zeros((n, 0, len(feats))), []
    carry, rows, looks = None, [], []
    for scorer, x in zip(scorers, feats, strict=False):
        z, carry = _step(scorer, x, carry)
        rows.append(z[:, scorer.members])
        looks.append(z[:, scorer.members + 1 :])
    assert carry is not None
    return np.stack(rows), carry, looks


def _member_probabilities(
    weights: Mapping[str, np.ndarray], feats: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(mean score logits [K, N], every member's a_k [N, M, K]) over the exits of `feats`."""
    return _forward(weights, feats)[:2]


def _score_logits(weights: Mapping[str, np.ndarray], feats: list[np.ndarray]) -> np.ndarray:
    """Mean over ensemble members of g_k(x_k), [k, N] (zeros when nothing was trained)."""
    return _member_probabilities(weights, feats)[0]


# ------------------------------------------------------------------ the policy


@dataclass
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

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        if self.score_source in FIXED_SCORES:
            return FIXED_SCORES[self.score_source](log_probs)
        return self._learned_scores(data_features(log_probs, *_feature_options(self.weights)))

    def _learned_scores(self, feats: list[np.ndarray]) -> np.ndarray:
        """g_k, or the lookahead stop value, of the exits of `feats` ([k, N])."""
        if self.score_source != LOOKAHEAD:
            return _score_logits(self.weights, feats)
        return lookahead_scores(_forward(self.weights, feats)[2], self.lookahead_costs,
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
            self._options = _feature_options(self.weights)
            self._compiled_from = self.weights
        if not self._scorers:
            return np.zeros(history.shape[1]), None
        scorer = self._scorers[k]
        x = exit_features(history[k], history[k - 1] if k > 0 else None, *self._options)
        z, carry = _step(scorer, x, carry)
        if self.score_source != LOOKAHEAD:
            return z[:, scorer.members], carry
        if scorer.looks < 2:  # the last exit: it takes everyone left
            return np.zeros(z.shape[0]), carry
        costs = np.asarray(self.lookahead_costs, dtype=np.float64)[k:]
        return stop_value(z[:, scorer.members + 1 :], costs, self.lookahead_lambda), carry

    def scores_cached(self, log_probs: np.ndarray, cache: dict[Any, np.ndarray]) -> np.ndarray:
        """Policies fitted at other budgets share the (budget-independent) input features."""
        if self.score_source in FIXED_SCORES:  # same key as the heuristic policies use
            key = ("scores", self.score_source)
            if key not in cache:
                cache[key] = self.scores(log_probs)
            return cache[key]
        options = _feature_options(self.weights)
        key = ("eenet_features", *options)
        if key not in cache:
            cache[key] = data_features(log_probs, *options)  # type: ignore[assignment]
        return self._learned_scores(cache[key])  # type: ignore[arg-type]

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
        path = directory / meta.get("weights", WEIGHTS_FILE)
        if not path.is_file():
            raise ArtifactError(f"{path}: EENet weights not found")
        try:
            base.weights = dict(load_file(str(path)))
        except Exception as exc:  # safetensors raises its own error types
            raise ArtifactError(f"{path}: not a readable safetensors file ({exc})") from None
        check_weights(base.weights, path)
        base.plan = list(meta.get("plan", []))
        base.plan_source = str(meta.get("plan_source", ""))
        base.score_source = str(meta.get("score_source", LEARNED))
        where = directory / "policy.json"
        if base.score_source not in (LEARNED, LOOKAHEAD, *FIXED_SCORES):
            allowed = ", ".join([LEARNED, LOOKAHEAD, *FIXED_SCORES])
            raise ArtifactError(f"{where}: unknown score_source {base.score_source!r}; "
                                f"allowed: {allowed}")
        if base.score_source == LOOKAHEAD:
            _load_lookahead(base, meta, where)
        return base


def _load_lookahead(policy: EENetPolicy, meta: Mapping[str, Any], where: Path) -> None:
    """The lookahead rule's price and costs from policy.json, checked against the weights."""
    try:
        policy.lookahead_lambda = float(meta["lookahead_lambda"])
        policy.lookahead_costs = [float(c) for c in meta["lookahead_costs_ms"]]
    except (KeyError, TypeError, ValueError):
        raise ArtifactError(f"{where}: score_source 'lookahead' needs a number "
                            "lookahead_lambda and a list lookahead_costs_ms") from None
    n_exits = len(policy.thresholds)
    if len(policy.lookahead_costs) != n_exits or not math.isfinite(policy.lookahead_lambda):
        raise ArtifactError(f"{where}: lookahead_costs_ms needs {n_exits} values (one per "
                            f"exit) and lookahead_lambda a finite number")
    heads = [scorer.looks for scorer in compile_scorer(policy.weights)]
    if heads[:-1] != list(range(n_exits, 1, -1)):
        raise ArtifactError(f"{where}: score_source 'lookahead' but the weights have no "
                            "lookahead heads for every exit before the last")


def check_weights(weights: Mapping[str, np.ndarray], path: Path) -> None:
    """Every score / assignment MLP must be in -> hidden -> 1 (a lookahead head:
    -> hidden -> its exits) with matching shapes."""
    for name in weights:
        if not name.endswith(".w1"):
            continue
        net = name[: -len(".w1")]
        try:
            shapes = [np.shape(weights[f"{net}.{key}"]) for key in ("w1", "b1", "w2", "b2")]
        except KeyError as exc:
            raise ArtifactError(f"{path}: EENet weights incomplete (missing {exc})") from None
        hidden = shapes[0][1] if len(shapes[0]) == 2 else -1
        # g_k / h_k have one output; a lookahead head f_k one per exit k..K-1
        outputs = shapes[3][0] if net.rsplit(".", 1)[-1].startswith("f") and shapes[3] else 1
        if shapes[1:] != [(hidden,), (hidden, outputs), (outputs,)]:
            raise ArtifactError(
                f"{path}: EENet weights of the wrong shape ({net}: w1 {shapes[0]}, "
                f"b1 {shapes[1]}, w2 {shapes[2]}, b2 {shapes[3]})"
            )


# ------------------------------------------------------------------ training


class _MLP:
    """in -> hidden (ReLU) -> outputs, parameters initialised from a private generator."""

    def __init__(self, in_dim: int, hidden: int, gen: torch.Generator, outputs: int = 1) -> None:
        def uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
            bound = 1.0 / math.sqrt(fan_in)
            t = (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound
            return t.requires_grad_()

        self.params = {
            "w1": uniform((in_dim, hidden), in_dim),
            "b1": uniform((hidden,), in_dim),
            "w2": uniform((hidden, outputs), hidden),
            "b2": uniform((outputs,), hidden),
        }

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """[N, outputs]."""
        p = self.params
        return torch.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs(x)[:, 0]

    def state(self) -> dict[str, np.ndarray]:
        return {key: t.detach().clone().numpy().astype(np.float32)
                for key, t in self.params.items()}


class _Nets:
    """Score networks g_k and assignment networks h_k for K exits."""

    def __init__(self, in_dims: list[int], hidden: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.g = [_MLP(d + k, hidden, gen) for k, d in enumerate(in_dims)]
        self.h = [_MLP(d + k, hidden, gen) for k, d in enumerate(in_dims)]

    def score_params(self) -> list[torch.Tensor]:
        return [t for m in self.g for t in m.params.values()]

    def assign_params(self) -> list[torch.Tensor]:
        return [t for m in self.h for t in m.params.values()]

    def scores(self, data: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Score logits z [N, K] (with grad) and the features x_k with detached a_j."""
        prev = data[0].new_zeros((data[0].shape[0], 0))
        zs, xs = [], []
        for k, d in enumerate(data):
            x = torch.cat([d, prev], 1)
            z = self.g[k](x)
            zs.append(z)
            xs.append(x)
            prev = torch.cat([prev, torch.sigmoid(z.detach())[:, None]], 1)
        return torch.stack(zs, 1), xs

    def assign_logits(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([self.h[k](x) for k, x in enumerate(xs)], 1)

    def state(self) -> dict[str, np.ndarray]:
        """A detached copy of every weight (so later training cannot change it)."""
        out = {}
        for name, nets in (("g", self.g), ("h", self.h)):
            for k, m in enumerate(nets):
                out.update({f"{name}{k}.{key}": value for key, value in m.state().items()})
        return out


def _weighted_bce(
    z: torch.Tensor, y: torch.Tensor, r: torch.Tensor, uniform: float = 0.0
) -> torch.Tensor:
    """Mean over exits of the BCE weighted by r (detached, normalised over samples per exit),
    mixed with a share `uniform` of equal weights."""
    w = r / r.sum(0, keepdim=True).clamp_min(1e-12)
    w = (1.0 - uniform) * w + uniform / r.shape[0]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")
    return (w * bce).sum(0).mean()


def _assign_loss(
    u: torch.Tensor, a: torch.Tensor, costs: torch.Tensor, s: Mapping[str, Any]
) -> torch.Tensor:
    """alpha_kl KL(a^beta / sum || r) + alpha_cost |mean cost of r - B| / B, with `costs` in
    units of the budget B (so the budget term is |mean cost - 1|)."""
    log_r = torch.log_softmax(u, 1)
    target = a.clamp_min(1e-12) ** s["beta"]
    target = target / target.sum(1, keepdim=True)
    kl = (target * (target.log() - log_r)).sum(1).mean()
    cost = (log_r.exp() @ costs).mean()
    return s["alpha_kl"] * kl + s["alpha_cost"] * (cost - 1.0).abs()


def _train_once(
    data: list[torch.Tensor],
    correct: torch.Tensor,
    fit_idx: torch.Tensor,
    hold_idx: torch.Tensor,
    costs: torch.Tensor,
    s: Mapping[str, Any],
    seed: int,
) -> dict[str, np.ndarray]:
    """One restart: alternate score / assignment phases; return the best state (a copy).
    `costs` are in units of the budget."""
    nets = _Nets([d.shape[1] for d in data], int(s["hidden"]), seed)
    opt_g = torch.optim.AdamW(nets.score_params(), lr=s["lr"], weight_decay=s["weight_decay"])
    opt_h = torch.optim.AdamW(nets.assign_params(), lr=s["lr"], weight_decay=s["weight_decay"])
    fit_data = [d[fit_idx] for d in data]
    hold_data = [d[hold_idx] for d in data]
    y_fit, y_hold = correct[fit_idx], correct[hold_idx]
    period = max(1, int(s["period"]))

    def phases() -> int:
        # score phase: r is fixed while only g trains
        with torch.no_grad():
            _, xs = nets.scores(fit_data)
            r = torch.softmax(nets.assign_logits(xs), 1)
        for _ in range(period):
            opt_g.zero_grad(set_to_none=True)
            z, _ = nets.scores(fit_data)
            _weighted_bce(z, y_fit, r, float(s["uniform_weight"])).backward()
            opt_g.step()
        # assignment phase: a and the features are fixed while only h trains
        with torch.no_grad():
            z, xs = nets.scores(fit_data)
            a = torch.sigmoid(z)
        for _ in range(period):
            opt_h.zero_grad(set_to_none=True)
            _assign_loss(nets.assign_logits(xs), a, costs, s).backward()
            opt_h.step()
        return 2 * period

    def hold_loss() -> float:
        with torch.no_grad():
            z, xs = nets.scores(hold_data)
            r = torch.softmax(nets.assign_logits(xs), 1)
            return float(_weighted_bce(z, y_hold, r, float(s["uniform_weight"])))

    return _early_stopped(phases, hold_loss, nets.state, s)


def _early_stopped(
    phases: Callable[[], int],
    hold_loss: Callable[[], float],
    state: Callable[[], dict[str, np.ndarray]],
    s: Mapping[str, Any],
) -> dict[str, np.ndarray]:
    """Run training `phases` (each returns the steps it took) until `max_epochs` steps or
    `patience` phases without a held-out loss improvement; the best `state` (a copy)."""
    best_loss, best_state, stale, step = math.inf, state(), 0, 0
    while step < int(s["max_epochs"]) and stale < int(s["patience"]):
        step += phases()
        loss = hold_loss()
        if loss < best_loss - 1e-6:
            best_loss, best_state, stale = loss, state(), 0
        else:
            stale += 1
    return best_state


def _train_lookahead(
    feats: list[np.ndarray],
    correct_np: np.ndarray,
    state: Mapping[str, np.ndarray],
    fit_idx: np.ndarray,
    hold_idx: np.ndarray,
    s: Mapping[str, Any],
    seed: int,
) -> dict[str, np.ndarray]:
    """Lookahead heads f_k (k < K-1) of one member: on g's inputs [x_k, a_0..a_{k-1}] (the
    member's trained a), logits of "exit j is right" for j = k..K-1, plain BCE, full-batch
    AdamW, early-stopped on the member's held-out fold like g. Weights f{k}.*."""
    n_exits = correct_np.shape[0]
    a = _member_probabilities(state, feats)[1][:, 0, :]  # [N, K], this member's a_k
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, np.ndarray] = {}
    for k in range(n_exits - 1):
        x = torch.from_numpy(np.concatenate([feats[k], a[:, :k]], 1).astype(np.float32))
        y = torch.from_numpy(correct_np[k:].T.astype(np.float32))
        best_state = _fit_head(x, y, fit_idx, hold_idx, gen, s)
        out.update({f"f{k}.{key}": value for key, value in best_state.items()})
    return out


def _fit_head(
    x: torch.Tensor,
    y: torch.Tensor,
    fit_idx: np.ndarray,
    hold_idx: np.ndarray,
    gen: torch.Generator,
    s: Mapping[str, Any],
) -> dict[str, np.ndarray]:
    """One multi-output head x -> logits of the targets y: plain BCE on `fit_idx`, full-batch
    AdamW, early-stopped on `hold_idx`; its best state."""
    head = _MLP(x.shape[1], int(s["hidden"]), gen, outputs=y.shape[1])
    opt = torch.optim.AdamW(list(head.params.values()), lr=s["lr"],
                            weight_decay=s["weight_decay"])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    x_fit, y_fit, x_hold, y_hold = x[fit_idx], y[fit_idx], x[hold_idx], y[hold_idx]
    period = max(1, int(s["period"]))

    def phase() -> int:
        for _ in range(period):
            opt.zero_grad(set_to_none=True)
            bce(head.outputs(x_fit), y_fit).backward()
            opt.step()
        return period

    def hold_loss() -> float:
        with torch.no_grad():
            return float(bce(head.outputs(x_hold), y_hold))

    return _early_stopped(phase, hold_loss, head.state, s)


def solve_lookahead(
    looks: list[np.ndarray], costs: np.ndarray, budget: float
) -> tuple[float, np.ndarray]:
    """(lam, exit distribution) of the lookahead rule "leave at the first exit whose stop
    value is >= 0" with the smallest price lam whose mean cost on these samples is <= budget,
    by bisection (a higher price never sends a sample further). lam < 0 spends budget where
    continuing costs the least accuracy, when the rule at lam = 0 spends less than B."""
    costs = np.asarray(costs, dtype=np.float64)
    zero = np.zeros(len(looks))
    zero[-1] = -np.inf

    def exits(lam: float) -> np.ndarray:
        return first_exit(lookahead_scores(looks, costs, lam), zero)

    span = 2.0 / max(float(np.diff(costs).min()), 1e-9)  # beyond: everyone at exit 0 / K-1
    lo, hi = -span, span
    within = budget * (1 + 1e-12)  # a mean that equals the budget up to rounding meets it
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if costs[exits(mid)].mean() <= within:
            hi = mid
        else:
            lo = mid
    chosen = exits(hi)
    return hi, np.bincount(chosen, minlength=len(looks)) / chosen.size


def mean_assignment(weights: Mapping[str, np.ndarray], feats: list[np.ndarray]) -> np.ndarray:
    """pi = mean over samples (and members) of r = softmax_k h_k(x_k), [K] (fit time only)."""
    return _mean_assignment(weights, feats, _member_probabilities(weights, feats)[1])


def _mean_assignment(
    weights: Mapping[str, np.ndarray], feats: list[np.ndarray], a: np.ndarray
) -> np.ndarray:
    """`mean_assignment` given the members' a_k [N, M, K] already computed on `feats`."""
    plans = []
    for i, m in enumerate(_members(weights)):
        u = np.stack([
            _mlp(weights, f"{m}h{k}", np.concatenate([d, a[:, i, :k]], 1))
            for k, d in enumerate(feats)
        ], 1)
        u = u - u.max(1, keepdims=True)
        plans.append((np.exp(u) / np.exp(u).sum(1, keepdims=True)).mean(0))
    return np.mean(plans, axis=0)


def _mlp(w: Mapping[str, np.ndarray], prefix: str, x: np.ndarray) -> np.ndarray:
    """One unfused in -> hidden (ReLU) -> 1 network of the weights, in float64, [N]."""
    hidden = np.maximum(x @ w[f"{prefix}.w1"].astype(np.float64) + w[f"{prefix}.b1"], 0.0)
    return (hidden @ w[f"{prefix}.w2"].astype(np.float64) + w[f"{prefix}.b2"])[:, 0]


def _candidate_plans(
    pi: np.ndarray | None, costs: np.ndarray, budget: float, s: Mapping[str, Any]
) -> list[tuple[str, np.ndarray]]:
    """EENet's pi calibrated at each temperature, then the geometric plan (last); only the
    geometric plan when there is no pi (nothing trained)."""
    temps = [float(t) for t in s["plan_temperatures"]] if pi is not None else []
    plans = [(f"eenet_tau{t:g}", calibrated_plan(pi, costs, budget, t)) for t in temps]
    if s["geometric_candidate"] or pi is None:
        plans.append(("geometric", geometric_plan(costs, budget)))
    return plans


def _best_plan(
    scores: np.ndarray, correct: np.ndarray, plans: list[tuple[str, np.ndarray]]
) -> tuple[float, str, np.ndarray, np.ndarray]:
    """(accuracy, name, plan, thresholds) of the most accurate plan; ties keep the first."""
    best: tuple[float, str, np.ndarray, np.ndarray] | None = None
    cols = np.arange(scores.shape[1])
    for name, plan in plans:
        thresholds = thresholds_from_plan(scores, plan)
        acc = float(correct[first_exit(scores, thresholds), cols].mean())
        if best is None or acc > best[0] + 1e-12:
            best = (acc, name, plan, thresholds)
    assert best is not None
    return best


def _hits(scores: np.ndarray, correct: np.ndarray, plan: np.ndarray) -> np.ndarray:
    """Whether each sample is answered correctly under the thresholds realising `plan`."""
    exits = first_exit(scores, thresholds_from_plan(scores, plan))
    return correct[exits, np.arange(scores.shape[1])]


def paired_z(hits: np.ndarray, baseline: np.ndarray) -> float:
    """Sign-test statistic of `hits` over `baseline` on the same samples (wins - losses)."""
    wins = int((hits & ~baseline).sum())
    losses = int((~hits & baseline).sum())
    return (wins - losses) / math.sqrt(max(1, wins + losses))


def _choose_rule(
    score_sets: Mapping[str, np.ndarray],
    correct: np.ndarray,
    pi: np.ndarray | None,
    source_costs: Mapping[str, np.ndarray],
    budget: float,
    s: Mapping[str, Any],
    own_plans: Mapping[str, list[tuple[str, np.ndarray]]] | None = None,
) -> tuple[str, str, np.ndarray]:
    """(score source, plan name, plan) used at inference, chosen on validation.

    `score_sets` maps each candidate score to its validation scores [K, N]: the learned g_k
    and the lookahead stop value out of fold (honest), and the fixed confidences of
    `score_candidates` (nothing fitted). Each is tried with its `own_plans` (the lookahead
    rule's exit distribution) and every candidate plan (EENet's pi calibrated to the budget at
    several temperatures, the geometric plan) and the best pair is refined at constant cost. The
    baseline is the first fixed score with the geometric plan (what the heuristics do; another
    fixed score only if significantly better) or, with no fixed candidates, the learned score
    with the geometric plan. Each score's plans are made with its own costs (`source_costs`:
    the learned score's include its scoring cost where charged). A pair replaces the baseline
    only if
    it answers significantly more validation samples correctly (paired sign test z >=
    `switch_z`, `refine_z` for the searched plan), so noise in a few thousand samples cannot
    make EENet worse than the heuristics.
    """
    own_plans = own_plans or {}
    plans = {src: [*own_plans.get(src, []), *_candidate_plans(pi, source_costs[src], budget, s)]
             for src in score_sets}
    base_at = -1 if s["geometric_candidate"] or pi is None else 0
    fixed = [name for name in score_sets if name in FIXED_SCORES]
    pairs = [(src, name, plan) for src in score_sets for name, plan in plans[src]]
    hits = {(src, name): _hits(score_sets[src], correct, plan) for src, name, plan in pairs}
    # the baseline: the first fixed score, or another fixed one only if significantly better
    base_src, *others = fixed or [LEARNED]
    base_name = plans[base_src][base_at][0]
    for src in others:
        if paired_z(hits[(src, base_name)], hits[(base_src, base_name)]) >= float(s["switch_z"]):
            base_src = src
    best = (base_src, base_name, plans[base_src][base_at][1])
    base_hits = hits[(base_src, base_name)]
    scored = [(int(hits[(src, name)].sum()), src, name, plan) for src, name, plan in pairs]
    if s["refine_plan"]:
        _, src, name, start = max(scored, key=lambda item: item[0])
        min_gain = max(2.0, float(s["refine_min_gain"]) * correct.shape[1])
        refined, _ = refine_plan(
            start, source_costs[src], lambda p: float(_hits(score_sets[src], correct, p).sum()),
            min_gain=min_gain,
        )
        hits[(src, f"{name}+refined")] = _hits(score_sets[src], correct, refined)
        scored.append((int(hits[(src, f"{name}+refined")].sum()), src, f"{name}+refined",
                       refined))
    best_value = int(base_hits.sum())
    for value, src, name, plan in scored:
        # a searched plan has had more chances to look good by luck: it must clear a higher bar
        bar = float(s["refine_z"] if name.endswith("+refined") else s["switch_z"])
        if value > best_value and paired_z(hits[(src, name)], base_hits) >= bar:
            best, best_value = (src, name, plan), value
    return best


def _check(s: Mapping[str, Any]) -> None:
    for key in ("hidden", "max_epochs", "period", "restarts", "threads"):
        if int(s[key]) < 1:
            raise ConfigError(f"schedulers.eenet.{key}: must be >= 1, got {s[key]!r}")
    if int(s["folds"]) < 2:
        raise ConfigError(f"schedulers.eenet.folds: must be >= 2, got {s['folds']!r}")
    if float(s["lr"]) <= 0:
        raise ConfigError(f"schedulers.eenet.lr: must be > 0, got {s['lr']!r}")
    if not s["plan_temperatures"] and not s["geometric_candidate"]:
        raise ConfigError("schedulers.eenet.plan_temperatures: empty and no geometric candidate")
    candidates = s["score_candidates"]
    if not isinstance(candidates, list | tuple) or any(c not in FIXED_SCORES for c in candidates):
        raise ConfigError(
            f"schedulers.eenet.score_candidates: expected a list of {', '.join(FIXED_SCORES)}, "
            f"got {candidates!r}"
        )


def fit(
    log_probs: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any],
    seed: int,
) -> EENetPolicy:
    """Train score + assignment networks on validation, then plan and thresholds at B."""
    _check(settings)
    previous = torch.get_num_threads()
    torch.set_num_threads(int(settings["threads"]))
    try:
        return _fit(log_probs, labels, costs, budget_ms, settings, seed)
    finally:
        torch.set_num_threads(previous)


def _fit(
    log_probs: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any],
    seed: int,
) -> EENetPolicy:
    n_exits, n = log_probs.shape[:2]
    correct_np = log_probs.argmax(-1) == labels[None, :]  # [K, N]
    policy = EENetPolicy("eenet", budget_ms, np.zeros(n_exits), settings=dict(settings))
    if no_early_exit(costs, budget_ms) or n_exits == 1:
        policy.thresholds = np.full(n_exits, np.inf)
        policy.thresholds[-1] = -np.inf
        policy.plan = last_exit_plan(n_exits).tolist()
        policy.plan_source = "last_exit (budget >= the last exit's cost: no early exit needed)"
        policy.record_validation(np.zeros((n_exits, n)), costs)
        return policy
    costs = np.asarray(costs, dtype=np.float64)
    learned_costs = costs + _scorer_extra(settings, n_exits)
    source_costs = {LEARNED: learned_costs, **_fixed_costs(settings, costs)}
    # a fixed score whose own scoring cost alone breaks the budget is not a candidate
    fixed = [src for src in settings["score_candidates"]
             if source_costs[src][0] <= budget_ms] or list(settings["score_candidates"])
    feats = data_features(log_probs, *_options(settings))
    score_sets: dict[str, np.ndarray] = {}
    own_plans: dict[str, list[tuple[str, np.ndarray]]] = {}
    pi = val_logits = val_looks = None
    # the least a rule can cost when every fixed candidate's own scoring breaks the budget
    rule_budget = max(budget_ms, min((float(source_costs[src][0]) for src in fixed),
                                     default=budget_ms))
    # the learned score is trained unless its own scoring cost alone makes the budget
    # infeasible (then only a fixed score can meet it)
    if budget_ms >= learned_costs[0] or not fixed:
        rule_budget = max(rule_budget, float(learned_costs[0]))
        policy.weights, score_sets[LEARNED], oof_looks = _train_members(
            feats, correct_np, learned_costs, rule_budget, settings, seed
        )
        val_logits, val_a, val_looks = _forward(policy.weights, feats)
        pi = _mean_assignment(policy.weights, feats, val_a)
        if oof_looks is not None:  # the lookahead rule at the price that meets the budget
            policy.lookahead_lambda, natural = solve_lookahead(oof_looks, learned_costs,
                                                               rule_budget)
            policy.lookahead_costs = learned_costs.tolist()
            score_sets[LOOKAHEAD] = lookahead_scores(oof_looks, learned_costs,
                                                     policy.lookahead_lambda)
            source_costs[LOOKAHEAD] = learned_costs
            own_plans[LOOKAHEAD] = [("lookahead", natural)]
    score_sets.update({src: FIXED_SCORES[src](log_probs) for src in fixed})
    source, name, plan = _choose_rule(score_sets, correct_np, pi, source_costs, rule_budget,
                                      settings, own_plans)
    policy.score_source = source
    if source in FIXED_SCORES:
        val_scores = score_sets[source]
    elif source == LOOKAHEAD:  # the ensemble's scores on all of validation, as at inference
        val_scores = lookahead_scores(val_looks, learned_costs, policy.lookahead_lambda)
    else:
        val_scores = val_logits
    policy.thresholds = thresholds_from_plan(val_scores, plan)
    policy.plan, policy.plan_source = plan.tolist(), name
    policy.record_validation(val_scores, source_costs[source])
    return policy


def _options(settings: Mapping[str, Any]) -> tuple[int, bool, bool]:
    return int(settings["top_probs"]), bool(settings["agreement"]), bool(settings["log_scale"])


def _scorer_extra(settings: Mapping[str, Any], n_exits: int) -> np.ndarray:
    """`scorer_extra_ms` as [K] (zeros when not charged); a wrong length is a ConfigError."""
    extra = np.asarray(settings["scorer_extra_ms"] or np.zeros(n_exits), dtype=np.float64)
    if extra.shape != (n_exits,) or not np.isfinite(extra).all():
        raise ConfigError(
            f"schedulers.eenet.scorer_extra_ms: expected {n_exits} finite values (one per "
            f"exit) or [], got {settings['scorer_extra_ms']!r}"
        )
    return extra


def _fixed_costs(settings: Mapping[str, Any], costs: np.ndarray) -> dict[str, np.ndarray]:
    """Each fixed score candidate's costs: `costs` plus its `fixed_extra_ms` if charged."""
    extra = settings["fixed_extra_ms"] or {}
    if not isinstance(extra, Mapping) or any(
        name not in FIXED_SCORES or np.shape(values) != costs.shape
        or not np.isfinite(np.asarray(values, dtype=np.float64)).all()
        for name, values in extra.items()
    ):
        raise ConfigError(
            f"schedulers.eenet.fixed_extra_ms: expected {{score: {costs.size} finite values}} "
            f"for scores among {', '.join(FIXED_SCORES)}, or {{}}; got {extra!r}"
        )
    return {src: costs + np.asarray(extra.get(src, np.zeros(costs.size)), dtype=np.float64)
            for src in settings["score_candidates"]}


def _train_members(
    feats: list[np.ndarray],
    correct_np: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any],
    seed: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, list[np.ndarray] | None]:
    """Cross-fitting: member f trains on the other folds, early-stops on fold f and scores
    fold f out of sample. Returns the members' weights, the out-of-fold score logits [K, N]
    and, with `lookahead`, the out-of-fold lookahead logits per exit [N, looks_k] (honest:
    the rule is chosen on them)."""
    n_exits, n = correct_np.shape
    data = [torch.from_numpy(d.astype(np.float32)) for d in feats]
    correct = torch.from_numpy(correct_np.T.astype(np.float32))  # [N, K]
    # the networks see costs in units of the budget: the same policy whatever the cost unit
    # (ms, seconds, FLOPs), with no float32 rounding of tiny or huge numbers
    costs_t = torch.from_numpy((np.asarray(costs, dtype=np.float64) / budget_ms).astype(np.float32))
    n_folds = min(int(settings["folds"]), n)
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % n_folds
    weights: dict[str, np.ndarray] = {}
    oof = np.zeros((n_exits, n))
    oof_looks = ([np.zeros((n, n_exits - k if k < n_exits - 1 else 0)) for k in range(n_exits)]
                 if settings["lookahead"] else None)
    for fold in range(n_folds):
        hold_idx, fit_idx = np.flatnonzero(fold_of == fold), np.flatnonzero(fold_of != fold)
        hold_feats = [d[hold_idx] for d in feats]
        best: tuple[float, dict[str, np.ndarray], np.ndarray] | None = None
        for restart in range(int(settings["restarts"])):
            state = _train_once(
                data,
                correct,
                torch.from_numpy(fit_idx),
                torch.from_numpy(hold_idx),
                costs_t,
                settings,
                seed * 1000 + fold * 100 + restart,
            )
            hold_logits, hold_a = _member_probabilities(state, hold_feats)
            pi = _mean_assignment(state, hold_feats, hold_a)
            acc = _best_plan(hold_logits, correct_np[:, hold_idx],
                             _candidate_plans(pi, costs, budget_ms, settings))[0]
            if best is None or acc > best[0] + 1e-12:
                best = (acc, state, hold_logits)
        assert best is not None
        state = dict(best[1])
        if oof_looks is not None:
            state.update(_train_lookahead(feats, correct_np, state, fit_idx, hold_idx, settings,
                                          seed * 1000 + fold * 100 + 99))
            for rows, z in zip(oof_looks, _forward(state, hold_feats)[2], strict=True):
                rows[hold_idx] = z
        weights.update({f"m{fold}.{key}": value for key, value in state.items()})
        oof[:, hold_idx] = best[2]
    weights.update(_header(n_folds, settings))
    return weights, oof, oof_looks


def _header(members: int, settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The non-network entries of a weights file: member count and feature options."""
    top, agreement, log_scale = _options(settings)
    return {
        "members": np.array([members], dtype=np.int64),
        "top": np.array([top], dtype=np.int64),
        "agreement": np.array([int(agreement)], dtype=np.int64),
        "log_scale": np.array([int(log_scale)], dtype=np.int64),
    }


def untrained_policy(
    n_exits: int, n_classes: int, settings: Mapping[str, Any] | None = None, seed: int = 0
) -> EENetPolicy:
    """A learned-score EENet policy of the configured architecture (`folds` members, `hidden`
    units, the feature options, lookahead heads) with random weights and no early exit: what
    its scorer costs does not depend on training, so this is what the scoring profile times."""
    s = {**DEFAULTS, **(settings or {})}
    blank = np.zeros((1, n_classes))
    dims = [exit_features(blank, blank if k else None, *_options(s)).shape[1]
            for k in range(n_exits)]
    weights = _header(int(s["folds"]), s)
    for member in range(int(s["folds"])):
        state = _Nets(dims, int(s["hidden"]), seed + member).state()
        if s["lookahead"]:
            gen = torch.Generator().manual_seed(seed + member)
            for k in range(n_exits - 1):
                head = _MLP(dims[k] + k, int(s["hidden"]), gen, outputs=n_exits - k)
                state.update({f"f{k}.{key}": value for key, value in head.state().items()})
        weights.update({f"m{member}.{key}": value for key, value in state.items()})
    thresholds = np.full(n_exits, np.inf)
    thresholds[-1] = -np.inf
    # with lookahead heads, the dearer of the two learned scores (the stop value on top)
    return EENetPolicy("eenet", float("inf"), thresholds, settings=dict(s), weights=weights,
                       score_source=LOOKAHEAD if s["lookahead"] else LEARNED,
                       lookahead_costs=np.arange(n_exits, dtype=np.float64).tolist())

