"""Budgeted evaluation: accuracy/cost bookkeeping, the oracle upper bound, sweeps."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from eenet.errors import ArtifactError, ConfigError
from eenet.evaluation import (
    _oracle,
    evaluate_exits,
    evaluate_policies,
    oracle_exits,
    schedule_sweep,
)
from eenet.outputs import ExitOutputs
from eenet.schedulers import fit_policy
from eenet.schedulers.base import FittedPolicy
from eenet.synthetic import make_costs, make_exit_outputs, make_split_pair
from tests.conftest import FAST_EENET, dotted_keys, lists_in


def _hand_outputs() -> ExitOutputs:
    # 2 exits, 4 samples, 2 classes; exit 0 right on samples 0, 1; exit 1 right on 0, 2, 3
    logits = np.array(
        [
            [[2, 0], [0, 2], [2, 0], [2, 0]],
            [[2, 0], [2, 0], [0, 2], [0, 2]],
        ],
        dtype=np.float32,
    )
    return ExitOutputs(logits, np.array([0, 1, 1, 1]))


def test_evaluate_exits_by_hand():
    res = evaluate_exits(_hand_outputs(), np.array([0, 0, 1, 0]), [1.0, 3.0])
    assert res["accuracy"] == pytest.approx(75.0)
    assert res["cost_ms"] == pytest.approx(1.5)
    assert res["exit_fractions"] == [0.75, 0.25]


def test_accuracies_are_the_percent_a_reader_would_compute():
    # 2959 of 4000 right at exit 0 (100 * mean gave 73.97500000000001 in sweep.csv), 3999 at 1
    labels = np.zeros(4000, dtype=np.int64)
    logits = np.zeros((2, 4000, 2), dtype=np.float32)
    logits[0, 2959:, 1] = 1.0
    logits[1, 3999:, 1] = 1.0
    out = ExitOutputs(logits, labels)
    assert out.exit_accuracy().tolist() == [73.975, 99.975]
    for exit_index, shown in ((0, "73.975"), (1, "99.975")):
        exits = np.full(4000, exit_index, dtype=np.int64)
        assert repr(evaluate_exits(out, exits, [1.0, 2.0])["accuracy"]) == shown


def test_oracle_by_hand():
    out, costs = _hand_outputs(), [1.0, 3.0]
    np.testing.assert_array_equal(oracle_exits(out, costs, 1.0), [0, 0, 0, 0])
    np.testing.assert_array_equal(oracle_exits(out, costs, 1.5), [0, 0, 1, 0])
    np.testing.assert_array_equal(oracle_exits(out, costs, 3.0), [0, 0, 1, 1])
    with pytest.raises(ConfigError, match="feasible range"):
        oracle_exits(out, costs, 0.9)


def test_oracle_stays_within_budget_and_is_monotone():
    out, costs = make_exit_outputs(4, 20, 3000, seed=2), make_costs(4)
    correct = out.correct()
    prev = -1.0
    for budget in np.linspace(1.0, 4.0, 13):
        res = evaluate_exits(out, _oracle(correct, costs, budget), costs)
        assert res["cost_ms"] <= budget + 1e-9
        assert res["accuracy"] >= prev
        prev = res["accuracy"]
    assert prev == pytest.approx(100.0 * correct.any(0).mean())


def test_sweep_rows_and_oracle_upper_bound():
    val, test = make_split_pair(3, 10, 1500, 1500, seed=4)
    costs = make_costs(3, 1.0, 3.0)
    methods = ["maxprob", "entropy", "patience", "eenet", "oracle"]
    budgets = [1.3, 2.0, 2.7]
    rows = schedule_sweep(val, test, costs, methods, budgets, {"eenet": FAST_EENET})
    assert [(r["method"], r["budget"]) for r in rows] == [(m, b) for m in methods for b in budgets]
    correct = test.correct()
    for r in rows:
        assert set(r) >= {"test_accuracy", "test_cost", "val_cost", "exit_fractions", "fit_seconds"}
        assert sum(r["exit_fractions"]) == pytest.approx(1.0)
        if r["method"] == "oracle":
            assert r["upper_bound"] and r["test_cost"] <= r["budget"] + 1e-9
            # no policy fitted on validation: none of its cost, accuracy or fit time, as the
            # evaluate stage's reports (it was re-run on validation with those labels)
            assert r["val_cost"] is r["val_accuracy"] is r["fit_seconds"] is None
            continue
        assert r["val_cost"] == pytest.approx(r["budget"], rel=0.01)
        assert abs(r["test_cost"] / r["budget"] - 1) < 0.05
        # the oracle at the realised cost is an upper bound on every policy
        at = max(r["test_cost"], r["budget"])
        bound = evaluate_exits(test, _oracle(correct, costs, at), costs)
        assert bound["accuracy"] >= r["test_accuracy"]


def test_split_pair_compares_val_and_test_before_the_costs():
    """A test split of other exits than validation's and the costs' was blamed on the costs
    ('test outputs and costs: ...'); val and test are compared first, exits then classes."""
    val, test = make_split_pair(3, 10, 50, 50, seed=1)
    costs = make_costs(3, 1.0, 3.0)
    two = ExitOutputs(test.logits[:2], test.labels)
    with pytest.raises(ArtifactError, match=r"^test outputs: 2 exits, but validation outputs: "
                                            r"3; both must come from the same model$"):
        schedule_sweep(val, two, costs, ["maxprob"], [2.0])
    with pytest.raises(ArtifactError, match=r"^test outputs: 2 exits, but validation outputs: "
                                            r"3; both must come from the same model$"):
        schedule_sweep(val, two, costs[:2], ["maxprob"], [2.0])


def test_sweep_rejects_unknown_method_and_bad_budget():
    val, test = make_split_pair(3, 10, 300, 300, seed=1)
    costs = make_costs(3)
    with pytest.raises(ConfigError, match="^methods: unknown value 'best'; allowed: eenet, "
                                          "entropy, maxprob, oracle, patience$"):
        schedule_sweep(val, test, costs, ["best"], [2.0])
    with pytest.raises(ConfigError, match="budgets.*feasible range"):
        schedule_sweep(val, test, costs, ["maxprob"], [0.1])


def test_a_budget_given_twice_to_the_python_api_is_refused_naming_both(tmp_path):
    """As `eenet schedule --budgets` and the pipeline's `budgets` refuse it: fit_sweep (and so
    schedule_sweep) fitted a repeat twice and gave its rows twice; fit_all fitted it once but
    listed it twice in the index's sweep_ms. A one-line error naming both, before any fit."""
    from eenet.evaluation import fit_sweep
    from eenet.sweep import fit_all

    val, test = make_split_pair(3, 10, 300, 300, seed=1)
    costs = make_costs(3)
    want = (r"^budgets_ms\[0\] \(2\.0\) and budgets_ms\[2\] \(2\) are the same budget "
            r"\(2 ms/sample\); give each budget once$")
    with pytest.raises(ConfigError, match=want):
        fit_sweep(val, costs, ["maxprob"], [2.0, 1.5, 2])
    with pytest.raises(ConfigError, match=want):
        schedule_sweep(val, test, costs, ["maxprob", "oracle"], iter([2.0, 1.5, 2]))
    with pytest.raises(ConfigError, match=r"^sweep_ms\[0\] \(1\.5\) and sweep_ms\[1\] "
                                          r"\(1\.5\) are the same budget \(1\.5 ms/sample\); "
                                          "give each budget once$"):
        fit_all(val, costs, ["maxprob"], [1.5, 1.5], None, tmp_path / "fitted")
    assert not (tmp_path / "fitted").exists()
    # the headline among the sweep's budgets is no repeat: one fit serves both
    index = fit_all(val, costs, ["maxprob"], [1.5, 2.0], 1.5, tmp_path / "both")
    assert index["sweep_ms"] == [1.5, 2.0] and len(index["entries"]) == 2


