"""One batch reader: a prepared split's batches are read at once (its rows sliced, converted
together) and hold exactly the tensors its samples read one by one batch into."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from benchmarks.loading import OneByOne
from eenet import batching
from eenet.batching import LabelledCollate, make_loader, split_batches
from eenet.commands.predict_inputs import input_batches
from eenet.data.prepared import PreparedDataset, write_meta, write_split
from eenet.errors import ArtifactError
from eenet.labels import MODEL_EXITS, batch_labels, check_label_range, holds_integers
from tests.runtime_helpers import TinyNet

REPO = Path(__file__).resolve().parents[1]
N_SAMPLES = 23  # batches of 5: a short last one


def write_kind(root, kind: str) -> None:
    """A small prepared train split of `kind`: sequences, images or texts."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, N_SAMPLES)
    meta: dict[str, Any] = {"dataset": kind, "kind": kind, "num_classes": 4}
    if kind == "sequence":
        x = rng.standard_normal((N_SAMPLES, 32)).astype(np.float32)
        meta["input_shape"] = [1, 32]
    elif kind == "image":
        x = rng.integers(0, 256, (N_SAMPLES, 8, 8, 3), dtype=np.uint8)
        meta.update(input_shape=[3, 8, 8], mean=[0.49, 0.48, 0.45], std=[0.25, 0.24, 0.26])
    else:
        words = np.array(["market", "game", "été", "數據", "a", ""])
        x = np.array([" ".join(rng.choice(words, int(rng.integers(0, 6))))
                      for _ in range(N_SAMPLES)], dtype=object)
    write_split(root, "train", x, y)
    write_meta(root, meta)


def word_counts(texts: list[str]) -> torch.Tensor:
    """A stand-in tokeniser (module level: loader workers get it pickled)."""
    return torch.tensor([len(t.split()) for t in texts])


def stack_plus_one(samples: list[torch.Tensor]) -> torch.Tensor:
    """A model's own collate of tensors."""
    return torch.stack(samples) + 1


class OwnCollate(TinyNet):
    """A model batching its samples with its own collate function."""

    def __init__(self, collate: Any) -> None:
        super().__init__(num_classes=4)
        self.collate_with = collate

    def collate_function(self) -> Any:
        return self.collate_with


def per_sample_batches(dataset: Dataset, model: TinyNet, batch_size: int,
                       rows: Any = None) -> list[tuple[Any, torch.Tensor]]:
    """The batches a DataLoader makes of `dataset`'s items one by one (`rows` of it)."""
    loader = DataLoader(OneByOne(dataset), batch_size=batch_size, sampler=rows,
                        collate_fn=LabelledCollate(model.collate_function()))
    return list(loader)


def assert_same_batches(got: list, expected: list) -> None:
    assert len(got) == len(expected)
    for (inputs, labels), (want_inputs, want_labels) in zip(got, expected, strict=True):
        assert labels.dtype == torch.long and torch.equal(labels, want_labels)
        if isinstance(want_inputs, torch.Tensor):
            assert inputs.dtype == want_inputs.dtype and inputs.is_contiguous()
            assert torch.equal(inputs, want_inputs)
        else:
            assert inputs == want_inputs


@pytest.mark.parametrize("kind", ["sequence", "image", "text"])
def test_split_batches_hold_the_tensors_of_the_samples_one_by_one(tmp_path, kind):
    write_kind(tmp_path, kind)
    dataset = PreparedDataset(tmp_path, "train")
    model = TinyNet(num_classes=4) if kind != "text" else OwnCollate(word_counts)
    expected = per_sample_batches(dataset, model, 5)
    assert_same_batches(list(split_batches(dataset, model, 5)), expected)
    assert_same_batches(list(split_batches(dataset, model, 10**12)),  # one batch of all
                        per_sample_batches(dataset, model, N_SAMPLES))
    assert_same_batches(list(split_batches(dataset, model, 5, limit=7)), expected[:1] + [
        (expected[1][0][:2], expected[1][1][:2])])


@pytest.mark.parametrize("kind", ["sequence", "image", "text"])
def test_a_training_loader_reads_the_batches_of_the_samples_one_by_one(tmp_path, kind):
    """The training loader reads each shuffled batch at once: the batches the same samples,
    in the same order, read one by one would make."""
    write_kind(tmp_path, kind)
    dataset = PreparedDataset(tmp_path, "train", augment=True)
    dataset.set_epoch(2, seed=5)
    model = TinyNet(num_classes=4) if kind != "text" else OwnCollate(word_counts)
    batched = list(make_loader(dataset, model, 5, True, seed=11))
    one_by_one = list(make_loader(OneByOne(dataset), model, 5, True, seed=11))
    assert len(batched) == N_SAMPLES // 5  # the short last batch dropped
    assert_same_batches(batched, one_by_one)


