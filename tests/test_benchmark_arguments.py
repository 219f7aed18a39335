"""The benchmark scripts refuse bad arguments in one line, as eenet's commands do."""

from __future__ import annotations

import copy
import importlib
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from eenet.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture
def as_scripts(monkeypatch, tmp_path):
    """benchmarks/ first on sys.path (as for `python benchmarks/<script>.py`, whose siblings
    import each other by bare name) and the working folder `tmp_path`; the modules imported
    from benchmarks/ by bare name are forgotten afterwards."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.chdir(tmp_path)
    yield
    for name in set(sys.modules) - before:
        if Path(getattr(sys.modules[name], "__file__", None) or "").parent == BENCHMARKS:
            del sys.modules[name]


def run_script(monkeypatch, script: str, *args: str) -> int | str | None:
    """benchmarks/<script> with `args`, in this process as `python benchmarks/<script>` runs it
    (its own `__main__` block); the status it exits with."""
    path = BENCHMARKS / script
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(path), run_name="__main__")
    return exc.value.code


@pytest.mark.parametrize(("command", "rc", "message"), [
    # each block profiled repeats // blocks = 0 rounds: every plan column printed nan
    (["runtime.py", "--repeats", "1", "--blocks", "2"], 2,
     "runtime.py: error: --repeats: must be at least --blocks (2), got 1"),
    (["runtime.py", "--blocks", "0"], 2,
     "runtime.py: error: --blocks: must be an integer >= 1, got 0"),
    # a path the user named that is missing: not the quiet skip of the defaults (make bench)
    (["runtime.py", "--model", "nope"], 2, "runtime.py: error: missing: nope"),
    (["plan_refinement.py", "--samples", "0"], 2,
     "plan_refinement.py: error: --samples: must be an integer >= 1, got 0"),
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
    (["loading.py", "--samples", "0"], 2,
     "loading.py: error: --samples: must be an integer >= 1, got 0"),
])
def test_bad_benchmark_arguments_end_in_one_line(as_scripts, monkeypatch, capsys, command, rc,
                                                 message):
    """Each script run in this process (a subprocess each, importing torch, took 34 s in all);
    an exception other than the exit would fail the test as a traceback would."""
    assert run_script(monkeypatch, *command) == rc
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith(message), err


@pytest.mark.parametrize("expected", ["5", "1000001"])
def test_schedulers_refuses_a_real_fresh_draw_size_before_any_work(as_scripts, monkeypatch,
                                                                   capsys, expected):
    """--real-held-out with an --expected MNIST-1D cannot generate: one line naming --expected
    before anything is fitted or trained (MNIST-1D refused it, as data.options.num_samples,
    once the first real case's network had trained: minutes, after the synthetic fits)."""
    import real_outputs
    import runner_up_outputs

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("work began before --expected was checked")

    monkeypatch.setattr(real_outputs, "prepare_dataset", no_work)
    monkeypatch.setattr(runner_up_outputs, "draw_outputs", no_work)
    monkeypatch.setattr("eenet.synthetic.make_draws", no_work)
    assert run_script(monkeypatch, "schedulers.py", "--real-held-out", "--entropy-favoured",
                      "--expected", expected) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"schedulers.py: error: --expected: a real case's fresh draw is MNIST-1D generated "
        f"anew: 0 (none) or from 100 to 1000000 samples, got {expected}"], err


def test_a_real_fresh_draw_takes_no_size_mnist1d_cannot_generate(as_scripts, monkeypatch):
    import real_outputs
    from real_outputs import REAL_HELD_OUT, check_fresh_samples, trained_outputs

    monkeypatch.setattr(real_outputs, "prepare_dataset", None)  # nothing may be generated
    for fine in (0, 100, 10**6):
        check_fresh_samples(fine, "--expected")
    for bad in (1, 99, 10**6 + 1):
        with pytest.raises(ConfigError, match=rf"^--expected: .* got {bad}$"):
            check_fresh_samples(bad, "--expected")
    with pytest.raises(ConfigError, match=r"^fresh_samples: .* got 7$"):  # before training
        trained_outputs(REAL_HELD_OUT[0], 7)


