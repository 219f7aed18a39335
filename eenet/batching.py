"""Batching samples for a model: its collate function in a DataLoader, and moving batches to a
device. Shared by training, logit dumping, profiling and the runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from eenet.distributed import is_distributed, rank, world_size
from eenet.models.base import MultiExitModel


class LabelledCollate:
    """Batch (input, label) items: the inputs with `collate`, the labels as int64.

    A module-level class, not a closure: DataLoader workers started by spawn or forkserver
    (macOS, Windows, Linux from Python 3.14) receive the collate function pickled.
    """

    def __init__(self, collate: Callable[[list[Any]], Any]) -> None:
        self.collate = collate

    def __call__(self, items: list[tuple[Any, int]]) -> tuple[Any, torch.Tensor]:
        inputs, labels = zip(*items, strict=True)
        return self.collate(list(inputs)), torch.as_tensor(labels, dtype=torch.long)


def make_loader(
    dataset: Dataset, model: MultiExitModel, batch_size: int, shuffle: bool, seed: int,
    num_workers: int = 0, shard: bool = False,
) -> DataLoader:
    """A loader that batches inputs with the model's `collate`.

    With `shard` under DDP, each process reads its own part: training (`shuffle`) through a
    `DistributedSampler` (equal batch counts on every rank, as DDP needs), evaluation through
    every `world_size`-th sample from `rank` (each sample exactly once over all ranks).
    """
    if not shuffle:  # one batch past the dataset's size batches the same, and a DataLoader
        # takes no batch size beyond sys.maxsize (training drops a short last batch: kept)
        batch_size = min(int(batch_size), max(len(dataset), 1))
    sampler = None
    if shard and is_distributed():
        if shuffle:
            sampler = DistributedSampler(dataset, shuffle=True, seed=seed)
        else:
            sampler = range(rank(), len(dataset), world_size())
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        collate_fn=LabelledCollate(model.collate_function()),  # holds no model
        num_workers=num_workers,
        generator=generator,
        drop_last=shuffle,
    )


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor or a dict/list of tensors to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def epoch_seed(seed: int, epoch: int) -> int:
    """The training loader's seed for `epoch` of a run seeded `seed`: a different one for
    every (seed, epoch) pair. (seed + epoch, DistributedSampler's own convention, gave the run
    of seed 1 the order seed 0 had one epoch later, so runs of neighbouring seeds saw the
    same batches.)"""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0] >> 1)


def reseed_loader(loader: DataLoader, seed: int) -> None:
    """Make a training loader's next pass draw from `seed` alone: its generator (the shuffle,
    then the workers' base seed), and a DistributedSampler's permutation (which adds its
    epoch to its seed: kept at 0, so `seed` is the whole of it)."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.seed = seed
        loader.sampler.set_epoch(0)
    assert loader.generator is not None  # make_loader gives every loader one
    loader.generator.manual_seed(seed)
