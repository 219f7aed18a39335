"""Exit outputs on which entropy knows something max p does not.

In `eenet.synthetic` (and on our real MNIST-1D networks) max p ranks samples at least as well
as entropy, so a scheduler that leans on max p is never tested where that is wrong. Here each
sample's correctness at an exit also depends on how its runner-up mass is spread: with half
of the samples the mass not on the predicted class sits mostly on one other class
("concentrated"), with the rest it is spread evenly. `strength` raises the log-odds of being
right for concentrated samples (and lowers them for spread ones) at the same top probability:
entropy (low for concentrated ones) sees it, max p does not. Difficulty is shared across
exits, later exits are more skilled. Used by `benchmarks/schedulers.py --entropy-favoured`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eenet.outputs import ExitOutputs

RUNNER_UP_SHARE = 0.9  # of the mass off the predicted class, on a concentrated runner-up


@dataclass(frozen=True)
class RunnerUpCase:
    """One configuration: exits, classes, validation size, effect size, seed."""

    n_exits: int
    n_classes: int
    n_val: int
    strength: float
    seed: int

    @property
    def name(self) -> str:
        return (f"runner-up {self.n_exits}x{self.n_classes}, {self.n_val} val, strength "
                f"{self.strength:g}")


# chosen once, never tuned against: mild and strong effects, 3 or 4 exits, 10 to 100 classes
ENTROPY_FAVOURED = [
    RunnerUpCase(3, 10, 3000, 0.25, 301),
    RunnerUpCase(4, 10, 5000, 0.25, 302),
    RunnerUpCase(3, 100, 10000, 0.5, 303),
    RunnerUpCase(4, 50, 3000, 0.5, 304),
]


def draw_outputs(case: RunnerUpCase, n_samples: int, rng: np.random.Generator) -> ExitOutputs:
    """`n_samples` labelled samples of `case`'s distribution (float32 log-probabilities as
    logits)."""
    n, c, k = n_samples, case.n_classes, case.n_exits
    if c < 3:
        raise ValueError(f"runner-up outputs need at least 3 classes, got {c}")
    rows = np.arange(n)
    labels = rng.integers(0, c, n)
    difficulty = rng.uniform(size=n)
    logits = np.empty((k, n, c), dtype=np.float32)
    for exit_k, skill in enumerate(np.linspace(0.4, 0.9, k)):
        concentrated = rng.uniform(size=n) < 0.5
        log_odds = 6.0 * (skill - difficulty) + case.strength * np.where(concentrated, 1, -1)
        right = rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-log_odds))
        predicted = np.where(right, labels, (labels + rng.integers(1, c, n)) % c)
        runner_up = (predicted + rng.integers(1, c, n)) % c
        top = np.clip(0.25 + 0.4 * (skill - difficulty + 0.5)
                      + 0.1 * rng.standard_normal(n), 0.15, 0.97)
        rest = 1.0 - top
        # the runner-up stays below the top so the predicted class is the argmax
        runner_mass = np.where(concentrated, np.minimum(RUNNER_UP_SHARE * rest, 0.9 * top),
                               rest / (c - 1))
        probs = np.repeat(((rest - runner_mass) / (c - 2))[:, None], c, axis=1)
        probs[rows, runner_up] = runner_mass
        probs[rows, predicted] = top
        logits[exit_k] = np.log(probs)
    return ExitOutputs(logits, labels.astype(np.int64))


def split_pair(case: RunnerUpCase, n_test: int, n_fresh: int = 0
               ) -> tuple[ExitOutputs, ExitOutputs, ExitOutputs | None]:
    """(validation, test, fresh draw of `n_fresh` samples or None) of `case`."""
    rng = np.random.default_rng(case.seed)
    val = draw_outputs(case, case.n_val, rng)
    test = draw_outputs(case, n_test, rng)
    return val, test, draw_outputs(case, n_fresh, rng) if n_fresh > 0 else None
