"""Report figures: what a reader comparing methods needs is on them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from eenet import plotting

# a sweep like the committed default's: the oracle saturates long before the last budget;
# max-prob's realised cost misses each budget a little, as on test
SWEEP = pd.DataFrame([
    *({"method": "maxprob", "budget_ms": b, "test_cost_ms": c, "test_accuracy": a}
      for b, c, a in [(0.14, 0.14, 75.0), (0.2, 0.203, 92.0), (0.27, 0.268, 97.3),
                      (0.41, 0.41, 97.9)]),
    *({"method": "oracle", "budget_ms": b, "test_cost_ms": c, "test_accuracy": a}
      for b, c, a in [(0.14, 0.14, 75.0), (0.2, 0.166, 98.6), (0.27, 0.166, 98.6),
                      (0.41, 0.166, 98.6)]),
])
# as the evaluate stage writes it: every per-exit value keyed by exit (dvc shows no lists)
METRICS = {"budget_ms": 0.27,
           "exits": {"exit0": {"accuracy": 75.0, "cost_ms": 0.14},
                     "exit1": {"accuracy": 97.9, "cost_ms": 0.41}},
           "methods": {m: {"exit_fractions": {"exit0": 0.5, "exit1": 0.5}}
                       for m in ("maxprob", "oracle")}}
# the same, as the evaluate stage wrote it before (lists): still read
OLD_METRICS = {"budget_ms": 0.27,
               "exits": [{"accuracy": 75.0, "cost_ms": 0.14}, {"accuracy": 97.9, "cost_ms": 0.41}],
               "methods": {m: {"exit_fractions": [0.5, 0.5]} for m in ("maxprob", "oracle")}}


@pytest.fixture()
def figures(monkeypatch):
    """The figures the plot functions draw, kept open instead of saved."""
    kept = []
    monkeypatch.setattr(plotting, "_save", lambda fig, *paths: kept.append(fig))
    return kept


def _line(fig, label: str):
    return next(line for line in fig.axes[0].get_lines() if line.get_label() == label)


def test_oracle_upper_bound_spans_the_budget_sweep(figures, tmp_path):
    """The oracle's curve reaches the last budget (it ended at its saturated realised cost,
    0.166 ms of a sweep to 0.41, leaving most budgets with no upper bound drawn), never
    decreasing, and is labelled an upper bound."""
    plotting.plot_accuracy_vs_budget(SWEEP, METRICS, tmp_path / "a.png")
    line = _line(figures[0], plotting.LABELS["oracle"])
    x, y = line.get_xdata(), line.get_ydata()
    assert "upper bound" in line.get_label()
    assert max(x) == pytest.approx(0.41) and min(x) == pytest.approx(0.14)
    assert all(b >= a for a, b in zip(y, y[1:], strict=False))
    assert list(x) == sorted(x)


# the oracle's break points for SWEEP's outputs (as the evaluate stage's oracle_curve.csv):
# everyone at exit 0, then every movable sample moved (saturated at 0.166 ms), flat to the end
ORACLE_CURVE = pd.DataFrame(
    [{"method": "oracle", "budget_ms": b, "test_cost_ms": c, "test_accuracy": a}
     for b, c, a in [(0.14, 0.14, 75.0), (0.166, 0.166, 98.6), (0.41, 0.166, 98.6)]])


def test_oracle_is_drawn_through_its_break_points(figures, tmp_path):
    """The oracle, labelled an upper bound, was drawn straight from one sweep budget to the
    next: at its break point (0.166 ms, where it reaches 98.6 %) the line read 85 %, below
    the bound it stands for. Given the evaluate stage's curve, the line runs through the
    break points within the plotted budgets too; its markers stay at the sweep's budgets."""
    curve = pd.concat([ORACLE_CURVE, ORACLE_CURVE.iloc[[1]].assign(budget_ms=0.1)])  # outside
    plotting.plot_accuracy_vs_budget(SWEEP, METRICS, tmp_path / "a.png", curve)
    line = _line(figures[0], plotting.LABELS["oracle"])
    x, y = list(line.get_xdata()), list(line.get_ydata())
    assert x == [0.14, 0.166, 0.2, 0.27, 0.41] and y == [75.0, 98.6, 98.6, 98.6, 98.6]
    assert line.get_markevery() == [0, 2, 3, 4]  # the sweep's points, not the break point
    figures[0].canvas.draw()  # the legend still shows the oracle's marker
    plotting.plot_accuracy_vs_budget(SWEEP, METRICS, tmp_path / "b.png")  # no curve: as before
    assert list(_line(figures[1], plotting.LABELS["oracle"]).get_xdata()) == [0.14, 0.2, 0.27,
                                                                                0.41]


