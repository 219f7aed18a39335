"""Batching samples for a model: its collate function in a DataLoader, and moving batches to a
device. Shared by training, logit dumping, profiling and the runtime.

A data set held in memory (a prepared split, `eenet predict --input`'s inputs) reads a batch
at once through `__getitems__` (rows sliced from its arrays, converted together) as a
`SampleBatch`; any other data set, one item at a time. Both the training loader and
`split_batches` (evaluation, logit dumping, measuring, predicting) read batches so.

An error met reading a batch in a DataLoader worker process (a label that is no class index,
say) comes to the main process as the batch (`WorkerFailure`), which `BatchLoader` raises there
in one line: an EENetError as it was; any other of its class, naming the worker, the batch's
samples and the frame that raised it, the worker's traceback its `__cause__`. torch would raise
its class with the worker's traceback for message, a paragraph.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info
from torch.utils.data.distributed import DistributedSampler

from eenet.distributed import is_distributed, rank, world_size
from eenet.errors import ArtifactError, EENetError, first_line, one_line
from eenet.labels import batch_labels
from eenet.models.base import MultiExitModel, map_tensors


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


def row_index(indices: Sequence[int]) -> slice | np.ndarray:
    """Sample indices as an index into a data set's arrays: a range as a slice (a view, no
    gather), any other sequence as an int64 array."""
    if isinstance(indices, range):
        return slice(indices.start, indices.stop, indices.step)
    return np.asarray(indices, dtype=np.int64)


@dataclass(frozen=True)
class WorkerFailure:
    """An error a DataLoader worker met reading a batch, sent in the batch's place: its class
    and its one-line message; for an error other than an EENetError, also the worker's
    traceback (`trace`). Raised, torch would send the worker's traceback as the message (or a
    RuntimeError of it, for a class it cannot rebuild)."""

    kind: type[Exception]
    message: str
    trace: str = ""

    def error(self) -> Exception:
        """The error as the main process raises it: an EENetError as it would have been
        raised there (an EENetError of the message where its class takes no message alone);
        any other of its class and one-line message, the worker's traceback its `__cause__`
        (an error of that class too), each a RuntimeError naming the class where the class
        takes no message alone."""
        if issubclass(self.kind, EENetError):
            try:
                return self.kind(self.message)
            except TypeError:
                return EENetError(self.message)
        error = rebuilt(self.kind, self.message)
        error.__cause__ = rebuilt(self.kind, self.trace)
        return error


class KeyErrorMessage(str):
    """A KeyError's message that prints as it is: a KeyError's text is the repr of its
    argument, which would quote the line and write a traceback's line breaks as \\n."""

    def __repr__(self) -> str:
        return str.__str__(self)


def rebuilt(kind: type[Exception], message: str) -> Exception:
    """An error of class `kind` with `message` (a KeyError's printed as it is, unquoted); a
    RuntimeError of the class's name and `message` where the class takes no message alone
    (UnicodeDecodeError, say)."""
    if issubclass(kind, KeyError):
        message = KeyErrorMessage(message)
    try:
        return kind(message)
    except Exception:
        return RuntimeError(f"{kind.__name__}: {message}")


Read = TypeVar("Read")


def carried(read: Callable[[], Read], samples: Sequence[int] | None = None,
            ) -> Read | WorkerFailure:
    """`read()`; in a DataLoader worker, an error it raises as a `WorkerFailure` (in the main
    process it is raised as it is): an EENetError's own message; any other error's first line
    and where it was met (the worker, the batch's `samples` where given, the frame that
    raised it), with the worker's traceback."""
    try:
        return read()
    except EENetError as exc:
        if get_worker_info() is None:
            raise
        return WorkerFailure(type(exc), str(exc))
    except Exception as exc:
        worker = get_worker_info()
        if worker is None:
            raise
        return WorkerFailure(type(exc), worker_message(exc, worker.id, samples),
                             f"in DataLoader worker {worker.id}:\n"
                             + "".join(traceback.format_exception(exc)).rstrip())


# the samples of a batch a worker's error names, the first of them (a batch may hold thousands)
NAMED_SAMPLES = 4


