"""Real early exit with the registered schedulers, and `eenet predict` end to end."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from eenet.cli import main
from eenet.data.prepared import PreparedDataset, write_meta, write_split
from eenet.errors import ArtifactError, ConfigError
from eenet.inference import collect_exit_logits, dump_exit_outputs
from eenet.models import build_model
from eenet.models.artifact import save_trained
from eenet.outputs import load_exit_outputs
from eenet.runtime import EarlyExitPredictor
from eenet.schedulers import available_methods, fit_policy, load_policy
from tests.conftest import saved_split_pair
from tests.robust_helpers import TerminalText, stage_error, tiny_params, write_params
from tests.runtime_helpers import DEVICES, BlowUpNet

COSTS = np.array([1.0, 2.0, 3.5])
REPO = Path(__file__).resolve().parents[1]
OPTIONS = {"widths": [4, 8, 8], "blocks": [1, 1, 1]}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A tiny trained-model artifact (random weights) and a prepared sequence data set."""
    root = tmp_path_factory.mktemp("predict")
    torch.manual_seed(0)
    model = build_model("resnet1d_3", 10, **OPTIONS).eval()
    save_trained(model, root / "model", "resnet1d_3", 10, OPTIONS)
    rng = np.random.default_rng(0)
    data = root / "data"
    for split, n in (("train", 8), ("val", 300), ("test", 100)):
        x = rng.standard_normal((n, 40)).astype(np.float32) * rng.uniform(0.2, 3, (n, 1))
        write_split(data, split, x.astype(np.float32), rng.integers(0, 10, n))
    write_meta(data, {"dataset": "toy", "kind": "sequence", "num_classes": 10,
                      "sizes": {"train": 8, "val": 300, "test": 100}})
    val = collect_exit_logits(model, PreparedDataset(data, "val"), torch.device("cpu"))
    test = collect_exit_logits(model, PreparedDataset(data, "test"), torch.device("cpu"))
    return {"root": root, "model": model, "data": data, "val": val, "test": test}


@pytest.fixture(scope="module")
def on_device(workspace):
    """The workspace's model and its val/test exit outputs computed on each device (the GPU's
    own dump when one is present, as the pipeline's dump stage does there)."""
    cache: dict[str, dict] = {"cpu": workspace}

    def get(device: str) -> dict:
        if device not in cache:
            model = copy.deepcopy(workspace["model"]).to(device)
            cache[device] = {split: collect_exit_logits(
                model, PreparedDataset(workspace["data"], split), torch.device(device))
                for split in ("val", "test")} | {"model": model}
        return cache[device]

    return get


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", available_methods())
@pytest.mark.parametrize("budget", [1.6, 2.4, 3.5])
def test_every_method_runs_as_simulated(workspace, on_device, method, budget, device,
                                        tmp_path) -> None:
    """Fitted on val logits, saved and reloaded: runtime == simulation on the test split, on
    the CPU and (where present) on the GPU, at batch 1 and 64."""
    dumped = on_device(device)
    policy = fit_policy(method, dumped["val"], COSTS, budget)
    policy.save(tmp_path / method)
    policy = load_policy(tmp_path / method)
    test = dumped["test"]
    want = policy.decide(test.log_probs())
    for batch_size in (1, 64):
        result = EarlyExitPredictor(dumped["model"], policy, device=device).predict_dataset(
            PreparedDataset(workspace["data"], "test"), batch_size=batch_size
        )
        np.testing.assert_array_equal(result.exits, want)
        np.testing.assert_array_equal(result.predictions, test.predictions()[want, np.arange(100)])
        np.testing.assert_array_equal(result.labels, test.labels)


@pytest.fixture(scope="module")
def policy_dir(workspace):
    policy = fit_policy("maxprob", workspace["val"], COSTS, 2.0)
    return policy.save(workspace["root"] / "policy").parent


def test_predict_cli_on_a_split(workspace, policy_dir, capsys) -> None:
    out = workspace["root"] / "pred.json"
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), "--data", str(workspace["data"]), "--split", "test",
               "--batch-size", "16", "--device", "cpu", "--json", "--out", str(out)])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    policy = load_policy(policy_dir)
    test = workspace["test"]
    want = policy.decide(test.log_probs())
    assert printed["exits"] == want.tolist()
    assert printed["predictions"] == test.predictions()[want, np.arange(100)].tolist()
    summary = printed["summary"]
    assert summary["samples"] == 100 and summary["method"] == "maxprob"
    assert summary["accuracy"] == pytest.approx(
        100 * (test.predictions()[want, np.arange(100)] == test.labels).mean())
    assert sum(summary["exit_fractions"]) == pytest.approx(1.0)


def test_predict_summary_of_one_sample_says_sample(workspace, policy_dir, tmp_path,
                                                    capsys) -> None:
    """The text summary said "1 samples"."""
    np.save(tmp_path / "one.npy", np.load(workspace["data"] / "test.npz")["x"][:1])
    assert main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
                 str(policy_dir), "--input", str(tmp_path / "one.npy"), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith("1 sample, maxprob @ 2 ms: exit fractions")


@pytest.mark.parametrize("planned", [None, []])
def test_predict_summary_of_a_policy_without_planned_costs(workspace, policy_dir, tmp_path,
                                                           capsys, planned) -> None:
    """A policy.json without its planned costs (written by hand, or before they were kept)
    loads and runs; the text summary then failed with a TypeError after the whole run."""
    meta = json.loads((policy_dir / "policy.json").read_text())
    if planned is None:
        del meta["planned_costs_ms"]
    else:
        meta["planned_costs_ms"] = planned
    (tmp_path / "policy.json").write_text(json.dumps(meta))
    assert main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
                 str(tmp_path), "--data", str(workspace["data"]), "--device", "cpu"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("100 samples, maxprob @ 2 ms: exit fractions") and "planned" not in line


def test_predict_cli_on_an_input_file(workspace, policy_dir, tmp_path, capsys) -> None:
    x = np.load(workspace["data"] / "test.npz")["x"][:50]
    np.save(tmp_path / "x.npy", x)
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), "--input", str(tmp_path / "x.npy"), "--device", "cpu",
               "--batch-size", "1"])
    assert rc == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("50 samples, maxprob @ 2 ms: exit fractions") and "accuracy" not in line
    want = load_policy(policy_dir).decide(workspace["test"].log_probs()[:, :50])
    fractions = json.loads(re.search(r"exit fractions (\[[^]]*\])", line).group(1))
    assert fractions == pytest.approx(np.bincount(want, minlength=3) / 50, abs=1e-4)
    np.savez(tmp_path / "xy.npz", x=x[:, None, :], y=np.arange(50) % 10)
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), "--input", str(tmp_path / "xy.npz"), "--device", "cpu", "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exits"] == want.tolist()
    predictions = workspace["test"].predictions()[want, np.arange(50)]
    assert report["predictions"] == predictions.tolist()
    assert report["summary"]["accuracy"] == pytest.approx(
        100 * (predictions == np.arange(50) % 10).mean())


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--input", "missing.npy"], "file not found"),
        # 40 values without a channel axis fit too: the message said (1, 40) alone
        (["--input", "bad.npy"], "do not fit the model (expects (1, 40), or (40,) without the "
                                 "channel axis)\n"),
        # "samples of shape () do not fit the model" before
        (["--input", "one.npy"], "'x' of shape (40,) is one sample without the sample axis; "
                                 "give 'x' the shape (1, 40)"),
        # with its label: 'y' disagreed with a sample count read off the lone sample's axis
        (["--input", "one_labelled.npz"], "'x' of shape (40,) is one sample without the sample "
                                          "axis; give 'x' the shape (1, 40)"),
        (["--input", "x.txt"], "expected a .npy or .npz"),
        (["--data", "nowhere"], "prepared data set not found"),
        (["--data", "DATA", "--split", "dev"], "error: --split: unknown value 'dev'"),
        # ignored with --input (status 0), even a name of no split
        (["--input", "bad.npy", "--split", "bogus"],
         "error: --split: chooses a split of --data; --input is read whole\n"),
        (["--data", "DATA", "--batch-size", "0"],
         "error: --batch-size: must be an integer >= 1, got 0\n"),
        (["--data", "DATA", "--device", "cuda:7" if torch.cuda.is_available() else "cuda"],
         "error: --device: 'cuda"),
        (["--data", "DATA", "--device", "gpu"], "error: --device: unknown value 'gpu'"),
    ],
)
def test_predict_cli_errors_are_one_line(workspace, policy_dir, tmp_path, monkeypatch, capsys,
                                         extra, match) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "bad.npy", np.zeros((3, 7), dtype=np.float32))
    np.save(tmp_path / "one.npy", np.zeros(40, dtype=np.float32))  # a lone sample, no batch axis
    np.savez(tmp_path / "one_labelled.npz", x=np.zeros(40, dtype=np.float32), y=np.array([3]))
    (tmp_path / "x.txt").write_text("1 2 3")
    extra = [str(workspace["data"]) if e == "DATA" else e for e in extra]
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert match in err and err.count("\n") == 1


def _zip_with_raw_member(path: Path, arrays: dict[str, np.ndarray], raw: str) -> None:
    """An npz of `arrays` whose member `raw`.npy holds the array pickled, not as .npy."""
    import io
    import pickle
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy",
                             pickle.dumps(array) if name == raw else buffer.getvalue())


@pytest.mark.parametrize("raw", ["x", "y"])
def test_predict_input_member_that_is_no_npy_array(workspace, policy_dir, tmp_path, capsys,
                                                   raw) -> None:
    """--input's 'x' or 'y' member holding a pickle: numpy hands its raw bytes, which were an
    AttributeError traceback ('bytes' has no attribute 'ndim'); now the file is named as not
    readable, and nothing is unpickled."""
    given = tmp_path / "xy.npz"
    _zip_with_raw_member(given, {"x": np.zeros((2, 40), np.float32), "y": np.arange(2)}, raw)
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), "--input", str(given), "--device", "cpu"])
    assert rc == 2
    assert capsys.readouterr().err == (
        f"eenet predict: error: --input: {given}: not a readable numpy file (member "
        f"'{raw}.npy' is not an .npy array)\n")


def test_predict_data_split_member_that_is_no_npy_array(workspace, policy_dir, tmp_path,
                                                        capsys) -> None:
    """--data DIR whose test.npz holds a pickled 'x' member: one line naming the split file."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(workspace["data"] / "meta.json", data / "meta.json")
    _zip_with_raw_member(data / "test.npz",
                         {"x": np.zeros((2, 40), np.float32), "y": np.arange(2)}, "x")
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), "--data", str(data), "--device", "cpu"])
    assert rc == 2
    assert capsys.readouterr().err == (
        f"eenet predict: error: --data: {data / 'test.npz'}: not a readable split file (member "
        "'x.npy' is not an .npy array)\n")


def test_predict_policy_with_model_options_no_object(workspace, policy_dir, tmp_path,
                                                     capsys) -> None:
    """A policy.json whose model entry's options are text (as `eenet schedule --save` copied
    them from a latency JSON) was a ValueError traceback comparing the architectures; now the
    loader's one-line "malformed" error, before any inference."""
    folder = tmp_path / "policy"
    shutil.copytree(policy_dir, folder)
    meta = json.loads((folder / "policy.json").read_text())
    meta["model"] = {"name": 5, "options": "x"}
    (folder / "policy.json").write_text(json.dumps(meta))
    np.savez(tmp_path / "xy.npz", x=np.zeros((2, 1, 40), np.float32), y=np.arange(2))
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy", str(folder),
               "--input", str(tmp_path / "xy.npz"), "--device", "cpu"])
    assert rc == 2
    assert capsys.readouterr().err == (
        f"eenet predict: error: --policy: {folder / 'policy.json'}: malformed fitted scheduler "
        "(model.options must be a JSON object (the model's builder options), got \"x\")\n")


