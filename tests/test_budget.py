"""Budgets in ms or 'N%', and the sweep, as fit_headline and fit_schedulers resolve them."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from eenet.budget import distinct_digits, resolve_budget, resolve_sweep, resolve_sweep_and_given
from eenet.errors import ConfigError
from eenet.jsonio import write_json
from eenet.latency_table import save_latency
from eenet.outputs import ExitOutputs, save_exit_outputs
from eenet.rounding import tidy
from eenet.schedulers.plans import no_early_exit_note
from eenet.sweep_evaluation import evaluate_all
from eenet.synthetic import make_split_pair
from tests.robust_helpers import ROOT, tiny_params, write_params

# 0.1 + 1.0 * (0.41 - 0.1) is 0.40999999999999992 in floating point
COSTS = [0.1, 0.25, 0.41]


def test_hundred_percent_is_the_full_models_cost() -> None:
    assert resolve_budget("100%", COSTS) == 0.41
    assert resolve_budget("0%", COSTS) == 0.1
    assert resolve_sweep("auto", COSTS)[-1] == resolve_budget("100%", COSTS)


def _fitting_inputs(folder: Path, monkeypatch: pytest.MonkeyPatch) -> ExitOutputs:
    """The fit stages' inputs in `folder`, made the working folder: val.npz, latency.json of
    COSTS and uncharged scoring tables; returns the matching test outputs."""
    val, test = make_split_pair(n_exits=3, n_classes=10, n_val=300, n_test=50)
    save_exit_outputs(folder / "val.npz", val)
    save_latency(folder / "latency.json", {"cumulative_ms": COSTS, "source": "test"})
    for name in ("scoring.json", "scoring_eenet.json"):
        write_json(folder / name, {"charged": False, "extra_ms": {}})
    monkeypatch.chdir(folder)
    return test


def test_stage_at_hundred_percent_needs_no_early_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """budget: 100% with budgets: auto is the sweep's last point: fit_headline fits it (and
    says no early exit is needed), fit_schedulers fits it again as the sweep's last budget, at
    exactly the same ms, and evaluation counts each method there once."""
    params = tiny_params(budget="100%", budgets="auto")
    params["schedulers"]["methods"] = ["maxprob"]
    write_params(tmp_path, params)
    test = _fitting_inputs(tmp_path, monkeypatch)
    for stage, out in (("fit_headline", "headline"), ("fit_schedulers", "schedulers")):
        main = runpy.run_path(str(ROOT / "stages" / f"{stage}.py"))["main"]
        main("val.npz", "latency.json", "scoring.json", "scoring_eenet.json", out)
    headline = json.loads((tmp_path / "headline" / "index.json").read_text())
    assert headline["headline_ms"] == 0.41
    assert [e["budget_ms"] for e in headline["entries"]] == [0.41]
    out = capsys.readouterr().out
    assert "no early exit is needed" in out
    assert "'N%'" not in out  # 100% is no forgotten '%'
    # not "1 schedulers"; the budget as set, as summary.md and the plots give it
    assert "fitted 1 scheduler at the headline budget 100% = 0.41 ms/sample" in out
    assert "fitted 12 schedulers at 12 sweep budgets" in out
    sweep = json.loads((tmp_path / "schedulers" / "index.json").read_text())
    assert "headline_ms" not in sweep
    budgets = [e["budget_ms"] for e in sweep["entries"]]
    assert len(budgets) == 12 and np.all(np.diff(budgets) > 0.01) and budgets[-1] == 0.41
    _, rows = evaluate_all(test, np.asarray(COSTS), "headline", "schedulers")
    assert rows.groupby("method").size().to_dict() == {"maxprob": 12, "oracle": 12}


def test_stage_lines_give_the_budget_as_set_and_accuracy_as_summary_md(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-S budget=30%` prints '30% = <ms>' in fit_headline's and evaluate's lines, as
    summary.md's headline row and the plots label it (both printed the ms alone); a budget set
    in ms prints the ms alone. evaluate prints each method's accuracy to summary.md's 3
    decimals, metrics.json's number (97.925 % printed as 97.92 %)."""
    test = _fitting_inputs(tmp_path, monkeypatch)
    save_exit_outputs(tmp_path / "test.npz", test)
    stages = {name: runpy.run_path(str(ROOT / "stages" / f"{name}.py"))["main"]
              for name in ("fit_headline", "fit_schedulers", "evaluate")}
    reports = [f"reports/{name}" for name in ("metrics.json", "sweep.csv", "oracle_curve.csv",
                                               "summary.md", "exits.csv")]
    for budget, shown in (("30%", "30% = 0.193"), (0.3, "0.3")):
        params = tiny_params(budget=budget, budgets=[0.2])
        params["schedulers"]["methods"] = ["maxprob"]
        write_params(tmp_path, params)
        for stage, out in (("fit_headline", "headline"), ("fit_schedulers", "schedulers")):
            stages[stage]("val.npz", "latency.json", "scoring.json", "scoring_eenet.json", out)
        stages["evaluate"]("test.npz", "latency.json", "headline", "schedulers", *reports)
        out = capsys.readouterr().out
        assert f"fitted 1 scheduler at the headline budget {shown} ms/sample" in out
        metrics = json.loads((tmp_path / reports[0]).read_text())
        for method, values in metrics["methods"].items():
            assert (f"{method:>9}: {values['test_accuracy']:7.3f}% at "
                    f"{values['test_cost_ms']:#.4g} ms (budget {shown} ms)") in out.splitlines()
        assert f"**{shown}** (headline)" in (tmp_path / reports[3]).read_text()


