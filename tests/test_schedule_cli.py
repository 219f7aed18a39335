"""`eenet schedule` end to end through a subprocess: outputs, cost formats, one-line errors."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from eenet.errors import ArtifactError, counted
from eenet.latency_table import save_latency
from eenet.outputs import ExitOutputs, load_exit_outputs, save_exit_outputs
from eenet.synthetic import make_split_pair
from tests.conftest import saved_split_pair


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("schedule")
    _, test = saved_split_pair(root, 10, 1000, 1000, seed=2)
    np.savez(root / "test_probs.npz", probs=test.probs(), labels=test.labels)
    save_exit_outputs(root / "test_5_classes.npz", make_split_pair(3, 5, 10, 10, seed=3)[1])
    (root / "seconds.csv").write_text("1.0\n2.0\n3.0\n")
    save_latency(root / "latency.json", {"cumulative_ms": [1.0, 2.0, 3.0], "source": "test"})
    return root


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eenet.cli", "schedule", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _run_on(files, *args: str) -> subprocess.CompletedProcess:
    """`eenet schedule` on the module's validation and test outputs."""
    return _run("--val", str(files / "val.npz"), "--test", str(files / "test.npz"), *args)


def test_json_output_with_csv_costs_and_probs_input(files):
    proc = _run(
        "--val", str(files / "val.npz"), "--test", str(files / "test_probs.npz"),
        "--costs", str(files / "seconds.csv"), "--method", "maxprob,oracle",
        "--budgets", "1.5,2.5", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["method"], r["budget"]) for r in rows] == [
        ("maxprob", 1.5), ("maxprob", 2.5), ("oracle", 1.5), ("oracle", 2.5)
    ]  # fmt: skip
    for key in ("test_accuracy", "test_cost", "val_cost", "exit_fractions", "fit_seconds"):
        assert key in rows[0]
    assert {r["cost_unit"] for r in rows} == {"ms"}
    assert rows[2]["test_accuracy"] >= rows[0]["test_accuracy"]
    assert [r["rule"] for r in rows] == (["maxprob / geometric"] * 2
                                         + ["oracle (knows the labels)"] * 2)


@pytest.mark.parametrize(
    ("costs", "methods"), [("latency.json", "entropy,patience"), ("1,2,3", "eenet")]
)
def test_table_output_with_json_or_list_costs(files, costs, methods):
    spec = str(files / costs) if costs.endswith(".json") else costs
    proc = _run_on(files, "--costs", spec, "--method", methods, "--budgets", "2.0")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["method", "budget"]
    assert [ln.split()[0] for ln in lines[2:]] == methods.split(",")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "best"], "--method: unknown value 'best'; allowed: eenet, entropy"),
        (["--budgets", "0.2"], "feasible range: 1 to 3 ms/sample"),
        (["--budgets", "nan"], "nan is not a finite number of ms/sample; feasible range: 1 to 3"),
        (["--budgets", "inf"], "inf is not a finite number of ms/sample; feasible range: 1 to 3"),
        # beyond float64's range: it said "inf is not a finite number"
        (["--budgets", "2,1e400"], "--budgets: 1e400 is not a finite number of ms/sample; "
                                   "feasible range: 1 to 3 ms/sample, or 0% to 100%"),
        # it said "val.npz and costs": the option that gave them, and its value, named now
        (["--costs", "1,2"], "val.npz and --costs 1,2: exit outputs have 3 exits but costs "
                             "list 2"),
        (["--test", "test_5_classes.npz"],
         "--test {files}/test_5_classes.npz: 5 classes, but --val {files}/val.npz: 10; both must "
         "come from the same model"),
        (["--costs", "3,2,1"], "--costs: cumulative costs must be strictly increasing"),
        (["--costs", "1,,3"], "--costs: '1,,3' is neither a .json/.csv file nor a comma list of "
                              "ms values (it has an empty item)"),
        (["--costs", "missing.csv"], "--costs: missing.csv: costs file not found"),
        (["--budgets", "1.5,,"], "--budgets: '1.5,,' has an empty item; expected a comma list"),
        # a value beginning with '-' was argparse's usage and "expected one argument"
        (["--budgets", "-0.5,1"], "--budgets: -0.5 ms/sample is below the first exit's cost; "
                                  "feasible range: 1 to 3 ms/sample, or 0% to 100%"),
        (["--budgets", "-5%"], "--budgets: '-5%' is outside 0%..100%"),
        (["--costs", "-1,2,4"], "--costs: cumulative costs must be finite, from 1e-100 to "
                                "1e+250"),
        # costs near float64's maximum overflowed to Infinity in the mean costs (--json)
        (["--costs", "1e307,5e307,1.7e308"], "--costs: cumulative costs must be finite, from "
                                             "1e-100 to 1e+250, got [1e+307, 5e+307"),
        # Python reads '2_0' as 20: a typo taken for a cost or a budget
        (["--costs", "1,2_0,30"], "--costs: '1,2_0,30' is neither a .json/.csv file nor a "
                                  "comma list"),
        (["--budgets", "1_5"], "--budgets: expected ms/sample or 'N%', got '1_5'"),
        (["--budgets", "2ms"], "--budgets: expected ms/sample or 'N%', got '2ms'; write a number "
                               "without a unit: budgets are in the costs' unit, ms"),
        # exit outputs given for the costs were "not a UTF-8 text file; expected a one-column
        # CSV of cumulative ms"
        (["--costs", "test.npz"], "--costs: {files}/test.npz: an .npz file, such as exit "
                                  "outputs, not costs; give a .json latency table, a one-column "
                                  ".csv or a comma list of cumulative ms like 1,2,3.5"),
        # a budget given twice was dropped silently: --save's folders no longer followed the list
        (["--budgets", "1.5,2,1.5"], "--budgets: 1.5 and 1.5 are the same budget (1.5 "
                                     "ms/sample); give each budget once"),
        (["--budgets", "2,50%"], "--budgets: 2 and 50% are the same budget (2 ms/sample)"),
        (["--method", "maxprob,entropy,maxprob"], "--method: 'maxprob' given twice; give each "
                                                  "method once"),
        (["--method", "maxprob,,entropy"], "--method: 'maxprob,,entropy' has an empty item; "
                                           "expected a comma list like eenet,maxprob"),
        (["--val", "missing.npz"], "--val: missing.npz: exit outputs file not found"),
        (["--test", "missing.npz"], "--test: missing.npz: exit outputs file not found"),
        (["--set", "maxprob"], "--set: expected METHOD.KEY=VALUE (e.g. eenet.hidden=64)"),
        (["--set", "maxprob.x=1"], "--set: schedulers.maxprob.x: unknown key; allowed: (none)"),
        (["--set", "eenet.hidden=8"], "'eenet' is not a fitted method of --method (maxprob)"),
        (["--method", "eenet", "--set", "eenet.hidden=abc"],
         "--set: schedulers.eenet.hidden: expected an integer, got 'abc'"),
        (["--method", "eenet", "--set", "eenet.lr=1e-3"], "write it with a dot and a signed"),
        (["--method", "eenet", "--set", "eenet.hidden=0"],
         "--set: schedulers.eenet.hidden: must be an integer from 1 to 4096, got 0"),
        (["--method", "eenet", "--set", "eenet.hidden=1000000000"],
         "--set: schedulers.eenet.hidden: must be an integer from 1 to 4096, got 1000000000"),
        (["--method", "eenet", "--set", "eenet.scorer_extra_ms=[0.1]"],
         "--set: schedulers.eenet.scorer_extra_ms: expected 3 finite values >= 0 (one per exit)"),
        (["--method", "eenet", "--set", "eenet.fixed_extra_ms={entropy: [0.1, 0.2]}"],
         "--set: schedulers.eenet.fixed_extra_ms: expected {{score: 3 finite values >= 0}}"),
        (["--method", "eenet", "--set", "eenet.threads=1099511627776"],
         "--set: schedulers.eenet.threads: must be an integer from 1 to 1024, got 1099511627776"),
        (["--method", "eenet", "--set", "eenet.folds=1001"],
         "--set: schedulers.eenet.folds: 1001 folds but 1000 validation samples; allowed: 2 to "
         "1000"),
        (["--seed", "-1"], "--seed: must be an integer from 0 to 4294967295, got -1"),
        (["--budgets", "auto,2.5"], "--budgets: 'auto' cannot be combined with other budgets "
         "(given: auto, 2.5); give --budgets auto alone (the 12 budgets of the feasible range), "
         "or a comma list of ms/sample values or N%"),
        (["--test", "/dev/null"], "--test: /dev/null: not a regular file (a device, pipe or "
                                  "socket); give an exit-outputs .npz file"),
        (["--costs", "/dev/null"], "--costs: /dev/null: not a regular file (a device, pipe or "
                                   "socket); give a .json latency table or a one-column .csv "
                                   "file"),
        (["--cost-unit", ""], "--cost-unit: must be a unit's name such as ms, s or MFLOPs"),
        (["--cost-unit", "giga flops"], "--cost-unit: must be one word of at most 16 printable"),
        (["--cost-unit", "%"], "--cost-unit: must not hold '%' (a budget 'N%' is a share of the "
                               "feasible range"),
        (["--cost-unit", "min"], "--cost-unit: 'min' names minutes (a minute is 60 s), a time "
                                 "costs are not read in; give the costs in s, ms, us or ns, "
                                 "or in a unit that is no time, such as MFLOPs"),
        (["--costs", "latency.json", "--cost-unit", "MFLOPs"],
         "--cost-unit: {files}/latency.json is a latency table, in ms; got 'MFLOPs'"),
        (["--cost-unit", "MFLOPs", "--budgets", "0.5"],
         "--budgets: 0.5 MFLOPs/sample is below the first exit's cost; feasible range: 1 to 3 "
         "MFLOPs/sample"),
    ],
)
def test_bad_inputs_give_one_line_errors(files, args, message):
    base = {
        "--val": str(files / "val.npz"), "--test": str(files / "test.npz"),
        "--costs": "1,2,3", "--method": "maxprob", "--budgets": "2.0",
    }  # fmt: skip
    given = {key: str(files / value) if value.endswith((".npz", ".json"))
             and value != "missing.npz"
             else value for key, value in zip(args[::2], args[1::2], strict=False)}
    base.update(given)
    proc = _run(*[x for kv in base.items() for x in kv])
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message.format(files=files) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_files_are_named_in_the_usage_lines_order(tmp_path):
    """The README's example pasted where none of its files exist named --costs' latency.json
    first (the costs were read before the outputs were looked for); now --val, then --test."""
    args = ["--val", "val.npz", "--test", "test.npz", "--costs", "latency.json",
            "--method", "eenet,maxprob", "--budgets", "1.5,2.0"]
    proc = subprocess.run([sys.executable, "-m", "eenet.cli", "schedule", *args],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "eenet schedule: error: --val: val.npz: exit outputs file not found"]
    (tmp_path / "val.npz").write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "eenet.cli", "schedule", *args],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.stderr.strip().splitlines() == [
        "eenet schedule: error: --test: test.npz: exit outputs file not found"]


