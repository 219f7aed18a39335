"""Loading prepared data: samples one by one vs batches read at once. Prints seconds and ratios.

On synthetic arrays in a temporary folder (`--samples` of each kind, MNIST-1D's length-40
sequences and CIFAR's 32x32x3 images), one process, `--threads` torch threads, best of
`--repeats`:

- training augmentation, a shuffled epoch at `--train-batch`: each image cropped and flipped
  by torchvision under a per-sample `fork_rng` (the per-sample path this project had, kept
  here as the reference) vs the loader reading each batch at once (`eenet.data.augment`);
- evaluation batches at `--eval-batch`: a DataLoader over the split's items one by one
  (`default_collate`) vs `eenet.batching.split_batches` (rows sliced, converted together),
  checked identical (torch.equal);
- text labels of a `datasets` split: the Python scan of every label vs its Arrow integers.

Prints figures; asserts nothing but that the evaluation batches are identical.

Usage (repository root):
    python benchmarks/loading.py [--samples 10000] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eenet.batching import DatasetView, make_loader, split_batches
from eenet.checks import check_integer
from eenet.cli import script_cli
from eenet.data.prepared import PreparedDataset, write_meta, write_split
from eenet.models.base import MultiExitModel

MEAN, STD = [0.491, 0.482, 0.447], [0.247, 0.243, 0.262]


class OneByOne(DatasetView):
    """A data set read item by item (no `__getitems__`), as every split was."""


class TorchvisionPerSample(OneByOne):
    """The per-sample augmentation as it was: torchvision's crop and flip of each image, the
    torch generator forked and seeded from (seed, epoch, index) for every sample."""

    def __init__(self, dataset: PreparedDataset, seed: int, epoch: int) -> None:
        from torchvision.transforms import v2

        super().__init__(dataset)
        self.draw = (seed, epoch)
        size = list(dataset.x.shape[1:3])
        self.transform = v2.Compose([v2.RandomCrop(size, padding=4), v2.RandomHorizontalFlip()])
        self.mean, self.std = dataset._mean, dataset._std

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from eenet.data.prepared import unit_pixels

        image = unit_pixels(self.dataset.x[index][None])[0]
        seed = np.random.SeedSequence([*self.draw, int(index)]).generate_state(1, np.uint64)[0]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            image = self.transform(image)
        return (image - self.mean) / self.std, int(self.dataset.y[index])


def write_data(root: Path, n: int) -> None:
    """Random prepared `sequence/` and `image/` train splits of `n` samples each."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    write_split(root / "sequence", "train", rng.standard_normal((n, 40)).astype(np.float32),
                labels)
    write_meta(root / "sequence", {"dataset": "s", "kind": "sequence", "num_classes": 10,
                                   "input_shape": [1, 40]})
    write_split(root / "image", "train",
                rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), labels)
    write_meta(root / "image", {"dataset": "i", "kind": "image", "num_classes": 10,
                                "input_shape": [3, 32, 32], "mean": MEAN, "std": STD})


def best_seconds(run: Callable[[], Any], repeats: int) -> float:
    """The fastest of `repeats` runs of `run`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def report(label: str, before: float, after: float) -> None:
    print(f"{label:<44} {before:9.4f} s {after:9.4f} s {before / after:8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--eval-batch", type=int, default=512)
    parser.add_argument("--labels", type=int, default=120_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for name in ("samples", "train_batch", "eval_batch", "labels", "repeats", "threads"):
        check_integer(f"--{name.replace('_', '-')}", getattr(args, name), 1)
    torch.set_num_threads(args.threads)
    model = MultiExitModel()  # batches with default_collate, as every tensor model does
    print(f"{args.samples} samples, {args.threads} torch thread(s); best of {args.repeats}")
    print(f"{'':<44} {'one by one':>11} {'batched':>11} {'ratio':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        write_data(Path(tmp), args.samples)
        images = PreparedDataset(Path(tmp) / "image", "train", augment=True)
        images.set_epoch(3, seed=0)
        per_sample = TorchvisionPerSample(images, 0, 3)
        epochs = [best_seconds(lambda data=data: list(make_loader(
            data, model, args.train_batch, True, seed=0)), args.repeats)
            for data in (per_sample, images)]
        report(f"augmented training epoch, batch {args.train_batch}", *epochs)
        for kind in ("sequence", "image"):
            split = PreparedDataset(Path(tmp) / kind, "train")
            one_by_one = list(make_loader(OneByOne(split), model, args.eval_batch, False, 0))
            batched = list(split_batches(split, model, args.eval_batch))
            if not all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
                       for a, b in zip(one_by_one, batched, strict=True)):
                raise SystemExit(f"{kind}: the batches differ")
            report(f"{kind} evaluation batches, batch {args.eval_batch} (same)", best_seconds(
                lambda split=split: list(make_loader(OneByOne(split), model, args.eval_batch,
                                                     False, 0)), args.repeats),
                best_seconds(lambda split=split: list(split_batches(split, model,
                                                                    args.eval_batch)),
                             args.repeats))
    text_labels(args.labels, args.repeats)


def text_labels(rows: int, repeats: int) -> None:
    """A `datasets` split's integer label column: scanned label by label (as every column
    was) vs read as Arrow integers (`eenet.data.text._label_column`); skipped without the
    `text` extra."""
    try:
        import datasets
    except ImportError:
        print("text labels: skipped (no datasets package: the text extra)")
        return
    from eenet.data.text import AG_NEWS, _class_numbers, _label_column

    split = datasets.Dataset.from_dict(
        {"label": np.random.default_rng(1).integers(0, 4, rows).tolist()})
    report(f"text labels, {rows} rows", best_seconds(
        lambda: _class_numbers(split["label"][:], AG_NEWS, "train"), repeats),
        best_seconds(lambda: _class_numbers(_label_column(split), AG_NEWS, "train"), repeats))


if __name__ == "__main__":
    script_cli(main)