def test_sweep_is_deterministic():
    val, test = make_split_pair(3, 10, 800, 800, seed=9)
    costs = make_costs(3)
    a = schedule_sweep(val, test, costs, ["eenet", "patience"], [1.8], {"eenet": FAST_EENET})
    b = schedule_sweep(val, test, costs, ["eenet", "patience"], [1.8], {"eenet": FAST_EENET})
    strip = [{k: v for k, v in r.items() if k != "fit_seconds"} for r in a]
    assert strip == [{k: v for k, v in r.items() if k != "fit_seconds"} for r in b]


def test_cached_scores_match_direct_scores():
    """One cache shared by every kind of policy, in an order that mixes them (as
    `evaluate_policies` allows): each gets exactly its own `scores()`. Heuristics of different
    methods, EENet policies whose score is a heuristic's, its learned score or its lookahead
    value, and EENet fitted with other feature options must not be handed each other's
    cached work."""
    import copy

    from eenet.schedulers import fit_policy

    val, test = make_split_pair(3, 10, 600, 600, seed=3)
    costs = make_costs(3)
    lp = test.log_probs()
    policies = []
    for budget in (1.5, 2.5):
        policies += [fit_policy(m, val, costs, budget) for m in ("maxprob", "entropy", "patience")]
    eenet = fit_policy("eenet", val, costs, 1.5, FAST_EENET)
    for source in ("entropy", "learned", "maxprob", "lookahead"):
        policies.append(copy.copy(eenet))
        policies[-1].score_source = source
    fewer = fit_policy("eenet", val, costs, 1.5, {**FAST_EENET, "top_probs": 2,
                                                   "agreement": False})
    fewer.score_source = "learned"
    policies.append(fewer)
    order = np.random.default_rng(0).permutation(len(policies))
    cache: dict = {}
    for i in np.concatenate([order, order[::-1]]):
        np.testing.assert_array_equal(policies[i].scores_cached(lp, cache),
                                      policies[i].scores(lp), err_msg=str(i))
    correct = test.correct()
    shared = evaluate_policies(policies, [1.5] * len(policies), lp, correct, costs)
    for policy, result in zip(policies, shared, strict=True):
        exits = policy.decide(lp)
        assert result["accuracy"] == pytest.approx(100.0 * correct[exits, np.arange(600)].mean())
        assert result["exit_fractions"] == pytest.approx(np.bincount(exits, minlength=3) / 600)


def _cached_policy_case(method: str) -> tuple[FittedPolicy, ExitOutputs, np.ndarray]:
    """A `method` policy fitted on a 3-exit split (EENet deciding by its learned score, which
    caches its features; a heuristic caches its scores), that split and its test
    log-probabilities."""
    val, test = make_split_pair(3, 10, 600, 600, seed=5)
    costs = make_costs(3)
    policy = fit_policy(method, val, costs, 2.0, FAST_EENET if method == "eenet" else None)
    if method == "eenet":
        policy.score_source = "learned"  # the features' cache (a heuristic's: the scores')
    return policy, val, test.log_probs()


@pytest.mark.parametrize("method", ["maxprob", "patience", "eenet"])
def test_a_cache_refuses_log_probabilities_it_was_not_made_for(method):
    """A cache keeps the scores of the first log-probabilities it is given: a part of the split
    (deciding it in parts, each with its first_index) or another split given the same cache
    was decided on those scores, wrongly and without a word (678 of 2000 samples moved). Now a
    one-line ConfigError naming `cache`; the array itself, or a view of all of it, still reads
    the cached scores, the same exits as without a cache."""
    policy, val, lp = _cached_policy_case(method)
    whole = policy.decide(lp)
    cache: dict = {}
    np.testing.assert_array_equal(policy.decide(lp[:, :300], cache=cache), whole[:300])
    with pytest.raises(ConfigError, match=r"^cache: kept for log-probabilities of shape "
                       r"\(3, 300, 10\).*give one cache per split"):
        policy.decide(lp[:, 300:], 300, cache=cache)
    cache = {}
    np.testing.assert_array_equal(policy.decide(lp, cache=cache), whole)
    np.testing.assert_array_equal(policy.decide(lp[:], cache=cache), whole)  # a whole view
    with pytest.raises(ConfigError, match="^cache: "):
        policy.decide(val.log_probs(), cache=cache)


@pytest.mark.parametrize("method", ["entropy", "eenet"])
def test_a_cache_refuses_its_log_probabilities_changed_in_place(method):
    """A cache's scores are those of its log-probabilities when it took them: the same array
    recalibrated in place (a temperature, as a user may try) was decided on the old scores,
    wrongly and without a word. Now a one-line ConfigError naming `cache`; a new cache decides
    the changed array as deciding without one does."""
    policy, _, lp = _cached_policy_case(method)
    cache: dict = {}
    before = policy.decide(lp)
    np.testing.assert_array_equal(policy.decide(lp, cache=cache), before)
    lp /= 3.0
    lp -= np.logaddexp.reduce(lp, axis=-1, keepdims=True)
    recalibrated = policy.decide(lp)
    assert (recalibrated != before).any()  # the kept scores would decide it wrongly
    with pytest.raises(ConfigError, match=r"^cache: its log-probabilities were changed in "
                       r"place after it took them.*give a new cache after changing them$"):
        policy.decide(lp, cache=cache)
    np.testing.assert_array_equal(policy.decide(lp, cache={}), recalibrated)


@pytest.mark.parametrize("order", ["C", "F"])
def test_a_cache_refuses_one_samples_row_changed_in_place(order):
    """One sample's row at one exit replaced in place (its classes' values rotated) is as
    stale as a recalibrated array: the cache checked 4,096 values spread over the array, so
    on 3 exits x 2,000 samples (6,000 rows of 10) 1,904 rows held none of them and a change
    of one passed. Now it checks one value of every row: each such change is the one-line
    ConfigError, whatever the array's memory order (a flat `take` on a C-ordered array, an
    index tuple on another)."""
    val, test = make_split_pair(3, 10, 400, 2000, seed=6)
    policy = fit_policy("entropy", val, make_costs(3), 2.0)
    lp = np.asarray(test.log_probs(), order=order)
    assert lp.flags.c_contiguous == (order == "C")
    for exit_k in range(3):
        for sample in np.linspace(0, lp.shape[1] - 1, 20).astype(int):
            cache: dict = {}
            policy.decide(lp, cache=cache)
            row = lp[exit_k, sample].copy()
            lp[exit_k, sample] = np.roll(row, 1)
            with pytest.raises(ConfigError, match="^cache: its log-probabilities were changed"):
                policy.decide(lp, cache=cache)
            lp[exit_k, sample] = row