def _npy_bytes(array: np.ndarray) -> bytes:
    """What np.save writes for `array`: a valid .npy member of an npz."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("pickled", ["logits", "labels", "probs"])
def test_an_npz_member_that_is_no_npy_array_is_one_line(files, tmp_path, pickled):
    """A member of an exit-outputs npz holding a pickle, not an .npy array: numpy hands its
    raw bytes, which was an AttributeError traceback ('bytes' has no 'dtype') for the logits
    and "labels must be a numpy array, got bytes" for the labels; never unpickled."""
    test = load_exit_outputs(files / "test.npz")
    arrays = {"labels": test.labels,
              "probs" if pickled == "probs" else "logits": test.probs() if pickled == "probs"
              else test.logits}
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, array in arrays.items():
            data = pickle.dumps(array) if name == pickled else _npy_bytes(array)
            archive.writestr(f"{name}.npy", data)
    proc = _run("--val", str(bad), "--test", str(files / "test.npz"), "--costs", "1,2,3",
                "--method", "maxprob", "--budgets", "2")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"eenet schedule: error: --val: {bad}: not a readable npz file (member "
        f"'{pickled}.npy' is not an .npy array)"
    ]


@pytest.mark.parametrize("split", ["--val", "--test"])
def test_probabilities_saved_as_logits_are_one_line(files, tmp_path, split):
    """Softmax probabilities saved under 'logits' were read as logits, whose softmax is not
    theirs: max p left 0.999 of the samples at exit 0 with no word, or (given as test) spent
    half again the budget. Now one line naming the file and the way to give them; float16
    probabilities, rows off 1 by up to the tolerance, are told apart too; so are they given
    to ExitOutputs in Python."""
    test = load_exit_outputs(files / "test.npz")
    bad = tmp_path / "probs_as_logits.npz"
    probs = test.probs().astype(np.float16)
    assert np.abs(probs.astype(np.float64).sum(-1) - 1).max() > 1e-4  # rounded rows
    np.savez(bad, logits=probs, labels=test.labels)
    given = {"--val": str(files / "val.npz"), "--test": str(files / "test.npz"), split: str(bad)}
    proc = _run(*[x for kv in given.items() for x in kv], "--costs", "1,2,3",
                "--method", "maxprob", "--budgets", "2")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"eenet schedule: error: {split}: {bad}: logits look like probabilities (each row in "
        "[0, 1], summing to 1 within 0.01), whose softmax is not theirs: give the logits, or "
        "np.log(probs) as logits, or in an .npz file the probabilities as 'probs'"
    ]
    with pytest.raises(ArtifactError, match=r"^ExitOutputs: logits look like probabilities"):
        ExitOutputs(test.probs(), test.labels)


def test_saved_policies_reproduce_the_reported_rows(files, tmp_path):
    """--save writes a schedulers folder (no oracle: it is no policy); evaluating the reloaded
    policies on test gives exactly the rows the command printed."""
    from eenet.outputs import load_exit_outputs
    from eenet.schedulers import load_policy
    from eenet.sweep import read_index
    from eenet.sweep_evaluation import evaluate_all

    out = tmp_path / "policies"
    proc = _run_on(files, "--costs", "1,2,3", "--method", "eenet,maxprob,patience,oracle",
                   "--budgets", "1.5,2.5", "--json", "--save", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"saved 6 fitted policies to {out}" in proc.stderr
    one = _run_on(files, "--costs", "1,2,3", "--method", "maxprob,oracle", "--budgets", "2",
                  "--save", str(tmp_path / "one"))
    assert one.returncode == 0 and f"saved 1 fitted policy to {tmp_path / 'one'}" in one.stderr
    rows = {(r["method"], r["budget"]): r for r in json.loads(proc.stdout)}
    index = read_index(out)
    assert [(e["method"], e["budget_ms"]) for e in index["entries"]] == [
        (m, b) for m in ("eenet", "maxprob", "patience") for b in (1.5, 2.5)
    ]
    assert index["headline_ms"] == 1.5 and index["costs_ms"] == [1.0, 2.0, 3.0]
    assert load_policy(out / "eenet" / "01").budget_ms == 2.5
    test = load_exit_outputs(files / "test.npz")
    metrics, sweep = evaluate_all(test, np.array([1.0, 2.0, 3.0]), out)
    # the samples fitted on and evaluated on, as the pipeline's metrics.json says them
    n_val = load_exit_outputs(files / "val.npz").n_samples
    assert (index["n_val"], metrics["n_val"], metrics["n_test"]) == (n_val, n_val, test.n_samples)
    assert len(sweep) == len(rows)  # the evaluate stage adds the oracle back
    for r in sweep.to_dict("records"):
        want = rows[(r["method"], r["budget_ms"])]
        assert r["test_accuracy"] == want["test_accuracy"]
        assert r["test_cost_ms"] == want["test_cost"]
        assert [r[f"exit{k}_fraction"] for k in range(3)] == want["exit_fractions"]
        if r["method"] == "oracle":  # fitted on nothing: no validation cost nor fit time
            assert want["val_cost"] is want["val_accuracy"] is want["fit_seconds"] is None
            assert np.isnan(r["val_cost_ms"]) and np.isnan(r["fit_seconds"])


def test_saved_index_records_the_budgets_as_given(files, tmp_path):
    """--save's index records the budgets as the pipeline's records params.yaml's: `budget`
    and `sweep_given` ('50%' as written, a number as resolved), so evaluating the folder gives
    the `budget_given` the command printed (it gave the resolved 2.0 for '50%'); 'auto'
    records none, its headline `budget` being the first exit's cost."""
    from eenet.sweep import read_index
    from eenet.sweep_evaluation import evaluate_folders

    out = tmp_path / "policies"
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "50%,2.5",
                   "--json", "--save", str(out))
    assert proc.returncode == 0, proc.stderr
    printed = {r["budget"]: r["budget_given"] for r in json.loads(proc.stdout)}
    assert printed == {2.0: "50%", 2.5: "2.5"}
    index = read_index(out)
    assert (index["budget"], index["headline_ms"]) == ("50%", 2.0)
    assert (index["sweep_ms"], index["sweep_given"]) == ([2.0, 2.5], ["50%", 2.5])
    evaluation = evaluate_folders(load_exit_outputs(files / "test.npz"),
                                  np.array([1.0, 2.0, 3.0]), out)
    assert evaluation.metrics["budget_given"] == "50%"
    assert evaluation.given == {2.0: "50%", 2.5: 2.5}
    auto = tmp_path / "auto"
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "auto",
                   "--save", str(auto))
    assert proc.returncode == 0, proc.stderr
    index = read_index(auto)
    assert index["budget"] == index["headline_ms"] == 1.0 and "sweep_given" not in index