def test_fit_schedulers_notes_sweep_budgets_above_the_full_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sweep budgets above the last exit's cost run the full model (fit_headline said so for
    the headline budget, fit_schedulers said nothing of the sweep's): one note names them;
    `auto`, whose top point is the last exit's cost itself, gives none."""
    _fitting_inputs(tmp_path, monkeypatch)
    main = runpy.run_path(str(ROOT / "stages" / "fit_schedulers.py"))["main"]
    for budgets, note in (([0.2, 0.5, 0.9], "budgets 0.5, 0.9 ms/sample are above"),
                          ([0.2, 0.9], "budget 0.9 ms/sample is above"), ("auto", None)):
        params = tiny_params(budgets=budgets)
        params["schedulers"]["methods"] = ["maxprob"]
        write_params(tmp_path, params)
        main("val.npz", "latency.json", "scoring.json", "scoring_eenet.json", "schedulers")
        out = capsys.readouterr().out
        if note is None:
            assert "note" not in out
        else:
            assert f"  note: {note} the last exit's cost (0.41 ms): no early exit is needed" \
                in out


def test_percent_budgets_interpolate_between_the_first_and_last_exit() -> None:
    """'N%' is N percent of the way from the first exit's cost to the last's (costs 1, 2, 5:
    the range is 4 ms wide, so 25% is 2 ms, 50% 3 ms); numbers and numeric text are ms."""
    costs = [1.0, 2.0, 5.0]
    assert resolve_budget("25%", costs) == 2.0
    assert resolve_budget(" 50% ", costs) == 3.0
    assert resolve_budget("12.5%", costs) == 1.5
    assert resolve_budget("2.5", costs) == 2.5
    assert resolve_budget(7, costs) == 7.0  # above the full model: allowed (no early exit)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("150%", r"^budget: '150%' is outside 0%\.\.100%; feasible range: 1 to 5 ms/sample, "
                 r"or 0% to 100%$"),
        ("-5%", r"^budget: '-5%' is outside 0%\.\.100%"),
        # just past either end: the range is closed, with no tolerance
        ("100.5%", r"^budget: '100\.5%' is outside 0%\.\.100%"),
        ("-0.5%", r"^budget: '-0\.5%' is outside 0%\.\.100%"),
        ("half%", r"^budget: 'half%' is not a percentage like '50%'$"),
        ("fast", r"^budget: expected ms/sample or 'N%', got 'fast'$"),
        # a unit written after the number was refused without saying that was the trouble
        ("2ms", r"^budget: expected ms/sample or 'N%', got '2ms'; write a number without a "
                r"unit: budgets are in the costs' unit, ms$"),
        ("1.5e-3 ms / sample", r"^budget: expected ms/sample or 'N%', got '1\.5e-3 ms / sample'; "
                               r"write a number without a unit"),
        (True, r"^budget: expected ms/sample or 'N%', got True$"),
        # numpy's bool was taken as a budget of 1 ms/sample
        (np.True_, r"^budget: expected ms/sample or 'N%', got np\.True_$"),
        (0.5, r"^budget: 0\.5 ms/sample is below the first exit's cost; feasible range: 1 to 5"),
        # it read "1 ms/sample is below the first exit's cost; feasible range: 1 to 5"
        (0.99999, r"^budget: 0\.99999 ms/sample is below the first exit's cost; feasible range: "
                  r"1 to 5 ms/sample, or 0% to 100%$"),
        # a text beyond float64's range was shown as what it overflowed to, inf
        (" 1e400", r"^budget: 1e400 is not a finite number of ms/sample; feasible range: 1 to "
                   r"5 ms/sample, or 0% to 100%$"),
        ("-1E999", r"^budget: -1E999 is not a finite number of ms/sample"),
        (float("inf"), r"^budget: inf is not a finite number of ms/sample"),
    ],
)
def test_malformed_or_infeasible_budgets_are_one_line_errors(spec, message) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_budget(spec, [1.0, 2.0, 5.0])