def test_predict_cli_missing_policy(workspace, tmp_path, capsys) -> None:
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(tmp_path), "--data", str(workspace["data"])])
    assert rc == 2 and "fitted scheduler not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--model", "nowhere", "--model: nowhere/config.json: trained model config not found"),
        ("--model", "x.npy", "--model: x.npy: is a file; give the trained model's folder"),
        ("--policy", "nowhere", "--policy: nowhere/policy.json: fitted scheduler not found"),
        ("--policy", "x.npy", "--policy: x.npy is a file; give a fitted scheduler's folder or "
                              "its policy.json"),
        ("--data", "nowhere", "--data: nowhere/meta.json: prepared data set not found"),
    ],
)
def test_predict_errors_about_a_path_name_its_flag(workspace, policy_dir, tmp_path, flag, value,
                                                   message) -> None:
    """A missing or wrong --model, --policy or --data path was an error naming only the file."""
    np.save(tmp_path / "x.npy", np.zeros((2, 40), dtype=np.float32))
    given = {"--model": str(workspace["root"] / "model"), "--policy": str(policy_dir),
             "--data": str(workspace["data"]), flag: value}
    done = _cli("predict", *(a for item in given.items() for a in item), "--device", "cpu",
                cwd=tmp_path)
    _one_line_error(done, f"eenet predict: error: {message}")


def test_benchmark_skips_without_pipeline_artifacts(tmp_path, monkeypatch, capsys) -> None:
    from benchmarks import runtime as bench

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["runtime"])
    bench.main()
    assert capsys.readouterr().out.startswith("skipped: pipeline artifacts missing")


def test_benchmark_row_with_more_blocks_than_calls(workspace, policy_dir) -> None:
    """benchmarks.runtime split a row's calls into --blocks blocks: more blocks than calls
    (--samples-b1 2, --blocks 5) left empty ones, and timing the full model on none of them
    divided by zero."""
    import argparse

    from benchmarks.runtime import measure_row
    from eenet.real_latency import collate_split
    from eenet.runtime import EarlyExitPredictor

    cpu = torch.device("cpu")
    model, policy = workspace["model"], load_policy(policy_dir)
    data = collate_split(model, PreparedDataset(workspace["data"], "test"), 1, 2, cpu)
    row = measure_row(model, policy, EarlyExitPredictor(model, policy, device="cpu"), data,
                      cpu, argparse.Namespace(blocks=5, repeats=5))
    assert row["n"] == 2 and row["full_s"].size == 2


@pytest.mark.parametrize("batch_size", [1, 8])
def test_benchmark_blocks_split_ties_by_the_samples_split_index(workspace, batch_size) -> None:
    """benchmarks.runtime runs a row's calls in blocks; each block's samples keep their index
    in the split, by which a policy splits samples tied at a threshold. Every block restarted
    at index 0, so after the first block tied samples were split as other samples of the
    split are, and the exits left the simulation's (sim_ok False)."""
    import argparse

    from benchmarks.runtime import measure_row
    from eenet.real_latency import collate_split
    from eenet.schedulers.thresholds import thresholds_from_plan
    from tests.runtime_helpers import CoarseMaxProbPolicy

    cpu = torch.device("cpu")
    model, test = workspace["model"], workspace["test"]
    policy = CoarseMaxProbPolicy("coarse", 1.0, np.zeros(model.n_exits))
    policy.set_rule(*thresholds_from_plan(policy.scores(test.log_probs()),
                                          np.array([0.3, 0.3, 0.4])))
    assert min(policy.tie_shares[:-1]) < 1.0  # tied samples are split at exits 0 and 1
    data = collate_split(model, PreparedDataset(workspace["data"], "test"), batch_size, None,
                         cpu)
    row = measure_row(model, policy, EarlyExitPredictor(model, policy, device="cpu"), data,
                      cpu, argparse.Namespace(blocks=4, repeats=4))
    np.testing.assert_array_equal(row["result"].exits, policy.decide(test.log_probs()))


@pytest.mark.parametrize(("batch_size", "limit", "calls"), [
    (64, None, [64, 36]),  # the split's last call holds 36 of the 100 samples
    (64, 40, [40]),  # a split smaller than the batch: one call of 40
])
def test_benchmark_plans_each_call_at_its_own_batch_size(workspace, policy_dir, batch_size,
                                                         limit, calls) -> None:
    """benchmarks.runtime's `planned` priced every sample at the batch-64 forced-exit profile
    (a 64th of a call of 64): a split's shorter last call, and a split smaller than
    --big-batch, were planned at a batch size they did not run at. Each call is now planned
    at its own size, profiled beside the others; the row's batch is its largest call's."""
    import argparse

    from benchmarks.runtime import measure_row
    from eenet.real_latency import collate_split

    cpu = torch.device("cpu")
    model, policy = workspace["model"], load_policy(policy_dir)
    data = collate_split(model, PreparedDataset(workspace["data"], "test"), batch_size, limit,
                         cpu)
    assert [len(labels) for _, labels in data] == calls
    row = measure_row(model, policy, EarlyExitPredictor(model, policy, device="cpu"), data,
                      cpu, argparse.Namespace(blocks=2, repeats=2))
    assert row["bs"] == calls[0] and set(calls) <= set(row["sizes"].tolist())
    assert max(row["sizes"]) == calls[0]  # nothing profiled at a size no call ran at
    exits, start = row["result"].exits, 0
    for size in calls:
        profile = row["call_ms"][row["sizes"].tolist().index(size)]  # forced exits, at `size`
        np.testing.assert_allclose(row["plan"][start:start + size],
                                   profile[exits[start:start + size]] / size)
        start += size


def test_benchmark_compares_the_pipelines_plan_at_its_batch_size(workspace, policy_dir) -> None:
    """benchmarks.runtime's plan_ref (the costs the policy was fitted with) and r_ref are
    given on the row run at the batch size those costs were profiled at: with a profile at
    batch 8 they were compared with the batch-1 run and left out of the batch-8 row."""
    import argparse

    from benchmarks.runtime import format_row, measure_row, plan_batch_size
    from eenet.real_latency import collate_split

    assert plan_batch_size({"costs_profiled_at": {"batch_size": 8}}, {"batch_size": 1}) == 8
    assert plan_batch_size({}, {"batch_size": 8}) == 8
    assert plan_batch_size({"costs_profiled_at": None}, {"source": "seconds.csv"}) == 1
    cpu = torch.device("cpu")
    model, policy = workspace["model"], load_policy(policy_dir)
    dataset = PreparedDataset(workspace["data"], "test")

    def plan_ref_and_r_ref(batch_size: int, plan_batch: int) -> tuple[float, float]:
        data = collate_split(model, dataset, batch_size, 16, cpu)
        row = measure_row(model, policy, EarlyExitPredictor(model, policy, device="cpu"), data,
                          cpu, argparse.Namespace(blocks=2, repeats=2))
        row.update(method="maxprob", budget=2.0, acc_full=0.0, sim_ok=True,
                   costs=policy.cost_table(COSTS), plan_batch=plan_batch)
        columns = format_row(row).split()
        return float(columns[4]), float(columns[10])

    planned = float(policy.cost_table(COSTS)[:1].item())  # at least exit 0's cost
    for batch_size, plan_batch in ((1, 1), (8, 8)):
        plan_ref, r_ref = plan_ref_and_r_ref(batch_size, plan_batch)
        assert plan_ref >= planned and np.isfinite(r_ref) and r_ref > 0
    for batch_size, plan_batch in ((1, 8), (8, 1)):
        assert all(np.isnan(plan_ref_and_r_ref(batch_size, plan_batch)))


def test_benchmark_profiles_a_double_model_in_its_precision(workspace, policy_dir) -> None:
    """benchmarks.runtime profiled each row with the model's float32 example inputs: a model
    made double precision (whose runtime refuses float32) failed its row. The forced-exit
    calls now take the example inputs in the weights' precision, as the profile stage's."""
    import argparse

    from benchmarks.runtime import measure_row
    from eenet.real_latency import collate_split

    cpu = torch.device("cpu")
    model, policy = copy.deepcopy(workspace["model"]).double(), load_policy(policy_dir)
    data = [(inputs.double(), labels) for inputs, labels in collate_split(
        model, PreparedDataset(workspace["data"], "test"), 8, 16, cpu)]
    row = measure_row(model, policy, EarlyExitPredictor(model, policy, device="cpu"), data,
                      cpu, argparse.Namespace(blocks=2, repeats=2))
    assert row["n"] == 16 and row["sizes"].tolist() == [1, 2, 4, 8]
    assert np.all(np.isfinite(row["call_ms"])) and np.all(row["plan"] > 0)


def test_measure_real_latency_without_dvc(workspace, policy_dir) -> None:
    from eenet.real_latency import measure_real_latency

    out = measure_real_latency(workspace["root"] / "model", policy_dir, workspace["data"],
                               batch_size=8, device="cpu", limit=40)
    assert out["n_samples"] == 40 and out["batch_size"] == 8
    assert out["ms_per_sample"] > 0 and out["schedule_ms_per_sample"] >= 0
    assert sum(out["exit_fractions"]) == pytest.approx(1.0)
    policy = load_policy(policy_dir)
    np.testing.assert_array_equal(out["exits"],
                                  policy.decide(workspace["test"].log_probs())[:40])
    json.dumps(out)


@pytest.mark.parametrize("batch_size", [1, 8])
def test_measure_real_latency_gives_the_robust_ms_per_sample(workspace, policy_dir,
                                                             batch_size) -> None:
    """`measure_real_latency` gave only a plain median over calls, at batch 1 about the cost
    of the exit most samples take; it now also gives `robust_ms_per_sample`, the statistic of
    the measure stage and `eenet predict` (each exit's median call weighted by its samples)."""
    from eenet.real_latency import measure_real_latency
    from eenet.runtime import robust_ms_per_sample

    out = measure_real_latency(workspace["root"] / "model", policy_dir, workspace["data"],
                               batch_size=batch_size, device="cpu", limit=40)
    call_ms, exits = np.array(out["call_ms"]), np.array(out["exits"])
    assert out["robust_ms_per_sample"] == robust_ms_per_sample(call_ms, exits, batch_size)
    assert out["median_ms_per_sample"] == float(np.median(call_ms))
    if batch_size == 1:
        assert len(call_ms) == len(exits) == 40


