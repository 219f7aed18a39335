"""Charging each scheduler's own scoring: its measured cost, the plans made with it."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from eenet.errors import ArtifactError, ConfigError
from eenet.evaluation import evaluate_policies
from eenet.latency_import import import_record
from eenet.latency_table import save_latency
from eenet.models import build_model
from eenet.models.artifact import model_identity, save_trained
from eenet.schedulers import fit_policy, load_policy
from eenet.schedulers.eenet import check_weights, untrained_policy
from eenet.scoring_cost import (
    CHARGED,
    extra_costs,
    latency_timing,
    load_scoring,
    profile_scoring,
    profile_stage,
    scoring_device,
    scoring_policies,
)
from eenet.sweep import check_entry_policy, fit_all
from eenet.synthetic import make_costs, make_split_pair
from tests.conftest import FAST_EENET
from tests.robust_helpers import (
    assert_one_line_error,
    check_ok,
    run_stage,
    stage_error,
    tiny_params,
    write_params,
)
from tests.runtime_helpers import TinyNet


def test_extra_cost_is_the_difference_to_the_reference_kept_non_decreasing():
    # scoring accumulates along a sample's path: a noisy dip (or a negative) is clamped
    extra = extra_costs({"maxprob": np.array([0.10, 0.20, 0.30]),
                         "entropy": np.array([0.105, 0.19, 0.32]),
                         "eenet": np.array([0.13, 0.26, 0.36])})
    assert set(extra) == {"entropy", "eenet"}
    assert extra["entropy"] == pytest.approx([0.005, 0.005, 0.02])
    assert extra["eenet"] == pytest.approx([0.03, 0.06, 0.06])


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


def test_too_many_folds_is_an_error_not_out_of_memory(pair):
    """The fused scorer grows with the square of `folds` (folds=5000 asked for ~25 GiB and
    the scoring profile was killed for memory): past the limit, a one-line error naming it,
    before any member is built (the scoring profile built all 5000 first, the fit trained
    all of them first: minutes, then the error)."""
    val, costs = pair[0], make_costs(3, 1.0, 3.0)
    message = (r"^{}\.folds: {} members would need [0-9.]+ GiB for one exit's "
               r"fused scorer .+; lower folds or hidden")
    with pytest.raises(ConfigError, match=message.format("settings", 5000)):
        untrained_policy(3, val.n_classes, {"folds": 5000, "hidden": 8})
    with pytest.raises(ConfigError, match=message.format(r"eenet_settings", 5000)):
        scoring_policies(3, val.n_classes, {"folds": 5000, "hidden": 8})
    with pytest.raises(ConfigError, match=message.format("settings", 2000)):  # as typed
        fit_policy("eenet", val, costs, 2.0, {**FAST_EENET, "folds": 2000, "score_candidates": []})


def test_too_many_hidden_units_are_an_error_before_any_network_is_made():
    """profile_scoring builds the configured scorer with random weights: 10**9 hidden units
    asked torch for 28 GB at once (a traceback); now the settings are checked first."""
    # named as typed (it said schedulers.eenet.hidden; the stage's still does)
    for param, given in (("eenet_settings", {}), ("schedulers.eenet",
                                                  {"settings_param": "schedulers.eenet"})):
        with pytest.raises(ConfigError, match=rf"^{re.escape(param)}\.hidden: must be an "
                                              r"integer from 1 to 4096, got 1000000000$"):
            profile_scoring(TinyNet(num_classes=5), {"hidden": 10**9}, warmup=1, repeats=2,
                            **given)


@pytest.mark.parametrize("repeats", [10**10, 2**70])
def test_scoring_repeats_past_the_cap_are_one_line(repeats: int) -> None:
    """The times are kept in one [repeats, exits] array: numpy could not make it for 10**10
    repeats (224 GiB) or past 2**63 (a traceback); at most TIMING_MAX."""
    with pytest.raises(ConfigError, match=rf"^scoring\.repeats: must be an integer from 1 to "
                                          rf"1000000, got {repeats}$"):
        profile_scoring(TinyNet(num_classes=5), repeats=repeats)


def test_scoring_is_measured_in_the_runtime_and_can_be_switched_off():
    torch.manual_seed(0)
    model = TinyNet(num_classes=5)
    table = profile_scoring(model, {"hidden": 8}, warmup=2, repeats=20)
    assert table["charged"] and table["device"] == "cpu"
    assert set(table["scheduling_ms"]) == {"maxprob", "entropy", "patience", "eenet"}
    assert set(table["extra_ms"]) == set(CHARGED)
    for extra in table["extra_ms"].values():
        assert len(extra) == 3 and min(extra) >= 0 and extra == sorted(extra)
    # the learned scorer (features + member networks) costs more than max p at every exit
    assert table["extra_ms"]["eenet"][0] > 0
    off = profile_scoring(model, charge=False)
    assert off["extra_ms"] == {name: [0.0, 0.0, 0.0] for name in CHARGED}
    with pytest.raises(ConfigError, match=r"^scoring\.repeats: must be an integer from 1 to "
                                          r"1000000, got 0$"):
        profile_scoring(model, repeats=0)


def test_the_scoring_of_a_model_in_another_precision_is_timed_on_inputs_of_its_precision():
    """A double-precision model: its example inputs (float32) failed in its first layer."""
    torch.manual_seed(0)
    model = TinyNet(num_classes=5).double()
    table = profile_scoring(model, {"hidden": 8}, methods=["entropy"], warmup=1, repeats=3)
    assert len(table["scheduling_ms"]["entropy"]) == 3


def test_heuristics_plan_with_their_charged_costs(pair, costs, tmp_path):
    """fit_all with a charged entropy: its plan and evaluation use costs + extra; below its
    charged first exit everyone leaves at exit 0 unscored, at the plain first-exit cost (it
    was fitted at the charged cost, over the budget, though nothing needs a score there)."""
    val, _ = pair
    extra = np.array([0.2, 0.3, 0.3])
    index = fit_all(val, costs, ["entropy", "maxprob"], [1.1, 1.9], 1.9, tmp_path / "s",
                    charged={"entropy": extra})
    by_key = {(e["method"], e["budget_ms"]): e for e in index["entries"]}
    charged = load_policy(tmp_path / "s" / by_key[("entropy", 1.9)]["dir"])
    free = load_policy(tmp_path / "s" / by_key[("maxprob", 1.9)]["dir"])
    assert charged.planned_costs == pytest.approx(costs + extra)
    assert free.planned_costs == pytest.approx(costs)
    assert charged.val_cost_ms == pytest.approx(1.9, rel=0.01)
    assert "fitted_ms" not in by_key[("entropy", 1.1)]
    assert "fitted_ms" not in by_key[("maxprob", 1.1)]
    lowest = load_policy(tmp_path / "s" / by_key[("entropy", 1.1)]["dir"])
    assert (lowest.decide(val.log_probs()) == 0).all()
    assert lowest.planned_costs == pytest.approx(costs)
    assert lowest.val_cost_ms == pytest.approx(costs[0]) and lowest.exits_scored() == 0
    assert lowest.budget_ms == 1.1  # the budget asked, as the index and the folder say


def test_fit_with_scoring_fits_as_the_pipeline_does(pair, costs, tmp_path):
    """From Python, a scoring table (profile_scoring's form) charges each method as the
    pipeline's fits do: the same thresholds and planned costs as fit_all's with the table's
    charges, for EENet (its scorer's and its fixed candidates' extra in its settings), for
    entropy (costs + extra) and for entropy below its charged first exit (all at exit 0)."""
    from eenet.fitting import charged_settings, fit_with_scoring

    val, _ = pair
    table = {"extra_ms": {"entropy": [0.05, 0.1, 0.1], "eenet": [0.1, 0.2, 0.25]}}
    eenet = {**FAST_EENET, "score_candidates": []}
    settings, charged = charged_settings({"eenet": eenet}, table, costs.size)
    index = fit_all(val, costs, ["eenet", "entropy"], [1.02, 2.0], None, tmp_path / "s",
                    settings, 0, charged=charged)
    # each method at each budget, once: an empty or short index would compare nothing
    assert [(e["method"], e["budget_ms"]) for e in index["entries"]] == [
        ("eenet", 1.02), ("eenet", 2.0), ("entropy", 1.02), ("entropy", 2.0)]
    for entry in index["entries"]:
        method, budget = entry["method"], entry["budget_ms"]
        piped = load_policy(tmp_path / "s" / entry["dir"])
        mine = fit_with_scoring(method, val, costs, budget, table,
                                eenet if method == "eenet" else None)
        assert mine.budget_ms == budget
        assert mine.planned_costs == piped.planned_costs, entry
        np.testing.assert_array_equal(mine.thresholds, piped.thresholds)
    learned = fit_with_scoring("eenet", val, costs, 2.0, table, eenet)
    assert learned.planned_costs == pytest.approx(costs + np.array([0.1, 0.2, 0.25]))
    uncharged = fit_policy("eenet", val, costs, 2.0, eenet)
    assert uncharged.planned_costs == pytest.approx(costs)


def test_a_budget_past_the_plain_model_runs_it_even_below_the_charged_first_exit(tmp_path):
    """Exit 0's charged scoring cost above the whole cost range: a budget at the last exit's
    cost still runs the plain model (every sample at the last exit), not everyone at exit 0."""
    val, _ = make_split_pair(2, 10, 500, 500, seed=5)
    costs = np.array([1.0, 1.05])
    index = fit_all(val, costs, ["entropy"], [1.05], 1.05, tmp_path / "s",
                    charged={"entropy": [0.1, 0.1]})
    policy = load_policy(tmp_path / "s" / index["entries"][0]["dir"])
    assert not policy.leaves_early()
    assert (policy.decide(val.log_probs()) == 1).all()


def test_no_early_exit_runs_the_plain_model_for_every_method(pair, costs, tmp_path):
    """A budget at or above the last exit's cost (even below a charged method's last exit
    with its scoring): every method plans the plain model, all samples at the last exit at the
    plain costs; charged entropy and patience planned early exits that paid for scoring."""
    val, test = pair
    extra = np.array([0.1, 0.2, 0.3])
    last = float(costs[-1])
    index = fit_all(val, costs, ["entropy", "patience", "maxprob"], [last, last + 0.1, last + 5],
                    None, tmp_path / "s", charged={"entropy": extra, "patience": extra})
    assert len(index["entries"]) == 9
    for entry in index["entries"]:
        policy = load_policy(tmp_path / "s" / entry["dir"])
        assert policy.planned_costs == pytest.approx(costs), entry
        assert (policy.decide(test.log_probs()) == costs.size - 1).all(), entry
        assert policy.val_cost_ms == pytest.approx(last)
    charged = fit_all(val, costs, ["entropy"], [last - 0.1], None, tmp_path / "t",
                      charged={"entropy": extra})["entries"][0]
    assert load_policy(tmp_path / "t" / charged["dir"]).planned_costs == pytest.approx(
        costs + extra)


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


@pytest.mark.parametrize("candidates", [["maxprob", "entropy"], []])
def test_eenet_whose_every_score_breaks_the_budget_sends_all_to_exit_0_unscored(
        pair, costs, candidates):
    """Every score's charged first exit above the budget: everyone leaves at exit 0, which the
    runtime reaches without scoring (threshold -inf), so the policy is planned at the plain
    costs and meets the budget, as fit_all plans a charged heuristic there. It was planned at
    the cheapest charged first exit (1.4 here, over a budget of 1.2), or with no fixed
    candidate trained its networks for that rule."""
    val, test = pair
    settings = {**FAST_EENET, "score_candidates": candidates, "scorer_extra_ms": [0.5] * 3,
                "fixed_extra_ms": {"maxprob": [0.4] * 3, "entropy": [0.5] * 3}}
    policy = fit_policy("eenet", val, costs, 1.2, settings)
    assert policy.planned_costs == pytest.approx(costs) and not policy.weights
    assert policy.val_cost_ms == pytest.approx(costs[0]) and policy.exit_for_all() == 0
    assert policy.exits_scored() == 0 and (policy.exits_for(test) == 0).all()
    assert policy.rule() == "exit 0 for all, unscored"  # no score is computed to name
    [result] = evaluate_policies([policy], [1.2], test.log_probs(), test.correct(), costs)
    assert result["cost_ms"] == pytest.approx(costs[0])


def test_a_budget_of_exactly_a_charged_first_exit_is_counted_at_the_plain_one(
        pair, costs, tmp_path):
    """At a budget equal to a score's charged first-exit cost every sample leaves at exit 0,
    where the runtime scores nothing: the rule costs the plain first exit, in EENet and in
    fit_all alike (both counted it at the charged cost, which a budget a hair lower did not)."""
    val, _ = pair
    extra = [0.2, 0.3, 0.3]
    first = float(costs[0]) + extra[0]
    settings = {**FAST_EENET, "scorer_extra_ms": [0.5] * 3,
                "fixed_extra_ms": {"maxprob": extra, "entropy": extra}}
    for budget in (first, first - 1e-6):
        policy = fit_policy("eenet", val, costs, budget, settings)
        assert policy.exit_for_all() == 0 and policy.exits_scored() == 0, budget
        assert policy.planned_costs == pytest.approx(costs), budget
        assert policy.val_cost_ms == pytest.approx(costs[0]), budget
    index = fit_all(val, costs, ["entropy"], [first], None, tmp_path / "s",
                    charged={"entropy": extra})
    [entry] = index["entries"]
    policy = load_policy(tmp_path / "s" / entry["dir"])
    assert policy.planned_costs == pytest.approx(costs) and "fitted_ms" not in entry
    assert policy.val_cost_ms == pytest.approx(costs[0]) and policy.budget_ms == first


def test_a_policy_fitted_below_the_first_exit_is_refused_under_another_budget(
        pair, costs, tmp_path):
    """A policy fitted at the first exit's cost records its entry's budget, or for a budget
    below that cost the entry's `fitted_ms`, so it is its own entry's only; copied under
    another budget's entry it is a one-line ArtifactError (accepted before: any policy at the
    first exit's cost passed for any entry)."""
    val, _ = pair
    first = float(costs[0])
    index = fit_all(val, costs, ["maxprob"], [first, 0.5 * first, 1.9], None, tmp_path / "s")
    by_budget = {e["budget_ms"]: e for e in index["entries"]}
    at_first = load_policy(tmp_path / "s" / by_budget[first]["dir"])
    below = load_policy(tmp_path / "s" / by_budget[0.5 * first]["dir"])
    assert at_first.budget_ms == first and below.budget_ms == by_budget[0.5 * first]["fitted_ms"]
    check_entry_policy(at_first, tmp_path / "s", index, by_budget[first])
    check_entry_policy(below, tmp_path / "s", index, by_budget[0.5 * first])
    for policy in (at_first, below):
        with pytest.raises(ArtifactError, match=r"lists method 'maxprob', budget_ms 1\.9 for"):
            check_entry_policy(policy, tmp_path / "s", index, by_budget[1.9])


