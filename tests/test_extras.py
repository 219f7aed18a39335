"""A core install (`pip install -e .`, no extras) schedules exit outputs: with dvc, dvclive,
mnist1d, transformers and datasets (and what only they bring, huggingface_hub and pyarrow)
unimportable, every eenet module imports and `eenet schedule`, `eenet predict`,
`eenet models` and `eenet --help` run; a feature that needs an extra says in one line which to
install. Each case runs in a fresh process whose `sys.modules` holds None for those packages,
so importing one fails as it does where it is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from eenet.extras import TORCH_MISSING
from eenet.models import build_model
from eenet.models.artifact import save_trained
from eenet.schedulers import fit_policy
from eenet.synthetic import make_split_pair
from tests.conftest import saved_split_pair

REPO = Path(__file__).resolve().parents[1]
# the extras' packages (pyproject.toml), and packages that only they bring in
EXTRA_PACKAGES = ("dvc", "dvclive", "mnist1d", "transformers", "datasets")
BLOCKED = (*EXTRA_PACKAGES, "huggingface_hub", "pyarrow")
BLOCK = f"import sys\nfor name in {BLOCKED!r}:\n    sys.modules[name] = None\n"
EENET_CLI = "from eenet.cli import main\nraise SystemExit(main())\n"


def _blocked(code: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python -c code args` with the extras' packages unimportable."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", BLOCK + code, *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def _eenet(*args: str) -> subprocess.CompletedProcess:
    """`eenet ARGS` with the extras' packages unimportable."""
    return _blocked(EENET_CLI, *args)


def _one_line_error(done: subprocess.CompletedProcess, prefix: str, package: str,
                    extra: str) -> None:
    """One line on stderr, status 2, naming the package and the install command of its extra."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(prefix), done.stderr
    assert f"needs the {package} package, which is not installed: pip install -e " \
           f"'.[{extra}]'" in done.stderr, done.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Exit outputs, a tiny trained model (random weights) with inputs, and a policy for it."""
    root = tmp_path_factory.mktemp("extras")
    val, _ = saved_split_pair(root, 10, 400, 400, seed=4)
    options = {"widths": [4, 8, 8], "blocks": [1, 1, 1]}
    torch.manual_seed(0)
    save_trained(build_model("resnet1d_3", 10, **options).eval(), root / "model", "resnet1d_3",
                 10, options)
    np.save(root / "x.npy", np.random.default_rng(0).standard_normal((20, 40)).astype(np.float32))
    fit_policy("maxprob", val, np.array([1.0, 2.0, 3.0]), 2.0).save(root / "policy")
    return root


