"""Paired significance of one rule's per-sample hits over another's on the same samples."""

from __future__ import annotations

import math

import numpy as np


def paired_z(hits: np.ndarray, baseline: np.ndarray) -> float:
    """Sign-test statistic of `hits` over `baseline` on the same samples (boolean, one per
    sample): (wins - losses) / sqrt(wins + losses), 0 where they never differ. |z| < 2 is
    within the noise of the samples drawn."""
    hits, baseline = np.asarray(hits, dtype=bool), np.asarray(baseline, dtype=bool)
    wins = int((hits & ~baseline).sum())
    losses = int((~hits & baseline).sum())
    return (wins - losses) / math.sqrt(max(1, wins + losses))
