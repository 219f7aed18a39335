"""Thresholds from a planned exit distribution, and the exits they give.

A sample leaves at the first exit k whose score s_k reaches the threshold t_k; the last exit
takes everything left (t_{K-1} = -inf). Samples tied exactly at a threshold are split by a
number drawn from their index and the exit (`tie_uniforms`), the same in the simulation and
in real early exit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eenet.errors import ConfigError
from eenet.splitmix import splitmix64, unit_floats


def tie_uniforms(indices: np.ndarray, k: int) -> np.ndarray:
    """A pseudo-random number in [0, 1) per (sample index, exit k), float64 [N]: splitmix64 of
    the pair, so it depends on neither the scores nor the batching. It splits the samples tied
    at a threshold (deterministically: the same index and exit always give the same number).
    The pair's counter (index << 16) + k keeps an index's low 48 bits; an index past 2**48
    also mixes in its high bits, so that it and an index 2**48 apart get different numbers."""
    indices = np.asarray(indices, dtype=np.uint64)
    mixed = splitmix64((indices << np.uint64(16)) + np.uint64(k))
    high = indices >> np.uint64(48)
    if high.any():  # splitmix64 is a bijection: a nonzero high part changes the number
        mixed ^= np.where(high > 0, splitmix64(high), np.uint64(0))
    return unit_floats(mixed)


def split_ties(
    leave: np.ndarray, scores: np.ndarray, threshold: float, share: float, ids: np.ndarray,
    k: int,
) -> None:
    """In place: of the samples scoring exactly `threshold` at exit k, only those whose
    `tie_uniforms` number (of their index in the split, `ids`) is below `share` leave. The
    rule of the simulation (`first_exit`) and of real early exit alike."""
    tied = np.flatnonzero(scores == threshold)
    leave[tied] = tie_uniforms(ids[tied], k) < share


def thresholds_from_plan(
    scores: np.ndarray, fractions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds t_k and tie shares q_k so that round((pi_0 + ... + pi_k) * N) of the
    samples have left by exit k.

    `scores` is [K, N] (validation), `fractions` the planned pi [K]. A sample leaves at exit k
    if s_k > t_k, or s_k == t_k and its `tie_uniforms` number is below q_k: samples tied at the
    threshold (saturated probabilities, say) are split so the plan is met exactly; q_k = 1
    (all tied samples leave) wherever there is no tie to split. Exits planned to receive no
    sample get +inf; the last exit gets -inf, and so does an exit planned to take every sample
    still present (on any split everyone left leaves there, not only those scoring at least
    the lowest validation score). The cumulative counts are rounded, not each exit's: each
    exit's share then misses its plan by at most one sample, and no error accumulates into the
    cost. Vectorised per exit (K is small).
    """
    n_exits, n = scores.shape
    cumulative = np.round(np.cumsum(np.asarray(fractions, dtype=np.float64)) * n)
    counts = np.diff(cumulative.astype(np.int64), prepend=0)
    thresholds = np.full(n_exits, np.inf)
    thresholds[-1] = -np.inf
    shares = np.ones(n_exits)
    present = np.ones(n, dtype=bool)
    for k in range(n_exits - 1):
        remaining = np.flatnonzero(present)
        take = int(min(counts[k], remaining.size))
        if take <= 0:
            continue
        if take == remaining.size:
            thresholds[k] = -np.inf
            break
        here = scores[k, remaining]
        threshold = np.partition(here, here.size - take)[here.size - take]  # take-th largest
        leave = here >= threshold
        tied = np.flatnonzero(here == threshold)
        extra = take - (int(leave.sum()) - tied.size)  # tied samples to let go, >= 1
        if extra < tied.size:
            draws = tie_uniforms(remaining[tied], k)
            ranked = np.sort(draws)
            shares[k] = 0.5 * (ranked[extra - 1] + ranked[extra])
            leave[tied] = draws < shares[k]
        thresholds[k] = threshold
        present[remaining[leave]] = False
    return thresholds, shares


# the largest `first_index`: the indices of a batch counted from it stay int64 (past 2**63 the
# sum was an OverflowError traceback, or wrapped round to negative indices)
MAX_FIRST_INDEX = 2**62


def check_first_index(first_index: Any) -> int:
    """A sample index to count tied samples from: an integer from 0 to MAX_FIRST_INDEX (a
    one-line ConfigError), returned as a Python int (a numpy uint64 plus the int64 sample
    positions is float64, which rounds indices past 2**53 and so splits ties differently)."""
    if type(first_index) is not int and not isinstance(first_index, np.integer) \
            or not 0 <= first_index <= MAX_FIRST_INDEX:
        raise ConfigError(f"first_index: expected an integer from 0 to 2**62, got "
                          f"{first_index!r}")
    return int(first_index)


def unreachable_thresholds(n_exits: int) -> np.ndarray:
    """Thresholds of a policy that scores every exit before the last and lets no sample leave
    there: finite, above every score (+inf marks an exit nobody may leave at, which the runtime
    does not score), and -inf at the last exit. What the scoring profiles time."""
    thresholds = np.full(n_exits, np.finfo(np.float64).max)
    thresholds[-1] = -np.inf
    return thresholds


def first_exit(
    scores: np.ndarray,
    thresholds: np.ndarray,
    shares: np.ndarray | None = None,
    first_index: int = 0,
) -> np.ndarray:
    """Index of the first exit whose score reaches its threshold, int64 [N]. With tie
    `shares` (see `thresholds_from_plan`), a sample scoring exactly t_k leaves if its
    `tie_uniforms` number (sample indices counted from `first_index`) is below q_k."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    passed = scores >= thresholds[:, None]
    if shares is not None:
        ids = int(first_index) + np.arange(scores.shape[1])  # int64, whatever its type
        for k in np.flatnonzero(np.asarray(shares)[:-1] < 1.0):  # only exits with a tie split
            split_ties(passed[k], scores[k], thresholds[k], shares[k], ids, int(k))
    passed[-1] = True
    return passed.argmax(axis=0).astype(np.int64)


def exit_distribution(exits: np.ndarray, n_exits: int) -> np.ndarray:
    """Fraction of samples leaving at each exit, [n_exits] (zeros for no samples)."""
    counts = np.bincount(np.asarray(exits, dtype=np.int64), minlength=n_exits)
    return counts / max(1, len(exits))


def exit_fractions(exits: np.ndarray, n_exits: int) -> list[float]:
    """Fraction of samples leaving at each exit, as a list (for JSON)."""
    return exit_distribution(exits, n_exits).tolist()


def mean_cost(exits: np.ndarray, costs: np.ndarray) -> float:
    """Average cost (ms/sample) of leaving at `exits`."""
    return float(np.asarray(costs, dtype=np.float64)[np.asarray(exits, dtype=np.int64)].mean())
