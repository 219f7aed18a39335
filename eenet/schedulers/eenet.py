"""EENet (Ilhan et al., WACV 2024): learned exit scores and a learned exit distribution.

For each exit k, features x_k = [p_k, max p_k, 1 - H(p_k)/log C, a_0 .. a_{k-1}]; a score
network g_k gives a_k = sigmoid(g_k(x_k)), the probability that exit k is right, and an
assignment network h_k gives r = softmax_k(h_k(x_k)), the sample's exit distribution. They
are trained in alternation (score: BCE weighted by the detached, per-exit normalised r;
assignment: alpha_kl KL(a^beta / sum || r) + alpha_cost |mean cost of r - B| / B). The plan
pi = mean r is calibrated to the budget and thresholds on the scores come from it.

Departures from the paper (see docs/schedulers.md): full-batch AdamW with a larger learning
rate and step-based alternation; early stopping on a held-out part of validation; restarts
and the final plan chosen by validation accuracy at the budget among calibrated versions of
pi (and the geometric plan); ranking by the score logit g_k (same order as a_k, no ties at
1.0). Inference runs the same feature code in numpy float64 from safetensors weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from eenet.atomic import write_with
from eenet.errors import ArtifactError, ConfigError
from eenet.schedulers.base import FittedPolicy, first_exit, thresholds_from_plan
from eenet.schedulers.plans import calibrated_plan, geometric_plan, last_exit_plan, no_early_exit
from eenet.schedulers.scores import entropy

WEIGHTS_FILE = "eenet.safetensors"

DEFAULTS: dict[str, Any] = {
    "top_probs": 5,  # p_k features: the 5 largest probabilities, sorted (0 = all C, raw)
    "hidden": 32,  # hidden units of every score / assignment MLP
    "lr": 0.01,  # AdamW learning rate (full batch)
    "weight_decay": 0.01,  # AdamW decoupled weight decay
    "max_epochs": 400,  # full-batch steps, upper bound
    "period": 10,  # steps per alternation phase (score, then assignment)
    "patience": 6,  # early stopping: score phases without held-out improvement
    "restarts": 2,  # independent initialisations; best by held-out accuracy at B
    "holdout": 0.25,  # fraction of validation held out for early stopping / restarts
    "alpha_kl": 1e-3,  # weight of KL(target || r)
    "alpha_cost": 1e-2,  # weight of the budget term
    "beta": 1.0,  # target_k proportional to a_k^beta
    "plan_temperatures": [1.0, 0.5, 2.0, 0.0],  # calibrated plans pi^tau * exp(lam c) tried
    "geometric_candidate": True,  # also try the heuristics' geometric plan on EENet scores
    "threads": 1,  # torch threads while fitting (tiny matmuls: more threads only contend)
}


# ------------------------------------------------------------------ features and forward


def data_features(log_probs: np.ndarray, top: int = 0) -> list[np.ndarray]:
    """Per exit k: [p_k, max p_k, 1 - H(p_k)/log C] as float64 [N, m + 2].

    `top` = 0 keeps p_k as it is (m = C, the paper); `top` > 0 keeps the `top` largest
    probabilities in decreasing order (m = min(top, C)): class-agnostic, so it generalises
    from a few thousand validation samples where 100 class-specific inputs overfit.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    probs = np.exp(log_probs)
    conf = 1.0 - entropy(log_probs) / math.log(log_probs.shape[-1])
    if top > 0:
        m = min(int(top), probs.shape[-1])
        probs = -np.sort(-probs, axis=-1)[..., :m]
    return [
        np.concatenate([probs[k], probs[k].max(axis=-1, keepdims=True), conf[k][:, None]], 1)
        for k in range(log_probs.shape[0])
    ]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _mlp_np(w: Mapping[str, np.ndarray], prefix: str, x: np.ndarray) -> np.ndarray:
    hidden = np.maximum(x @ w[f"{prefix}.w1"].astype(np.float64) + w[f"{prefix}.b1"], 0.0)
    return (hidden @ w[f"{prefix}.w2"].astype(np.float64) + w[f"{prefix}.b2"])[:, 0]


def score_logits(weights: Mapping[str, np.ndarray], log_probs: np.ndarray) -> np.ndarray:
    """g_k(x_k) for the exits given, [k, N]; causal: row j uses exits 0..j only."""
    return _score_logits(weights, data_features(log_probs, _top_from_weights(weights)))


def _top_from_weights(weights: Mapping[str, np.ndarray]) -> int:
    """The `top` used at fit time, recorded in the weights file (0 = raw p_k)."""
    return int(np.asarray(weights.get("top", np.zeros(1)))[0])


