"""Determinism on CPU: the same params twice give bitwise-identical logits and metrics.

The embedded default (MNIST-1D, resnet1d_3, eenet + maxprob + entropy) at tiny size, every
stage run as its own process in two fresh folders (side by side). Latency is a measurement,
so both runs use the same latency table; everything downstream of it must then match.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from tests.robust_helpers import check_ok, run_stage, tiny_params, write_params

pytestmark = pytest.mark.slow

PIPELINE = [
    ("download", "data"),
    ("train", "data", "artifacts/model", "artifacts/checkpoints", "reports/train"),
    ("dump_logits", "artifacts/model", "data", "artifacts/logits"),
    ("fit_headline", "artifacts/logits/val.npz", "artifacts/latency.json",
     "artifacts/scoring.json", "artifacts/scoring_eenet.json", "artifacts/headline"),
    ("fit_schedulers", "artifacts/logits/val.npz", "artifacts/latency.json",
     "artifacts/scoring.json", "artifacts/scoring_eenet.json", "artifacts/schedulers"),
    ("evaluate", "artifacts/logits/test.npz", "artifacts/latency.json", "artifacts/headline",
     "artifacts/schedulers", "reports/metrics.json", "reports/sweep.csv",
     "reports/oracle_curve.csv", "reports/summary.md", "reports/exits.csv"),
]


def _reproduce(path: Path, table: Path) -> Path:
    params = tiny_params()
    params["schedulers"]["eenet"] = {"max_epochs": 40, "restarts": 1}
    path.mkdir()
    write_params(path, params)
    (path / "artifacts").mkdir()
    shutil.copy(table, path / "artifacts/latency.json")
    # measured tables (timings) are inputs here, fixed: the rest must be deterministic
    for name in ("scoring.json", "scoring_eenet.json"):
        shutil.copy(table.with_name(name), path / "artifacts" / name)
    for stage, *args in PIPELINE:
        check_ok(run_stage(stage, path, *args))
    return path


def test_same_params_give_identical_logits_and_metrics(tmp_path: Path) -> None:
    table = tmp_path / "latency.json"
    table.write_text(json.dumps({"cumulative_ms": [0.05, 0.08, 0.12], "source": "fixed"}))
    table.with_name("scoring.json").write_text(
        json.dumps({"charged": True, "extra_ms": {"entropy": [0.001, 0.002, 0.002]}}))
    table.with_name("scoring_eenet.json").write_text(
        json.dumps({"charged": True, "extra_ms": {"eenet": [0.004, 0.009, 0.009]}}))
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(_reproduce, [tmp_path / "a", tmp_path / "b"], [table] * 2)
    for split in ("val", "test"):
        name = f"artifacts/logits/{split}.npz"
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for name in ("reports/metrics.json", "reports/summary.md", "reports/exits.csv",
                 "artifacts/model/model.safetensors",
                 "artifacts/headline/index.json", "artifacts/schedulers/index.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    metrics = json.loads((first / "reports/metrics.json").read_text())
    assert set(metrics["methods"]) == {"eenet", "maxprob", "entropy", "oracle"}
    # fit_seconds (wall time) is the only sweep column allowed to differ; it is not a metric
    assert "fit_seconds" not in json.dumps(metrics)
    sweeps = [pd.read_csv(p / "reports/sweep.csv").drop(columns="fit_seconds")
              for p in (first, second)]
    pd.testing.assert_frame_equal(*sweeps)