def test_a_bad_argument_ends_in_one_line_from_the_command_line(tmp_path):
    """The same through the real entry point, `python benchmarks/tuning.py` in a process of
    its own (its sibling imported from the script's folder, `script_cli` in `__main__`)."""
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "tuning.py"), "--compare",
                           "nope.json"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == ("tuning.py: error: --compare: cannot read nope.json (No such file or "
                           "directory)\n")


def test_a_benchmark_piped_into_head_ends_quietly(tmp_path):
    """A tool script (`script_cli` in `__main__`, as every benchmark) printing more than a
    pipe holds, read by `head -c 1`: the reader closes the pipe and the script ends with
    SIGPIPE's status, no BrokenPipeError traceback (there was one)."""
    script = tmp_path / "long_table.py"
    script.write_text("from eenet.cli import script_cli\n"
                      "script_cli(lambda: [print('x' * 1000) for _ in range(1000)])\n")
    proc = subprocess.run(
        f"{sys.executable} {script} | head -c 1 > /dev/null; echo ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", cwd=tmp_path, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.split() == ["141"], proc.stdout
    assert proc.stderr == "", proc.stderr


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


TUNING_ARGS = ["--shapes", "1", "--seeds", "201", "--budgets", "2", "--expected", "2000",
               "--no-pipeline"]


def test_tuning_check_compares_a_run_with_a_saved_one(tmp_path, as_scripts, monkeypatch,
                                                      capsys):
    """benchmarks/tuning.py --compare prints this run's margins minus a saved run's: none
    against the run saved, and a saved margin lowered at one budget shows as that budget's
    gain. One real run (a process of its own) saves its margins; --compare then runs in this
    process with that run's saved margins in place of the fits (three real runs took
    27 s; that two real fits agree is test_schedulers.py's and test_evaluation.py's
    to check)."""
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "tuning.py"), *TUNING_ARGS,
                           "--save", "saved.json"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((tmp_path / "saved.json").read_text())
    ((name, case),) = saved.items()
    assert name == "3x10 3000 val, seed 201" and len(case["rules"]) == 2
    assert len(case["test"]) == len(case["expected"]) == 2
    assert proc.stdout.splitlines()[-1].startswith(name)

    tuning = importlib.import_module("tuning")
    monkeypatch.setattr(tuning, "margins", lambda *args: copy.deepcopy(case))

    def compare(path: str) -> str:
        monkeypatch.setattr(sys, "argv", ["tuning.py", *TUNING_ARGS, "--compare", path])
        tuning.main()
        out = capsys.readouterr().out
        assert f"this run minus {path}:" in out
        return out.splitlines()[-1]

    assert compare("saved.json").endswith(
        "test mean +0.000 (worst +0.00, best +0.00)  expected mean +0.000 (worst +0.00, "
        "best +0.00)  rules changed at 0 of 2")
    case_saved = copy.deepcopy(case)
    case_saved["test"][1] -= 0.5
    case_saved["rules"][0] = "another rule"
    (tmp_path / "lowered.json").write_text(json.dumps({name: case_saved}))
    assert compare("lowered.json").endswith(
        "test mean +0.250 (worst +0.00, best +0.50)  expected mean +0.000 (worst +0.00, "
        "best +0.00)  rules changed at 1 of 2")


