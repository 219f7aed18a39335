"""The fit and evaluate stages' functions refuse artifacts that do not belong together: a
latency table of another model, scoring tables timed otherwise than the profile, a headline
folder given as the sweep's. Each is one line naming the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eenet.errors import ArtifactError, ConfigError
from eenet.fitting import fit_from_artifacts
from eenet.latency_table import save_latency
from eenet.outputs import save_exit_outputs
from eenet.sweep_evaluation import evaluate_artifacts
from eenet.synthetic import make_costs, make_split_pair

COSTS = make_costs(3, 1.0, 3.0)
MODEL = {"name": "resnet1d_3", "options": {}, "num_classes": 10}


def _artifacts(root: Path, latency: dict | None = None, scoring: dict | None = None) -> Path:
    """val.npz, test.npz (10 classes), a measured latency.json (batch 1, cpu; `latency`'s
    fields over it) and a scoring.json timed as it was (`scoring`'s fields over it)."""
    val, test = make_split_pair(3, 10, 400, 300, seed=2)
    save_exit_outputs(root / "val.npz", val)
    save_exit_outputs(root / "test.npz", test)
    save_latency(root / "latency.json", {"cumulative_ms": COSTS.tolist(), "source": "measured",
                                         "device": "cpu", "batch_size": 1, "model": MODEL,
                                         **(latency or {})})
    (root / "scoring.json").write_text(json.dumps(
        {"charged": True, "device": "cpu", "batch_size": 1, "extra_ms": {},
         **(scoring or {})}))
    return root


def _fit(root: Path, out: str = "headline", **budget) -> dict:
    return fit_from_artifacts(root / "val.npz", root / "latency.json", root / "scoring.json",
                              root / out, {"methods": ["maxprob"]},
                              **(budget or {"budget": 2.0}))


def _evaluate(root: Path, sweep: str = "sweep") -> None:
    reports = [root / name for name in ("m.json", "s.csv", "o.csv", "s.md", "e.csv")]
    evaluate_artifacts(root / "test.npz", root / "latency.json", root / "headline",
                       root / sweep, *reports)


def test_matching_artifacts_fit_and_evaluate(tmp_path):
    """The artifacts the checks below spoil one at a time go through as they are."""
    root = _artifacts(tmp_path)
    _fit(root)
    _fit(root, "sweep", budgets=[1.5, 2.5])
    _evaluate(root)
    assert json.loads((root / "m.json").read_text())["methods"]["maxprob"]["test_cost_ms"] > 1


def test_a_latency_table_of_another_class_count_is_refused(tmp_path):
    """A latency table measured on a 100-class model, given with 10-class outputs: the fits
    recorded both and `eenet predict` refused every policy; evaluate wrote reports."""
    root = _artifacts(tmp_path)
    _fit(root)
    _fit(root, "sweep", budgets=[1.5, 2.5])
    save_latency(root / "latency.json", {"cumulative_ms": COSTS.tolist(), "source": "measured",
                                         "model": {**MODEL, "num_classes": 100}})
    message = (r"^{}: measured on a model of 100 classes, {} holds exit outputs of 10; give "
               r"the costs measured on the model that gave them$")
    with pytest.raises(ConfigError, match=message.format(".*latency\\.json", ".*val\\.npz")):
        _fit(root, "again")
    with pytest.raises(ConfigError, match=message.format(".*latency\\.json", ".*test\\.npz")):
        _evaluate(root)
    assert not (root / "again").exists() and not (root / "m.json").exists()


@pytest.mark.parametrize(("field", "value"), [("batch_size", 64), ("device", "cuda")])
def test_a_scoring_table_timed_otherwise_than_the_profile_is_refused(tmp_path, field, value):
    """Scoring timed at batch 64 (or on a GPU) added to costs profiled at batch 1 on the CPU
    was taken without a word; a table imported from elsewhere, whose scoring is timed on this
    host's CPU, is not checked."""
    root = _artifacts(tmp_path, scoring={field: value})
    with pytest.raises(ArtifactError, match=(
            rf"^.*scoring\.json: timed with {field} {value!r}, .*latency\.json was profiled "
            rf"with {'1' if field == 'batch_size' else repr('cpu')}; rerun profile_scoring on "
            r"the profile's costs$")):
        _fit(root)
    assert not (root / "headline").exists()
    imported = _artifacts(tmp_path / "imported", latency={"source": "seconds.csv"},
                          scoring={field: value})
    assert _fit(imported)["headline_ms"] == 2.0


def test_a_scoring_table_whose_charged_is_no_boolean_is_refused(tmp_path):
    root = _artifacts(tmp_path, scoring={"charged": "yes"})
    with pytest.raises(ArtifactError, match=r"^.*scoring\.json: charged must be true or false, "
                                            r"got 'yes'; rerun profile_scoring$"):
        _fit(root)


def test_the_headline_folder_given_as_the_sweeps_is_refused(tmp_path):
    """evaluate took the headline folder as the sweep too and wrote a one-point 'sweep'."""
    root = _artifacts(tmp_path)
    _fit(root)
    with pytest.raises(ArtifactError, match=r"^.*headline: holds no sweep \(its index lists no "
                                            r"sweep_ms\); give the sweep's folder "
                                            r"\(fit_schedulers' output\)$"):
        _evaluate(root, "headline")
    assert not (root / "s.csv").exists()
