"""Run a multi-exit model over a split and collect every exit's logits (exit-outputs contract)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm  # not tqdm.auto: its asyncio class calls iter() on the loader at once

from eenet.atomic import atomic_directory
from eenet.batching import split_batches, to_device
from eenet.checks import check_minimums
from eenet.data.prepared import split_for_model
from eenet.devices import memory_names, resolve_device, torch_device
from eenet.errors import ArtifactError
from eenet.models.artifact import load_trained
from eenet.models.base import MultiExitModel
from eenet.outputs import ExitOutputs, first_row_without_answer, save_exit_outputs

DUMP_SPLITS = ("val", "test")


@torch.inference_mode()
def collect_exit_logits(
    model: MultiExitModel,
    dataset: Dataset,
    device: torch.device | str,
    batch_size: int = 512,
    progress: bool = False,
    desc: str = "exit logits",
) -> ExitOutputs:
    """Logits of all exits on `dataset`, in order: float32 [n_exits, n_samples, n_classes].
    `device`: a torch.device or a name ('auto', 'cpu', 'cuda', 'cuda:N'; one this machine
    lacks is a one-line ConfigError, `eenet.devices.torch_device`). `progress`: a tqdm bar
    named `desc` on stderr where stderr is a terminal (none in a log). torch failing to
    allocate in a batch's forward pass is a one-line ConfigError naming dump.batch_size
    (= `batch_size`)."""
    device = torch_device(device)
    model.eval().to(device)
    chunks: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    bar = tqdm(split_batches(dataset, model, batch_size), desc=desc, leave=False,
               total=math.ceil(len(dataset) / batch_size),  # type: ignore[arg-type]
               disable=None if progress else True)
    for inputs, y in bar:
        with memory_names("dump.batch_size", batch_size):
            logits = model(to_device(inputs, device))
        chunks.append(torch.stack(logits).float().cpu().numpy())
        labels.append(y.numpy())
    return ExitOutputs(
        np.concatenate(chunks, axis=1).astype(np.float32), np.concatenate(labels).astype(np.int64)
    )


def dump_exit_outputs(
    model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
    *, batch_size: int = 512, device: str = "auto",
) -> dict[str, ExitOutputs]:
    """Every exit's logits of a saved model on the prepared validation and test splits,
    written as `out_dir`/val.npz and test.npz (the folder swapped in whole: both splits from
    this model, or the old pair). Returns the outputs by split. The keyword arguments are the
    params.yaml group `dump`. A progress bar per split shows on a terminal's stderr only: under
    `dvc repro` with a log, or a redirect, nothing floods it."""
    check_minimums("dump", {"batch_size": (batch_size, 1)})
    target = resolve_device(device, "dump.device")
    model = load_trained(model_dir)
    dumped = {}
    with atomic_directory(out_dir) as tmp:
        for split in DUMP_SPLITS:
            dataset = split_for_model(model, model_dir, data_dir, split)
            dumped[split] = collect_exit_logits(model, dataset, target, batch_size,
                                                progress=True, desc=f"{split} exit logits")
            check_model_answers(dumped[split].logits, model_dir, f"the {split} split")
            save_exit_outputs(Path(tmp) / f"{split}.npz", dumped[split])
    return dumped


def check_model_answers(logits: np.ndarray, model_dir: str | os.PathLike, inputs: str) -> None:
    """A one-line ArtifactError naming the model (`model_dir`) where it gave `inputs` a row of
    logits with no answer (NaN, +inf or -inf for every class): weights that overflow, which
    the outputs' own check would blame on the file being written."""
    first = first_row_without_answer(logits)
    if first is not None:
        exit_k, sample, count = first
        raise ArtifactError(
            f"{model_dir}: the model gave NaN or infinite logits on {inputs} (exit {exit_k}, "
            f"sample {sample}; {count} of {logits.shape[0] * logits.shape[1]} rows): its "
            "weights overflow on these inputs (far outside the range it was trained on?); "
            "train it again")
