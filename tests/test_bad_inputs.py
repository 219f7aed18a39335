"""A catalogue of bad inputs: each gives one exact error line, exit status 2, no traceback.

Params cases go through the download stage (every stage validates the whole params.yaml
first); artifact cases go through the stage that reads the bad file. Stages run in-process
through `eenet.cli.run_stage` (what their `__main__` does); a few also as real subprocesses.
"""

from __future__ import annotations

import copy
import json
import re
import runpy
import shutil
import signal
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from safetensors.numpy import load_file, save_file

from eenet.cli import RESUMES_NOTE, STOPPED_NOTE
from eenet.data import prepare_dataset
from eenet.errors import ArtifactError
from eenet.jsonio import write_json
from eenet.latency_import import import_record, save_import
from eenet.latency_table import save_latency
from eenet.models import build_model
from eenet.models.artifact import save_trained
from eenet.outputs import ExitOutputs, load_exit_outputs, save_exit_outputs
from eenet.scoring_cost import FIXED_CHARGED, LEARNED_CHARGED, profile_scoring
from eenet.sweep import fit_all
from eenet.synthetic import make_split_pair
from eenet.termination import Terminated
from tests.robust_helpers import (
    ROOT,
    assert_one_line_error,
    dvc_stage_script,
    run_stage,
    stage_error,
    tiny_params,
    write_params,
)

EENET_FAST = {"max_epochs": 20, "restarts": 1}
VAL, TEST = "artifacts/logits/val.npz", "artifacts/logits/test.npz"
LATENCY, SCHEDULERS, MODEL = "artifacts/latency.json", "artifacts/schedulers", "artifacts/model"
SCORING, HEADLINE = "artifacts/scoring.json", "artifacts/headline"
EENET_SCORING = "artifacts/scoring_eenet.json"
IMPORTED = "artifacts/imported_latency.json"  # import_latency's record: no table, here
FIT_ARGS = (VAL, LATENCY, SCORING, EENET_SCORING, SCHEDULERS)
HEADLINE_FIT_ARGS = (VAL, LATENCY, SCORING, EENET_SCORING, HEADLINE)
SCORING_ARGS = (MODEL, LATENCY, SCORING)
EVAL_ARGS = (TEST, LATENCY, HEADLINE, SCHEDULERS, "reports/metrics.json", "reports/sweep.csv",
             "reports/oracle_curve.csv", "reports/summary.md", "reports/exits.csv")
MEASURE_ARGS = (MODEL, "data", HEADLINE, LATENCY, TEST, "reports/latency_real.json")
ALLOWED_BUDGET = "expected a number of ms/sample > 0 or a percentage 'N%' with 0 <= N <= 100"


def base_params() -> dict[str, Any]:
    params = tiny_params()
    params["schedulers"].update(methods=["maxprob", "eenet"], eenet=dict(EENET_FAST))
    return params


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good artifacts of every stage: prepared data, a tiny model, logits, costs, schedulers."""
    ws = tmp_path_factory.mktemp("good")
    params = base_params()
    write_params(ws, params)
    prepare_dataset("mnist1d", ws / "data", 0, num_samples=200, val_fraction=0.3)
    options = params["model"]["options"]
    model = build_model("resnet1d_3", 10, **options)
    save_trained(model, ws / MODEL, "resnet1d_3", 10, options)
    val, test = make_split_pair(n_exits=3, n_classes=10, n_val=300, n_test=300)
    save_exit_outputs(ws / VAL, val)
    save_exit_outputs(ws / TEST, test)
    save_import(ws / IMPORTED, import_record(None))
    save_latency(ws / LATENCY, {"cumulative_ms": [1.0, 2.0, 3.0], "source": "test"})
    write_json(ws / SCORING, profile_scoring(model, methods=FIXED_CHARGED, warmup=2,
                                             repeats=20))
    write_json(ws / EENET_SCORING, profile_scoring(model, methods=LEARNED_CHARGED, warmup=2,
                                                   repeats=20))
    costs, settings = np.array([1.0, 2.0, 3.0]), {"eenet": EENET_FAST}
    fit_all(val, costs, ["maxprob", "eenet"], [1.5, 2.5], None, ws / SCHEDULERS, settings, 0)
    fit_all(val, costs, ["maxprob", "eenet"], [], 2.0, ws / HEADLINE, settings, 0,
            budget_spec=2.0)
    return ws


@pytest.fixture
def ws(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the good workspace, as the current directory."""
    path = tmp_path / "ws"
    shutil.copytree(workspace, path, symlinks=True)
    monkeypatch.chdir(path)
    return path


# ---------------------------------------------------------------- params.yaml


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(params: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(params: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = params
        for key in parents:
            node = node[key]
        del node[last]

    return edit


def _data(dataset: str, **options: Any) -> Callable[[dict[str, Any]], None]:
    def edit(params: dict[str, Any]) -> None:
        params["data"] = {"dataset": dataset, "seed": 0, "options": options}

    return edit


PARAM_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown top-level key", _set("budjet", 3),
     "budjet: unknown top-level key; allowed: setup, budget, budgets, data, model, train, "
     "profile, dump, scoring, measure, schedulers"),
    ("epochs not a number", _set("train.epochs", "ten"),
     "train.epochs: expected an integer, got 'ten'"),
    ("negative epochs", _set("train.epochs", -3), "train.epochs: must be an integer >= 1, got -3"),
    ("quoted epochs", _set("train.epochs", "15"),
     "train.epochs: expected an integer, got '15' (YAML reads a quoted number as text; write it "
     "without quotes)"),
    ("too few generated samples", _set("data.options.num_samples", 50),
     "data.options.num_samples: must be from 100 to 1000000 (MNIST-1D is generated one sample "
     "at a time, all in memory: 10**6 take up to an hour and about 1.5 GB), got 50"),
    ("zero batch size", _set("train.batch_size", 0),
     "train.batch_size: must be an integer >= 1, got 0"),
    ("lr in YAML 1.1 exponent form", _set("train.lr", "3e-3"),
     "train.lr: expected a number, got '3e-3' (YAML reads it as text; write it with a dot and "
     "a signed exponent, e.g. 3.0e-3 or 1.0e+9)"),
    ("negative weight decay", _set("train.weight_decay", -0.1),
     "train.weight_decay: must be a finite number >= 0, got -0.1"),
    ("momentum of 1", _set("train.momentum", 1.0),
     "train.momentum: must be a finite number >= 0 and < 1, got 1.0"),
    ("zero distillation temperature", _set("train.distill_temperature", 0.0),
     "train.distill_temperature: must be a finite number > 0, got 0.0"),
    ("milestones out of order", _set("train.milestones", [8, 4]),
     "train.milestones: must be increasing epoch numbers >= 1, got [8, 4]"),
    ("unknown train key", _set("train.epoch", 3),
     "train.epoch: unknown key; allowed: batch_size, device, distill_from, distill_temperature, "
     "distill_weight, epochs, gamma, lr, milestones, momentum, num_workers, optimizer, schedule, "
     "seed, threads, weight_decay"),
    ("unknown optimizer", _set("train.optimizer", "rmsprop"),
     "train.optimizer: unknown value 'rmsprop'; allowed: adam, adamw, sgd"),
    ("unknown device", _set("dump.device", "tpu"),
     "dump.device: unknown value 'tpu'; allowed: auto, cpu, cuda, cuda:N"),
    ("unknown dataset", _set("data.dataset", "mnist"),
     "data.dataset: unknown value 'mnist'; allowed: ag_news, cifar10, cifar100, mnist1d, sst2"),
    ("unknown data option", _set("data.options.num_sample", 500),
     "data.options.num_sample: unknown key; allowed: num_samples, val_fraction"),
    ("data seed missing", _del("data.seed"),
     "data.seed: missing (required, with dataset, seed)"),
    ("data set missing", _del("data.dataset"),
     "data.dataset: missing (required, with dataset, seed)"),
    ("model name missing", _del("model.name"), "model.name: missing (required, with name)"),
    ("CIFAR val_size in YAML 1.1 exponent form", _data("cifar10", val_size="5e3"),
     "data.options.val_size: expected an integer, got '5e3' (YAML reads it as text; write it "
     "with a dot and a signed exponent, e.g. 3.0e-3 or 1.0e+9)"),
    ("CIFAR download as a word", _data("cifar100", download="no"),
     "data.options.download: expected true/false, got 'no'"),
    ("text training cap as a word", _data("ag_news", max_train_samples="all"),
     "data.options.max_train_samples: expected an integer or null, got 'all'"),
    ("text data files as one name", _data("sst2", data_files="train.csv"),
     "data.options.data_files: expected a mapping or null, got 'train.csv'"),
    ("unknown model", _set("model.name", "resnet"),
     "model.name: unknown value 'resnet'; allowed: bert_4, densenet121_4, resnet1d_3, resnet56_3"),
    ("unknown model option", _set("model.options.width", [4, 8, 16]),
     "model.options.width: unknown key; allowed: blocks, input_length, widths"),
    ("model option of the wrong type", _set("model.options.widths", "wide"),
     "model.options.widths: expected a list of integers, got 'wide'"),
    ("unknown method", _set("schedulers.methods", ["eenet", "bogus"]),
     "schedulers.methods: unknown value 'bogus'; allowed: eenet, entropy, maxprob, patience"),
    # a repeat was dropped silently (`[eenet,eenet]` ran EENet alone, with rc 0)
    ("method given twice", _set("schedulers.methods", ["eenet", "maxprob", "eenet"]),
     "schedulers.methods: 'eenet' given twice; give each method once"),
    # the empty list's message listed them in registry order, the unknown name's sorted
    ("no method", _set("schedulers.methods", []),
     "schedulers.methods: expected a non-empty list; allowed: eenet, entropy, maxprob, patience"),
    ("unknown scheduler setting", _set("schedulers.maxprob", {"temperature": 2}),
     "schedulers.maxprob.temperature: unknown key; allowed: (none)"),
    ("scheduler setting of the wrong type", _set("schedulers.eenet.hidden", "big"),
     "schedulers.eenet.hidden: expected an integer, got 'big'"),
    ("EENet scorer cost as text", _set("schedulers.eenet.scorer_extra_ms", ["0.1", "0.2"]),
     "schedulers.eenet.scorer_extra_ms[0]: must be a finite number >= 0, got '0.1'"),
    ("EENet fixed score cost as text",
     _set("schedulers.eenet.fixed_extra_ms", {"entropy": [0.0, "fast", 0.1]}),
     "schedulers.eenet.fixed_extra_ms.entropy[1]: must be a finite number >= 0, got 'fast'"),
    ("EENet cost of an unknown fixed score",
     _set("schedulers.eenet.fixed_extra_ms", {"patience": [0.0, 0.1, 0.2]}),
     "schedulers.eenet.fixed_extra_ms: unknown value 'patience'; allowed: entropy, maxprob"),
    ("zero budget", _set("budget", 0), f"budget: 0 is not allowed; {ALLOWED_BUDGET}"),
    # as params.yaml spells it (was Python's "None is not allowed")
    ("null budget", _set("budget", None), f"budget: null is not allowed; {ALLOWED_BUDGET}"),
    ("true budget", _set("budget", True), f"budget: true is not allowed; {ALLOWED_BUDGET}"),
    ("negative budget", _set("budget", -1.5), f"budget: -1.5 is not allowed; {ALLOWED_BUDGET}"),
    ("malformed budget", _set("budget", "fast"),
     f"budget: 'fast' is not allowed; {ALLOWED_BUDGET}"),
    ("percentage budget above 100%", _set("budget", "150%"),
     f"budget: '150%' is not allowed; {ALLOWED_BUDGET}"),
    ("empty budget sweep", _set("budgets", []),
     "budgets: expected 'auto' or a non-empty list of budgets, got []"),
    ("bad budget in the sweep", _set("budgets", ["30%", 0]),
     f"budgets[1]: 0 is not allowed; {ALLOWED_BUDGET}"),
    ("a billion loader workers", _set("train.num_workers", 10**9),
     "train.num_workers: must be an integer from 0 to 1024, got 1000000000"),
    ("a billion training threads", _set("train.threads", 10**9),
     "train.threads: must be an integer from 0 to 1024, got 1000000000"),
    ("ten billion profiling repeats", _set("profile.repeats", 10**10),
     "profile.repeats: must be an integer from 1 to 1000000, got 10000000000"),
    ("zero profiling repeats", _set("profile.repeats", 0),
     "profile.repeats: must be an integer from 1 to 1000000, got 0"),
    ("scoring setting of the wrong type", _set("scoring.charge", "yes"),
     "scoring.charge: expected true/false, got 'yes'"),
    ("scoring batch size is the profile's", _set("scoring.batch_size", 4),
     "scoring.batch_size: unknown key; allowed: charge, repeats, warmup"),
    ("measure setting of the wrong type", _set("measure.limit", "all"),
     "measure.limit: expected an integer, got 'all'"),
    ("unknown measure device", _set("measure.device", "tpu"),
     "measure.device: unknown value 'tpu'; allowed: auto, cpu, cuda, cuda:N"),
    ("zero measure rounds", _set("measure.rounds", 0),
     "measure.rounds: must be an integer from 1 to 1000000, got 0"),
    ("negative measure limit", _set("measure.limit", -1),
     "measure.limit: must be an integer >= 0, got -1"),
    ("zero scoring repeats", _set("scoring.repeats", 0),
     "scoring.repeats: must be an integer from 1 to 1000000, got 0"),
    ("unknown profile key", _set("profile.inputs", 3),
     "profile.inputs: unknown key; allowed: batch_size, device, repeats, "
     "table, threads, warmup"),
]


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in PARAM_CASES],
                         ids=[c[0] for c in PARAM_CASES])