@pytest.mark.parametrize("batch_size,limit", [(7, 20), (64, 10), (3, 500), (200, 0)])
def test_measured_samples_are_exactly_the_first_limit(workspace, policy_dir, batch_size,
                                                      limit) -> None:
    """`limit` (measure.limit) counts samples, not batches: a batch size that does not divide
    it runs exactly `limit` samples (not a whole last batch more); 0 or more than the split:
    the whole split."""
    from eenet.real_latency import collate_split, measure_real_latency

    want = min(limit or 100, 100)
    batches = collate_split(workspace["model"], PreparedDataset(workspace["data"], "test"),
                            batch_size, limit, torch.device("cpu"))
    assert sum(len(labels) for _, labels in batches) == want
    assert max(len(labels) for _, labels in batches) == min(batch_size, want)
    out = measure_real_latency(workspace["root"] / "model", policy_dir, workspace["data"],
                               batch_size=batch_size, device="cpu", limit=limit)
    assert out["n_samples"] == len(out["exits"]) == want
    np.testing.assert_array_equal(
        out["exits"], load_policy(policy_dir).decide(workspace["test"].log_probs())[:want])


@pytest.mark.parametrize("setting,value", [("batch_size", 0), ("threads", -1), ("limit", -5),
                                           ("warmup_batches", -1), ("threads", 2**40)])
def test_measure_real_latency_settings_are_one_line_errors(workspace, policy_dir, setting,
                                                           value) -> None:
    from eenet.errors import ConfigError
    from eenet.real_latency import measure_real_latency

    allowed = "from 0 to 1024" if setting == "threads" else r">= \d"
    with pytest.raises(ConfigError, match=rf"^measure_real_latency\.{setting}: must be an "
                                          rf"integer {allowed}, got {value}$"):
        measure_real_latency(workspace["root"] / "model", policy_dir, workspace["data"],
                             device="cpu", **{setting: value})


def test_policies_saved_by_schedule_run_in_predict(workspace, tmp_path, capsys) -> None:
    """Bring-your-own-outputs round trip: `eenet schedule --save` on dumped exit outputs, then
    `eenet predict --policy` with one saved policy exits each test sample where it decides."""
    from eenet.outputs import save_exit_outputs

    save_exit_outputs(tmp_path / "val.npz", workspace["val"])
    save_exit_outputs(tmp_path / "test.npz", workspace["test"])
    rc = main(["schedule", "--val", str(tmp_path / "val.npz"), "--test",
               str(tmp_path / "test.npz"), "--costs", ",".join(map(str, COSTS)),
               "--method", "eenet,entropy", "--budgets", "1.8,2.6", "--json",
               "--save", str(tmp_path / "fitted")])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    eenet_rows = [r for r in rows if r["method"] == "eenet"]
    assert [r["budget"] for r in eenet_rows] == [1.8, 2.6]  # the loop below runs on both
    for i, row in enumerate(eenet_rows):
        policy_dir = tmp_path / "fitted" / "eenet" / f"{i:02d}"
        rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
                   str(policy_dir), "--data", str(workspace["data"]), "--device", "cpu",
                   "--batch-size", "7", "--json"])
        assert rc == 0
        report = json.loads(capsys.readouterr().out)
        assert report["summary"]["method"] == "eenet"
        want = load_policy(policy_dir).decide(workspace["test"].log_probs())
        assert report["exits"] == want.tolist()
        assert report["summary"]["exit_fractions"] == pytest.approx(row["exit_fractions"])


def test_policies_saved_by_schedule_from_a_latency_table_record_its_model(workspace, tmp_path,
                                                                         capsys) -> None:
    """`eenet schedule --costs latency.json --save` recorded neither the model the table
    measured nor how: its policies ran on another architecture's model in silence, which the
    pipeline's own fits refuse. Now the index and each policy record the table's `model`, the
    index its `costs_profiled_at`, and predict refuses or runs as for the pipeline's."""
    from eenet.models.artifact import model_identity
    from eenet.outputs import save_exit_outputs

    save_exit_outputs(tmp_path / "val.npz", workspace["val"])
    save_exit_outputs(tmp_path / "test.npz", workspace["test"])
    wider = {**OPTIONS, "widths": [8, 8, 16]}
    save_trained(build_model("resnet1d_3", 10, **wider), tmp_path / "wider", "resnet1d_3", 10,
                 wider)
    for name, model in (("this", workspace["root"] / "model"), ("wider", tmp_path / "wider")):
        table = {"cumulative_ms": COSTS.tolist(), "device": "cpu", "batch_size": 1,
                 "threads": 1, "model": model_identity(model)}
        (tmp_path / f"{name}.json").write_text(json.dumps(table))
        assert main(["schedule", "--val", str(tmp_path / "val.npz"), "--test",
                     str(tmp_path / "test.npz"), "--costs", str(tmp_path / f"{name}.json"),
                     "--method", "maxprob", "--budgets", "2.0", "--json",
                     "--save", str(tmp_path / f"fitted_{name}")]) == 0
        capsys.readouterr()
        index = json.loads((tmp_path / f"fitted_{name}" / "index.json").read_text())
        assert index["model"] == table["model"] == load_policy(
            tmp_path / f"fitted_{name}" / "maxprob" / "00").model
        assert index["costs_profiled_at"] == {"device": "cpu", "batch_size": 1, "threads": 1}
    done = _predict(workspace, tmp_path / "fitted_wider" / "maxprob" / "00", "--data",
                    str(workspace["data"]))
    _one_line_error(done, "planned with the costs of resnet1d_3 ")
    done = _predict(workspace, tmp_path / "fitted_this" / "maxprob" / "00", "--data",
                    str(workspace["data"]), "--batch-size", "8")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(", profiled at batch 1)"), done.stdout


