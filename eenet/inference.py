"""Run a multi-exit model over a split and collect every exit's logits (exit-outputs contract)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm  # not tqdm.auto: its asyncio class calls iter() on the loader at once

from eenet.batching import make_loader, to_device
from eenet.devices import memory_names
from eenet.models.base import MultiExitModel
from eenet.outputs import ExitOutputs


@torch.inference_mode()
def collect_exit_logits(
    model: MultiExitModel,
    dataset: Dataset,
    device: torch.device,
    batch_size: int = 512,
    progress: bool = False,
) -> ExitOutputs:
    """Logits of all exits on `dataset`, in order: float32 [n_exits, n_samples, n_classes].
    torch failing to allocate in a batch's forward pass is a one-line ConfigError naming
    dump.batch_size (= `batch_size`)."""
    model.eval().to(device)
    loader = make_loader(dataset, model, batch_size, shuffle=False, seed=0)
    chunks: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    bar = tqdm(loader, desc="exit logits", leave=False, disable=None if progress else True)
    for inputs, y in bar:
        with memory_names("dump.batch_size", batch_size):
            logits = model(to_device(inputs, device))
        chunks.append(torch.stack(logits).float().cpu().numpy())
        labels.append(y.numpy())
    return ExitOutputs(
        np.concatenate(chunks, axis=1).astype(np.float32), np.concatenate(labels).astype(np.int64)
    )