def test_timing_stability_times_per_sample_on_the_profiles_threads(as_scripts, monkeypatch,
                                                                   capsys):
    """Its blocks are ms per sample on --threads (default 1), as its profiles are: at batch 16
    they printed ms per call beside the profiles' ms per sample, and ran on torch's default
    thread count beside 1-thread profiles (15x slower on a busy 2-core machine)."""
    import numpy as np
    import torch

    from tests.runtime_helpers import TinyNet

    stability = importlib.import_module("timing_stability")
    threads_seen: list[int] = []

    def fake_time_prefixes(calls: list, device: torch.device, rounds: int) -> np.ndarray:
        threads_seen.append(torch.get_num_threads())
        return np.full((rounds, len(calls)), 8.0)  # ms per call of 16 samples

    def fake_profile(model: object, **settings: object) -> dict:
        threads_seen.append(torch.get_num_threads())
        return {"cumulative_ms": [0.5, 1.0, 1.5], "warmup_rounds": 0}

    monkeypatch.setattr(stability, "time_prefixes", fake_time_prefixes)
    monkeypatch.setattr(stability, "profile_model", fake_profile)
    monkeypatch.setattr(stability, "load_trained", lambda path: TinyNet())
    monkeypatch.setattr(sys, "argv", ["timing_stability.py", "--device", "cpu", "--batch-size",
                                      "16", "--seconds", "0.001", "--idle", "0",
                                      "--profiles", "1"])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        stability.main()
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert threads_seen and set(threads_seen) == {1}
    assert "[0.5, 0.5, 0.5]" in out.split("profile 0")[0]  # 8 ms per call / 16 samples
    assert "exit-0 median ms/sample min 0.5000" in out


def test_timing_stability_times_a_double_model_in_its_precision(as_scripts, monkeypatch,
                                                               capsys) -> None:
    """Its blocks timed the runtime on the model's float32 example inputs: a model made
    double precision (its runtime refuses float32) failed at the first block. They are now
    made in the weights' precision, as its profiles' are; a batch too large for them is a
    one-line error naming --batch-size before anything is made."""
    import torch

    from eenet.errors import ConfigError
    from tests.runtime_helpers import TinyNet

    stability = importlib.import_module("timing_stability")
    torch.manual_seed(0)
    monkeypatch.setattr(stability, "load_trained", lambda path: TinyNet().double())
    monkeypatch.setattr(sys, "argv", ["timing_stability.py", "--device", "cpu", "--batch-size",
                                      "2", "--rounds", "1", "--seconds", "0.001", "--idle",
                                      "0", "--profiles", "0"])
    stability.main()
    assert "exit-0 median ms/sample min" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["timing_stability.py", "--device", "cpu", "--batch-size",
                                      str(2**30)])
    with pytest.raises(ConfigError, match=r"^--batch-size: 1073741824 samples of the model's "
                                          r"example inputs \(256 bytes each\)"):
        stability.main()


def test_real_cases_count_a_double_models_flops_in_its_precision(as_scripts) -> None:
    """The real held-out cases' MFLOPs were counted on float32 example inputs, which a model
    made double precision cannot take; they are counted in the weights' precision, the same
    counts as the float32 model's."""
    import numpy as np
    from real_outputs import exit_mflops

    from tests.runtime_helpers import TinyNet

    model = TinyNet()
    single = exit_mflops(model)
    np.testing.assert_array_equal(exit_mflops(model.double()), single)
    assert np.all(np.diff(single) > 0)