def test_save_refuses_a_folder_it_did_not_write(files, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "2.0",
                   "--save", str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--save:" in proc.stderr and "not empty and holds no index.json" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("index", ["[1]", ""])
def test_save_refuses_a_folder_whose_index_is_not_one(files, tmp_path, index):
    """Any file named index.json made a folder count as fitted schedulers, replaced whole."""
    (tmp_path / "index.json").write_text(index)
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "2.0",
                   "--save", str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"--save: {tmp_path} is no folder of fitted schedulers, which saving replaces (" in (
        proc.stderr) and proc.stderr.rstrip().endswith("); give a new or empty folder")
    assert (tmp_path / "index.json").read_text() == index


def test_a_table_measured_on_a_model_of_other_classes_is_refused(files, tmp_path):
    """A latency table recording a 7-class model beside 10-class exit outputs was taken: the
    saved policies recorded both class counts, so `eenet predict` refused every model."""
    for classes, code in ((7, 2), (10, 0)):
        table = tmp_path / f"latency_{classes}.json"
        save_latency(table, {"cumulative_ms": [1.0, 2.0, 3.0], "source": "test",
                             "model": {"name": "resnet1d_3", "num_classes": classes}})
        out = tmp_path / f"fitted_{classes}"
        proc = _run_on(files, "--costs", str(table), "--method", "maxprob", "--budgets", "2.0",
                       "--save", str(out))
        assert proc.returncode == code, proc.stderr
        if code:
            assert proc.stderr == (f"eenet schedule: error: --costs {table}: measured on a "
                                   f"model of 7 classes, --val {files / 'val.npz'} holds exit "
                                   "outputs of 10; give the costs measured on the model that "
                                   "gave them\n")
            assert not out.exists()
        else:
            index = json.loads((out / "index.json").read_text())
            assert index["n_classes"] == index["model"]["num_classes"] == 10


def test_save_under_a_file_is_refused_before_fitting(files, tmp_path):
    """--save inside a path that runs through a file can never be written: a one-line error
    before any fitting (it was a FileExistsError traceback after fitting)."""
    (tmp_path / "notes.txt").write_text("mine")
    proc = _run_on(files, "--costs", "1,2,3", "--method", "eenet", "--budgets", "2.0",
                   "--save", str(tmp_path / "notes.txt" / "policies"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"eenet schedule: error: --save: {tmp_path / 'notes.txt'} is a file, not a folder; "
        "give a folder path that can be created"
    ]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_save_that_the_system_refuses_is_one_line(files, tmp_path):
    """An OS refusal while writing --save (here a folder name longer than the file system
    allows) is a one-line error naming --save, not an OSError traceback."""
    out = tmp_path / ("p" * 300)
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "2.0",
                   "--save", str(out))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"eenet schedule: error: --save: cannot write {out} (File name too long)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_save_keeps_files_that_are_not_fitted_schedulers(files, tmp_path):
    """A schedulers folder is replaced whole, so one that also holds other files (here the
    very outputs being read) is refused: they were deleted."""
    out = tmp_path / "policies"
    args = ("--costs", "1,2,3", "--method", "maxprob", "--budgets", "2.0", "--save", str(out))
    assert _run_on(files, *args).returncode == 0
    for name in ("val.npz", "test.npz"):
        (out / name).write_bytes((files / name).read_bytes())
    proc = _run("--val", str(out / "val.npz"), "--test", str(out / "test.npz"), *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"eenet schedule: error: --save: {out} holds test.npz, val.npz beside its fitted "
        "schedulers, which replacing it would delete; give a new or empty folder"
    ]
    assert sorted(p.name for p in out.iterdir()) == ["index.json", "maxprob", "test.npz",
                                                     "val.npz"]
    (out / "val.npz").unlink()
    (out / "test.npz").unlink()
    assert _run_on(files, *args).returncode == 0  # a schedulers folder alone is replaced


@pytest.mark.parametrize("stranger", ["maxprob/notes.txt", "maxprob/00/notes.txt"])
def test_save_keeps_files_inside_the_method_folders(files, tmp_path, stranger):
    """A file of the user's inside a method's folder or a policy's folder of a schedulers
    folder is refused too: replacing the folder deleted it (only top-level names were
    checked)."""
    out = tmp_path / "policies"
    args = ("--costs", "1,2,3", "--method", "maxprob", "--budgets", "2.0", "--save", str(out))
    assert _run_on(files, *args).returncode == 0
    (out / stranger).write_text("mine")
    proc = _run_on(files, *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"eenet schedule: error: --save: {out} holds {stranger} beside its fitted "
        "schedulers, which replacing it would delete; give a new or empty folder"
    ]
    assert (out / stranger).read_text() == "mine"


@pytest.mark.parametrize("save", [".", ".."])
def test_save_to_the_current_folder_is_one_line(files, tmp_path, save):
    """--save . in an empty working folder was a ValueError traceback after fitting (the
    folder is swapped by renaming, and '.' has no name); the current folder, or one holding
    it, is refused before fitting."""
    here = tmp_path / "work"
    here.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "eenet.cli", "schedule", "--val", str(files / "val.npz"),
         "--test", str(files / "test.npz"), "--costs", "1,2,3", "--method", "maxprob",
         "--budgets", "2.0", "--save", save],
        capture_output=True, text=True, timeout=120, cwd=here,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"eenet schedule: error: --save: {save} is the current folder or holds it, which "
        f"saving replaces whole; give a folder inside it, e.g. {Path(save) / 'fitted'}"
    ]
    assert list(here.iterdir()) == []