def test_evaluate_all_on_outputs_of_another_exit_count_is_one_line(tmp_path):
    """Schedulers fitted for 2 exits, evaluated against a 3-exit latency table and outputs: a
    one-line ArtifactError naming the index (it was numpy's broadcast ValueError)."""
    from eenet.errors import ArtifactError
    from eenet.evaluation import fit_sweep
    from eenet.sweep import INDEX_FILE, save_policies
    from eenet.sweep_evaluation import evaluate_all

    val, test = make_split_pair(3, 10, 200, 200, seed=1)
    two = ExitOutputs(val.logits[:2], val.labels)
    budgets, fitted = fit_sweep(two, [1.0, 2.0], ["maxprob"], [1.5])
    entry = {"method": "maxprob", "budget_ms": budgets[0], "policy": fitted["maxprob"][0]}
    save_policies(tmp_path, [entry], {"headline_ms": 1.5, "costs_ms": [1.0, 2.0]})
    with pytest.raises(ArtifactError, match=r"fitted with costs \[1.0, 2.0\] but the latency table "
                       r"now says \[1.0, 2.0, 3.0\]") as err:
        evaluate_all(test, np.array([1.0, 2.0, 3.0]), tmp_path)
    assert str(err.value).startswith(str(tmp_path / INDEX_FILE))


def test_sweep_names_each_policys_rule(tmp_path):
    """sweep.csv says which rule each fitted policy is: the heuristics' score with the geometric
    plan, EENet's chosen score source and plan (a heuristic's score, its learned score or the
    lookahead stop value), patience's score with its one shared threshold (it said 'patience'
    alone, no plan), the oracle as such."""
    from eenet.schedulers import load_policy
    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import evaluate_all

    val, test = make_split_pair(3, 10, 600, 600, seed=4)
    costs = make_costs(3, 1.0, 3.0)
    index = fit_all(val, costs, ["eenet", "maxprob", "entropy", "patience"], [1.4], 2.2,
                    tmp_path, settings={"eenet": FAST_EENET})
    _, sweep = evaluate_all(test, costs, tmp_path)
    for entry in index["entries"]:
        row = sweep[(sweep["method"] == entry["method"])
                    & np.isclose(sweep["budget_ms"], entry["budget_ms"])].iloc[0]
        policy = load_policy(tmp_path / entry["dir"])
        expected = {"maxprob": "maxprob / geometric", "entropy": "entropy / geometric",
                    "patience": "patience / shared_threshold",
                    "eenet": f"{getattr(policy, 'score_source', '')} / "
                             f"{getattr(policy, 'plan_source', '')}"}[entry["method"]]
        assert row["rule"] == expected
    assert set(sweep.loc[sweep["method"] == "oracle", "rule"]) == {"oracle (knows the labels)"}


def test_evaluate_all_takes_the_test_splits_log_softmax_once(tmp_path, monkeypatch):
    """The evaluate stage checked the outputs and took the whole test split's log-softmax
    again for every policy and every oracle budget (an audit measured 61 passes, 15x the
    time, at 100k samples); it takes it once, and its rows are those of `evaluate_exits`."""
    from eenet import outputs
    from eenet.evaluation import evaluate_exits
    from eenet.schedulers import load_policy
    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import evaluate_all

    val, test = make_split_pair(3, 10, 400, 500, seed=5)
    costs = make_costs(3, 1.0, 3.0)
    index = fit_all(val, costs, ["maxprob", "entropy", "patience"], [1.4, 1.8, 2.6], 2.2,
                    tmp_path)
    passes = []
    softmax = outputs.log_softmax64
    monkeypatch.setattr(outputs, "log_softmax64",
                        lambda logits: passes.append(logits.shape[1]) or softmax(logits))
    _, sweep = evaluate_all(test, costs, tmp_path)
    assert sum(passes) == test.n_samples  # one pass over the split
    monkeypatch.setattr(outputs, "log_softmax64", softmax)
    for entry in index["entries"]:
        policy = load_policy(tmp_path / entry["dir"])
        want = evaluate_exits(test, policy.decide(test.log_probs()), policy.cost_table(costs))
        row = sweep[(sweep["method"] == entry["method"])
                    & (sweep["budget_ms"] == entry["budget_ms"])].iloc[0]
        assert row["test_accuracy"] == pytest.approx(want["accuracy"])
        assert row["test_cost_ms"] == pytest.approx(want["cost_ms"])


def test_headline_metrics_come_from_the_headline_budget_alone(tmp_path):
    """metrics.json's methods are the fits at exactly the index's headline budget: a sweep
    budget a rounding away from it does not overwrite them (np.isclose matched both), and an
    index whose headline has no fit is a one-line error naming it."""
    import json

    from eenet.errors import ArtifactError
    from eenet.sweep import INDEX_FILE, fit_all
    from eenet.sweep_evaluation import evaluate_all

    val, test = make_split_pair(3, 10, 400, 4001, seed=2)
    costs = make_costs(3, 1.0, 3.0)
    headline, near = 1.5, 1.5 * (1 + 1e-9)
    fit_all(val, costs, ["maxprob"], [1.2, near], headline, tmp_path)
    metrics, sweep = evaluate_all(test, costs, tmp_path)
    row = sweep[(sweep["method"] == "maxprob") & (sweep["budget_ms"] == headline)].iloc[0]
    got = metrics["methods"]["maxprob"]
    assert got["test_cost_ms"] == float(row["test_cost_ms"])
    # exact shares of the 4001 samples (4 places cut 0.27675 to 0.2767: no sum of 1)
    assert got["exit_fractions"] == {f"exit{k}": float(row[f"exit{k}_fraction"])
                                     for k in range(3)}
    assert sum(got["exit_fractions"].values()) == pytest.approx(1.0, abs=1e-12)
    assert set(metrics["methods"]) == {"maxprob", "oracle"}
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    index["headline_ms"] = 1.7
    (tmp_path / INDEX_FILE).write_text(json.dumps(index))
    with pytest.raises(ArtifactError, match=r"no fitted scheduler at headline_ms 1.7") as err:
        evaluate_all(test, costs, tmp_path)
    assert "\n" not in str(err.value)


def test_headline_and_sweep_folders_evaluate_as_one(tmp_path):
    """The pipeline's two folders (fit_headline's, fit_schedulers') give the rows one folder of
    the same fits gives, each (method, budget) once; a sweep folder fitted with other costs
    is a one-line error naming that folder."""
    import json

    from eenet.sweep import INDEX_FILE, fit_all
    from eenet.sweep_evaluation import evaluate_all

    val, test = make_split_pair(3, 10, 400, 400, seed=3)
    costs = make_costs(3, 1.0, 3.0)
    fit_all(val, costs, ["maxprob", "entropy"], [1.2, 1.5, 2.4], 1.5, tmp_path / "one")
    fit_all(val, costs, ["maxprob", "entropy"], [], 1.5, tmp_path / "headline")
    fit_all(val, costs, ["maxprob", "entropy"], [1.2, 1.5, 2.4], None, tmp_path / "sweep")
    assert "headline_ms" not in json.loads((tmp_path / "sweep" / INDEX_FILE).read_text())
    metrics, sweep = evaluate_all(test, costs, tmp_path / "one")
    split_metrics, split_sweep = evaluate_all(test, costs, tmp_path / "headline",
                                              tmp_path / "sweep")
    assert split_metrics == metrics
    assert len(split_sweep) == 3 * 3  # two methods and the oracle at three budgets
    pd.testing.assert_frame_equal(split_sweep.drop(columns="fit_seconds"),
                                  sweep.drop(columns="fit_seconds"))
    other_costs = tmp_path / "other"
    fit_all(val, costs * 1.1, ["maxprob"], [1.5], None, other_costs)
    with pytest.raises(ArtifactError, match="^" + re.escape(
            f"{other_costs / INDEX_FILE}: schedulers were fitted with costs")) as err:
        evaluate_all(test, costs, tmp_path / "headline", other_costs)
    assert "\n" not in str(err.value)


