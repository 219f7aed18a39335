"""The whole DVC pipeline at tiny size in a temporary git + DVC repo: outputs and rerun rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from eenet.config import GROUPS
from eenet.models.artifact import model_identity
from eenet.schedulers import load_policy
from tests.conftest import dotted_keys, lists_in
from tests.robust_helpers import ROOT, tiny_params

CHECK = "check_params"  # runs on every change of params.yaml, first
ALL_STAGES = [CHECK, "download", "train", "import_latency", "profile", "dump_logits",
              "profile_scoring", "profile_eenet_scoring", "fit_headline", "fit_schedulers",
              "evaluate", "measure", "plot"]
BOTH_FITS = ["fit_headline", "fit_schedulers", "evaluate", "measure", "plot"]
HEADLINE = ["fit_headline", "evaluate", "measure", "plot"]

pytestmark = pytest.mark.slow
FIRST_LOG = ".dvc/tmp/first_repro.log"  # the first `dvc repro`'s output, kept by `built`


def pipeline_params() -> dict:
    """The shared tiny params, a little larger (the rerun rules need every stage to matter)."""
    params = tiny_params(budgets=["20%", "60%"])
    params["data"]["options"]["num_samples"] = 1500
    params["profile"].update(warmup=2, repeats=15)
    params["measure"].update(limit=60, warmup=2, repeats=15, device="cpu")
    params["scoring"].update(warmup=5, repeats=50)
    return params


def run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed:\n{result.stdout}\n{result.stderr}")
    return result


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([\w-]+)'", output)


def pipeline_env(path: Path) -> dict[str, str]:
    """The environment of the DVC and git commands run in the repo at `path`."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(path),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
        "DVC_NO_ANALYTICS": "1",
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary git + DVC repo holding the pipeline with tiny params, already reproduced
    and committed. Never handed to a test: each gets its own copy (`repo`)."""
    path = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(ROOT / "stages", path / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "eenet", path / "eenet", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", path / "dvc.yaml")
    shutil.copy(ROOT / ".gitignore", path / ".gitignore")
    shutil.copytree(ROOT / "plots", path / "plots")  # the plot templates dvc.yaml names
    shutil.copytree(ROOT / "latency_tables", path / "latency_tables")  # import_latency's folder
    for folder in ("local_data", "local_models"):  # download's and train's, as a clone has them
        (path / folder).mkdir()
        shutil.copy(ROOT / folder / "README.md", path / folder / "README.md")
    shutil.copytree(ROOT / "conf" / "preset", path / "conf" / "preset")  # what `setup` may name
    (path / "params.yaml").write_text(yaml.safe_dump(pipeline_params(), sort_keys=False))
    env = pipeline_env(path)
    dvc = [sys.executable, "-m", "dvc"]
    run(["git", "init", "-q"], path, env)
    run(dvc + ["init", "-q"], path, env)
    run(dvc + ["config", "core.autostage", "true"], path, env)
    run(["git", "add", "-A"], path, env)
    run(["git", "commit", "-qm", "tiny pipeline"], path, env)  # dvclive needs a commit
    first = run(dvc + ["repro"], path, env)
    assert stages_run(first.stdout) == ALL_STAGES, first.stdout
    (path / FIRST_LOG).write_text(first.stdout)  # .dvc/tmp: ignored by git and DVC
    run(["git", "add", "-A"], path, env)
    run(["git", "commit", "-qm", "reproduced"], path, env)
    return path


@pytest.fixture
def repo(built: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """This test's own copy of the reproduced repo (a few MB: git, DVC's cache, the training
    checkpoint), so that no test sees what another's experiments left in the workspace (a
    params.yaml changed, EENet dropped from the methods, the checkpoint retrained for 1 epoch)
    and each passes alone and in any order."""
    path = tmp_path / "pipeline"
    shutil.copytree(built, path, symlinks=True)
    return path, pipeline_env(path)


def exp_run(repo: tuple[Path, dict[str, str]], *overrides: str) -> list[str]:
    path, env = repo
    args = [sys.executable, "-m", "dvc", "exp", "run"]
    for override in overrides:
        args += ["-S", override]
    result = run(args, path, env)
    return stages_run(result.stdout)


def test_first_run_leaves_every_report(repo):
    path, _ = repo
    metrics = json.loads((path / "reports/metrics.json").read_text())
    assert set(metrics["methods"]) >= {"eenet", "maxprob", "entropy", "oracle"}
    assert list(metrics["exits"]) == ["exit0", "exit1", "exit2"]  # keyed: dvc shows no lists
    costs = [e["cost_ms"] for e in metrics["exits"].values()]
    assert costs == sorted(costs)
    for method, values in metrics["methods"].items():
        assert isinstance(values["rule"], str) and values["rule"], method  # as in sweep.csv
        fractions = values["exit_fractions"]
        assert list(fractions) == ["exit0", "exit1", "exit2"]
        assert abs(sum(fractions.values()) - 1) <= 1e-9
        assert 0 <= values["test_accuracy"] <= 100
    # the profile records the model it measured; every policy planned with it, that model
    model = model_identity(path / "artifacts/model")
    latency = json.loads((path / "artifacts/latency.json").read_text())
    assert latency["model"] == model
    for folder in ("artifacts/headline", "artifacts/schedulers"):
        index = json.loads((path / folder / "index.json").read_text())
        assert index["model"] == model
        # how the costs were measured: predict compares its run with it
        assert index["costs_profiled_at"] == {
            "device": "cpu", "batch_size": latency["batch_size"], "threads": latency["threads"]}
        for entry in index["entries"]:
            assert load_policy(path / folder / entry["dir"]).model == model
    # metrics.json says where the costs were profiled, as the index does, and the sample counts
    assert metrics["costs_profiled_at"] == index["costs_profiled_at"]
    logits = {split: np.load(path / f"artifacts/logits/{split}.npz")["labels"].size
              for split in ("val", "test")}
    assert (metrics["n_val"], metrics["n_test"]) == (logits["val"], logits["test"])
    sweep = (path / "reports/sweep.csv").read_text().splitlines()
    header = sweep[0].split(",")
    assert {"method", "budget_ms", "test_accuracy", "test_cost_ms"} <= set(header)
    # 3 methods + oracle, each at 2 sweep budgets + the headline budget
    assert len(sweep) - 1 == 4 * 3
    # the oracle's exact curve, which the plot draws it through: from exit 0's cost to the last's
    oracle = (path / "reports/oracle_curve.csv").read_text().splitlines()
    columns = oracle[0].split(",")  # sweep.csv's but a legend place, val cost and fit time
    assert [c for c in header if c in columns] == columns and len(oracle) - 1 >= 2
    assert set(header) - set(columns) == {"method_order", "val_cost_ms", "fit_seconds"}
    assert [float(line.split(",")[1]) for line in (oracle[1], oracle[-1])] == [
        e["cost_ms"] for e in (metrics["exits"]["exit0"], metrics["exits"]["exit2"])]
    # the summary: a row per sweep budget (the headline's marked), each method's accuracy as
    # the sweep's, EENet's margin over the better heuristic with its paired z
    summary = (path / "reports/summary.md").read_text()
    table = [[c.strip() for c in line.strip("|").split("|")]
             for line in summary.splitlines() if line.startswith("|")]
    assert table[0] == ["budget (ms)", "% of exit range", "eenet", "maxprob", "entropy",
                        "oracle (upper bound)", "eenet - better of maxprob / entropy", "z"]
    assert len(table) - 2 == 3 and sum("(headline)" in row[0] for row in table[2:]) == 1
    rows = [line.split(",") for line in sweep[1:]]
    at = {(r[header.index("method")], float(r[header.index("budget_ms")])):
          float(r[header.index("test_accuracy")]) for r in rows}
    budgets = sorted({b for _, b in at})
    for row, budget in zip(table[2:], budgets, strict=True):
        assert row[2:6] == [f"{at[(m, budget)]:.3f}"
                            for m in ("eenet", "maxprob", "entropy", "oracle")]
        assert re.fullmatch(r"[+-]\d+\.\d{3} \(vs (maxprob|entropy)\)", row[6]), row
        assert re.fullmatch(r"[+-]\d+\.\d", row[7]), row
    assert f"n_test = {metrics['n_test']}" in summary and "resnet1d_3" in summary
    # each exit's cost and test accuracy, one row per exit: metrics.json's very numbers
    exits = (path / "reports/exits.csv").read_text().splitlines()
    assert exits[0] == "exit,cost_ms,test_accuracy"
    assert [[float(v) for v in line.split(",")] for line in exits[1:]] == [
        [k, e["cost_ms"], e["accuracy"]] for k, e in enumerate(metrics["exits"].values())]
    for png in ("accuracy_vs_budget.png", "exit_distribution.png"):
        assert (path / "reports" / png).read_bytes()[:4] == b"\x89PNG"
    # the accuracy figure again as a PDF, without the time it was written (DVC hashes it)
    pdf = (path / "reports/accuracy_vs_budget.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"CreationDate" not in pdf
    assert (path / "reports/train/metrics.json").is_file()
    assert (path / "dvc.lock").is_file()


def test_measure_stage_runs_real_early_exit_at_the_headline(repo):
    path, _ = repo
    written = json.loads((path / "reports/latency_real.json").read_text())
    assert list(written) == ["measured"]  # one top-level key: dvc names every column after it
    report = written["measured"]
    metrics = json.loads((path / "reports/metrics.json").read_text())
    assert report["enabled"] and report["n_samples"] == 60 and report["batch_size"] == 1
    assert report["budget_ms"] == pytest.approx(metrics["budget_ms"])
    assert set(report["methods"]) == {"eenet", "maxprob", "entropy"}
    for row in report["methods"].values():
        assert row["exits_match_simulation"] is True
        assert row["ms_per_sample"] > row["schedule_ms_per_sample"] > 0
        assert row["ratio"] == pytest.approx(row["ms_per_sample"] / row["planned_ms"])
        assert list(row["exit_fractions"]) == ["exit0", "exit1", "exit2"]
        assert abs(sum(row["exit_fractions"].values()) - 1) < 1e-9
        # a percentage of the 60 samples run, to 4 decimals as metrics.json's (96.66666666666667
        # before), named as a subset's (it sat beside metrics.json's whole-split test_accuracy)
        assert "accuracy" not in row
        assert row["subset_accuracy"] == round(row["subset_accuracy"], 4)
        assert 0 <= row["subset_accuracy"] <= 100


def test_the_pipelines_metrics_files_show_in_dvc_keyed_by_exit(repo):
    """`dvc metrics show` (and so `diff` and `dvc exp show`) dropped lists. The evaluate
    stage's per-exit values through dvc are checked one by one in test_evaluation.py; here what
    only the real pipeline has: its dvc.yaml declares both reports as metrics and dvc shows
    each as written, and the measure stage's latency_real.json (where each method's samples
    leave in real early exit) is keyed by exit, with no list in it. (dvc leaves out nulls,
    such as the oracle's val_cost_ms: the files are compared where each shows per-exit values.)"""
    path, env = repo
    shown = json.loads(run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], path,
                           env).stdout)
    (revision,) = shown.values()
    files = revision["data"]
    metrics = json.loads((path / "reports/metrics.json").read_text())
    assert files["reports/metrics.json"]["data"]["exits"] == metrics["exits"]
    real = json.loads((path / "reports/latency_real.json").read_text())
    shown_real = files["reports/latency_real.json"]["data"]["measured"]
    assert real["measured"]["methods"]
    for method, values in real["measured"]["methods"].items():
        assert list(values["exit_fractions"]) == ["exit0", "exit1", "exit2"], method
        assert shown_real["methods"][method]["exit_fractions"] == values["exit_fractions"]
    assert lists_in(real) == []
    # no column name the two files share: dvc prefixed such columns by their file and left the
    # rest bare (budget_ms, methods.<m>.exit_fractions.exit0 came in both forms)
    keys = {name: set(dotted_keys(files[name]["data"])) for name in files}
    assert not keys["reports/metrics.json"] & keys["reports/latency_real.json"]
    assert not keys["reports/metrics.json"] & keys["reports/train/metrics.json"]
    # nor with params.yaml, whose columns `dvc exp show` lists beside them (the headline
    # budget as given was `budget` in both: reports/metrics.json:budget)
    params = set(dotted_keys(yaml.safe_load((path / "params.yaml").read_text())))
    assert "budget" in params and not keys["reports/metrics.json"] & params