def test_sweep_is_sorted_ms_and_auto_spans_the_range() -> None:
    costs = [1.0, 2.0, 5.0]
    assert resolve_sweep(["50%", 2.0, 5, "3.5"], costs) == [2.0, 3.0, 3.5, 5.0]
    auto = resolve_sweep(" AUTO ", costs)
    assert len(auto) == 12 and auto[0] == 1.0 and auto[-1] == 5.0
    np.testing.assert_allclose(np.diff(auto), 4.0 / 11)
    with pytest.raises(ConfigError, match=r"^budgets\[1\]: 0\.5 ms/sample is below"):
        resolve_sweep([2.0, 0.5], costs)
    with pytest.raises(ConfigError, match=r"^budgets: expected 'auto' or a list of budgets"):
        resolve_sweep("all", costs)
    with pytest.raises(ConfigError, match=r"^budgets: expected 'auto' or a non-empty list"):
        resolve_sweep([], costs)


def test_sweep_as_given_pairs_each_budget_with_the_item_that_set_it() -> None:
    """The reports show a sweep budget set as a share as set ('50% = 3'): each budget of the
    resolved sweep, in its order, with the list item that gave it; 'auto' sets none; a bad
    list is the same one-line error as resolve_sweep's."""
    costs = [1.0, 2.0, 5.0]
    spec = ["50%", 2.0, 5, " 75% "]
    assert resolve_sweep(spec, costs) == [2.0, 3.0, 4.0, 5.0]
    assert resolve_sweep_and_given(spec, costs) == (
        [2.0, 3.0, 4.0, 5.0], [2.0, "50%", " 75% ", 5])
    assert resolve_sweep_and_given(" auto ", costs) == (resolve_sweep("auto", costs), None)
    with pytest.raises(ConfigError, match=r"^budgets\[1\]: 0\.5 ms/sample is below"):
        resolve_sweep_and_given([2.0, 0.5], costs)


@pytest.mark.parametrize(("spec", "message"), [
    (["30%", "30%"], "budgets[0] ('30%') and budgets[1] ('30%') are the same budget (2.2 "
                     "ms/sample); give each budget once"),
    ([4.0, "50%", 2.0, "25%"], "budgets[2] (2.0) and budgets[3] ('25%') are the same budget "
                               "(2 ms/sample); give each budget once"),
    ([3, np.float64(3.0)], "budgets[0] (3) and budgets[1] (3.0) are the same budget (3 "
                           "ms/sample); give each budget once"),
])
def test_a_sweep_list_giving_a_budget_twice_is_refused_naming_both(spec, message) -> None:
    """params.yaml's `budgets: ['30%', '30%']` became one budget without a word, where
    `eenet schedule --budgets 30%,30%` refuses it: the same one-line error, naming both items
    as the list gave them and the budget in ms."""
    costs = [1.0, 2.0, 5.0]
    for resolve in (resolve_sweep, resolve_sweep_and_given):
        with pytest.raises(ConfigError) as caught:
            resolve(spec, costs)
        assert str(caught.value) == message


def test_auto_gives_each_of_its_points_once() -> None:
    """'auto' is no list: points of its own that fall together are joined, not refused (one
    exit: one point; a range narrower than the 12 digits its inner points keep: its ends)."""
    assert resolve_sweep_and_given("auto", [4.0]) == ([4.0], None)
    assert resolve_sweep("auto", [1.0, 1.0 + 1e-12]) == [1.0, 1.0 + 1e-12]