def test_bad_scorer_cost_settings_and_tables_are_one_line_errors(pair, costs, tmp_path):
    val, _ = pair
    with pytest.raises(ConfigError) as err:
        fit_policy("eenet", val, costs, 1.9, _learned([0.1, 0.2]))
    assert str(err.value) == ("settings.scorer_extra_ms: expected 3 finite values >= 0 "
                              "(one per exit) or [], got [0.1, 0.2]")
    path = tmp_path / "scoring.json"
    path.write_text(json.dumps({"charged": True, "extra_ms": {"eenet": [0.0, 0.1]}}))
    with pytest.raises(ArtifactError, match=r"2 exits, the latency table has 3; rerun "):
        load_scoring(path, 3)
    for values in (["a"], [0.1, -0.2, 0.3], [0.2, 0.1, 0.3]):
        path.write_text(json.dumps({"charged": True, "extra_ms": {"eenet": values}}))
        with pytest.raises(ArtifactError) as err:
            load_scoring(path)
        assert str(err.value) == (f"{path}: extra_ms.eenet must be a list of finite numbers >= "
                                  "0 that do not decrease along the exits; rerun profile_scoring")
    path.write_text(json.dumps({"charged": True, "extra_ms": {"eenet": [0, 1, 2**64]}}))
    with pytest.raises(ArtifactError) as err:  # numpy cannot take it: refused where it is read
        load_scoring(path)
    assert str(err.value) == (f"{path}: not valid JSON (integer 18446744073709551616 is "
                              "outside the 64-bit range)")