def test_measure_reports_the_batch_it_ran_when_the_limit_is_smaller(repo):
    """measure.limit below measure.batch_size: the calls run at the limit, and the report (and
    each policy's own profile) says that batch size, not the one asked for."""
    from eenet.measurement import measure_headline, method_lines

    path, _ = repo
    report = measure_headline(
        path / "artifacts/model", path / "data/mnist1d", path / "artifacts/headline",
        path / "artifacts/latency.json", path / "artifacts/logits/test.npz",
        batch_size=64, limit=24, rounds=1, warmup=2, repeats=5, device="cpu",
    )  # fmt: skip
    assert report["n_samples"] == 24 and report["batch_size"] == 24
    assert all(row["exits_match_simulation"] for row in report["methods"].values())
    # the stage's lines name the statistic ratio_robust took at that batch: no per-exit medians
    lines = method_lines(report)
    assert len(lines) == len(report["methods"])
    assert all(", of the median over calls, " in line for line in lines), lines


def test_measure_setting_reruns_only_measure(repo):
    assert exp_run(repo, "measure.enabled=false") == [CHECK, "measure"]
    path, _ = repo
    assert json.loads((path / "reports/latency_real.json").read_text()) == {
        "measured": {"enabled": False}}


def test_second_repro_does_nothing(repo):
    path, env = repo
    result = run([sys.executable, "-m", "dvc", "repro"], path, env)
    assert stages_run(result.stdout) == []