def test_bad_params(ws: Path, capsys: pytest.CaptureFixture[str], edit, message: str) -> None:
    params = copy.deepcopy(base_params())
    edit(params)
    write_params(ws, params)
    assert stage_error(capsys, "download", "data/out") == message
    assert not (ws / "data/out").exists()


def test_empty_data_options_take_the_defaults(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`options:` left empty in params.yaml is null (the schema allows it): the download stage
    passes no options instead of failing with a TypeError traceback."""
    import eenet.data

    calls: list[dict[str, Any]] = []

    def prepare(name: str, out_dir: Path, seed: int, **options: Any) -> dict[str, Any]:
        calls.append(options)
        return {"dataset": name, "sizes": {}}

    monkeypatch.setattr(eenet.data, "prepare_dataset", prepare)
    params = base_params()
    params["data"]["options"] = None
    write_params(ws, params)
    runpy.run_path(str(ROOT / "stages" / "download.py"))["main"]("data/out")
    assert calls == [{}]


def test_model_inputs_of_another_shape_than_the_data(ws: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The 1-D ResNet trains on any length, but the profile times its example inputs: a
    model.options.input_length other than the data's is named before anything trains, with
    the value that fits the data (it said only "set the model's input options to match
    (model.options.input_length)", leaving the user to read the length off the shape)."""
    params = base_params()
    params["model"]["options"]["input_length"] = 72
    write_params(ws, params)
    message = stage_error(capsys, "train", "data", "model", "ckpt", "live")
    assert message == ("model.options: the model's inputs are shaped [1, 72] but the data in "
                       "data holds samples shaped [1, 40]; set model.options.input_length: 40 "
                       "to match")
    assert not (ws / "ckpt").exists() and not (ws / "model").exists()


def test_a_model_for_other_data_names_model_name(ws: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The CIFAR ResNet on MNIST-1D: no option of it takes sequences, so the message points
    at model.name (it suggested model.options.input_length, which that model does not have)."""
    params = base_params()
    params["model"] = {"name": "resnet56_3", "options": {"blocks": [1, 1, 1]}}
    write_params(ws, params)
    message = stage_error(capsys, "train", "data", "model", "ckpt", "live")
    assert message == ("model.name: the model takes samples shaped [3, 32, 32] but the data in "
                       "data holds samples shaped [1, 40], which no option of it changes; "
                       "choose a model made for this data (`eenet models` lists them)")


def test_a_model_of_one_input_shape_is_not_told_to_set_an_option(
        ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """CIFAR ResNet-56 on 28x28 images was told to set model.options.input_length, an option
    it does not have: no option of it changes its input shape, so model.name is named."""
    params = base_params()
    params["model"] = {"name": "resnet56_3", "options": {"blocks": [1, 1, 1]}}
    write_params(ws, params)
    _edit_meta(input_shape=[3, 28, 28])(ws)
    message = stage_error(capsys, "train", "data", "model", "ckpt", "live")
    assert message == ("model.name: the model takes samples shaped [3, 32, 32] but the data in "
                       "data holds samples shaped [3, 28, 28], which no option of it changes; "
                       "choose a model made for this data (`eenet models` lists them)")
    assert not (ws / "ckpt").exists()


def _texts_for_every_split(ws: Path) -> None:
    """The prepared MNIST-1D data turned into texts of the same labels."""
    from eenet.data.prepared import read_split, write_split

    for split in ("train", "val", "test"):
        _, y = read_split(ws / "data", split)
        write_split(ws / "data", split, np.array([f"text {i}" for i in range(len(y))]), y)
    _edit_meta(kind="text")(ws)


def test_data_of_the_other_kind_names_model_name_and_the_models_taking_it(
        ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Texts given to a CNN said 'the data in data holds texts; the model takes tensors':
    neither model.name nor which models take texts. Both ways round, both are named."""
    from tests.preset_fixtures import tiny_bert_config, write_vocab

    vocab = write_vocab(ws / "vocab.txt")
    params = base_params()
    params["model"] = {"name": "bert_4", "options": {
        "pretrained": None, "tokenizer": str(vocab), "exit_layers": [1, 2, 3, 4],
        "max_length": 16, "config": tiny_bert_config(len(vocab.read_text().split()))}}
    write_params(ws, params)
    assert stage_error(capsys, "train", "data", "model", "ckpt", "live") == (
        "model.name: bert_4 takes texts but data/train.npz holds tensors; models taking "
        "tensors: densenet121_4, resnet1d_3, resnet56_3")
    write_params(ws, base_params())
    _texts_for_every_split(ws)
    assert stage_error(capsys, "train", "data", "model", "ckpt", "live") == (
        "model.name: resnet1d_3 takes tensors but data/train.npz holds texts; models taking "
        "texts: bert_4")
    assert not (ws / "ckpt").exists()


def _drop_input_shape(ws: Path) -> None:
    meta = json.loads((ws / "data/meta.json").read_text())
    del meta["input_shape"]
    (ws / "data/meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(("x", "recorded", "message"), [
    # a CIFAR val.npz copied over MNIST-1D's: a conv1d traceback at the first validation
    (np.zeros((60, 32, 32, 3), dtype=np.uint8), True,
     "data/val.npz: samples of shape (32, 32, 3), but data/meta.json's input_shape [1, 40] "
     "stores them as (40,); rerun the download stage"),
    # sequences of length 50: validated silently on inputs the model was not built for
    (np.zeros((60, 50), dtype=np.float32), True,
     "data/val.npz: samples of shape (50,), but data/meta.json's input_shape [1, 40] stores "
     "them as (40,); rerun the download stage"),
    (np.zeros((60, 50), dtype=np.float32), False,
     "data/val.npz: samples of shape (1, 50) do not fit the model (expects (1, 40))"),
])
def test_a_val_split_of_another_shape_is_refused_before_training(
        ws: Path, capsys: pytest.CaptureFixture[str], x: np.ndarray, recorded: bool,
        message: str) -> None:
    """Only the training split was checked against the model (and none against meta.json)."""
    write_params(ws, base_params())
    _save_npz(ws / "data/val.npz", x=x, y=np.arange(len(x)) % 10)
    if not recorded:
        _drop_input_shape(ws)
    assert stage_error(capsys, "train", "data", "model", "ckpt", "live") == message
    assert not (ws / "ckpt").exists() and not (ws / "model").exists()


def test_a_model_folder_that_cannot_be_replaced_is_refused_before_training(
        ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model folder holding other files was refused by save_trained after the last epoch
    (hours into a 150-epoch preset); it is checked before anything trains."""
    write_params(ws, base_params())
    (ws / "model").mkdir()
    (ws / "model/notes.txt").write_text("mine")
    assert stage_error(capsys, "train", "data", "model", "ckpt", "live") == (
        "model: holds notes.txt besides a trained model; give a new folder or a trained "
        "model's (it is replaced whole)")
    assert not (ws / "ckpt").exists() and not (ws / "live").exists()
    assert [p.name for p in (ws / "model").iterdir()] == ["notes.txt"]


def test_model_inputs_too_long_to_make_are_compared_first(
        ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An input_length of 10**12 made the shape check ask torch for one 4 TB example (a
    traceback); the model's options refuse it (at most 2**28, one sample of 1 GiB), and within
    them the shapes are compared without allocating the example, drawing the same random
    numbers as before (training after it is unchanged)."""
    import torch

    from eenet.models.base import check_input_shape

    params = base_params()
    params["model"]["options"]["input_length"] = 10**12
    write_params(ws, params)
    message = stage_error(capsys, "train", "data", "model", "ckpt", "live")
    assert message == ("model.options.input_length: must be an integer from 1 to 268435456, "
                       "got 1000000000000")
    params["model"]["options"]["input_length"] = 2**28
    write_params(ws, params)
    message = stage_error(capsys, "train", "data", "model", "ckpt", "live")
    assert message == ("model.options: the model's inputs are shaped [1, 268435456] but the "
                       "data in data holds samples shaped [1, 40]; set "
                       "model.options.input_length: 40 to match")
    model = build_model("resnet1d_3", 10)
    torch.manual_seed(0)
    model.example_inputs(1)
    expected = torch.randn(4)
    torch.manual_seed(0)
    check_input_shape(model, [1, 40], "the data")
    assert torch.equal(torch.randn(4), expected)


def test_a_profile_batch_too_large_to_make(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """profile.batch_size 10**9 asked torch for 160 GB of example inputs (a traceback)."""
    params = base_params()
    params["profile"]["batch_size"] = 10**9
    write_params(ws, params)
    assert stage_error(capsys, "profile_latency", MODEL, IMPORTED, "latency.json") == (
        "profile.batch_size: 1000000000 samples of the model's example inputs (160 bytes each) "
        "would take 149 GiB; allowed: at most 6710886 samples (1 GiB)")
    assert not (ws / "latency.json").exists()


def test_a_model_too_large_to_build(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A width of 10**9 asked torch for 192 GB at once (a traceback from the train stage): the
    parameters the options give are counted first, and past MAX_WEIGHTS it is one line."""
    params = base_params()
    params["model"]["options"]["widths"] = [4, 8, 10**9]
    write_params(ws, params)
    message = stage_error(capsys, "train", "data", "model", "ckpt", "live")
    assert message == ("model.options: widths [4, 8, 1000000000] and blocks [1, 1, 1] give the "
                       "model 3e+18 parameters (1.12e+10 GiB as float32); allowed: at most "
                       "1073741824 (4 GiB)")
    assert not (ws / "ckpt").exists() and not (ws / "model").exists()


def test_unreadable_params_file(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "params.yaml").write_text("train: [epochs: 3\n")
    message = stage_error(capsys, "download", "data/out")
    assert re.fullmatch(r"params\.yaml: not valid YAML \(.+\)", message), message


def test_params_file_not_utf8(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A params.yaml that is not UTF-8 text was a UnicodeDecodeError traceback."""
    (ws / "params.yaml").write_bytes(b"budget: \xff\xfe 50%\n")
    message = stage_error(capsys, "download", "data/out")
    assert message == "params.yaml: not valid YAML (not UTF-8 text: invalid start byte at byte 8)"


def test_params_file_that_is_a_directory(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory named params.yaml was reported as no params file at all."""
    (ws / "params.yaml").unlink()
    (ws / "params.yaml").mkdir()
    message = stage_error(capsys, "download", "data/out")
    assert message == "params.yaml: is a directory; give the params .yaml file"


# ---------------------------------------------------------------- artifacts


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _three_exits_latency_four(ws: Path) -> None:
    save_latency(ws / LATENCY, {"cumulative_ms": [1.0, 2.0, 3.0, 4.0]})


def _non_increasing_costs(ws: Path) -> None:
    (ws / LATENCY).write_text('{"cumulative_ms": [1.0, 3.0, 2.0]}')


def _nan_logits(ws: Path) -> None:
    with np.load(ws / VAL) as npz:
        logits, labels = npz["logits"].copy(), npz["labels"]
    logits[1, 5, 2] = np.nan
    _save_npz(ws / VAL, logits=logits, labels=labels)


def _labels_count_mismatch(ws: Path) -> None:
    with np.load(ws / VAL) as npz:
        _save_npz(ws / VAL, logits=npz["logits"], labels=npz["labels"][:-1])


def _truncated_npz(ws: Path) -> None:
    data = (ws / VAL).read_bytes()
    (ws / VAL).write_bytes(data[: len(data) // 2])


def _corrupt_latency_json(ws: Path) -> None:
    (ws / LATENCY).write_text('{"cumulative_ms": [1.0, 2.0')


def _logits_and_probs(ws: Path) -> None:
    with np.load(ws / VAL) as npz:
        logits, labels = npz["logits"], npz["labels"]
    probs = ExitOutputs(logits, labels).probs()
    _save_npz(ws / VAL, logits=logits, probs=probs, labels=labels)


def _latency_directory(ws: Path) -> None:
    (ws / LATENCY).unlink()
    (ws / LATENCY).mkdir()


def _null_cost(ws: Path) -> None:
    (ws / LATENCY).write_text('{"cumulative_ms": [1.0, null, 3.0]}')


def _huge_integer_cost(ws: Path) -> None:
    (ws / LATENCY).write_text('{"cumulative_ms": [1, 2, 1' + "0" * 400 + ']}')


def _hundred_class_test(ws: Path) -> None:
    test = make_split_pair(n_exits=3, n_classes=100, n_val=10, n_test=200)[1]
    save_exit_outputs(ws / TEST, ExitOutputs(test.logits, test.labels))


def _two_exit_test(ws: Path) -> None:
    test = load_exit_outputs(ws / TEST)
    save_exit_outputs(ws / TEST, ExitOutputs(test.logits[:2], test.labels))


def _eenet_weights_wrong_shape(ws: Path) -> None:
    """Widen the first weight matrix of every fitted EENet policy that has one."""
    for path in sorted((ws / SCHEDULERS / "eenet").glob("*/eenet.safetensors")):
        weights = load_file(str(path))
        matrices = [key for key, value in weights.items() if value.ndim == 2]
        if matrices:
            rows = weights[matrices[0]].shape[0]
            weights[matrices[0]] = np.zeros((rows + 3, 4), dtype=np.float32)
            save_file(weights, str(path))


def _corrupt_index(folder: str) -> Callable[[Path], None]:
    def corrupt(ws: Path) -> None:
        (ws / folder / "index.json").write_text('{"entries": []}')

    return corrupt


def _edit_index(**changes: Any) -> Callable[[Path], None]:
    """Replace fields of the headline schedulers' index (a hand-edited index)."""

    def edit(ws: Path) -> None:
        path = ws / HEADLINE / "index.json"
        index = json.loads(path.read_text())
        for key, value in changes.items():
            index[key] = value(index[key]) if callable(value) else value
        path.write_text(json.dumps(index))

    return edit


def _truncated_model_weights(ws: Path) -> None:
    path = ws / MODEL / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])


def _model_weights_with_nan(ws: Path) -> None:
    """One exit's classifier bias NaN: that exit never answered, and nothing said so."""
    from safetensors.torch import load_file as load_torch
    from safetensors.torch import save_file as save_torch

    path = ws / MODEL / "model.safetensors"
    state = load_torch(str(path))
    bias = next(name for name in state if name.startswith("heads.0.") and name.endswith("bias"))
    state[bias][0] = float("nan")
    save_torch(state, str(path))


def _model_weights_that_overflow(ws: Path) -> None:
    """Finite weights near float32's limit (a damaged copy): every logit overflows."""
    from safetensors.torch import load_file as load_torch
    from safetensors.torch import save_file as save_torch

    path = ws / MODEL / "model.safetensors"
    state = load_torch(str(path))
    state["stem.0.weight"].view(-1)[:4] = 1e38
    save_torch(state, str(path))


def _model_retrained(ws: Path) -> None:
    """Other weights of the same architecture (a retrain, a replaced file) than the headline
    policies record (as a pipeline's do: its latency table names the model)."""
    import json

    from safetensors.torch import load_file as load_torch
    from safetensors.torch import save_file as save_torch

    from eenet.models.artifact import model_identity

    for policy_json in (ws / HEADLINE).glob("*/00/policy.json"):
        record = json.loads(policy_json.read_text())
        policy_json.write_text(json.dumps({**record, "model": model_identity(ws / MODEL)}))
    path = ws / MODEL / "model.safetensors"
    state = load_torch(str(path))
    state["stem.0.weight"].mul_(1.01)
    save_torch(state, str(path))


def _model_weight_as(dtype: str, suffix: str) -> Callable[[Path], None]:
    """The model's first tensor whose name ends with `suffix` stored as `dtype`."""
    def edit(ws: Path) -> None:
        import torch
        from safetensors.torch import load_file as load_torch
        from safetensors.torch import save_file as save_torch

        path = ws / MODEL / "model.safetensors"
        state = load_torch(str(path))
        name = next(name for name in sorted(state) if name.endswith(suffix))
        state[name] = state[name].to(getattr(torch, dtype))
        save_torch(state, str(path))

    return edit


def _model_weights_other_shape(ws: Path) -> None:
    other = build_model("resnet1d_3", 10, widths=[8, 8, 16], blocks=[1, 1, 1])
    save_trained(other, ws / "other", "resnet1d_3", 10)
    shutil.copy(ws / "other/model.safetensors", ws / MODEL / "model.safetensors")


def _edit_model_config(**changes: Any) -> Callable[[Path], None]:
    def edit(ws: Path) -> None:
        path = ws / MODEL / "config.json"
        write_json(path, {**json.loads(path.read_text()), **changes})

    return edit


def _edit_model_options(**changes: Any) -> Callable[[Path], None]:
    def edit(ws: Path) -> None:
        path = ws / MODEL / "config.json"
        config = json.loads(path.read_text())
        write_json(path, {**config, "options": {**config["options"], **changes}})

    return edit


def _missing_data(ws: Path) -> None:
    (ws / "data/meta.json").unlink()


def _missing_test_split(ws: Path) -> None:
    (ws / "data/test.npz").unlink()  # val is dumped first: it must not replace the old val.npz


def _flip_a_compressed_byte(ws: Path) -> None:
    """A byte of val.npz's deflated data flipped (prepared splits are written compressed)."""
    data = bytearray((ws / "data/val.npz").read_bytes())
    data[55] ^= 0xFF
    (ws / "data/val.npz").write_bytes(bytes(data))


def _nan_inputs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two inputs NaN / inf (read as data, they gave NaN logits: answers left at the last exit)."""
    x = x.astype(np.float32)
    x.flat[3], x.flat[-1] = np.nan, np.inf
    return x, y


def _edit_split(split: str, edit: Callable[[np.ndarray, np.ndarray], tuple]) -> Callable:
    def corrupt(ws: Path) -> None:
        with np.load(ws / f"data/{split}.npz") as npz:
            x, y = edit(npz["x"].copy(), npz["y"].copy())
        _save_npz(ws / f"data/{split}.npz", x=x, y=y)
    return corrupt


def _label_ten(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y[5] = 10
    return x, y


def _edit_meta(**changes: Any) -> Callable[[Path], None]:
    def corrupt(ws: Path) -> None:
        meta = json.loads((ws / "data/meta.json").read_text())
        (ws / "data/meta.json").write_text(json.dumps({**meta, **changes}))
    return corrupt


def _five_classes(ws: Path) -> None:
    """A 5-class data set of the model's input shape (the labels of the 10-class one mod 5)."""
    _edit_meta(num_classes=5)(ws)
    for split in ("train", "val", "test"):
        _edit_split(split, lambda x, y: (x, y % 5))(ws)


def _scoring_for_two_exits(ws: Path) -> None:
    write_json(ws / SCORING, {"charged": True, "extra_ms": {"entropy": [0.0, 0.01]}})


def _eenet_scoring_for_two_exits(ws: Path) -> None:
    write_json(ws / EENET_SCORING, {"charged": True, "extra_ms": {"eenet": [0.0, 0.01]}})


def _eenet_timed_in_both_tables(ws: Path) -> None:
    """A scoring.json of the one stage that timed every method, beside EENet's own table."""
    write_json(ws / SCORING, {"charged": True, "extra_ms": {
        "entropy": [0.0, 0.01, 0.01], "patience": [0.0, 0.01, 0.01], "eenet": [0.0, 0.02, 0.03]}})


def _profiled(**fields: Any) -> Callable[[Path], None]:
    """A measured latency profile on this CPU with `fields` set (a hand-edited one)."""

    def edit(ws: Path) -> None:  # written by hand: save_latency refuses such fields itself
        (ws / LATENCY).write_text(json.dumps({
            "cumulative_ms": [1.0, 2.0, 3.0], "source": "measured", "device": "cpu",
            "batch_size": 1, "threads": 1, **fields}))

    return edit


def _policy_copied_from(source: str) -> Callable[[Path], None]:
    """The headline's maxprob policy replaced by the one in `source` (another budget's)."""

    def corrupt(ws: Path) -> None:
        shutil.rmtree(ws / HEADLINE / "maxprob/00")
        shutil.copytree(ws / source, ws / HEADLINE / "maxprob/00")

    return corrupt


def _headline_fitted_with_other_costs(ws: Path) -> None:
    """The headline's fits redone with costs of another profile (latency.json unchanged)."""
    val = load_exit_outputs(ws / VAL)
    shutil.rmtree(ws / HEADLINE)
    fit_all(val, np.array([1.0, 2.5, 3.0]), ["maxprob"], [], 2.0, ws / HEADLINE, None, 0,
            budget_spec=2.0)


def _a_file(relative: str) -> Callable[[Path], None]:
    """The folder at `relative` replaced by a file of its name."""

    def corrupt(ws: Path) -> None:
        shutil.rmtree(ws / relative)
        (ws / relative).write_text("not a folder\n")

    return corrupt


def _a_directory(relative: str) -> Callable[[Path], None]:
    """The file at `relative` replaced by an empty directory of its name."""

    def corrupt(ws: Path) -> None:
        (ws / relative).unlink()
        (ws / relative).mkdir()

    return corrupt


def _budget_below_first_exit(ws: Path) -> None:
    params = base_params()
    params["budget"] = 0.5
    write_params(ws, params)


ARTIFACT_CASES: list[tuple[str, Callable[[Path], None], str, tuple[str, ...], str]] = [
    ("val has 3 exits, latency 4", _three_exits_latency_four, "fit_schedulers", FIT_ARGS,
     re.escape(f"{VAL} vs {LATENCY}: exit outputs have 3 exits but costs list 4")),
    ("test has 3 exits, latency 4", _three_exits_latency_four, "evaluate", EVAL_ARGS,
     re.escape(f"{TEST} vs {LATENCY}: exit outputs have 3 exits but costs list 4")),
    ("non-increasing costs", _non_increasing_costs, "fit_schedulers", FIT_ARGS,
     re.escape(f"{LATENCY}: cumulative costs must be strictly increasing, got [1.0, 3.0, 2.0]")),
    ("NaN logits", _nan_logits, "fit_schedulers", FIT_ARGS,
     re.escape(f"{VAL}: logits hold NaN at exit 1, sample 5 (1 of 900 rows hold NaN, +inf or "
               "only -inf); -inf is allowed only for some classes of a row (masked classes)")),
    ("labels and logits disagree", _labels_count_mismatch, "fit_schedulers", FIT_ARGS,
     re.escape(f"{VAL}: labels must be [n_samples] with n_samples=300, got shape (299,)")),
    ("both logits and probs", _logits_and_probs, "fit_schedulers", FIT_ARGS,
     re.escape(f"{VAL}: holds both 'logits' and 'probs'; expected one of them (and 'labels')")),
    ("latency table is a directory", _latency_directory, "fit_schedulers", FIT_ARGS,
     re.escape(f"{LATENCY}: is a directory; give a latency .json file")),
    ("null cost", _null_cost, "evaluate", EVAL_ARGS,
     re.escape(f"{LATENCY}: cumulative costs must be numbers (ms per exit), got null at index 1")),
    ("huge integer cost", _huge_integer_cost, "evaluate", EVAL_ARGS,
     re.escape(f"{LATENCY}: not valid JSON (integer 100000000000...(401 digits) is outside "
               "the 64-bit range)")),
    ("truncated npz", _truncated_npz, "fit_schedulers", FIT_ARGS,
     re.escape(f"{VAL}: not a readable npz file (") + r".+\)"),
    ("corrupt latency json", _corrupt_latency_json, "evaluate", EVAL_ARGS,
     re.escape(f"{LATENCY}: not valid JSON (") + r".+\)"),
    ("scheduler fitted on 10 classes applied to 100", _hundred_class_test, "evaluate", EVAL_ARGS,
     re.escape(f"{HEADLINE}: schedulers were fitted on 10 classes, test outputs have 100")),
    ("eenet weights of the wrong shape", _eenet_weights_wrong_shape, "evaluate", EVAL_ARGS,
     re.escape(f"{SCHEDULERS}/eenet/") + r"\d\d"
     + re.escape("/eenet.safetensors: EENet weights of the wrong shape (") + r".+\)"),
    ("malformed scheduler index", _corrupt_index(HEADLINE), "evaluate", EVAL_ARGS,
     re.escape(f"{HEADLINE}/index.json: not a valid scheduler index (missing headline_ms, "
               "costs_ms)")),
    # the sweep's folder records no headline (fit_headline's does): not asked for there
    ("malformed sweep index", _corrupt_index(SCHEDULERS), "evaluate", EVAL_ARGS,
     re.escape(f"{SCHEDULERS}/index.json: not a valid scheduler index (missing costs_ms)")),
    ("scheduler index without entries", _edit_index(entries=[]), "evaluate", EVAL_ARGS,
     re.escape(f"{HEADLINE}/index.json: entries must be a non-empty list of fitted "
               "schedulers; rerun fit_headline / fit_schedulers (or eenet schedule --save)")),
    ("scheduler index entry without a budget",
     _edit_index(entries=lambda entries: [{k: v for k, v in entries[0].items()
                                           if k != "budget_ms"}, *entries[1:]]),
     "evaluate", EVAL_ARGS,
     re.escape(f"{HEADLINE}/index.json: entries[0] must hold a method and a dir (text) and "
               "a budget_ms (number), got {") + r".+"),
    # a method relabelled by hand: evaluate dropped that fit in silence, measure named the
    # other method's file
    *[(f"{stage} of an index listing a method twice",
       _edit_index(entries=lambda entries: [entries[0], {**entries[1],
                                                         "method": entries[0]["method"]},
                                            *entries[2:]]),
       stage, args, re.escape(f"{HEADLINE}/index.json: entries list method 'maxprob' at "
                              "budget_ms ") + r"\S+" + re.escape(" twice; rerun fit_headline / "
                                                              "fit_schedulers (or eenet "
                                                              "schedule --save)"))
      for stage, args in (("evaluate", EVAL_ARGS), ("measure_latency", MEASURE_ARGS))],
    ("scheduler index listing a folder twice",
     _edit_index(entries=lambda entries: [entries[0], {**entries[1], "dir": entries[0]["dir"]},
                                          *entries[2:]]),
     "evaluate", EVAL_ARGS,
     re.escape(f"{HEADLINE}/index.json: entries list dir 'maxprob/00' twice; rerun "
               "fit_headline / fit_schedulers (or eenet schedule --save)")),
    ("scheduler index costs as text", _edit_index(costs_ms="0.1,0.2,0.4"), "evaluate",
     EVAL_ARGS, re.escape(f"{HEADLINE}/index.json: costs_ms must be a list of numbers, got "
                          "'0.1,0.2,0.4'; rerun fit_headline / fit_schedulers (or eenet "
                          "schedule --save)")),
    # evaluate and measure read the headline's fits alike (eenet.sweep.headline_entries)
    *[(f"{stage} of an index whose headline has no fit", _edit_index(headline_ms=9.5), stage,
       args, re.escape(f"{HEADLINE}/index.json: no fitted scheduler at headline_ms 9.5; rerun "
                       "fit_headline / fit_schedulers"))
      for stage, args in (("evaluate", EVAL_ARGS), ("measure_latency", MEASURE_ARGS))],
    ("truncated model weights", _truncated_model_weights, "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/model.safetensors: not a readable safetensors file (") + r".+\)"),
    ("model weights with NaN", _model_weights_with_nan, "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/model.safetensors: weights hold NaN or inf (heads.0.") + r"\S+bias\); "
     + re.escape("train again")),
    # measured in silence against another model's plan (its exits then the new model's)
    ("measure with a model retrained since the fits", _model_retrained, "measure_latency",
     MEASURE_ARGS,
     re.escape(f"{HEADLINE}/") + r"\w+/00" + re.escape(f": fitted for other weights of the "
                                                     f"model in {MODEL} (retrained or replaced "
                                                     "since?), so its plan is not this model's; "
                                                     "rerun fit_headline / fit_schedulers with "
                                                     "this model (dvc repro)")),
    # the outputs' check named the temporary file being written, and blamed the file
    ("model weights that overflow", _model_weights_that_overflow, "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}: the model gave NaN or infinite logits on the val split (exit 0, "
               "sample 0; ") + r"\d+ of \d+" + re.escape(" rows): its weights overflow on "
                                                     "these inputs (far outside the range it "
                                                     "was trained on?); train it again")),
    # load_state_dict cast them: a model answering nonsense (weights cut to integers)
    ("model weights stored as integers", _model_weight_as("int64", ".weight"), "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/model.safetensors: ") + r"\S+\.weight"
     + re.escape(" is int64, but resnet1d_3 takes float32 (1 tensor of another kind); give "
                 "the weights the train stage saved")),
    ("model step count stored as a float", _model_weight_as("float32", "num_batches_tracked"),
     "profile_scoring", SCORING_ARGS,
     re.escape(f"{MODEL}/model.safetensors: ") + r"\S+\.num_batches_tracked"
     + re.escape(" is float32, but resnet1d_3 takes int64 (1 tensor of another kind); give "
                 "the weights the train stage saved")),
    ("model weights of another shape", _model_weights_other_shape, "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/model.safetensors: weights do not match resnet1d_3 with the options "
               "of config.json (size mismatch for stem.0.weight: copying a param with shape "
               "torch.Size([8, 1, 5]) from checkpoint, the shape in current model is "
               "torch.Size([4, 1, 5]).)")),
    ("model config with options of another model", _edit_model_config(options={"growth": 12}),
     "dump_logits", (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/config.json: options.growth: unknown key; allowed: blocks, input_length, "
               "widths")),
    ("model config with null options", _edit_model_config(options=None), "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/model.safetensors: weights do not match resnet1d_3 with the options "
               "of config.json (Missing key(s) in state_dict: segments.2.1.conv1.weight, ")
     + r".+ \(10 in all\)\)"),
    ("model config with classes as text", _edit_model_config(num_classes="10"), "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/config.json: num_classes must be an integer from 1 to 1000000000000, got "
               "'10'")),
    # an input_length too long to make: the profile's example inputs were a torch traceback
    # (past 2**63 torch cannot size them), dump_logits ran the artifact as if whole
    ("model config with an input length past any machine", _edit_model_options(
        input_length=2**62), "profile_latency", (MODEL, IMPORTED, LATENCY),
     re.escape(f"{MODEL}/config.json: model.options.input_length: must be an integer from 1 to "
               f"268435456, got {2**62}")),
    ("model config with an input length past int64", _edit_model_options(
        input_length=10**30), "profile_latency", (MODEL, IMPORTED, LATENCY),
     re.escape(f"{MODEL}/config.json: not valid JSON (integer 100000000000...(31 digits) is "
               "outside the 64-bit range)")),
    ("model config with a 4 TB input length", _edit_model_options(input_length=10**12),
     "dump_logits", (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/config.json: model.options.input_length: must be an integer from 1 to "
               "268435456, got 1000000000000")),
    ("model config naming no model", _edit_model_config(name="resnet"), "profile_latency",
     (MODEL, IMPORTED, LATENCY),
     re.escape(f"{MODEL}/config.json: name 'resnet' is not a registered model; allowed: "
               "bert_4, densenet121_4, resnet1d_3, resnet56_3")),
    ("model weights of another model", _edit_model_config(name="resnet56_3", options={}),
     "dump_logits", (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/model.safetensors: weights do not match resnet56_3 with the options of "
               "config.json (Missing key(s) in state_dict: segments.0.0.conv3.weight, ")
     + r".+ \(\d+ in all\)\)"),
    ("prepared data missing", _missing_data, "dump_logits", (MODEL, "data", "artifacts/logits"),
     re.escape("data/meta.json: prepared data set not found (run the download stage)")),
    ("test split missing", _missing_test_split, "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape("data/test.npz: split not found (run the download stage)")),
    # a corrupt compressed split was a zlib.error traceback; labels beyond the classes,
    # meta.json values the loader cannot use and an empty split were tracebacks (training's
    # IndexError, a KeyError, a concatenate of nothing); a 5-class data set ran through a
    # 10-class model and was dumped as if it fitted
    ("compressed split with a corrupt byte", _flip_a_compressed_byte, "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape("data/val.npz: not a readable split file (corrupt compressed data: ") + r".+\)"),
    ("split inputs with NaN", _edit_split("test", _nan_inputs), "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape("data/test.npz: 'x' holds 2 values not finite (NaN or inf); rerun the download "
               "stage")),
    ("split label beyond the classes", _edit_split("val", _label_ten), "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape("data/val.npz: 'y' must lie in [0, 9] (10 classes), got [0, 10]")),
    ("prepared data of another class count than the model", _five_classes, "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape(f"data/meta.json: 5 classes; the model in {MODEL} has 10")),
    ("prepared data of an unknown kind", _edit_meta(kind="audio"), "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape("data/meta.json: kind must be one of sequence, image, text; got 'audio' (rerun "
               "the download stage)")),
    ("prepared data with classes as text", _edit_meta(num_classes="ten"), "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape("data/meta.json: num_classes must be an integer >= 2, got 'ten' (rerun the "
               "download stage)")),
    ("image data without its channel means", _edit_meta(kind="image", std=[1, 1, 1]),
     "dump_logits", (MODEL, "data", "artifacts/logits"),
     re.escape("data/meta.json: mean must be a list of 3 finite numbers (one per colour "
               "channel), got None (rerun the download stage)")),
    ("empty split", _edit_split("val", lambda x, y: (x[:0], y[:0])), "dump_logits",
     (MODEL, "data", "artifacts/logits"), re.escape("data/val.npz: no samples")),
    *[(f"latency table of 4 exits for a 3-exit model ({stage})", _three_exits_latency_four,
       stage, args, re.escape(f"{LATENCY}: 4 exits, the model in {MODEL} has 3; rerun profile"))
      for stage, args in (("profile_scoring", SCORING_ARGS),
                          ("profile_eenet_scoring", (MODEL, LATENCY, EENET_SCORING)),
                          ("measure_latency", MEASURE_ARGS))],
    ("scoring table for another model", _scoring_for_two_exits, "fit_schedulers", FIT_ARGS,
     re.escape(f"{SCORING}: 2 exits, the latency table has 3; rerun profile_scoring")),
    ("EENet's scoring table for another model", _eenet_scoring_for_two_exits, "fit_headline",
     HEADLINE_FIT_ARGS,
     re.escape(f"{EENET_SCORING}: 2 exits, the latency table has 3; rerun "
               "profile_eenet_scoring")),
    ("EENet timed in both scoring tables", _eenet_timed_in_both_tables, "fit_schedulers",
     FIT_ARGS, re.escape(f"{SCORING}: extra_ms.eenet is given by {EENET_SCORING} too; each "
                         "method is timed by one stage: rerun profile_scoring")),
    # profile_scoring times the scoring at the latency table's batch size and threads: 10**9
    # asked torch for 160 GB of example inputs, text or a list was a traceback from int(),
    # 0 became 1 and 2.5 became 2 silently, -3 named scoring.batch_size (no such setting)
    ("latency batch size past any machine", _profiled(batch_size=10**9), "profile_scoring",
     SCORING_ARGS,
     re.escape(f"{LATENCY}: batch_size: 1000000000 samples of the model's example inputs (160 "
               "bytes each) would take 149 GiB; allowed: at most 6710886 samples (1 GiB)")),
    *[(f"latency batch size {value!r}", _profiled(batch_size=value), "profile_scoring",
       SCORING_ARGS,
       re.escape(f"{LATENCY}: batch_size: must be an integer >= 1 or null, got {value!r}; "
                 "rerun profile")) for value in ("abc", 0, -3, 2.5, True, [1])],
    ("latency threads as text", _profiled(threads="two"), "profile_scoring", SCORING_ARGS,
     re.escape(f"{LATENCY}: threads: must be an integer from 1 to 1024 or null, got 'two'; "
               "rerun profile")),
    # the import refuses such a table: profile's copy was edited since, and profile rewrites it
    ("imported latency table with batch size 0",
     _profiled(batch_size=0, source="latency_tables/gpu.json"), "profile_scoring",
     SCORING_ARGS,
     re.escape(f"{LATENCY}: batch_size: must be an integer >= 1 or null, got 0; rerun "
               "profile")),
    # a hand-edited n_exits was ignored: the model was rebuilt with its own count
    ("model config with another exit count", _edit_model_config(n_exits=4), "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape(f"{MODEL}/config.json: n_exits is 4, but resnet1d_3 built with its options has "
               "3 exits")),
    ("model config with the exit count as a float", _edit_model_config(n_exits=3.0),
     "profile_latency", (MODEL, IMPORTED, LATENCY),
     re.escape(f"{MODEL}/config.json: n_exits: expected an integer, got 3.0")),
    ("model config with the exit count as text", _edit_model_config(n_exits="3"),
     "profile_latency", (MODEL, IMPORTED, LATENCY),
     re.escape(f"{MODEL}/config.json: n_exits: expected an integer, got '3'")),
    # a hand-edited input length the data does not have: dump_logits ran the length-40 data
    # through the model (it pools over any length) without a word
    ("model config with another input length than the data",
     _edit_model_options(input_length=41), "dump_logits", (MODEL, "data", "artifacts/logits"),
     re.escape(f"data: samples of shape (1, 40) do not fit the model in {MODEL} (expects "
               "(1, 41))")),
    ("budget below the first exit's cost", _budget_below_first_exit, "fit_headline",
     HEADLINE_FIT_ARGS,
     re.escape("budget: 0.5 ms/sample is below the first exit's cost; feasible range: 1 to 3 "
               "ms/sample, or 0% to 100%")),
    # its check compared '10' with the outputs' 10: "fitted on 10 classes, test outputs have 10"
    ("scheduler index classes as text", _edit_index(n_classes="10"), "evaluate", EVAL_ARGS,
     re.escape(f"{HEADLINE}/index.json: n_classes must be an integer >= 2, got '10'; rerun "
               "fit_headline / fit_schedulers (or eenet schedule --save)")),
    # a policy folder from another budget or method under an entry: evaluated and measured as
    # the entry's without a word
    *[(f"{stage} of a headline policy fitted at another budget", _policy_copied_from(
        f"{SCHEDULERS}/maxprob/00"), stage, args,
       re.escape(f"{HEADLINE}/maxprob/00/policy.json: method 'maxprob', budget_ms 1.5; "
                 f"{HEADLINE}/index.json lists method 'maxprob', budget_ms 2.0 for it; rerun "
                 "fit_headline / fit_schedulers"))
      for stage, args in (("evaluate", EVAL_ARGS), ("measure_latency", MEASURE_ARGS))],
    ("a headline policy of another method", _policy_copied_from(f"{HEADLINE}/eenet/00"),
     "evaluate", EVAL_ARGS,
     re.escape(f"{HEADLINE}/maxprob/00/policy.json: method 'eenet', budget_ms 2.0; "
               f"{HEADLINE}/index.json lists method 'maxprob', budget_ms 2.0 for it; rerun "
               "fit_headline / fit_schedulers")),
    # evaluate refused it, measure compared the run with plans made for other costs
    ("measure of a headline fitted with other costs", _headline_fitted_with_other_costs,
     "measure_latency", MEASURE_ARGS,
     re.escape(f"{HEADLINE}/index.json: schedulers were fitted with costs [1.0, 2.5, 3.0] but "
               "the latency table now says [1.0, 2.0, 3.0]; rerun fitting")),
    # "validation outputs: EENet needs ...": no file named
    ("validation outputs of one sample for EENet",
     lambda ws: save_exit_outputs(ws / VAL, make_split_pair(3, 10, 1, 10)[0]), "fit_schedulers",
     FIT_ARGS, re.escape(f"{VAL}: 1 validation sample; EENet needs at least 2 to cross-fit its "
                         "scorer below the last exit's cost (give more, or fit the other "
                         "methods alone)")),
    # measure ran every round, then the policies refused the logits naming no file
    ("measure on test outputs of two exits", _two_exit_test, "measure_latency", MEASURE_ARGS,
     re.escape(f"{TEST}: 2 exits and 10 classes, the model in {MODEL} has 3 and 10; rerun "
               "dump_logits")),
    ("measure on test outputs of 100 classes", _hundred_class_test, "measure_latency",
     MEASURE_ARGS, re.escape(f"{TEST}: 3 exits and 100 classes, the model in {MODEL} has 3 "
                             "and 10; rerun dump_logits")),
    # json's own words for it were "Expecting value: line 1 column 1 (char 0)"
    ("empty latency table", lambda ws: (ws / LATENCY).write_text(""), "evaluate", EVAL_ARGS,
     re.escape(f"{LATENCY}: not valid JSON (the file is empty)")),
    # a file where a folder is expected: only the file inside it was said to be missing
    ("headline folder as a file", _a_file(HEADLINE), "evaluate", EVAL_ARGS,
     re.escape(f"{HEADLINE}/index.json: scheduler index not found (run fit_headline / "
               f"fit_schedulers); {HEADLINE} is a file, not a folder")),
    ("prepared data folder as a file", _a_file("data"), "dump_logits",
     (MODEL, "data", "artifacts/logits"),
     re.escape("data/meta.json: prepared data set not found (run the download stage); data is a "
               "file, not a folder")),
    # a directory where a file is expected was reported as the file not found
    *[(f"{name} as a directory", _a_directory(path), stage, args,
       re.escape(f"{path}: is a directory; give {wanted} file"))
      for name, path, stage, args, wanted in (
          ("scoring table", SCORING, "fit_schedulers", FIT_ARGS, "the scoring table"),
          ("scheduler index", f"{HEADLINE}/index.json", "evaluate", EVAL_ARGS,
           "the scheduler index"),
          ("model config", f"{MODEL}/config.json", "profile_latency", (MODEL, IMPORTED, LATENCY),
           "the trained model config"),
          ("model weights", f"{MODEL}/model.safetensors", "dump_logits",
           (MODEL, "data", "artifacts/logits"), "the model weights"),
          ("EENet weights", f"{HEADLINE}/eenet/00/eenet.safetensors", "evaluate", EVAL_ARGS,
           "the EENet weights"),
          ("prepared data's meta.json", "data/meta.json", "dump_logits",
           (MODEL, "data", "artifacts/logits"), "the prepared data set"),
          ("val split", "data/val.npz", "dump_logits", (MODEL, "data", "artifacts/logits"),
           "a split .npz"),
      )],
]


@pytest.mark.parametrize(("corrupt", "stage", "args", "pattern"),
                         [c[1:] for c in ARTIFACT_CASES], ids=[c[0] for c in ARTIFACT_CASES])
def test_bad_artifacts(ws: Path, capsys: pytest.CaptureFixture[str], corrupt, stage: str,
                       args: tuple[str, ...], pattern: str) -> None:
    corrupt(ws)
    before = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file()}
    message = stage_error(capsys, stage, *args)
    assert re.fullmatch(pattern, message), message
    after = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file()}
    assert after == before  # a failed stage leaves every artifact as it was