def test_equal_cost_accuracy_runs_on_to_the_sweeps_ends_and_takes_the_best_of_a_tie(
        as_scripts) -> None:
    """The heuristics' accuracy at EENet's realised cost: below the sweep's cheapest point it
    runs down to everyone at exit 0 (held at that point's accuracy, it credited the heuristic
    with accuracy it pays more for), above the dearest up to everyone at the last exit, and of
    two points of one cost the more accurate counts on both sides of it (np.interp took the
    less accurate one just below it and the more accurate one at it)."""
    import numpy as np

    schedulers = importlib.import_module("schedulers")
    correct = np.array([[True, False, False, False], [True, True, True, False]])
    ends = schedulers.sweep_ends(correct, np.array([1.0, 4.0]))
    assert ends == ((1.0, 25.0), (4.0, 75.0))
    sweep = [{"cost_ms": 2.0, "accuracy": 60.0}, {"cost_ms": 3.0, "accuracy": 70.0},
             {"cost_ms": 2.0, "accuracy": 50.0}]
    at = lambda cost: schedulers.accuracy_at_cost(sweep, cost, ends)  # noqa: E731
    assert at(1.5) == pytest.approx(42.5)  # halfway from exit 0's 25 % to 60 %
    assert at(1.0) == 25.0
    assert at(1.99) == pytest.approx(59.65) and at(2.0) == 60.0  # the tie's better point
    assert at(3.5) == pytest.approx(72.5) and at(4.0) == 75.0
    # EENet's margin at equal cost uses them: 55 % at cost 1.5 is 12.5 points above max p
    results = {"eenet": [{"cost_ms": 1.5, "accuracy": 55.0}],
               "maxprob": [{"cost_ms": 2.0, "accuracy": 60.0}],
               "entropy": [{"cost_ms": 2.0, "accuracy": 58.0}]}
    nominal, matched = schedulers.margins_on(results, 0, ends)
    assert nominal == -5.0 and matched == pytest.approx(12.5)


def test_the_expected_draw_is_independent_of_the_cases_test_split(as_scripts) -> None:
    """A synthetic case's fresh draw comes from its distribution after its validation and its
    test split: drawn in the test split's place it reused the test split's random numbers (its
    first labels were the test split's, its difficulties the test's distractor logits)."""
    import numpy as np

    from eenet.synthetic import make_draws, make_split_pair

    schedulers = importlib.import_module("schedulers")
    val, test = make_split_pair(3, 10, 300, 400, seed=101)
    fresh = schedulers.expected_draw(val, test, 101, 2000)
    assert fresh is not None and fresh.n_samples == 2000
    assert not np.array_equal(fresh.labels[:400], test.labels)
    third = make_draws(3, 10, (300, 400, 2000), 101)
    np.testing.assert_array_equal(third[0].logits, val.logits)
    np.testing.assert_array_equal(third[1].logits, test.logits)
    np.testing.assert_array_equal(third[2].logits, fresh.logits)
    assert schedulers.expected_draw(val, test, 101, 0) is None
    with pytest.raises(AssertionError, match="not the case's distribution"):
        schedulers.expected_draw(val, make_split_pair(3, 10, 300, 400, seed=102)[1], 101, 10)


def test_evaluation_time_counts_the_test_splits_log_probabilities_and_hits(
        as_scripts, monkeypatch, capsys) -> None:
    """The time to evaluate every method x budget on test starts from the test logits: their
    log-probabilities and each exit's hits are part of it (computed before the clock started,
    they were left out: 0.15 s of 10k test samples of 4 exits x 100 classes, a quarter of the
    time printed). A clock that moves only while the test split computes them (5 s and 3 s;
    `correct` takes its log-probabilities again) reads at least 8 s."""
    from types import SimpleNamespace

    from eenet.outputs import ExitOutputs
    from eenet.synthetic import make_costs, make_split_pair

    schedulers = importlib.import_module("schedulers")
    now = [0.0]
    monkeypatch.setattr(schedulers, "time", SimpleNamespace(perf_counter=lambda: now[0]))

    class Timed(ExitOutputs):
        """A test split whose log-probabilities take 5 s and whose hits take 3 s."""

        def log_probs(self):
            now[0] += 5.0
            return super().log_probs()

        def correct(self):
            now[0] += 3.0
            return super().correct()

    val, test = make_split_pair(3, 10, 400, 400, seed=5)
    summary = schedulers.run_case("tiny", val, Timed(test.logits, test.labels),
                                  make_costs(3), 1)
    assert summary["eval_s"] >= 8.0
    assert (f"evaluating 5 methods x 1 budgets on test: {summary['eval_s']:.2f} s"
            in capsys.readouterr().out)
