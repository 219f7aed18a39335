"""One process of test_distributed's backward/step-error run (torchrun, gloo on the CPU).

Trains a small model once per case, where one process's backward pass or optimizer step
fails (a RuntimeError of two lines) at a given step, catches the error and goes on to the
next case; then once diverging (on every process); then once without error, counting the
all-reduces `eenet.distributed` makes; at the end each process writes what it caught and
counted (caught-<rank>.json).
Usage: python -m torch.distributed.run --nproc_per_node 2 ddp_step_worker.py WORKDIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from ddp_label_worker import OneBadRead, TwoExitMLP
from torch.optim.optimizer import register_optimizer_step_pre_hook

from eenet.distributed import barrier, init_distributed, rank, shutdown_distributed
from eenet.errors import EENetError
from eenet.train_config import TrainConfig
from eenet.training import train_model

# (case, what fails on rank 1, at which of its training steps (1-based; 4 steps an epoch))
CASES = [
    ("backward-error", "backward", 2),
    ("step-error", "step", 2),
    ("step-error-last-step", "step", 4),
    ("backward-error-last-step", "backward", 4),
]


def failing_at(step: int) -> Any:
    """A hook that raises a RuntimeError of two lines at its `step`-th call (1-based)."""
    calls = 0

    def hook(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == step:
            raise RuntimeError(f"rank {rank()} fails in call {step}\nsecond line")

    return hook


def main(workdir: Path) -> None:
    init_distributed()
    config = TrainConfig(epochs=1, batch_size=8, threads=1, device="cpu")
    caught: dict[str, Any] = {}
    for case, where, step in CASES:
        torch.manual_seed(0)
        model = TwoExitMLP()
        handle = None
        if rank() == 1 and where == "backward":  # the first layer's weight: its gradient last
            handle = model.segments[0][0].weight.register_hook(failing_at(step))
        if rank() == 1 and where == "step":
            handle = register_optimizer_step_pre_hook(failing_at(step))
        try:
            train_model(model, OneBadRead(64), OneBadRead(32), config, workdir / case,
                        fingerprint=case, progress=False)
            caught[case] = None
        except (EENetError, RuntimeError) as exc:
            caught[case] = [type(exc).__name__, str(exc)]
        if handle is not None:
            handle.remove()
    # a learning rate far too high: every process finds the same weight NaN, and raises the
    # same line (its train loss summed over both)
    torch.manual_seed(0)
    try:
        train_model(TwoExitMLP(), OneBadRead(64), OneBadRead(32),
                    TrainConfig(epochs=1, batch_size=8, threads=1, device="cpu", lr=1e30),
                    workdir / "diverged", fingerprint="diverged", progress=False)
        caught["diverged"] = None
    except EENetError as exc:
        caught["diverged"] = [type(exc).__name__, str(exc)]
    reduces = 0
    reduce = dist.all_reduce

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reduces
        reduces += 1
        return reduce(*args, **kwargs)

    dist.all_reduce = counted  # eenet.distributed's calls (DDP's own run in C++)
    torch.manual_seed(0)
    train_model(TwoExitMLP(), OneBadRead(64), OneBadRead(32),
                TrainConfig(epochs=2, batch_size=8, threads=1, device="cpu"),
                workdir / "counted", fingerprint="counted", progress=False)
    dist.all_reduce = reduce
    caught["all-reduces"] = reduces
    barrier()  # every process here: none left waiting
    (workdir / f"caught-{rank()}.json").write_text(json.dumps(caught))
    shutdown_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