# ---------------------------------------------------------------- exit outputs, through the loader

LABELS = np.array([0, 1, 2, 0])


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def _probs() -> np.ndarray:
    """Probabilities of 2 exits x 4 samples x 3 classes."""
    return _softmax(np.random.default_rng(0).standard_normal((2, 4, 3)))


def _with(value: float, at: tuple[int, ...], array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array[at] = value
    return array


def _zero_row(probs: np.ndarray) -> np.ndarray:
    probs = probs.copy()
    probs[1, 2] = 0.0
    return probs


EXPECTED_NPZ = "expected an .npz with arrays 'logits' (or 'probs') and 'labels' (np.savez)"
LOADER_CASES: list[tuple[str, dict[str, np.ndarray], str]] = [
    ("complex logits", {"logits": _probs() * (1 + 1j), "labels": LABELS},
     "logits must be real numbers (float or int), got dtype complex128"),
    ("text logits", {"logits": np.full((2, 4, 3), "1.5"), "labels": LABELS},
     "logits must be real numbers (float or int), got dtype <U3"),
    ("logits beyond float32", {"logits": np.full((2, 4, 3), 1e300), "labels": LABELS},
     "logits exceed the float32 range (|x| <= 3.403e+38)"),
    ("+inf logits", {"logits": _with(np.inf, (1, 3, 0), np.log(_probs())), "labels": LABELS},
     "logits hold +inf at exit 1, sample 3 (1 of 8 rows hold NaN, +inf or only -inf); -inf is "
     "allowed only for some classes of a row (masked classes)"),
    ("a row of -inf logits", {"logits": _with(-np.inf, (0, 2), np.log(_probs())),
                              "labels": LABELS},
     "logits hold -inf for every class at exit 0, sample 2 (1 of 8 rows hold NaN, +inf or only "
     "-inf); -inf is allowed only for some classes of a row (masked classes)"),
    ("NaN logits beside masked ones",
     {"logits": _with(np.nan, (1, 1, 1), _with(-np.inf, (0, 0, 2), np.log(_probs()))),
      "labels": LABELS},
     "logits hold NaN at exit 1, sample 1 (1 of 8 rows hold NaN, +inf or only -inf); -inf is "
     "allowed only for some classes of a row (masked classes)"),
    ("float64 beyond float32 beside masked classes",
     {"logits": _with(-1e300, (1, 0, 0), _with(-np.inf, (0, 0, 2), np.log(_probs()))),
      "labels": LABELS},
     "logits exceed the float32 range (|x| <= 3.403e+38)"),
    ("complex probs", {"probs": _probs().astype(np.complex64), "labels": LABELS},
     "probs must be real numbers (float or int), got dtype complex64"),
    ("probs above 1", {"probs": _with(1.5, (0, 1, 2), _probs()), "labels": LABELS},
     "probs must lie in [0, 1] (within 0.01); exit 0, sample 1, class 2 holds 1.5 (1 of 8 rows "
     "hold such a value)"),
    ("probs row of zeros", {"probs": _zero_row(_probs()), "labels": LABELS},
     "probs must sum to 1 over the classes (within 0.01); exit 1, sample 2 sums to 0"),
    ("probs row not summing to 1", {"probs": _probs() * 0.9, "labels": LABELS},
     "probs must sum to 1 over the classes (within 0.01); exit 0, sample 0 sums to 0.9"),
    ("NaN probs", {"probs": _with(np.nan, (1, 0, 0), _probs()), "labels": LABELS},
     "probs hold NaN or inf; exit 1, sample 0, class 0 holds nan (1 of 8 rows hold such a "
     "value)"),
    ("inf probs in two rows",
     {"probs": _with(np.inf, (1, 3, 1), _with(np.inf, (0, 2, 0), _probs())), "labels": LABELS},
     "probs hold NaN or inf; exit 0, sample 2, class 0 holds inf (2 of 8 rows hold such a "
     "value)"),
    ("negative probs", {"probs": _with(-0.1, (0, 0, 0), _probs()), "labels": LABELS},
     "probs must not be negative (beyond 1e-06 of round-off); exit 0, sample 0, class 0 holds "
     "-0.1 (1 of 8 rows hold such a value)"),
    ("probs negative past round-off", {"probs": _with(-2e-6, (1, 2, 1), _probs()),
                                       "labels": LABELS},
     "probs must not be negative (beyond 1e-06 of round-off); exit 1, sample 2, class 1 holds "
     "-2e-06 (1 of 8 rows hold such a value)"),
    # one exit's probabilities: the error now says how to stack every exit's
    ("probs of two axes", {"probs": _probs()[0], "labels": LABELS},
     "probs must be [n_exits, n_samples, n_classes], got shape (4, 3) (one exit's probs? stack "
     "every exit's, first to last: np.stack([probs_0, probs_1, ...]))"),
    ("logits of two axes", {"logits": np.log(_probs()[0]), "labels": LABELS},
     "logits must be [n_exits, n_samples, n_classes], got shape (4, 3) (one exit's logits? "
     "stack every exit's, first to last: np.stack([logits_0, logits_1, ...]))"),
    ("logits of four axes", {"logits": np.log(_probs())[None], "labels": LABELS},
     "logits must be [n_exits, n_samples, n_classes], got shape (1, 2, 4, 3)"),
    ("both logits and probs", {"logits": np.log(_probs()), "probs": _probs(), "labels": LABELS},
     "holds both 'logits' and 'probs'; expected one of them (and 'labels')"),
]


@pytest.mark.parametrize(("arrays", "message"), [c[1:] for c in LOADER_CASES],
                         ids=[c[0] for c in LOADER_CASES])
def test_bad_exit_outputs(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    path = tmp_path / "val.npz"
    _save_npz(path, **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one error, no numpy warnings before it
        with pytest.raises(ArtifactError) as err:
            load_exit_outputs(path)
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize("value", [1e39, -1e39])
def test_saving_logits_beyond_float32_is_refused(tmp_path: Path, value: float) -> None:
    """float64 logits beyond float32's range were saved as +-inf with a numpy warning: a file
    the loader then refused (+inf) or one whose class silently became masked (-inf)."""
    logits = np.log(_probs())
    logits[1, 2, 0] = value
    path = tmp_path / "val.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ArtifactError) as err:
            save_exit_outputs(path, ExitOutputs(logits, LABELS))
    assert str(err.value) == f"{path}: logits exceed the float32 range (|x| <= 3.403e+38)"
    assert not path.exists()


def test_npy_or_directory_is_not_exit_outputs(tmp_path: Path) -> None:
    np.save(tmp_path / "logits.npy", np.log(_probs()))
    with pytest.raises(ArtifactError) as err:
        load_exit_outputs(tmp_path / "logits.npy")
    assert str(err.value) == (
        f"{tmp_path / 'logits.npy'}: a single .npy array, not an .npz archive; {EXPECTED_NPZ}"
    )
    (tmp_path / "val.npz").mkdir()
    with pytest.raises(ArtifactError) as err:
        load_exit_outputs(tmp_path / "val.npz")
    assert str(err.value) == (
        f"{tmp_path / 'val.npz'}: is a directory; give an exit-outputs .npz file"
    )


@pytest.mark.parametrize(("text", "reason"), [
    ('{"cumulative_ms": [1, 2, 3]}', "neither an .npz archive nor an .npy array"),
    ("", "empty or truncated"),
], ids=["json file", "empty file"])
def test_other_file_as_exit_outputs_names_no_pickle(tmp_path: Path, text: str,
                                                    reason: str) -> None:
    """numpy takes any other file for a pickle and advises unpickling it: the error says what
    the file is not instead."""
    path = tmp_path / "val.npz"
    path.write_text(text)
    with pytest.raises(ArtifactError) as err:
        load_exit_outputs(path)
    assert str(err.value) == f"{path}: not a readable npz file ({reason})"


def _npz_member(header: bytes, data: bytes = b"") -> bytes:
    """An .npy member whose header text is `header` (padded as numpy pads it)."""
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


@pytest.mark.parametrize(("member", "method", "reason"), [
    (_npz_member(b"{'a': (1,"), zipfile.ZIP_STORED, "an array header that does not parse"),
    (_npz_member(b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1000000000000, 10)}",
                 b"\0" * 100), zipfile.ZIP_STORED,
     "an array header declaring more data than fits in memory"),
    (_npz_member(b"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2)}", b"\0" * 8),
     99, "That compression method is not supported"),
], ids=["header", "huge shape", "compression"])
def test_damaged_npz_members_are_one_line_errors(tmp_path: Path, member: bytes, method: int,
                                                 reason: str) -> None:
    """Three kinds of damage escaped the numpy errors caught (a reviewer's fuzzing): a header
    that does not tokenise, one declaring 109 TiB, an unknown zip compression method."""
    path = tmp_path / "val.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("logits.npy", member)
        archive.writestr("labels.npy", _npz_member(
            b"{'descr': '<i8', 'fortran_order': False, 'shape': (2,)}", b"\0" * 16))
    if method != zipfile.ZIP_STORED:  # the method field of the member's two headers
        raw = bytearray(path.read_bytes())
        for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            at = raw.find(signature) + offset
            raw[at:at + 2] = method.to_bytes(2, "little")
        path.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError) as err:
        load_exit_outputs(path)
    assert str(err.value) == f"{path}: not a readable npz file ({reason})"


