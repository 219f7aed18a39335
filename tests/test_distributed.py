"""The train stage under torchrun: 2 CPU processes (gloo) against a single-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from eenet.batching import make_loader
from eenet.checkpoint import is_delivered, load_checkpoint, save_checkpoint
from eenet.data import prepare_dataset
from eenet.data.prepared import PreparedDataset
from eenet.errors import ConfigError
from eenet.models.artifact import load_trained
from eenet.resume import resumable_checkpoint
from eenet.training import exit_hits, hit_percentages

ROOT = Path(__file__).resolve().parents[1]
STAGE = str(ROOT / "stages" / "train.py")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def params() -> dict:
    return {
        "model": {"name": "resnet1d_3", "options": {"widths": [4, 8, 8], "blocks": [1, 1, 1]}},
        "train": {"epochs": 2, "batch_size": 32, "threads": 1, "device": "cpu", "seed": 0},
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mnist1d")
    prepare_dataset("mnist1d", folder, 0, num_samples=600)
    return folder


def train(workdir: Path, data: Path, processes: int) -> subprocess.CompletedProcess:
    """Run the train stage in `workdir` (its params.yaml), under torchrun if `processes` > 1."""
    workdir.mkdir(parents=True, exist_ok=True)
    params_file = workdir / "params.yaml"
    if not params_file.exists():
        params_file.write_text(yaml.safe_dump(params()))
    launcher = [sys.executable]
    if processes > 1:
        launcher += [
            "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
            "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [*launcher, STAGE, str(data), "model", "ckpt", "live"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, data: Path) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("runs")
    train(base / "single", data, 1)
    result = train(base / "ddp", data, 2)
    assert result.stdout.count("trained resnet1d_3") == 1  # only rank 0 reports and saves
    return base / "single", base / "ddp"


def test_ddp_writes_the_artifact_once(runs):
    _, ddp = runs
    assert sorted(p.name for p in (ddp / "model").iterdir()) == ["config.json", "model.safetensors"]
    # the checkpoint, and rank 0's mark that its model is written (a rerun trains afresh)
    assert sorted(p.name for p in (ddp / "ckpt").iterdir()) == ["delivered.sha256", "last.pt"]
    assert is_delivered(ddp / "ckpt")
    written = {p.relative_to(ddp).as_posix() for p in ddp.rglob("*") if p.is_file()}
    assert not any("rank" in name or name.endswith(".tmp") for name in written), written


def test_ddp_artifact_has_the_single_process_layout(runs):
    single, ddp = runs
    one, two = load_trained(single / "model"), load_trained(ddp / "model")
    assert one.n_exits == two.n_exits == 3
    shapes = {k: tuple(v.shape) for k, v in one.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in two.state_dict().items()}
    config = json.loads((ddp / "model/config.json").read_text())
    assert config["n_exits"] == 3 and config["num_classes"] == 10
    assert all(0.0 <= a <= 100.0 for a in config["val_accuracy"])
    batch = torch.randn(5, 1, 40)
    assert [tuple(z.shape) for z in two(batch)] == [(5, 10)] * 3


def test_ddp_logs_metrics_once(runs):
    _, ddp = runs
    metrics = json.loads((ddp / "live/metrics.json").read_text())
    assert metrics["step"] == 1
    assert {"train_loss", "val_acc_exit0", "val_acc_exit2"} <= set(metrics)
    rows = (ddp / "live/plots/metrics/train_loss.tsv").read_text().splitlines()
    assert len(rows) == 1 + 2  # header + one row per epoch: one writer


def test_ddp_resumes_an_interrupted_run(runs, data):
    """A checkpoint left after epoch 0 makes the next torchrun run continue at epoch 1."""
    _, ddp = runs
    state = load_checkpoint(ddp / "ckpt")
    # rewind the finished 2-epoch checkpoint to "interrupted after epoch 0": epoch, lr steps, log
    schedule = state["scheduler"]
    schedule["last_epoch"] //= 2
    schedule["_step_count"] = schedule["last_epoch"] + 1
    history = state["history"][:1]
    save_checkpoint(ddp / "ckpt", {**state, "epoch": 0, "scheduler": schedule, "history": history})
    result = train(ddp, data, 2)
    assert result.stdout.count("resuming from epoch 1 of 2") == 1  # rank 0 only
    assert load_checkpoint(ddp / "ckpt")["epoch"] == 1
    assert load_trained(ddp / "model").n_exits == 3
    rows = (ddp / "live/plots/metrics/train_loss.tsv").read_text().splitlines()
    assert len(rows) == 1 + 2  # epoch 0 replayed from the checkpoint, epoch 1 trained


def test_a_checkpoint_of_another_world_size_is_not_resumed(runs):
    """Steps per epoch (and so the lr schedule) depend on the number of processes."""
    _, ddp = runs
    state = load_checkpoint(ddp / "ckpt")
    assert state["world_size"] == 2
    save_checkpoint(ddp / "ckpt", {**state, "epoch": 0})
    assert resumable_checkpoint(ddp / "ckpt", state["fingerprint"], 2) is None  # 1 process here
    save_checkpoint(ddp / "ckpt", {**state, "epoch": 0, "world_size": 1})
    assert resumable_checkpoint(ddp / "ckpt", state["fingerprint"], 2) is not None


def test_ddp_reports_the_validation_accuracy_of_the_model_it_saves(tmp_path: Path) -> None:
    """Each process validated its own replica on its share of the validation split, with the
    BatchNorm statistics its own last batch left: config.json and the metrics reported 22.81 %
    at an exit where the saved model scores 22.97 %. Now every process validates rank 0's model,
    the one saved: the reported accuracies are the saved model's on the whole split, exactly
    (so are its weights after DDP's averaged steps: a replica that drifted would not match)."""
    prepare_dataset("mnist1d", tmp_path / "data", 0, num_samples=4000)
    run = tmp_path / "ddp"
    run.mkdir()
    settings = params()
    settings["train"]["epochs"] = 4
    (run / "params.yaml").write_text(yaml.safe_dump(settings))
    train(run, tmp_path / "data", 2)
    model = load_trained(run / "model")
    val = PreparedDataset(tmp_path / "data", "val")
    hits, problem = exit_hits(model, make_loader(val, model, 512, False, 0),
                              torch.device("cpu"))
    assert problem is None
    whole_split = hit_percentages(hits)
    reported = json.loads((run / "model/config.json").read_text())["val_accuracy"]
    assert reported == whole_split
    logged = json.loads((run / "live/metrics.json").read_text())
    assert [logged[f"val_acc_exit{k}"] for k in range(3)] == whole_split


def test_a_gpu_by_index_under_ddp_is_a_one_line_error(monkeypatch) -> None:
    """Under DDP `cuda` becomes each process's own GPU (its LOCAL_RANK); `cuda:N` would put
    every process on GPU N, so every process refuses it alike, naming train.device."""
    import eenet.distributed as distributed

    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.local_device(torch.device("cuda")) == torch.device("cuda", 1)
    assert distributed.local_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ConfigError) as error:
        distributed.local_device(torch.device("cuda", 1))
    assert str(error.value) == ("train.device: cuda:1 under torchrun would put all 2 processes "
                                "on GPU 1; give cuda (each process takes the GPU of its "
                                "LOCAL_RANK)")
    monkeypatch.setattr(distributed, "is_distributed", lambda: False)
    assert distributed.local_device(torch.device("cuda", 1)) == torch.device("cuda", 1)


