"""The evaluate stage's summary.md: accuracy per method and budget, EENet's margin over the
better of max p and entropy with its paired sign-test z, recomputed here from the saved
policies' own exits on a small real run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eenet.errors import ArtifactError, ConfigError
from eenet.schedulers import load_policy
from eenet.significance import paired_z
from eenet.summary import summary_markdown
from eenet.sweep import fit_all
from eenet.sweep_evaluation import evaluate_all, evaluate_folders, write_reports
from eenet.synthetic import make_costs, make_split_pair
from tests.conftest import FAST_EENET

BUDGETS, HEADLINE = [1.3, 1.6, 2.4], 1.9
PROFILED_AT = {"device": "cpu", "batch_size": 1, "threads": 2}
MODEL = {"name": "resnet1d_3", "options": {"widths": [8, 16, 64]}, "num_classes": 10,
         "weights_sha256": "0" * 64}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """EENet, max p and entropy fitted at three sweep budgets and the headline (given as 45%)
    on 600 validation samples, evaluated on 1500 test samples. EENet leaves the heuristics'
    rule on any validation gain (no z bar): it answers other samples than they do."""
    folder = tmp_path_factory.mktemp("fits")
    val, test = make_split_pair(3, 10, 600, 1500, seed=3)
    costs = make_costs(3, 1.0, 3.0)
    index = fit_all(val, costs, ["eenet", "maxprob", "entropy"], BUDGETS, HEADLINE, folder,
                    settings={"eenet": {**FAST_EENET, "switch_z": 0.0, "refine_z": 0.0}},
                    budget_spec="45%", model=MODEL,
                    profiled_at=PROFILED_AT)
    return {"folder": folder, "test": test, "costs": costs, "index": index,
            "evaluation": evaluate_folders(test, costs, folder)}


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    """The markdown table's header and rows, as cell texts."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    assert set(lines[1].replace("|", "")) <= set("-:")  # the alignment row
    return cells[0], cells[2:]


def _own_hits(run: dict[str, Any]) -> dict[tuple[str, float], np.ndarray]:
    """Each saved policy's hits on test, from its own decisions."""
    test = run["test"]
    correct, samples = test.correct(), np.arange(test.n_samples)
    return {(e["method"], e["budget_ms"]):
            correct[load_policy(run["folder"] / e["dir"]).decide(test.log_probs()), samples]
            for e in run["index"]["entries"]}


def test_evaluation_keeps_each_rows_hits_as_its_policy_decides(run):
    """`evaluate_folders` gives `evaluate_all`'s metrics and sweep, and per sweep row the test
    samples its exits answered correctly: the saved policy's own decisions (the oracle's at
    its budget), agreeing with the row's accuracy; and the index's model record."""
    from eenet.evaluation import ORACLE, oracle_exits

    evaluation, test = run["evaluation"], run["test"]
    metrics, sweep = evaluate_all(test, run["costs"], run["folder"])
    assert evaluation.metrics == metrics
    assert evaluation.sweep.equals(sweep)
    assert evaluation.model == MODEL
    own = _own_hits(run)
    correct, samples = test.correct(), np.arange(test.n_samples)
    for budget in [*BUDGETS, HEADLINE]:
        own[(ORACLE, budget)] = correct[oracle_exits(test, run["costs"], budget), samples]
    assert set(evaluation.hits) == {(r.method, r.budget_ms) for r in sweep.itertuples()} == set(own)
    for row in sweep.itertuples():
        got = evaluation.hits[(row.method, row.budget_ms)]
        assert got.dtype == bool and np.array_equal(got, own[(row.method, row.budget_ms)])
        assert 100.0 * got.mean() == pytest.approx(row.test_accuracy, abs=1e-9)