def test_a_key_no_stage_reads_fails_the_experiment_before_any_stage_runs(repo):
    """`-S +budgt=0.9` (Hydra's hint for a mistyped `-S budgt=0.9`) changes no param any
    fitting stage lists: nothing ran, and the experiment passed as if the budget had been
    set. check_params runs on any change of params.yaml, first, and refuses it in one line;
    with a real change beside it, nothing is fitted either."""
    path, env = repo
    dvc_exp = [sys.executable, "-m", "dvc", "exp", "run"]
    params = (path / "params.yaml").read_text()
    status = [sys.executable, "-m", "dvc", "status", "--json"]
    assert json.loads(run(status, path, env).stdout) == {}  # all up to date before
    for overrides in (["+budgt=0.9"], ["budget=65%", "+budgt=0.9"]):
        try:
            result = run([*dvc_exp, *(a for o in overrides for a in ("-S", o))], path, env,
                         check=False)
        finally:  # the failed experiment leaves its params.yaml in the workspace
            (path / "params.yaml").write_text(params)
        assert result.returncode != 0, result.stdout
        assert stages_run(result.stdout) == [CHECK], result.stdout + result.stderr
        ours = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        allowed = ", ".join(GROUPS)
        assert ours == [f"error: budgt: unknown top-level key; allowed: {allowed}"], (
            result.stderr)
    assert json.loads(run(status, path, env).stdout) == {}  # and after: nothing recorded