def test_eenet_charges_its_fixed_entropy_candidate_too(pair, costs):
    val, _ = pair
    settings = {**FAST_EENET, "score_candidates": ["entropy"], "scorer_extra_ms": [0.5] * 3,
                "fixed_extra_ms": {"entropy": [0.1, 0.15, 0.15]}}
    policy = fit_policy("eenet", val, costs, 1.2, settings)  # learned: 1.5 ms at exit 0
    assert policy.score_source == "entropy"
    assert policy.planned_costs == pytest.approx(costs + np.array([0.1, 0.15, 0.15]))
    assert policy.val_cost_ms == pytest.approx(1.2, rel=0.01)
    # fit_policy's own parameter, `settings` (the pipeline and `--set` name theirs first)
    with pytest.raises(ConfigError, match=r"^settings\.fixed_extra_ms: unknown value "
                                          r"'oracle'; allowed: entropy, maxprob$"):
        fit_policy("eenet", val, costs, 1.9, {**settings, "fixed_extra_ms": {"oracle": [0] * 3}})


def test_eenet_meets_a_budget_only_its_learned_score_can(pair, costs):
    """Every fixed candidate's charged first exit above the budget, the learned score's below:
    the learned rule is fitted at the budget itself (it was fitted at the fixed candidates'
    first-exit cost, so it spent more than the budget)."""
    val, _ = pair
    settings = {**FAST_EENET, "scorer_extra_ms": [0.05] * 3,
                "fixed_extra_ms": {"maxprob": [0.4] * 3, "entropy": [0.5] * 3}}
    policy = fit_policy("eenet", val, costs, 1.2, settings)  # fixed: 1.4 and 1.5 at exit 0
    assert policy.score_source in ("learned", "lookahead")
    assert policy.val_cost_ms <= 1.2 * (1 + 1e-9)
    assert policy.val_cost_ms == pytest.approx(1.2, rel=0.01)