def _score_logits(weights: Mapping[str, np.ndarray], feats: list[np.ndarray]) -> np.ndarray:
    n = feats[0].shape[0]
    prev = np.zeros((n, 0))
    rows = []
    for k, d in enumerate(feats):
        z = _mlp_np(weights, f"g{k}", np.concatenate([d, prev], 1))
        rows.append(z)
        prev = np.concatenate([prev, _sigmoid(z)[:, None]], 1)
    return np.stack(rows)


# ------------------------------------------------------------------ the policy


@dataclass
class EENetPolicy(FittedPolicy):
    """Thresholds on the score logits g_k; weights kept as plain float32 arrays."""

    weights: dict[str, np.ndarray] = field(default_factory=dict)
    plan: list[float] = field(default_factory=list)
    plan_source: str = ""

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        return score_logits(self.weights, log_probs)

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(plan=list(self.plan), plan_source=self.plan_source, weights=WEIGHTS_FILE)
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
        base.plan = list(meta.get("plan", []))
        base.plan_source = str(meta.get("plan_source", ""))
        return base


# ------------------------------------------------------------------ training


class _MLP:
    """in -> hidden (ReLU) -> 1, parameters initialised from a private generator."""

    def __init__(self, in_dim: int, hidden: int, gen: torch.Generator) -> None:
        def uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
            bound = 1.0 / math.sqrt(fan_in)
            t = (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound
            return t.requires_grad_()

        self.params = {
            "w1": uniform((in_dim, hidden), in_dim),
            "b1": uniform((hidden,), in_dim),
            "w2": uniform((hidden, 1), hidden),
            "b2": uniform((1,), hidden),
        }

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = self.params
        return (torch.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"])[:, 0]


class _Nets:
    """Score networks g_k and assignment networks h_k for K exits."""

    def __init__(self, n_exits: int, n_classes: int, hidden: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.g = [_MLP(n_classes + 2 + k, hidden, gen) for k in range(n_exits)]
        self.h = [_MLP(n_classes + 2 + k, hidden, gen) for k in range(n_exits)]

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
                for key, t in m.params.items():
                    out[f"{name}{k}.{key}"] = t.detach().clone().numpy().astype(np.float32)
        return out


def _weighted_bce(z: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Mean over exits of the BCE weighted by r (detached, normalised over samples per exit)."""
    w = r / r.sum(0, keepdim=True).clamp_min(1e-12)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")
    return (w * bce).sum(0).mean()


def _assign_loss(
    u: torch.Tensor, a: torch.Tensor, costs: torch.Tensor, budget: float, s: Mapping[str, Any]
) -> torch.Tensor:
    log_r = torch.log_softmax(u, 1)
    target = a.clamp_min(1e-12) ** s["beta"]
    target = target / target.sum(1, keepdim=True)
    kl = (target * (target.log() - log_r)).sum(1).mean()
    cost = (log_r.exp() @ costs).mean()
    return s["alpha_kl"] * kl + s["alpha_cost"] * (cost - budget).abs() / budget


def _train_once(
    data: list[torch.Tensor],
    correct: torch.Tensor,
    fit_idx: torch.Tensor,
    hold_idx: torch.Tensor,
    costs: torch.Tensor,
    budget: float,
    s: Mapping[str, Any],
    seed: int,
) -> dict[str, np.ndarray]:
    """One restart: alternate score / assignment phases; return the best state (a copy)."""
    nets = _Nets(len(data), data[0].shape[1] - 2, int(s["hidden"]), seed)
    opt_g = torch.optim.AdamW(nets.score_params(), lr=s["lr"], weight_decay=s["weight_decay"])
    opt_h = torch.optim.AdamW(nets.assign_params(), lr=s["lr"], weight_decay=s["weight_decay"])
    fit_data = [d[fit_idx] for d in data]
    hold_data = [d[hold_idx] for d in data]
    y_fit, y_hold = correct[fit_idx], correct[hold_idx]
    best_loss, best_state, stale, step = math.inf, nets.state(), 0, 0
    period, max_steps = max(1, int(s["period"])), int(s["max_epochs"])
    while step < max_steps and stale < int(s["patience"]):
        # score phase: r is fixed while only g trains
        with torch.no_grad():
            _, xs = nets.scores(fit_data)
            r = torch.softmax(nets.assign_logits(xs), 1)
        for _ in range(period):
            opt_g.zero_grad(set_to_none=True)
            z, _ = nets.scores(fit_data)
            _weighted_bce(z, y_fit, r).backward()
            opt_g.step()
            step += 1
        # assignment phase: a and the features are fixed while only h trains
        with torch.no_grad():
            z, xs = nets.scores(fit_data)
            a = torch.sigmoid(z)
        for _ in range(period):
            opt_h.zero_grad(set_to_none=True)
            _assign_loss(nets.assign_logits(xs), a, costs, budget, s).backward()
            opt_h.step()
            step += 1
        with torch.no_grad():
            z, xs = nets.scores(hold_data)
            r = torch.softmax(nets.assign_logits(xs), 1)
            loss = float(_weighted_bce(z, y_hold, r))
        if loss < best_loss - 1e-6:
            best_loss, best_state, stale = loss, nets.state(), 0
        else:
            stale += 1
    return best_state


def mean_assignment(weights: Mapping[str, np.ndarray], feats: list[np.ndarray]) -> np.ndarray:
    """pi = mean over samples of r = softmax_k h_k(x_k), [K] (fit time only)."""
    a = _sigmoid(_score_logits(weights, feats))
    u = np.stack(
        [
            _mlp_np(weights, f"h{k}", np.concatenate([d, a[:k].T], 1))
            for k, d in enumerate(feats)
        ],
        1,
    )
    u = u - u.max(1, keepdims=True)
    r = np.exp(u) / np.exp(u).sum(1, keepdims=True)
    return r.mean(0)


def _candidate_plans(
    pi: np.ndarray, costs: np.ndarray, budget: float, s: Mapping[str, Any]
) -> list[tuple[str, np.ndarray]]:
    temps = [float(t) for t in s["plan_temperatures"]]
    plans = [(f"eenet_tau{t:g}", calibrated_plan(pi, costs, budget, t)) for t in temps]
    if s["geometric_candidate"]:
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


def _check(s: Mapping[str, Any]) -> None:
    for key in ("hidden", "max_epochs", "period", "restarts", "threads"):
        if int(s[key]) < 1:
            raise ConfigError(f"schedulers.eenet.{key}: must be >= 1, got {s[key]!r}")
    if not 0.0 < float(s["holdout"]) < 1.0:
        raise ConfigError(f"schedulers.eenet.holdout: must be in (0, 1), got {s['holdout']!r}")
    if float(s["lr"]) <= 0:
        raise ConfigError(f"schedulers.eenet.lr: must be > 0, got {s['lr']!r}")
    if not s["plan_temperatures"] and not s["geometric_candidate"]:
        raise ConfigError("schedulers.eenet.plan_temperatures: empty and no geometric candidate")


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
    feats = data_features(log_probs, int(settings["top_probs"]))
    data = [torch.from_numpy(d.astype(np.float32)) for d in feats]
    correct = torch.from_numpy(correct_np.T.astype(np.float32))  # [N, K]
    perm = np.random.default_rng(seed).permutation(n)
    n_hold = min(n - 1, max(1, int(round(float(settings["holdout"]) * n))))
    hold_idx, fit_idx = np.sort(perm[:n_hold]), np.sort(perm[n_hold:])
    costs_t = torch.from_numpy(np.asarray(costs, dtype=np.float32))
    target = min(float(budget_ms), float(costs[-1]))

    best: tuple[float, dict[str, np.ndarray]] | None = None
    for restart in range(int(settings["restarts"])):
        state = _train_once(
            data,
            correct,
            torch.from_numpy(fit_idx),
            torch.from_numpy(hold_idx),
            costs_t,
            target,
            settings,
            seed * 1000 + restart,
        )
        hold_feats = [d[hold_idx] for d in feats]
        pi = mean_assignment(state, hold_feats)
        acc = _best_plan(
            _score_logits(state, hold_feats),
            correct_np[:, hold_idx],
            _candidate_plans(pi, costs, budget_ms, settings),
        )[0]
        if best is None or acc > best[0] + 1e-12:
            best = (acc, state)
    assert best is not None
    policy.weights = {**best[1], "top": np.array([int(settings["top_probs"])], dtype=np.int64)}
    val_scores = _score_logits(policy.weights, feats)
    if no_early_exit(costs, budget_ms):
        name, plan = "last_exit", last_exit_plan(n_exits)
        thresholds = thresholds_from_plan(val_scores, plan)
    else:
        pi = mean_assignment(policy.weights, feats)
        _, name, plan, thresholds = _best_plan(
            val_scores, correct_np, _candidate_plans(pi, costs, budget_ms, settings)
        )
    policy.thresholds, policy.plan, policy.plan_source = thresholds, plan.tolist(), name
    policy.record_validation(val_scores, costs)
    return policy
