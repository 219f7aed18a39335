"""Counting the samples a plan answers correctly, many plans on one score set.

EENet's plan refinement tries thousands of plans on the same validation scores. Each try of
`thresholds_from_plan` then `first_exit` partitions every exit's scores anew; `HitCounter`
sorts each exit's scores once and then finds each threshold by a running count of the samples
still present, in the sorted order. Its count is exactly theirs (the same thresholds, the same
tie shares, the same tie draws).
"""

from __future__ import annotations

import numpy as np

from eenet.schedulers.thresholds import first_exit, thresholds_from_plan, tie_uniforms


def plan_hits(scores: np.ndarray, correct: np.ndarray, plan: np.ndarray) -> np.ndarray:
    """Whether each sample is answered correctly, bool [N], under the rule realising `plan` on
    `scores` [K, N] (`thresholds_from_plan`, then `first_exit`); `correct` is [K, N]."""
    exits = first_exit(scores, *thresholds_from_plan(scores, plan))
    return correct[exits, np.arange(scores.shape[1])]


class HitCounter:
    """How many samples the rule realising a plan answers correctly, on fixed scores [K, N]
    and correctness [K, N]: `count(plan)` equals `plan_hits(scores, correct, plan).sum()`."""

    def __init__(self, scores: np.ndarray, correct: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=np.float64)
        self.correct = np.asarray(correct, dtype=bool)
        # +inf and NaN compare unlike finite scores against the +inf/-inf thresholds of
        # `thresholds_from_plan`; such score sets take the reference path
        self.finite = bool(np.isfinite(self.scores).all())
        if self.finite:
            self.order = np.argsort(-self.scores, axis=1, kind="stable")  # highest first
            self.descending = np.take_along_axis(self.scores, self.order, axis=1)
            self.negated = -self.descending  # ascending: a tied run's bounds by searchsorted
            self.correct_sorted = np.take_along_axis(self.correct, self.order, axis=1)

    def reference(self, plan: np.ndarray) -> int:
        """The count by `thresholds_from_plan` and `first_exit` themselves (`plan_hits`)."""
        return int(plan_hits(self.scores, self.correct, plan).sum())

    def count(self, plan: np.ndarray) -> int:
        """Samples answered correctly when the plan's thresholds are set on these scores."""
        if not self.finite:
            return self.reference(plan)
        n_exits, n = self.scores.shape
        cumulative = np.round(np.cumsum(np.asarray(plan, dtype=np.float64)) * n)
        counts = np.diff(cumulative.astype(np.int64), prepend=0)
        present = np.ones(n, dtype=bool)
        remaining, hits = n, 0
        for k in range(n_exits - 1):
            take = int(min(counts[k], remaining))
            if take <= 0:
                continue
            if take == remaining:  # everyone still present leaves here
                return hits + int(self.correct[k, present].sum())
            leaving = self._leaving(k, present, take)
            hits += int(self.correct_sorted[k, leaving].sum())
            present[self.order[k, leaving]] = False
            remaining -= leaving.size
        return hits + int(self.correct[-1, present].sum())

    def _leaving(self, k: int, present: np.ndarray, take: int) -> np.ndarray:
        """Sorted positions (in exit k's order) of the `take` present samples that leave at k:
        all scoring above the take-th highest present score, then as many of those tied at it
        as `thresholds_from_plan`'s tie share lets go."""
        alive = present[self.order[k]]
        running = np.cumsum(alive)
        threshold = self.descending[k, int(np.searchsorted(running, take))]
        low = int(np.searchsorted(self.negated[k], -threshold, side="left"))
        high = int(np.searchsorted(self.negated[k], -threshold, side="right"))
        above = np.flatnonzero(alive[:low])
        tied = low + np.flatnonzero(alive[low:high])
        extra = take - above.size  # tied samples to let go, >= 1
        if extra < tied.size:
            draws = tie_uniforms(self.order[k, tied], k)
            ranked = np.sort(draws)
            tied = tied[draws < 0.5 * (ranked[extra - 1] + ranked[extra])]
        return np.concatenate([above, tied])
