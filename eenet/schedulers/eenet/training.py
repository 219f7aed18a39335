"""Training EENet's networks on validation outputs (torch, full batch, cross-fitted).

Score networks g_k and assignment networks h_k train in alternation; each of `folds`
members trains on the other folds and early-stops on its own, which it then scores out of
sample; lookahead heads f_k train on the member's trained a_k.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import torch

from eenet.errors import ArtifactError
from eenet.schedulers.eenet.scorer import (
    check_fused_sizes,
    forward,
    mean_assignment,
    member_probabilities,
)
from eenet.schedulers.eenet.seeds import Uniforms, lookahead_seed, member_seed, uniforms
from eenet.schedulers.eenet.selection import best_plan_accuracy, candidate_plans
from eenet.schedulers.eenet.settings import check_fold_count, feature_options

# the most budgets an exit's cost counts as in training (float32 holds it, and a mean of many
# samples' costs, and no policy at the budget sends a sample there)
RATIO_CAP = 1e30


class MLP:
    """in -> hidden (ReLU) -> outputs, parameters initialised from a private generator's
    uniforms (`seeds.uniforms`)."""

    def __init__(self, in_dim: int, hidden: int, draw: Uniforms, outputs: int = 1) -> None:
        def uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
            bound = 1.0 / math.sqrt(fan_in)
            t = (draw(shape) * 2 - 1) * bound
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
        """A float32 copy of each weight, by name."""
        return {key: t.detach().clone().numpy().astype(np.float32)
                for key, t in self.params.items()}


class ScoreAssignmentNets:
    """Score networks g_k and assignment networks h_k for K exits."""

    def __init__(self, in_dims: list[int], hidden: int, seed: int) -> None:
        draw = uniforms(seed)
        self.g = [MLP(d + k, hidden, draw) for k, d in enumerate(in_dims)]
        self.h = [MLP(d + k, hidden, draw) for k, d in enumerate(in_dims)]

    def score_params(self) -> list[torch.Tensor]:
        """The score networks' weights (what the score phase trains)."""
        return [t for m in self.g for t in m.params.values()]

    def assign_params(self) -> list[torch.Tensor]:
        """The assignment networks' weights (what the assignment phase trains)."""
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
        """Assignment logits u [N, K] from the score phase's features x_k."""
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
    go_on: Callable[[], None],
) -> dict[str, np.ndarray]:
    """One restart: alternate score / assignment phases; return the best state (a copy).
    `costs` are in units of the budget; `go_on` is called before each phase (see
    `_early_stopped`)."""
    nets = ScoreAssignmentNets([d.shape[1] for d in data], int(s["hidden"]), seed)
    opt_g = adamw(nets.score_params(), s)
    opt_h = adamw(nets.assign_params(), s)
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

    return _early_stopped(phases, hold_loss, nets.state, s, go_on)


class _BestState:
    """Early stopping's record for one network: its best held-out loss and state (a copy),
    and the phases since that loss last improved (by more than 1e-6)."""

    def __init__(self, state: Callable[[], dict[str, np.ndarray]], patience: int) -> None:
        self.state, self.patience = state, patience
        self.loss, self.best, self.stale = math.inf, state(), 0

    def improving(self) -> bool:
        """Fewer than `patience` phases without an improvement."""
        return self.stale < self.patience

    def record(self, loss: float) -> None:
        """A phase's held-out loss: keep the state if it improved."""
        if loss < self.loss - 1e-6:
            self.loss, self.best, self.stale = loss, self.state(), 0
        else:
            self.stale += 1


def _go_on() -> None:
    """A training loop's check before each phase where nothing can stop it early."""


def _early_stopped(
    phases: Callable[[], int],
    hold_loss: Callable[[], float],
    state: Callable[[], dict[str, np.ndarray]],
    s: Mapping[str, Any],
    go_on: Callable[[], None] = _go_on,
) -> dict[str, np.ndarray]:
    """Run training `phases` (each returns the steps it took) until `max_epochs` steps or
    `patience` phases without a held-out loss improvement; the best `state` (a copy).
    `go_on()` comes before each phase: it raises to end the training there (`_Members.go_on`:
    the fit is ending)."""
    record, step = _BestState(state, int(s["patience"])), 0
    while step < int(s["max_epochs"]) and record.improving():
        go_on()
        step += phases()
        record.record(hold_loss())
    return record.best


