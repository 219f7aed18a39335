"""The synthetic exit outputs' generators: one set of knobs (`Knobs`) for all three."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from eenet.synthetic import Knobs, make_draws, make_exit_outputs, make_split_pair


def test_a_split_pair_and_one_split_are_make_draws_draws_with_the_same_knobs() -> None:
    """`make_split_pair` is the first two draws of `make_draws`, `make_exit_outputs` the first
    of a pair, each with the knobs given (they were `**kwargs`, then keyword arguments whose
    defaults `make_split_pair` repeated); knobs other than the defaults draw other outputs."""
    knobs = Knobs(skill_range=(-1.0, 2.0), noise=0.5, rho=0.2, shared=0.7)
    pair = make_split_pair(3, 7, 40, 30, seed=2, knobs=knobs)
    one = make_exit_outputs(3, 7, 40, seed=2, knobs=knobs)
    for made, drawn in zip((*pair, one), [*make_draws(3, 7, (40, 30), 2, knobs=knobs), pair[0]],
                           strict=True):
        np.testing.assert_array_equal(made.logits, drawn.logits)
        np.testing.assert_array_equal(made.labels, drawn.labels)
    default = make_split_pair(3, 7, 40, 30, seed=2)[0]
    assert not np.array_equal(default.logits, pair[0].logits)
    np.testing.assert_array_equal(default.logits,
                                  make_draws(3, 7, (40,), 2, knobs=Knobs())[0].logits)


def test_knobs_are_frozen() -> None:
    """A `Knobs` is a value: the default one, shared by every call, cannot be changed."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Knobs().noise = 0.1  # type: ignore[misc]
