"""The benchmark's entropy-favoured outputs: valid exit outputs on which entropy really ranks
samples better than max p (the premise of `benchmarks/schedulers.py --entropy-favoured`)."""

import numpy as np
import pytest

from benchmarks.runner_up_outputs import ENTROPY_FAVOURED, RunnerUpCase, draw_outputs, split_pair
from eenet.outputs import validate_exit_outputs
from eenet.schedulers import fit_log_probs
from eenet.synthetic import make_costs


def test_outputs_are_valid_and_deterministic() -> None:
    case = ENTROPY_FAVOURED[0]
    val, test, fresh = split_pair(case, 500, 300)
    validate_exit_outputs(val, "val")
    assert (val.n_exits, val.n_samples, val.n_classes) == (3, case.n_val, 10)
    assert fresh is not None and fresh.n_samples == 300 and test.n_samples == 500
    np.testing.assert_allclose(np.exp(val.log_probs()).sum(-1), 1.0, atol=1e-5)
    accuracy = val.exit_accuracy()
    assert 30.0 < accuracy[0] < accuracy[-1] < 95.0  # later exits are more skilled
    again, _, none = split_pair(case, 500)
    assert none is None
    np.testing.assert_array_equal(val.logits, again.logits)


@pytest.mark.parametrize("strength", [0.0, 0.5])
def test_entropy_beats_max_p_only_when_the_runner_up_spread_matters(strength: float) -> None:
    """Fitted on one draw and scored on another, at a mid budget: entropy is well ahead of max
    p with strength 0.5, and not with strength 0 (the spread then carries no information)."""
    case = RunnerUpCase(3, 10, 20_000, strength, seed=7)
    rng = np.random.default_rng(case.seed)
    val, test = draw_outputs(case, 20_000, rng), draw_outputs(case, 20_000, rng)
    costs = make_costs(3)
    accuracy = {}
    for method in ("maxprob", "entropy"):
        policy = fit_log_probs(method, val.log_probs(), val.labels, costs, 2.2)
        exits = policy.decide(test.log_probs())
        accuracy[method] = 100.0 * test.correct()[exits, np.arange(test.n_samples)].mean()
    lead = accuracy["entropy"] - accuracy["maxprob"]
    assert (lead > 1.0) if strength else (abs(lead) < 1.0), accuracy


def test_too_few_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3 classes"):
        draw_outputs(RunnerUpCase(3, 2, 10, 0.5, 0), 10, np.random.default_rng(0))
