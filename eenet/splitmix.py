"""Counter-based pseudo-random numbers (splitmix64): a number per counter, the same whatever
order, process or batch asks for it. The schedulers split tied samples with them, training
draws each image's crop and flip with them."""

from __future__ import annotations

import numpy as np


def splitmix64(counters: np.ndarray) -> np.ndarray:
    """splitmix64's output for uint64 `counters` (its state step, then its mix): a bijection,
    so distinct counters give distinct outputs. numpy arrays wrap around on uint64 overflow."""
    z = np.asarray(counters, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def unit_floats(bits: np.ndarray) -> np.ndarray:
    """uint64 `bits` as numbers in [0, 1), float64: their top 53 bits."""
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
