"""ImageNet-sized exit outputs: one log-softmax per split, float64 temporaries in blocks, and
the very numbers the whole-array arithmetic gives."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

import eenet.outputs
from eenet.cli import main
from eenet.evaluation import evaluate_sweep, fit_and_evaluate_sweep, fit_sweep
from eenet.outputs import ExitOutputs, correct_of, log_softmax64, row_blocks
from eenet.schedulers.eenet.features import top_values
from eenet.schedulers.scores import entropy, entropy_of
from eenet.synthetic import make_split_pair
from tests.conftest import FAST_EENET, saved_split_pair


def _whole_log_softmax(logits: np.ndarray) -> np.ndarray:
    """`log_softmax64`'s arithmetic on the whole array at once (exp of all of it)."""
    z = np.empty(logits.shape, dtype=np.float64)
    np.subtract(logits, np.maximum.reduce(logits, axis=-1, keepdims=True), out=z,
                dtype=np.float64)
    total = np.add.reduce(np.exp(z), axis=-1, keepdims=True)
    return np.subtract(z, np.log(total, out=total), out=z)


def _peak_bytes(call: Callable[[], object]) -> int:
    """Most bytes traced at once while `call` runs, over what was held before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        held = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()


@pytest.fixture
def large() -> ExitOutputs:
    """3 exits x 2000 samples x 500 classes: 3 M values, past one block (BLOCK_VALUES)."""
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((3, 2000, 500)) * 4).astype(np.float32)
    return ExitOutputs(logits, rng.integers(0, 500, 2000))


def test_float64_temporaries_stay_below_the_log_probabilities_size(large):
    size = large.logits.size * 8  # bytes of the float64 log-probabilities
    assert large.logits.size > eenet.outputs.BLOCK_VALUES
    # the result and one block: exp of the whole split was another array as large
    assert _peak_bytes(large.log_probs) < 1.5 * size
    # the hits never hold all log-probabilities (they were computed in full for an argmax)
    assert _peak_bytes(large.correct) < 0.75 * size
    log_probs = large.log_probs()
    # entropy: p and the clipped log p were two more arrays of that size
    assert _peak_bytes(lambda: entropy(log_probs)) < 0.75 * size


@pytest.mark.parametrize("shape", [(3, 2000, 500), (2, 3, 20000), (1, 7, 9000), (4, 5, 3)])
def test_blocks_give_the_whole_arrays_numbers(shape, monkeypatch):
    """Blocks of a few rows (a lone last row joined to the one before: einsum sums a lone row
    of over 8192 values in another order) give the whole array's numbers, bit for bit."""
    monkeypatch.setattr(eenet.outputs, "BLOCK_VALUES", 2 * shape[-1] + 1)  # entropy's too
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal(shape) * rng.uniform(0.5, 20)).astype(np.float32)
    logits[0, 0, 0] = -np.inf  # a masked class
    log_probs = log_softmax64(logits)
    assert log_probs.tobytes() == _whole_log_softmax(logits).tobytes()
    assert entropy(log_probs).tobytes() == entropy_of(np.exp(log_probs), log_probs).tobytes()
    labels = rng.integers(0, shape[-1], shape[1])
    assert np.array_equal(ExitOutputs(logits, labels).predictions(), log_probs.argmax(-1))
    assert np.array_equal(ExitOutputs(logits, labels).correct(), correct_of(log_probs, labels))


def test_row_blocks_leave_no_row_alone_but_the_only_one():
    assert row_blocks(1, 10) == [slice(0, 1)]
    blocks = row_blocks(2 * eenet.outputs.BLOCK_VALUES // 1000 + 1, 1000)
    assert [b.stop - b.start for b in blocks][-1] > 1
    assert blocks[0].start == 0 and blocks[-1].stop == 2 * eenet.outputs.BLOCK_VALUES // 1000 + 1
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:], strict=False))


@pytest.mark.parametrize("top", [1, 5, 10, 10000])
def test_top_values_are_the_full_sorts(top):
    p = np.exp(log_softmax64(np.random.default_rng(2).standard_normal((50, 1000))
                             .astype(np.float32)))
    p[0, :3] = p[0, 3]  # ties
    expected = np.sort(p, axis=-1)[:, : -min(top, p.shape[-1]) - 1 : -1]
    assert np.array_equal(top_values(p, top), expected)


def _counting_log_softmax(monkeypatch) -> list[int]:
    """Count the values every `log_softmax64` of eenet.outputs is given."""
    values: list[int] = []

    def counted(logits, out=None):
        values.append(np.asarray(logits).size)
        return log_softmax64(logits, out)

    monkeypatch.setattr(eenet.outputs, "log_softmax64", counted)
    return values


def test_schedule_takes_one_log_softmax_per_split(tmp_path, monkeypatch, capsys):
    """`eenet schedule` fits on the validation log-probabilities and evaluates on them and on
    the test split's: each split's logits go through the log-softmax once (five times
    before: the fits', then the evaluation's log_probs() and correct() of each split)."""
    val, test = saved_split_pair(tmp_path, 10, 300, 200, seed=4)
    values = _counting_log_softmax(monkeypatch)
    status = main(["schedule", "--val", str(tmp_path / "val.npz"), "--test",
                   str(tmp_path / "test.npz"), "--costs", "1,2,3", "--method",
                   "maxprob,entropy,patience,oracle", "--budgets", "1.5,2,2.5", "--json"])
    assert status == 0
    assert len(json.loads(capsys.readouterr().out)) == 12
    assert sum(values) == val.logits.size + test.logits.size


def test_fit_and_evaluate_sweep_gives_fit_then_evaluate_sweeps_numbers(monkeypatch):
    val, test = make_split_pair(3, 10, 300, 200, seed=5)
    methods, budgets = ["maxprob", "entropy", "patience", "eenet", "oracle"], [1.5, 2.2]
    settings = {"eenet": FAST_EENET}
    budgets_a, fitted = fit_sweep(val, [1.0, 2.0, 3.0], methods, budgets, settings, seed=1)
    rows = evaluate_sweep(val, test, [1.0, 2.0, 3.0], budgets_a, fitted)
    values = _counting_log_softmax(monkeypatch)
    budgets_b, _, joint = fit_and_evaluate_sweep(val, test, [1.0, 2.0, 3.0], methods, budgets,
                                                 settings, seed=1)
    assert sum(values) == val.logits.size + test.logits.size
    assert budgets_b == budgets_a
    drop = "fit_seconds"  # timed
    assert ([{k: v for k, v in r.items() if k != drop} for r in joint]
            == [{k: v for k, v in r.items() if k != drop} for r in rows])