def test_a_param_a_stage_lists_removed_fails_before_any_stage_runs(repo):
    """`-S '~budget'` left params.yaml without the budget fit_headline lists: check_params
    passed it, and DVC ran the stages up to fit_headline (training too) before stopping with
    "Parameters 'budget' are missing". check_params refuses it first, in one line."""
    path, env = repo
    params = (path / "params.yaml").read_text()
    try:
        result = run([sys.executable, "-m", "dvc", "exp", "run", "-S", "~budget",
                      "-S", "train.epochs=1"], path, env, check=False)
    finally:  # the failed experiment leaves its params.yaml in the workspace
        (path / "params.yaml").write_text(params)
    assert result.returncode != 0, result.stdout
    assert stages_run(result.stdout) == [CHECK], result.stdout + result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert ours == ["error: budget: missing from params.yaml, but dvc.yaml's stage fit_headline "
                    "lists it (DVC would stop there, after the stages before it had run); "
                    "restore it"], result.stderr


def test_budget_change_refits_the_headline_alone(repo):
    """`budget` is fit_headline's: the sweep's fits stay as they are."""
    assert exp_run(repo, "budget=70%") == [CHECK, *HEADLINE]
    path, env = repo
    diff = run([sys.executable, "-m", "dvc", "params", "diff", "--json"], path, env).stdout
    assert "budget" in json.loads(diff)["params.yaml"]
    show = json.loads(run([sys.executable, "-m", "dvc", "exp", "show", "--json"], path,
                          env).stdout)
    rows = list(_revisions(show))
    assert len(rows) >= 2  # the baseline commit and the experiment
    for row in rows:  # every revision's metrics, not only the workspace's (git tracks them)
        metrics = row["data"]["metrics"]["reports/metrics.json"]
        assert "error" not in metrics, (row.get("name"), metrics)
        assert "test_accuracy" in metrics["data"]["methods"]["eenet"]


