"""A sweep over budgets computes each fixed score (max p, entropy, patience counts) once per
split, not once per budget: the fits on validation, its evaluation and the test split's
evaluation read them from one cache per split, and give the same numbers."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

import eenet.schedulers.entropy
import eenet.schedulers.maxprob
import eenet.schedulers.patience
from eenet.cli import main
from eenet.schedulers.eenet.settings import FIXED_SCORES
from eenet.schedulers.scores import max_log_prob, neg_normalised_entropy, patience_counts
from eenet.sweep import fit_all
from eenet.sweep_evaluation import evaluate_all
from tests.conftest import saved_split_pair

N_VAL, N_TEST = 300, 200
# EENet quick to fit at 21 budgets: its fixed candidates are what is counted
QUICK_EENET = {"max_epochs": 10, "period": 5, "lookahead": False}
BUDGETS = np.linspace(1.05, 2.95, 20).tolist()  # 20 budgets, each needing early exit


def _counting_scores(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Wrap the real fixed-score functions (each still computes) where the heuristics and
    EENet's fixed candidates call them; the counter counts calls by (score, samples)."""
    calls: Counter = Counter()

    def counted(name: str, score: Callable[[np.ndarray], np.ndarray]
                ) -> Callable[[np.ndarray], np.ndarray]:
        def wrapper(log_probs: np.ndarray) -> np.ndarray:
            calls[name, np.shape(log_probs)[1]] += 1
            return score(log_probs)
        return wrapper

    maxprob, entropy = counted("maxprob", max_log_prob), counted("entropy",
                                                                 neg_normalised_entropy)
    monkeypatch.setattr(eenet.schedulers.maxprob, "max_log_prob", maxprob)
    monkeypatch.setattr(eenet.schedulers.entropy, "neg_normalised_entropy", entropy)
    monkeypatch.setattr(eenet.schedulers.patience, "patience_counts",
                        counted("patience", patience_counts))
    monkeypatch.setitem(FIXED_SCORES, "maxprob", maxprob)
    monkeypatch.setitem(FIXED_SCORES, "entropy", entropy)
    return calls


def _once_per_split(methods: list[str], splits: tuple[int, ...]) -> Counter:
    return Counter({(m, n): 1 for m in methods for n in splits})


def test_schedule_scores_each_method_once_per_split(tmp_path, monkeypatch, capsys):
    """`eenet schedule` over 20 budgets: each heuristic's scores once on validation (20 fits
    and the evaluation there) and once on test (20 were computed per split before)."""
    saved_split_pair(tmp_path, 10, N_VAL, N_TEST, seed=4)
    calls = _counting_scores(monkeypatch)
    status = main(["schedule", "--val", str(tmp_path / "val.npz"), "--test",
                   str(tmp_path / "test.npz"), "--costs", "1,2,3", "--method",
                   "maxprob,entropy,patience,oracle", "--budgets",
                   ",".join(map(str, BUDGETS)), "--json"])
    assert status == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 * 20
    assert calls == _once_per_split(["maxprob", "entropy", "patience"], (N_VAL, N_TEST))


def test_pipeline_fits_and_evaluation_score_once_per_split(tmp_path, monkeypatch):
    """The fit stages' `fit_all` (charged costs, EENet's fixed candidates among its fits) and
    the evaluate stage's `evaluate_all` over 20 budgets: each fixed score once on validation
    and once on test."""
    val, test = saved_split_pair(tmp_path, 10, N_VAL, N_TEST, seed=5)
    costs = np.array([1.0, 2.0, 3.0])
    calls = _counting_scores(monkeypatch)
    fit_all(val, costs, ["maxprob", "entropy", "patience", "eenet"], BUDGETS, 2.0,
            tmp_path / "fits", settings={"eenet": QUICK_EENET},
            charged={"entropy": [0.01, 0.02, 0.03]})
    assert calls == _once_per_split(["maxprob", "entropy", "patience"], (N_VAL,))
    _, sweep = evaluate_all(test, costs, tmp_path / "fits")
    assert len(sweep) == 5 * 21  # 4 methods and the oracle at 20 budgets and the headline
    assert calls == _once_per_split(["maxprob", "entropy", "patience"], (N_VAL, N_TEST))
