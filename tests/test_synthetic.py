"""The synthetic exit outputs' generators: `make_split_pair` lists `make_draws`'s knobs."""

from __future__ import annotations

import inspect

import numpy as np

from eenet.synthetic import make_draws, make_split_pair


def keyword_defaults(function) -> dict[str, object]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def test_a_split_pair_has_make_draws_knobs_and_defaults_and_draws_as_it_does() -> None:
    """`make_split_pair` names each of `make_draws`'s knobs with its default (it passed
    `**kwargs` on, unseen by readers and type checkers), and a pair is the first two draws."""
    assert keyword_defaults(make_split_pair) == keyword_defaults(make_draws)
    assert len(keyword_defaults(make_draws)) == 6
    knobs = {"skill_range": (-1.0, 2.0), "noise": 0.5, "rho": 0.2, "shared": 0.7}
    pair = make_split_pair(3, 7, 40, 30, seed=2, **knobs)
    for made, drawn in zip(pair, make_draws(3, 7, (40, 30), 2, **knobs), strict=True):
        np.testing.assert_array_equal(made.logits, drawn.logits)
        np.testing.assert_array_equal(made.labels, drawn.labels)