def test_readme_comparison_of_two_experiments_of_this_machine(repo):
    """README ("The budget"): `dvc metrics diff` after `dvc exp run` compared with the
    committed run (another CPU's: every exit, training metric and timing moved). The
    workflow it shows now, a baseline saved as an experiment and compared by name with
    `--targets reports/metrics.json`: only the headline's metrics move, and `budget_ms` goes
    up with the budget; no training metric and no timing of latency_real.json is listed."""
    path, env = repo
    dvc = [sys.executable, "-m", "dvc"]
    before = yaml.safe_load((path / "params.yaml").read_text())["budget"]
    run([*dvc, "exp", "save", "-f", "-n", "readme-base"], path, env)
    ran = run([*dvc, "exp", "run", "-n", "readme-85", "-S", "budget=85%"], path, env)
    assert stages_run(ran.stdout) == [CHECK, *HEADLINE]
    diff = json.loads(run([*dvc, "metrics", "diff", "readme-base", "readme-85", "--targets",
                           "reports/metrics.json", "--json"], path, env).stdout)
    assert list(diff) == ["reports/metrics.json"], list(diff)
    changed = diff["reports/metrics.json"]
    assert changed["budget_ms"]["new"] > changed["budget_ms"]["old"]
    assert not any(key.startswith("exits.") for key in changed), changed  # the same model
    params = json.loads(run([*dvc, "exp", "diff", "readme-base", "readme-85", "--json"], path,
                            env).stdout)["params"]["params.yaml"]
    assert (params["budget"]["old"], params["budget"]["new"]) == (before, "85%")


def _revisions(show: Any) -> Any:
    """Every revision entry (workspace, commits, experiments) of `dvc exp show --json`."""
    if isinstance(show, dict):
        if isinstance(show.get("data"), dict) and "metrics" in show["data"]:
            yield show
        for value in show.values():
            yield from _revisions(value)
    elif isinstance(show, list):
        for item in show:
            yield from _revisions(item)


def test_queued_experiment_does_not_retrain(repo):
    """`dvc exp run --temp` (what every `--queue`d experiment runs in) works in a fresh
    workspace holding what git and DVC's cache hold, as a clone after `dvc pull` does. The
    training checkpoint was declared as an uncached output: missing there, DVC trained again
    for a budget change."""
    path, env = repo
    result = run([sys.executable, "-m", "dvc", "exp", "run", "--temp", "-S", "budget=60%"],
                 path, env)
    assert stages_run(result.stdout) == [CHECK, *HEADLINE]


def test_sweep_change_refits_the_sweep_alone_and_measures_nothing(repo):
    """`budgets` is fit_schedulers': the headline's policies, and so measure, stay; the sweep
    table then holds the new budgets beside the headline's."""
    path, _ = repo
    assert exp_run(repo, "budgets=[30%,80%]") == [CHECK, "fit_schedulers", "evaluate", "plot"]
    sweep = json.loads((path / "artifacts/schedulers/index.json").read_text())
    headline = json.loads((path / "artifacts/headline/index.json").read_text())
    rows = (path / "reports/sweep.csv").read_text().splitlines()
    assert len(sweep["sweep_ms"]) == 2 and len(rows) - 1 == 4 * 3
    column = rows[0].split(",").index("budget_ms")
    budgets = {float(line.split(",")[column]) for line in rows[1:]}
    assert len(budgets) == 3 and headline["headline_ms"] in budgets  # exact, as written