def test_model_file_instead_of_its_folder(tmp_path: Path) -> None:
    from eenet.models.artifact import read_trained_config

    (tmp_path / "latency.json").write_text("{}")
    with pytest.raises(ArtifactError) as err:
        read_trained_config(tmp_path / "latency.json")
    assert str(err.value) == (f"{tmp_path / 'latency.json'}: is a file; give the trained "
                              "model's folder (the train stage's artifacts/model, holding "
                              "config.json)")


def test_a_model_config_without_n_exits_still_loads(ws: Path) -> None:
    """n_exits is checked where config.json records it (save_trained always does); a config
    without one (written by hand) loads as before."""
    from eenet.models.artifact import load_trained

    path = ws / MODEL / "config.json"
    write_json(path, {k: v for k, v in json.loads(path.read_text()).items() if k != "n_exits"})
    assert load_trained(ws / MODEL).n_exits == 3


def test_float16_probs_within_tolerance_keep_their_logits(tmp_path: Path) -> None:
    """Rounded float16 probabilities (rows off 1 by up to the tolerance, values a hair above 1)
    still load, as the log of the probabilities less each row's largest (the same softmax)."""
    probs = _probs().astype(np.float16)
    probs[0, 0] = [1.0, 0.0, 0.0]
    probs[1, 3] = [0.5, 0.25, 0.2551]  # sums to 1.005
    _save_npz(tmp_path / "val.npz", probs=probs, labels=LABELS)
    outputs = load_exit_outputs(tmp_path / "val.npz")
    with np.errstate(divide="ignore"):
        logs = np.log(probs.astype(np.float64))
    want = np.maximum(logs - logs.max(-1, keepdims=True), -1e4).astype(np.float32)
    np.testing.assert_array_equal(outputs.logits, want)
    np.testing.assert_array_equal(outputs.labels, LABELS)


