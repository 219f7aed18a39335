"""Real early exit with the registered schedulers, and `eenet predict` end to end."""

from __future__ import annotations

import copy
import importlib.util
import json

import numpy as np
import pytest
import torch

from eenet.cli import main
from eenet.data.prepared import PreparedDataset, write_meta, write_split
from eenet.inference import collect_exit_logits
from eenet.models import build_model
from eenet.models.artifact import save_trained
from eenet.runtime import EarlyExitPredictor
from eenet.schedulers import available_methods, fit_policy, load_policy
from tests.runtime_helpers import DEVICES

COSTS = np.array([1.0, 2.0, 3.5])
OPTIONS = {"widths": [4, 8, 8], "blocks": [1, 1, 1]}


def _method_available(method: str) -> bool:
    return importlib.util.find_spec(f"eenet.schedulers.{method}") is not None


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
    if not _method_available(method):
        pytest.skip(f"scheduler {method!r} not in this checkout yet")
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


def test_predict_cli_on_an_input_file(workspace, policy_dir, tmp_path, capsys) -> None:
    x = np.load(workspace["data"] / "test.npz")["x"][:50]
    np.save(tmp_path / "x.npy", x)
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), "--input", str(tmp_path / "x.npy"), "--device", "cpu",
               "--batch-size", "1"])
    assert rc == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("50 samples, maxprob @ 2 ms: exit fractions") and "accuracy" not in line
    np.savez(tmp_path / "xy.npz", x=x[:, None, :], y=np.arange(50) % 10)
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), "--input", str(tmp_path / "xy.npz"), "--device", "cpu", "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    want = load_policy(policy_dir).decide(workspace["test"].log_probs()[:, :50])
    assert report["exits"] == want.tolist()
    assert report["summary"]["accuracy"] is not None


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--input", "missing.npy"], "file not found"),
        (["--input", "bad.npy"], "do not fit the model"),
        (["--input", "x.txt"], "expected a .npy or .npz"),
        (["--data", "nowhere"], "prepared data not found"),
        (["--data", "DATA", "--split", "dev"], "split: unknown value 'dev'"),
        (["--data", "DATA", "--batch-size", "0"], "--batch-size"),
        (["--data", "DATA", "--device", "cuda:7" if torch.cuda.is_available() else "cuda"],
         "cuda"),
    ],
)
def test_predict_cli_errors_are_one_line(workspace, policy_dir, tmp_path, monkeypatch, capsys,
                                         extra, match) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "bad.npy", np.zeros((3, 7), dtype=np.float32))
    (tmp_path / "x.txt").write_text("1 2 3")
    extra = [str(workspace["data"]) if e == "DATA" else e for e in extra]
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(policy_dir), *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert match in err and err.count("\n") == 1


def test_predict_cli_missing_policy(workspace, tmp_path, capsys) -> None:
    rc = main(["predict", "--model", str(workspace["root"] / "model"), "--policy",
               str(tmp_path), "--data", str(workspace["data"])])
    assert rc == 2 and "fitted scheduler not found" in capsys.readouterr().err


def test_benchmark_skips_without_pipeline_artifacts(tmp_path, monkeypatch, capsys) -> None:
    from benchmarks import runtime as bench

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["runtime"])
    bench.main()
    assert capsys.readouterr().out.startswith("skipped: pipeline artifacts missing")


def test_measure_real_latency_without_dvc(workspace, policy_dir) -> None:
    from eenet.runtime import measure_real_latency

    out = measure_real_latency(workspace["root"] / "model", policy_dir, workspace["data"],
                               batch_size=8, device="cpu", limit=40)
    assert out["n_samples"] == 40 and out["batch_size"] == 8
    assert out["ms_per_sample"] > 0 and out["schedule_ms_per_sample"] >= 0
    assert sum(out["exit_fractions"]) == pytest.approx(1.0)
    policy = load_policy(policy_dir)
    np.testing.assert_array_equal(out["exits"],
                                  policy.decide(workspace["test"].log_probs())[:40])
    json.dumps(out)


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
    for i, row in enumerate(r for r in rows if r["method"] == "eenet"):
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


def test_predict_cli_names_the_policies_of_a_schedulers_folder(workspace, tmp_path,
                                                                 capsys) -> None:
    from eenet.sweep import save_policies

    fitted = [{"method": "maxprob", "budget_ms": b, "policy": fit_policy("maxprob",
              workspace["val"], COSTS, b)} for b in (1.6, 2.4)]
    save_policies(tmp_path / "fitted", fitted, {"headline_ms": 1.6, "costs_ms": COSTS.tolist()})
    base = ["predict", "--model", str(workspace["root"] / "model"), "--data",
            str(workspace["data"]), "--policy"]
    assert main([*base, str(tmp_path / "fitted")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder of 2 fitted schedulers; give one of them, " \
        f"e.g. {tmp_path / 'fitted' / 'maxprob' / '00'} (maxprob at 1.6 ms/sample" in err
    assert main([*base, str(tmp_path / "fitted" / "maxprob")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds 2 fitted schedulers in subfolders (00, 01)" in err
    assert main([*base, str(tmp_path / "fitted" / "maxprob" / "01")]) == 0
    assert "maxprob @ 2.4 ms" in capsys.readouterr().out