def test_budgets_above_the_full_model_and_as_set_in_plots_and_summary(repo):
    """A headline (50) and a sweep budget (40) in ms above the tiny model's full cost (a
    forgotten '%'): `dvc plots show` drew each at its own x, 50 on an axis where every curve
    sat within its first percent, though those policies run the full model and spend its cost;
    each is now drawn at that cost, the budget itself still in sweep.csv's `budget_ms`.
    summary.md listed a sweep budget set as '30%' by its ms alone; it now reads '30% = ...',
    one set in ms as before."""
    assert exp_run(repo, "budget=50", "budgets=[30%,40]") == [CHECK, *BOTH_FITS]
    path, env = repo
    full = json.loads((path / "reports/metrics.json").read_text())["exits"]["exit2"]["cost_ms"]
    assert full < 40
    shown = json.loads(run([sys.executable, "-m", "dvc", "plots", "show", "--json"], path,
                           env).stdout)
    assert not shown.get("errors"), shown.get("errors")
    content = shown["data"]["accuracy_vs_budget"][0]["content"]
    x = content["encoding"]["x"]["field"]
    values = content["data"]["values"]
    assert {float(v["budget_ms"]) for v in values} > {40.0, 50.0}
    for value in values:  # the over-range budgets at the full cost, the others at their own
        budget = float(value["budget_ms"])
        assert float(value[x]) == (full if budget > full else budget), value
    summary = (path / "reports/summary.md").read_text()
    labels = [line.split("|")[1].strip() for line in summary.splitlines()
              if line.startswith("| ") and not line.startswith("| budget")]
    share = json.loads((path / "artifacts/schedulers/index.json").read_text())["sweep_ms"][0]
    assert re.fullmatch(r"30% = [0-9.]+", labels[0]) and float(labels[0][6:]) == pytest.approx(
        share, rel=1e-3)
    assert labels[1:] == ["40", "**50** (headline)"]


def test_scheduler_setting_does_not_rerun_training(repo):
    assert exp_run(repo, "schedulers.seed=1") == [CHECK, *BOTH_FITS]


def test_eenet_architecture_reruns_its_scoring_profile_and_training_setting_does_not(repo):
    """EENet's architecture reruns the timing of its scorer alone: it timed the fixed scores
    again too, and their noise moved entropy's plans (96.8 -> 96.975 % at the headline in one
    such run) in an experiment that changed EENet only."""
    path, _ = repo
    fixed = (path / "artifacts/scoring.json").read_bytes()

    def baselines() -> dict[str, dict]:  # the fixed-score policies, less their fit time
        return {m: {k: v for k, v in json.loads(
            (path / "artifacts/headline" / m / "00" / "policy.json").read_text()).items()
            if k != "fit_seconds"} for m in ("maxprob", "entropy")}

    before = baselines()
    ran = exp_run(repo, "schedulers.eenet.hidden=16")
    assert ran == [CHECK, "profile_eenet_scoring", *BOTH_FITS]
    assert (path / "artifacts/scoring.json").read_bytes() == fixed
    assert baselines() == before
    assert exp_run(repo, "schedulers.eenet.lr=0.02") == [CHECK, *BOTH_FITS]