def test_evaluation_shards_read_every_world_size_th_sample(tmp_path, monkeypatch):
    """Under DDP each process validates the samples rank, rank + world_size, ...: each
    sample once over all processes, as its sampler did."""
    write_kind(tmp_path, "image")
    dataset = PreparedDataset(tmp_path, "train")
    model = TinyNet(num_classes=4)
    monkeypatch.setattr(batching, "is_distributed", lambda: True)
    monkeypatch.setattr(batching, "world_size", lambda: 3)
    monkeypatch.setattr(batching, "rank", lambda: 1)
    assert_same_batches(list(split_batches(dataset, model, 4, shard=True)),
                        per_sample_batches(dataset, model, 4, range(1, N_SAMPLES, 3)))


def test_a_models_own_collate_gets_the_samples_one_by_one(tmp_path):
    write_kind(tmp_path, "sequence")
    dataset = PreparedDataset(tmp_path, "train")
    model = OwnCollate(stack_plus_one)
    assert_same_batches(list(split_batches(dataset, model, 5)),
                        per_sample_batches(dataset, model, 5))


def test_a_batch_changed_in_place_leaves_the_split_as_it_is(tmp_path):
    write_kind(tmp_path, "sequence")
    dataset = PreparedDataset(tmp_path, "train")
    before = dataset.x.copy()
    for inputs, _ in split_batches(dataset, TinyNet(num_classes=4), 5):
        inputs.zero_()
    np.testing.assert_array_equal(dataset.x, before)
    dataset[3][0].zero_()  # a sample read alone: it was a view of the split's row
    np.testing.assert_array_equal(dataset.x, before)


def test_other_data_sets_are_read_one_item_at_a_time(tmp_path):
    """A data set without `__getitems__` (a user's, or a wrapper) batches as before."""
    write_kind(tmp_path, "sequence")
    wrapped = OneByOne(PreparedDataset(tmp_path, "train"))
    model = TinyNet(num_classes=4)
    assert_same_batches(list(split_batches(wrapped, model, 5)),
                        per_sample_batches(wrapped, model, 5))


def test_predict_input_batches_slice_the_inputs():
    """`eenet predict --input` reads its batches as a prepared split's: slices of the
    inputs, texts through the model's collate, labels None when unknown."""
    inputs = torch.arange(7 * 32, dtype=torch.float32).reshape(7, 1, 32)
    labels = np.array([3, 1, 0, 2, 2, 1, 0])
    model = TinyNet(num_classes=4)
    batches = list(input_batches(model, inputs, labels, 3))
    assert [b[0].shape[0] for b in batches] == [3, 3, 1]
    assert torch.equal(torch.cat([b[0] for b in batches]), inputs)
    assert torch.cat([b[1] for b in batches]).tolist() == labels.tolist()
    texts = ["a b", "c", "", "d e f"]
    batches = list(input_batches(OwnCollate(word_counts), texts, None, 3))
    assert [b[0].tolist() for b in batches] == [[2, 1, 0], [3]]
    assert [b[1] for b in batches] == [None, None]


class GivenLabels(Dataset):
    """A user's data set: one input per item and the label as given, read one at a time."""

    def __init__(self, labels: list[Any]) -> None:
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        return torch.zeros(1, 32), self.labels[index]


@pytest.mark.parametrize("labels, message", [
    ([0, 2.7, 1], "expected an integer class index per sample, got float labels such as "
                  "2.7"),
    ([torch.tensor(1.0), torch.tensor(2.0)], "expected an integer class index per sample, got "
                                             "torch.float32 labels such as 1"),
    ([np.float32(0.1), 2], "expected an integer class index per sample, got float32 labels "
                           "such as 0.1"),
    ([True, False], "expected an integer class index per sample, got bool labels such as "
                    "True"),
    ([np.timedelta64(3, "ns")], "expected an integer class index per sample, got "
                                "timedelta64[ns] labels such as 3"),
    ([None, 1], "expected an integer class index per sample, got NoneType labels such as "
                "None"),
    ([1, 2 ** 70], "expected an integer class index per sample, got int labels such as "
                   "1180591620717411303424 (too large for a class index)"),
    ([torch.tensor([0, 1]), torch.tensor([1, 0])], "expected an integer class index per "
                                                   "sample, got labels of shape (2,) per "
                                                   "sample (one-hot rows? give each "
                                                   "sample's class index: argmax)"),
    ([1, "cat"], "expected an integer class index per sample, got str labels such as 'cat'"),
])
def test_labels_that_are_no_class_indices_are_one_line(labels, message):
    """Float labels were cut to integers without a word (2.7 trained as class 2); float
    tensors and one-hot rows were a TypeError traceback from the collate."""
    with pytest.raises(ArtifactError) as err:
        list(split_batches(GivenLabels(labels), TinyNet(num_classes=4), 5))
    assert str(err.value) == f"labels: {message}"


