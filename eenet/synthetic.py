"""Synthetic multi-exit outputs that behave like a real multi-exit network's.

Each sample has a latent difficulty shared by all exits, each class a difficulty offset, and
each exit a skill that grows with depth, so later exits are more accurate and confidences
are correlated across exits. Exit-specific noise follows an AR(1) chain over exits, the
distractor logits are partly shared between exits, and every exit has its own temperature
(later exits over-confident), so raw confidences are miscalibrated. Used by tests and
benchmarks; the pipeline itself uses a real model's outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eenet.outputs import ExitOutputs


def make_costs(n_exits: int, first_ms: float = 1.0, last_ms: float = 4.0) -> np.ndarray:
    """Cumulative per-exit costs (ms), evenly spaced from `first_ms` to `last_ms`."""
    return np.linspace(first_ms, last_ms, n_exits)


@dataclass(frozen=True)
class Knobs:
    """How the synthetic network behaves. `skill_range`: the true-class logit margin of the
    first and last exits relative to the typical largest distractor (sqrt(2 log C));
    `class_spread`: the spread of per-class difficulty; `noise` / `rho`: the size and
    exit-to-exit correlation of per-exit noise; `shared`: how much of the distractor logits
    exits share; `temperature_range`: the logit scale of the first and last exits
    (miscalibration)."""

    skill_range: tuple[float, float] = (-0.6, 1.6)
    class_spread: float = 0.5
    noise: float = 0.8
    rho: float = 0.6
    shared: float = 0.5
    temperature_range: tuple[float, float] = (1.0, 2.0)


DEFAULT_KNOBS = Knobs()


def _draw(
    rng: np.random.Generator,
    n_exits: int,
    n_classes: int,
    n_samples: int,
    skills: np.ndarray,
    temperatures: np.ndarray,
    class_offsets: np.ndarray,
    knobs: Knobs,
) -> ExitOutputs:
    noise, rho, shared = knobs.noise, knobs.rho, knobs.shared
    labels = rng.integers(0, n_classes, n_samples)
    difficulty = rng.standard_normal(n_samples)
    eps = np.empty((n_exits, n_samples))
    eps[0] = rng.standard_normal(n_samples)
    for k in range(1, n_exits):  # AR(1) over exits (K is small)
        eps[k] = rho * eps[k - 1] + math.sqrt(1 - rho**2) * rng.standard_normal(n_samples)
    margin = skills[:, None] - difficulty[None, :] - class_offsets[labels][None, :] + noise * eps
    common = rng.standard_normal((n_samples, n_classes))
    own = rng.standard_normal((n_exits, n_samples, n_classes))
    logits = math.sqrt(shared) * common[None] + math.sqrt(1 - shared) * own
    logits[:, np.arange(n_samples), labels] += margin
    logits *= temperatures[:, None, None]
    return ExitOutputs(logits.astype(np.float32), labels.astype(np.int64))


def make_split_pair(
    n_exits: int = 4,
    n_classes: int = 100,
    n_val: int = 10_000,
    n_test: int = 10_000,
    seed: int = 0,
    *,
    knobs: Knobs = DEFAULT_KNOBS,
) -> tuple[ExitOutputs, ExitOutputs]:
    """A (validation, test) pair drawn from one distribution (same exits, same classes): the
    first two of `make_draws`."""
    val, test = make_draws(n_exits, n_classes, (n_val, n_test), seed, knobs=knobs)
    return val, test


def make_draws(
    n_exits: int,
    n_classes: int,
    sizes: Sequence[int],
    seed: int = 0,
    *,
    knobs: Knobs = DEFAULT_KNOBS,
) -> list[ExitOutputs]:
    """Independent splits of `sizes[i]` samples each from one distribution (its `knobs`),
    drawn in turn from one generator: the first two are `make_split_pair`'s (validation,
    test) of the same seed, and a third is a fresh draw that shares no random number with
    either."""
    rng = np.random.default_rng(seed)
    base = math.sqrt(2 * math.log(n_classes))
    skills = base + np.linspace(*knobs.skill_range, n_exits)
    temperatures = np.linspace(*knobs.temperature_range, n_exits)
    class_offsets = knobs.class_spread * rng.standard_normal(n_classes)
    return [_draw(rng, n_exits, n_classes, int(n), skills, temperatures, class_offsets, knobs)
            for n in sizes]


def make_exit_outputs(
    n_exits: int = 4, n_classes: int = 100, n_samples: int = 10_000, seed: int = 0, *,
    knobs: Knobs = DEFAULT_KNOBS,
) -> ExitOutputs:
    """One split of synthetic exit outputs (`make_split_pair`'s validation split)."""
    return make_split_pair(n_exits, n_classes, n_samples, 1, seed, knobs=knobs)[0]
