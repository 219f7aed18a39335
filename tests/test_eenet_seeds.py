"""EENet's member and lookahead seeds: one network, one seed, whatever the fit's settings."""

from __future__ import annotations

import numpy as np
import torch

import eenet.schedulers.eenet.training as training
from eenet.checks import SEED_MAX
from eenet.schedulers import fit_policy
from eenet.schedulers.eenet.seeds import OLD_SEEDS, lookahead_seed, member_seed, uniforms
from eenet.synthetic import make_costs, make_split_pair
from tests.conftest import FAST_EENET

# seeds 2**29 apart met through torch's 32-bit cut of the first formula's seed * 1000
SEEDS = (0, 1, 2, OLD_SEEDS - 1, OLD_SEEDS, 2**29, SEED_MAX)


def test_every_member_restart_and_lookahead_has_its_own_torch_or_numpy_seed():
    """Folds past 10 and restarts past 99 met other networks' seeds under the first formula
    (fold 10 of seed s was fold 0 of seed s + 1, restart 100 restart 0 of the next fold,
    restart 99 the lookahead's); and a value torch takes is below 2**32, all of whose bits its
    generator keeps (the others go to numpy's PCG64, above 2**62)."""
    values = [member_seed(seed, fold, restart)
              for seed in SEEDS for fold in range(13) for restart in range(102)]
    values += [lookahead_seed(seed, fold) for seed in SEEDS for fold in range(13)]
    assert len(set(values)) == len(values)
    assert all(v < 2**32 or v >= 2**62 for v in values)


def test_seeds_keep_the_first_formulas_values_where_it_gave_each_network_its_own():
    """Every fit at folds below 10, restarts below 99 and a seed below 4,294,967 draws the
    networks it always drew, bit for bit."""
    for seed in (0, 1, 7, 123, OLD_SEEDS - 1):
        for fold in range(10):
            assert lookahead_seed(seed, fold) == seed * 1000 + fold * 100 + 99
            for restart in range(99):
                assert member_seed(seed, fold, restart) == seed * 1000 + fold * 100 + restart


def test_uniforms_draw_torchs_numbers_below_2_32_and_use_every_bit_above():
    old = torch.rand((3, 4), generator=torch.Generator().manual_seed(1234), dtype=torch.float32)
    assert torch.equal(uniforms(1234)((3, 4)), old)
    high = 2**62 + 1234
    a, b = uniforms(high)((3, 4)), uniforms(high + 2**32)((3, 4))  # the same low 32 bits
    assert a.dtype == torch.float32 and ((a >= 0) & (a < 1)).all()
    assert not torch.equal(a, b) and not torch.equal(a, old)
    assert torch.equal(a, uniforms(high)((3, 4)))  # deterministic


def test_eleven_folds_start_no_member_from_another_seeds_weights(monkeypatch):
    """A real fit at 11 folds, seeds 0 and 1: fold 10's member at seed 0 started from the
    very weights of fold 0's at seed 1 (both seed 1000)."""
    val, _ = make_split_pair(n_exits=3, n_classes=10, n_val=220, n_test=10, seed=5)
    starts: list[dict[str, np.ndarray]] = []
    nets = training.ScoreAssignmentNets

    class Recorded(nets):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            starts.append(self.state())

    monkeypatch.setattr(training, "ScoreAssignmentNets", Recorded)
    monkeypatch.setattr(training, "fold_workers", lambda n_folds: 1)  # folds in order
    settings = {**FAST_EENET, "folds": 11, "max_epochs": 20, "lookahead": False}
    initial = {}
    for seed in (0, 1):
        starts.clear()
        fit_policy("eenet", val, make_costs(3, 1.0, 3.0), 1.6, settings, seed=seed)
        assert len(starts) == 11
        initial[seed] = list(starts)
    assert initial[0][10].keys() == initial[1][0].keys()
    assert any(not np.array_equal(initial[0][10][key], initial[1][0][key])
               for key in initial[0][10])