def test_accuracy_png_is_drawn_against_the_budget_as_its_name_says(figures, tmp_path):
    """reports/accuracy_vs_budget.png drew accuracy against the realised test cost, while the
    `dvc plots` view of the same name draws it against the budget. Every method's points are
    now at its budgets (never its realised costs), the axis says so, and exit k alone is at
    budget = its cost."""
    plotting.plot_accuracy_vs_budget(SWEEP, METRICS, tmp_path / "a.png")
    ax = figures[0].axes[0]
    for method, rows in SWEEP.groupby("method"):
        line = _line(figures[0], plotting.LABELS[method])
        assert list(line.get_xdata()) == sorted(rows["budget_ms"]), method
        assert list(line.get_ydata()) == list(rows.sort_values("budget_ms")["test_accuracy"])
    assert ax.get_xlabel() == "budget (ms / sample)"
    stars = ax.collections[0].get_offsets()
    assert stars.tolist() == [[0.14, 75.0], [0.41, 97.9]]
    assert "budget" in ax.get_title() and "realised" not in ax.get_title()


def test_old_list_form_metrics_draw_the_same_figures(figures, tmp_path):
    """metrics.json written before the exits were keyed (lists) is still read and drawn as
    the keyed form is."""
    for metrics in (METRICS, OLD_METRICS):
        read, sweep = plotting.read_report(*_write_report(tmp_path, metrics, SWEEP))
        assert read == metrics
        plotting.plot_accuracy_vs_budget(sweep, read, tmp_path / "a.png")
        plotting.plot_exit_distribution(read, tmp_path / "e.png")
    keyed, old = figures[:2], figures[2:]
    for new_fig, old_fig in zip(keyed, old, strict=True):
        new_ax, old_ax = new_fig.axes[0], old_fig.axes[0]
        assert [(list(n.get_xdata()), list(n.get_ydata())) for n in new_ax.get_lines()] == [
            (list(o.get_xdata()), list(o.get_ydata())) for o in old_ax.get_lines()]
        assert [p.get_height() for p in new_ax.patches] == [p.get_height() for p in old_ax.patches]
    assert len(keyed[1].axes[0].patches) == 4  # 2 methods x 2 exits


def test_dvc_plots_name_their_units_and_the_upper_bound():
    """`dvc plots show` titled its axes with the raw field names (budget_ms, test_accuracy)
    and showed the oracle as one more method; each axis now states its unit and the template
    names the oracle an upper bound. Every file a plot reads is committed."""
    root = Path(__file__).resolve().parents[1]
    plots = yaml.safe_load((root / "dvc.yaml").read_text())["plots"]
    defined = [spec for p in plots if isinstance(p, dict)
               for spec in p.values() if spec.get("template") == "plots/by_method.json"]
    assert defined
    for spec in defined:
        assert "ms / sample" in spec["x_label"] and "(%)" in spec["y_label"], spec
        for path, field in spec["y"].items():
            header = (root / path).read_text().splitlines()[0].split(",")
            assert {spec["x"], field} <= set(header), (path, header)
        template = json.loads((root / spec["template"]).read_text())
        assert plotting.LABELS["oracle"] in json.dumps(template.get("transform", []))


def test_exit_distribution_legend_covers_no_bar(figures, tmp_path):
    """The exit legend sat inside the axes, over the top of the first method's bars."""
    plotting.plot_exit_distribution(METRICS, tmp_path / "e.png")
    fig = figures[0]
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    bars = [patch.get_window_extent() for patch in ax.patches]
    assert bars and not any(legend.overlaps(bar) for bar in bars)


