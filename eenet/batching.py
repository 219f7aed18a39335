"""Batching samples for a model: its collate function in a DataLoader, and moving batches to a
device. Shared by training, logit dumping, profiling and the runtime.

A data set held in memory (a prepared split, `eenet predict --input`'s inputs) reads a batch
at once through `__getitems__` (rows sliced from its arrays, converted together) as a
`SampleBatch`; any other data set, one item at a time. Both the training loader and
`split_batches` (evaluation, logit dumping, measuring, predicting) read batches so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from eenet.distributed import is_distributed, rank, world_size
from eenet.labels import LabelError, holds_integers
from eenet.models.base import MultiExitModel


@dataclass(frozen=True, eq=False)
class SampleBatch(Sequence):
    """Samples read together: their inputs stacked into one tensor (or a list of texts) and
    their labels (int64 [N]). Also the sequence of (input, label) items that a data set's
    `__getitems__` returns, so any collate function takes it; `LabelledCollate` batches it
    without taking it apart."""

    inputs: torch.Tensor | list[str]
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, int | np.integer):
            raise TypeError("a SampleBatch is indexed by one sample's position")
        return self.inputs[index], int(self.labels[index])


def batch_labels(labels: Sequence[Any]) -> torch.Tensor:
    """A batch's labels, one per item (or one tensor or array of them), as int64 [N]: each an
    integer class index (a Python or numpy integer, an integer array or tensor of one value).
    Anything else is a one-line LabelError naming the first label that is none: float
    labels were cut to integers without a word (2.7 read as 2), float tensors, one-hot rows
    and 0-d numpy arrays were a TypeError traceback, as was one value for the whole batch (a
    0-d tensor or array); uint64 labels past int64 wrapped round to negative numbers."""
    if _one_value(labels):
        raise LabelError(f"labels: expected an integer class index per sample, got one value "
                         f"for the whole batch ({_value_described(labels)})")
    if isinstance(labels, torch.Tensor | np.ndarray) or not any(  # torch warns of a list
            isinstance(label, np.ndarray) for label in labels):  # of arrays, not of one
        try:  # the usual case at once: Python integers, or integer tensors of one value
            values = torch.as_tensor(labels)
            if values.ndim == 1 and holds_integers(values):
                classes = values.long()  # negative only where uint64 labels are past int64
                if values.dtype != torch.uint64 or not bool((classes < 0).any()):
                    return classes
        except (TypeError, ValueError, RuntimeError):
            pass
    indices = [_class_index(label) for label in labels]
    if None in indices:
        raise LabelError(f"labels: expected an integer class index per sample, got "
                            f"{_described(labels[indices.index(None)])}")
    return torch.tensor(indices, dtype=torch.long)


def _class_index(label: Any) -> int | None:
    """A label as an integer class index: a Python integer (no bool) that int64 holds, or an
    integer tensor, array or numpy scalar of one value (torch takes no sequence of 0-d
    arrays); None when it is none of these."""
    if isinstance(label, torch.Tensor | np.ndarray | np.generic):
        if math.prod(label.shape) != 1 or not holds_integers(label):
            return None
        label = label.item()
    fits = isinstance(label, int) and not isinstance(label, bool) and abs(label) < 2 ** 63
    return label if fits else None


def _one_value(labels: Any) -> bool:
    """Whether a batch's `labels` are one value, not one per sample: a 0-d tensor or array, or
    anything that is no sequence (a number, None)."""
    if isinstance(labels, torch.Tensor | np.ndarray):
        return labels.ndim == 0
    return not isinstance(labels, Iterable)


def _value_described(value: Any) -> str:
    """One value given as a whole batch's labels (`_one_value`), in words."""
    if isinstance(value, torch.Tensor | np.ndarray):
        kind = "tensor" if isinstance(value, torch.Tensor) else "array"
        return f"a 0-d {kind}: {value.item()!r:.40}"
    if isinstance(value, np.generic):
        return f"{value.dtype} {value.item()!r:.40}"
    return f"{type(value).__name__} {value!r:.40}"