def test_budgets_between_the_costs_carry_no_float_sum_noise() -> None:
    """0.1 + 0.4 * (0.7 - 0.1) is 0.33999999999999997 in floating point: "40%" is 0.34, and
    each auto sweep point inside the range is its value at 12 significant digits (what
    index.json, sweep.csv and metrics.json show); the ends stay the costs themselves, even
    costs of float noise (0.30000000000000004 rounded would fall below the first exit)."""
    costs = [0.1, 0.25, 0.7]
    assert repr(0.1 + 0.4 * (0.7 - 0.1)) == "0.33999999999999997"  # the noise removed
    assert resolve_budget("40%", costs) == 0.34
    assert resolve_budget("60%", costs) == 0.46
    auto = resolve_sweep("auto", costs)
    exact = np.linspace(0.1, 0.7, 12)
    np.testing.assert_allclose(auto, exact, rtol=1e-11, atol=0)
    assert [len(repr(b)) for b in auto] != [len(repr(float(b))) for b in exact]
    assert all(b == tidy(b) for b in auto) and auto[0] == 0.1 and auto[-1] == 0.7
    noisy = [0.1 + 0.2, 0.5, 0.1 + 0.7]
    assert resolve_budget("0%", noisy) == noisy[0] and resolve_budget("100%", noisy) == noisy[-1]
    assert resolve_sweep("auto", noisy)[0] == noisy[0]
    assert resolve_budget(0.33999999999999997, costs) == 0.33999999999999997  # typed: as is


def test_auto_sweep_of_one_exit_is_one_budget() -> None:
    """With one exit there is no range: 'auto' is that exit's cost once (index.json's
    sweep_ms listed it 12 times)."""
    assert resolve_sweep("auto", np.array([4.0])) == [4.0]


def test_a_budget_above_the_full_model_says_how_a_share_is_written() -> None:
    """`-S budget=50` on a model of 0.41 ms/sample (50%, its '%' forgotten) fitted every method
    to the last exit and said only that no early exit is needed."""
    note = no_early_exit_note(np.asarray(COSTS), 50.0, "budget")
    assert note is not None and note.endswith("a share of the feasible range is written 'N%'")
    assert "'N%'" not in no_early_exit_note(np.asarray(COSTS), 0.41, "budget")
    assert no_early_exit_note(np.asarray(COSTS), 0.4, "budget") is None


def test_a_budget_far_above_the_full_model_asks_whether_the_costs_are_seconds() -> None:
    """Costs in seconds read as ms (a CSV without its header 's') put every budget in ms far
    above the last exit's cost; the note said only that no early exit is needed. More than
    100 times above it, in ms, it asks, on the same line."""
    hint = "; costs in seconds? a CSV's header line 's' (or 'seconds') converts them to ms"
    costs = np.asarray([0.001, 0.002, 0.003])
    note = no_early_exit_note(costs, 2.0, "--budgets", typed_costs=True)
    assert note is not None and note.endswith(hint + "; a share of the feasible range is "
                                              "written 'N%'")
    assert "\n" not in note
    # 100 times: not above; no time unit; a measured profile (a paper's GPU budget on a fast
    # CPU is far above it, and there is no CSV to fix)
    assert hint not in no_early_exit_note(costs, 0.3, "--budgets", typed_costs=True)
    assert hint not in no_early_exit_note(costs, 2.0, "--budgets", "MFLOPs", typed_costs=True)
    assert hint not in no_early_exit_note(costs, 2.0, "budget")


def test_costs_in_seconds_as_a_comma_list_are_asked_about_without_a_csv_header() -> None:
    """A comma list of seconds (`eenet schedule --costs 0.001,0.002,0.003`) got the CSV's
    advice, a header line 's', which a list cannot have; it is told how a list is given."""
    costs = np.asarray([0.001, 0.002, 0.003])
    note = no_early_exit_note(costs, 2.0, "--budgets", typed_costs=True, listed=True)
    assert note is not None and note.endswith(
        "; costs in seconds? a comma list is read as ms: give it in ms, or say --cost-unit s "
        "and give the budgets in s; a share of the feasible range is written 'N%'")
    assert "header" not in note


def test_distinct_digits_tells_budgets_apart_from_the_exit_costs():
    """Budgets print with the digits that tell them apart from each other and from every exit
    cost they differ from (2.9999 under a last exit of 3); a budget equal to a cost needs none
    more."""
    assert distinct_digits([2.9999, 2.0]) == 4
    assert distinct_digits([2.9999, 2.0], apart_from=[1.0, 2.0, 3.0]) == 5
    assert distinct_digits([3.0, 2.0], apart_from=[1.0, 2.0, 3.0]) == 4
    assert distinct_digits([0.5], apart_from=[0.50000001]) == 8