def test_charged_scoring_reaches_every_policy(repo):
    """Each policy plans with its own scoring cost: entropy with costs + its measured extra,
    maxprob (the profile's own scoring) with the costs, EENet's learned score with its extra."""
    path, _ = repo
    fixed, learned = (json.loads((path / f"artifacts/{name}.json").read_text())
                      for name in ("scoring", "scoring_eenet"))
    assert set(fixed["extra_ms"]) == {"entropy", "patience"} and set(learned["extra_ms"]) == {
        "eenet"}
    scoring = {"charged": fixed["charged"] and learned["charged"],
               "extra_ms": {**fixed["extra_ms"], **learned["extra_ms"]}}
    assert scoring["charged"]
    for extra in scoring["extra_ms"].values():
        assert len(extra) == 3 and min(extra) >= 0 and extra == sorted(extra)
    folders = [path / "artifacts/headline", path / "artifacts/schedulers"]
    fitted = [(folder, json.loads((folder / "index.json").read_text())) for folder in folders]
    costs = np.asarray(fitted[0][1]["costs_ms"])
    for folder, entry in ((f, e) for f, index in fitted for e in index["entries"]):
        policy_json = folder / entry["dir"] / "policy.json"
        meta = json.loads(policy_json.read_text())
        method, planned = entry["method"], meta["planned_costs_ms"]
        if method == "eenet":  # charged as the score it runs, unless nobody exits early
            no_early_exit = meta["plan_source"].startswith("last_exit")
            charged_as = None if no_early_exit else {"learned": "eenet", "entropy": "entropy"}.get(
                meta["score_source"])
        else:
            charged_as = method if method in ("entropy", "patience") else None
        want = costs + scoring["extra_ms"][charged_as] if charged_as else costs
        assert planned == pytest.approx(want), (entry, meta.get("score_source"))
        # the budget is met on validation with the costs the policy was planned with (or the
        # policy was fitted at its charged first-exit cost, the least it can spend); at or
        # above the last exit's cost every sample goes there and spends just that
        target = entry.get("fitted_ms", entry["budget_ms"])
        spent = min(target, planned[-1])
        assert meta["val_cost_ms"] == pytest.approx(spent, rel=0.01), (entry, meta)


def test_profile_setting_reruns_profile_and_downstream(repo):
    ran = exp_run(repo, "profile.repeats=16")
    assert ran == [CHECK, "profile", "profile_scoring", "profile_eenet_scoring", *BOTH_FITS]


def test_loader_workers_rerun_train_alone_which_reuses_its_finished_run(repo):
    """`train.num_workers` is read by train, so DVC reruns it; it trained every epoch again
    and reran every stage after it. The finished run of the same settings by the same code
    is now reused: the model comes out byte for byte as it was, and DVC skips the rest."""
    path, env = repo
    weights = (path / "artifacts/model/model.safetensors").read_bytes()
    result = run([sys.executable, "-m", "dvc", "exp", "run", "-S", "train.num_workers=1"],
                 path, env)
    assert stages_run(result.stdout) == [CHECK, "train"]
    assert "reusing checkpoint artifacts/checkpoints/last.pt (2 of 2 epochs)" in result.stdout
    assert not re.search(r"^epoch \d+/", result.stdout, re.MULTILINE)  # none trained
    assert (path / "artifacts/model/model.safetensors").read_bytes() == weights


def test_training_setting_reruns_train_and_downstream(repo):
    ran = exp_run(repo, "train.epochs=1")
    assert ran == [CHECK, *(stage for stage in ALL_STAGES[2:] if stage != "import_latency")]


def test_infeasible_budget_is_one_line_error(repo):
    path, env = repo
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["budget"] = 1e-9
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        result = run(
            [sys.executable, "stages/fit_headline.py", "artifacts/logits/val.npz",
             "artifacts/latency.json", "artifacts/scoring.json", "artifacts/scoring_eenet.json",
             str(path / "scratch")],
            path, env, check=False,
        )
    finally:
        run(["git", "checkout", "--", "params.yaml"], path, env)
    assert result.returncode == 2
    # the range is the profiled first exit's and full model's cost, 4 significant digits
    costs = json.loads((path / "artifacts/latency.json").read_text())["cumulative_ms"]
    assert result.stderr.splitlines() == [
        f"error: budget: 1e-09 ms/sample is below the first exit's cost; feasible range: "
        f"{costs[0]:.4g} to {costs[-1]:.4g} ms/sample, or 0% to 100%"]