def _described(label: Any) -> str:
    """A label that is no class index (`_class_index`), in words for the error naming it."""
    kind = type(label).__name__
    if isinstance(label, torch.Tensor | np.ndarray | np.generic):
        if math.prod(label.shape) != 1:
            return (f"labels of shape {tuple(label.shape)} per sample (one-hot rows? give "
                    "each sample's class index: argmax)")
        kind, label = str(label.dtype), label.item()
    shown = f"{label:.6g}" if isinstance(label, float) else repr(label)
    huge = isinstance(label, int) and not isinstance(label, bool) and abs(label) >= 2 ** 63
    return (f"{kind} labels such as {shown[:40]}{'...' * (len(shown) > 40)}"
            f"{' (too large for a class index)' * huge}")


def row_index(indices: Sequence[int]) -> slice | np.ndarray:
    """Sample indices as an index into a data set's arrays: a range as a slice (a view, no
    gather), any other sequence as an int64 array."""
    if isinstance(indices, range):
        return slice(indices.start, indices.stop, indices.step)
    return np.asarray(indices, dtype=np.int64)


class LabelledCollate:
    """Batch (input, label) items: the inputs with `collate`, the labels as int64.

    A module-level class, not a closure: DataLoader workers started by spawn or forkserver
    (macOS, Windows, Linux from Python 3.14) receive the collate function pickled.
    """

    def __init__(self, collate: Callable[[list[Any]], Any]) -> None:
        self.collate = collate

    def __call__(self, items: Sequence[tuple[Any, int]]) -> tuple[Any, torch.Tensor]:
        if isinstance(items, SampleBatch):
            return self._collated(items.inputs), items.labels
        inputs, labels = zip(*items, strict=True)
        return self.collate(list(inputs)), batch_labels(labels)

    def _collated(self, inputs: torch.Tensor | list[str]) -> Any:
        """Inputs read together as `collate` would batch them one by one: a stacked tensor
        is what `default_collate` makes of its samples; texts (or a model's own collate of
        tensors) go through `collate`."""
        if isinstance(inputs, torch.Tensor):
            if self.collate is torch.utils.data.default_collate:
                return inputs
            return self.collate(list(inputs.unbind(0)))
        return self.collate(list(inputs))


def read_batch(dataset: Dataset, indices: Sequence[int],
               collate: Callable[[list[Any]], Any]) -> tuple[Any, torch.Tensor]:
    """The samples `indices` of `dataset` as one (inputs, int64 labels) batch, inputs
    batched by `collate`: through the data set's `__getitems__` where it has one (as a
    DataLoader reads), else item by item."""
    read_many = getattr(dataset, "__getitems__", None)
    items = read_many(indices) if callable(read_many) else [dataset[i] for i in indices]
    return LabelledCollate(collate)(items)


def split_batches(
    dataset: Dataset, model: MultiExitModel, batch_size: int, *, limit: int | None = None,
    shard: bool = False,
) -> Iterator[tuple[Any, torch.Tensor]]:
    """(inputs, int64 labels) batches of `batch_size` samples of `dataset` in order, inputs
    batched as the model's `collate` does: the one reader of evaluation, logit dumping,
    measuring and predicting. `limit`: the first `limit` samples only (None or 0: all).
    With `shard` under DDP, every `world_size`-th sample from `rank` (each sample exactly
    once over all ranks)."""
    rows = range(len(dataset))  # type: ignore[arg-type]
    if limit:
        rows = rows[:int(limit)]
    if shard and is_distributed():
        rows = rows[rank()::world_size()]
    collate = model.collate_function()  # now: a model that cannot batch says so at once
    size = int(batch_size)
    return (read_batch(dataset, rows[start:start + size], collate)
            for start in range(0, len(rows), size))


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
