"""Seeded hold-out splits and writing a set of prepared splits (shared by the presets)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np

from eenet.data.prepared import write_split
from eenet.errors import ConfigError


def holdout(
    n: int, n_val: int, seed: int, param: str = "data.options.val_size"
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val), each sorted: `n_val` of `n` samples held out by `seed`."""
    if not 0 < int(n_val) < int(n):
        raise ConfigError(
            f"{param}: must lie in [1, {n - 1}] for {n} training samples, got {n_val}"
        )
    order = np.random.default_rng(seed).permutation(int(n))
    return np.sort(order[int(n_val) :]), np.sort(order[: int(n_val)])


def write_splits(out_dir: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, int]:
    """Write every split (x, y) and return their sizes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in splits.items():
        write_split(out_dir, split, x, y)
    return {split: int(len(y)) for split, (_, y) in splits.items()}


def check_options(dataset: str, options: dict, allowed: Collection[str]) -> None:
    """Reject data options this data set does not take, naming the allowed ones."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"data.options.{unknown[0]}: not an option of data set {dataset!r}; allowed: "
            + ", ".join(allowed)
        )