def test_predict_summary_says_the_policys_cost_unit(workspace, tmp_path, capsys) -> None:
    """A policy fitted on costs in MFLOPs (`eenet schedule --cost-unit MFLOPs`): the summary
    gives its budget and plan in MFLOPs, and only the measured time in ms."""
    from eenet.outputs import save_exit_outputs

    save_exit_outputs(tmp_path / "val.npz", workspace["val"])
    save_exit_outputs(tmp_path / "test.npz", workspace["test"])
    assert main(["schedule", "--val", str(tmp_path / "val.npz"), "--test",
                 str(tmp_path / "test.npz"), "--costs", ",".join(map(str, COSTS)),
                 "--method", "maxprob", "--budgets", "1.8", "--cost-unit", "MFLOPs",
                 "--save", str(tmp_path / "fitted")]) == 0
    capsys.readouterr()
    base = ["predict", "--model", str(workspace["root"] / "model"), "--data",
            str(workspace["data"]), "--device", "cpu", "--policy"]
    assert main([*base, str(tmp_path / "fitted")]) == 2
    assert "(maxprob at 1.8 MFLOPs/sample)" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "fitted" / "maxprob" / "00")]) == 0
    line = capsys.readouterr().out
    assert "maxprob @ 1.8 MFLOPs: " in line
    assert re.search(r" ms/sample measured \(median of 2 calls [0-9.]+\) on cpu", line), line
    assert re.search(r"; planned [0-9.]+ MFLOPs/sample\)$", line.strip()), line
    assert main([*base, str(tmp_path / "fitted" / "maxprob" / "00"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["cost_unit"] == "MFLOPs" and summary["budget"] == 1.8
    # no field named _ms holds MFLOPs: they held the budget and plan in MFLOPs
    assert summary["budget_ms"] is None and summary["planned_ms_per_sample"] is None
    assert summary["planned_per_sample"] > 0


def test_predict_gives_a_plan_in_seconds_in_ms(workspace, tmp_path, capsys) -> None:
    """A policy fitted on costs in seconds (`--cost-unit s`): its budget and plan, converted,
    are the summary's `_ms` fields and the line's planned ms beside the measured ms; they held
    the seconds (0.0018 planned beside 0.3 ms measured: a plan 200x off by its name)."""
    from eenet.outputs import save_exit_outputs

    save_exit_outputs(tmp_path / "val.npz", workspace["val"])
    save_exit_outputs(tmp_path / "test.npz", workspace["test"])
    seconds = ",".join(str(c / 1000) for c in COSTS)
    assert main(["schedule", "--val", str(tmp_path / "val.npz"), "--test",
                 str(tmp_path / "test.npz"), "--costs", seconds, "--method", "maxprob",
                 "--budgets", "0.0018", "--cost-unit", "s", "--save",
                 str(tmp_path / "fitted")]) == 0
    capsys.readouterr()
    base = ["predict", "--model", str(workspace["root"] / "model"), "--data",
            str(workspace["data"]), "--device", "cpu", "--policy",
            str(tmp_path / "fitted" / "maxprob" / "00")]
    assert main([*base, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["cost_unit"] == "s" and summary["budget"] == 0.0018
    assert summary["budget_ms"] == pytest.approx(1.8)
    assert summary["planned_ms_per_sample"] == pytest.approx(1000 * summary["planned_per_sample"])
    assert main(base) == 0
    line = capsys.readouterr().out.strip()
    assert "maxprob @ 0.0018 s: " in line
    planned = re.search(r"; planned ([0-9.]+) ms/sample \(([0-9.e-]+) s\) by the costs it was "
                        r"fitted with\)$", line)
    assert planned, line
    assert float(planned.group(1)) == pytest.approx(1000 * float(planned.group(2)), rel=1e-3)
    from eenet.real_latency import measure_real_latency

    out = measure_real_latency(workspace["root"] / "model", tmp_path / "fitted" / "maxprob" / "00",
                               workspace["data"], device="cpu", limit=4)
    assert (out["cost_unit"], out["budget"]) == ("s", 0.0018)
    assert out["budget_ms"] == pytest.approx(1.8)  # it held 0.0018


def test_predict_cli_names_the_policies_of_a_schedulers_folder(workspace, tmp_path,
                                                                 capsys) -> None:
    from eenet.sweep import save_policies

    fitted = [{"method": "maxprob", "budget_ms": b, "policy": fit_policy("maxprob",
              workspace["val"], COSTS, b)} for b in (1.6, 2.4)]
    # a sweep's folder, as fit_schedulers writes it: its index records no headline
    save_policies(tmp_path / "fitted", fitted, {"sweep_ms": [1.6, 2.4], "costs_ms": COSTS.tolist()})
    base = ["predict", "--model", str(workspace["root"] / "model"), "--data",
            str(workspace["data"]), "--policy"]
    assert main([*base, str(tmp_path / "fitted")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder of 2 fitted schedulers; give one of them, " \
        f"e.g. {tmp_path / 'fitted' / 'maxprob' / '00'} (maxprob at 1.6 ms/sample" in err
    # its index.json: "is a file; give a fitted scheduler's folder or its policy.json"
    assert main([*base, str(tmp_path / "fitted" / "index.json")]) == 2
    assert "is a folder of 2 fitted schedulers; give one of them" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "fitted" / "maxprob")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds 2 fitted schedulers in subfolders (00, 01)" in err
    one = tmp_path / "one"
    (one / "00").mkdir(parents=True)
    for path in (tmp_path / "fitted" / "maxprob" / "00").iterdir():
        (one / "00" / path.name).write_bytes(path.read_bytes())
    assert main([*base, str(one)]) == 2  # "holds 1 fitted schedulers" before
    assert "holds a fitted scheduler in a subfolder (00); give that folder" in \
        capsys.readouterr().err
    assert main([*base, str(tmp_path / "fitted" / "maxprob" / "01")]) == 0
    assert "maxprob @ 2.4 ms" in capsys.readouterr().out
    # the policy's own file names its folder (it said ".../policy.json/policy.json: not found")
    assert main([*base, str(tmp_path / "fitted" / "maxprob" / "01" / "policy.json")]) == 0
    assert "maxprob @ 2.4 ms" in capsys.readouterr().out


def test_predict_cli_gives_the_budget_asked_below_the_first_exit(workspace, tmp_path,
                                                                capsys) -> None:
    """A budget below the first exit's cost (through the library, which does not refuse it)
    is fitted at that cost (`fitted_ms` in the index): predict shows that budget and the one
    asked beside it, not the fitted one alone (it showed 0.408 where the index said 0.380)."""
    from eenet.sweep import fit_all

    index = fit_all(workspace["val"], COSTS, ["maxprob", "entropy"], [0.9, 1.8], None,
                    tmp_path / "fitted", charged={"entropy": [0.25, 0.25, 0.25]})
    dirs = {(e["method"], e["budget_ms"]): (e["dir"], e.get("fitted_ms")) for e in index["entries"]}
    # entropy's scoring is not charged there: everyone leaves at exit 0 unscored
    assert dirs[("entropy", 0.9)][1] == 1.0 and dirs[("maxprob", 0.9)][1] == 1.0
    assert dirs[("entropy", 1.8)][1] is None
    base = ["predict", "--model", str(workspace["root"] / "model"), "--data",
            str(workspace["data"]), "--json", "--policy"]
    for (_method, budget), (folder, fitted) in dirs.items():
        assert main([*base, str(tmp_path / "fitted" / folder)]) == 0
        summary = json.loads(capsys.readouterr().out)["summary"]
        assert summary["budget_ms"] == (fitted or budget)
        assert summary["asked_budget_ms"] == (budget if fitted else None)
    assert main(base[:-2] + ["--policy", str(tmp_path / "fitted" / dirs[("entropy", 0.9)][0])]) == 0
    line = capsys.readouterr().out
    assert "entropy @ 1 ms (asked 0.9, below the first exit's cost): " in line, line
    assert re.search(r"; planned [0-9.]+ ms/sample by the costs it was fitted with\)$",
                     line.strip()), line
    # a policy folder no index lists (copied out of its folder) shows its own budget alone
    shutil.copytree(tmp_path / "fitted" / dirs[("entropy", 0.9)][0], tmp_path / "alone")
    assert main([*base, str(tmp_path / "alone")]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["budget_ms"] == 1.0 and summary["asked_budget_ms"] is None


def test_predict_says_where_the_plans_costs_were_profiled_otherwise(workspace, tmp_path,
                                                                      capsys) -> None:
    """The plan's ms were profiled at batch 1 on one thread: a run at another batch size or
    thread count names them beside its planned ms (it put 64-sample-batch ms beside batch-1
    costs without a word); a run at the profile's settings, or costs of unknown origin
    (an imported CSV records none), add nothing."""
    from eenet.fitting import costs_profiled_at
    from eenet.sweep import fit_all

    measured = {"cumulative_ms": COSTS.tolist(), "device": "cpu", "batch_size": 1, "threads": 1}
    imported = {"cumulative_ms": COSTS.tolist(), "device": None, "batch_size": None,
                "threads": None}
    assert costs_profiled_at(imported) == {}
    for name, table in (("measured", measured), ("imported", imported)):
        fit_all(workspace["val"], COSTS, ["maxprob"], [2.0], None, tmp_path / name,
                profiled_at=costs_profiled_at(table))
    base = ["predict", "--model", str(workspace["root"] / "model"), "--data",
            str(workspace["data"]), "--device", "cpu", "--policy"]
    runs = [("measured", ["--batch-size", "16"], ", profiled at batch 1)"),
            ("measured", ["--batch-size", "16", "--threads", "2"],
             ", profiled at batch 1, 1 thread)"),
            ("measured", ["--batch-size", "1"], "by the costs it was fitted with)"),
            ("imported", ["--batch-size", "16"], "by the costs it was fitted with)")]
    for name, extra, end in runs:
        assert main([*base, str(tmp_path / name / "maxprob" / "00"), *extra]) == 0
        line = capsys.readouterr().out.strip()
        assert line.endswith(end), line
    assert main([*base, str(tmp_path / "measured" / "maxprob" / "00"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["costs_profiled_at"] == {"device": "cpu", "batch_size": 1, "threads": 1}


def test_predict_says_a_lone_policy_json_has_no_record_of_its_profile(workspace, tmp_path,
                                                                      capsys) -> None:
    """A policy planned with a latency profile's costs, copied out of its schedulers folder on
    its own: how the costs were profiled is kept in the folder's index only. The run said
    nothing of it (as if it compared); it notes that it is not known. In its folder (folder
    or policy.json named), or with typed costs (no profile's model recorded), no note."""
    from eenet.models.artifact import model_identity
    from eenet.sweep import fit_all

    model_dir = workspace["root"] / "model"
    fit_all(workspace["val"], COSTS, ["maxprob"], [2.0], None, tmp_path / "fitted",
            model=model_identity(model_dir),
            profiled_at={"device": "cpu", "batch_size": 1, "threads": 1})
    fit_all(workspace["val"], COSTS, ["maxprob"], [2.0], None, tmp_path / "typed")
    alone = tmp_path / "alone"
    alone.mkdir()
    fitted = tmp_path / "fitted" / "maxprob" / "00"
    shutil.copy(fitted / "policy.json", alone / "policy.json")
    typed_alone = tmp_path / "typed_alone"
    typed_alone.mkdir()
    shutil.copy(tmp_path / "typed" / "maxprob" / "00" / "policy.json", typed_alone)
    base = ["predict", "--model", str(model_dir), "--data", str(workspace["data"]),
            "--device", "cpu", "--batch-size", "16", "--policy"]
    assert main([*base, str(alone / "policy.json")]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("by the costs it was fitted with)"), captured.out
    assert captured.err.strip() == (
        f"note: --policy {alone}: no schedulers index (index.json) lists it, so where its costs "
        "were profiled (device, batch size, threads) is not known here; its planned ms "
        "compare with a run at the profile's settings (the pipeline's: artifacts/latency.json)")
    for policy in (fitted, fitted / "policy.json", typed_alone):
        assert main([*base, str(policy)]) == 0
        assert "note:" not in capsys.readouterr().err, policy


@pytest.mark.parametrize(("recorded", "run", "said"), [
    ("cuda:1", "cuda:1", ""),  # said ", profiled on cuda:1" of the very device it ran on
    ("cuda:1", "cuda:0", ", profiled on cuda:1"),
    ("cuda", "cuda:0", ""),  # 'cuda' is the current GPU: no index to differ
    ("cpu", "cuda", ", profiled on cpu"),
])
def test_predict_compares_the_profiles_device_index_and_all(recorded, run, said) -> None:
    """A plan profiled on one GPU of several is named where the run used another one, and not
    where it ran on the same one (only the device type was compared)."""
    from eenet.commands.predict import profiled_otherwise

    summary = {"costs_profiled_at": {"device": recorded, "batch_size": 1, "threads": 1},
               "batch_size": 1, "threads": 1, "device": run}
    assert profiled_otherwise(summary) == said


# ---------------------------------------------------------------- the CLI as a user runs it


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """`python -m eenet.cli ARGS` in a fresh process, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "eenet.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd or REPO, timeout=300)


def _one_line_error(done: subprocess.CompletedProcess, message: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr, done.stderr


def _predict(workspace, policy, *extra: str, cwd=None) -> subprocess.CompletedProcess:
    return _cli("predict", "--model", str(workspace["root"] / "model"), "--policy",
                str(policy), "--device", "cpu", *extra, cwd=cwd)


@pytest.fixture(scope="module")
def twelve_class_policies(tmp_path_factory, workspace):
    """Policies fitted by `eenet schedule --save` on 12-class outputs (the model has 10), one
    of them copied out of its schedulers folder, and one fitted on 2-exit outputs."""
    from eenet.synthetic import make_split_pair

    root = tmp_path_factory.mktemp("other_outputs")
    saved_split_pair(root, 12, 300, 100, seed=1)
    rc = main(["schedule", "--val", str(root / "val.npz"), "--test", str(root / "test.npz"),
               "--costs", "1,2,4", "--method", "eenet,maxprob", "--budgets", "2", "--save",
               str(root / "fitted"), "--set", "eenet.top_probs=0", "--set",
               "eenet.score_candidates=[]", "--set", "eenet.max_epochs=20"])
    assert rc == 0
    shutil.copytree(root / "fitted" / "eenet" / "00", root / "alone")
    shutil.copytree(root / "fitted" / "maxprob" / "00", root / "maxprob_alone")
    two_exits = make_split_pair(2, 10, 300, 10, seed=2)[0]
    fit_policy("maxprob", two_exits, np.array([1.0, 2.0]), 1.5).save(root / "two_exits")
    return root


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("fitted/eenet/00", "eenet policy: fitted on exit outputs of 12 classes; the model "
                            "has 10"),  # index.json
        ("fitted/maxprob/00", "maxprob policy: fitted on exit outputs of 12 classes; the model "
                              "has 10"),  # index.json
        ("alone", "eenet policy: fitted on exit outputs of 12 classes; the model has 10"),
        # copied out of its folder: ran on the 10-class model before policies recorded classes
        ("maxprob_alone", "maxprob policy: fitted on exit outputs of 12 classes; the model has "
                          "10"),
        ("two_exits", "maxprob policy: fitted for 2 exits; the model has 3"),
    ],
)
def test_predict_rejects_a_policy_fitted_for_another_model(workspace, twelve_class_policies,
                                                           policy, message) -> None:
    """The same words as evaluation and the runtime use (FittedPolicy.check_fits)."""
    done = _predict(workspace, twelve_class_policies / policy, "--data",
                    str(workspace["data"]))
    _one_line_error(done, f"--policy: {twelve_class_policies / policy}: {message}")


def test_predict_and_measure_refuse_a_policy_planned_for_another_architecture(
        workspace, tmp_path) -> None:
    """Policies the pipeline fits record the model of the latency profile they were planned
    with; one of another architecture (a CIFAR ResNet's policy on the MNIST-1D model: both 3
    exits and 10 classes) ran in silence at several times its planned cost. Now one line naming
    both; other weights of the same architecture (retrained) run, with a note."""
    from eenet.models.artifact import model_identity
    from eenet.real_latency import check_policy_for_model
    from eenet.sweep import fit_all

    model_dir = workspace["root"] / "model"
    wider = {**OPTIONS, "widths": [8, 8, 16]}
    save_trained(build_model("resnet1d_3", 10, **wider), tmp_path / "wider", "resnet1d_3", 10,
                 wider)
    index = fit_all(workspace["val"], COSTS, ["maxprob"], [], 2.0, tmp_path / "fitted",
                    model=model_identity(tmp_path / "wider"))
    assert index["model"] == model_identity(tmp_path / "wider")
    policy_dir = tmp_path / "fitted" / index["entries"][0]["dir"]
    assert load_policy(policy_dir).model == index["model"]  # kept in policy.json
    done = _predict(workspace, policy_dir, "--data", str(workspace["data"]))
    _one_line_error(done, f"--policy: {policy_dir}: planned with the costs of resnet1d_3 "
                          f"{wider}, 10 classes, not {model_dir}'s resnet1d_3 {OPTIONS}, 10 "
                          "classes; fit it with this model's latency profile")
    with pytest.raises(ArtifactError, match=rf"^{re.escape(str(policy_dir))}: planned with the "
                                            "costs of resnet1d_3 "):
        check_policy_for_model(load_policy(policy_dir), policy_dir, 3, 10, model_dir)

    torch.manual_seed(5)
    save_trained(build_model("resnet1d_3", 10, **OPTIONS), tmp_path / "retrained", "resnet1d_3",
                 10, OPTIONS)
    index = fit_all(workspace["val"], COSTS, ["maxprob"], [], 2.0, tmp_path / "refit",
                    model=model_identity(tmp_path / "retrained"))
    policy_dir = tmp_path / "refit" / index["entries"][0]["dir"]
    check_policy_for_model(load_policy(policy_dir), policy_dir, 3, 10, model_dir)
    done = _predict(workspace, policy_dir, "--data", str(workspace["data"]))
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"note: --policy {policy_dir} was fitted for other weights "
                                  "of this model")
    index = fit_all(workspace["val"], COSTS, ["maxprob"], [], 2.0, tmp_path / "own",
                    model=model_identity(model_dir))
    done = _predict(workspace, tmp_path / "own" / index["entries"][0]["dir"], "--data",
                    str(workspace["data"]))
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_measure_real_latency_notes_a_policy_fitted_for_other_weights(workspace, tmp_path,
                                                                     capsys) -> None:
    """`eenet predict` notes a policy planned for other weights of the same architecture
    (retrained since); its Python counterpart ran it without a word."""
    from eenet.models.artifact import model_identity
    from eenet.real_latency import measure_real_latency
    from eenet.sweep import fit_all

    model_dir = workspace["root"] / "model"
    torch.manual_seed(5)
    save_trained(build_model("resnet1d_3", 10, **OPTIONS), tmp_path / "retrained", "resnet1d_3",
                 10, OPTIONS)
    for name, model in (("refit", tmp_path / "retrained"), ("own", model_dir)):
        fit_all(workspace["val"], COSTS, ["maxprob"], [], 2.0, tmp_path / name,
                model=model_identity(model))
    capsys.readouterr()
    measure_real_latency(model_dir, tmp_path / "refit" / "maxprob" / "00", workspace["data"],
                         limit=10, warmup_batches=0)
    assert capsys.readouterr().err == (
        f"note: measure_real_latency: policy {tmp_path / 'refit' / 'maxprob' / '00'} was "
        "fitted for other weights of this model (retrained since?): its thresholds were set on "
        "that model's exit outputs, so its exit fractions and cost may differ from its plan; "
        f"refit it for {model_dir}\n")
    measure_real_latency(model_dir, tmp_path / "own" / "maxprob" / "00", workspace["data"],
                         limit=10, warmup_batches=0)
    assert capsys.readouterr().err == ""


def test_policy_check_lets_this_models_policies_run(workspace, policy_dir, tmp_path) -> None:
    """A policy fitted on this model's outputs (top_probs = 0: its weights show 10 classes)
    passes the check and runs."""
    from eenet.commands.predict_policy import check_policy_fits, weights_classes

    policy = fit_policy("eenet", workspace["val"], COSTS, 2.0,
                        {"top_probs": 0, "score_candidates": [], "max_epochs": 20})
    assert weights_classes(policy, 10) == 10
    policy.save(tmp_path / "eenet")
    check_policy_fits(load_policy(tmp_path / "eenet"), tmp_path / "eenet", 3, 10,
                      str(workspace["root"] / "model"))
    done = _predict(workspace, tmp_path / "eenet", "--data", str(workspace["data"]), "--json")
    assert done.returncode == 0, done.stderr
    want = policy.decide(workspace["test"].log_probs())
    assert json.loads(done.stdout)["exits"] == want.tolist()


def test_threads_default_is_the_profiles(workspace, policy_dir) -> None:
    """--threads defaults to the latency profile's thread count (profile_model's default and
    params.yaml's profile.threads), is applied for the run and reported; 0 is torch's own
    count, as in params.yaml's thread settings and the Python API, reported as used."""
    import inspect

    import yaml

    from eenet.commands.predict import DEFAULT_THREADS
    from eenet.profiling import profile_model

    profile_default = inspect.signature(profile_model).parameters["threads"].default
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert DEFAULT_THREADS == profile_default == params["profile"]["threads"]
    data = ["--data", str(workspace["data"])]
    base = [*data, "--batch-size", "1"]
    done = _predict(workspace, policy_dir, *base, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert summary["threads"] == DEFAULT_THREADS
    # one call per sample at batch 1: the per-exit medians beside the mean (the first runs
    # cold; a plain median is the cost of the exit most samples take)
    assert summary["calls"] == 100 and summary["robust_ms_per_sample"] > 0
    done = _predict(workspace, policy_dir, *base)
    assert re.search(r"ms/sample measured \(per-exit medians of 100 calls [0-9.]+\) on cpu "
                     r"\(batch 1, "
                     r"1 thread; planned ", done.stdout), done.stdout
    done = _predict(workspace, policy_dir, *base, "--threads", "2", "--json")
    assert json.loads(done.stdout)["summary"]["threads"] == 2
    _one_line_error(_predict(workspace, policy_dir, *data, "--batch-size", "0"),  # given once
                    "--batch-size: must be an integer >= 1, got 0")
    done = _predict(workspace, policy_dir, *base, "--threads", "0", "--json")
    assert done.returncode == 0, done.stderr
    torch_count = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True, text=True, check=True).stdout
    assert json.loads(done.stdout)["summary"]["threads"] == int(torch_count)
    _one_line_error(_predict(workspace, policy_dir, *base, "--threads", "-1"),
                    "--threads: must be an integer from 0 to 1024, got -1")
    # 10**9 threads crashed libgomp (out of memory), 2**40 overflowed torch.set_num_threads
    for threads in ("1000000000", str(2**40)):
        _one_line_error(_predict(workspace, policy_dir, *base, "--threads", threads),
                        f"--threads: must be an integer from 0 to 1024, got {threads}")
    assert "default: 1, the latency profile's default" in " ".join(
        _cli("predict", "--help").stdout.split())


def test_summary_reports_the_plans_cost_of_the_exits_taken(workspace, policy_dir,
                                                          tmp_path) -> None:
    done = _predict(workspace, policy_dir, "--data", str(workspace["data"]), "--json")
    report = json.loads(done.stdout)
    planned = np.asarray(load_policy(policy_dir).planned_costs)
    assert report["summary"]["planned_ms_per_sample"] == pytest.approx(
        planned[report["exits"]].mean())


@pytest.mark.parametrize("source", ["--data", "--input"])
def test_predict_batch_size_beyond_the_samples(workspace, policy_dir, tmp_path, source) -> None:
    """A --batch-size past sys.maxsize made the DataLoader's islice raise (traceback); any
    batch size beyond the samples runs them as one batch, as the simulation decides them."""
    np.save(tmp_path / "x.npy", np.load(workspace["data"] / "test.npz")["x"])
    where = str(workspace["data"]) if source == "--data" else str(tmp_path / "x.npy")
    done = _predict(workspace, policy_dir, source, where, "--batch-size", str(10**20), "--json")
    assert done.returncode == 0, done.stderr
    want = load_policy(policy_dir).decide(workspace["test"].log_probs())
    report = json.loads(done.stdout)
    assert report["exits"] == want.tolist()
    # the summary gives the batch it ran at (was the flag's 10**20, for one batch of 100)
    assert report["summary"]["batch_size"] == len(want) == 100


def test_dumping_logits_with_a_batch_size_beyond_the_split(workspace) -> None:
    """dump.batch_size past sys.maxsize (the DataLoader's limit) batches the whole split once:
    the loader caps any evaluation batch at the split's size, for every caller."""
    dumped = collect_exit_logits(workspace["model"], PreparedDataset(workspace["data"], "test"),
                                 torch.device("cpu"), batch_size=10**20)
    np.testing.assert_allclose(dumped.logits, workspace["test"].logits, rtol=1e-5, atol=1e-5)
    assert np.array_equal(dumped.labels, workspace["test"].labels)


def test_dump_exit_outputs_writes_both_splits_and_replaces_the_old_pair(workspace,
                                                                       tmp_path) -> None:
    """The dump stage's function, called without DVC: each split's outputs as
    `collect_exit_logits` gives them (at any batch size), saved and returned; a previous
    folder's files are replaced whole (no stale file survives)."""
    out = tmp_path / "logits"
    out.mkdir()
    (out / "stale.npz").write_bytes(b"from another model")
    dumped = dump_exit_outputs(workspace["root"] / "model", workspace["data"], out,
                               batch_size=7, device="cpu")
    assert sorted(dumped) == ["test", "val"]
    assert sorted(p.name for p in out.iterdir()) == ["test.npz", "val.npz"]
    for split in ("val", "test"):
        saved = load_exit_outputs(out / f"{split}.npz")
        np.testing.assert_array_equal(saved.logits, dumped[split].logits)
        np.testing.assert_array_equal(saved.labels, workspace[split].labels)
        np.testing.assert_allclose(saved.logits, workspace[split].logits, rtol=1e-5, atol=1e-5)
    for bad in (0, True, "512", 2.5):  # checked as params.yaml's dump group is, before loading
        with pytest.raises(ConfigError, match=rf"^dump\.batch_size: must be an integer >= 1, "
                                              rf"got {re.escape(repr(bad))}$"):
            dump_exit_outputs(tmp_path / "no model", workspace["data"], out, batch_size=bad)
    assert sorted(p.name for p in out.iterdir()) == ["test.npz", "val.npz"]


def test_dump_exit_outputs_shows_a_bar_per_split_on_a_terminal_only(workspace, tmp_path,
                                                                     monkeypatch) -> None:
    """The dump stage showed no progress at all, even on a terminal (collect_exit_logits' bar
    was never asked for): a long dump was silent. Each split now has a tqdm bar on stderr
    where stderr is a terminal; in a log (`dvc repro > log`, a non-terminal stderr) nothing is
    written, and stdout is left to the stage's result lines."""
    model = workspace["root"] / "model"
    for terminal in (True, False):
        err = TerminalText() if terminal else io.StringIO()
        out = io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        monkeypatch.setattr(sys, "stdout", out)
        dump_exit_outputs(model, workspace["data"], tmp_path / f"logits{terminal}",
                          batch_size=7, device="cpu")
        monkeypatch.undo()
        assert out.getvalue() == ""
        if terminal:
            assert "val exit logits" in err.getvalue()
            assert "test exit logits" in err.getvalue()
        else:
            assert err.getvalue() == ""


def test_dumping_logits_that_do_not_fit_in_memory_is_one_line(workspace, tmp_path,
                                                              monkeypatch, capsys) -> None:
    """A batch whose forward pass needs more memory than there is was a torch traceback from
    the dump_logits stage; it is one line naming dump.batch_size, as profile.batch_size's is,
    and the stage's previous outputs are left as they were."""
    import eenet.inference

    monkeypatch.setattr(eenet.inference, "load_trained",
                        lambda directory: BlowUpNet(num_classes=10, length=40))
    params = tiny_params()
    params["dump"]["batch_size"] = 16
    write_params(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logits").mkdir()
    (tmp_path / "logits" / "val.npz").write_bytes(b"the previous outputs")
    message = stage_error(capsys, "dump_logits", str(workspace["root"] / "model"),
                          str(workspace["data"]), "logits")
    assert re.fullmatch(r"dump\.batch_size: 16 does not fit in memory \(tried to allocate "
                        r"\d+ bytes\); lower it", message), message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logits", "params.yaml"]
    assert [p.name for p in (tmp_path / "logits").iterdir()] == ["val.npz"]
    assert (tmp_path / "logits" / "val.npz").read_bytes() == b"the previous outputs"


MEMORY = r"does not fit in memory \(tried to allocate \d+ bytes\); lower it"


@pytest.fixture
def blows_up(monkeypatch):
    """Every trained model loads as a `BlowUpNet` of the workspace's classes and inputs."""
    import eenet.models.artifact

    monkeypatch.setattr(eenet.models.artifact, "load_trained",
                        lambda directory: BlowUpNet(num_classes=10, length=40))


@pytest.mark.parametrize("source", ["--data", "--input"])
def test_predict_batches_that_do_not_fit_in_memory_are_one_line(workspace, policy_dir, tmp_path,
                                                                blows_up, capsys,
                                                                source) -> None:
    """A batch whose early-exit run needs more memory than there is was a torch traceback
    from `eenet predict`; it is one line naming --batch-size, as the profile's is."""
    np.save(tmp_path / "x.npy", np.load(workspace["data"] / "test.npz")["x"][:20])
    where = str(workspace["data"]) if source == "--data" else str(tmp_path / "x.npy")
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), source, where, "--batch-size", "8", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2
    assert re.fullmatch(rf"eenet predict: error: --batch-size: 8 {MEMORY}\n", err), err


def _measure_workspace(workspace, policy_dir, tmp_path, monkeypatch) -> None:
    """The measure stage's inputs besides the model and data in `tmp_path` (the current
    folder): a maxprob scheduler at the headline budget, its costs and test logits, and
    params.yaml measuring 20 samples in batches of 8."""
    from eenet.latency_table import save_latency
    from eenet.outputs import save_exit_outputs

    schedulers = tmp_path / "schedulers"
    shutil.copytree(policy_dir, schedulers / "maxprob")
    (schedulers / "index.json").write_text(json.dumps({
        "headline_ms": 2.0, "costs_ms": COSTS.tolist(),
        "entries": [{"method": "maxprob", "dir": "maxprob", "budget_ms": 2.0}]}))
    save_latency(tmp_path / "latency.json", {"cumulative_ms": COSTS.tolist()})
    save_exit_outputs(tmp_path / "test.npz", workspace["test"])
    params = tiny_params()
    params["measure"].update(batch_size=8, limit=20, rounds=1, warmup=0, repeats=3,
                             device="cpu")
    write_params(tmp_path, params)
    monkeypatch.chdir(tmp_path)


def test_measure_report_names_no_column_as_metrics_json_does(workspace, policy_dir, tmp_path,
                                                            monkeypatch) -> None:
    """latency_real.json and metrics.json shared `budget_ms` and `methods.<m>.exit_fractions.*`
    (dvc then prefixed some columns with their file, not others), and latency_real's
    `methods.<m>.accuracy` (of the first `measure.limit` test samples) sat beside
    metrics.json's `test_accuracy` (all of them). The measure stage writes its report under
    `measured`, the accuracy as `subset_accuracy`: the samples' own, counted by hand here."""
    import runpy

    from eenet.sweep_evaluation import evaluate_all

    _measure_workspace(workspace, policy_dir, tmp_path, monkeypatch)
    main_function = runpy.run_path(str(REPO / "stages" / "measure_latency.py"))["main"]
    main_function(str(workspace["root"] / "model"), str(workspace["data"]), "schedulers",
                  "latency.json", "test.npz", "report.json")
    written = json.loads((tmp_path / "report.json").read_text())
    assert list(written) == ["measured"]
    report = written["measured"]
    row = report["methods"]["maxprob"]
    test = workspace["test"]
    exits = load_policy(policy_dir).decide(test.log_probs())[:20]
    right = test.predictions()[exits, np.arange(20)] == test.labels[:20]
    assert report["n_samples"] == 20 and "accuracy" not in row
    assert row["subset_accuracy"] == pytest.approx(100.0 * right.mean())
    metrics, _ = evaluate_all(test, COSTS, tmp_path / "schedulers")
    assert "measured" not in metrics  # so no column name of the two files is the same


def test_measuring_batches_that_do_not_fit_in_memory_is_one_line(workspace, policy_dir,
                                                                 tmp_path, blows_up,
                                                                 monkeypatch, capsys) -> None:
    """The measure stage's real early-exit runs, and `measure_real_latency`'s, of batches
    that need more memory than there is were torch tracebacks; each is one line naming its
    batch size setting (the stage writes no report)."""
    from eenet.real_latency import measure_real_latency

    _measure_workspace(workspace, policy_dir, tmp_path, monkeypatch)
    message = stage_error(capsys, "measure_latency", str(workspace["root"] / "model"),
                          str(workspace["data"]), "schedulers", "latency.json", "test.npz",
                          "report.json")
    assert re.fullmatch(rf"measure\.batch_size: 8 {MEMORY}", message), message
    assert not (tmp_path / "report.json").exists()
    with pytest.raises(ConfigError, match=rf"^measure_real_latency\.batch_size: 8 {MEMORY}$"):
        measure_real_latency(workspace["root"] / "model", policy_dir, workspace["data"],
                             batch_size=8, device="cpu", limit=20)


@pytest.mark.parametrize("length", [10**12, 2**62, 10**30])
def test_predict_a_model_config_with_an_input_length_past_any_machine(workspace, policy_dir,
                                                                      tmp_path, capsys,
                                                                      length) -> None:
    """A hand-edited config.json with options.input_length 10**12 asked torch for a 4 TB
    example input (2**62: a tensor size overflow, 10**30: not even an integer to torch), a
    traceback from `eenet predict`; loading the artifact names the file and the option."""
    model = tmp_path / "model"
    shutil.copytree(workspace["root"] / "model", model)
    config = json.loads((model / "config.json").read_text())
    config["options"]["input_length"] = length
    (model / "config.json").write_text(json.dumps(config))
    rc = main(["predict", "--model", str(model), "--policy", str(policy_dir), "--data",
               str(workspace["data"]), "--device", "cpu"])
    assert rc == 2
    problem = (f"model.options.input_length: must be an integer from 1 to 268435456, got {length}"
               if length < 2**63 else  # no JSON artifact holds an integer past int64
               "not valid JSON (integer 100000000000...(31 digits) is outside the 64-bit range)")
    assert capsys.readouterr().err == (
        f"eenet predict: error: --model: {model}/config.json: {problem}\n")


def test_measures_own_profile_that_does_not_fit_in_memory_names_measure_batch_size() -> None:
    """measure profiles each running policy at measure.batch_size, through the profile's code:
    a batch that does not fit in memory there was named profile.batch_size, a setting the
    measure stage does not read."""
    from eenet.measurement import own_profile
    from eenet.profiling import reference_policy

    with pytest.raises(ConfigError, match=rf"^measure\.batch_size: 8 {MEMORY}$"):
        own_profile(BlowUpNet(num_classes=10, length=40), reference_policy(3), "maxprob",
                    "cpu", 8, 1, 0, 3)


def test_measuring_data_the_model_does_not_take_is_one_line(workspace, policy_dir, tmp_path,
                                                            monkeypatch, capsys) -> None:
    """A model whose config.json was hand-edited to input_length 41 ran the length-40 test
    split (the network pools over any length) in the measure stage and in
    `measure_real_latency`, without a word; each now names the data and the model with both
    shapes, before running anything (the stage writes no report)."""
    from eenet.errors import ArtifactError
    from eenet.real_latency import measure_real_latency

    model = tmp_path / "model"
    shutil.copytree(workspace["root"] / "model", model)
    config = json.loads((model / "config.json").read_text())
    config["options"]["input_length"] = 41
    (model / "config.json").write_text(json.dumps(config))
    _measure_workspace(workspace, policy_dir, tmp_path, monkeypatch)
    data = workspace["data"]
    misfit = f"{data}: samples of shape (1, 40) do not fit the model in model (expects (1, 41))"
    assert stage_error(capsys, "measure_latency", "model", str(data), "schedulers",
                       "latency.json", "test.npz", "report.json") == misfit
    assert not (tmp_path / "report.json").exists()
    with pytest.raises(ArtifactError) as caught:
        measure_real_latency("model", policy_dir, data, batch_size=8, device="cpu", limit=20)
    assert str(caught.value) == misfit


def test_measure_real_latency_batch_size_beyond_the_split(workspace, policy_dir) -> None:
    from eenet.real_latency import measure_real_latency

    report = measure_real_latency(workspace["root"] / "model", policy_dir, workspace["data"],
                                  batch_size=10**20, device="cpu", limit=30)
    want = load_policy(policy_dir).decide(workspace["test"].log_probs()[:, :30])
    assert report["n_samples"] == 30 and report["exits"] == want.tolist()
    # the batch it ran at, as `eenet predict` and the measure stage give it (was 10**20)
    assert report["batch_size"] == 30


@pytest.mark.parametrize(
    ("x", "kind", "message"),
    [
        (np.zeros((6, 60), dtype=np.float32), "sequence",
         "samples of shape (1, 60) do not fit the model (expects (1, 40))"),
        (np.array(["a text"] * 6), "text", "holds texts; the model takes tensors"),
    ],
)
def test_predict_data_must_fit_the_model(workspace, policy_dir, tmp_path, x, kind,
                                         message) -> None:
    """--input refused samples of another shape, but --data ran them: this network pools over
    any length, so it predicted, silently, on inputs it was not trained for."""
    for split in ("train", "val", "test"):
        write_split(tmp_path, split, x, np.arange(6) % 10)
    write_meta(tmp_path, {"dataset": "toy", "kind": kind, "num_classes": 10,
                          "sizes": {"train": 6, "val": 6, "test": 6}})
    done = _predict(workspace, policy_dir, "--data", str(tmp_path))
    _one_line_error(done, f"--data: {tmp_path}")
    assert message in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("folder", "--out: folder names a folder; give a file path, e.g. folder/predictions.json"),
        ("new/", "--out: new/ names a folder; give a file path"),
        ("afile/pred.json", "--out: afile is a file, not a folder"),
        ("", "--out: expected a file path, got ''"),  # was "--out:  names a folder"
    ],
)
def test_predict_out_must_name_a_file(workspace, policy_dir, tmp_path, out, message) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("")
    done = _predict(workspace, policy_dir, "--data", str(workspace["data"]), "--out", out,
                    cwd=tmp_path)
    _one_line_error(done, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "folder"]


def test_predict_out_is_none_of_what_it_reads(workspace, policy_dir, tmp_path) -> None:
    """--out equal to --input replaced the inputs with the report without a word; inside the
    --model, --policy or --data folder it put a foreign file into an artifact."""
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.zeros((3, 40), dtype=np.float32))
    done = _predict(workspace, policy_dir, "--input", str(inputs), "--out", str(inputs))
    _one_line_error(done, f"--out: {inputs} is the --input file; write the report elsewhere")
    assert np.load(inputs).shape == (3, 40)
    for flag, folder in (("model", workspace["root"] / "model"), ("policy", policy_dir),
                         ("data", workspace["data"])):
        out = folder / "sub" / "pred.json"
        source = ("--input", str(inputs)) if flag != "data" else ("--data", str(folder))
        done = _predict(workspace, policy_dir, *source, "--out", str(out))
        _one_line_error(done, f"--out: {out} is inside the --{flag} folder ")
        assert not (folder / "sub").exists()


def test_predict_out_creates_missing_folders(workspace, policy_dir, tmp_path) -> None:
    out = tmp_path / "new" / "deeper" / "pred.json"
    done = _predict(workspace, policy_dir, "--data", str(workspace["data"]), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["summary"]["samples"] == 100
    assert [p.name for p in out.parent.iterdir()] == ["pred.json"]  # no temporary left


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_predict_out_refuses_a_pipe_or_device(workspace, policy_dir, tmp_path) -> None:
    """The atomic write renames a temporary file onto --out: on a named pipe (or a device such
    as /dev/null, as root) that would replace the node itself with a regular file."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    done = _predict(workspace, policy_dir, "--data", str(workspace["data"]), "--out", str(pipe))
    _one_line_error(done, f"--out: {pipe} is not a regular file (a device, pipe or socket)")
    assert pipe.is_fifo() and [p.name for p in tmp_path.iterdir()] == ["pipe"]


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.arange(50), "'y' must lie in [0, 9] (10 classes), got [0, 49]"),
        (np.arange(50) % 10 - 1, "'y' must lie in [0, 9] (10 classes), got [-1, 8]"),
        ((np.arange(50) % 10).astype(np.float64), "'y' must be integers, got "
                                                  "dtype float64"),
        (np.arange(50) % 2 == 0, "'y' must be integers, got dtype bool"),
        ((np.arange(50) % 10).astype("m8[s]"), "'y' must be integers, got dtype "
                                                "timedelta64[s]"),
        (np.arange(49) % 10, "'y' must be [n_samples] with n_samples=50, got shape (49,)"),
    ],
)
def test_predict_checks_input_labels(workspace, policy_dir, tmp_path, y, message) -> None:
    x = np.load(workspace["data"] / "test.npz")["x"][:50]
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    done = _predict(workspace, policy_dir, "--input", str(tmp_path / "xy.npz"))
    _one_line_error(done, f"--input: {tmp_path / 'xy.npz'}: {message}")


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda x, y: (x[:0], y[:0]), "no samples"),
    (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), y),
     "'x' holds 1 value not finite (NaN or inf); rerun the download stage"),
], ids=["empty split", "NaN input"])
def test_predict_data_split_is_checked_as_input_files_are(workspace, policy_dir, tmp_path,
                                                          edit, problem) -> None:
    """An empty --data split was 'error: no samples to predict' (no flag, no file), a NaN
    input ran (--input refuses it)."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(workspace["data"], data)
    with np.load(data / "test.npz") as npz:
        x, y = edit(npz["x"], npz["y"])
    np.savez(data / "test.npz", x=x, y=y)
    done = _predict(workspace, policy_dir, "--data", str(data))
    _one_line_error(done, f"--data: {data / 'test.npz'}: {problem}")


def test_predict_input_labels_of_any_integer_dtype(workspace, policy_dir, tmp_path) -> None:
    x = np.load(workspace["data"] / "test.npz")["x"][:50]
    y = workspace["test"].labels[:50]
    np.savez(tmp_path / "xy.npz", x=x, y=y.astype(np.uint8))
    done = _predict(workspace, policy_dir, "--input", str(tmp_path / "xy.npz"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["accuracy"] == pytest.approx(
        100 * (np.array(report["predictions"]) == y).mean())


@pytest.mark.parametrize("archive", [True, False])
def test_predict_input_read_as_what_the_file_holds(workspace, policy_dir, tmp_path,
                                                   archive) -> None:
    """An .npz archive named .npy, or an .npy array named .npz: read as what it holds (was a
    traceback: an NpzFile has no `ndim`, an array no context manager)."""
    x = np.load(workspace["data"] / "test.npz")["x"][:20]
    y = workspace["test"].labels[:20]
    path = tmp_path / ("xy.npy" if archive else "x.npz")
    with open(path, "wb") as f:  # np.save / np.savez would append their own suffix
        if archive:
            np.savez(f, x=x, y=y)
        else:
            np.save(f, x)
    done = _predict(workspace, policy_dir, "--input", str(path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    want = load_policy(policy_dir).decide(workspace["test"].log_probs()[:, :20])
    assert report["exits"] == want.tolist()
    assert (report["summary"]["accuracy"] is not None) == archive


def test_predict_texts_for_a_numeric_model(workspace, policy_dir, tmp_path) -> None:
    np.save(tmp_path / "t.npy", np.array(["a short text", "another one"]))
    done = _predict(workspace, policy_dir, "--input", str(tmp_path / "t.npy"))
    _one_line_error(done, "the model takes numeric arrays (bool, integer or float), got dtype "
                          "<U12")


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e300])
def test_predict_input_must_be_finite(workspace, policy_dir, tmp_path, value) -> None:
    """A NaN (or an inf, or a float64 beyond float32's range) in an input made NaN logits: the
    sample scored below every threshold and left at the last exit with class 0, silently."""
    x = np.load(workspace["data"] / "test.npz")["x"][:5].astype(np.float64)
    x[2, 7] = value
    np.save(tmp_path / "x.npy", x)
    done = _predict(workspace, policy_dir, "--input", str(tmp_path / "x.npy"))
    _one_line_error(done, f"--input: {tmp_path / 'x.npy'}: 1 value not finite as float32")


@pytest.mark.parametrize(
    "dtype", [np.complex64, np.dtype([("a", np.float32, (40,))]), "datetime64[D]"])
def test_predict_input_of_a_non_real_dtype(workspace, policy_dir, tmp_path, dtype) -> None:
    """Complex inputs were cast to float32 with a ComplexWarning (imaginary part dropped) and
    run; records and dates were refused as 'samples of shape ()'."""
    np.save(tmp_path / "x.npy", np.zeros((5, 40) if dtype == np.complex64 else 5, dtype=dtype))
    done = _predict(workspace, policy_dir, "--input", str(tmp_path / "x.npy"))
    _one_line_error(done, f"--input: {tmp_path / 'x.npy'}: the model takes numeric arrays "
                          f"(bool, integer or float), got dtype {np.dtype(dtype)}")


def test_models_command_names_the_flag() -> None:
    done = _cli("models", "--model", "resnet1d_3", "--model", "foo")
    _one_line_error(done, "eenet models: error: --model: unknown value 'foo'; allowed: bert_4, "
                          "densenet121_4, resnet1d_3, resnet56_3")
    done = _cli("models", "--model", "resnet1d_3", "--model", "resnet1d_3", "--json")
    assert [row["name"] for row in json.loads(done.stdout)] == ["resnet1d_3"]


@pytest.mark.parametrize("archive", [False, True])
def test_an_input_of_python_objects_is_not_called_a_non_numpy_file(tmp_path, archive) -> None:
    """An .npy (or an .npz's 'x') of dtype object was refused as 'neither an .npz archive nor
    an .npy array', which it is: the error now says what it holds and what to save."""
    from eenet.commands.predict_inputs import load_input_arrays
    from eenet.errors import ArtifactError

    objects = np.array([1, "a"], dtype=object)
    path = tmp_path / ("x.npz" if archive else "x.npy")
    if archive:
        np.savez(path, x=objects)
    else:
        np.save(path, objects, allow_pickle=True)
    with pytest.raises(ArtifactError, match=r"^--input: .*: not a readable numpy file \(an array "
                                            r"of Python objects \(dtype object\)") as info:
        load_input_arrays(path)
    assert "neither" not in str(info.value) and "\n" not in str(info.value)


def test_an_input_that_is_no_regular_file_is_called_so() -> None:
    """`--input /dev/null` said 'file not found' of a device that exists."""
    from eenet.commands.predict_inputs import load_input_arrays

    with pytest.raises(ArtifactError, match=r"^--input: /dev/null: not a regular file \(a "
                                            r"device, pipe or socket\); give a \.npy or \.npz "
                                            r"file$"):
        load_input_arrays(Path("/dev/null"))


def test_an_input_folder_is_called_a_directory(tmp_path) -> None:
    """`--input` naming a folder said 'file not found' of a path that exists; now as --val,
    --test and --costs say it."""
    from eenet.commands.predict_inputs import load_input_arrays

    with pytest.raises(ArtifactError, match=r"^--input: .*: is a directory; give a \.npy or "
                                            r"\.npz file$"):
        load_input_arrays(tmp_path)


@pytest.mark.parametrize(("policy", "message"), [
    ("fitted/maxprob/00", "maxprob policy: fitted on exit outputs of 12 classes; the model in "
                          "{model} has 10"),
    ("two_exits", "maxprob policy: fitted for 2 exits; the model in {model} has 3"),
])
def test_measuring_a_policy_of_another_model_names_both_folders(workspace, twelve_class_policies,
                                                               tmp_path, policy, message) -> None:
    """measure_real_latency and measure_headline said 'policy 'maxprob' has 2 thresholds but
    the model has 3 exits' (or '... the model's exits give 10', after the stem and first
    segment had run), naming neither the policy's folder nor the model's."""
    from eenet.errors import ArtifactError
    from eenet.latency_table import save_latency
    from eenet.measurement import measure_headline
    from eenet.outputs import save_exit_outputs
    from eenet.real_latency import measure_real_latency

    model = workspace["root"] / "model"
    want = f"^{re.escape(str(twelve_class_policies / policy))}: " + re.escape(
        message.format(model=model)) + "$"
    with pytest.raises(ArtifactError, match=want):
        measure_real_latency(model, twelve_class_policies / policy, workspace["data"],
                             device="cpu", limit=3)
    schedulers = tmp_path / "schedulers"
    shutil.copytree(twelve_class_policies / policy, schedulers / "maxprob")
    (schedulers / "index.json").write_text(json.dumps({
        "headline_ms": 2.0, "costs_ms": COSTS.tolist(),
        "entries": [{"method": "maxprob", "dir": "maxprob", "budget_ms": 2.0}]}))
    save_latency(tmp_path / "latency.json", {"cumulative_ms": COSTS.tolist()})
    save_exit_outputs(tmp_path / "test.npz", workspace["test"])
    want = f"^{re.escape(str(schedulers / 'maxprob'))}: " + re.escape(
        message.format(model=model)) + "$"
    with pytest.raises(ArtifactError, match=want):
        measure_headline(model, workspace["data"], schedulers, tmp_path / "latency.json",
                         tmp_path / "test.npz", device="cpu", limit=3, rounds=1, repeats=3)


def test_measure_runs_the_methods_in_a_changing_order_and_records_it(workspace, tmp_path,
                                                                    monkeypatch) -> None:
    """A real measure run of three methods: it ran them in the same order every round (one
    always right after the same other); now every round runs each method once in the order
    `round_order` gives, the orders differ from round to round, and the report's `orders`
    records the orders the timed runs really took."""
    from eenet.latency_table import save_latency
    from eenet.measurement import measure_headline
    from eenet.outputs import save_exit_outputs
    from eenet.sweep import fit_all

    methods = ["maxprob", "entropy", "patience"]
    fit_all(workspace["val"], COSTS, methods, [], 2.0, tmp_path / "headline")
    save_latency(tmp_path / "latency.json", {"cumulative_ms": COSTS.tolist()})
    save_exit_outputs(tmp_path / "test.npz", workspace["test"])
    ran: list[str] = []  # the method of each timed pass over the 6 samples' 6 batches
    run = EarlyExitPredictor.predict_in_order

    def recorded(self, batches, *args, **kwargs):
        batches = list(batches)
        if len(batches) == 6:
            ran.append(self.policy.method)
        return run(self, batches, *args, **kwargs)

    monkeypatch.setattr(EarlyExitPredictor, "predict_in_order", recorded)
    report = measure_headline(workspace["root"] / "model", workspace["data"],
                              tmp_path / "headline", tmp_path / "latency.json",
                              tmp_path / "test.npz", device="cpu", limit=6, rounds=4, warmup=2,
                              repeats=3)
    assert report["rounds"] == 4 and set(report["methods"]) == set(methods)
    orders = report["orders"]
    assert list(orders) == ["round0", "round1", "round2", "round3"]
    rounds = [orders[f"round{r}"].split(", ") for r in range(4)]
    assert all(sorted(order) == sorted(methods) for order in rounds)  # each once a round
    assert len({tuple(order) for order in rounds}) == 4  # no two rounds alike
    assert len({order[0] for order in rounds[:3]}) == 3  # each first once in 3 rounds
    assert ran == [method for order in rounds for method in order]
    assert all(row["exits_match_simulation"] for row in report["methods"].values())


def test_predict_out_through_a_symlink_loop_is_no_traceback(workspace, policy_dir, tmp_path):
    """--out a link that points at itself: the report replaces the link (as before), where the
    check that --out is none of the inputs raised RuntimeError (Path.resolve on a loop)."""
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    done = _predict(workspace, policy_dir, "--data", str(workspace["data"]), "--out", str(loop))
    assert done.returncode == 0, done.stderr
    assert not loop.is_symlink() and json.loads(loop.read_text())["summary"]["samples"] == 100


def test_predict_lone_sample_hint_only_where_it_is_right(tmp_path) -> None:
    """A 2-D array for a 3-channel image model is no lone sample (giving it a sample axis would
    not fit either): the plain misfit message, not a wrong hint."""
    from eenet.commands.predict_inputs import read_input_file
    from eenet.errors import ArtifactError

    model = build_model("resnet56_3", 10)
    np.save(tmp_path / "hw.npy", np.zeros((32, 32), dtype=np.float32))
    with pytest.raises(ArtifactError) as info:
        read_input_file(tmp_path / "hw.npy", model, 10)
    assert "do not fit the model (expects (3, 32, 32))" in str(info.value)
    assert "one sample" not in str(info.value)
    np.save(tmp_path / "chw.npy", np.zeros((3, 32, 32), dtype=np.float32))
    with pytest.raises(ArtifactError, match=r"is one sample without the sample axis; give 'x' "
                                            r"the shape \(1, 3, 32, 32\)"):
        read_input_file(tmp_path / "chw.npy", model, 10)


def test_data_of_another_class_count_names_both_counts(workspace, policy_dir,
                                                       tmp_path) -> None:
    """--data of 5 classes for a 10-class model said only that it 'does not have the model's
    10 classes'; both counts now."""
    data = tmp_path / "data"
    shutil.copytree(workspace["data"], data)
    meta = json.loads((data / "meta.json").read_text())
    (data / "meta.json").write_text(json.dumps({**meta, "num_classes": 5}))
    _one_line_error(_predict(workspace, policy_dir, "--data", str(data)),
                    f"error: --data: {data} has 5 classes, the model 10\n")


def test_predict_rounds_exit_fractions_as_the_schedule_table() -> None:
    """0.7955 (1591 of 2000) printed as 0.796 in predict's summary (np.round) and 0.795 in
    `eenet schedule`'s table, 0.0125 (1 of 80) as 0.012 and 0.013: the two now agree."""
    from eenet.commands.predict import summary_line
    from eenet.commands.schedule_report import format_table

    fractions = np.array([0.7955, 0.0125, 0.192])
    summary = {"samples": 2000, "method": "maxprob", "budget": 2.0, "budget_ms": 2.0,
               "asked_budget": None, "asked_budget_ms": None, "cost_unit": "ms",
               "accuracy": None, "measured_ms_per_sample": 1.0, "robust_ms_per_sample": 1.0,
               "calls": 1, "planned_per_sample": None, "planned_ms_per_sample": None,
               "batch_size": 1, "threads": 1, "device": "cpu"}
    shown = re.search(r"exit fractions \[([^]]*)\]", summary_line(summary, fractions)).group(1)
    row = {"method": "maxprob", "budget": 2.0, "test_accuracy": 90.0, "test_cost": 2.0,
           "val_cost": 2.0, "fit_seconds": 0.1, "exit_fractions": fractions.tolist(),
           "rule": "rule"}
    table = format_table([row]).splitlines()[2].split()[6:9]
    assert shown.split(", ") == ["0.795", "0.013", "0.192"]
    assert [float(f) for f in shown.split(", ")] == [float(f) for f in table]


@pytest.mark.parametrize("source", ["--input", "--data"])
def test_samples_the_model_overflows_on_name_the_inputs(workspace, policy_dir, tmp_path,
                                                        source) -> None:
    """Finite inputs far outside the model's range overflow to NaN logits at the last exit:
    the one-line error gave the sample's index but not the file it indexes."""
    with np.load(workspace["data"] / "test.npz") as npz:
        x, y = npz["x"][:5].copy(), npz["y"][:5]
    x[2] = -3e38  # NaN logits at every exit of the workspace's model
    data = tmp_path / "data"
    if source == "--input":
        path = tmp_path / "x.npy"
        np.save(path, x)
    else:
        shutil.copytree(workspace["data"], data)
        path = data / "test.npz"
        np.savez(path, x=x, y=y)
    done = _predict(workspace, policy_dir, source, str(data if source == "--data" else path))
    _one_line_error(done, f"error: {source}: {path}: exit 2 gave NaN or infinite logits (or "
                          "-inf for every class) for the sample at index 2 (")


def test_measuring_samples_the_model_overflows_on_names_the_split(workspace, policy_dir,
                                                                 tmp_path, monkeypatch,
                                                                 capsys) -> None:
    """The measure stage's error on a test sample without an answer named neither the split's
    file nor the sample's index in it (its warm-up runs gave the index in its batch: 4 for
    sample 12 in batches of 8); `eenet predict --data` names both."""
    from eenet.real_latency import measure_real_latency

    data = tmp_path / "data"
    shutil.copytree(workspace["data"], data)
    with np.load(data / "test.npz") as npz:
        x, y = npz["x"].copy(), npz["y"]
    x[12] = -3e38  # NaN logits at every exit of the workspace's model
    np.savez(data / "test.npz", x=x, y=y)
    _measure_workspace(workspace, policy_dir, tmp_path, monkeypatch)
    message = stage_error(capsys, "measure_latency", str(workspace["root"] / "model"),
                          str(data), "schedulers", "latency.json", "test.npz", "report.json")
    want = (f"{data / 'test.npz'}: exit 2 gave NaN or infinite logits (or -inf for every "
            "class) for the sample at index 12 (")
    assert message.startswith(want), message
    assert not (tmp_path / "report.json").exists()
    for warmup in (0, 2):  # the error from a warm-up batch or from the run
        with pytest.raises(ArtifactError, match=f"^{re.escape(want)}"):
            measure_real_latency(workspace["root"] / "model", policy_dir, data, batch_size=8,
                                 device="cpu", limit=20, warmup_batches=warmup)


@pytest.mark.parametrize("source", ["--input", "--data"])
def test_inputs_near_float32s_maximum_print_no_numpy_warning(workspace, policy_dir, tmp_path,
                                                             source) -> None:
    """+3e38 gives the workspace's model infinite logits at exits 0 and 1 and finite ones at
    the last: numpy's RuntimeWarning (inf - inf in the log-softmax) was printed beside the
    result, and beside the one-line error when another sample has no answer."""
    with np.load(workspace["data"] / "test.npz") as npz:
        x, y = npz["x"][:5].copy(), npz["y"][:5]
    x[2] = 3e38
    for name, bad in (("fine", None), ("bad", 3)):
        if bad is not None:
            x[bad] = -3e38  # NaN logits at every exit: no answer
        data = tmp_path / name
        if source == "--input":
            path = tmp_path / f"{name}.npy"
            np.save(path, x)
        else:
            shutil.copytree(workspace["data"], data)
            path = data / "test.npz"
            np.savez(path, x=x, y=y)
        done = _predict(workspace, policy_dir, source,
                        str(data if source == "--data" else path))
        if bad is None:
            assert done.returncode == 0 and done.stderr == "", done.stderr
            assert done.stdout.startswith("5 samples, maxprob @ 2 ms: "), done.stdout
        else:
            _one_line_error(done, f"error: {source}: {path}: exit 2 gave NaN or infinite "
                                  "logits (or -inf for every class) for the sample at index 3 (")