def _template_mapping(template: dict, target: str) -> dict[str, str]:
    """The {from: to} table of the template's calculate transform that makes `target`."""
    expr = next(t["calculate"] for t in template["transform"] if t["as"] == target)
    return dict(re.findall(r"'([^']+)': '([^']+)'", expr))


def test_dvc_plots_show_each_method_as_the_png_does():
    """`dvc plots show` coloured methods by Vega's palette in name order: EENet came out blue
    and max-prob red, the PNG's colours swapped, under raw names (eenet, maxprob) and told
    apart by colour alone. The template now names, colours and marks each method as the PNG
    does (a marker per method: readable in grayscale), and its revision legend shows dashes."""
    from matplotlib.colors import to_hex

    root = Path(__file__).resolve().parents[1]
    template = json.loads((root / "plots" / "by_method.json").read_text())
    labels = _template_mapping(template, "method")
    colours = _template_mapping(template, "method_colour")
    shapes = _template_mapping(template, "method_shape")
    assert labels == plotting.LABELS
    for method, label in plotting.LABELS.items():
        assert colours[label] == to_hex(plotting.STYLES[method]["color"]), method
        assert label in shapes, method
    assert len(set(shapes.values())) == len(shapes)
    # the same marker and line style (the PNG drew the oracle dashed, without markers, the
    # template as a solid line of crosses: its dashes are the revisions')
    vega_shape = {"o": "circle", "s": "square", "^": "triangle-up", "v": "triangle-down",
                  "P": "cross"}
    for method, label in plotting.LABELS.items():
        style = plotting.STYLES[method]
        assert vega_shape[style["marker"]] == shapes[label], method
        assert style.get("ls", "-") == "-", method
    line, points = template["layer"]
    assert points["encoding"]["color"]["field"] == points["encoding"]["shape"]["field"]
    assert line["encoding"]["strokeDash"]["legend"]["symbolType"] == "stroke"
    # every label whole: Vega cuts legend labels at 160 px by default ('BranchyNet (entrop…',
    # 'Oracle (upper boun…'); 0 is no limit
    for channel in ("color", "shape"):
        assert points["encoding"][channel]["legend"]["labelLimit"] == 0, channel


def test_dvc_plots_list_the_methods_in_the_pngs_order():
    """`dvc plots show` listed the methods by name (BranchyNet, EENet, MSDNet, Oracle, PABEE),
    the PNG as schedulers.methods lists them, the oracle last. The template now colours and
    marks each by `method_key`: its place (sweep.csv's `method_order`, the least any revision
    gives it; 999, after the others, where none does, as in reports from before it) before
    its label, so that Vega's ascending order is the PNG's, the legend showing the label alone.
    (A `sort` by method_order on the label itself swapped colours and markers: Vega-Lite
    orders a range read from a field, as method_colour, by the encoded field's values.)"""
    root = Path(__file__).resolve().parents[1]
    template = json.loads((root / "plots" / "by_method.json").read_text())
    steps = template["transform"]
    made = [step.get("as") for step in steps]
    join = next(step for step in steps if "joinaggregate" in step)
    assert join == {"joinaggregate": [{"op": "min", "field": "method_order", "as": "method_rank"}],
                    "groupby": ["method"]}
    # the place read as a number (dvc hands the CSV's values over as text: '10' < '9'), and
    # grouped by the label, which every revision's rows of a method share
    assert steps[made.index("method_order")]["calculate"] == "toNumber(datum.method_order)"
    assert made.index("method") < made.index("method_order") < steps.index(join)
    key = steps[made.index("method_key")]["calculate"]
    assert steps.index(join) < made.index("method_key")
    assert key == ("(isValid(datum.method_rank) ? format(datum.method_rank, '03d') : '999')"
                   " + ' ' + datum.method")
    points = template["layer"][1]["encoding"]
    for channel in ("color", "shape"):
        assert points[channel]["field"] == "method_key", channel
        assert points[channel]["sort"] == "ascending", channel
        # the label after the 3-digit place and its space
        assert points[channel]["legend"]["labelExpr"] == "substring(datum.label, 4)", channel