def _train_lookahead(
    feats: list[np.ndarray],
    correct_np: np.ndarray,
    state: Mapping[str, np.ndarray],
    fit_idx: np.ndarray,
    hold_idx: np.ndarray,
    s: Mapping[str, Any],
    seed: int,
    go_on: Callable[[], None],
) -> dict[str, np.ndarray]:
    """Lookahead heads f_k (k < K-1) of one member: on g's inputs [x_k, a_0..a_{k-1}] (the
    member's trained a), logits of "exit j is right" for j = k..K-1, plain BCE, full-batch
    AdamW, early-stopped on the member's held-out fold like g (`go_on` before each phase).
    Weights f{k}.*."""
    n_exits = correct_np.shape[0]
    a = member_probabilities(state, feats)[1][:, 0, :]  # [N, K], this member's a_k
    inputs = [torch.from_numpy(np.concatenate([feats[k], a[:, :k]], 1).astype(np.float32))
              for k in range(n_exits - 1)]
    targets = [torch.from_numpy(correct_np[k:].T.astype(np.float32)) for k in range(n_exits - 1)]
    best = _fit_heads(inputs, targets, fit_idx, hold_idx, uniforms(seed), s, go_on)
    return {f"f{k}.{key}": value for k, head in enumerate(best) for key, value in head.items()}


def _fit_heads(
    inputs: list[torch.Tensor],
    targets: list[torch.Tensor],
    fit_idx: np.ndarray,
    hold_idx: np.ndarray,
    draw: Uniforms,
    s: Mapping[str, Any],
    go_on: Callable[[], None] = _go_on,
) -> list[dict[str, np.ndarray]]:
    """Multi-output heads, one per (x, y) pair, x -> logits of the targets y: plain BCE on
    `fit_idx`, full-batch AdamW, each early-stopped on `hold_idx` by its own `_BestState` as
    `_early_stopped` would alone (`go_on()` before each phase, as there); their best states.
    They train together, as if apart: one backward of the summed losses and one fused AdamW
    step per step, over the heads still training (each parameter gets its own head's
    gradient, and AdamW's update is elementwise), so the states are those of training each
    head on its own, bit for bit, with one backward and one optimizer step per step instead of
    one per head."""
    heads = [MLP(x.shape[1], int(s["hidden"]), draw, outputs=y.shape[1])
             for x, y in zip(inputs, targets, strict=True)]
    opt = adamw([t for head in heads for t in head.params.values()], s)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    fit = [(x[fit_idx], y[fit_idx]) for x, y in zip(inputs, targets, strict=True)]
    hold = [(x[hold_idx], y[hold_idx]) for x, y in zip(inputs, targets, strict=True)]
    period, max_steps = max(1, int(s["period"])), int(s["max_epochs"])
    records, step = [_BestState(head.state, int(s["patience"])) for head in heads], 0
    while step < max_steps and (live := [i for i, r in enumerate(records) if r.improving()]):
        go_on()
        for _ in range(period):
            opt.zero_grad(set_to_none=True)  # a stopped head keeps no gradient: not stepped
            sum(bce(heads[i].outputs(fit[i][0]), fit[i][1]) for i in live).backward()
            opt.step()
        step += period
        with torch.no_grad():
            for i in live:
                records[i].record(float(bce(heads[i].outputs(hold[i][0]), hold[i][1])))
    return [record.best for record in records]