def test_sweep_csv_gives_each_method_its_place_in_the_legends(tmp_path):
    """`dvc plots` listed the methods by name (BranchyNet, EENet, MSDNet, Oracle, PABEE), the
    PNG as schedulers.methods lists them, the oracle last: sweep.csv's `method_order`, beside
    `method`, holds each method's place in the PNG's order (plots/by_method.json sorts by it),
    the same on every row of a method, from the headline folder and the sweep's alike; the
    rows stay sorted by method and budget. A method no metrics list comes after, by name."""
    from eenet.report_layout import method_order
    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import evaluate_all, write_reports

    val, test = make_split_pair(3, 10, 300, 300, seed=3)
    costs = make_costs(3, 1.0, 3.0)
    methods = ["patience", "maxprob", "entropy"]  # not by name
    fit_all(val, costs, methods, [], 1.5, tmp_path / "headline")
    fit_all(val, costs, methods, [1.2, 2.4], None, tmp_path / "sweep")
    metrics, sweep = evaluate_all(test, costs, tmp_path / "headline", tmp_path / "sweep")
    paths = (tmp_path / "metrics.json", tmp_path / "sweep.csv")
    write_reports(metrics, sweep, *paths)
    read = pd.read_csv(paths[1])
    assert list(read.columns[:3]) == ["method", "method_order", "budget_ms"]
    places = read.groupby("method")["method_order"].unique()
    assert {m: list(p) for m, p in places.items()} == {
        "patience": [0], "maxprob": [1], "entropy": [2], "oracle": [3]}
    assert list(metrics["methods"]) == sorted(places.index, key=lambda m: places[m][0])
    assert list(read["method"]) == sorted(read["method"]) and len(read) == 4 * 3
    assert method_order(["maxprob", "oracle"], ["patience", "oracle", "entropy"]) == {
        "maxprob": 0, "oracle": 1, "entropy": 2, "patience": 3}


def test_evaluate_reports_are_replaced_together_or_not_at_all(tmp_path, failing_sweep_write):
    """The evaluate stage's outputs are renamed in together after all are written: a failure
    while writing them (the sweep, after the metrics) leaves the old metrics and sweep as they
    were, and no temporary file; a good write replaces both."""
    import json

    import pandas as pd

    from eenet.sweep_evaluation import write_reports

    paths = (tmp_path / "metrics.json", tmp_path / "sweep.csv")
    good = pd.DataFrame({"method": ["maxprob", "oracle"], "budget_ms": [1.0, 1.0]})
    write_reports({"budget_ms": 1.0}, good, *paths)

    def state() -> tuple[str, str]:
        return paths[0].read_text(), paths[1].read_text()

    before = state()
    bad = pd.DataFrame({"method": ["maxprob", failing_sweep_write], "budget_ms": [2.0, 2.0]})
    with pytest.raises(OSError, match=r"No space left on device \(simulated\)"):
        write_reports({"budget_ms": 2.0}, bad, *paths)
    assert state() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "sweep.csv"]
    write_reports({"budget_ms": 3.0}, good.assign(budget_ms=3.0), *paths)
    # both replaced, in full ("3" found anywhere in the sweep's text was checked)
    assert json.loads(paths[0].read_text()) == {"budget_ms": 3.0}
    pd.testing.assert_frame_equal(pd.read_csv(paths[1]), good.assign(budget_ms=3.0))


def _best_by_enumeration(correct: np.ndarray, costs: np.ndarray, budget: float) -> float:
    """Highest accuracy (percent) over every assignment of the samples to exits whose mean
    cost stays within `budget`: the oracle's definition, checked by brute force."""
    import itertools

    n_exits, n = correct.shape
    grid = np.array(list(itertools.product(range(n_exits), repeat=n)))  # [K^N, N]
    within = costs[grid].mean(axis=1) <= budget + 1e-12
    hits = correct[grid, np.arange(n)].sum(axis=1)
    return 100.0 * hits[within].max() / n


@pytest.mark.parametrize("seed", range(6))
def test_oracle_is_the_best_assignment_within_the_budget(seed):
    """On small random instances (uneven exit costs, samples right at some exits only) the
    oracle's accuracy equals the best of all K^N exit assignments within the budget, and its
    own cost stays within it: an upper bound on any policy, and a tight one."""
    rng = np.random.default_rng(seed)
    n_exits, n = 3, 7
    correct = rng.random((n_exits, n)) < np.array([[0.3], [0.5], [0.7]])
    costs = np.sort(rng.uniform(0.5, 5.0, n_exits))
    for budget in np.linspace(costs[0], costs[-1], 9):
        exits = _oracle(correct, costs, budget)
        got = 100.0 * correct[exits, np.arange(n)].mean()
        assert costs[exits].mean() <= budget * (1 + 1e-9)
        assert got == pytest.approx(_best_by_enumeration(correct, costs, budget)), budget


