"""Budgets in ms or 'N%', and the sweep, as the fit_schedulers stage resolves them."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from eenet.atomic import write_json
from eenet.budget import resolve_budget, resolve_sweep
from eenet.outputs import save_exit_outputs, save_latency
from eenet.synthetic import make_split_pair
from tests.robust_helpers import ROOT, tiny_params, write_params

# 0.1 + 1.0 * (0.41 - 0.1) is 0.40999999999999992 in floating point
COSTS = [0.1, 0.25, 0.41]


def test_hundred_percent_is_the_full_models_cost() -> None:
    assert resolve_budget("100%", COSTS) == 0.41
    assert resolve_budget("0%", COSTS) == 0.1
    assert resolve_sweep("auto", COSTS)[-1] == resolve_budget("100%", COSTS)


def test_stage_at_hundred_percent_needs_no_early_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """budget: 100% with budgets: auto is the sweep's last point: fitted once per method, and
    the stage says no early exit is needed."""
    params = tiny_params(budget="100%", budgets="auto")
    params["schedulers"]["methods"] = ["maxprob"]
    write_params(tmp_path, params)
    val, _ = make_split_pair(n_exits=3, n_classes=10, n_val=300, n_test=10)
    save_exit_outputs(tmp_path / "val.npz", val)
    save_latency(tmp_path / "latency.json", {"cumulative_ms": COSTS, "source": "test"})
    write_json(tmp_path / "scoring.json", {"charged": False, "extra_ms": {}})
    monkeypatch.chdir(tmp_path)
    main = runpy.run_path(str(ROOT / "stages" / "fit_schedulers.py"))["main"]
    main("val.npz", "latency.json", "scoring.json", "schedulers")
    index = json.loads((tmp_path / "schedulers" / "index.json").read_text())
    assert index["headline_ms"] == 0.41
    budgets = [e["budget_ms"] for e in index["entries"]]
    assert len(budgets) == 12 and np.all(np.diff(budgets) > 0.01)
    assert "no early exit is needed" in capsys.readouterr().out
