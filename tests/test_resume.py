"""Training is killed (SIGKILL) mid-run, run again, and continues from its last checkpoint."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from eenet.checkpoint import load_checkpoint, mark_delivered, save_checkpoint
from eenet.cli import RESUMES_NOTE
from eenet.data import prepare_dataset
from tests.robust_helpers import (
    assert_terminated,
    check_ok,
    run_stage,
    stage_command,
    stage_env,
    tiny_params,
    write_params,
)

pytestmark = pytest.mark.slow
EPOCHS = 5
TRAIN_ARGS = ("data", "artifacts/model", "artifacts/checkpoints", "reports/train")


def _setup(path: Path) -> None:
    params = tiny_params()
    params["data"]["options"]["num_samples"] = 3000
    params["train"].update(epochs=EPOCHS, batch_size=32)
    write_params(path, params)
    prepare_dataset("mnist1d", path / "data", 0, **params["data"]["options"])


def _kill_after_first_checkpoint(path: Path) -> Path:
    """Start the train stage in `path`, SIGKILL it once it has written a checkpoint; the
    checkpoint's path."""
    checkpoint = path / "artifacts/checkpoints/last.pt"
    proc = subprocess.Popen(
        stage_command("train", *TRAIN_ARGS), cwd=path, env=stage_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while not checkpoint.exists() and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    return checkpoint


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    _setup(tmp_path)
    checkpoint = _kill_after_first_checkpoint(tmp_path)
    done = int(load_checkpoint(checkpoint.parent)["epoch"]) + 1
    assert 1 <= done < EPOCHS
    assert not (tmp_path / "artifacts/model/model.safetensors").exists()

    result = check_ok(run_stage("train", tmp_path, *TRAIN_ARGS))
    assert f"resuming from epoch {done} of {EPOCHS}" in result.stdout
    # a line per epoch it trained (no bar shows without a terminal), none for those replayed
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == [
        f"epoch {k}/{EPOCHS}" for k in range(done + 1, EPOCHS + 1)]
    assert all(re.fullmatch(r"epoch \d+/\d+: train loss \d+\.\d{4}, val accuracy by exit "
                            r"(\d+\.\d\d / ){2}\d+\.\d\d %, \d+\.\d s", line)
               for line in lines), lines
    assert int(load_checkpoint(checkpoint.parent)["epoch"]) == EPOCHS - 1
    metrics = json.loads((tmp_path / "reports/train/metrics.json").read_text())
    assert metrics["step"] == EPOCHS - 1
    curve = pd.read_csv(tmp_path / "reports/train/plots/metrics/train_loss.tsv", sep="\t")
    assert curve["step"].tolist() == list(range(EPOCHS))
    # every exit's accuracy in one table: continued, each epoch once per exit, as dvclive's
    table = pd.read_csv(tmp_path / "reports/train/exit_accuracy.csv")
    assert list(zip(table["epoch"], table["exit"], strict=True)) == [
        (e, k) for e in range(EPOCHS) for k in range(3)]
    for k in range(3):
        exit_curve = pd.read_csv(
            tmp_path / f"reports/train/plots/metrics/val_acc_exit{k}.tsv", sep="\t")
        assert table[table["exit"] == k]["val_accuracy"].tolist() == \
            exit_curve[f"val_acc_exit{k}"].tolist()
    assert (tmp_path / "artifacts/model/model.safetensors").is_file()

    # the resumed run ends where an uninterrupted run ends: same weights, bit for bit
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "params.yaml").write_text((tmp_path / "params.yaml").read_text())
    (fresh / "data").symlink_to(tmp_path / "data")
    check_ok(run_stage("train", fresh, *TRAIN_ARGS))
    weights = "artifacts/model/model.safetensors"
    assert (fresh / weights).read_bytes() == (tmp_path / weights).read_bytes()


def _train_files(path: Path) -> dict[str, bytes]:
    """The train stage's outputs under `path`: the model folder and the dvclive reports."""
    return {str(f.relative_to(path)): f.read_bytes()
            for folder in ("artifacts/model", "reports/train")
            for f in sorted((path / folder).rglob("*")) if f.is_file()}