def train_members(
    feats: list[np.ndarray],
    correct_np: np.ndarray,
    costs: np.ndarray,
    budget_ms: float,
    settings: Mapping[str, Any],
    seed: int,
    param: str,
) -> tuple[dict[str, np.ndarray], np.ndarray, list[np.ndarray] | None]:
    """Cross-fitting: member f trains on the other folds, early-stops on fold f and scores
    fold f out of sample. Returns the members' weights, the out-of-fold score logits [K, N]
    and, with `lookahead`, the out-of-fold lookahead logits per exit [N, looks_k] (honest:
    the rule is chosen on them). Too many folds are a ConfigError naming `param`.folds."""
    n_exits, n = correct_np.shape
    if n < 2:  # a member needs a sample to fit on and one to early-stop on
        raise ArtifactError(f"validation outputs: EENet needs at least 2 validation samples "
                            f"to cross-fit its scorer, got {n}")
    data = [torch.from_numpy(d.astype(np.float32)) for d in feats]
    correct = torch.from_numpy(correct_np.T.astype(np.float32))  # [N, K]
    # the networks see costs in units of the budget: the same policy whatever the cost unit
    # (ms, seconds, FLOPs), with no float32 rounding of tiny or huge numbers; an exit dearer
    # than RATIO_CAP budgets (costs allowed from 1e-100 to 1e250) counts as RATIO_CAP, which
    # the budget term already keeps every sample from
    with np.errstate(over="ignore"):
        ratios = np.asarray(costs, dtype=np.float64) / budget_ms
    costs_t = torch.from_numpy(np.minimum(ratios, RATIO_CAP).astype(np.float32))
    n_folds = int(settings["folds"])
    check_fold_count(n_folds, n, param)
    check_fused_sizes(n_folds, int(settings["hidden"]), [f.shape[1] for f in feats],
                      bool(settings["lookahead"]), param)
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % n_folds

    torch_threads = torch.get_num_threads()  # the fit's (`threads`), for every member

    def fit_fold(fold: int, go_on: Callable[[], None]) -> tuple[
            np.ndarray, dict[str, np.ndarray], np.ndarray, list[np.ndarray] | None]:
        """Member `fold`: its held-out samples, weights, out-of-fold score logits [K, n_fold]
        and lookahead logits (None without lookahead); `go_on()` before each training phase."""
        torch.set_num_threads(torch_threads)  # a pool thread's own OpenMP setting
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
                member_seed(seed, fold, restart),
                go_on,
            )
            hold_logits, hold_a = member_probabilities(state, hold_feats)
            pi = mean_assignment(state, hold_feats, hold_a)
            acc = best_plan_accuracy(hold_logits, correct_np[:, hold_idx],
                                     candidate_plans(pi, costs, budget_ms, settings))
            if best is None or acc > best[0] + 1e-12:
                best = (acc, state, hold_logits)
        assert best is not None
        state, looks = dict(best[1]), None
        if settings["lookahead"]:
            state.update(_train_lookahead(feats, correct_np, state, fit_idx, hold_idx, settings,
                                          lookahead_seed(seed, fold), go_on))
            looks = forward(state, hold_feats)[2]
        return hold_idx, state, best[2], looks

    weights: dict[str, np.ndarray] = {}
    oof = np.zeros((n_exits, n))
    oof_looks = ([np.zeros((n, n_exits - k if k < n_exits - 1 else 0)) for k in range(n_exits)]
                 if settings["lookahead"] else None)
    members = run_members(fit_fold, n_folds)
    for fold, (hold_idx, state, hold_logits, looks) in enumerate(members):
        if oof_looks is not None:
            for rows, z in zip(oof_looks, looks, strict=True):
                rows[hold_idx] = z
        weights.update({f"m{fold}.{key}": value for key, value in state.items()})
        oof[:, hold_idx] = hold_logits
    weights.update(weights_header(n_folds, settings))
    return weights, oof, oof_looks


T = TypeVar("T")


class MembersStopped(Exception):
    """Raised in a member's training, at its next phase, once the fit is ending early."""