def test_every_module_imports_without_the_extras():
    """No eenet module imports an extra's package at its top (eenet.training_run imported
    dvclive there)."""
    done = _blocked(
        "import importlib, pkgutil\nimport eenet\n"
        "for module in pkgutil.walk_packages(eenet.__path__, 'eenet.'):\n"
        "    if module.name != 'eenet.__main__':\n"
        "        importlib.import_module(module.name)\n"
        "print('imported')\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "imported\n"


def test_schedule_runs_without_the_extras(files, tmp_path):
    args = ("schedule", "--val", str(files / "val.npz"), "--test", str(files / "test.npz"),
            "--costs", "1,2,3", "--budgets", "2.0", "--method", "maxprob,entropy,eenet",
            # a short EENet fit: what is checked is that it runs without the extras
            "--set", "eenet.max_epochs=20")
    table = _eenet(*args)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["method", "budget"]
    assert [line.split()[0] for line in lines[2:5]] == ["maxprob", "entropy", "eenet"]
    as_json = _eenet(*args, "--json", "--save", str(tmp_path / "saved"))
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert [row["method"] for row in rows] == ["maxprob", "entropy", "eenet"]
    assert (tmp_path / "saved" / "index.json").is_file()


def test_predict_and_help_run_without_the_extras(files):
    done = _eenet("predict", "--model", str(files / "model"), "--policy", str(files / "policy"),
                  "--input", str(files / "x.npy"), "--device", "cpu", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["exits"]) == 20 and report["summary"]["method"] == "maxprob"
    helped = _eenet("--help")
    assert helped.returncode == 0, helped.stderr
    assert "schedule" in helped.stdout and "predict" in helped.stdout


@pytest.mark.parametrize("command", ["schedule", "predict", "models"])
def test_without_torch_a_command_that_needs_it_says_so_in_one_line(files, command):
    """torch missing (an install with --no-deps): EENet's fit (schedule's default method),
    predict and models say what to install in one line (a ModuleNotFoundError traceback
    before); the heuristics still run."""
    no_torch = "import sys\nsys.modules['torch'] = None\n" + EENET_CLI
    args = {"schedule": ("--val", str(files / "val.npz"), "--test", str(files / "test.npz"),
                         "--costs", "1,2,3", "--budgets", "2.0"),
            "predict": ("--model", str(files / "model"), "--policy", str(files / "policy"),
                        "--input", str(files / "x.npy")),
            "models": ()}[command]
    done = _blocked(no_torch, command, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"eenet {command}: error: {TORCH_MISSING}\n", done.stderr
    if command == "schedule":
        heuristics = _blocked(no_torch, command, *args, "--method", "maxprob,entropy,oracle")
        assert heuristics.returncode == 0, heuristics.stderr


def test_models_lists_what_the_install_builds_and_says_what_bert_needs():
    """`eenet models` was a traceback from BERT's builder without transformers: it lists the
    other models, and a note on stderr says what BERT needs; `--model bert_4` is a one-line
    error."""
    done = _eenet("models")
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()[2:]] == [
        "resnet1d_3", "resnet56_3", "densenet121_4"]
    assert done.stderr == ("eenet models: not listed: model bert_4 needs the transformers "
                           "package, which is not installed: pip install -e '.[text]' (the "
                           "'text' extra)\n")
    _one_line_error(_eenet("models", "--model", "bert_4"), "eenet models: error: model bert_4",
                    "transformers", "text")


def test_predict_with_a_bert_model_says_to_install_the_text_extra(files, tmp_path):
    """A trained BERT (saved here, where transformers is installed) run by `eenet predict`
    where it is not: one line naming transformers and the `text` extra."""
    pytest.importorskip("transformers")
    from tests.preset_fixtures import tiny_bert_config, write_vocab

    vocab = write_vocab(tmp_path / "vocab.txt")
    options = {"pretrained": None, "config": tiny_bert_config(len(vocab.read_text().split())),
               "tokenizer": str(vocab), "exit_layers": [1, 2, 3, 4], "max_length": 16}
    save_trained(build_model("bert_4", 10, **options), tmp_path / "bert", "bert_4", 10,
                 {**options, "config": {}})
    val, _ = make_split_pair(4, 10, 200, 10, seed=5)
    fit_policy("maxprob", val, np.array([1.0, 2.0, 3.0, 4.0]), 2.5).save(tmp_path / "policy")
    np.save(tmp_path / "texts.npy", np.array(["a good film", "a bad film"]))
    done = _eenet("predict", "--model", str(tmp_path / "bert"), "--policy",
                  str(tmp_path / "policy"), "--input", str(tmp_path / "texts.npy"),
                  "--device", "cpu")
    _one_line_error(done, "eenet predict: error: --model: model bert_4", "transformers", "text")


@pytest.mark.parametrize(("dataset", "package", "extra"), [
    ("mnist1d", "mnist1d", "pipeline"), ("sst2", "datasets", "text"),
])
def test_preparing_a_data_set_says_which_extra_it_needs(tmp_path, dataset, package, extra):
    done = _blocked("from eenet.cli import run_stage\nfrom eenet.data import prepare_dataset\n"
                    f"run_stage(prepare_dataset, {dataset!r}, {str(tmp_path / 'data')!r}, 0)\n")
    _one_line_error(done, f"error: data set {dataset} needs", package, extra)
    assert not (tmp_path / "data").exists()


def test_training_says_it_needs_the_pipeline_extra_before_reading_anything(tmp_path):
    """`train_to_artifact` logs with dvclive: without it, one line before the data are read
    (there are none here: that error would come first otherwise)."""
    done = _blocked(
        "from eenet.cli import run_stage\nfrom eenet.train_config import TrainConfig\n"
        "from eenet.training_run import train_to_artifact\n"
        f"root = {str(tmp_path)!r}\n"
        "run_stage(train_to_artifact, root + '/data', root + '/model', root + '/ckpt',\n"
        "          root + '/live', {'name': 'resnet1d_3'}, TrainConfig())\n")
    _one_line_error(done, "error: training (its dvclive logs) needs", "dvclive", "pipeline")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_extras_in_pyproject_and_the_makefile():
    """Core dependencies hold none of the extras' packages (torch and torchvision pinned
    exactly); each package eenet.extras names is in its extra; `make` (test, repro: CI)
    installs every extra the pipeline and the tests need."""
    tomllib = pytest.importorskip("tomllib")
    from eenet.extras import EXTRAS

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def name(requirement: str) -> str:
        return requirement.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip()

    core = [name(r) for r in project["dependencies"]]
    assert not set(core) & set(EXTRA_PACKAGES), core
    assert "torch==2.14.1" in project["dependencies"]
    assert "torchvision==0.29.1" in project["dependencies"]
    extras = project["optional-dependencies"]
    assert set(EXTRAS) == set(EXTRA_PACKAGES)
    for package, extra in EXTRAS.items():
        assert package in [name(r) for r in extras[extra]], (package, extra)
    assert "pip install --quiet -e '.[dev,pipeline,text]'" in (REPO / "Makefile").read_text()