def test_an_empty_save_is_one_line(files):
    """--save '' (an unset shell variable, say) was ignored: the run ended as if saved."""
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "2.0",
                   "--save", "")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "eenet schedule: error: --save: '' is no folder name; give a folder to write, e.g. fitted"
    ]


def test_save_with_only_the_oracle_is_refused(files, tmp_path):
    """The oracle is no policy: --save with --method oracle alone would write a schedulers
    folder listing nothing (which evaluate_all then failed on with a KeyError)."""
    out = tmp_path / "policies"
    proc = _run_on(files, "--costs", "1,2,3", "--method", "oracle", "--budgets", "2.0",
                   "--save", str(out))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "eenet schedule: error: --save: --method oracle fits no policy (it is an upper bound "
        "that uses the labels); add a fitted method: eenet, maxprob, entropy, patience"
    ]
    assert not out.exists()


def test_budget_at_or_above_the_full_cost_is_noted(files):
    """The note said "every method sends all samples to the last exit" beside an oracle row
    that did not (it is no policy: it stops each sample where it is first right)."""
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob,eenet,oracle", "--budgets",
                   "2.0,3.0,3.5", "--json")
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 2
    assert "--budgets 3.5 ms/sample is at or above the last exit's cost (3 ms)" in notes[1]
    assert "every policy sends all samples to the last exit (the oracle, an upper bound, " in (
        notes[1])
    for r in json.loads(proc.stdout):
        if r["method"] == "oracle":
            assert r["exit_fractions"][-1] < 0.5
        else:
            assert (r["exit_fractions"][-1] == 1.0) == (r["budget"] >= 3.0)


def test_a_share_at_the_full_cost_is_noted_as_typed(files):
    """`--budgets 100%` was noted as "--budgets 3 ms/sample is at or above ...", a value the
    user never typed (errors quote the item as typed)."""
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "0%,100%")
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith(
        "note: --budgets 100% = 3 ms/sample is at or above the last exit's cost (3 ms): ")


def test_auto_budgets_span_the_feasible_range_without_notes(files):
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob,entropy", "--budgets",
                   "auto", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "note:" not in proc.stderr
    rows = json.loads(proc.stdout)
    budgets = [r["budget"] for r in rows if r["method"] == "maxprob"]
    assert budgets == pytest.approx(np.linspace(1.0, 3.0, 12).tolist())
    assert [r["budget"] for r in rows if r["method"] == "entropy"] == budgets
    assert {r["budget_given"] for r in rows} == {"auto"}


def test_table_ends_with_eenets_margin_over_the_better_heuristic(files):
    from eenet.commands.schedule_report import eenet_margins, format_table

    args = ("--costs", "1,2,3", "--method", "maxprob,entropy,eenet", "--budgets", "1.5,2.5")
    table, as_json = _run_on(files, *args), _run_on(files, *args, "--json")
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    rows = json.loads(as_json.stdout)
    acc = {(r["method"], r["budget"]): r["test_accuracy"] for r in rows}
    want = [(b, acc[("eenet", b)] - max(acc[("maxprob", b)], acc[("entropy", b)]))
            for b in (1.5, 2.5)]
    assert eenet_margins(rows) == want
    footer = table.stdout.splitlines()[-1]
    assert footer == (f"eenet - best of maxprob/entropy (test accuracy points): "
                      f"{want[0][1]:+.2f} at 1.5, {want[1][1]:+.2f} at 2.5; "
                      f"mean {(want[0][1] + want[1][1]) / 2:+.2f}")
    assert eenet_margins([r for r in rows if r["method"] != "eenet"]) == []
    # beside max p alone the footer names max p alone (it named entropy, which did not run,
    # then "best of maxprob", a best of one)
    alone = format_table([r for r in rows if r["method"] != "entropy"]).splitlines()[-1]
    assert alone.startswith("eenet - maxprob (test accuracy points): ")


def test_a_budget_just_under_an_exit_cost_does_not_print_as_that_cost(files):
    """`--budgets 2.9999` under a last exit of 3 printed as 3 (four significant digits), as if
    the budget were the full model's cost; the policy, whose validation cost rounds to whole
    samples, was then read as over no budget at all."""
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "2.9999,2")
    assert proc.returncode == 0, proc.stderr
    budgets = [line.split()[1] for line in proc.stdout.splitlines()[2:]]
    assert budgets == ["2.9999", "2"]


def test_percentage_budgets_show_as_given_beside_their_value(files):
    """`--budgets 25%,2.2`: the table showed 1.5 and 2.2, not which row was the 25 %; and the
    JSON gave the resolved budget alone."""
    args = ("--costs", "1,2,3", "--method", "maxprob,eenet", "--budgets", "25%,2.2")
    table, as_json = _run_on(files, *args), _run_on(files, *args, "--json")
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    header, _, *rows, footer = table.stdout.splitlines()
    end = header.index("budget") + len("budget")
    assert [row[:end].split(None, 1)[1].strip() for row in rows] == ["25% (1.5)", "2.2"] * 2
    _assert_columns_line_up("\n".join([header, _, *rows]), "ms", {"maxprob / geometric"}
                            | {r["rule"] for r in json.loads(as_json.stdout)})
    assert " at 25% (1.5), " in footer and " at 2.2; " in footer
    rows = json.loads(as_json.stdout)
    assert [(r["method"], r["budget"], r["budget_given"]) for r in rows] == [
        ("maxprob", 1.5, "25%"), ("maxprob", 2.2, "2.2"), ("eenet", 1.5, "25%"),
        ("eenet", 2.2, "2.2")]


def test_budgets_that_differ_print_differently(files):
    """Budgets 1.50001 and 1.50002 both printed as 1.5 in the table and its margins."""
    args = ("--costs", "1,2,3", "--method", "maxprob,eenet", "--budgets", "1.50001,1.50002,2")
    table = _run_on(files, *args)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    rows = [line.split() for line in lines[2:-1]]  # between the header and the margins
    assert [r[1] for r in rows] == ["1.50001", "1.50002", "2"] * 2
    assert " at 1.50001, " in table.stdout and " at 1.50002, " in table.stdout
    assert " at 2; " in table.stdout


def test_settings_reach_the_fit(files, tmp_path):
    """--set as params.yaml's schedulers group: with EENet's bars to leave the heuristic
    baseline out of reach it keeps max p's rule (same rows as max p), and the saved policy
    records the settings it was fitted with."""
    from eenet.schedulers import load_policy

    proc = _run_on(files, "--costs", "1,2,3", "--method", "eenet,maxprob", "--budgets",
                   "1.4,2.2", "--json", "--set", "eenet.switch_z=1.0e+9", "--set",
                   "eenet.refine_z=1.0e+9", "--save", str(tmp_path / "fitted"))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    keys = ("budget", "test_accuracy", "test_cost", "val_cost", "exit_fractions")
    eenet = [[r[k] for k in keys] for r in rows if r["method"] == "eenet"]
    assert eenet == [[r[k] for k in keys] for r in rows if r["method"] == "maxprob"]
    settings = load_policy(tmp_path / "fitted" / "eenet" / "00").settings
    assert settings["switch_z"] == settings["refine_z"] == 1.0e9 and settings["hidden"] == 32