def worker_message(exc: Exception, worker: int, samples: Sequence[int] | None) -> str:
    """A worker's error of any kind in one line: its first line, then the worker, the samples
    of the batch it read (where known) and the innermost frame of its traceback."""
    where = [f"DataLoader worker {worker}"]
    if samples is not None:
        named = ", ".join(str(int(i)) for i in list(samples)[:NAMED_SAMPLES])
        more = f", ... ({len(samples)} in all)" if len(samples) > NAMED_SAMPLES else ""
        where.append(f"reading samples {named}{more}")
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        frame = frames[-1]
        where.append(f"at {frame.filename}:{frame.lineno} in {frame.name}")
    return f"{one_line(first_line(exc))} ({', '.join(where)})"


def read_items(dataset: Dataset, indices: Sequence[int]) -> Sequence[Any]:
    """The samples `indices` of `dataset`, as a DataLoader reads them: through its
    `__getitems__` where it has one, else item by item."""
    read_many = getattr(dataset, "__getitems__", None)
    return read_many(indices) if callable(read_many) else [dataset[i] for i in indices]


class DatasetView(Dataset):
    """`dataset`'s items and length, nothing else: read through it, a data set is read item
    by item (a subclass may add its own `__getitems__`)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index]


class CarriedErrors(DatasetView):
    """`dataset` as a DataLoader reads it, an error of its reads in a worker process carried
    to the main process (`carried`, naming the batch's samples)."""

    def __getitems__(self, indices: Sequence[int]) -> Sequence[Any] | WorkerFailure:
        return carried(lambda: read_items(self.dataset, indices), indices)


class BatchLoader(DataLoader):
    """A DataLoader that raises a worker's `WorkerFailure` in the main process in one line:
    an EENetError as `num_workers=0` raises it, any other as `WorkerFailure.error` says."""

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        for batch in super().__iter__():
            if isinstance(batch, WorkerFailure):
                raise batch.error()
            yield batch


class LabelledCollate:
    """Batch (input, label) items: the inputs with `collate`, the labels as int64.

    A module-level class, not a closure: DataLoader workers started by spawn or forkserver
    (macOS, Windows, Linux from Python 3.14) receive the collate function pickled.
    """

    def __init__(self, collate: Callable[[list[Any]], Any]) -> None:
        self.collate = collate

    def __call__(self, items: Sequence[tuple[Any, int]] | WorkerFailure,
                 ) -> tuple[Any, torch.Tensor] | WorkerFailure:
        if isinstance(items, WorkerFailure):  # a worker's read failed: passed on
            return items
        return carried(lambda: self._batched(items))

    def _batched(self, items: Sequence[tuple[Any, int]]) -> tuple[Any, torch.Tensor]:
        """The items as one (inputs, int64 labels) batch."""
        if isinstance(items, SampleBatch):
            return self._collated(items.inputs), items.labels
        try:
            inputs, labels = zip(*items, strict=True)
        except (TypeError, ValueError):  # an item of inputs alone, or of more than a label
            raise ArtifactError(unpaired_message(items)) from None
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


def unpaired_message(items: Sequence[Any]) -> str:
    """What is wrong with a batch's items that are not all (inputs, label) pairs: the first
    such item's kind and length."""
    item = next((i for i in items if not (isinstance(i, tuple | list) and len(i) == 2)), None)
    kind = ("no samples" if item is None else  # pairs all: only an empty batch fails
            f"a {type(item).__name__} of {len(item)} item{'s' if len(item) != 1 else ''}"
            if isinstance(item, tuple | list) else f"a {type(item).__name__}")
    return ("dataset: each sample must be an (inputs, label) pair, as a TensorDataset(x, y) "
            f"gives; got {kind}")


def read_batch(dataset: Dataset, indices: Sequence[int],
               collate: Callable[[list[Any]], Any]) -> tuple[Any, torch.Tensor]:
    """The samples `indices` of `dataset` as one (inputs, int64 labels) batch, inputs
    batched by `collate`: through the data set's `__getitems__` where it has one (as a
    DataLoader reads), else item by item."""
    return LabelledCollate(collate)._batched(read_items(dataset, indices))


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
    """A loader that batches inputs with the model's `collate`. An EENetError met reading a
    batch in a worker process (`num_workers` > 0) is raised as in the main process: its own
    class and one-line message; any other error, of its class in one line naming the worker,
    the batch's samples and the frame that raised it (`BatchLoader`).

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
    return BatchLoader(
        CarriedErrors(dataset),
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
    return map_tensors(batch, lambda t: t.to(device, non_blocking=True))


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