def test_probs_negative_by_round_off_load_as_zero(tmp_path: Path) -> None:
    """A probability a hair below 0 (1 - the sum of the others, in float64 round-off) loads as
    0, as values a hair above 1 load: -1e-12 was refused as negative."""
    probs = _probs()
    probs[0, 1] = [1.0 + 1e-12, 0.0, -1e-12]
    probs[1, 2] = [0.6, 0.4 + 4e-7, -4e-7]
    _save_npz(tmp_path / "val.npz", probs=probs, labels=LABELS)
    clipped = np.maximum(probs, 0.0)
    _save_npz(tmp_path / "clipped.npz", probs=clipped, labels=LABELS)
    np.testing.assert_array_equal(load_exit_outputs(tmp_path / "val.npz").logits,
                                  load_exit_outputs(tmp_path / "clipped.npz").logits)


# ---------------------------------------------------------------- real processes


@pytest.mark.parametrize(
    ("stage", "args", "edit", "message"),
    [
        ("train", ("data", MODEL, "artifacts/checkpoints", "reports/train"),
         _set("train.epochs", "ten"), "train.epochs: expected an integer, got 'ten'"),
        ("fit_schedulers", FIT_ARGS, _set("budgets", []),
         "budgets: expected 'auto' or a non-empty list of budgets, got []"),
    ],
    ids=["train", "fit_schedulers"],
)
def test_stage_process_exits_2_without_traceback(ws: Path, stage, args, edit, message) -> None:
    params = base_params()
    edit(params)
    write_params(ws, params)
    assert_one_line_error(run_stage(stage, ws, *args), message)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda fh: np.savez(fh, logits=np.full((3, 4, 10), 1e300), labels=LABELS),
         "val.npz: logits exceed the float32 range (|x| <= 3.403e+38)"),
        (lambda fh: np.save(fh, np.zeros((3, 4, 10))),
         f"val.npz: a single .npy array, not an .npz archive; {EXPECTED_NPZ}"),
    ],
    ids=["float64 logits beyond float32", "npy instead of npz"],
)
def test_schedule_on_bad_exit_outputs_prints_one_line(ws: Path, write, message: str) -> None:
    """No numpy warning lines before the error: stderr is the error line alone."""
    with open(ws / "val.npz", "wb") as fh:
        write(fh)
    proc = subprocess.run(
        [sys.executable, "-m", "eenet.cli", "schedule", "--val", "val.npz", "--test", TEST,
         "--costs", "1,2,3", "--method", "maxprob", "--budgets", "2.0"],
        cwd=ws, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
    assert proc.stderr.splitlines() == [f"eenet schedule: error: --val: {message}"]


def test_ctrl_c_in_a_stage_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C during a stage ends it with one line and the shell's SIGINT status, not a
    traceback."""
    from eenet.cli import run_stage as run_stage_main

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as caught:
        run_stage_main(interrupted)
    assert caught.value.code == 130
    assert capsys.readouterr().err.strip().splitlines() == [f"interrupted ({STOPPED_NOTE})"]


STAGE_COMMANDS = {name: stage["cmd"] for name, stage in
                  yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items()}


@pytest.mark.parametrize("stop, word, status", [
    (KeyboardInterrupt, "interrupted", 130), (Terminated, "terminated", 128 + signal.SIGTERM),
], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("stage", list(STAGE_COMMANDS))
def test_a_stopped_stage_says_what_a_rerun_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stage: str,
    stop: type[BaseException], word: str, status: int,
) -> None:
    """Each stage script, run as its dvc.yaml command runs it and stopped at once: only the
    train stage says a rerun resumes from its checkpoint. Every stage said so before, though
    the others keep none and start over."""
    import eenet.cli

    script, args = dvc_stage_script(STAGE_COMMANDS[stage])
    run_stage_main = eenet.cli.run_stage

    def stopped_at_once(main: Callable[..., None], *args: str, **kwargs: Any) -> None:
        def stopped(*_: str) -> None:
            raise stop

        run_stage_main(stopped, *args, **kwargs)

    monkeypatch.setattr(eenet.cli, "run_stage", stopped_at_once)
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    with pytest.raises(SystemExit) as caught:
        runpy.run_path(str(script), run_name="__main__")
    assert caught.value.code == status
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"{word} ({RESUMES_NOTE if stage == 'train' else STOPPED_NOTE})"]
    assert ("checkpoint" in lines[0]) == (stage == "train")


def test_model_weights_of_another_dtype_are_refused_not_converted(tmp_path: Path) -> None:
    """load_trained rebuilt the model in its builder's precision and loaded any dtype into it:
    integer weights (an edited or foreign file) became floats, a float64 model came back as
    float32 (other logits than those a policy was fitted on), without a word."""
    import torch

    from eenet.models.artifact import load_trained

    options = {"widths": [4, 8, 8], "blocks": [1, 1, 1]}
    model = build_model("resnet1d_3", 10, **options)
    save_trained(model.double(), tmp_path / "f64", "resnet1d_3", 10, options)
    with pytest.raises(ArtifactError, match=re.escape(
            f"{tmp_path / 'f64' / 'model.safetensors'}: heads.0.") + r"\S+ is float64, but "
            r"resnet1d_3 built with the options of config\.json holds float32 there \(and \d+ "
            r"more tensors of another dtype\); loading would convert it: save the model as its "
            r"builder makes it \(e\.g\. model\.float\(\)\) or train again$"):
        load_trained(tmp_path / "f64")
    save_trained(model.float(), tmp_path / "ints", "resnet1d_3", 10, options)
    path = tmp_path / "ints" / "model.safetensors"
    state = load_file(str(path))
    state["stem.0.weight"] = np.round(state["stem.0.weight"] * 100).astype(np.int32)
    save_file(state, str(path))
    with pytest.raises(ArtifactError, match=r"stem\.0\.weight is int32, but resnet1d_3 takes "
                                            r"float32 \(1 tensor of another kind\); give the "
                                            r"weights the train stage saved$"):
        load_trained(tmp_path / "ints")
    save_trained(model.float(), tmp_path / "f32", "resnet1d_3", 10, options)
    assert next(load_trained(tmp_path / "f32").parameters()).dtype == torch.float32