def test_plots_follow_the_methods_run(repo):
    """The accuracy plots draw whichever methods ran (here without EENet), one colour each."""
    assert exp_run(repo, "schedulers.methods=[maxprob,entropy]") == [CHECK, *BOTH_FITS]
    path, env = repo
    shown = json.loads(run([sys.executable, "-m", "dvc", "plots", "show", "--json"], path,
                           env).stdout)
    assert not shown.get("errors"), shown.get("errors")
    values = shown["data"]["accuracy_vs_budget"][0]["content"]["data"]["values"]
    assert {v["method"] for v in values} == {"maxprob", "entropy", "oracle"}
    # each in its place in the PNG's legend, which plots/by_method.json lists them by
    assert {(v["method"], v["method_order"]) for v in values} == {
        ("maxprob", "0"), ("entropy", "1"), ("oracle", "2")}
    # the training curves, once each, their y axes labelled (not the raw metric names)
    curves = {Path(k).stem: v[0]["content"] for k, v in shown["data"].items()
              if "reports/train/plots/metrics/" in k}
    assert set(curves) == {"train_loss", "train_ce"}
    for name, content in curves.items():
        assert content["layer"][0]["encoding"]["y"]["title"] != name
    # every exit's validation accuracy in one plot, a line per exit, each epoch once
    values = shown["data"]["validation_accuracy_per_exit"][0]["content"]["data"]["values"]
    epochs = pipeline_params()["train"]["epochs"]
    assert sorted((int(v["epoch"]), int(v["exit"])) for v in values) == [
        (e, k) for e in range(epochs) for k in range(3)]


def test_an_imported_table_reruns_profile_when_what_it_says_changes(repo):
    """profile.table's file is named by a parameter, so DVC did not see it edited in place:
    the stage kept the old costs. import_latency lists latency_tables/ and records what it
    read: an edit of the named table reruns profile with the new costs; any file there reran
    profile and all after it, now the import alone, its record unchanged. (Without EENet and
    the measure stage, which the costs reach as any other method and stage: the two reruns of
    everything after profile fit the heuristics alone.)"""
    path, env = repo
    table = path / "latency_tables" / "target.csv"

    def imported(text: str, file: Path = table) -> list[str]:
        file.write_text(text)
        run(["git", "add", "-A"], path, env)
        run(["git", "commit", "-qm", "table"], path, env)
        return exp_run(repo, "profile.table=latency_tables/target.csv",
                       "schedulers.methods=[maxprob,entropy]", "measure.enabled=false")

    assert imported("ms\n0.1\n0.2\n0.4\n")[:4] == [CHECK, "import_latency", "profile",
                                                   "profile_scoring"]
    latency = json.loads((path / "artifacts/latency.json").read_text())
    assert latency["cumulative_ms"] == [0.1, 0.2, 0.4]
    # the same profile.table as committed: only the table changed, params.yaml did not
    assert imported("ms\n0.1\n0.3\n0.4\n")[:3] == ["import_latency", "profile",
                                                   "profile_scoring"]
    latency = json.loads((path / "artifacts/latency.json").read_text())
    assert latency["cumulative_ms"] == [0.1, 0.3, 0.4]
    # another table added beside it, or this one rewritten with the same values
    assert imported("s\n0.001\n0.002\n", path / "latency_tables" / "other.csv") == [
        "import_latency"]
    assert imported("0.10\n 0.3\n0.4\n\n") == ["import_latency"]
    assert json.loads((path / "artifacts/latency.json").read_text()) == latency


def test_first_run_prints_each_stage_s_figures_with_units(repo):
    """What `dvc repro` prints: train's val accuracy per exit in % to two decimals, as
    dump_logits prints its own (it printed the raw floats, `[76.40625, 96.75, 98.4375]`), and
    measure's line per method with the plan's unit and its `ratio_robust` named (it said
    `1.128 planned (ratio 1.341, medians 0.841)`)."""
    path, _ = repo
    log = (path / FIRST_LOG).read_text()
    live = json.loads((path / "reports/train/metrics.json").read_text())
    accuracies = ", ".join(f"{live[f'val_acc_exit{k}']:.2f}" for k in range(3))
    assert f": val accuracy % per exit [{accuracies}]\n" in log, log
    report = json.loads((path / "reports/latency_real.json").read_text())["measured"]
    for method, row in report["methods"].items():
        line = (f"{method:>9}: {row['ms_per_sample']:#.4g} ms/sample measured, "
                f"{row['planned_ms']:#.4g} ms/sample planned (ratio {row['ratio']:.3f}; "
                f"ratio_robust, of per-exit medians, {row['ratio_robust']:.3f}); ")
        assert line in log, (line, log)