def run_workers(script: str, workdir: Path, timeout: float) -> list[dict]:
    """Run tests/`script` under torchrun in 2 CPU processes; what each wrote (caught-<rank>.json).
    Past `timeout` seconds the run is stopped (torchrun stops its workers on SIGTERM): a hang
    fails the test, never hangs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               str(ROOT / "tests" / script), str(workdir)]
    log = workdir / "log.txt"
    # output to a file: a worker left running holds no pipe open that waiting would read
    with log.open("w") as out, subprocess.Popen(command, cwd=workdir, env=env, stdout=out,
                                                stderr=subprocess.STDOUT) as run:
        try:
            run.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.terminate()  # torchrun's SIGTERM: it stops its workers (they run in sessions
            try:  # of their own, so a kill of its process group would not reach them)
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.kill()
            pytest.fail("a process was left waiting: the run hung until its timeout\n"
                        + log.read_text()[-4000:])
    assert run.returncode == 0, log.read_text()
    return [json.loads((workdir / f"caught-{rank}.json").read_text()) for rank in (0, 1)]


def test_a_label_error_in_one_process_stops_every_process_with_it(tmp_path: Path) -> None:
    """A bad label in one process's share of the data (a float label in its first batch, one
    outside the classes in its first or a later step, or in its validation share), or a
    RuntimeError in its forward pass, stopped that process alone: the others waited in the
    step's gradient all-reduce (or the validation's sum) for ever where the caller caught the
    error, and died of a gloo "Connection closed by peer" traceback where it exited. Now every
    process raises the same one-line error at the same step (the process whose forward pass
    failed, its own RuntimeError; the others, one line naming it), and the process group
    stays usable (the worker's barrier after its cases). Past its timeout the run is stopped
    (torchrun stops its workers on SIGTERM): a hang fails the test, never hangs it."""
    caught = run_workers("ddp_label_worker.py", tmp_path, timeout=240)
    out_of_range = "{}: labels must lie in [0, 3] (the 4 classes of the model's exits), got {}"
    expected = {
        "float-first-step": ["LabelError", "labels: expected an integer class index per "
                             "sample, got float labels such as 2.5"],
        "range-later-step": ["ArtifactError", out_of_range.format("train_set", "[0, 99]")],
        "range-first-step": ["ArtifactError", out_of_range.format("train_set", "[1, 99]")],
        "range-validation": ["ArtifactError", out_of_range.format("val_set", "[0, 99]")],
    }
    stopped = ("{}: process 1 of 2 stopped with RuntimeError: rank 1 fails in pass {} (its "
               "traceback is in that process's output)")
    assert caught == [
        {**expected, "forward-error": ["EENetError", stopped.format("train", 2)],
         "forward-error-validation": ["EENetError", stopped.format("val_set", 1)]},
        {**expected, "forward-error": ["RuntimeError", "rank 1 fails in pass 2\nsecond line"],
         "forward-error-validation": ["RuntimeError", "rank 1 fails in pass 1\nsecond line"]},
    ]


def test_a_backward_or_step_error_in_one_process_stops_every_process_with_it(
        tmp_path: Path) -> None:
    """An error in one process's backward pass or optimizer step (a GPU running out of memory
    in backward, say) was not shared: after a failed backward pass the others waited in DDP's
    gradient all-reduce (for ever, where the caller caught the error; a gloo traceback, where
    it exited), after a failed step in the next step's collectives. Now that process finishes
    the gradient all-reduce and every process raises the error at the next step (or, after the
    last step, at the epoch's end): its own RuntimeError there, one line naming it on the
    others; and the process group stays usable (the worker's runs and barrier after its cases).
    A run that diverges stops every process with the same line (its training loss summed over
    both, as the validation counts are). The last run counts the all-reduces of 2 epochs of 4
    steps: one before each epoch's first step, one per step, and one at its end (the training
    loss and the validation counts summed together, with whether any process failed): 12, not
    14."""
    caught = run_workers("ddp_step_worker.py", tmp_path, timeout=150)
    stopped = ("train: process 1 of 2 stopped with RuntimeError: rank 1 fails in call {} (its "
               "traceback is in that process's output)")
    calls = {"backward-error": 2, "step-error": 2, "step-error-last-step": 4,
             "backward-error-last-step": 4}
    diverged = ["ConfigError", "train: training diverged in epoch 1/1 (train loss nan; weight "
                "segments.0.0.weight is NaN or infinite); lower train.lr"]
    assert caught == [
        {**{case: ["EENetError", stopped.format(n)] for case, n in calls.items()},
         "diverged": diverged, "all-reduces": 12},
        {**{case: ["RuntimeError", f"rank 1 fails in call {n}\nsecond line"]
            for case, n in calls.items()}, "diverged": diverged, "all-reduces": 12},
    ]