def test_eenet_stays_visible_where_a_baseline_coincides(figures, tmp_path):
    """At and above the default headline max-prob's curve is EENet's: drawn after it with
    markers of the same size, it hid EENet's markers and most of its line."""
    same = SWEEP[SWEEP["method"] == "maxprob"].assign(method="eenet")
    plotting.plot_accuracy_vs_budget(pd.concat([same, SWEEP]), METRICS, tmp_path / "a.png")
    eenet = _line(figures[0], plotting.LABELS["eenet"])
    maxprob = _line(figures[0], plotting.LABELS["maxprob"])
    assert list(eenet.get_xdata()) == list(maxprob.get_xdata())
    assert eenet.get_zorder() < maxprob.get_zorder()
    assert eenet.get_markersize() > maxprob.get_markersize()
    assert eenet.get_linewidth() > maxprob.get_linewidth()


def test_a_headline_budget_beyond_the_full_model_does_not_stretch_the_axis(figures, tmp_path):
    """`-S budget=50` (ms, a forgotten '%') drew its line at 50 ms: the x-axis ran to 50 and
    every curve sat squashed against its left edge. It is said in a corner instead. The sweep
    holds every method at that budget too (as sweep.csv does): a point at x = budget stretched
    the axis the same way; each is drawn at the full model's cost."""
    at_headline = pd.DataFrame([
        {"method": "maxprob", "budget_ms": 50.0, "test_cost_ms": 0.41, "test_accuracy": 97.9},
        {"method": "oracle", "budget_ms": 50.0, "test_cost_ms": 0.166, "test_accuracy": 98.6}])
    plotting.plot_accuracy_vs_budget(pd.concat([SWEEP, at_headline]),
                                     {**METRICS, "budget_ms": 50.0}, tmp_path / "a.png")
    ax = figures[0].axes[0]
    assert ax.get_xlim()[1] < 0.5
    for method in ("oracle", "maxprob"):  # at the budget's x, each drawn at the full cost
        assert max(_line(figures[0], plotting.LABELS[method]).get_xdata()) == pytest.approx(0.41)
    assert "headline budget 50 ms: above the\nfull model's cost, no early exit" in [
        t.get_text() for t in ax.get_legend().get_texts()]
    plotting.plot_accuracy_vs_budget(SWEEP, METRICS, tmp_path / "b.png")  # within: the line
    assert any(list(line.get_xdata()) == [0.27, 0.27] for line in figures[1].axes[0].lines)


def test_a_headline_budget_of_100_percent_is_drawn_as_a_line_whatever_the_costs_digits(
        figures, tmp_path):
    """`budget=100%` is the full model's cost itself: the evaluate stage's summary.md puts it
    at 100.0 % of the range. With costs summed in floats (0.1 + 0.2 = 0.30000000000000004 ms)
    the plot compared that exact budget with the cost as metrics.json records it (0.3) and
    said in the legend that the headline was above the full model's cost, with no early exit;
    it is the dotted line at that cost."""
    import json
    import runpy

    import numpy as np

    from eenet.budget import resolve_budget
    from eenet.outputs import save_exit_outputs
    from eenet.sweep import fit_all
    from eenet.synthetic import make_split_pair
    from tests.robust_helpers import ROOT

    costs = np.array([0.1, 0.1 + 0.1, 0.1 + 0.2])
    assert costs[-1] > 0.3  # the float sum's noise
    val, test = make_split_pair(3, 10, 200, 300, seed=5)
    headline = resolve_budget("100%", costs)
    fit_all(val, costs, ["maxprob"], [], headline, tmp_path / "headline", budget_spec="100%")
    fit_all(val, costs, ["maxprob"], [0.15, 0.25], None, tmp_path / "schedulers")
    save_exit_outputs(tmp_path / "test.npz", test)
    (tmp_path / "latency.json").write_text(json.dumps({"cumulative_ms": costs.tolist()}))
    reports = [str(tmp_path / name) for name in ("metrics.json", "sweep.csv",
                                                  "oracle_curve.csv", "summary.md", "exits.csv")]
    runpy.run_path(str(ROOT / "stages" / "evaluate.py"))["main"](
        str(tmp_path / "test.npz"), str(tmp_path / "latency.json"), str(tmp_path / "headline"),
        str(tmp_path / "schedulers"), *reports)
    assert "| **100% = 0.3** (headline) | 100.0 |" in Path(reports[3]).read_text()
    runpy.run_path(str(ROOT / "stages" / "plot.py"))["main"](
        *reports[:3], str(tmp_path / "a.png"), str(tmp_path / "a.pdf"), str(tmp_path / "e.png"))
    ax = figures[0].axes[0]
    assert not [t.get_text() for t in ax.get_legend().get_texts() if "above" in t.get_text()]
    assert "headline budget 100% = 0.3 ms" in [t.get_text() for t in ax.texts]
    assert any(list(line.get_xdata()) == [headline, headline] and line.get_linestyle() == ":"
               for line in ax.lines)