def _model_folder_taken_mid_run(path: Path) -> subprocess.CompletedProcess:
    """Run the train stage in `path`, putting a file where its model folder goes once it has
    written a checkpoint (its up-front checks passed): save_trained refuses it after the last
    epoch."""
    checkpoint = path / "artifacts/checkpoints/last.pt"
    proc = subprocess.Popen(stage_command("train", *TRAIN_ARGS), cwd=path, env=stage_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not checkpoint.exists() and proc.poll() is None:
        time.sleep(0.02)
    (path / "artifacts/model").touch()
    out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_training_stopped_before_its_artifact_resumes_with_no_epoch_trained(
    tmp_path: Path,
) -> None:
    """A run stopped after its last epoch's checkpoint, before its artifact (here: the model
    folder became a file during training, refused then) trained every epoch again when rerun.
    Now it resumes with none to train and writes what an uninterrupted run writes, byte for
    byte."""
    _setup(tmp_path)
    failed = _model_folder_taken_mid_run(tmp_path)
    assert failed.returncode == 2 and "is a file" in failed.stderr, failed.stderr
    checkpoint = tmp_path / "artifacts/checkpoints/last.pt"
    assert int(load_checkpoint(checkpoint.parent)["epoch"]) == EPOCHS - 1
    (tmp_path / "artifacts/model").unlink()

    result = check_ok(run_stage("train", tmp_path, *TRAIN_ARGS))
    assert result.stdout.splitlines()[0] == (
        f"resuming from checkpoint artifacts/checkpoints/last.pt ({EPOCHS} of {EPOCHS} "
        "epochs): all trained, the model is taken from it")
    assert not [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert int(load_checkpoint(checkpoint.parent)["epoch"]) == EPOCHS - 1

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "params.yaml").write_text((tmp_path / "params.yaml").read_text())
    (fresh / "data").symlink_to(tmp_path / "data")
    check_ok(run_stage("train", fresh, *TRAIN_ARGS))
    resumed, uninterrupted = _train_files(tmp_path), _train_files(fresh)
    assert "artifacts/model/model.safetensors" in uninterrupted
    assert "reports/train/plots/metrics/train_loss.tsv" in uninterrupted
    assert "reports/train/exit_accuracy.csv" in uninterrupted
    assert resumed.keys() == uninterrupted.keys()
    assert [name for name in resumed if resumed[name] != uninterrupted[name]] == []

    # its artifact written, the checkpoint is marked; one written by other code (the stage
    # reran because training's code changed) is trained afresh
    state = load_checkpoint(checkpoint.parent)
    save_checkpoint(checkpoint.parent, {**state, "code": "0" * 64})
    mark_delivered(checkpoint.parent)
    again = check_ok(run_stage("train", tmp_path, *TRAIN_ARGS))
    assert "resuming" not in again.stdout and "reusing" not in again.stdout
    assert len([line for line in again.stdout.splitlines() if line.startswith("epoch ")]) \
        == EPOCHS


def test_finished_training_reruns_with_more_workers_without_training(tmp_path: Path) -> None:
    """`dvc exp run -S train.num_workers=2` reran the train stage (it reads the setting) and
    trained the whole run again, for weights the worker count does not change. A finished run
    of the same settings by the same code is now reused: no epoch trained, the model and
    reports written byte for byte as before, a line saying so. Other settings train afresh."""
    params = tiny_params()
    params["train"].update(epochs=2, batch_size=64)
    write_params(tmp_path, params)
    prepare_dataset("mnist1d", tmp_path / "data", 0, **params["data"]["options"])
    first = check_ok(run_stage("train", tmp_path, *TRAIN_ARGS))
    assert len([line for line in first.stdout.splitlines() if line.startswith("epoch ")]) == 2
    trained = _train_files(tmp_path)

    params["train"]["num_workers"] = 2
    write_params(tmp_path, params)
    again = check_ok(run_stage("train", tmp_path, *TRAIN_ARGS))
    assert again.stdout.splitlines()[0] == (
        "reusing checkpoint artifacts/checkpoints/last.pt (2 of 2 epochs): a finished run of "
        "these settings by this code, the model is taken from it; delete artifacts/checkpoints "
        "to train again")
    assert not [line for line in again.stdout.splitlines() if line.startswith("epoch ")]
    reused = _train_files(tmp_path)
    assert reused.keys() == trained.keys()
    assert [name for name in reused if reused[name] != trained[name]] == []

    params["train"]["lr"] = params["train"]["lr"] / 2
    write_params(tmp_path, params)
    other = check_ok(run_stage("train", tmp_path, *TRAIN_ARGS))
    assert "reusing" not in other.stdout and "resuming" not in other.stdout
    assert len([line for line in other.stdout.splitlines() if line.startswith("epoch ")]) == 2


def test_sigterm_to_training_with_workers_is_one_line_and_it_resumes(tmp_path: Path) -> None:
    """`kill -TERM -<group>` (a job scheduler, `timeout`) reaches the DataLoader workers too:
    torch's SIGCHLD handler raised their death by the signal while the stage cleaned up, and a
    traceback came before its one line. Now: that line alone (saying the rerun resumes),
    status 143, and the next run resumes."""
    _setup(tmp_path)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["train"].update(epochs=200, num_workers=2)
    write_params(tmp_path, params)
    checkpoint = tmp_path / "artifacts/checkpoints/last.pt"
    proc = subprocess.Popen(
        stage_command("train", *TRAIN_ARGS), cwd=tmp_path, env=stage_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        while not checkpoint.exists() and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(0.5)  # into the next epoch, its workers running
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert_terminated(proc, err, RESUMES_NOTE)  # the one stage whose rerun resumes
    assert [p.name for p in checkpoint.parent.iterdir()] == ["last.pt"]
    done = int(load_checkpoint(checkpoint.parent)["epoch"]) + 1

    again = subprocess.Popen(stage_command("train", *TRAIN_ARGS), cwd=tmp_path, env=stage_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert again.stdout.readline().startswith(f"resuming from epoch {done} of 200")
    finally:
        again.kill()
        again.wait()


def test_a_checkpoint_of_other_data_is_not_resumed(tmp_path: Path) -> None:
    """A checkpoint identified itself by the params and meta.json alone: after the data were
    relabelled (same sizes, same statistics, the same meta.json) a killed run's checkpoint of
    the old data was resumed. The split files' digests now count too."""
    from eenet.data.prepared import read_split, write_split

    _setup(tmp_path)
    checkpoint = _kill_after_first_checkpoint(tmp_path)
    meta = (tmp_path / "data/meta.json").read_bytes()
    x, y = read_split(tmp_path / "data", "train")
    write_split(tmp_path / "data", "train", x, (y + 1) % 10)  # relabelled: meta.json unchanged
    assert (tmp_path / "data/meta.json").read_bytes() == meta
    again = check_ok(run_stage("train", tmp_path, *TRAIN_ARGS))
    assert "resuming" not in again.stdout
    assert int(load_checkpoint(checkpoint.parent)["epoch"]) == EPOCHS - 1


def test_training_refuses_data_of_another_kind_before_it_starts(tmp_path: Path) -> None:
    """A model of tensors given texts failed with a torch traceback in the first batch (a BERT
    given tensors trained on their text for as long as asked, refused only by dump_logits)."""
    from eenet.data.prepared import read_split, write_meta, write_split

    params = tiny_params()
    write_params(tmp_path, params)
    prepare_dataset("mnist1d", tmp_path / "data", 0, **params["data"]["options"])
    for split in ("train", "val", "test"):
        x, y = read_split(tmp_path / "data", split)
        write_split(tmp_path / "data", split, np.array([f"text {i}" for i in range(len(y))]), y)
    meta = json.loads((tmp_path / "data/meta.json").read_text())
    write_meta(tmp_path / "data", {**meta, "kind": "text"})
    result = run_stage("train", tmp_path, *TRAIN_ARGS)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].endswith(
        "model.name: resnet1d_3 takes tensors but data/train.npz holds texts; models taking "
        "texts: bert_4"), result.stderr
    assert not (tmp_path / "artifacts/checkpoints").exists()