@pytest.mark.parametrize("labels, message", [
    (torch.tensor(3), "one value for the whole batch (a 0-d tensor: 3)"),
    (np.array(3), "one value for the whole batch (a 0-d array: 3)"),
    (np.array(2.5), "one value for the whole batch (a 0-d array: 2.5)"),
    (np.int64(3), "one value for the whole batch (int64 3)"),
    (3, "one value for the whole batch (int 3)"),
    (np.array([1, 2 ** 63], dtype=np.uint64), "uint64 labels such as 9223372036854775808 (too "
                                              "large for a class index)"),
    (torch.tensor([2 ** 64 - 1, 0], dtype=torch.uint64), "torch.uint64 labels such as "
                                                         "18446744073709551615 (too large for "
                                                         "a class index)"),
])
def test_batch_labels_of_one_value_or_past_int64_are_one_line(labels, message):
    """One value as a whole batch's labels (a 0-d tensor or array, a number) was a TypeError
    traceback ("iteration over a 0-d tensor"); uint64 labels from 2**63 wrapped round to
    negative class indices under .long() (then said to be out of range with a negative
    bound)."""
    with pytest.raises(ArtifactError) as err:
        batch_labels(labels)
    assert str(err.value) == f"labels: expected an integer class index per sample, got {message}"


def test_label_rules_import_no_torch():
    """eenet.labels holds the torch side of the label rules (`batch_labels`) too, yet importing
    it, or eenet.outputs, which checks exit outputs' labels by it, loads no torch: scheduling
    exit outputs stays light."""
    code = ("import sys\nimport eenet.labels, eenet.outputs\n"
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'torch'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_unsigned_labels_within_int64_read_as_they_are():
    """uint64 (and uint8) labels that int64 holds are read as the same class indices."""
    for labels in (np.array([0, 3, 2 ** 63 - 1], dtype=np.uint64),
                   torch.tensor([0, 3, 2 ** 63 - 1], dtype=torch.uint64),
                   np.array([0, 3, 255], dtype=np.uint8)):
        got = batch_labels(labels)
        assert got.dtype == torch.int64 and got.tolist() == [0, 3, int(labels[-1])]


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "bool", "float16",
                                   "float32", "float64", "complex64"])
def test_arrays_and_tensors_of_labels_follow_one_integer_rule(dtype):
    """Exit outputs' labels (numpy) and a batch's (torch) are integers by one rule
    (`holds_integers`): signed or unsigned integers, not bool, float or complex."""
    array = np.zeros(3, dtype=dtype)
    expected = dtype.startswith(("int", "uint"))
    assert holds_integers(array) is holds_integers(torch.from_numpy(array)) is expected


def test_label_range_reads_alike_on_arrays_and_tensors():
    """One range rule and one wording for numpy and torch labels, each caller naming its
    labels and, where it says so, whose classes they are."""
    for labels in (np.array([0, 5, 2]), torch.tensor([0, 5, 2]), torch.tensor([-1, 4])):
        with pytest.raises(ArtifactError) as err:
            check_label_range(labels, 5, "val_set", classes_of=MODEL_EXITS)
        low, high = int(labels.min()), int(labels.max())
        assert str(err.value) == (f"val_set: labels must lie in [0, 4] (the 5 classes of the "
                                  f"model's exits), got [{low}, {high}]")
    with pytest.raises(ArtifactError) as err:
        check_label_range(np.array([3, 9]), 9, "data/val.npz", "'y'")
    assert str(err.value) == "data/val.npz: 'y' must lie in [0, 8] (9 classes), got [3, 9]"
    for fine in (np.arange(5), torch.arange(5), np.zeros(0, dtype=np.int64), torch.zeros(0)):
        check_label_range(fine, 5, "val_set")


def test_integer_labels_of_every_kind_batch_as_int64():
    """Python, numpy and torch integers alike; a batch of 0-d numpy arrays (`np.array(y)`)
    was a TypeError traceback."""
    model = TinyNet(num_classes=4)
    labels = [1, np.int32(2), np.array(3), torch.tensor(0, dtype=torch.uint8), torch.tensor([2])]
    for given, expected in ((labels, [1, 2, 3, 0, 2]), ([np.array(3), np.array(1)], [3, 1])):
        (_, got), = split_batches(GivenLabels(given), model, 5)
        assert got.dtype == torch.long and got.tolist() == expected