def test_titles_say_what_is_plotted_and_at_which_budget(figures, tmp_path):
    """The accuracy figure was titled 'Accuracy vs budget' over an axis of realised test cost
    (its axis is the budget now); the exit figure named the ms but not that it is the test
    split at the headline budget. Both list the methods in the same order (metrics.json's:
    schedulers.methods, then the oracle); the accuracy figure's was alphabetical by method
    name."""
    metrics = {**METRICS, "budget_given": "50%",
               "methods": {m: METRICS["methods"][m] for m in ("oracle", "maxprob")}}
    plotting.plot_accuracy_vs_budget(SWEEP, metrics, tmp_path / "a.png")
    plotting.plot_exit_distribution(metrics, tmp_path / "e.png")
    accuracy, exits = (fig.axes[0] for fig in figures)
    assert "test accuracy" in accuracy.get_title().lower()
    assert "budget" in accuracy.get_title()
    title = exits.get_title()
    assert "test" in title and "headline budget" in title and "50%" in title, title
    # the accuracy figure's headline line says the budget as it was set, as that title does
    notes = [t.get_text() for t in accuracy.texts]
    assert "headline budget 50% = 0.27 ms" in notes, notes
    legend = [t.get_text() for t in accuracy.get_legend().get_texts()]
    bars = [t.get_text() for t in exits.get_xticklabels()]
    assert legend[:2] == bars == [plotting.LABELS["oracle"], plotting.LABELS["maxprob"]]


def _write_report(tmp_path: Path, metrics: object, sweep: pd.DataFrame) -> tuple[Path, Path]:
    metrics_json, sweep_csv = tmp_path / "metrics.json", tmp_path / "sweep.csv"
    metrics_json.write_text(json.dumps(metrics))
    sweep_csv.write_text(sweep.to_csv(index=False))
    return metrics_json, sweep_csv


def test_report_read_back_draws_both_figures(tmp_path):
    metrics, sweep = plotting.read_report(*_write_report(tmp_path, METRICS, SWEEP))
    assert metrics == METRICS
    pd.testing.assert_frame_equal(sweep, SWEEP)
    assert plotting.plot_exit_distribution(metrics, tmp_path / "e.png").stat().st_size > 0


def _with_cell(column: str, value: object) -> pd.DataFrame:
    """SWEEP with its second row's `column` set to `value` (None: an empty cell)."""
    sweep = SWEEP.astype({column: object})
    sweep.loc[1, column] = value
    return sweep