def test_summary_table_gives_each_accuracy_and_eenets_margin_with_its_paired_z(run):
    """One row per sweep budget (the headline's marked, once), its share of the exit range,
    each method's test accuracy, the oracle's labelled an upper bound, and EENet's margin over
    the more accurate of max p and entropy there, with z counted here by hand from the saved
    policies' decisions: (wins - losses) / sqrt(wins + losses)."""
    evaluation = run["evaluation"]
    text = summary_markdown(evaluation.metrics, evaluation.sweep, evaluation.hits, MODEL)
    header, rows = _table(text)
    assert header == ["budget (ms)", "% of exit range", "eenet", "maxprob", "entropy",
                      "oracle (upper bound)", "eenet - better of maxprob / entropy", "z"]
    budgets = sorted([*BUDGETS, HEADLINE])
    assert [row[0] for row in rows] == [  # the headline as set (budget_spec), 45%
        f"**45% = {b:g}** (headline)" if b == HEADLINE else f"{b:g}" for b in budgets]
    assert [row[1] for row in rows] == ["15.0", "30.0", "45.0", "70.0"]  # costs 1 to 3 ms
    accuracy = {(r.method, r.budget_ms): r.test_accuracy for r in evaluation.sweep.itertuples()}
    own = _own_hits(run)
    zs = []
    for budget, row in zip(budgets, rows, strict=True):
        assert row[2:6] == [f"{accuracy[(m, budget)]:.3f}"
                            for m in ("eenet", "maxprob", "entropy", "oracle")]
        rival = max(("maxprob", "entropy"), key=lambda m: accuracy[(m, budget)])
        eenet, other = own[("eenet", budget)], own[(rival, budget)]
        wins, losses = int(np.sum(eenet & ~other)), int(np.sum(~eenet & other))
        margin = 100.0 * (wins - losses) / eenet.size
        assert margin == pytest.approx(accuracy[("eenet", budget)] - accuracy[(rival, budget)])
        assert row[6] == f"{margin:+.3f} (vs {rival})"
        zs.append((wins - losses) / math.sqrt(max(1, wins + losses)))
        assert row[7] == f"{zs[-1]:+.1f}"
    assert any(z != 0 for z in zs)  # the rules differ on some samples: z was counted
    assert "|z| < 2 is within one test draw's noise" in text
    context = text.splitlines()[2]
    for said in ("resnet1d_3 (10 classes)", "n_val = 600", "n_test = 1500",
                 "costs profiled on cpu (batch size 1, threads 2)", "exits at 1 / 2 / 3 ms",
                 "headline budget 45% = 1.9 ms"):
        assert said in context, (said, context)


def test_summary_compares_eenet_with_the_heuristics_that_ran(run):
    """Without max p, EENet's margin is over entropy alone; without EENet (or both
    heuristics) there is no margin, no z and no line explaining it; without a model record
    or a profile the context line says so."""
    evaluation = run["evaluation"]

    def without(*dropped: str) -> str:
        metrics = {**evaluation.metrics, "costs_profiled_at": None,
                   "methods": {m: v for m, v in evaluation.metrics["methods"].items()
                               if m not in dropped}}
        sweep = evaluation.sweep[~evaluation.sweep["method"].isin(dropped)]
        return summary_markdown(metrics, sweep, evaluation.hits)

    header, rows = _table(without("maxprob"))
    assert header[2:] == ["eenet", "entropy", "oracle (upper bound)",
                          "eenet - better of entropy", "z"]
    assert all(row[5].endswith("(vs entropy)") for row in rows)
    for dropped in (("eenet",), ("maxprob", "entropy")):
        text = without(*dropped)
        header, _ = _table(text)
        assert "z" not in header and not any(h.startswith("eenet -") for h in header)
        assert "|z|" not in text
        assert "Model" not in text and "costs not profiled here" in text


def test_paired_z_by_hand():
    """3 samples only the first rule answers, 1 only the second, 4 both or neither: z =
    (3 - 1) / sqrt(4) = 1; swapped -1; identical hits 0 (no division by zero)."""
    first = np.array([1, 1, 1, 0, 1, 1, 0, 0], dtype=bool)
    second = np.array([0, 0, 0, 1, 1, 1, 0, 0], dtype=bool)
    assert paired_z(first, second) == 1.0
    assert paired_z(second, first) == -1.0
    assert paired_z(first, first) == 0.0


def test_evaluate_stage_writes_the_summary_with_the_other_reports(
    run, tmp_path: Path, failing_sweep_write: str
):
    """summary.md is written with the evaluate stage's other reports, renamed in with them: a
    failure while writing them (the sweep, simulated) leaves the old summary;
    summary and path come together."""
    evaluation = run["evaluation"]
    paths = (tmp_path / "metrics.json", tmp_path / "sweep.csv")
    summary = tmp_path / "summary.md"
    text = summary_markdown(evaluation.metrics, evaluation.sweep, evaluation.hits, MODEL)
    write_reports(evaluation.metrics, evaluation.sweep, *paths, summary=text, summary_md=summary)
    assert summary.read_text() == text
    bad = evaluation.sweep.assign(method=failing_sweep_write)
    with pytest.raises(OSError, match="simulated"):
        write_reports(evaluation.metrics, bad, *paths, summary="new", summary_md=summary)
    assert summary.read_text() == text
    with pytest.raises(TypeError, match="give both summary and summary_md"):
        write_reports(evaluation.metrics, evaluation.sweep, *paths, summary=text)


