"""Each paper preset through the real stages: prepare data, train one epoch, dump exit logits.

Fixture data (CIFAR batch files, AG News / SST-2 sample files) goes through `prepare_dataset`;
the train and dump_logits stages run on it with narrow model options (a tiny `BertConfig`, a
tiny WordPiece vocabulary). A trained BERT must reload from its artifact alone: the pretrained
folder and the vocabulary it was trained from are deleted before the logits are dumped.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from eenet.data import prepare_dataset
from eenet.data.prepared import PreparedDataset, read_split
from eenet.devices import num_threads
from eenet.inference import collect_exit_logits
from eenet.models.artifact import load_trained
from eenet.outputs import load_exit_outputs
from tests.preset_fixtures import (
    tiny_bert_sources,
    write_ag_news,
    write_cifar10,
    write_cifar100,
    write_sst2,
)

pytestmark = pytest.mark.slow

CNN_TRAIN = {"optimizer": "sgd", "lr": 0.1, "weight_decay": 5e-4, "schedule": "multistep",
             "milestones": [1], "batch_size": 16}  # fmt: skip
BERT_TRAIN = {"optimizer": "adamw", "lr": 3e-5, "weight_decay": 0.01, "schedule": "linear",
              "batch_size": 16}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One preset at test size: data set, model options, train settings, exits and classes."""

    dataset: str
    model: str
    options: dict[str, Any]
    train: dict[str, Any]
    n_exits: int
    n_classes: int
    sizes: dict[str, int] = field(default_factory=dict)


CASES = {
    "resnet56_3-cifar10": Case(
        "cifar10", "resnet56_3", {"blocks": [1, 1, 1], "base_width": 4}, CNN_TRAIN, 3, 10,
        {"train": 40, "val": 10, "test": 12},
    ),
    "densenet121_4-cifar100": Case(
        "cifar100", "densenet121_4", {"blocks": [1, 1, 1, 1], "growth": 4}, CNN_TRAIN, 4, 100,
        {"train": 48, "val": 12, "test": 12},
    ),
    "bert_4-ag_news": Case("ag_news", "bert_4", {}, BERT_TRAIN, 4, 4,
                           {"train": 40, "val": 10, "test": 12}),
    "bert_4-sst2": Case("sst2", "bert_4", {}, BERT_TRAIN, 4, 2,
                        {"train": 40, "val": 10, "test": 12}),
}  # fmt: skip


def prepare(case: Case, tmp: Path) -> Path:
    """Write the raw fixture for `case` and prepare it through the data registry."""
    out = tmp / "data"
    if case.dataset == "cifar10":
        write_cifar10(tmp / "raw", per_batch=10, n_test=12)
        options = {"root": tmp / "raw", "val_size": 10, "download": False, "checksums": False}
    elif case.dataset == "cifar100":
        write_cifar100(tmp / "raw", n_train=60, n_test=12)
        options = {"root": tmp / "raw", "val_size": 12, "download": False, "checksums": False}
    elif case.dataset == "ag_news":
        options = {"local_path": write_ag_news(tmp / "raw", n_train=50, n_test=12), "val_size": 10}
    else:
        options = {"local_path": write_sst2(tmp / "raw", n_train=50, n_val=12), "val_size": 10}
    if "local_path" in options:
        options["cache_dir"] = str(tmp / "hf-cache")
    meta = prepare_dataset(case.dataset, out, 0, **options)
    assert meta["sizes"] == case.sizes
    return out


def run_stage(name: str, *args: str) -> None:
    """Call a stage script's `main` (stages/<name>.py) in this process."""
    importlib.import_module(f"stages.{name}").main(*args)


def train_case(name: str, tmp: Path) -> tuple[Case, Path]:
    """A preset prepared, trained for one epoch and its logits dumped, in stage folder `tmp`."""
    case = CASES[name]
    options = {**case.options, **(tiny_bert_sources(tmp) if case.model == "bert_4" else {})}
    params = {
        "model": {"name": case.model, "options": options},
        "train": {**case.train, "epochs": 1, "threads": 1, "device": "cpu", "seed": 0},
        "dump": {"batch_size": 8, "device": "cpu"},
    }
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    # one thread (tiny ops run faster without an OpenMP pool), the count restored after
    with pytest.MonkeyPatch.context() as patch, num_threads(1):
        data = prepare(case, tmp)
        patch.chdir(tmp)
        run_stage("train", str(data), "model", "ckpt", "live")
        for source in ("pretrained", "vocab"):  # the artifact alone must rebuild the model
            shutil.rmtree(tmp / source, ignore_errors=True)
        run_stage("dump_logits", "model", str(data), "logits")
    return case, tmp


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Callable[[str], tuple[Case, Path]]:
    """Each preset's run by name, made once for this module whichever fixture asks first."""
    done: dict[str, tuple[Case, Path]] = {}

    def run(name: str) -> tuple[Case, Path]:
        if name not in done:
            done[name] = train_case(name, tmp_path_factory.mktemp(name))
        return done[name]

    return run


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def trained(request, runs) -> tuple[Case, Path]:
    """Every preset's run."""
    return runs(request.param)


# BERT: the text model, and the one whose artifact saves assets (its config and vocabulary)
BERT_CASES = [name for name, case in CASES.items() if case.model == "bert_4"]


