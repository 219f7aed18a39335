"""Local copies of data sets and pretrained models are watched: kept in `local_data/` (a
dependency of the download stage) or `local_models/` (of the train stage), an edited file
reruns the stage that reads it, though git ignores the files; one elsewhere gets a note.

Before, `data.options.local_path` and `model.options.pretrained` were only strings to DVC:
relabelling a local AG News CSV left `dvc status` up to date and the old splits in place, and
replaced BERT weights, once the train stage was forced, reused the run trained from the old
ones (its checkpoint's settings named the folder, not its files).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from eenet.data.prepared import read_split
from eenet.digests import path_digest
from eenet.local_copies import (
    WATCHED_DATA,
    WATCHED_MODELS,
    data_copy_notes,
    model_copy_notes,
    unwatched_note,
)
from eenet.training_run import model_file_digests
from tests.preset_fixtures import tiny_bert_config, write_ag_news, write_vocab
from tests.robust_helpers import (
    ROOT,
    check_ok,
    run_stage,
    stage_env,
    tiny_params,
    write_params,
)

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def test_dvc_yaml_lists_the_watched_folders_which_every_clone_has() -> None:
    assert str(WATCHED_DATA) in STAGES["download"]["deps"]
    assert str(WATCHED_MODELS) in STAGES["train"]["deps"]
    for folder in (WATCHED_DATA, WATCHED_MODELS):  # DVC fails on a missing dependency
        assert (ROOT / folder / "README.md").is_file()


def _git(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=path, env={**os.environ, **GIT_ENV},
                          capture_output=True, text=True)


def test_git_ignores_the_copies_but_keeps_each_folder_s_readme(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    assert _git(tmp_path, "init", "-q").returncode == 0
    ignored = ["local_data/ag_news/train.csv", "local_data/cifar/x", "local_models/bert/a.bin"]
    kept = ["local_data/README.md", "local_models/README.md"]
    for name in ignored + kept:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    result = _git(tmp_path, "check-ignore", *ignored, *kept)
    assert result.stdout.split() == ignored


def _relabel(folder: Path) -> None:
    """Every AG News label of the copy's CSV files moved to the next class."""
    for name in ("train.csv", "test.csv"):
        with open(folder / name, newline="") as fh:
            rows = list(csv.reader(fh))
        with open(folder / name, "w", newline="") as fh:
            csv.writer(fh).writerows([rows[0], *([text, str((int(label) + 1) % 4)]
                                                  for text, label in rows[1:])])