@pytest.mark.parametrize(("metrics", "sweep", "where", "problem"), [
    ([1], SWEEP, "metrics.json", "expected a JSON object (metrics report)"),
    ({**METRICS, "budget_ms": "0.27"}, SWEEP, "metrics.json",
     "budget_ms must be a number, got '0.27' (rerun the evaluate stage)"),
    ({**METRICS, "exits": {"exit0": {"accuracy": 75.0}}}, SWEEP, "metrics.json",
     "exits must map exit0, exit1, ... to {accuracy, cost_ms} numbers (rerun the evaluate "
     "stage)"),
    ({**METRICS, "exits": [{"accuracy": 75.0}]}, SWEEP, "metrics.json",  # the old list form
     "exits must map exit0, exit1, ... to {accuracy, cost_ms} numbers (rerun the evaluate "
     "stage)"),
    ({**METRICS, "exits": {"exit0": METRICS["exits"]["exit0"],
                           "exit2": METRICS["exits"]["exit1"]}}, SWEEP, "metrics.json",
     "exits must map exit0, exit1, ... to {accuracy, cost_ms} numbers (rerun the evaluate "
     "stage)"),
    ({**METRICS, "exits": {}}, SWEEP, "metrics.json",
     "exits must map exit0, exit1, ... to {accuracy, cost_ms} numbers (rerun the evaluate "
     "stage)"),
    ({**METRICS, "methods": {"maxprob": {"exit_fractions": {"exit0": 1.0}}}}, SWEEP,
     "metrics.json", "methods.maxprob.exit_fractions must be one number per exit, exit0 to "
     "exit1 (rerun the evaluate stage)"),
    ({**METRICS, "methods": {"maxprob": {"exit_fractions": {"exit0": 0.5, "exit1": "0.5"}}}},
     SWEEP, "metrics.json", "methods.maxprob.exit_fractions must be one number per exit, exit0 "
     "to exit1 (rerun the evaluate stage)"),
    ({**METRICS, "methods": {"maxprob": {"exit_fractions": [1.0]}}}, SWEEP, "metrics.json",
     "methods.maxprob.exit_fractions must be one number per exit, exit0 to exit1 (rerun the "
     "evaluate stage)"),
    (METRICS, SWEEP.drop(columns="test_cost_ms"), "sweep.csv",
     "missing column(s) test_cost_ms; the sweep needs method, budget_ms, test_cost_ms, "
     "test_accuracy (rerun the evaluate stage)"),
    (METRICS, SWEEP.assign(test_accuracy="high"), "sweep.csv",
     "column(s) test_accuracy not all numbers; the sweep needs method, budget_ms, test_cost_ms, "
     "test_accuracy (rerun the evaluate stage)"),
    (METRICS, SWEEP.iloc[:0], "sweep.csv", "no rows; the sweep needs method, budget_ms, "
     "test_cost_ms, test_accuracy (rerun the evaluate stage)"),
    # an empty cell (a truncated file's last row), NaN or inf was drawn as a gap without a word
    *[(METRICS, _with_cell(column, value), "sweep.csv",
       "line 3 holds an empty, NaN or infinite value; the sweep needs method, budget_ms, "
       "test_cost_ms, test_accuracy in every row (rerun the evaluate stage)")
      for column, value in (("test_accuracy", None), ("test_cost_ms", float("nan")),
                            ("budget_ms", float("inf")), ("method", None))],
])
def test_reports_the_figures_cannot_draw_are_one_line_errors(tmp_path, metrics, sweep, where,
                                                              problem):
    """The plot stage read metrics.json and sweep.csv unchecked: a list for the metrics was
    an AttributeError, a sweep without test_cost_ms a KeyError."""
    from eenet.errors import ArtifactError

    with pytest.raises(ArtifactError) as err:
        plotting.read_report(*_write_report(tmp_path, metrics, sweep))
    assert str(err.value) == f"{tmp_path / where}: {problem}"


def test_a_metrics_folder_is_named_as_one(tmp_path):
    """A folder where metrics.json belongs, or no metrics.json, names the file in the words of
    its other errors (its folder error said 'give the metrics file file')."""
    from eenet.errors import ArtifactError

    path = tmp_path / "metrics.json"
    with pytest.raises(ArtifactError) as err:
        plotting.read_report(path, tmp_path / "sweep.csv")
    assert str(err.value) == f"{path}: metrics report not found (rerun the evaluate stage)"
    path.mkdir()
    with pytest.raises(ArtifactError) as err:
        plotting.read_report(path, tmp_path / "sweep.csv")
    assert str(err.value) == f"{path}: is a directory; give the metrics report file"


TRAIN_CURVES = "reports/train/plots/metrics"


