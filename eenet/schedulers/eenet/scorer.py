"""The trained networks at inference: numpy float64 forward passes over the weights file.

Score networks g_k (and lookahead heads f_k) of all ensemble members are fused per exit into
one two-layer network (`ExitScorer`); `forward` runs them exit after exit, carrying each
member's a_k into the next exit's input. Also the fit-time mean assignment pi and the shape
check of a loaded weights file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eenet.errors import ArtifactError, ConfigError
from eenet.schedulers.eenet.features import exit_features

# Largest fused network of one exit (w1 and w2, float64): it grows with the square of the
# members (`folds`), and a typo there must be an error, not the machine out of memory.
MAX_FUSED_BYTES = 2**30


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) without overflow (by tanh)."""
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


def fused_layout(weights: Mapping[str, np.ndarray]) -> list[tuple[int, int, int]]:
    """Per exit, from the weights' shapes alone (nothing built): the fused network's hidden
    units in all (every member's g_k, then its lookahead head f_k where there is one), its
    data features and its lookahead logits (0 without heads); empty when nothing was
    trained."""
    members = member_prefixes(weights)
    n_exits = sum(1 for name in weights if members and name.startswith(f"{members[0]}g")
                  and name.endswith(".w1"))
    layout = []
    for k in range(n_exits):
        heads = f"{members[0]}f{k}.w1" in weights
        kinds = ("g", "f") if heads else ("g",)
        hidden = sum(int(np.shape(weights[f"{m}{kind}{k}.w1"])[1])
                     for kind in kinds for m in members)
        d = int(np.shape(weights[f"{members[0]}g{k}.w1"])[0]) - k
        looks = int(np.shape(weights[f"{members[0]}f{k}.w2"])[1]) if heads else 0
        layout.append((hidden, d, looks))
    return layout


def compile_scorer(weights: Mapping[str, np.ndarray]) -> list[ExitScorer]:
    """The fused float64 networks of every exit (empty when nothing was trained). One past
    MAX_FUSED_BYTES is a ConfigError (`check_fused_size`) before any is built; fits check
    their settings, and a policy file its weights (`check_weights`), before they get here."""
    members = member_prefixes(weights)
    n = len(members)
    layout = fused_layout(weights)
    for k, (hidden, d, looks) in enumerate(layout):
        check_fused_size(n, hidden, d, k, looks)
    scorers: list[ExitScorer] = []
    for k, (_, d, looks) in enumerate(layout):
        nets = [_net(weights, f"{m}g{k}") for m in members]
        # the layout found exit k's lookahead heads (their logits): not looked up again
        heads = [_net(weights, f"{m}f{k}") for m in members] if looks else []
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


def check_fused_size(members: int, hidden: int, features: int, k: int, looks: int,
                     param: str = "schedulers.eenet") -> None:
    """Exit k's fused network of `hidden` units in all must fit MAX_FUSED_BYTES; else a
    one-line ConfigError naming `param`.folds (and `hidden`; `param`: what the caller called
    the settings). Its input rows: `features` data features and each member's k earlier a_j;
    its output columns: each member's score, their mean and `looks` lookahead logits."""
    problem = fused_size_problem(members, hidden, features, k, looks)
    if problem:
        raise ConfigError(f"{param}.folds: {problem}; lower folds or hidden (at most "
                          f"{MAX_FUSED_BYTES / 2**30:g} GiB)")


def fused_size_problem(members: int, hidden: int, features: int, k: int, looks: int
                       ) -> str | None:
    """What is wrong with exit k's fused network (see `check_fused_size`) past
    MAX_FUSED_BYTES ("100 members would need 1.3 GiB for one exit's fused scorer (...)");
    None when it fits."""
    size = 8 * hidden * (features + members * k + members + 1 + looks)
    if size <= MAX_FUSED_BYTES:
        return None
    return (f"{members} members would need {size / 2**30:.1f} GiB for one exit's fused scorer "
            f"({hidden} hidden units in all; it grows with the square of folds)")


