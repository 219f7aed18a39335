"""Per-exit confidence scores from log-probabilities [K, N, C] (float64), all causal per exit.

For ranking, monotone transforms of docs/method.md's scores are used where they avoid ties:
log max_c p instead of max_c p (max p rounds to exactly 1.0 for confident samples, its log
keeps them apart until one logit leads all others by ~33 or more: log max p is then within a
few 1e-16 of 0, and such samples tie, split by the tie shares), and -H(p)/log C instead of
1 - H(p)/log C (same order, no cancellation against 1 for confident samples).
"""

from __future__ import annotations

import math

import numpy as np

from eenet.outputs import reduce_exp_rows

_MOST_NEGATIVE = np.finfo(np.float64).min  # stands in for log 0 = -inf: 0 * it = 0


def max_log_prob(log_probs: np.ndarray) -> np.ndarray:
    """log max_c p_k(c), [K, N]: the MSDNet score up to a monotone transform."""
    return np.asarray(log_probs, dtype=np.float64).max(axis=-1)


def entropy(log_probs: np.ndarray) -> np.ndarray:
    """Entropy H(p_k) in nats, [K, N]; p = 0 contributes 0, never NaN. A large input block by
    block of rows (`eenet.outputs.reduce_exp_rows`): its [K, N, C] temporaries (p, and log p
    clipped) were each as large as the log-probabilities; each row's entropy is the same
    number either way."""
    return reduce_exp_rows(np.asarray(log_probs, dtype=np.float64), entropy_of)


def entropy_of(probs: np.ndarray, log_probs: np.ndarray) -> np.ndarray:
    """-sum_c p log p over the last axis from both p and log p (float64; log p = -inf where
    p = 0 contributes 0). Three numpy calls: cheap at batch 1 in the runtime."""
    return -np.einsum("...c,...c->...", probs, np.maximum(log_probs, _MOST_NEGATIVE))


def neg_normalised_entropy(log_probs: np.ndarray) -> np.ndarray:
    """-H(p_k)/log C, [K, N]: the BranchyNet score 1 - H/log C shifted by -1 (same order)."""
    n_classes = np.asarray(log_probs).shape[-1]
    return -entropy(log_probs) / math.log(n_classes)


def patience_counts(log_probs: np.ndarray) -> np.ndarray:
    """How many consecutive exits up to k agree with exit k's prediction, int64 [K, N] (>= 1)."""
    preds = np.asarray(log_probs).argmax(axis=-1)
    counts = np.ones(preds.shape, dtype=np.int64)
    for k in range(1, preds.shape[0]):  # loop over exits only (K is small)
        counts[k] = np.where(preds[k] == preds[k - 1], counts[k - 1] + 1, 1)
    return counts
