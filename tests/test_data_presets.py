"""The paper presets' data: CIFAR through torchvision, AG News / SST-2 through `datasets`."""

from __future__ import annotations

import numpy as np
import pytest

from eenet.data import prepare_dataset
from eenet.data.prepared import PreparedDataset, read_meta, read_split
from eenet.errors import EENetError
from tests.preset_fixtures import write_cifar10, write_cifar100


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_cifar10(root)
    write_cifar100(root)
    return root


def test_cifar10_prepare_holds_out_val_by_seed(cifar_root, tmp_path):
    meta = prepare_dataset(
        "cifar10",
        tmp_path / "a",
        3,
        root=cifar_root,
        val_size=50,
        download=False,
        checksums=False,
    )
    assert meta["kind"] == "image" and meta["num_classes"] == 10
    assert meta["sizes"] == {"train": 150, "val": 50, "test": 30}
    assert read_meta(tmp_path / "a") == meta
    x, y = read_split(tmp_path / "a", "train")
    assert x.dtype == np.uint8 and x.shape == (150, 32, 32, 3) and y.dtype == np.int64
    assert len(meta["mean"]) == 3 and all(0.2 < s < 0.4 for s in meta["std"])
    # same seed -> same split; another seed -> another split
    prepare_dataset(
        "cifar10",
        tmp_path / "b",
        3,
        root=cifar_root,
        val_size=50,
        download=False,
        checksums=False,
    )
    prepare_dataset(
        "cifar10",
        tmp_path / "c",
        4,
        root=cifar_root,
        val_size=50,
        download=False,
        checksums=False,
    )
    val_a, val_b = read_split(tmp_path / "a", "val")[0], read_split(tmp_path / "b", "val")[0]
    assert np.array_equal(val_a, val_b)
    assert not np.array_equal(val_a, read_split(tmp_path / "c", "val")[0])
    image, label = PreparedDataset(tmp_path / "a", "train", augment=True)[0]
    assert tuple(image.shape) == (3, 32, 32) and 0 <= label < 10


def test_cifar_train_and_val_partition_the_training_set(cifar_root, tmp_path):
    prepare_dataset(
        "cifar100", tmp_path, 0, root=cifar_root, val_size=40, download=False, checksums=False
    )
    meta = read_meta(tmp_path)
    assert meta["num_classes"] == 100 and meta["sizes"] == {"train": 160, "val": 40, "test": 30}
    train, val = read_split(tmp_path, "train")[0], read_split(tmp_path, "val")[0]
    rows = {row.tobytes() for row in np.concatenate([train, val])}
    assert len(rows) == 200


def test_cifar_checksums_reject_files_that_are_not_the_official_ones(cifar_root, tmp_path):
    with pytest.raises(EENetError, match="checksums") as info:
        prepare_dataset("cifar10", tmp_path, 0, root=cifar_root, download=False)
    assert "\n" not in str(info.value)


def test_cifar_missing_offline_says_what_to_download_and_where(tmp_path):
    with pytest.raises(EENetError) as info:
        prepare_dataset("cifar100", tmp_path / "out", 0, root=tmp_path / "raw", download=False)
    message = str(info.value)
    assert "\n" not in message
    assert "cifar-100-python.tar.gz" in message and str(tmp_path / "raw") in message


def test_cifar_rejects_unknown_options(cifar_root, tmp_path):
    with pytest.raises(EENetError, match="data.colour"):
        prepare_dataset("cifar10", tmp_path, 0, root=cifar_root, colour=True)