def _dvc_plots_shown(tmp_path: Path) -> dict:
    """`dvc plots show --json` on a copy of dvc.yaml, its templates and the committed reports
    (the training curves a run of stage train wrote)."""
    root = Path(__file__).resolve().parents[1]
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(root / name, tmp_path / name)
    for name in ("plots", "reports"):
        shutil.copytree(root / name, tmp_path / name)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "-q", "--no-scm"], cwd=tmp_path, env=env, check=True)
    shown = subprocess.run([*dvc, "plots", "show", "--json"], cwd=tmp_path, env=env,
                           check=True, capture_output=True, text=True)
    return json.loads(shown.stdout)


def test_dvc_plots_label_the_training_curves(tmp_path):
    """`dvc plots show` drew each dvclive curve of reports/train titled by its path, its y
    axis by the raw metric name (train_ce, val_acc_exit0): each loss now says what it is,
    once (no second copy from the train stage's own declaration), and the exits' accuracies
    are one plot (below), none of them drawn alone."""
    shown = _dvc_plots_shown(tmp_path)
    assert not shown.get("errors"), shown.get("errors")
    curves = {k: v[0]["content"] for k, v in shown["data"].items() if TRAIN_CURVES in k}
    assert sorted(curves) == [f"{TRAIN_CURVES}/{name}.tsv" for name in ("train_ce", "train_loss")]
    for plot_id, content in curves.items():
        name = Path(plot_id).stem
        x, y = content["encoding"]["x"], content["layer"][0]["encoding"]["y"]
        assert (x["field"], y["field"]) == ("step", name)
        assert x["title"] == "epoch (0-based)" and y["title"] != name, (plot_id, y["title"])
        assert content["title"]["text"] != plot_id


EXIT_ACCURACY = "reports/train/exit_accuracy.csv"


def test_dvc_plots_draw_every_exits_validation_accuracy_in_one_plot(tmp_path):
    """Each exit's validation accuracy was its own plot (dvclive's val_acc_exit<k>.tsv),
    titled by its file path. It is one plot now, titled, its axes labelled, one line per
    exit coloured by exit (plots/by_exit.json), from the train stage's long-format CSV."""
    shown = _dvc_plots_shown(tmp_path)
    assert not shown.get("errors"), shown.get("errors")
    titled = [k for k, v in shown["data"].items()
              if v[0].get("content", {}).get("title") == "Validation accuracy per exit"]
    assert titled == ["validation_accuracy_per_exit"]
    content = shown["data"]["validation_accuracy_per_exit"][0]["content"]
    encoding = content["encoding"]
    assert (encoding["x"]["field"], encoding["y"]["field"]) == ("epoch", "val_accuracy")
    assert encoding["x"]["title"] == "epoch (0-based)"
    assert encoding["y"]["title"] == "validation accuracy (%)"
    assert encoding["color"]["field"] == "exit"
    labels = dict(re.findall(r"'([^']*)' \+ datum\.(\w+)", json.dumps(content["transform"])))
    assert labels == {"exit ": "exit"}  # the legend says "exit 0", "exit 1", ...
    values = content["data"]["values"]
    table = pd.read_csv(tmp_path / EXIT_ACCURACY)
    assert len(values) == len(table) and {v["exit"] for v in values} == {"0", "1", "2"}
    assert [float(v["val_accuracy"]) for v in values] == table["val_accuracy"].tolist()


def test_committed_exit_accuracy_table_is_the_dvclive_curves():
    """The committed reports/train/exit_accuracy.csv holds exactly what dvclive's committed
    val_acc_exit<k>.tsv files hold (the same run's), each epoch once per exit."""
    root = Path(__file__).resolve().parents[1]
    table = pd.read_csv(root / EXIT_ACCURACY, dtype=str)
    assert list(table.columns) == ["epoch", "exit", "val_accuracy"]
    n_exits = len(list((root / TRAIN_CURVES).glob("val_acc_exit*.tsv")))
    assert n_exits == table["exit"].nunique() == 3
    for k in range(n_exits):
        curve = pd.read_csv(root / TRAIN_CURVES / f"val_acc_exit{k}.tsv", sep="\t", dtype=str)
        rows = table[table["exit"] == str(k)]
        assert rows["epoch"].tolist() == curve["step"].tolist()
        assert rows["val_accuracy"].tolist() == curve[f"val_acc_exit{k}"].tolist()