def _scoring_workspace(tmp_path) -> dict:
    """Quick scoring params written to `tmp_path` and a tiny trained model in its `model/`;
    the model's options."""
    params = tiny_params()
    params["scoring"].update(warmup=2, repeats=10)
    write_params(tmp_path, params)
    options = params["model"]["options"]
    save_trained(build_model("resnet1d_3", 10, **options), tmp_path / "model", "resnet1d_3", 10,
                 options)
    return options


def test_stage_measures_on_this_hosts_cpu_for_a_table_imported_from_a_gpu(tmp_path):
    """profile.table imported from a GPU machine: the table says cuda, this host may have no
    GPU; the scoring is measured here on the CPU instead of failing."""
    _scoring_workspace(tmp_path)
    save_latency(tmp_path / "latency.json", {
        "cumulative_ms": [1.0, 2.0, 3.0], "device": "cuda", "batch_size": 1,
        "source": "gpu_box/latency.json"})
    for stage, out, methods in (("profile_scoring", "scoring.json", {"entropy", "patience"}),
                                ("profile_eenet_scoring", "scoring_eenet.json", {"eenet"})):
        check_ok(run_stage(stage, tmp_path, "model", "latency.json", out))
        table = load_scoring(tmp_path / out, 3)
        assert table["device"] == "cpu" and set(table["extra_ms"]) == methods


@pytest.mark.parametrize(("source", "named"), [
    ("measured", "latency.json's threads (profile.threads)"),
    ("gpu_box/latency.json", "latency.json's threads (from the imported table "
                             "gpu_box/latency.json, profile.table)"),
])
def test_scoring_threads_past_the_cpus_name_where_they_come_from(tmp_path, monkeypatch, capsys,
                                                                 source, named) -> None:
    """The scoring stages time with the latency profile's threads (there is no
    scoring.threads): more than the CPUs was a note on a setting `threads` that no file
    holds; it names the profile's field and the setting (or imported table) it comes from."""
    from eenet import devices

    monkeypatch.setattr(devices, "available_cpus", lambda: 1)
    monkeypatch.setattr(devices, "_NOTED", set())
    _scoring_workspace(tmp_path)
    save_latency(tmp_path / "latency.json", {
        "cumulative_ms": [1.0, 2.0, 3.0], "device": "cpu", "batch_size": 1, "threads": 2,
        "source": source})
    monkeypatch.chdir(tmp_path)
    table = profile_stage("model", "latency.json", "scoring.json",
                          {"charge": True, "warmup": 0, "repeats": 1}, ["entropy"])
    assert table["threads"] == 2
    note = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert note == [f"note: {named} 2 is more than the 1 CPU available here: the threads "
                    "contend for them, so work runs (and is timed) slower than with 1"]
    # the Python API names its argument
    profile_scoring(TinyNet(), methods=["entropy"], threads=2, warmup=0, repeats=1)
    assert "note: threads 2 is more than the 1 CPU available" in capsys.readouterr().err


def test_scoring_records_the_threads_it_timed_on() -> None:
    """threads=0 times on torch's current count (as profile_model): the table records that
    count, as profile_model's does, not the 0 it was given."""
    import torch

    table = profile_scoring(TinyNet(), methods=["entropy"], threads=0, warmup=0, repeats=1)
    assert table["threads"] == torch.get_num_threads() >= 1
    assert profile_scoring(TinyNet(), methods=["entropy"], threads=1, warmup=0,
                           repeats=1)["threads"] == 1


def test_scoring_stages_refuse_a_latency_profile_of_another_model(tmp_path):
    """A latency.json measured on another architecture with as many exits (the profile stage
    records the model) was timed against this model in silence; now one line naming both. The
    same architecture with other weights (retrained) keeps its costs."""
    options = _scoring_workspace(tmp_path)
    other = {**options, "widths": [w * 2 for w in options["widths"]]}
    save_trained(build_model("resnet1d_3", 10, **other), tmp_path / "other", "resnet1d_3", 10,
                 other)
    save_latency(tmp_path / "latency.json", {"cumulative_ms": [1.0, 2.0, 3.0], "device": "cpu",
                                             "batch_size": 1,
                                             "model": model_identity(tmp_path / "other")})
    for stage in ("profile_scoring", "profile_eenet_scoring"):
        assert_one_line_error(
            run_stage(stage, tmp_path, "model", "latency.json", "scoring.json"),
            f"latency.json: measured on resnet1d_3 {other}, 10 classes, not model's "
            f"resnet1d_3 {options}, 10 classes; rerun profile")
    torch.manual_seed(1)  # other weights, same architecture: its costs hold
    save_trained(build_model("resnet1d_3", 10, **options), tmp_path / "retrained", "resnet1d_3",
                 10, options)
    save_latency(tmp_path / "latency.json", {"cumulative_ms": [1.0, 2.0, 3.0], "device": "cpu",
                                             "batch_size": 1,
                                             "model": model_identity(tmp_path / "retrained")})
    check_ok(run_stage("profile_scoring", tmp_path, "model", "latency.json", "scoring.json"))