def test_a_budget_missed_on_a_tiny_validation_set_is_noted(tmp_path, files):
    """Five validation samples realise a plan only in fifths: the overrun is said on stderr
    (one line, naming the worst policy), and not said when validation meets the budgets."""
    val, _ = make_split_pair(3, 10, 5, 10, seed=4)
    save_exit_outputs(tmp_path / "val5.npz", val)
    proc = _run("--val", str(tmp_path / "val5.npz"), "--test", str(files / "test.npz"),
                "--costs", "1,2,4", "--method", "maxprob,oracle", "--budgets", "1.5,1.7", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    over = [r for r in rows if r["method"] == "maxprob" and r["val_cost"] > 1.01 * r["budget"]]
    assert over, rows
    worst = max(over, key=lambda r: r["val_cost"] / r["budget"])
    policies = ("1 fitted policy costs more than its budget on validation, by" if len(over) == 1
                else f"{len(over)} fitted policies cost more than their budget on validation, "
                "up to")
    assert proc.stderr.strip().splitlines() == [
        f"note: {policies} {100 * (worst['val_cost'] / worst['budget'] - 1):.1f} % (maxprob at "
        f"{worst['budget']:g}: {worst['val_cost']:.4g}): 5 validation samples realise a planned "
        "exit distribution only in whole samples; more validation samples meet budgets closely"
    ]
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "1.5,2.5")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_a_budget_below_the_charged_first_exit_is_noted_as_such(files):
    """EENet charged a scoring cost that puts every score's first exit above the budget sends
    everyone to exit 0 unscored, at the first exit's own cost, which meets the budget (it was
    counted at the charged cost, 1.5 over a budget of 1.2, though the runtime scores nothing
    there); a note says why, not that 1,000 validation samples were too few."""
    proc = _run_on(files, "--costs", "1,2,3", "--method", "eenet,maxprob", "--budgets", "1.2,2",
                   "--set", "eenet.scorer_extra_ms=[0.5, 0.5, 0.5]", "--set",
                   "eenet.fixed_extra_ms={maxprob: [0.5, 0.5, 0.5]}", "--set",
                   "eenet.score_candidates=[maxprob]", "--set", "eenet.max_epochs=10", "--json")
    assert proc.returncode == 0, proc.stderr
    eenet = {r["budget"]: r for r in json.loads(proc.stdout) if r["method"] == "eenet"}
    assert eenet[1.2]["val_cost"] == eenet[1.2]["test_cost"] == 1.0
    assert eenet[1.2]["exit_fractions"] == [1.0, 0.0, 0.0]
    assert proc.stderr.strip().splitlines() == [
        "note: eenet at 1.2: with its own scoring cost charged (--set eenet.scorer_extra_ms / "
        "fixed_extra_ms) every score it may use costs more than the budget at the first exit; "
        "it sends every sample to exit 0 there unscored, at that exit's own cost (1 ms/sample)"
    ]


def test_auto_budgets_of_a_single_exit_model_are_one_point(tmp_path):
    """With one exit the feasible range is a single cost: 'auto' gives one budget, not 12
    copies of it."""
    from eenet.outputs import ExitOutputs

    for name, split in zip(("val", "test"), make_split_pair(3, 10, 200, 200, seed=4),
                           strict=True):
        save_exit_outputs(tmp_path / f"{name}.npz", ExitOutputs(split.logits[-1:], split.labels))
    proc = _run("--val", str(tmp_path / "val.npz"), "--test", str(tmp_path / "test.npz"),
                "--costs", "4", "--method", "maxprob,oracle", "--budgets", "auto", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [(r["method"], r["budget"]) for r in json.loads(proc.stdout)] == [
        ("maxprob", 4.0), ("oracle", 4.0)]


def test_cost_unit_labels_the_table_and_the_saved_policies(files, tmp_path):
    """Costs in another unit (MFLOPs) fit the same policies; the table, the notes and the saved
    policies say the unit instead of ms, and `eenet predict` reads it back."""
    from eenet.schedulers import load_policy
    from eenet.sweep import read_index

    args = ("--costs", "1,2,3", "--method", "maxprob,entropy", "--budgets", "1.5,3")
    plain = _run_on(files, *args, "--json")
    proc = _run_on(files, *args, "--cost-unit", "MFLOPs", "--save", str(tmp_path / "fitted"))
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0].split()
    assert header[2:7] == ["test", "acc", "%", "test", "MFLOPs"] and "ms" not in header
    assert "--budgets 3 MFLOPs/sample is at or above the last exit's cost (3 MFLOPs)" in proc.stderr
    rows = proc.stdout.splitlines()[2:6]
    for row, want in zip(rows, json.loads(plain.stdout), strict=True):
        assert float(row.split()[2]) == pytest.approx(want["test_accuracy"], abs=0.005)
    assert read_index(tmp_path / "fitted")["cost_unit"] == "MFLOPs"
    policy = load_policy(tmp_path / "fitted" / "entropy" / "00")
    assert policy.cost_unit == "MFLOPs"
    saved = json.loads((tmp_path / "fitted" / "entropy" / "00" / "policy.json").read_text())
    assert saved["cost_unit"] == "MFLOPs"
    as_json = _run_on(files, *args, "--cost-unit", "MFLOPs", "--json")
    assert [r["cost_unit"] for r in json.loads(as_json.stdout)] == ["MFLOPs"] * 4
    strip = [{k: v for k, v in r.items() if k not in ("cost_unit", "fit_seconds")}
             for r in json.loads(as_json.stdout)]
    assert strip == [{k: v for k, v in r.items() if k not in ("cost_unit", "fit_seconds")}
                     for r in json.loads(plain.stdout)]


def test_eenet_scoring_costs_are_ms_whatever_time_unit_the_costs_are_in(files, tmp_path):
    """`eenet.scorer_extra_ms` is in ms (its name, params.yaml and the docs say so): with
    costs in seconds it was read as seconds, 1000x the charge, and EENet sent every sample
    to exit 0 with a note that its first exit cost more than the budget."""
    (tmp_path / "seconds.csv").write_text("s\n0.001\n0.002\n0.003\n")
    fit = ("--method", "eenet", "--json", "--set", "eenet.scorer_extra_ms=[0.3, 0.3, 0.3]",
           "--set", "eenet.score_candidates=[]", "--set", "eenet.max_epochs=60")
    in_ms = _run_on(files, "--costs", "1,2,3", "--budgets", "1.5,2.5", *fit)
    in_s = _run_on(files, "--costs", str(tmp_path / "seconds.csv"), "--cost-unit", "s",
                   "--budgets", "0.0015,0.0025", *fit)
    assert in_ms.returncode == in_s.returncode == 0, in_ms.stderr + in_s.stderr
    assert "more than the budget" not in in_s.stderr, in_s.stderr
    for ms, s in zip(json.loads(in_ms.stdout), json.loads(in_s.stdout), strict=True):
        assert s["exit_fractions"] == ms["exit_fractions"] and ms["exit_fractions"][0] < 0.9
        assert s["test_accuracy"] == ms["test_accuracy"]
        assert s["val_cost"] == pytest.approx(ms["val_cost"] / 1000)


