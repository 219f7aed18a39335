"""Charging EENet's learned scorer: its measured cost, the plans made with it, evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eenet.errors import ArtifactError, ConfigError
from eenet.evaluation import evaluate_policies
from eenet.schedulers import fit_policy, load_policy
from eenet.schedulers.eenet import check_weights, untrained_policy
from eenet.scoring_cost import extra_costs, load_scoring, profile_scoring, time_scoring
from tests.conftest import FAST_EENET


def test_extra_cost_accumulates_over_the_scored_exits():
    # scoring happens at exits 0..K-2: the last exit pays for all of them, nothing more
    extra = extra_costs(np.array([0.010, 0.030]), np.array([0.001, 0.002]))
    assert extra == pytest.approx([0.009, 0.037, 0.037])


def test_untrained_policy_has_the_configured_scorer(pair, tmp_path):
    val, _ = pair
    policy = untrained_policy(3, val.n_classes, {"folds": 3, "hidden": 8, "top_probs": 4})
    check_weights(policy.weights, tmp_path / "w")
    assert int(policy.weights["members"][0]) == 3
    assert policy.weights["m2.g1.w1"].shape[1] == 8
    lp = val.log_probs()
    assert (policy.decide(lp) == 2).all()  # never exits early
    carry, full = None, policy.scores(lp)
    for k in range(2):
        step, carry = policy.score_step(k, lp[: k + 1], carry)
        np.testing.assert_array_equal(step, full[k])


def test_scoring_profile_runs_and_can_be_switched_off(pair):
    val, _ = pair
    lp = val.log_probs()
    times = time_scoring({"eenet": untrained_policy(3, 10)}, lp, batch_size=2, warmup=2,
                         repeats=20)
    assert times["eenet"].shape == (2,) and (times["eenet"] > 0).all()
    table = profile_scoring(lp, {"hidden": 8}, warmup=2, repeats=20)
    assert table["charged"] and set(table["scoring_ms"]) == {"maxprob", "eenet"}
    extra = table["extra_ms"]["eenet"]
    assert len(extra) == 3 and extra[2] == extra[1]
    assert profile_scoring(lp, charge=False) == {
        "charged": False, "reference": "maxprob", "batch_size": 1,
        "device": "host cpu (numpy)", "extra_ms": {"eenet": [0.0, 0.0, 0.0]},
    }
    with pytest.raises(ConfigError, match=r"^scoring\.repeats: must be an integer >= 1, got 0$"):
        profile_scoring(lp, repeats=0)


def _learned(extra: list[float]) -> dict:
    return {**FAST_EENET, "score_candidates": [], "scorer_extra_ms": extra}


def test_charged_learned_score_plans_and_is_evaluated_with_its_own_cost(pair, costs, tmp_path):
    val, test = pair
    extra = [0.2, 0.4, 0.4]
    charged = fit_policy("eenet", val, costs, 1.9, _learned(extra))
    free = fit_policy("eenet", val, costs, 1.9, _learned([]))
    assert charged.score_source == free.score_source == "learned"
    assert charged.planned_costs == pytest.approx(costs + np.array(extra))
    assert free.planned_costs == pytest.approx(costs)
    # the budget is met with the scoring included: fewer samples reach the costly exits
    assert charged.val_cost_ms == pytest.approx(1.9, rel=0.01)
    assert charged.decide(val.log_probs()).mean() < free.decide(val.log_probs()).mean()
    # evaluation counts each policy at its own costs, also after a save / load round trip
    charged.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p")
    assert loaded.planned_costs == charged.planned_costs
    [result] = evaluate_policies([loaded], [1.9], val.log_probs(), val.correct(), costs)
    assert result["cost_ms"] == pytest.approx(charged.val_cost_ms)


def test_learned_score_is_skipped_when_its_cost_alone_breaks_the_budget(pair, costs):
    val, _ = pair
    policy = fit_policy("eenet", val, costs, 1.2,
                        {**FAST_EENET, "scorer_extra_ms": [0.5, 0.5, 0.5]})
    assert policy.score_source == "maxprob" and not policy.weights
    assert policy.planned_costs == pytest.approx(costs)
    assert policy.val_cost_ms == pytest.approx(1.2, rel=0.01)


def test_bad_scorer_cost_settings_and_tables_are_one_line_errors(pair, costs, tmp_path):
    val, _ = pair
    with pytest.raises(ConfigError) as err:
        fit_policy("eenet", val, costs, 1.9, _learned([0.1, 0.2]))
    assert str(err.value) == ("schedulers.eenet.scorer_extra_ms: expected 3 finite values (one "
                              "per exit) or [], got [0.1, 0.2]")
    path = tmp_path / "scoring.json"
    path.write_text(json.dumps({"charged": True, "extra_ms": {"eenet": [0.0, 0.1]}}))
    with pytest.raises(ArtifactError, match=r"2 exits, the latency table has 3; rerun "):
        load_scoring(path, 3)
    path.write_text(json.dumps({"charged": True, "extra_ms": {"eenet": ["a"]}}))
    with pytest.raises(ArtifactError, match=r"extra_ms\.eenet must be a list of finite"):
        load_scoring(path)