def test_an_imported_table_is_checked_and_recorded_for_the_model_it_is_used_with(tmp_path):
    """profile.table from another host: its model record may spell the options otherwise
    (defaults left out) and name other weights of the same architecture; the profile stage
    takes it and records this model, so the policies planned with it record this model (a
    copied record made eenet predict note "fitted for other weights" on the model they were
    fitted on). A table of another architecture is one line."""
    params = tiny_params()
    options = params["model"]["options"]
    save_trained(build_model("resnet1d_3", 10, **options), tmp_path / "model", "resnet1d_3", 10,
                 options)
    torch.manual_seed(3)
    spelled = {**options, "input_length": 40}  # the builder's default, written out
    save_trained(build_model("resnet1d_3", 10, **spelled), tmp_path / "remote", "resnet1d_3",
                 10, spelled)
    save_latency(tmp_path / "remote.json", {"cumulative_ms": [1.0, 2.0, 3.0], "device": "cpu",
                                            "model": model_identity(tmp_path / "remote")})
    params["profile"]["table"] = str(tmp_path / "remote.json")
    write_params(tmp_path, params)
    check_ok(run_stage("import_latency", tmp_path, "latency_tables", "imported.json"))
    check_ok(run_stage("profile_latency", tmp_path, "model", "imported.json", "latency.json"))
    recorded = json.loads((tmp_path / "latency.json").read_text())["model"]
    assert recorded == model_identity(tmp_path / "model")
    wider = {**options, "widths": [w * 2 for w in options["widths"]]}
    save_trained(build_model("resnet1d_3", 10, **wider), tmp_path / "wider", "resnet1d_3", 10,
                 wider)
    save_latency(tmp_path / "remote.json", {"cumulative_ms": [1.0, 2.0, 3.0], "device": "cpu",
                                            "model": model_identity(tmp_path / "wider")})
    check_ok(run_stage("import_latency", tmp_path, "latency_tables", "imported.json"))
    result = run_stage("profile_latency", tmp_path, "model", "imported.json", "latency.json")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        # the import records the table's keys sorted, the model's options among them
        f"error: profile.table: {tmp_path / 'remote.json'}: measured on resnet1d_3 "
        f"{dict(sorted(wider.items()))}, "
        f"10 classes, not model's resnet1d_3 {options}, 10 classes; give a table measured for "
        "this model")


def test_a_profile_device_torch_does_not_know_names_the_profiles_field() -> None:
    """A latency.json whose device is no torch device name was refused as
    "scoring.device: unknown value" (no such setting): the file's field is named now."""
    with pytest.raises(ArtifactError) as err:
        scoring_device({"device": "tpu", "source": "measured"}, "lat.json")
    assert str(err.value) == ("lat.json: device: unknown value 'tpu'; allowed: auto, cpu, cuda, "
                              "cuda:N; rerun profile")


def test_scoring_is_timed_on_the_profiles_device_or_named_as_missing():
    """The scoring is timed where the profile was; a table imported from elsewhere on this
    host's CPU; a GPU profile on a host without that GPU names the profile file."""
    assert scoring_device({"device": "cpu", "source": "measured"}, "lat.json") == "cpu"
    assert scoring_device({"device": "cuda", "source": "gpu/lat.json"}, "lat.json") == "cpu"
    if torch.cuda.is_available():
        assert scoring_device({"device": "cuda", "source": "measured"}, "lat.json") == "cuda"
        return
    with pytest.raises(ArtifactError, match=r"^lat\.json: profiled on cuda, which this host "
                                            r"lacks; .* rerun profile here"):
        scoring_device({"device": "cuda", "source": "measured"}, "lat.json")


@pytest.mark.parametrize("source", ["measured", "latency_tables/gpu.json"])
def test_a_bad_timing_field_of_the_profile_says_to_rerun_profile(tmp_path, source) -> None:
    """A latency.json whose batch_size is no batch size: the import checks an imported table's
    as profile checks its own, so it was edited after profile wrote it, whatever its source;
    rerunning profile mends it (fixing the table, already right, did not: the import's record
    and so profile's copy stayed as they were)."""
    (tmp_path / "gpu.json").write_text(json.dumps({"cumulative_ms": [1.0], "batch_size": 0}))
    with pytest.raises(ArtifactError, match=r"batch_size: .* got 0; fix the table$"):
        import_record(tmp_path / "gpu.json")
    with pytest.raises(ArtifactError) as err:
        latency_timing({"cumulative_ms": [1.0], "batch_size": 0, "source": source}, "lat.json")
    assert str(err.value) == ("lat.json: batch_size: must be an integer >= 1 or null, got 0; "
                              "rerun profile")


