"""Seeds of EENet's networks: one per member restart and per lookahead, none shared.

A fit at seed s draws member f's restart r from `member_seed(s, f, r)` and its lookahead heads
from `lookahead_seed(s, f)`. These keep the values of the first formula, s * 1000 + f * 100 + r
(lookahead: r = 99), wherever it gave each network its own initialisation: folds below 10,
restarts below 99 and seeds below 4,294,967 (so that the value is below 2**32: torch's CPU
generator keeps only a seed's low 32 bits). Elsewhere that formula collided (fold 10 of seed s
was fold 0 of seed s + 1, restart 100 of fold f restart 0 of fold f + 1, restart 99 the
lookahead, and seeds 2**29 apart shared every network through the 32-bit cut); there the
seeds are 2**62 plus a packing of (seed, role, fold, restart), and `uniforms` draws from them
with numpy's PCG64, which keeps every bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from eenet.checks import SEED_MAX

# the first formula's values are kept below this: torch's CPU generator (mt19937) keeps only
# a seed's low 32 bits, so a value at or above it is not a torch seed of its own
TORCH_SEED_BITS = 32
OLD_SEEDS = 2**TORCH_SEED_BITS // 1000  # seeds whose first-formula values stay below 2**32
OLD_FOLDS = 10  # fold * 100 left the restarts 100 values: folds 10 and up met the next seed's
OLD_RESTARTS = 99  # ... and restart 99 was the lookahead's
NEW_BASE = 2**62  # every value outside the first formula's range lies at or above this
FOLD_BITS = 14  # the fused-size check keeps folds below 2**14 (16 members squared per exit)
SEED_BITS = SEED_MAX.bit_length()  # 32: check_seed's range
MEMBER, LOOKAHEAD = 0, 1

# draws float32 uniforms in [0, 1) of a shape
Uniforms = Callable[[tuple[int, ...]], torch.Tensor]


def member_seed(seed: int, fold: int, restart: int) -> int:
    """Seed of member `fold`'s restart `restart` in a fit at `seed`: distinct for every
    (seed, fold, restart) and from every `lookahead_seed`."""
    if fold < OLD_FOLDS and restart < OLD_RESTARTS and 0 <= seed < OLD_SEEDS:
        return seed * 1000 + fold * 100 + restart
    return _packed(seed, MEMBER, fold, restart)


def lookahead_seed(seed: int, fold: int) -> int:
    """Seed of member `fold`'s lookahead heads in a fit at `seed`: distinct for every
    (seed, fold) and from every `member_seed`."""
    if fold < OLD_FOLDS and 0 <= seed < OLD_SEEDS:
        return seed * 1000 + fold * 100 + OLD_RESTARTS
    return _packed(seed, LOOKAHEAD, fold, 0)


def _packed(seed: int, role: int, fold: int, restart: int) -> int:
    """NEW_BASE + the bits of (restart, fold, role, seed), restart on top (any size: numpy's
    SeedSequence takes integers of any length); distinct tuples give distinct values."""
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed: must be from 0 to {SEED_MAX}, got {seed}")
    if not 0 <= fold < 2**FOLD_BITS:
        raise ValueError(f"fold: must be from 0 to {2**FOLD_BITS - 1}, got {fold}")
    if restart < 0:
        raise ValueError(f"restart: must be >= 0, got {restart}")
    return NEW_BASE + ((((restart << FOLD_BITS) | fold) << 1 | role) << SEED_BITS | seed)


def uniforms(seed: int) -> Uniforms:
    """Initial-weight uniforms from `seed` (>= 0): below 2**32 from torch's generator seeded
    with it (the draws EENet always made), above from numpy's PCG64 seeded with all its bits."""
    if seed < 0:
        raise ValueError(f"seed: must be >= 0, got {seed}")
    if seed < 2**TORCH_SEED_BITS:
        gen = torch.Generator().manual_seed(seed)
        return lambda shape: torch.rand(shape, generator=gen, dtype=torch.float32)
    rng = np.random.default_rng(seed)
    return lambda shape: torch.from_numpy(rng.random(shape, dtype=np.float32))