def test_a_policy_in_ms_is_saved_as_before(files, tmp_path):
    """The default unit is the contract's (ms): policy files do not spell it (the pipeline's
    stay as they were), and load back in ms."""
    from eenet.schedulers import load_policy

    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "2",
                   "--save", str(tmp_path / "fitted"))
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "fitted" / "maxprob" / "00"
    assert "cost_unit" not in json.loads((folder / "policy.json").read_text())
    assert load_policy(folder).cost_unit == "ms"
    (folder / "policy.json").write_text(json.dumps(
        {**json.loads((folder / "policy.json").read_text()), "cost_unit": ["ms"]}))
    with pytest.raises(ArtifactError, match="malformed fitted scheduler .*cost_unit must be a "
                                            "unit's name"):
        load_policy(folder)


@pytest.mark.parametrize("json_output", [True, False])
def test_a_reader_that_closes_the_pipe_ends_it_quietly(files, json_output):
    """`eenet schedule --json | head -c 1`: the output's reader is gone before it is written.
    That was a BrokenPipeError traceback (and another while flushing at exit); now no word
    on stderr and the status of a process stopped by SIGPIPE, as `yes | head` gives."""
    args = ["--val", str(files / "val.npz"), "--test", str(files / "test.npz"),
            "--costs", "1,2,3", "--method", "maxprob", "--budgets", "1.5"]
    proc = subprocess.Popen(  # the reader closes before the command has imported anything
        [sys.executable, "-m", "eenet.cli", "schedule", *args, *(["--json"] * json_output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, stderr
    assert stderr == ""


def _masked(outputs: ExitOutputs, rng: np.random.Generator, value: float) -> ExitOutputs:
    """`outputs` with about a third of each row's classes set to `value` (the top class, the
    label, the previous exit's top class alike), but one random class kept in every row."""
    logits = outputs.logits.copy()
    masked = rng.random(logits.shape) < 0.3
    kept = rng.integers(0, outputs.n_classes, logits.shape[:2])
    np.put_along_axis(masked, kept[..., None], False, axis=-1)
    logits[masked] = value
    return ExitOutputs(logits, outputs.labels)


def test_masked_classes_as_minus_inf_logits_schedule_like_zero_probabilities(tmp_path):
    """-inf logits for some classes (a model that masks classes) were refused as "NaN or inf"
    while real early exit took them; they now give every method exactly what a logit too low
    to matter (probability 0 in float64) gives."""
    val, test = make_split_pair(3, 10, 1500, 1500, seed=3)
    rows = []
    for value in (-np.inf, -1e4):
        for name, split, seed in (("val", val, 0), ("test", test, 1)):
            save_exit_outputs(tmp_path / f"{name}{value}.npz",
                              _masked(split, np.random.default_rng(seed), value))
        proc = _run("--val", str(tmp_path / f"val{value}.npz"),
                    "--test", str(tmp_path / f"test{value}.npz"), "--costs", "1,2.5,4",
                    "--method", "eenet,maxprob,entropy,patience,oracle",
                    "--budgets", "1.8,2.6", "--json")
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # no numpy warnings
        rows.append([{k: v for k, v in row.items() if k != "fit_seconds"}
                     for row in json.loads(proc.stdout)])
    assert len(rows[0]) == 10 and rows[0] == rows[1]


def _assert_columns_line_up(table: str, unit: str, rules: set[str]) -> None:
    """Every row's cells end (right-aligned columns) or start (left-aligned ones) where the
    header's labels do, and its rule is the whole text from the header's 'rule' on."""
    header, dashes, *rows = table.splitlines()
    assert dashes == "-" * len(header)
    assert rows
    for row in rows:
        for label in ("budget", "test acc %", f"test {unit}", f"val {unit}", "fit s"):
            end = header.index(label) + len(label)
            assert row[end - 1] != " " and row[end] == " ", (label, header, row)
        for label in ("exit fractions (test)", "rule"):
            start = header.index(label)
            assert row[start - 1] == " " and row[start] != " ", (label, header, row)
        assert row[header.index("rule"):] in rules, (header, row)


@pytest.mark.parametrize(("costs", "budgets"), [("1", "1"), ("1,2", "1.2,1.5"),
                                                ("1,2,3", "1.5,2")])
def test_table_columns_line_up_for_any_number_of_exits(tmp_path, files, costs, budgets):
    """With 1 or 2 exits the exit fractions column (7 characters an exit) was narrower than
    its header, so each row's rule began left of the header's 'rule'."""
    n_exits = len(costs.split(","))
    for name in ("val", "test"):
        split = load_exit_outputs(files / f"{name}.npz")
        save_exit_outputs(tmp_path / f"{name}.npz",
                          ExitOutputs(split.logits[:n_exits], split.labels))
    proc = _run("--val", str(tmp_path / "val.npz"), "--test", str(tmp_path / "test.npz"),
                "--costs", costs, "--method", "maxprob", "--budgets", budgets)
    assert proc.returncode == 0, proc.stderr
    _assert_columns_line_up(proc.stdout, "ms", {"maxprob / geometric",
                                                "last exit (no early exit)"})


def test_table_columns_line_up_for_large_costs_and_long_fits(files):
    """Costs from 1e4 ('1.519e+05': 9 characters) pushed the cost columns one right of their
    8-character headers, and a fit of 1000 s or more its 6-character 'fit s' column."""
    proc = _run_on(files, "--costs", "100000,200000,300000", "--method", "maxprob",
                   "--budgets", "150000,250000")
    assert proc.returncode == 0, proc.stderr
    assert "e+05" in proc.stdout
    _assert_columns_line_up(proc.stdout, "ms", {"maxprob / geometric"})
    from eenet.commands.schedule_report import format_table

    row = {"method": "eenet", "budget": 1.5e-7, "test_accuracy": 91.5, "test_cost": 1.519e-7,
           "val_cost": 1.5e-7, "fit_seconds": 1234.5, "exit_fractions": [0.5, 0.25, 0.25],
           "rule": "lookahead / lookahead+refined"}
    _assert_columns_line_up(format_table([row], "s"), "s", {row["rule"]})


def test_method_and_budgets_given_again_join_their_lists(files):
    """`--method maxprob --method entropy` printed entropy's rows alone (argparse kept the last
    value); each repeat's list now joins the ones before, checked as one list: a method or a
    budget twice is refused (a method twice was fitted once, silently)."""
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--method",
                   "entropy", "--budgets", "2", "--budgets", "1.5", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [(r["method"], r["budget"]) for r in json.loads(proc.stdout)] == [
        ("maxprob", 2.0), ("maxprob", 1.5), ("entropy", 2.0), ("entropy", 1.5)]
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--method",
                   "entropy,maxprob", "--budgets", "2")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["eenet schedule: error: --method: 'maxprob' given "
                                        "twice; give each method once"]
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "2",
                   "--budgets", "50%")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["eenet schedule: error: --budgets: 2 and 50% are the "
                                        "same budget (2 ms/sample); give each budget once"]


@pytest.mark.parametrize("header", ["", "s\n"])
def test_costs_in_seconds_without_their_header_are_asked_about(tmp_path, files, header):
    """A CSV of seconds without its header 's' is read as ms: every budget in ms is then far
    above the last exit's cost, and the note asks whether the costs are seconds (it said only
    that no early exit is needed); with the header they are converted, and no note."""
    (tmp_path / "costs.csv").write_text(f"{header}0.001\n0.002\n0.003\n")
    proc = _run_on(files, "--costs", str(tmp_path / "costs.csv"), "--method", "maxprob",
                   "--budgets", "1.5,2", "--json")
    assert proc.returncode == 0, proc.stderr
    notes = proc.stderr.splitlines()
    if header:
        assert notes == []
        # the same costs in a latency .json (a measured profile): no CSV to fix, no hint
        (tmp_path / "latency.json").write_text('{"cumulative_ms": [0.001, 0.002, 0.003]}')
        proc = _run_on(files, "--costs", str(tmp_path / "latency.json"), "--method",
                       "maxprob", "--budgets", "2", "--json")
        assert proc.returncode == 0 and "no early exit is needed" in proc.stderr
        assert "costs in seconds?" not in proc.stderr
        return
    assert len(notes) == 2
    for budget, note in zip(("1.5", "2"), notes, strict=True):
        assert note.startswith(f"note: --budgets {budget} ms/sample is at or above the last "
                               "exit's cost (0.003 ms)")
        assert note.endswith("; costs in seconds? a CSV's header line 's' (or 'seconds') "
                             "converts them to ms; a share of the feasible range is written "
                             "'N%'")


def test_a_comma_list_of_seconds_is_asked_about_as_a_list(files):
    """A comma list of seconds read as ms was told of a CSV's header line 's', which a list
    has no place for; now how to give a list."""
    proc = _run_on(files, "--costs", "0.001,0.002,0.003", "--method", "maxprob",
                   "--budgets", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "note: --budgets 2 ms/sample is at or above the last exit's cost (0.003 ms): no early "
        "exit is needed, every policy sends all samples to the last exit (the oracle, an upper "
        "bound, still stops each one where it is first right); costs in seconds? a comma list "
        "is read as ms: give it in ms, or say --cost-unit s and give the budgets in s; a share "
        "of the feasible range is written 'N%'"]


def test_a_policy_over_budget_on_one_validation_sample_is_noted_in_the_singular():
    """The note said '1 fitted policies cost more than their budget' and '1 validation
    samples realise'; the oracle's row (no validation cost) is no policy and not counted."""
    from eenet.commands.schedule_report import validation_overrun_note

    rows = [{"method": "maxprob", "budget": 2.5, "val_cost": 3.0, "upper_bound": False},
            {"method": "oracle", "budget": 2.5, "val_cost": None, "upper_bound": True}]
    assert validation_overrun_note(rows, 1) == (
        "note: 1 fitted policy costs more than its budget on validation, by 20.0 % (maxprob at "
        "2.5: 3): 1 validation sample realises a planned exit distribution only in whole "
        "samples; more validation samples meet budgets closely")
    assert validation_overrun_note(rows[1:], 1) is None


def test_policies_over_budget_on_validation_samples_are_noted_in_the_plural():
    """The plural counterpart of the note above (its words now chosen by `counted`): several
    policies over budget give the largest excess, on several validation samples."""
    from eenet.commands.schedule_report import validation_overrun_note

    rows = [{"method": "maxprob", "budget": 2.5, "val_cost": 3.0, "upper_bound": False},
            {"method": "entropy", "budget": 2.0, "val_cost": 2.1, "upper_bound": False}]
    assert validation_overrun_note(rows, 3) == (
        "note: 2 fitted policies cost more than their budget on validation, up to 20.0 % "
        "(maxprob at 2.5: 3): 3 validation samples realise a planned exit distribution only "
        "in whole samples; more validation samples meet budgets closely")


def test_the_oracle_has_no_validation_cost_nor_fit_time(files):
    """The oracle was re-run on validation with its labels and given a `val_cost`, a
    `val_accuracy` and a fit time of 0: it is no policy fitted on validation, and the evaluate
    stage's metrics.json and sweep.csv leave them empty. Null in the JSON, '-' in the table,
    whose columns still line up; the margins and notes read the rows as before."""
    args = ("--costs", "1,2,3", "--method", "maxprob,entropy,eenet,oracle", "--budgets",
            "1.5,2.5")
    table, as_json = _run_on(files, *args), _run_on(files, *args, "--json")
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    rows = json.loads(as_json.stdout)
    for r in rows:
        fitted = r["method"] != "oracle"
        for key in ("val_cost", "val_accuracy", "fit_seconds"):
            assert (r[key] is not None) == fitted, (key, r)
    header, dashes, *lines, bound, margins = table.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == [*["maxprob"] * 2, *["entropy"] * 2,
                                               *["eenet"] * 2, *["oracle*"] * 2]
    _assert_columns_line_up("\n".join([header, dashes, *lines]), "ms",
                            {r["rule"] for r in rows})
    for line in lines:
        if line.startswith("oracle"):
            cells = line[:header.index("exit fractions")].split()
            assert cells[-2:] == ["-", "-"], line  # val ms, fit s
    assert bound == "* oracle: upper bound that uses the labels; not a policy"
    assert margins.startswith("eenet - best of maxprob/entropy (test accuracy points): ")


def test_the_same_setting_given_twice_is_one_line(files):
    """`--set eenet.hidden=16 --set eenet.hidden=64` kept the last one silently; other keys
    still gather."""
    proc = _run_on(files, "--costs", "1,2,3", "--method", "eenet", "--budgets", "2",
                   "--set", "eenet.hidden=16", "--set", "eenet.max_epochs=5",
                   "--set", "eenet.hidden = 64")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "eenet schedule: error: --set: eenet.hidden given twice ('eenet.hidden=16', then "
        "'eenet.hidden = 64'); give each setting once"]


