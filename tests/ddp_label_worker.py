"""One process of test_distributed's label-error run (under torchrun, gloo on the CPU).

Trains a small model once per case, where a single process reads a bad label (its own share
of the data) or its model's forward pass fails (a RuntimeError, as a bug or a bad shape
raises), catches the error and goes on to the next case; at the end each process writes what
it caught (caught-<rank>.json). Every process must stop with that error, and the process
group must stay usable: the other processes waited in the step's collectives for ever.
Usage: python -m torch.distributed.run --nproc_per_node 2 ddp_label_worker.py WORKDIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from eenet.distributed import barrier, init_distributed, rank, shutdown_distributed
from eenet.errors import EENetError
from eenet.models import MultiExitModel
from eenet.train_config import TrainConfig
from eenet.training import train_model

# (case, split, rank that reads the bad label, which of its reads (1-based), the label):
# read 3 is in the first step (checked after its forward), read 20 in the third of four;
# split "train-forward" / "val-forward": that rank's forward pass in training (its `read`-th
# step) or in validation (its first batch) raises a RuntimeError
CASES = [
    ("float-first-step", "train", 1, 3, 2.5),
    ("range-later-step", "train", 0, 20, 99),
    ("range-first-step", "train", 1, 3, 99),
    ("range-validation", "val", 1, 1, 99),
    ("forward-error", "train-forward", 1, 2, None),
    ("forward-error-validation", "val-forward", 1, 1, None),
]


class TwoExitMLP(MultiExitModel):
    """Inputs [batch, 8] -> two exits over 4 classes (BatchNorm: DDP broadcasts its buffers at
    every forward, one more collective a process that stopped leaves waiting)."""

    def __init__(self) -> None:
        super().__init__()
        self.segments = nn.ModuleList(
            nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU()) for _ in range(2))
        self.heads = nn.ModuleList(nn.Linear(8, 4) for _ in range(2))


def fail_forward_at(model: nn.Module, step: int, training: bool) -> None:
    """Make the model's `step`-th forward pass (1-based) in training (or, not `training`, in
    validation) raise a RuntimeError of two lines."""
    calls = 0

    def hook(module: nn.Module, inputs: Any) -> None:
        nonlocal calls
        if module.training != training:
            return
        calls += 1
        if calls == step:
            raise RuntimeError(f"rank {rank()} fails in pass {step}\nsecond line")

    model.segments[1].register_forward_pre_hook(hook)


class OneBadRead(Dataset):
    """`n` samples of 4 classes; on process `bad_rank` only, its `bad_read`-th item read has
    the label `bad_label`."""

    def __init__(self, n: int, bad_rank: int | None = None, bad_read: int = 0,
                 bad_label: Any = None) -> None:
        self.x = torch.randn(n, 8, generator=torch.Generator().manual_seed(0))
        self.y = self.x[:, :4].argmax(1).tolist()
        self.bad_read = bad_read if bad_rank == rank() else 0
        self.bad_label = bad_label
        self.reads = 0

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        self.reads += 1
        label = self.bad_label if self.reads == self.bad_read else self.y[index]
        return self.x[index], label


def main(workdir: Path) -> None:
    init_distributed()  # before the data sets, which read their rank
    config = TrainConfig(epochs=1, batch_size=8, threads=1, device="cpu")
    caught = {}
    for case, split, bad_rank, bad_read, label in CASES:
        bad = OneBadRead(64 if split == "train" else 32, bad_rank, bad_read, label)
        train = bad if split == "train" else OneBadRead(64)
        val = bad if split == "val" else OneBadRead(32)
        torch.manual_seed(0)
        model = TwoExitMLP()
        if split.endswith("-forward") and rank() == bad_rank:
            fail_forward_at(model, bad_read, training=split == "train-forward")
        try:
            train_model(model, train, val, config, workdir / case, fingerprint=case,
                        progress=False)
            caught[case] = None
        except (EENetError, RuntimeError) as exc:
            caught[case] = [type(exc).__name__, str(exc)]
    barrier()  # every process here: none left waiting
    (workdir / f"caught-{rank()}.json").write_text(json.dumps(caught))
    shutdown_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