@pytest.mark.slow
def test_an_edited_data_copy_in_local_data_reruns_download(tmp_path: Path) -> None:
    """A real git + DVC repo: the copy in local_data/ (git-ignored, never committed) is hashed
    as the stage's dependency; relabelled, `dvc status` names the stage and `dvc repro` reruns
    it with the new labels (before, it stayed "up to date" with the old splits)."""
    pytest.importorskip("datasets")
    pytest.importorskip("dvc")
    repo = tmp_path / "repo"
    for folder in ("stages", "eenet"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", "local_data/README.md", "local_models/README.md"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, repo / name)
    copy = write_ag_news(repo / "local_data" / "ag_news", n_train=40, n_test=12)
    params = tiny_params()
    params["data"] = {"dataset": "ag_news", "seed": 0, "options": {
        "val_size": 10, "local_path": "local_data/ag_news",  # from the repo root, as it runs
        "cache_dir": str(tmp_path / "hf-cache")}}
    write_params(repo, params)
    # dvc.yaml's `python stages/...` is this interpreter (as test_pipeline's runs): with a
    # `python` of another environment first on PATH the stage failed to import torch
    env = {**stage_env(), **GIT_ENV, "PYTHONPATH": str(repo), "DVC_NO_ANALYTICS": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    dvc = [sys.executable, "-m", "dvc"]

    def run(*cmd: str) -> str:
        result = subprocess.run(list(cmd), cwd=repo, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, f"{cmd}:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    run("git", "init", "-q")
    run(*dvc, "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "tiny repo")
    assert "local_data/ag_news" not in run("git", "status", "--porcelain")  # git ignores it
    first = run(*dvc, "repro", "download")
    assert "Running stage 'download'" in first
    assert "outside local_data/" not in first  # watched: no note
    labels = {split: read_split(repo / "data" / "ag_news", split)[1] for split in ("val", "test")}
    assert "download" not in run(*dvc, "status", "download")

    _relabel(copy)
    status = run(*dvc, "status", "download")
    assert "download" in status and "local_data" in status, status
    again = run(*dvc, "repro", "download")
    assert "Running stage 'download'" in again
    for split, before in labels.items():
        after = read_split(repo / "data" / "ag_news", split)[1]
        np.testing.assert_array_equal(after, (before + 1) % 4)
    assert "download" not in run(*dvc, "status", "download")


def test_the_download_stage_notes_a_copy_elsewhere(tmp_path: Path) -> None:
    """Read as before, with one line on stderr saying DVC does not watch it, and what to run."""
    pytest.importorskip("datasets")
    params = tiny_params()
    params["data"] = {"dataset": "ag_news", "seed": 0, "options": {
        "val_size": 10, "local_path": str(write_ag_news(tmp_path / "ag", n_train=40, n_test=12)),
        "cache_dir": str(tmp_path / "hf-cache")}}
    write_params(tmp_path, params)
    result = check_ok(run_stage("download", tmp_path, "data/ag_news"))
    assert read_split(tmp_path / "data" / "ag_news", "test")[1].size == 12
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [f"note: data.options.local_path {tmp_path / 'ag'} is outside local_data/, "
                     "which DVC watches: after changing its files, run `dvc repro -f -s "
                     "download` then `dvc repro` (or move it into local_data/)"]


def test_a_copy_outside_the_watched_folder_gets_a_note(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local_data" / "ag").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    assert unwatched_note("data.options.local_path", "local_data/ag", WATCHED_DATA,
                          "download") is None
    assert unwatched_note("x", tmp_path / "local_data" / "ag", WATCHED_DATA, "download") is None
    assert unwatched_note("data.options.local_path", "elsewhere", WATCHED_DATA, "download") == (
        "note: data.options.local_path elsewhere is outside local_data/, which DVC watches: "
        "after changing its files, run `dvc repro -f -s download` then `dvc repro` (or move "
        "it into local_data/)")
    assert unwatched_note("x", "local_data/../elsewhere", WATCHED_DATA, "download") is not None
    # a link in the folder to a folder elsewhere: DVC does not look into it
    (tmp_path / "local_data" / "linked").symlink_to(tmp_path / "elsewhere")
    assert unwatched_note("x", "local_data/linked", WATCHED_DATA, "download") is not None


def test_which_data_options_name_copies(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = {"dataset": "ag_news", "options": {"local_path": "/data/ag", "cache_dir": "/c"}}
    assert [n.split(" is ")[0] for n in data_copy_notes(text)] == [
        "note: data.options.local_path /data/ag"]  # a cache is no copy
    data_files = {"train": ["/d/a.csv", "local_data/b.csv"], "validation": "/d/v.csv"}
    files = {"dataset": "sst2", "options": {"data_files": data_files}}
    assert [n.split(" is ")[0] for n in data_copy_notes(files)] == [
        "note: data.options.data_files.train /d/a.csv",
        "note: data.options.data_files.validation /d/v.csv"]
    # with local_path, data_files are in it
    assert data_copy_notes({"dataset": "sst2", "options": {
        "local_path": "local_data/s", "data_files": {"train": "t.csv"}}}) == []
    assert data_copy_notes({"dataset": "ag_news", "options": {}}) == []  # the hub: its cache
    # CIFAR: with checksums (the default) only the official files load, whatever the root
    assert data_copy_notes({"dataset": "cifar10", "options": {"root": "/raw"}}) == []
    assert [n.split(" is ")[0] for n in data_copy_notes(
        {"dataset": "cifar10", "options": {"checksums": False}})] == [
        "note: data.options.root data/raw"]
    assert data_copy_notes({"dataset": "cifar10", "options": {
        "checksums": False, "root": "local_data/cifar"}}) == []
    assert data_copy_notes({"dataset": "mnist1d", "options": {"num_samples": 10}}) == []


def test_data_files_outside_local_path_get_a_note(tmp_path: Path, monkeypatch) -> None:
    """With `local_path`, `data_files` are taken inside it, but an absolute one or one through
    `..` is read from where it is (datasets joins the two paths): files outside local_data/
    were read with no note while local_path lay inside it."""
    monkeypatch.chdir(tmp_path)
    options = {"local_path": "local_data/ag", "data_files": {
        "train": [str(tmp_path / "elsewhere" / "train.csv"), "more.csv"],
        "test": "../../elsewhere/test.csv", "validation": "../other/val.csv"}}
    notes = data_copy_notes({"dataset": "ag_news", "options": options})
    assert [n.split(" is outside ")[0] for n in notes] == [
        f"note: data.options.data_files.train {tmp_path / 'elsewhere' / 'train.csv'}",
        "note: data.options.data_files.test local_data/ag/../../elsewhere/test.csv"]
    # local_path outside: its own note covers the files in it, not those elsewhere
    options["local_path"] = "mine"
    notes = data_copy_notes({"dataset": "ag_news", "options": options})
    assert [n.split(" is outside ")[0] for n in notes] == [
        "note: data.options.local_path mine",
        f"note: data.options.data_files.train {tmp_path / 'elsewhere' / 'train.csv'}",
        "note: data.options.data_files.test mine/../../elsewhere/test.csv",
        "note: data.options.data_files.validation mine/../other/val.csv"]


def test_which_model_options_name_copies(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local_models" / "bert").mkdir(parents=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "vocab.txt").write_text("[UNK]\n")
    assert model_copy_notes({"pretrained": "local_models/bert"}) == []
    assert model_copy_notes({"pretrained": "bert-base-uncased"}) == []  # a hub name: its cache
    notes = model_copy_notes({"pretrained": "mine", "tokenizer": "vocab.txt", "max_length": 8})
    assert notes == [f"note: model.options.{name} {path} is outside local_models/, which DVC "
                     "watches: after changing its files, run `dvc repro -f -s train` then "
                     "`dvc repro` (or move it into local_models/)"
                     for name, path in (("pretrained", "mine"), ("tokenizer", "vocab.txt"))]


def test_model_file_digests_follow_the_files(tmp_path: Path, monkeypatch) -> None:
    """What the training fingerprint records of a local model: each named file or folder's
    digest, which any change of a file in it changes; a hub name and other options none."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "local_models" / "bert"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"old")
    vocab = write_vocab(tmp_path / "vocab.txt")
    options = {"pretrained": "local_models/bert", "tokenizer": str(vocab), "max_length": 8}
    digests = model_file_digests(options)
    assert digests == {"pretrained": path_digest(folder), "tokenizer": path_digest(vocab)}
    assert model_file_digests({"pretrained": "bert-base-uncased", "tokenizer": None}) == {}
    (folder / "model.safetensors").write_bytes(b"new")
    assert model_file_digests(options)["pretrained"] != digests["pretrained"]
    (folder / "sub").mkdir()
    (folder / "sub" / "model.safetensors").write_bytes(b"new")  # a file's place counts too
    moved = model_file_digests(options)["pretrained"]
    (folder / "model.safetensors").unlink()
    assert model_file_digests(options)["pretrained"] != moved


def test_hf_download_bookkeeping_leaves_the_digest_alone(tmp_path: Path) -> None:
    """`hf download --local-dir` (the command docs/presets.md gives) keeps per-file metadata
    with the time of each run in `.cache/huggingface/download/`: rerun on unchanged files, it
    changed the pretrained folder's digest, so that BERT trained afresh. Hidden files are no
    part of a model and are left out; the model's own files still count."""
    folder = tmp_path / "local_models" / "bert"
    download = folder / ".cache" / "huggingface" / "download"
    download.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        (folder / name).write_text(name)
        (download / f"{name}.metadata").write_text("c0ffee\netag\n1765000000.1\n")
    digest = path_digest(folder)
    for name in ("config.json", "model.safetensors", "vocab.txt"):  # the same files, later
        (download / f"{name}.metadata").write_text("c0ffee\netag\n1765003600.7\n")
    (download / "vocab.txt.lock").write_text("")
    (folder / ".DS_Store").write_text("x")
    assert path_digest(folder) == digest
    (folder / "vocab.txt").write_text("other words")
    assert path_digest(folder) != digest


@pytest.mark.slow
def test_replaced_pretrained_weights_train_afresh(tmp_path: Path) -> None:
    """The train stage rerun (as DVC reruns it when local_models/ changes) with the same
    settings and data: the same weights reuse the finished run; other weights in the same
    folder train from the start and give another model (they reused the old run before)."""
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertModel

    from eenet.data import prepare_dataset
    from eenet.models.artifact import load_trained

    torch = pytest.importorskip("torch")
    prepare_dataset("ag_news", tmp_path / "data", 0, val_size=10, cache_dir=str(tmp_path / "hf"),
                    local_path=write_ag_news(tmp_path / "local_data" / "ag", n_train=40,
                                             n_test=12))
    (tmp_path / "local_models").mkdir()
    vocab = write_vocab(tmp_path / "local_models" / "vocab.txt")
    config = BertConfig(**tiny_bert_config(len(vocab.read_text().split())))

    def save_weights(seed: int) -> None:
        torch.manual_seed(seed)
        BertModel(config).save_pretrained(tmp_path / "local_models" / "bert")

    save_weights(0)
    params = tiny_params()
    params["model"] = {"name": "bert_4", "options": {
        "pretrained": "local_models/bert", "tokenizer": "local_models/vocab.txt",
        "max_length": 24, "exit_layers": [1, 2, 3, 4]}}
    params["train"].update(epochs=1, batch_size=16, optimizer="adamw", lr=3e-5,
                           schedule="linear")
    write_params(tmp_path, params)
    args = ("data", "model", "ckpt", "live")

    def train() -> tuple[str, dict]:
        result = check_ok(run_stage("train", tmp_path, *args))
        assert "outside local_models/" not in result.stderr  # watched: no note
        return result.stdout + result.stderr, load_trained(tmp_path / "model").state_dict()

    _, first = train()
    same, again = train()
    assert "reusing checkpoint" in same
    assert all(torch.equal(first[k], again[k]) for k in first)
    save_weights(1)
    other, replaced = train()
    assert "reusing checkpoint" not in other
    assert not all(torch.equal(first[k], replaced[k]) for k in first)