def test_evaluate_all_rows_and_metrics_recompute_from_the_saved_policies(tmp_path):
    """Every sweep row, and metrics.json at the headline, equals what the saved policy's own
    exits give on test, counted by hand: accuracy, cost at the policy's planned costs (a
    charged method's scoring cost included), exit fractions, its validation cost; the oracle
    at each budget; each exit's own accuracy and cost."""
    from eenet.schedulers import load_policy
    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import evaluate_all

    val, test = make_split_pair(3, 10, 600, 500, seed=6)
    costs = make_costs(3, 1.0, 3.0)
    extra = np.array([0.1, 0.2, 0.2])
    index = fit_all(val, costs, ["maxprob", "entropy", "patience"], [1.4, 2.4], 1.9, tmp_path,
                    budget_spec="45%", charged={"entropy": extra})
    metrics, sweep = evaluate_all(test, costs, tmp_path)
    correct, n = test.correct(), test.n_samples
    rows = {(r["method"], r["budget_ms"]): r for r in sweep.to_dict("records")}
    assert len(rows) == len(sweep) == 4 * 3

    def check(row, exits, table):
        assert row["test_accuracy"] == pytest.approx(100.0 * correct[exits, np.arange(n)].mean())
        assert row["test_cost_ms"] == pytest.approx(table[exits].mean())
        fractions = np.bincount(exits, minlength=3) / n
        assert [row[f"exit{k}_fraction"] for k in range(3)] == pytest.approx(fractions)

    for entry in index["entries"]:
        policy = load_policy(tmp_path / entry["dir"])
        row = rows[(entry["method"], entry["budget_ms"])]
        table = costs + extra if entry["method"] == "entropy" else costs
        check(row, policy.decide(test.log_probs()), table)
        assert row["val_cost_ms"] == pytest.approx(policy.val_cost_ms, rel=1e-11)
        got = metrics["methods"][entry["method"]]
        if entry["budget_ms"] == 1.9:
            assert got["test_accuracy"] == pytest.approx(row["test_accuracy"], abs=1e-4)
            assert got["test_cost_ms"] == row["test_cost_ms"]
            assert got["val_cost_ms"] == row["val_cost_ms"]
            assert got["exit_fractions"] == pytest.approx(
                {f"exit{k}": row[f"exit{k}_fraction"] for k in range(3)}, abs=1e-4)
    for budget in (1.4, 1.9, 2.4):
        check(rows[("oracle", budget)], _oracle(correct, costs, budget), costs)
    assert metrics["budget_given"] == "45%" and metrics["budget_ms"] == 1.9
    assert metrics["methods"]["oracle"]["val_cost_ms"] is None
    # each method's rule at the headline (sweep.csv's), and what the numbers rest on
    for method, got in metrics["methods"].items():
        assert got["rule"] == rows[(method, 1.9)]["rule"], method
    assert metrics["methods"]["entropy"]["rule"] == "entropy / geometric"
    assert metrics["methods"]["oracle"]["rule"] == "oracle (knows the labels)"
    assert (metrics["n_val"], metrics["n_test"]) == (600, 500)
    assert metrics["costs_profiled_at"] is None  # costs given as numbers: nowhere recorded
    assert metrics["exits"] == {
        f"exit{k}": {"accuracy": pytest.approx(100.0 * correct[k].mean(), abs=1e-4),
                     "cost_ms": costs[k]}
        for k in range(3)}


def test_metrics_share_no_column_name_with_the_params(tmp_path):
    """`dvc exp show` lists params.yaml's columns beside metrics.json's, and names one that is
    in both by its file: the headline budget as given, metrics.json's `budget` (as params.yaml's
    `budget`), showed as `reports/metrics.json:budget`. It is `budget_given` (as `eenet
    schedule --json` names it), and no metrics.json key is a params.yaml key."""
    import yaml

    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import evaluate_all
    from tests.robust_helpers import ROOT

    val, test = make_split_pair(3, 10, 300, 200, seed=2)
    costs = make_costs(3, 1.0, 3.0)
    fit_all(val, costs, ["maxprob"], [1.5], 2.0, tmp_path, budget_spec="50%")
    metrics, _ = evaluate_all(test, costs, tmp_path)
    assert metrics["budget_given"] == "50%" and "budget" not in metrics
    params = set(dotted_keys(yaml.safe_load((ROOT / "params.yaml").read_text())))
    assert "budget" in params
    assert not set(dotted_keys(metrics)) & params


@pytest.mark.parametrize(("exits", "message"), [
    (np.zeros(3, dtype=np.int64), r"exits: expected one exit index per sample, shape \(200,\); "
                                  r"got shape \(3,\)"),
    (np.full(200, 0.7), "exits: must be integer exit indices, got dtype float64"),
    (np.full(200, 3), r"exits: must lie in \[0, 2\] \(3 exits\), got \[3, 3\]"),
    (np.full(200, -1), r"exits: must lie in \[0, 2\] \(3 exits\), got \[-1, -1\]"),
])
def test_evaluate_exits_checks_the_exits(exits, message):
    """Three exit indices for 200 samples were scored on the first three samples alone,
    fractional ones were truncated, and out-of-range ones were an IndexError or a bincount
    ValueError: each is now a one-line ArtifactError."""
    val, _ = make_split_pair(3, 10, 200, 10, seed=0)
    with pytest.raises(ArtifactError, match=f"^{message}$"):
        evaluate_exits(val, exits, [1.0, 2.0, 3.0])


def test_save_policies_refuses_a_folder_it_would_destroy(tmp_path):
    """The library wrote over any folder (a home folder's files were deleted); `eenet schedule
    --save`'s check now runs in `save_policies` itself. A method name that is a path wrote
    outside the folder; an oracle entry (no policy) was an AttributeError."""
    from eenet.sweep import save_policies

    val, _ = make_split_pair(3, 10, 300, 300, seed=1)
    policy = fit_policy("maxprob", val, np.array([1.0, 2.0, 3.0]), 1.5)
    item = {"method": "maxprob", "budget_ms": 1.5, "policy": policy}
    index = {"headline_ms": 1.5, "costs_ms": [1.0, 2.0, 3.0]}
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("precious")
    with pytest.raises(ConfigError, match=f"^save_policies: {mine} is not empty and holds no "
                                          "index.json of fitted schedulers"):
        save_policies(mine, [item], index)
    assert (mine / "keep.txt").read_text() == "precious"
    with pytest.raises(ConfigError, match=r"^save_policies: method: unknown value "
                                          r"'\.\./\.\./evil'; allowed: eenet"):
        save_policies(tmp_path / "out", [{**item, "method": "../../evil"}], index)
    with pytest.raises(ConfigError, match="^save_policies: maxprob at 1.5: expected a fitted "
                                          r"policy, got None \(the oracle is no policy"):
        save_policies(tmp_path / "out", [{**item, "policy": None}], index)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # nothing written
    with pytest.raises(ConfigError, match="^save_policies: the index needs costs_ms"):
        save_policies(tmp_path / "out", [item], {})  # read_index could not read that folder
    # a generator of items was spent by the checks, and an index of no entries written
    saved = save_policies(tmp_path / "out", (dict(item, budget_ms=b) for b in (1.5, 2.0)),
                          index)
    assert [e["dir"] for e in saved["entries"]] == ["maxprob/00", "maxprob/01"]
    saved = save_policies(tmp_path / "out", [dict(item, budget_ms=np.float32(1.5))], index)
    assert saved["entries"][0]["dir"] == "maxprob/00"  # a numpy budget is written as a number
    save_policies(tmp_path / "out", [item], index)  # a folder of fitted schedulers: replaced
    (tmp_path / "out" / "stranger.txt").write_text("x")
    with pytest.raises(ConfigError, match="holds stranger.txt beside its fitted schedulers"):
        save_policies(tmp_path / "out", [item], index)


def test_sweep_csv_floats_read_back_exactly(tmp_path):
    """sweep.csv and the curve CSVs hold every float exactly: its headline row's budget_ms
    equals metrics.json's (6 significant digits wrote 0.3515695 as 0.351569, so an exact
    join of the two found nothing) and every number equals the sweep's own."""
    import csv
    import json

    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import evaluate_all, write_reports

    val, test = make_split_pair(3, 10, 400, 400, seed=5)
    costs = make_costs(3, 1.0, 3.0) * 0.3515695  # costs and budgets of many digits
    headline = float(costs[0] + (costs[-1] - costs[0]) / 3)
    fit_all(val, costs, ["maxprob", "patience"], [float(costs[0]) * 1.2345678], headline,
            tmp_path / "fits")
    metrics, sweep = evaluate_all(test, costs, tmp_path / "fits")
    paths = (tmp_path / "metrics.json", tmp_path / "sweep.csv")
    write_reports(metrics, sweep, *paths)
    budget = json.loads(paths[0].read_text())["budget_ms"]
    assert budget == headline
    with paths[1].open(newline="") as f:
        budgets = [float(row["budget_ms"]) for row in csv.DictReader(f)]
    assert budget in budgets and set(budgets) == set(sweep["budget_ms"])
    pd.testing.assert_frame_equal(pd.read_csv(paths[1]), sweep, check_exact=True)