def test_plot_stage_refuses_a_malformed_per_exit_value_in_one_line(tmp_path, capsys,
                                                                    monkeypatch):
    """The plot stage run on a metrics.json whose exit_fractions skip an exit: one line
    naming the file and the key, no figure written."""
    from tests.robust_helpers import stage_error

    bad = {**METRICS, "methods": {"maxprob": {"exit_fractions": {"exit0": 0.5, "exit2": 0.5}}}}
    metrics_json, sweep_csv = _write_report(tmp_path, bad, SWEEP)
    oracle_csv = tmp_path / "oracle_curve.csv"
    oracle_csv.write_text(ORACLE_CURVE.to_csv(index=False))
    monkeypatch.chdir(tmp_path)
    error = stage_error(capsys, "plot", str(metrics_json), str(sweep_csv), str(oracle_csv),
                        "a.png", "a.pdf", "e.png")
    assert error == (f"{metrics_json}: methods.maxprob.exit_fractions must be one number per "
                     "exit, exit0 to exit1 (rerun the evaluate stage)")
    assert not any((tmp_path / name).exists() for name in ("a.png", "a.pdf", "e.png"))
    # the oracle's curve is checked as the sweep is
    metrics_json, _ = _write_report(tmp_path, METRICS, SWEEP)
    oracle_csv.write_text(ORACLE_CURVE.drop(columns="test_accuracy").to_csv(index=False))
    error = stage_error(capsys, "plot", str(metrics_json), str(sweep_csv), str(oracle_csv),
                        "a.png", "a.pdf", "e.png")
    assert error == (f"{oracle_csv}: missing column(s) test_accuracy; the oracle curve needs "
                     "method, budget_ms, test_cost_ms, test_accuracy (rerun the evaluate stage)")
    assert not (tmp_path / "a.png").exists()


def _pdf_size(data: bytes) -> tuple[float, float]:
    """A one-page PDF's page size in points, from its MediaBox."""
    box = re.search(rb"/MediaBox \[ *([-\d.]+) +([-\d.]+) +([-\d.]+) +([-\d.]+) *\]", data)
    assert box, "no MediaBox"
    x0, y0, x1, y1 = map(float, box.groups())
    return x1 - x0, y1 - y0


def test_plot_stage_writes_the_accuracy_figure_as_a_pdf_the_same_on_every_rerun(
        tmp_path, monkeypatch):
    """The plot stage also writes the accuracy figure as a vector PDF (for papers): the same
    figure as the PNG (its size at the PNG's 130 dpi, within 1 %: the tight crops differ a
    little), and the same bytes when rerun at another time (matplotlib dates a PDF when it is
    saved, SOURCE_DATE_EPOCH or now: DVC would see a changed output on every run). Written
    atomically: no temporary file is left beside it."""
    import runpy

    from PIL import Image

    from tests.robust_helpers import ROOT

    metrics_json, sweep_csv = _write_report(tmp_path, METRICS, SWEEP)
    oracle_csv = tmp_path / "oracle_curve.csv"
    oracle_csv.write_text(ORACLE_CURVE.to_csv(index=False))
    main = runpy.run_path(str(ROOT / "stages" / "plot.py"))["main"]
    written = []
    for run, epoch in enumerate(("1000000000", "1800000000")):  # 2001 and 2027
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        out = tmp_path / f"run{run}"
        main(str(metrics_json), str(sweep_csv), str(oracle_csv), str(out / "a.png"),
             str(out / "a.pdf"), str(out / "e.png"))
        assert sorted(p.name for p in out.iterdir()) == ["a.pdf", "a.png", "e.png"]
        written.append((out / "a.pdf").read_bytes())
    first, second = written
    assert first.startswith(b"%PDF-") and first.rstrip().endswith(b"%%EOF")
    assert b"CreationDate" not in first
    assert first == second
    with Image.open(tmp_path / "run0" / "a.png") as png:
        width, height = png.size
    assert _pdf_size(first) == pytest.approx((width / 130 * 72, height / 130 * 72), rel=0.01)
