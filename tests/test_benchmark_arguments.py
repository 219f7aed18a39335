"""The benchmark scripts refuse bad arguments in one line, as eenet's commands do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("command", "rc", "message"), [
    # each block profiled repeats // blocks = 0 rounds: every plan column printed nan
    (["runtime.py", "--repeats", "1", "--blocks", "2"], 2,
     "runtime.py: error: --repeats: must be at least --blocks (2), got 1"),
    (["runtime.py", "--blocks", "0"], 2,
     "runtime.py: error: --blocks: must be an integer >= 1, got 0"),
    # a path the user named that is missing: not the quiet skip of the defaults (make bench)
    (["runtime.py", "--model", "nope"], 2, "runtime.py: error: missing: nope"),
    (["schedulers.py", "--budgets", "0"], 2,
     "schedulers.py: error: --budgets: must be an integer >= 1, got 0"),
    (["schedulers.py", "--cases", "0"], 2,
     "schedulers.py: error: --cases: must be an integer >= 1, got 0"),
    (["schedulers.py", "--cases", "1"], 2,  # ran the default cases, --cases unused
     "schedulers.py: error: --cases: counts the cases of --held-out, --real-held-out and "
     "--entropy-favoured; give one of them"),
    (["baseline_switch.py", "--expected", "0"], 2,  # printed a table of nan
     "baseline_switch.py: error: --expected: must be an integer >= 1, got 0"),
    (["timing_stability.py", "--rounds", "0"], 2,
     "timing_stability.py: error: --rounds: must be an integer >= 1, got 0"),
    (["timing_stability.py", "--model", "nope"], 2,  # a traceback before
     "timing_stability.py: error: nope/config.json: trained model config not found"),
    (["timing_stability.py", "--seconds", "0"], 2,  # no block timed: a traceback
     "timing_stability.py: error: --seconds: must be a finite number > 0, got 0.0"),
    (["tuning.py", "--seeds", "201,101"], 2,  # tuning on a held-out case spoils it
     "tuning.py: error: --seeds: 101 is a held-out case's seed in benchmarks/schedulers.py"),
    (["tuning.py", "--shapes", "5"], 2,
     "tuning.py: error: --shapes: must be an integer from 1 to 4, got 5"),
    (["tuning.py", "--compare", "nope.json"], 2,  # before any fit, not after minutes
     "tuning.py: error: --compare: cannot read nope.json (No such file or directory)"),
])
def test_bad_benchmark_arguments_end_in_one_line(tmp_path, command, rc, message):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / command[0]), *command[1:]],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == rc, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(message), proc.stderr


def test_runtime_benchmark_names_a_budget_it_has_no_policy_for(capsys):
    """Budgets asked of benchmarks.runtime are measured at the nearest fitted one, each policy
    once (two asked budgets near one policy printed its rows twice), with a note where the
    nearest is another budget (a budget outside the sweep moved silently)."""
    from benchmarks.runtime import pick_entries

    index = {"entries": [{"method": "m", "budget_ms": b, "dir": f"m/{i:02d}"}
                         for i, b in enumerate([0.3, 0.4, 0.5])], "costs_ms": [0.3, 0.6]}
    picked = pick_entries(index, "m", [0.4, 99.0, 0.5])
    assert [e["budget_ms"] for e in picked] == [0.4, 0.5]
    assert capsys.readouterr().err == ("note: m has no policy fitted at 99 ms; measuring the "
                                       "nearest, 0.5 ms\n")
    # a method with no policies: one line naming --method (a bare SystemExit line, and only
    # after the model was loaded and the test split run)
    from eenet.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^--method: no fitted 'foo' schedulers; fitted "
                                          r"methods: m$"):
        pick_entries(index, "foo", None)


def test_schedulers_benchmark_runs_the_first_case_of_each_family(tmp_path):
    """`--cases 1` runs one held-out and one entropy-favoured case (a quick run), each with its
    table, margin line and targets; the pipeline's outputs, absent here, are skipped with a
    message."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "schedulers.py"), "--skip-hard", "--held-out",
         "--entropy-favoured", "--cases", "1", "--budgets", "2", "--threads", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("skipping the default pipeline's outputs")
    sections = [line for line in out.splitlines() if line.startswith("=== ")]
    assert [s.split(":")[0] for s in sections] == [
        "=== held-out 3x10, 3000 val", "=== runner-up 3x10, 3000 val, strength 0.25"]
    assert out.count("EENet margin over best of maxprob/entropy: mean") == 2
    targets = out.split("targets (per case")[1]
    assert targets.count("EENet >= better of max p / entropy at every budget: ") == 2


def test_tuning_check_compares_a_run_with_a_saved_one(tmp_path):
    """benchmarks/tuning.py --compare prints this run's margins minus a saved run's: none
    against its own saved run (the fits are deterministic), and a saved margin lowered at one
    budget shows as that budget's gain."""
    def run(*extra: str) -> str:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "tuning.py"), "--shapes", "1",
             "--seeds", "201", "--budgets", "2", "--expected", "2000", "--no-pipeline", *extra],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()[-1]

    run("--save", "saved.json")
    assert run("--compare", "saved.json").endswith(
        "test mean +0.000 (worst +0.00, best +0.00)  expected mean +0.000 (worst +0.00, "
        "best +0.00)  rules changed at 0 of 2")
    saved = json.loads((tmp_path / "saved.json").read_text())
    (case,) = saved.values()
    case["test"][1] -= 0.5
    case["rules"][0] = "another rule"
    (tmp_path / "lowered.json").write_text(json.dumps(saved))
    assert run("--compare", "lowered.json").endswith(
        "test mean +0.250 (worst +0.00, best +0.50)  expected mean +0.000 (worst +0.00, "
        "best +0.00)  rules changed at 1 of 2")