def _significant_digits(number: str) -> int:
    """How many significant digits a number written in a report has (0.000123 has 3)."""
    mantissa = number.lstrip("+-").split("e")[0].split("E")[0]
    return len(mantissa.replace(".", "").lstrip("0")) or 1


def test_reports_show_numbers_without_float_sum_noise(tmp_path):
    """A mean cost over a split picks up noise in its last binary digits (0.19508899999999996
    ms in the committed sweep.csv): sweep.csv and metrics.json write every cost,
    fraction and accuracy at most 12 significant digits long, within 1e-11 of the exact mean;
    at least one of those means did carry noise here (else this checks nothing)."""
    import json

    from eenet.schedulers import load_policy
    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import evaluate_all, write_reports

    val, test = make_split_pair(3, 10, 400, 400, seed=5)
    costs = np.array([0.1, 0.25, 0.7])
    index = fit_all(val, costs, ["maxprob", "entropy"], [0.34, 0.46], 0.4, tmp_path / "fits")
    metrics, sweep = evaluate_all(test, costs, tmp_path / "fits")
    paths = (tmp_path / "metrics.json", tmp_path / "sweep.csv")
    write_reports(metrics, sweep, *paths)
    texts = [paths[0].read_text(), paths[1].read_text()]
    numbers = [n for text in texts for n in re.findall(r"-?\d[\d.]*(?:e[+-]?\d+)?", text)]
    assert numbers and max(map(_significant_digits, numbers)) <= 12
    noisy = 0
    rows = {(r["method"], r["budget_ms"]): r for r in sweep.to_dict("records")}
    for entry in index["entries"]:
        exits = load_policy(tmp_path / "fits" / entry["dir"]).decide(test.log_probs())
        exact = float(costs[exits].mean())
        assert rows[(entry["method"], entry["budget_ms"])]["test_cost_ms"] == pytest.approx(
            exact, rel=1e-11)
        noisy += _significant_digits(repr(exact)) > 12
    assert noisy
    assert json.loads(texts[0])["methods"]["maxprob"]["test_cost_ms"] == \
        rows[("maxprob", 0.4)]["test_cost_ms"]


def test_dvc_metrics_show_every_per_exit_value_the_evaluate_stage_writes(tmp_path):
    """`dvc metrics show` / `diff` and `dvc exp show` drop lists: metrics.json's exits (each
    exit's test accuracy and cost) and each method's exit_fractions never showed. Each is
    keyed by exit now, and `dvc metrics show --json` on the evaluate stage's real output shows
    every one of them, value by value (the real pipeline's dvc.yaml and its measure report:
    test_pipeline.py)."""
    import json
    import os
    import subprocess
    import sys

    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import evaluate_all, write_reports

    val, test = make_split_pair(3, 10, 400, 300, seed=5)
    costs = make_costs(3, 1.0, 3.0)
    profiled_at = {"device": "cpu", "batch_size": 1, "threads": 1}  # as costs_profiled_at
    fit_all(val, costs, ["maxprob"], [1.5], 2.0, tmp_path / "fits", profiled_at=profiled_at)
    metrics, sweep = evaluate_all(test, costs, tmp_path / "fits")
    reports = tmp_path / "reports"
    write_reports(metrics, sweep, reports / "metrics.json", reports / "sweep.csv")
    written = json.loads((reports / "metrics.json").read_text())
    assert lists_in(written) == []
    (tmp_path / "dvc.yaml").write_text("metrics:\n  - reports/metrics.json\n")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "-q", "--no-scm"], cwd=tmp_path, env=env, check=True)
    shown = json.loads(subprocess.run([*dvc, "metrics", "show", "--json"], cwd=tmp_path,
                                      env=env, check=True, capture_output=True,
                                      text=True).stdout)
    (revision,) = shown.values()
    got = revision["data"]["reports/metrics.json"]["data"]
    accuracy = test.exit_accuracy()
    assert got["exits"] == {f"exit{k}": {"accuracy": round(float(accuracy[k]), 4),
                                         "cost_ms": float(costs[k])} for k in range(3)}
    for method in ("maxprob", "oracle"):
        fractions = got["methods"][method]["exit_fractions"]
        assert list(fractions) == ["exit0", "exit1", "exit2"], method
        assert fractions == written["methods"][method]["exit_fractions"]
        assert sum(fractions.values()) == pytest.approx(1.0)
    # the context shows too, text included: each method's rule, the sample counts and where
    # the costs were profiled (the index's costs_profiled_at)
    assert got["methods"]["maxprob"]["rule"] == "maxprob / geometric"
    assert got["methods"]["oracle"]["rule"] == "oracle (knows the labels)"
    assert (got["n_val"], got["n_test"]) == (400, 300)
    assert got["costs_profiled_at"] == profiled_at


def test_oracle_curve_by_hand():
    """The hand outputs: exit 0 right on 2 of 4 samples, exit 1 right on 2 of the others.
    The oracle's break points are everyone at exit 0 (50 % at 1 ms) and both movable samples
    at exit 1 (100 % at 2 ms), then flat to the last exit's cost."""
    from eenet.evaluation import oracle_curve

    points = oracle_curve(_hand_outputs(), [1.0, 3.0])
    assert [(p["budget_ms"], p["accuracy"], p["cost_ms"]) for p in points] == [
        (1.0, 50.0, 1.0), (2.0, 100.0, 2.0), (3.0, 100.0, 2.0)]
    assert [p["exit_fractions"] for p in points] == [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]]


@pytest.mark.parametrize("seed", range(3))
def test_oracle_curve_is_the_bound_between_its_break_points(seed):
    """The oracle's accuracy against the budget, drawn through its break points, is the bound:
    at each break point the oracle (and the best of all assignments within that budget)
    reaches it; at any budget between two, the oracle lies on the straight line joining them
    to within one sample, never above it. The line through a sweep's budgets alone (what the
    plot drew) ran up to several points below it."""
    from eenet.evaluation import oracle_curve

    out, costs = make_exit_outputs(4, 10, 400, seed=seed), make_costs(4)
    correct, n = out.correct(), out.n_samples
    points = oracle_curve(out, costs)
    x = np.array([p["budget_ms"] for p in points])
    y = np.array([p["accuracy"] for p in points])
    assert x[0] == costs[0] and x[-1] == costs[-1] and len(points) >= 3
    assert (np.diff(x) > 0).all() and (np.diff(y) >= 0).all()
    assert y[-1] == pytest.approx(100.0 * correct.any(0).mean())
    for p in points:
        exits = _oracle(correct, costs, p["budget_ms"] * (1 + 1e-12))
        assert evaluate_exits(out, exits, costs)["accuracy"] == p["accuracy"]
        assert p["cost_ms"] <= p["budget_ms"] + 1e-12
    budgets = np.linspace(costs[0], costs[-1], 301)
    got = np.array([evaluate_exits(out, _oracle(correct, costs, b), costs)["accuracy"]
                    for b in budgets])
    line = np.interp(budgets, x, y)
    assert (got <= line + 1e-9).all() and (got >= line - 100.0 / n - 1e-9).all()
    coarse = np.linspace(costs[0], costs[-1], 5)  # a sweep's few budgets
    coarse_acc = [evaluate_exits(out, _oracle(correct, costs, b), costs)["accuracy"]
                  for b in coarse]
    assert (line - np.interp(budgets, coarse, coarse_acc)).max() > 1.0