class _Members:
    """The members of one fit training on pool threads: which of them are running, and a gate
    that, once closed (`stop_and_wait`), no member passes to start or to train another phase.
    Its state is read and changed under a plain lock, held only for a few bytecodes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = False
        self._running = 0

    def run(self, fit: Callable[[int, Callable[[], None]], T], fold: int) -> T:
        """`fit(fold, go_on)` on a pool thread, counted as running until it returns or raises;
        not started at all once the gate is closed."""
        with self._lock:
            if self._stopping:
                raise MembersStopped
            self._running += 1
        try:
            return fit(fold, self.go_on)
        finally:
            with self._lock:
                self._running -= 1

    def go_on(self) -> None:
        """A member's check before each training phase: MembersStopped once the gate closed."""
        if self._stopping:
            raise MembersStopped

    def stop_and_wait(self) -> None:
        """Close the gate, then wait until no member runs: those that ran end at their next
        phase, before any more torch work. Further stop signals do not cut the wait short: a
        stop under way must not leave a member inside torch (see `run_members`).
        Polled with short sleeps, not a Condition or Thread.join, which an interrupt can leave
        half-done (Python 3.11's Thread.join, interrupted, marks a running thread stopped)."""
        while True:
            try:
                with self._lock:
                    self._stopping = True
                    if not self._running:
                        return
                time.sleep(0.002)
            except BaseException:  # Ctrl-C or SIGTERM again: the stop is already under way
                continue


def run_members(fit: Callable[[int, Callable[[], None]], T], n_folds: int) -> list[T]:
    """`fit(fold, go_on)` for each fold, `fold_workers` at once on threads, in fold order.

    However it ends, no member is running when this returns or raises. An interrupt (Ctrl-C,
    SIGTERM) or a member's error closes the gate: pending members never start, running ones
    end at their next training phase, and the main thread waits for them, through further
    interrupts, before the exception goes on. A member left inside torch while the interpreter
    exits aborts the process: its thread is killed when it next takes the GIL, and torch's C++
    calls std::terminate ("terminate called without an active exception", status 134). The
    pool's own join did leave one: `timeout` sends its signal twice (to the process, then to
    its group), and a second KeyboardInterrupt inside Thread.join (the ThreadPoolExecutor's
    shutdown, waiting for a running member) makes Python 3.11 mark that thread stopped, so the
    interpreter's exit no longer waited for it."""
    members = _Members()
    pool = ThreadPoolExecutor(max_workers=fold_workers(n_folds))
    try:
        futures = [pool.submit(members.run, fit, fold) for fold in range(n_folds)]
        return [future.result() for future in futures]
    finally:
        members.stop_and_wait()  # on success at once: every member has returned
        pool.shutdown(wait=False, cancel_futures=True)  # idle threads: they end on their own


def adamw(params: list[torch.Tensor], s: Mapping[str, Any]) -> torch.optim.AdamW:
    """The optimizer of every network EENet trains: AdamW at the settings' `lr` and
    `weight_decay`, fused (torch's one-kernel step for all of a network's tensors: the fit's
    tiny full-batch steps are mostly optimizer overhead; ~15 % faster than foreach, the same
    update up to rounding)."""
    return torch.optim.AdamW(params, lr=s["lr"], weight_decay=s["weight_decay"], fused=True)


def load_optimizer_machinery() -> None:
    """Construct one throwaway torch optimizer: the first in a process loads torch.compile's
    machinery (torch._dynamo, with sympy), about 3 s here, once. Done before a fit's clock
    starts, so `fit_seconds` times the fit, not a library load (as torch's own import is not
    timed); a later call costs microseconds."""
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


def fold_workers(n_folds: int) -> int:
    """Members trained at once: one per CPU this process may use, at most one per fold. Each
    member runs its tiny matmuls on one torch thread and owns its generators, so the result
    is the same, bit for bit, however many train at once."""
    return max(1, min(n_folds, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def weights_header(members: int, settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The non-network entries of a weights file: member count and feature options."""
    top, agreement, log_scale = feature_options(settings)
    return {
        "members": np.array([members], dtype=np.int64),
        "top": np.array([top], dtype=np.int64),
        "agreement": np.array([int(agreement)], dtype=np.int64),
        "log_scale": np.array([int(log_scale)], dtype=np.int64),
    }
