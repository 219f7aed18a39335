"""The benchmark's real held-out cases: a small network really trained, its outputs real."""

import numpy as np

from benchmarks.real_outputs import RealCase, trained_outputs


def test_a_real_case_trains_a_network_and_returns_its_exit_outputs_deterministically() -> None:
    case = RealCase(seed=5, num_samples=4000, widths=(8, 16), epochs=5)
    val, test, mflops, fresh = trained_outputs(case, fresh_samples=500)
    assert (val.n_exits, test.n_exits) == (2, 2)
    assert (val.n_samples, test.n_samples) == (640, 800)  # 80 % train (20 % of it val), 20 % test
    assert case.name.endswith("640 val")
    assert np.all(mflops > 0) and np.all(np.diff(mflops) > 0)  # reaching exit 2 costs more
    # trained, not random: the last exit is far above chance (10 %) after five short epochs
    assert test.exit_accuracy()[-1] > 30.0
    # the fresh draw: every one of its samples through the same network, another generator seed
    assert fresh is not None and (fresh.n_exits, fresh.n_samples) == (2, 500)
    assert not np.array_equal(fresh.logits[:, :10], test.logits[:, :10])
    assert fresh.exit_accuracy()[-1] > 30.0
    again_val, again_test, again_mflops, none = trained_outputs(case)
    assert none is None
    np.testing.assert_array_equal(val.logits, again_val.logits)
    np.testing.assert_array_equal(test.labels, again_test.labels)
    np.testing.assert_array_equal(mflops, again_mflops)