class _BlowsUpPastOneSample(TinyNet):
    """One sample runs (the scoring profile reads the classes from one); a batch of more needs
    far more memory than any machine has (its stem's output 2**30 times longer)."""

    def begin(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        state = super().begin(inputs)
        if inputs.shape[0] == 1:
            return state
        return {**state, "h": state["h"].repeat(1, 1, 2**30)}


@pytest.mark.parametrize(("source", "fix"), [
    ("measured", "lower profile.batch_size and rerun profile"),
    # profile copies the table from import_latency's record, and profile_scoring reads
    # profile's: both are to rerun
    ("gpu_box/latency.json", "lower it in the imported table gpu_box/latency.json "
                             "(profile.table) and rerun the pipeline (dvc repro: "
                             "import_latency, then profile)"),
])
def test_a_scoring_batch_that_does_not_fit_in_memory_names_the_latency_file(
        tmp_path, monkeypatch, capsys, source, fix) -> None:
    """The scoring is timed at the latency profile's batch size: a batch whose run needs more
    memory than there is was a torch traceback from profile_scoring; it is one line naming the
    latency file's batch_size (where the size comes from), and no scoring table is written."""
    import eenet.inference  # noqa: F401  (first imported under the patch, it would bind the
    import eenet.models.artifact  # fake load_trained for the rest of the session: dump_logits
    # in later tests ran the fake model)

    monkeypatch.setattr(eenet.models.artifact, "load_trained",
                        lambda directory: _BlowsUpPastOneSample(num_classes=10))
    params = tiny_params()
    params["scoring"].update(warmup=0, repeats=1)
    write_params(tmp_path, params)
    save_latency(tmp_path / "latency.json", {
        "cumulative_ms": [1.0, 2.0, 3.0], "source": source, "device": "cpu", "batch_size": 16,
        "threads": 1})
    monkeypatch.chdir(tmp_path)
    message = stage_error(capsys, "profile_scoring", "model", "latency.json", "scoring.json")
    assert re.fullmatch(r"latency\.json: batch_size: 16 does not fit in memory \(tried to "
                        rf"allocate \d+ bytes\); {re.escape(fix)}", message), message
    assert not (tmp_path / "scoring.json").exists()


def test_fit_with_scoring_refuses_what_it_cannot_charge(pair, costs):
    """A table lacking the method was charged nothing (the uncharged plan it exists to
    prevent), one value was stretched over every exit, a negative budget was fitted at the
    first exit's cost without a word: each is a one-line ConfigError now."""
    from eenet.fitting import fit_with_scoring

    val, _ = pair
    fix = "give eenet.scoring_cost.profile_scoring's table of the model the costs are for"
    cases = [
        ("eenet", 2.0, {"extra_ms": {"entropy": [0.0, 0.1, 0.1]}}, "extra_ms has no eenet"),
        ("entropy", 2.0, {"extra_ms": {"entropy": [0.05]}},
         "1 exits, the latency table has 3"),
        ("entropy", 2.0, {"extra_ms": {"entropy": [0.1, -0.1, 0.2]}},
         "extra_ms.entropy must be a list of finite numbers >= 0 that do not decrease along "
         "the exits"),
        ("maxprob", 2.0, {"charged": True}, "extra_ms must map method names to lists of numbers"),
    ]
    for method, budget, table, problem in cases:
        with pytest.raises(ConfigError) as err:
            fit_with_scoring(method, val, costs, budget, table)
        assert str(err.value) == f"scoring: {problem}; {fix} (methods including {method})"
    with pytest.raises(ConfigError, match=r"^budget_ms: -1(\.0)? ms/sample is below the first "):
        fit_with_scoring("maxprob", val, costs, -1, {"extra_ms": {}})
    # max p is what the profile times: a table without it charges it nothing, as the pipeline
    assert fit_with_scoring("maxprob", val, costs, 2.0, {"extra_ms": {}}).planned_costs == \
        pytest.approx(costs)


def _val_hits(policy, outputs) -> int:
    """Samples of `outputs` the policy's exits answer correctly."""
    exits = policy.decide(outputs.log_probs())
    correct = outputs.logits.argmax(axis=2) == outputs.labels[None, :]
    return int(correct[exits, np.arange(outputs.n_samples)].sum())


def _with_last_exit(outputs, logits_last: np.ndarray):
    """`outputs` with the last exit's logits replaced."""
    from eenet.outputs import ExitOutputs

    logits = outputs.logits.copy()
    logits[-1] = logits_last
    return ExitOutputs(logits=logits, labels=outputs.labels)


def test_a_rule_as_accurate_replaces_another_only_at_no_higher_validation_cost(pair, costs):
    """The choice between the plain model and an early-exit policy: where both answer as many
    validation samples, the one costing no more there wins (every exit here is right on the
    same samples, so any two policies tie on hits)."""
    from eenet.outputs import ExitOutputs
    from eenet.sweep import _at_least_as_good

    val, _ = pair
    same = ExitOutputs(logits=np.repeat(val.logits[-1:], 3, axis=0), labels=val.labels)
    log_probs = same.log_probs()
    cheap = fit_policy("maxprob", same, costs, 1.5)
    dear = fit_policy("maxprob", same, costs, 2.5)
    assert cheap.val_cost_ms < dear.val_cost_ms
    assert _at_least_as_good(cheap, dear, log_probs, same.labels, None)
    assert not _at_least_as_good(dear, cheap, log_probs, same.labels, None)
    assert _at_least_as_good(dear, dear, log_probs, same.labels, None)


@pytest.mark.parametrize("method", ["maxprob", "entropy", "patience", "eenet"])
def test_no_early_exit_is_planned_at_its_unscored_cost_and_chosen_where_no_worse(
        pair, costs, tmp_path, method):
    """The runtime scores nothing for a policy that lets no sample leave early, so it runs at
    the last exit's cost less the profiled saving. At a budget from there to the last exit's
    cost the plain model replaces the fitted early-exit policy exactly where it answers at
    least as many validation samples (as many: at no higher validation cost); at and above
    the last exit's cost it runs at the lower cost; its evaluated test cost is the lower one."""
    from eenet.sweep import fit_charged
    from eenet.sweep_evaluation import evaluate_all

    val, test = pair
    saving = 0.4
    settings = FAST_EENET if method == "eenet" else {}
    sure_last = _with_last_exit(val, np.eye(10)[val.labels] * 20.0)  # always right there
    noisy = val.logits[-1].copy()
    wrong = np.random.default_rng(0).random(val.n_samples) < 0.4  # the last exit overthinks
    noisy[wrong] = np.roll(noisy[wrong], 1, axis=1)
    overthinks = _with_last_exit(val, noisy)
    chosen = []
    for outputs in (val, sure_last, overthinks):
        for budget in (2.7, 2.95):
            plain_fit, _ = fit_charged(method, outputs, costs, budget, settings=settings)
            policy, fit_ms = fit_charged(method, outputs, costs, budget, settings=settings,
                                         unscored_saving_ms=saving)
            assert fit_ms == budget and policy.budget_ms == budget
            never = _val_hits(policy, outputs) if not policy.leaves_early() else None
            full = int((outputs.logits[-1].argmax(axis=1) == outputs.labels).sum())
            early = _val_hits(plain_fit, outputs)
            no_worse = full > early or (full == early and plain_fit.val_cost_ms >= 2.6)
            assert policy.leaves_early() is not no_worse, (budget, full, early)
            if no_worse:
                assert never == full
                assert policy.planned_costs == pytest.approx([1.0, 2.0, 2.6])
                assert policy.val_cost_ms == pytest.approx(2.6)
            else:  # the early-exit fit, unchanged
                np.testing.assert_array_equal(policy.thresholds, plain_fit.thresholds)
                assert policy.planned_costs == plain_fit.planned_costs
            chosen.append(policy.leaves_early())
    assert chosen[2:4] == [False, False]  # an always-right last exit is never passed over
    assert chosen[4:] == [True, True]  # one that overthinks keeps the early exits
    index = fit_all(val, costs, [method], [2.0, 2.95, 3.0], None, tmp_path / "s",
                    {method: settings}, unscored_saving_ms=saving)
    by_budget = {e["budget_ms"]: e for e in index["entries"]}
    top = load_policy(tmp_path / "s" / by_budget[3.0]["dir"])
    assert not top.leaves_early() and top.planned_costs == pytest.approx([1.0, 2.0, 2.6])
    assert load_policy(tmp_path / "s" / by_budget[2.0]["dir"]).planned_costs == \
        pytest.approx(costs)
    metrics_dir = tmp_path / "h"
    fit_all(val, costs, [method], [], 3.0, metrics_dir, {method: settings},
            unscored_saving_ms=saving)
    _, sweep = evaluate_all(test, costs, metrics_dir, tmp_path / "s")
    rows = sweep[sweep["method"] == method].set_index("budget_ms")
    assert rows.loc[3.0, "test_cost_ms"] == pytest.approx(2.6)


def test_a_saving_past_the_exit_before_is_capped_just_above_it(pair, tmp_path):
    """A saving that would put the last exit at or below the one before is capped at the next
    12-digit number above that exit's cost (the costs contract: strictly increasing, through
    the policy file's JSON too), not dropped: a little more saving never plans dearer."""
    from eenet.sweep import fit_charged
    from eenet.unscored import unscored_costs

    val, _ = pair
    costs = np.array([1.0, 2.0, 2.3])
    assert unscored_costs(costs, 0.2) == pytest.approx([1.0, 2.0, 2.1])
    for saving in (0.3, 0.5, 50.0):
        assert unscored_costs(costs, saving).tolist() == [1.0, 2.0, 2.00000000001]
    assert unscored_costs(costs, 0.0).tolist() == costs.tolist()
    assert unscored_costs([1.0, 1.0000000000001], 0.5).tolist() == [1.0, 1.0000000000001]
    policy, _ = fit_charged("maxprob", val, costs, 2.3, unscored_saving_ms=0.5)
    assert policy.planned_costs == [1.0, 2.0, 2.00000000001] and not policy.leaves_early()
    policy.save(tmp_path / "p")
    assert load_policy(tmp_path / "p").planned_costs == [1.0, 2.0, 2.00000000001]


def test_the_oracle_bounds_the_plain_model_run_unscored(pair, costs, tmp_path):
    """Weak early exits and a sure last one: the plain model, planned below the last exit's
    cost, beats an oracle bounded with the last exit's full cost; the oracle is bounded with
    the lowered cost (the index records the saving), so it stays at or above every method."""
    from eenet.sweep_evaluation import evaluate_folders, oracle_curve_table

    val, test = pair
    sure_val = _with_last_exit(val, np.eye(10)[val.labels] * 20.0)
    sure_test = _with_last_exit(test, np.eye(10)[test.labels] * 20.0)
    index = fit_all(sure_val, costs, ["maxprob", "entropy"], [], 2.8, tmp_path / "h",
                    unscored_saving_ms=0.4)
    assert index["unscored_saving_ms"] == 0.4
    fit_all(sure_val, costs, ["maxprob"], [1.5, 2.2, 2.6, 3.0], None, tmp_path / "s",
            unscored_saving_ms=0.4)
    result = evaluate_folders(sure_test, costs, tmp_path / "h", tmp_path / "s")
    sweep = result.sweep
    for budget, rows in sweep.groupby("budget_ms"):
        oracle = rows[rows["method"] == "oracle"]["test_accuracy"].item()
        assert oracle >= rows["test_accuracy"].max(), (budget, rows)
    plain = sweep[(sweep["method"] == "maxprob") & (sweep["budget_ms"] == 2.8)]
    assert plain["test_accuracy"].item() == 100.0 and plain["test_cost_ms"].item() == 2.6
    assert result.oracle_costs.tolist() == [1.0, 2.0, 2.6]
    curve = oracle_curve_table(sure_test, costs, result.oracle_costs)
    at_plain = curve[curve["budget_ms"] <= 2.6]["test_accuracy"]
    assert at_plain.iloc[-1] == 100.0 and curve["budget_ms"].iloc[-1] == 3.0  # drawn on flat
    assert oracle_curve_table(sure_test, costs)["budget_ms"].iloc[-1] == 3.0
    # without a saving the index records none and the oracle takes the table's costs
    assert "unscored_saving_ms" not in fit_all(sure_val, costs, ["maxprob"], [], 2.8,
                                               tmp_path / "n")
    assert evaluate_folders(sure_test, costs, tmp_path / "n").oracle_costs.tolist() == \
        costs.tolist()


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf"), "0.4", None])
def test_a_bad_saving_given_in_python_is_a_one_line_error(pair, costs, tmp_path, value):
    """fit_all and fit_charged check the saving as the scoring table's is checked (a text
    had raised a bare TypeError, NaN and negatives were dropped in silence); numpy floats of
    any width are numbers."""
    from eenet.sweep import fit_charged

    val, _ = pair
    with pytest.raises(ConfigError, match=r"^unscored_saving_ms must be a finite number >= 0, "
                                          r"got "):
        fit_all(val, costs, ["maxprob"], [], 2.8, tmp_path / "s", unscored_saving_ms=value)
    with pytest.raises(ConfigError, match=r"^unscored_saving_ms must be a finite number"):
        fit_charged("maxprob", val, costs, 2.8, unscored_saving_ms=value)
    policy, _ = fit_charged("maxprob", val, costs, 3.0, unscored_saving_ms=np.float32(0.5))
    assert policy.planned_costs == pytest.approx([1.0, 2.0, 2.5])


def test_a_latency_table_without_reference_scoring_has_no_saving(tmp_path, capsys):
    """Costs that hold no max p scoring (an imported table of the network's times, a profile
    without decisions or of another policy's) have none to save: the stage records 0 and
    says why; a profile with the reference's decisions gets the measured saving."""
    torch.manual_seed(0)
    options = tiny_params()["model"]["options"]
    save_trained(build_model("resnet1d_3", 10, **options), tmp_path / "model", "resnet1d_3", 10,
                 options)
    record = model_identity(tmp_path / "model")
    measured = {"cumulative_ms": [1.0, 2.0, 3.0], "device": "cpu", "model": record,
                "source": "measured", "decisions": True, "decision_policy": "maxprob"}
    settings = {"warmup": 1, "repeats": 3}
    for table, scored in ((measured, True),
                          ({**measured, "source": "latency_tables/authors.csv"}, False),
                          ({**measured, "decisions": False}, False),
                          ({**measured, "decision_policy": "entropy"}, False)):
        save_latency(tmp_path / "latency.json", table)
        out = profile_stage(tmp_path / "model", tmp_path / "latency.json",
                            tmp_path / "scoring.json", settings, ["entropy"])
        printed = capsys.readouterr().out
        assert load_scoring(tmp_path / "scoring.json", 3)["unscored_saving_ms"] == \
            pytest.approx(out["unscored_saving_ms"])
        if scored:
            assert "no saving taken" not in printed
        else:
            assert out["unscored_saving_ms"] == 0.0
            assert f"no early exit: no saving taken: {tmp_path / 'latency.json'}'s costs hold " \
                   "no maxprob scoring" in printed
    eenet = profile_stage(tmp_path / "model", tmp_path / "latency.json",
                          tmp_path / "eenet.json", settings, ["eenet"], {"hidden": 4},
                          unscored=False)
    assert "unscored_saving_ms" not in eenet


def test_the_saving_comes_from_one_scoring_table(tmp_path):
    """load_scoring_tables takes profile_scoring's saving (0 where no table records one, as
    before it was measured); a second table holding one too is a one-line error naming both."""
    from eenet.scoring_cost import load_scoring_tables

    fixed, learned = tmp_path / "scoring.json", tmp_path / "scoring_eenet.json"
    fixed.write_text(json.dumps({"charged": True, "extra_ms": {"entropy": [0.0, 0.1]},
                                 "unscored_saving_ms": 0.05}))
    learned.write_text(json.dumps({"charged": True, "extra_ms": {"eenet": [0.1, 0.2]}}))
    pairs = [(fixed, "profile_scoring"), (learned, "profile_eenet_scoring")]
    assert load_scoring_tables(pairs, 2)["unscored_saving_ms"] == 0.05
    assert load_scoring_tables(pairs[1:], 2)["unscored_saving_ms"] == 0.0
    learned.write_text(json.dumps({"charged": True, "extra_ms": {"eenet": [0.1, 0.2]},
                                   "unscored_saving_ms": 0.0}))
    with pytest.raises(ArtifactError) as info:
        load_scoring_tables(pairs, 2)
    assert str(info.value) == (f"{learned}: unscored_saving_ms is given by {fixed} too; one "
                               "stage times it: rerun profile_eenet_scoring")


def test_the_unscored_saving_is_measured_beside_the_reference():
    """profile_scoring times the model with no early exit beside the reference: the saving
    is a number >= 0, apart from the per-exit tables; uncharged it is 0; not asked, absent."""
    torch.manual_seed(0)
    model = TinyNet(num_classes=5)
    table = profile_scoring(model, methods=["entropy"], warmup=2, repeats=30)
    assert isinstance(table["unscored_saving_ms"], float) and table["unscored_saving_ms"] >= 0
    assert set(table["scheduling_ms"]) == {"maxprob", "entropy"}
    json.dumps(table, allow_nan=False)  # no NaN of the exits the plain model is not timed at
    assert profile_scoring(model, methods=["entropy"], charge=False)["unscored_saving_ms"] == 0
    assert "unscored_saving_ms" not in profile_scoring(model, methods=["entropy"], warmup=0,
                                                       repeats=1, unscored=False)


@pytest.mark.parametrize("value", [-0.1, "0.1", None, True, float("nan")])
def test_a_bad_unscored_saving_is_a_one_line_error(tmp_path, value):
    path = tmp_path / "scoring.json"
    path.write_text(json.dumps({"charged": True, "extra_ms": {"entropy": [0.0, 0.1]},
                                "unscored_saving_ms": value}))
    with pytest.raises(ArtifactError) as info:
        load_scoring(path, 2)
    message = str(info.value)
    assert "\n" not in message
    assert re.fullmatch(rf"{re.escape(str(path))}: (unscored_saving_ms must be a finite "
                        r"number >= 0, got .*; rerun profile_scoring|.*NaN.*)", message), message


def test_fit_with_scoring_takes_the_tables_unscored_saving(pair, costs):
    """From Python, a scoring table's `unscored_saving_ms` plans the plain model as the
    pipeline's fits do; a bad one is a one-line ConfigError naming it."""
    from eenet.fitting import fit_with_scoring

    val, _ = pair
    sure_last = _with_last_exit(val, np.eye(10)[val.labels] * 20.0)
    table = {"extra_ms": {"entropy": [0.05, 0.1, 0.1]}, "unscored_saving_ms": 0.4}
    policy = fit_with_scoring("entropy", sure_last, costs, 2.8, table)
    assert not policy.leaves_early() and policy.planned_costs == pytest.approx([1, 2, 2.6])
    assert fit_with_scoring("entropy", sure_last, costs, 2.5, table).leaves_early()
    with pytest.raises(ConfigError, match=r"^scoring: unscored_saving_ms must be a finite "
                                          r"number >= 0, got -1; give "):
        fit_with_scoring("entropy", sure_last, costs, 2.8, {**table, "unscored_saving_ms": -1})


def test_an_index_with_a_bad_saving_is_refused(pair, costs, tmp_path):
    """A schedulers index whose saving was edited into no number >= 0 is one line naming the
    index (the oracle would be bounded with it)."""
    from eenet.sweep import read_index

    val, _ = pair
    fit_all(val, costs, ["maxprob"], [], 2.8, tmp_path / "h", unscored_saving_ms=0.4)
    path = tmp_path / "h" / "index.json"
    index = json.loads(path.read_text())
    path.write_text(json.dumps({**index, "unscored_saving_ms": -0.4}))
    with pytest.raises(ArtifactError) as info:
        read_index(tmp_path / "h")
    assert str(info.value) == (f"{path}: unscored_saving_ms must be a finite number >= 0, got "
                               "-0.4; rerun fit_headline / fit_schedulers (or eenet schedule "
                               "--save)")