def test_summary_and_oracle_curve_with_costs_of_many_digits(tmp_path: Path):
    """Costs of more than 12 significant digits (given from Python; a profile writes them
    rounded): the oracle curve's first row was rounded up off the first exit's cost, and the
    summary's first budget read -0.0 % of the range (metrics.json's rounded costs against the
    exact budgets). A budget given in ms is said once in the context line, not '0.3 = 0.3 ms'."""
    from eenet.sweep_evaluation import oracle_curve_table

    val, test = make_split_pair(3, 10, 400, 600, seed=4)
    costs = np.array([0.1847433736937233, 0.4123456789012345, 2 / 3])
    assert oracle_curve_table(test, costs)["budget_ms"].iloc[0] == costs[0]
    fit_all(val, costs, ["maxprob", "entropy"], [float(costs[0]), 0.3], 0.3, tmp_path,
            budget_spec=0.3)
    evaluation = evaluate_folders(test, costs, tmp_path)
    text = summary_markdown(evaluation.metrics, evaluation.sweep, evaluation.hits, costs=costs)
    assert [row[1] for row in _table(text)[1]][0] == "0.0"
    assert "headline budget 0.3 ms" in text


def test_a_budget_above_the_full_models_cost_is_said_to_be_so(tmp_path: Path):
    """A headline of 5 ms for a 3 ms model (a forgotten '%': budget=50) showed 200.0 % of the
    exit range (1889.6 for the pipeline's); now 'above 100 (no early exit)', the last exit's
    cost itself still 100.0."""
    val, test = make_split_pair(3, 10, 300, 300, seed=6)
    costs = make_costs(3, 1.0, 3.0)
    fit_all(val, costs, ["maxprob"], [2.0, 3.0], 5.0, tmp_path)
    evaluation = evaluate_folders(test, costs, tmp_path)
    _, rows = _table(summary_markdown(evaluation.metrics, evaluation.sweep, evaluation.hits))
    assert [row[:2] for row in rows] == [["2", "50.0"], ["3", "100.0"],
                                         ["**5** (headline)", "above 100 (no early exit)"]]
    # sweep.csv's budget_capped_ms, the x `dvc plots` draws a row at: 5 ms at the 3 ms it spends
    capped = evaluation.sweep.groupby("budget_ms")["budget_capped_ms"].unique()
    assert {b: list(c) for b, c in capped.items()} == {2.0: [2.0], 3.0: [3.0], 5.0: [3.0]}


def test_sweep_budgets_set_as_shares_show_as_set(tmp_path: Path):
    """summary.md listed `budgets: [1.5, 75%]` as '1.5' and '2.5' (its % column: 75.0),
    leaving a reader to guess which was set and which derived; a budget set as a share now
    reads as set, '75% = 2.5', one set in ms as before, from the index's `sweep_given`
    (an index without it, as 'auto' writes, labels every budget in ms)."""
    val, test = make_split_pair(3, 10, 300, 300, seed=6)
    costs = make_costs(3, 1.0, 3.0)
    fit_all(val, costs, ["maxprob"], [], 2.0, tmp_path / "headline", budget_spec=2.0)
    for name, given in (("set", [1.5, "75%"]), ("auto", None)):
        fit_all(val, costs, ["maxprob"], [1.5, 2.5], None, tmp_path / name, sweep_given=given)
        evaluation = evaluate_folders(test, costs, tmp_path / "headline", tmp_path / name)
        text = summary_markdown(evaluation.metrics, evaluation.sweep, evaluation.hits,
                                given=evaluation.given)
        labels = [row[0] for row in _table(text)[1]]
        assert labels == ["1.5", "**2** (headline)",
                          "75% = 2.5" if given else "2.5"], (name, labels)
    with pytest.raises(ConfigError, match="sweep_given: one per sweep budget"):
        fit_all(val, costs, ["maxprob"], [1.5, 2.5], None, tmp_path / "bad", sweep_given=[1.5])
    index = tmp_path / "set" / "index.json"  # a hand-edited index: one line naming it
    index.write_text(index.read_text().replace('"75%"', '"75%", 3'))
    with pytest.raises(ArtifactError, match=r"index\.json: sweep_given must be a list of one "
                                            r"budget per sweep_ms, got \[1\.5, '75%', 3\]"):
        evaluate_folders(test, costs, tmp_path / "headline", tmp_path / "set")


def test_budget_as_set_reads_old_metrics_files_too():
    """The plot's and the summary's headline label: the budget as set where it was a
    percentage, from `budget_given` or, in a metrics.json written before the rename, `budget`
    (such a file lost its '50% =' label)."""
    from eenet.report_layout import budget_as_set

    assert budget_as_set({"budget_given": "50%"}, "0.27 ms") == "50% = 0.27 ms"
    assert budget_as_set({"budget": " 50% "}, "0.27 ms") == "50% = 0.27 ms"
    assert budget_as_set({"budget_given": 0.3}, "0.3 ms") == "0.3 ms"
    assert budget_as_set({}, "0.3 ms") == "0.3 ms"