def test_evaluate_stage_writes_the_oracles_exact_curve(tmp_path):
    """The evaluate stage's oracle_curve.csv (written with the other reports) holds the
    oracle's break points in sweep.csv's columns: every oracle row of the sweep lies on the
    line through them (to within one sample, never above), and the files read back exactly."""
    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import evaluate_all, oracle_curve_table, write_reports

    val, test = make_split_pair(3, 10, 400, 500, seed=5)
    costs = make_costs(3, 1.0, 3.0)
    fit_all(val, costs, ["maxprob"], [1.2, 1.6, 2.4], 2.0, tmp_path / "fits")
    metrics, sweep = evaluate_all(test, costs, tmp_path / "fits")
    curve = oracle_curve_table(test, costs)
    paths = (tmp_path / "metrics.json", tmp_path / "sweep.csv")
    write_reports(metrics, sweep, *paths, curve, tmp_path / "oracle_curve.csv")
    read = pd.read_csv(tmp_path / "oracle_curve.csv")
    pd.testing.assert_frame_equal(read, curve, check_exact=True)
    assert list(read.columns) == [c for c in sweep.columns if c in read.columns]
    assert set(read["method"]) == {"oracle"} and read["budget_ms"].is_monotonic_increasing
    oracle = sweep[sweep["method"] == "oracle"]
    line = np.interp(oracle["budget_ms"], read["budget_ms"], read["test_accuracy"])
    assert (oracle["test_accuracy"] <= line + 1e-9).all()
    assert (oracle["test_accuracy"] >= line - 100.0 / test.n_samples - 1e-9).all()
    with pytest.raises(TypeError, match="give both oracle and oracle_csv"):
        write_reports(metrics, sweep, *paths, curve)


def test_oracle_curve_rows_are_afforded_at_the_budget_they_state():
    """Each oracle_curve.csv row read as sweep.csv's are: the oracle at the row's budget_ms
    reaches the row's accuracy. Budgets rounded to the nearest 12 digits fell below the cost of
    a point's last move (about one row in six on random outputs with tidy costs: a sample
    fewer than the row said); rounded up they never do, the first row is the first exit's cost
    exactly and the last the full model's."""
    from eenet.rounding import tidy_up
    from eenet.sweep_evaluation import oracle_curve_table

    assert tidy_up(0.1234567890123456) == 0.123456789013
    assert tidy_up(0.123456789012) == 0.123456789012
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(300):
        n = int(rng.integers(3, 60))
        correct = rng.random((3, n)) < 0.5
        logits = np.where(correct[..., None], [5.0, 0.0], [0.0, 5.0]).astype(np.float32)
        out = ExitOutputs(logits, np.zeros(n, np.int64))
        costs = np.round(np.sort(rng.uniform(0.1, 1.0, 3)).cumsum(), 7)  # tidy, as a profile's
        table = oracle_curve_table(out, costs)
        assert table["budget_ms"].iloc[0] == costs[0] and table["budget_ms"].iloc[-1] == costs[-1]
        for row in table.itertuples():
            got = evaluate_exits(out, oracle_exits(out, costs, row.budget_ms), costs)
            assert got["accuracy"] == pytest.approx(row.test_accuracy, abs=1e-9), (n, costs, row)
            checked += 1
    assert checked > 900


def test_evaluate_stage_writes_each_exits_cost_and_accuracy_as_metrics_json_does(
    tmp_path, failing_sweep_write
):
    """The evaluate stage's exits.csv: one row per exit (0-based), its cumulative cost from
    the latency table and its test accuracy (%) alone, the very numbers metrics.json's `exits`
    records (costs of many digits, tidy there, are tidy here too: 12 significant digits at
    most), each accuracy the test outputs' own. Written with the other reports: a failure
    while writing them leaves the old table."""
    import json
    import runpy

    from eenet.outputs import save_exit_outputs
    from eenet.rounding import tidy
    from eenet.sweep import fit_all
    from eenet.sweep_evaluation import write_reports
    from tests.robust_helpers import ROOT

    val, test = make_split_pair(3, 10, 400, 500, seed=5)
    costs = make_costs(3, 1.0, 3.0) * 0.3515695  # more than 12 significant digits
    fit_all(val, costs, ["maxprob"], [1.2 * costs[0]], 1.5 * costs[0], tmp_path / "headline")
    fit_all(val, costs, ["maxprob"], [2.0 * costs[0]], None, tmp_path / "schedulers")
    save_exit_outputs(tmp_path / "test.npz", test)
    (tmp_path / "latency.json").write_text(json.dumps({"cumulative_ms": costs.tolist()}))
    reports = tmp_path / "reports"
    paths = [reports / name for name in ("metrics.json", "sweep.csv", "oracle_curve.csv",
                                         "summary.md", "exits.csv")]
    main = runpy.run_path(str(ROOT / "stages" / "evaluate.py"))["main"]
    main(str(tmp_path / "test.npz"), str(tmp_path / "latency.json"), str(tmp_path / "headline"),
         str(tmp_path / "schedulers"), *map(str, paths))
    text = paths[-1].read_text()
    lines = text.splitlines()
    assert lines[0] == "exit,cost_ms,test_accuracy" and len(lines) == 1 + 3
    assert all(_significant_digits(n) <= 12 for line in lines[1:] for n in line.split(","))
    table = pd.read_csv(paths[-1])
    assert table["exit"].tolist() == [0, 1, 2]
    metrics = json.loads(paths[0].read_text())
    assert table["cost_ms"].tolist() == [e["cost_ms"] for e in metrics["exits"].values()]
    assert table["test_accuracy"].tolist() == [e["accuracy"] for e in metrics["exits"].values()]
    assert table["cost_ms"].tolist() == [tidy(c) for c in costs]
    assert table["cost_ms"].tolist() != costs.tolist()  # (so tidy was needed: checked above)
    assert table["test_accuracy"].tolist() == [round(float(a), 4)
                                               for a in test.exit_accuracy()]
    sweep = pd.read_csv(paths[1])
    bad = sweep.assign(method=failing_sweep_write)
    with pytest.raises(OSError, match="simulated"):
        write_reports({**metrics, "exits": {"exit0": {"accuracy": 1.0, "cost_ms": 1.0}}}, bad,
                      *paths[:2], exits_csv=paths[-1])
    assert paths[-1].read_text() == text
    assert sorted(p.name for p in reports.iterdir()) == sorted(p.name for p in paths)