def test_an_eenet_scorer_too_large_is_named_as_set_before_fitting(files):
    """The fused scorer past its memory limit was found once fitting began, named without the
    --set its other settings' errors carry; now checked with them, before any fit."""
    proc = _run_on(files, "--costs", "1,2,3", "--method", "eenet", "--budgets", "2",
                   "--set", "eenet.folds=100", "--set", "eenet.hidden=4096")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "eenet schedule: error: --set: schedulers.eenet.folds: 100 members would need 1.3 GiB "
        "for one exit's fused scorer (819200 hidden units in all; it grows with the square of "
        "folds); lower folds or hidden (at most 1 GiB)"]


def test_eenet_threads_past_the_cpus_are_noted_in_the_names_of_set(files):
    """The fit's note names the setting as --set's errors do (the Python API's sweep says
    settings.eenet.threads)."""
    from eenet.devices import available_cpus

    too_many, cpus = available_cpus() + 1, available_cpus()
    proc = _run_on(files, "--costs", "1,2,3", "--method", "eenet", "--budgets", "2",
                   "--set", f"eenet.threads={too_many}", "--set", "eenet.max_epochs=10")
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if "threads" in line] == [
        f"note: schedulers.eenet.threads {too_many} is more than the {counted(cpus, 'CPU')} "
        "available here: the threads contend for them, so work runs (and is timed) slower than "
        f"with {cpus}"]


def test_auto_and_other_budgets_given_apart_are_one_line_in_the_users_terms(files):
    """`--budgets auto --budgets 2.05` quoted 'auto,2.05', which the user never typed."""
    proc = _run_on(files, "--costs", "1,2,3", "--method", "maxprob", "--budgets", "auto",
                   "--budgets", "2.05")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "eenet schedule: error: --budgets: 'auto' cannot be combined with other budgets "
        "(given: auto, 2.05); give --budgets auto alone (the 12 budgets of the feasible range), "
        "or a comma list of ms/sample values or N%"]


@pytest.mark.parametrize("costs", ["1,2,3", "1,2"])
def test_val_and_test_of_other_exit_counts_are_checked_before_the_costs(tmp_path, files, costs):
    """A 3-exit --val, a 2-exit --test and 3 costs blamed the costs ('test.npz and costs:
    exit outputs have 2 exits but costs list 3'); the two splits are compared first, by
    their options, whichever of them the costs fit."""
    test = load_exit_outputs(files / "test.npz")
    save_exit_outputs(tmp_path / "test2.npz", ExitOutputs(test.logits[:2], test.labels))
    proc = _run("--val", str(files / "val.npz"), "--test", str(tmp_path / "test2.npz"),
                "--costs", costs, "--method", "maxprob", "--budgets", "1.5")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"eenet schedule: error: --test {tmp_path / 'test2.npz'}: 2 exits, but --val "
        f"{files / 'val.npz'}: 3; both must come from the same model"]