def check_fused_sizes(members: int, hidden: int, dims: Sequence[int], lookahead: bool,
                      param: str = "schedulers.eenet") -> None:
    """`check_fused_size` for every exit of a scorer before any of it is built or trained:
    `members` networks of `hidden` units per exit on `dims[k]` data features (and with
    `lookahead`, as many heads at every exit but the last, one logit per exit from k on)."""
    for k, d in enumerate(dims):
        looks = len(dims) - k if lookahead and k < len(dims) - 1 else 0
        blocks = members * (2 if looks else 1)
        check_fused_size(members, blocks * hidden, d, k, looks, param)


def step_exit(
    scorer: ExitScorer, features: np.ndarray, carry: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exit k's outputs [N, M + 1 + looks] (see ExitScorer) and the carry extended by the
    members' a_k."""
    z = scorer.logits(features, carry)
    a = sigmoid(z[:, : scorer.members])[:, :, None]
    return z, a if carry is None else np.concatenate([carry, a], 2)


def recorded_feature_options(weights: Mapping[str, np.ndarray]) -> tuple[int, bool, bool]:
    """The feature options used at fit time, recorded in the weights file."""
    top = int(np.asarray(weights.get("top", np.zeros(1)))[0])
    agreement = bool(np.asarray(weights.get("agreement", np.zeros(1)))[0])
    log_scale = bool(np.asarray(weights.get("log_scale", np.zeros(1)))[0])
    return top, agreement, log_scale


def member_prefixes(weights: Mapping[str, np.ndarray]) -> list[str]:
    """Weight-name prefixes of the ensemble members ("" for a single unprefixed network)."""
    if "members" in weights:
        return [f"m{i}." for i in range(int(np.asarray(weights["members"])[0]))]
    return [""] if "g0.w1" in weights else []


def forward(
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
        z, carry = step_exit(scorer, x, carry)
        rows.append(z[:, scorer.members])
        looks.append(z[:, scorer.members + 1 :])
    assert carry is not None
    return np.stack(rows), carry, looks


def member_probabilities(
    weights: Mapping[str, np.ndarray], feats: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(mean score logits [K, N], every member's a_k [N, M, K]) over the exits of `feats`."""
    return forward(weights, feats)[:2]


def mean_score_logits(weights: Mapping[str, np.ndarray], feats: list[np.ndarray]) -> np.ndarray:
    """Mean over ensemble members of g_k(x_k), [k, N] (zeros when nothing was trained)."""
    return member_probabilities(weights, feats)[0]


def mean_assignment(
    weights: Mapping[str, np.ndarray], feats: list[np.ndarray], a: np.ndarray
) -> np.ndarray:
    """pi = mean over samples (and members) of r = softmax_k h_k(x_k), [K] (fit time only),
    given the members' a_k [N, M, K] computed on `feats`."""
    plans = []
    for i, m in enumerate(member_prefixes(weights)):
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


def check_weights(weights: Mapping[str, np.ndarray], path: Path, n_exits: int | None = None,
                  n_classes: int | None = None) -> None:
    """A loaded weights file, else a one-line ArtifactError naming it: every network tensor
    finite floating-point numbers; every score / assignment MLP in -> hidden -> 1 (a lookahead
    head: -> hidden -> its exits) with matching shapes; the header (`members` and the feature
    options) single integers in range; and, given the policy's `n_exits` (and `n_classes`
    where recorded), each member's networks for exactly those exits, each taking the inputs
    its feature options give, and each exit's fused network within MAX_FUSED_BYTES."""
    for name, value in weights.items():
        if name not in HEADER:
            check_tensor(name, value, path)
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
    check_header(weights, path)
    if n_exits is not None:
        check_inputs(weights, path, n_exits, n_classes)
        check_fused_weights(weights, path)


def check_fused_weights(weights: Mapping[str, np.ndarray], path: Path) -> None:
    """A weights file whose networks fuse within MAX_FUSED_BYTES per exit (a hand-made one
    could ask for any size), checked at load from their shapes alone; else a one-line
    ArtifactError naming the file (its scoring would have named params.yaml's
    schedulers.eenet.folds, a setting that file was never fitted with)."""
    members = len(member_prefixes(weights))
    for k, (hidden, d, looks) in enumerate(fused_layout(weights)):
        problem = fused_size_problem(members, hidden, d, k, looks)
        if problem:
            raise ArtifactError(f"{path}: EENet weights too large to score: {problem}; at "
                                f"most {MAX_FUSED_BYTES / 2**30:g} GiB per exit (fit with "
                                "lower folds or hidden)")


# the weights file's entries that are not network tensors: one integer each, and what it allows
HEADER = {
    "members": ("an integer >= 1", lambda v: v >= 1),
    "top": ("an integer >= 0 (0: every class's probability)", lambda v: v >= 0),
    "agreement": ("0 or 1", lambda v: v in (0, 1)),
    "log_scale": ("0 or 1", lambda v: v in (0, 1)),
}
# a network's name: member prefix (none for a single network), kind (g: score, h: assignment,
# f: lookahead head) and exit
NET_NAME = re.compile(r"(m\d+\.)?([ghf])(\d+)")


def check_tensor(name: str, value: np.ndarray, path: Path) -> None:
    """A network tensor must hold finite floating-point numbers (NaN weights silently sent
    every sample to the last exit)."""
    if not np.issubdtype(value.dtype, np.floating):
        raise ArtifactError(f"{path}: EENet weight {name} must be floating-point, got dtype "
                            f"{value.dtype}")
    if not np.isfinite(value).all():
        raise ArtifactError(f"{path}: EENet weight {name} must be finite, got NaN or "
                            "infinite values")


def check_header(weights: Mapping[str, np.ndarray], path: Path) -> None:
    """Each `HEADER` entry present must be one integer it allows, and `members` the number of
    member networks (m0., m1., ...) the file holds."""
    for name, (need, ok) in HEADER.items():
        value = weights.get(name)
        if value is None:
            continue
        if value.shape != (1,) or not np.issubdtype(value.dtype, np.integer) or not ok(
                int(value[0])):
            shown = value.item() if value.size == 1 else value.tolist()
            raise ArtifactError(f"{path}: EENet weights' {name} must be {need}, got {shown}")
    held = {match[1] for name in weights if (match := NET_NAME.match(name)) and match[1]}
    if "members" in weights and held != {f"m{i}." for i in range(int(weights["members"][0]))}:
        raise ArtifactError(f"{path}: EENet weights' members must be the number of member "
                            f"networks the file holds ({len(held)}), got "
                            f"{int(weights['members'][0])}")


def check_inputs(weights: Mapping[str, np.ndarray], path: Path, n_exits: int,
                 n_classes: int | None) -> None:
    """Every member has a score network g_k for each of the `n_exits` exits and no network
    beyond them; each network of exit k takes that exit's data features under the recorded
    feature options (on `n_classes` classes; unrecorded: those exit 0's networks show) plus
    the member's k earlier a_j."""
    members = member_prefixes(weights)
    if not members:
        return  # fitted without training: no networks
    for name in weights:
        match = NET_NAME.match(name)
        if match and int(match[3]) >= n_exits:
            raise ArtifactError(f"{path}: EENet weights have a network beyond the policy's "
                                f"{n_exits} exits ({name})")
    missing = [f"{m}g{k}.w1" for m in members for k in range(n_exits)
               if f"{m}g{k}.w1" not in weights]
    if missing:
        raise ArtifactError(f"{path}: EENet weights incomplete (missing {missing[0]!r})")
    top, agreement, log_scale = recorded_feature_options(weights)
    classes = n_classes or max(1, weights[f"{members[0]}g0.w1"].shape[0] - 2)
    blank = np.zeros((1, classes))
    with np.errstate(all="ignore"):  # shapes only (one class: log C = 0)
        dims = [exit_features(blank, blank if k else None, top, agreement, log_scale).shape[1]
                for k in range(n_exits)]
    for name, value in weights.items():
        match = NET_NAME.fullmatch(name.removesuffix(".w1"))
        if not name.endswith(".w1") or not match:
            continue
        k = int(match[3])
        if value.shape[0] != dims[k] + k:
            raise ArtifactError(
                f"{path}: EENet weights' {name} takes {value.shape[0]} inputs, but the "
                f"feature options (top {top}, agreement {int(agreement)}) give exit {k} "
                f"{dims[k]} features of {classes} classes and {k} earlier scores")