def test_evaluate_stage_prints_each_accuracy_as_summary_md_shows_it(tmp_path, capsys):
    """The evaluate stage prints each method's headline accuracy at 3 decimals, as summary.md
    shows it. It printed metrics.json's, already rounded to 4 decimals: 1902 of 2200 samples
    right (86.4545454.. %) was 86.4545 there and printed 86.454, beside summary.md's 86.455."""
    import json
    import runpy
    from pathlib import Path

    from eenet.outputs import save_exit_outputs
    from eenet.sweep import fit_all
    from tests.robust_helpers import ROOT

    def outputs(n: int, right: int) -> ExitOutputs:
        """Two exits of two classes, every label 0: exit 0 right on the first half, the last
        exit on the first `right` samples, each sure of its answer."""
        logits = np.zeros((2, n, 2), np.float32)
        logits[0, : n // 2, 0] = logits[0, n // 2:, 1] = 4.0
        logits[1, :right, 0] = logits[1, right:, 1] = 4.0
        return ExitOutputs(logits, np.zeros(n, np.int64))

    costs = np.array([1.0, 2.0])
    val, test = outputs(400, 350), outputs(2200, 1902)
    fit_all(val, costs, ["maxprob"], [], 2.0, tmp_path / "headline", budget_spec="100%")
    fit_all(val, costs, ["maxprob"], [1.5], None, tmp_path / "schedulers")
    save_exit_outputs(tmp_path / "test.npz", test)
    (tmp_path / "latency.json").write_text(json.dumps({"cumulative_ms": costs.tolist()}))
    paths = [str(tmp_path / name) for name in ("metrics.json", "sweep.csv", "oracle_curve.csv",
                                               "summary.md", "exits.csv")]
    runpy.run_path(str(ROOT / "stages" / "evaluate.py"))["main"](
        str(tmp_path / "test.npz"), str(tmp_path / "latency.json"), str(tmp_path / "headline"),
        str(tmp_path / "schedulers"), *paths)
    printed = capsys.readouterr().out
    metrics = json.loads(Path(paths[0]).read_text())
    assert metrics["methods"]["maxprob"]["test_accuracy"] == 86.4545  # 1902 of 2200
    assert "| **100% = 2** (headline) | 100.0 | 86.455 | 86.455 |" in Path(paths[3]).read_text()
    shown = dict(re.findall(r"^ *(\w+): +([0-9.]+)% at .* \(budget 100% = 2 ms\)$", printed,
                            re.MULTILINE))
    assert shown == {"maxprob": "86.455", "oracle": "86.455"}, printed


def _evaluation_case() -> tuple[FittedPolicy, ExitOutputs]:
    """A max p policy fitted at 1.8 on a 3-exit split, and its test split (1,500 samples:
    more than decide's check of the first 1,024 reads)."""
    val, test = make_split_pair(3, 10, 300, 1500, seed=2)
    return fit_policy("maxprob", val, make_costs(3), 1.8), test


def _with_nan(lp: np.ndarray) -> np.ndarray:
    """`lp` with NaN at exit 1, sample 1400: past the rows decide's check reads."""
    lp = lp.copy()
    lp[1, 1400, 3] = np.nan
    return lp


@pytest.mark.parametrize(("args", "error", "message"), [
    (lambda p, t: ([p], [1.8], t.logits.astype(np.float64), t.correct(), make_costs(3)),
     ArtifactError, r"^log_probs: expected log-probabilities \[exits, samples, classes\]"),
    (lambda p, t: ([p], [1.8], t.log_probs().astype(np.float32), t.correct(), make_costs(3)),
     ArtifactError, r"^maxprob policy: expected float64 log-probabilities, got float32"),
    (lambda p, t: ([p], [1.8], _with_nan(t.log_probs()), t.correct(), make_costs(3)),
     ArtifactError, r"^log_probs: log-probabilities hold NaN at exit 1, sample 1400 \(1 of "
                    r"4500 rows hold NaN, \+inf or only -inf\)"),
    (lambda p, t: ([p, None], [1.8], t.log_probs(), t.correct(), make_costs(3)),
     ConfigError, r"^budgets_ms: 1 budgets for 2 policies; give one budget per policy"),
    (lambda p, t: ([p], [1.8], t, t.correct(), make_costs(3)),
     ArtifactError, r"^log_probs: expected .*got ExitOutputs: pass outputs\.log_probs\(\)"),
    (lambda p, t: ([p], [1.8], t.log_probs(), t.correct()[:, :10], make_costs(3)),
     ArtifactError, r"^correct: expected bool hits of shape \(3, 1500\) .*got bool \(3, 10\)$"),
    (lambda p, t: ([p], [1.8], t.log_probs(), t.correct().astype(int), make_costs(3)),
     ArtifactError, r"^correct: expected bool hits of shape \(3, 1500\) .*got int64 \(3, 1500\)$"),
    (lambda p, t: ([None], [1.8], t.log_probs(), t.correct(), make_costs(2)),
     ArtifactError, r"^log_probs: 3 exits, but costs list 2$"),
    (lambda p, t: ([None], [0.5], t.log_probs(), t.correct(), make_costs(3)),
     ConfigError, r"^budgets_ms\[0\]: 0\.5 ms/sample is below the first exit's cost"),
], ids=["raw logits", "float32", "nan", "lengths", "outputs", "correct shape", "correct ints",
        "costs", "oracle budget"])
def test_evaluate_policies_refuses_what_decide_refuses_in_one_line(args, error, message):
    """evaluate_policies decided straight from the scores, checking nothing: raw logits gave
    51.67 % at 1.0 ms (everyone at exit 0) without a word, as did float32 or NaN
    log-probabilities; lists of other lengths, an ExitOutputs, hits of another shape or
    costs of another exit count were zip's ValueError, an AttributeError or an IndexError,
    and an oracle budget below the first exit's cost passed. Now each is one line naming
    the argument, and what it takes still gives the figures it gave."""
    policy, test = _evaluation_case()
    with pytest.raises(error, match=message) as caught:
        evaluate_policies(*args(policy, test))
    assert "\n" not in str(caught.value)
    [result, oracle] = evaluate_policies([policy, None], [1.8, 1.8], test.log_probs(),
                                         test.correct(), make_costs(3))
    assert result == evaluate_exits(test, policy.exits_for(test), make_costs(3))
    assert oracle == evaluate_exits(test, oracle_exits(test, make_costs(3), 1.8), make_costs(3))


@pytest.mark.parametrize("answer", ["exit_accuracy", "predictions", "correct", "log_probs",
                                    "probs", "log_probs_and_correct"])
def test_exit_outputs_answers_refuse_logits_without_an_answer(answer):
    """A NaN logit gave `ExitOutputs.exit_accuracy()` (and the predictions, hits and
    log-probabilities it comes from) a silent number for that exit; every other use of the
    outputs refuses it in one line."""
    outputs = make_exit_outputs(3, 4, 10, seed=0)
    logits = outputs.logits.copy()
    logits[1, 3, 2] = np.nan
    broken = ExitOutputs(logits, outputs.labels)
    message = "exit outputs: logits hold NaN at exit 1, sample 3 (1 of 30 rows hold NaN"
    with pytest.raises(ArtifactError, match=re.escape(message)):
        getattr(broken, answer)()
    getattr(outputs, answer)()  # finite logits answer