@pytest.mark.parametrize(("method", "budgets"), [("eenet", "2"), ("maxprob,eenet", "3,1.5")])
def test_validation_outputs_too_few_for_eenet_name_val(tmp_path, files, method, budgets):
    """One validation sample: EENet's cross-fitting refused it as "validation outputs", naming
    neither --val nor its file (and after fitting the budgets before it)."""
    save_exit_outputs(tmp_path / "val.npz", make_split_pair(3, 10, 1, 10, seed=4)[0])
    proc = _run("--val", str(tmp_path / "val.npz"), "--test", str(files / "test.npz"),
                "--costs", "1,2,3", "--method", method, "--budgets", budgets)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"eenet schedule: error: --val: {tmp_path / 'val.npz'}: 1 validation sample; EENet "
        "needs at least 2 to cross-fit its scorer below the last exit's cost (give more, or fit "
        "the other methods alone)"]


@pytest.mark.parametrize("budgets", ["1", "3,5", "auto"])
def test_eenet_on_one_validation_sample_where_it_trains_nothing(tmp_path, files, budgets):
    """At the first exit's cost or at / above the last's, EENet fits without its scorer: one
    validation sample is enough there, as before; auto spans the budgets between: refused."""
    save_exit_outputs(tmp_path / "val.npz", make_split_pair(3, 10, 1, 10, seed=4)[0])
    proc = _run("--val", str(tmp_path / "val.npz"), "--test", str(files / "test.npz"),
                "--costs", "1,2,3", "--method", "eenet", "--budgets", budgets)
    assert (proc.returncode == 0) == (budgets != "auto"), proc.stderr
    assert ("1 validation sample" in proc.stderr) == (budgets == "auto"), proc.stderr


def test_one_exit_outputs_against_more_costs_say_exit_in_the_singular(tmp_path, files):
    """'exit outputs have 1 exits but costs list 3'."""
    for name in ("val", "test"):
        split = load_exit_outputs(files / f"{name}.npz")
        save_exit_outputs(tmp_path / f"{name}.npz", ExitOutputs(split.logits[:1], split.labels))
    proc = _run("--val", str(tmp_path / "val.npz"), "--test", str(tmp_path / "test.npz"),
                "--costs", "1,2,3", "--method", "maxprob", "--budgets", "1.5")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"eenet schedule: error: --val {tmp_path / 'val.npz'} and --costs 1,2,3: exit outputs "
        "have 1 exit but costs list 3"]


def test_the_same_file_as_val_and_test_is_noted(tmp_path, files):
    """The same file given as --val and --test (by one path, or two ways to it) was taken
    silently: the rows then measure the fit on its own samples. A note says so; the rows are
    what they were."""
    val = files / "val.npz"
    (tmp_path / "link.npz").symlink_to(val)
    args = ("--costs", "1,2,3", "--method", "maxprob", "--budgets", "1.5", "--json")
    runs = [_run("--val", str(val), "--test", str(test), *args)
            for test in (val, tmp_path / "link.npz", files / "test.npz")]
    assert all(proc.returncode == 0 for proc in runs), [proc.stderr for proc in runs]
    note = ("note: --val and --test are the same file ({}): the test figures measure the fit "
            "on the samples fitted on, not how the policies do on unseen ones")
    assert runs[0].stderr.splitlines() == [note.format(val)]
    assert runs[1].stderr.splitlines() == [note.format(f"{val} and {tmp_path / 'link.npz'}")]
    assert runs[2].stderr == ""
    rows = [[{k: v for k, v in r.items() if k != "fit_seconds"} for r in json.loads(p.stdout)]
            for p in runs[:2]]
    assert rows[0] == rows[1]


def test_a_copy_of_val_as_test_is_noted(tmp_path, files):
    """Two files of the same outputs (a copy, or the arrays saved again) given as --val and
    --test were taken silently, though the same file (or a link) was noted: the same mistake.
    Outputs differing in one label are no copy, and get no note."""
    val = files / "val.npz"
    outputs = load_exit_outputs(val)
    copy = tmp_path / "copy.npz"
    copy.write_bytes(val.read_bytes())
    resaved = tmp_path / "resaved.npz"
    np.savez_compressed(resaved, labels=outputs.labels, logits=outputs.logits)
    relabelled = tmp_path / "relabelled.npz"
    labels = outputs.labels.copy()
    labels[0] = (labels[0] + 1) % outputs.n_classes
    np.savez(relabelled, logits=outputs.logits, labels=labels)
    args = ("--costs", "1,2,3", "--method", "maxprob", "--budgets", "1.5", "--json")
    runs = [_run("--val", str(val), "--test", str(test), *args)
            for test in (copy, resaved, relabelled)]
    assert all(proc.returncode == 0 for proc in runs), [proc.stderr for proc in runs]
    note = ("note: --val and --test hold the same outputs ({} and {}): the test figures "
            "measure the fit on the samples fitted on, not how the policies do on unseen ones")
    assert runs[0].stderr.splitlines() == [note.format(val, copy)]
    assert runs[1].stderr.splitlines() == [note.format(val, resaved)]
    assert runs[2].stderr == ""


def test_members_of_an_npz_that_are_not_read_are_ignored_unread(files, tmp_path):
    """Only the members read (logits or probs, and labels) are checked; any other, a pickle
    included, is ignored and never unpickled (as README says)."""
    test = load_exit_outputs(files / "test.npz")
    path = tmp_path / "extra.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("logits.npy", _npy_bytes(test.logits))
        archive.writestr("labels.npy", _npy_bytes(test.labels))
        archive.writestr("extra.npy", pickle.dumps({"notes": "not an array"}))
    loaded = load_exit_outputs(path)
    np.testing.assert_array_equal(loaded.logits, test.logits)


def _run_with_terminal_stderr(*args: str) -> tuple[int, str, str]:
    """`eenet schedule ARGS` with stderr a terminal (a pty, 24 x 100) and stdout a pipe, as in
    `eenet schedule --json | jq`: (status, stdout, what the terminal showed)."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "eenet", "schedule", *args],
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    shown = b""
    while True:  # read as it runs: a full pty would stop the command
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the command closed its end
            break
        if not chunk:
            break
        shown += chunk
    out = proc.stdout.read()
    proc.wait(timeout=120)
    proc.stdout.close()
    os.close(master)
    return proc.returncode, out, shown.decode(errors="replace")


def test_fits_show_a_bar_on_a_terminal_and_stdout_keeps_the_json(files):
    """A long `eenet schedule` (EENet over a sweep: minutes) was silent on a terminal until the
    table came. A bar over the fits shows on stderr where it is a terminal, naming the fit
    under way; stdout is the JSON alone, which parses. In a log (stderr no terminal) no bar
    is written."""
    args = ("--val", str(files / "val.npz"), "--test", str(files / "test.npz"),
            "--costs", "1,2,3", "--method", "maxprob,entropy", "--budgets", "1.5,2.5", "--json")
    status, out, shown = _run_with_terminal_stderr(*args)
    assert status == 0, shown
    assert len(json.loads(out)) == 4
    assert "fitting" in shown and "entropy at 2.5" in shown
    logged = _run(*args)
    assert logged.returncode == 0 and logged.stderr == ""
    same = ("method", "budget", "test_accuracy", "exit_fractions")
    assert ([{k: r[k] for k in same} for r in json.loads(logged.stdout)]
            == [{k: r[k] for k in same} for r in json.loads(out)])