@pytest.fixture(scope="module", params=BERT_CASES, ids=BERT_CASES)
def bert_trained(request, runs) -> tuple[Case, Path]:
    """The BERT presets' runs (the same runs `trained` gives for them)."""
    return runs(request.param)


def test_logits_have_one_row_per_exit_sample_and_class(trained):
    case, tmp = trained
    for split in ("val", "test"):
        outputs = load_exit_outputs(tmp / "logits" / f"{split}.npz")
        n = case.sizes[split]
        assert outputs.logits.shape == (case.n_exits, n, case.n_classes)
        assert np.isfinite(outputs.logits).all()
        np.testing.assert_array_equal(outputs.labels, read_split(tmp / "data", split)[1])


def test_training_logged_every_exit_and_wrote_one_artifact(trained):
    case, tmp = trained
    metrics = json.loads((tmp / "live" / "metrics.json").read_text())
    assert np.isfinite(metrics["train_loss"])
    assert {f"val_acc_exit{k}" for k in range(case.n_exits)} <= set(metrics)
    config = json.loads((tmp / "model" / "config.json").read_text())
    assert config["name"] == case.model and config["n_exits"] == case.n_exits
    assert config["num_classes"] == case.n_classes and config["dataset"] == case.dataset


def test_artifact_reloads_from_its_own_folder(trained):
    case, tmp = trained
    moved = shutil.copytree(tmp / "model", tmp / "moved-model")
    model = load_trained(moved)
    assert model.n_exits == case.n_exits
    again = collect_exit_logits(model, PreparedDataset(tmp / "data", "test"), torch.device("cpu"))
    dumped = load_exit_outputs(tmp / "logits" / "test.npz").logits
    np.testing.assert_allclose(again.logits, dumped, rtol=1e-4, atol=1e-5)
    if case.model == "bert_4":
        assert (moved / "assets" / "config.json").is_file()
        assert not (tmp / "pretrained").exists() and not (tmp / "vocab").exists()
        batch = model.collate(["good great film .", "stocks market shares ."])
        assert [tuple(z.shape) for z in model(batch)] == [(2, case.n_classes)] * case.n_exits
    else:
        assert not (moved / "assets").exists()


def test_artifact_without_its_assets_is_a_one_line_error(bert_trained):
    case, tmp = bert_trained
    from eenet.errors import ArtifactError

    broken = shutil.copytree(tmp / "model", tmp / "broken-model")
    shutil.rmtree(broken / "assets")
    with pytest.raises(ArtifactError, match="assets folder is missing") as info:
        load_trained(broken)
    assert "\n" not in str(info.value)


def test_predict_runs_texts_in_batches_with_their_labels(bert_trained):
    """`eenet predict --input` with texts and labels on a trained BERT preset: batched like
    any input (3 per batch here), and every sample exits where the policy decides on the
    model's own outputs for that text."""
    case, tmp = bert_trained
    import subprocess
    import sys

    from eenet.outputs import log_softmax64
    from eenet.schedulers import fit_policy

    val = load_exit_outputs(tmp / "logits" / "val.npz")
    costs = np.arange(1.0, case.n_exits + 1)
    policy = fit_policy("maxprob", val, costs, float(costs.mean()))
    policy.save(tmp / "policy")
    texts = np.array(["good great film .", "stocks market shares .", "a film .",
                      "great game", "market"])
    labels = np.arange(texts.size) % case.n_classes
    np.savez(tmp / "texts.npz", x=texts, y=labels)
    done = subprocess.run(
        [sys.executable, "-m", "eenet.cli", "predict", "--model", str(tmp / "model"),
         "--policy", str(tmp / "policy"), "--input", str(tmp / "texts.npz"),
         "--batch-size", "3", "--device", "cpu", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    model = load_trained(tmp / "model").eval()
    with torch.no_grad():
        logits = np.stack([z.numpy() for z in model(model.collate(texts.tolist()))])
    exits = policy.decide(log_softmax64(logits.astype(np.float32)))
    assert report["summary"]["samples"] == texts.size
    assert report["exits"] == exits.tolist()
    assert report["predictions"] == logits[exits, np.arange(texts.size)].argmax(-1).tolist()


def test_predict_takes_a_prepared_text_split_as_input(bert_trained):
    """A prepared text split (texts as UTF-8 bytes and offsets, no 'x') given to `eenet predict
    --input` runs as the same split given by --data does (it was "expected an array 'x'")."""
    case, tmp = bert_trained
    import subprocess
    import sys

    from eenet.schedulers import fit_policy

    val = load_exit_outputs(tmp / "logits" / "val.npz")
    costs = np.arange(1.0, case.n_exits + 1)
    fit_policy("maxprob", val, costs, float(costs.mean())).save(tmp / "split-policy")
    reports = []
    for source in (["--input", str(tmp / "data" / "test.npz")],
                   ["--data", str(tmp / "data"), "--split", "test"]):
        done = subprocess.run(
            [sys.executable, "-m", "eenet.cli", "predict", "--model", str(tmp / "model"),
             "--policy", str(tmp / "split-policy"), *source, "--device", "cpu", "--json"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(done.stdout))
    with np.load(tmp / "data" / "test.npz", allow_pickle=False) as npz:
        assert "x" not in npz.files
    assert reports[0]["exits"] == reports[1]["exits"]
    assert reports[0]["predictions"] == reports[1]["predictions"]
    assert reports[0]["summary"]["accuracy"] == reports[1]["summary"]["accuracy"]
