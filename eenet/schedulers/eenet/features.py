"""EENet's input features x_k of each exit, computed from the exit's log-probabilities."""

from __future__ import annotations

import math

import numpy as np

from eenet.schedulers.scores import entropy_of


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
        shown = top_values(p, int(top))
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


def top_values(p: np.ndarray, top: int) -> np.ndarray:
    """The `top` largest values of each row of `p` [N, C] (all C where top >= C), in
    decreasing order, [N, min(top, C)]: a partition then a sort of those few, not a sort of
    all C (1000 ImageNet classes for 5 kept); the same values as the full sort's."""
    n_classes = p.shape[-1]
    if top >= n_classes:
        return np.sort(p, axis=-1)[:, ::-1]
    largest = np.partition(p, n_classes - top, axis=-1)[:, n_classes - top:]
    return np.sort(largest, axis=-1)[:, ::-1]
