"""The paper presets' data: CIFAR through torchvision, AG News / SST-2 through `datasets`."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from eenet.data import prepare_dataset
from eenet.data.cifar import channel_mean_std
from eenet.data.prepared import PreparedDataset, read_meta, read_split
from eenet.errors import ConfigError, EENetError
from tests.preset_fixtures import write_ag_news, write_cifar10, write_cifar100, write_sst2


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_cifar10(root)
    write_cifar100(root)
    return root


def test_channel_statistics_equal_numpys_over_the_pixels() -> None:
    """The normalisation's per-channel mean / std, computed from histograms (no float copy of
    the pixels), equal numpy's over the scaled pixels, channel by channel (NHWC order)."""
    rng = np.random.default_rng(0)
    images = np.stack([rng.integers(0, 60, (40, 8, 8)), rng.integers(100, 256, (40, 8, 8)),
                       rng.integers(0, 256, (40, 8, 8))], axis=-1).astype(np.uint8)
    mean, std = channel_mean_std(images)
    pixels = images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, pixels.std(axis=0), rtol=1e-12)
    assert mean[0] < 0.25 < mean[1]


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
    # each image keeps its own (fine) label: the pairs are the raw files', test row for row
    for raw_name, splits in (("train", ("train", "val")), ("test", ("test",))):
        with open(cifar_root / "cifar-100-python" / raw_name, "rb") as fh:
            raw = pickle.load(fh)  # the test's own fixture file
        want = sorted(zip((r.tobytes() for r in raw["data"]), raw["fine_labels"], strict=True))
        got = []
        for split in splits:
            x, y = read_split(tmp_path, split)
            planes = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # HWC back to CIFAR's rows
            got += zip((r.tobytes() for r in planes), y.tolist(), strict=True)
        assert sorted(got) == want, raw_name


def test_cifar_checksums_reject_files_that_are_not_the_official_ones(cifar_root, tmp_path):
    with pytest.raises(EENetError, match="checksums") as info:
        prepare_dataset("cifar10", tmp_path, 0, root=cifar_root, download=False)
    assert "\n" not in str(info.value)
    assert "for a copy you trust, set data.options.checksums: false" in str(info.value)


def test_cifar_checksums_name_a_missing_batch_file(cifar_root, tmp_path):
    """It said "files missing or failing torchvision's checksums", naming none."""
    import shutil

    folder = tmp_path / "raw" / "cifar-10-batches-py"
    shutil.copytree(cifar_root / "cifar-10-batches-py", folder)
    (folder / "data_batch_4").unlink()
    with pytest.raises(EENetError) as info:
        prepare_dataset("cifar10", tmp_path / "out", 0, root=tmp_path / "raw", download=False)
    assert str(info.value).startswith(f"cifar10: {folder}: data_batch_4 is missing; ")


def test_cifar_missing_offline_says_what_to_download_and_where(tmp_path):
    with pytest.raises(EENetError) as info:
        prepare_dataset("cifar100", tmp_path / "out", 0, root=tmp_path / "raw", download=False)
    message = str(info.value)
    assert "\n" not in message
    assert "cifar-100-python.tar.gz" in message and str(tmp_path / "raw") in message


def test_cifar_missing_under_a_relative_root_says_where_it_looked(tmp_path, monkeypatch):
    """`dvc exp run --queue` / `--temp` runs in a copy of the repository without data/raw
    (git-ignored): the message says which folder the relative root was under, and what to
    give instead. An absolute root's message stays as it was."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EENetError) as info:
        prepare_dataset("cifar10", tmp_path / "out", 0, root="data/raw", download=False)
    message = str(info.value)
    assert "\n" not in message
    assert ("could not load data/raw/cifar-10-batches-py (folder not found and download=False; "
            f"looked under {tmp_path}, and a queued or --temp experiment runs in a copy of the "
            "repository without its git-ignored folders: give an absolute data.options.root)"
            ) in message
    with pytest.raises(EENetError) as info:
        prepare_dataset("cifar10", tmp_path / "out", 0, root=tmp_path / "raw", download=False)
    assert "(folder not found and download=False)" in str(info.value)


@pytest.mark.parametrize("name, folder", [("cifar10", "cifar-10-batches-py"),
                                          ("cifar100", "cifar-100-python")])
def test_cifar_root_may_name_the_extracted_folder_itself(cifar_root, tmp_path, name, folder):
    """A root naming the archive's extracted folder (`.../cifar-10-batches-py`), not its parent,
    read as a missing folder: `could not load .../cifar-10-batches-py/cifar-10-batches-py
    (folder not found ...)`, and with `download` on torchvision downloaded the archive again
    into it. It is read as its parent: the same splits. A missing folder of that name is to be
    extracted into its parent."""
    options = {"val_size": 40, "download": False, "checksums": False}
    prepare_dataset(name, tmp_path / "parent", 0, root=cifar_root, **options)
    prepare_dataset(name, tmp_path / "itself", 0, root=cifar_root / folder, **options)
    for split in ("train", "val", "test"):
        for got, want in zip(read_split(tmp_path / "itself", split),
                             read_split(tmp_path / "parent", split), strict=True):
            assert np.array_equal(got, want), split
    with pytest.raises(EENetError) as info:
        prepare_dataset(name, tmp_path / "out", 0, root=tmp_path / "raw" / folder, **options)
    assert (f"could not load {tmp_path / 'raw' / folder} (folder not found and download=False)"
            f"; download ") in str(info.value)
    assert f"and extract it into {tmp_path / 'raw'}/ so that" in str(info.value)


def test_prepare_dataset_checks_its_arguments_as_params_yaml(cifar_root, tmp_path):
    """The library call took val_size=50.7 (truncated in silence) and '50', which check_params
    refuses; it checks them the same way now (a Path for a folder is taken)."""
    with pytest.raises(ConfigError, match=r"^data\.options\.val_size: expected an integer, got "
                                          r"50\.7$"):
        prepare_dataset("cifar10", tmp_path, 0, root=cifar_root, val_size=50.7, download=False)
    with pytest.raises(ConfigError, match=r"^data\.options\.val_size: expected an integer, got "
                                          r"'50'"):
        prepare_dataset("cifar10", tmp_path, 0, root=cifar_root, val_size="50", download=False)
    assert not tmp_path.joinpath("meta.json").exists()
    # numpy numbers are taken as the numbers they are
    meta = prepare_dataset("cifar10", tmp_path, np.int64(0), root=cifar_root,
                           val_size=np.int64(50), download=False, checksums=False)
    assert meta["sizes"]["val"] == 50


def test_cifar_rejects_unknown_options(cifar_root, tmp_path):
    with pytest.raises(EENetError, match=r"^data\.options\.colour: unknown key; allowed: "):
        prepare_dataset("cifar10", tmp_path, 0, root=cifar_root, colour=True)


def test_cifar_val_size_beyond_the_training_split_names_its_params_path(cifar_root, tmp_path):
    """Errors name the key as written in params.yaml (data.options.val_size): 'data.val_size'
    is refused there as an unknown key of data."""
    with pytest.raises(EENetError) as err:
        prepare_dataset("cifar10", tmp_path, 0, root=cifar_root, val_size=200, download=False,
                        checksums=False)
    assert str(err.value) == ("data.options.val_size: must lie in [1, 199] for 200 training "
                              "samples, got 200")


def _damage(folder, kind):
    """Damage one CIFAR-10 batch file of a copied fixture in the way `kind` names."""
    import pickle

    batch = folder / "data_batch_2"
    if kind == "missing":
        batch.unlink()
    elif kind == "no meta names":
        (folder / "batches.meta").write_bytes(pickle.dumps({"names": ["a", "b"]}))
    elif kind == "truncated":
        batch.write_bytes(batch.read_bytes()[:1000])
    elif kind == "empty":
        batch.write_bytes(b"")
    elif kind == "no labels":
        batch.write_bytes(pickle.dumps({"data": np.zeros((5, 3072), np.uint8)}))
    elif kind == "label 42":
        batch.write_bytes(pickle.dumps({"data": np.zeros((5, 3072), np.uint8),
                                        "labels": [0, 1, 2, 3, 42]}))
    elif kind == "text labels":
        batch.write_bytes(pickle.dumps({"data": np.zeros((5, 3072), np.uint8),
                                        "labels": ["0", "1", "2", "3", "4"]}))
    elif kind == "fractional labels":
        batch.write_bytes(pickle.dumps({"data": np.zeros((5, 3072), np.uint8),
                                        "labels": [0.5, 1.5, 2.5, 3.5, 4.5]}))
    elif kind == "float pixels":
        batch.write_bytes(pickle.dumps({"data": np.full((5, 3072), 0.5, np.float32),
                                        "labels": [0, 1, 2, 3, 4]}))
    elif kind == "11 class names":
        meta = pickle.loads((folder / "batches.meta").read_bytes())
        meta["label_names"] = [*meta["label_names"], "extra"]
        (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    elif kind == "fewer labels":
        batch.write_bytes(pickle.dumps({"data": np.zeros((5, 3072), np.uint8),
                                        "labels": [0, 1, 2]}))
    elif kind == "labels a number":
        batch.write_bytes(pickle.dumps({"data": np.zeros((5, 3072), np.uint8), "labels": 3}))
    elif kind == "ragged labels":
        batch.write_bytes(pickle.dumps({"data": np.zeros((5, 3072), np.uint8),
                                        "labels": [[0], [1, 2], 3, 4, 5]}))
    elif kind == "rows of 100 pixels":
        batch.write_bytes(pickle.dumps({"data": np.zeros((5, 100), np.uint8),
                                        "labels": [0, 1, 2, 3, 4]}))
    elif kind == "class names a number":
        (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": 10}))
    elif kind == "class names not text":
        (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(range(10))}))
    else:  # "no test images"
        (folder / "test_batch").write_bytes(pickle.dumps(
            {"data": np.zeros((0, 3072), np.uint8), "labels": []}))


@pytest.mark.parametrize(("kind", "reason"), [pytest.param(*case, id=case[0]) for case in [
    # each named no file
    ("truncated", "data_batch_2 is corrupt or not in CIFAR's format (pickle data was truncated)"),
    ("empty", "data_batch_2 is corrupt or not in CIFAR's format (Ran out of input)"),
    ("no labels", "data_batch_2 is not in CIFAR's format (no entry 'labels')"),
    ("missing", "data_batch_2 is missing; download https://"),
    ("no meta names", "batches.meta is not in CIFAR's format (no entry 'label_names')"),
    ("label 42", "has training labels outside 0..9 (e.g. 42; 10 classes in its meta file)"),
    ("fewer labels", "holds 165 training images but 163 labels"),
    # a traceback from numpy; truncated to 0..4; cast to bytes (all 0); an 11-class CIFAR-10
    ("text labels", "has training labels of dtype <U21, not integers"),
    ("fractional labels", "has training labels of dtype float64, not integers"),
    ("float pixels", "has training images of dtype float32, not uint8 pixels"),
    ("11 class names", "meta file names 11 classes, not 10"),
    ("no test images", "holds no test images"),
    # a traceback from list.extend, numpy's vstack or asarray, len
    ("labels a number", "data_batch_2 is not in CIFAR's format ('labels' must be a flat list of "
                        "labels, got 3)"),
    ("ragged labels", "data_batch_2 is not in CIFAR's format ('labels' must be a flat list of "
                      "labels, got a ragged list)"),
    ("rows of 100 pixels", "data_batch_2 is not in CIFAR's format ('data' must hold one row of "
                           "3072 pixels per image, got shape (5, 100))"),
    ("class names a number", "batches.meta is not in CIFAR's format ('label_names' must be a "
                             "list of class names, got 10)"),
    # written to meta.json as the class names
    ("class names not text", "batches.meta is not in CIFAR's format ('label_names' must be a "
                             "list of class names (strings), got 0)"),
]])
def test_cifar_damaged_files_without_checksums_are_one_line_errors(cifar_root, tmp_path, kind,
                                                                   reason):
    """With checksums off torchvision reads whatever is there: a truncated or empty batch
    file was a pickle traceback, and labels beyond the classes or a label list shorter than
    the images were written as data (images and labels silently misaligned)."""
    import shutil

    shutil.copytree(cifar_root / "cifar-10-batches-py", tmp_path / "raw" / "cifar-10-batches-py")
    _damage(tmp_path / "raw" / "cifar-10-batches-py", kind)
    with pytest.raises(EENetError) as err:
        prepare_dataset("cifar10", tmp_path / "out", 0, root=tmp_path / "raw", val_size=10,
                        download=False, checksums=False)
    message = str(err.value)
    assert reason in message and "\n" not in message and message.startswith("cifar10: ")
    assert not (tmp_path / "out" / "meta.json").exists()


class _Payload:
    """Unpickling it creates `self.marker`: what any code a pickle runs could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_without_checksums_unpickles_no_code(cifar_root, tmp_path, protocol):
    """Without checksums any file in the CIFAR folder is read: one whose pickle would run code
    is refused before torchvision unpickles it, and the code never runs."""
    import shutil

    folder = tmp_path / "raw" / "cifar-10-batches-py"
    shutil.copytree(cifar_root / "cifar-10-batches-py", folder)
    marker = tmp_path / "code ran"
    (folder / "data_batch_3").write_bytes(pickle.dumps(
        {"data": np.zeros((5, 3072), np.uint8), "labels": _Payload(marker)}, protocol=protocol))
    with pytest.raises(EENetError) as err:
        prepare_dataset("cifar10", tmp_path / "out", 0, root=tmp_path / "raw", val_size=10,
                        download=False, checksums=False)
    message = str(err.value)  # protocol 2 reaches Path.touch through getattr
    reached = "__builtin__.getattr" if protocol == 2 else "pathlib.Path.touch"
    assert message.startswith(f"cifar10: {folder}: data_batch_3 is not a CIFAR batch file "
                              f"(it imports {reached}, which no CIFAR file does; not unpickled); "
                              "download https://")
    assert message.endswith(f" and extract it into {tmp_path / 'raw'}/ again, replacing "
                            "cifar-10-batches-py/")
    assert not marker.exists()


def _csv_rows(path) -> list[tuple[str, int]]:
    with open(path, newline="") as fh:
        return [(row["text"], int(row["label"])) for row in csv.DictReader(fh)]


def test_ag_news_prepare_from_local_files(tmp_path):
    folder = write_ag_news(tmp_path / "ag_news", n_train=60, n_test=20)
    meta = prepare_dataset(
        "ag_news",
        tmp_path / "out",
        0,
        local_path=folder,
        val_size=10,
        cache_dir=str(tmp_path / "cache"),
    )
    assert meta["kind"] == "text" and meta["num_classes"] == 4
    assert meta["sizes"] == {"train": 50, "val": 10, "test": 20}
    x, y = read_split(tmp_path / "out", "train")
    assert all(isinstance(t, str) for t in x) and y.dtype == np.int64 and set(y) <= {0, 1, 2, 3}
    with np.load(tmp_path / "out" / "train.npz", allow_pickle=False) as npz:
        assert npz["text_utf8"].dtype == np.uint8  # readable without pickles
    # each text keeps its own label: train and val partition train.csv, test is test.csv
    rows = {name: _csv_rows(folder / f"{name}.csv") for name in ("train", "test")}
    prepared = {split: list(zip(*(a.tolist() for a in read_split(tmp_path / "out", split)),
                                strict=True)) for split in ("train", "val", "test")}
    assert sorted(prepared["train"] + prepared["val"]) == sorted(rows["train"])
    assert prepared["test"] == rows["test"]
    text, label = PreparedDataset(tmp_path / "out", "val")[0]
    assert (text, label) == prepared["val"][0]


def test_ag_news_max_train_samples_caps_train_only(tmp_path):
    folder = write_ag_news(tmp_path / "ag_news")
    meta = prepare_dataset(
        "ag_news",
        tmp_path / "out",
        0,
        local_path=folder,
        val_size=10,
        max_train_samples=7,
        cache_dir=str(tmp_path / "cache"),
    )
    assert meta["sizes"] == {"train": 7, "val": 10, "test": 20}


def test_sst2_uses_glue_validation_as_test_and_holds_out_train(tmp_path):
    folder = write_sst2(tmp_path / "sst2", n_train=60, n_val=20)
    meta = prepare_dataset(
        "sst2",
        tmp_path / "out",
        1,
        data_files={
            "train": str(folder / "train.jsonl"),
            "validation": str(folder / "validation.jsonl"),
        },
        val_size=12,
        cache_dir=str(tmp_path / "cache"),
    )
    assert meta["num_classes"] == 2 and meta["test_from"] == "validation"
    assert meta["sizes"] == {"train": 48, "val": 12, "test": 20}
    test_x, test_y = read_split(tmp_path / "out", "test")
    validation = [json.loads(line) for line in (folder / "validation.jsonl").open()]
    assert test_x.tolist() == [row["sentence"] for row in validation]
    assert test_y.tolist() == [row["label"] for row in validation]
    train = [json.loads(line) for line in (folder / "train.jsonl").open()]
    held = [(t, int(lab)) for split in ("train", "val")
            for t, lab in zip(*read_split(tmp_path / "out", split), strict=True)]
    assert sorted(held) == sorted((row["sentence"], row["label"]) for row in train)


def _glue_tsv(folder: Path) -> Path:
    """SST-2 as GLUE's own download has it: train.tsv / dev.tsv, tab-separated, unquoted: a
    comma and quotes in a sentence, one starting with a quote and one whose quote never closes
    (a CSV reader would split, unquote or join them: it merged the rows after such a quote)."""
    folder.mkdir(parents=True)
    rows = {"train": [('a good, "moving" film', 1), ("dull", 0)] * 5
            + [('" the emperor s new clothes " is fun', 1), ('" a long quote begins here', 0)],
            "dev": [("fun , great", 1), ("boring", 0), ("awful", 0)]}
    for name, split in rows.items():
        lines = ["sentence\tlabel", *(f"{text}\t{label}" for text, label in split)]
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("how", ["local_path", "data_files", "both"])
def test_glue_tsv_files_read_alike_through_local_path_and_data_files(tmp_path, how):
    """GLUE's train.tsv / dev.tsv prepared through local_path (dev read as validation), but
    data_files naming the same files was refused ("use one of .csv, .json, .jsonl, .parquet
    files"). Both read them tab-separated, to the same splits."""
    folder = _glue_tsv(tmp_path / "glue")
    files = {"train": "train.tsv", "validation": "dev.tsv"}
    options = {
        "local_path": {"local_path": str(folder)},
        "data_files": {"data_files": {k: str(folder / v) for k, v in files.items()}},
        "both": {"local_path": str(folder), "data_files": files},
    }[how]
    meta = prepare_dataset("sst2", tmp_path / "out", 0, val_size=2,
                           cache_dir=str(tmp_path / "cache"), **options)
    assert meta["sizes"] == {"train": 10, "val": 2, "test": 3}
    test_x, test_y = read_split(tmp_path / "out", "test")
    assert test_x.tolist() == ["fun , great", "boring", "awful"] and test_y.tolist() == [1, 0, 0]
    texts = {text for split in ("train", "val") for text in read_split(tmp_path / "out", split)[0]}
    assert texts == {'a good, "moving" film', "dull", '" the emperor s new clothes " is fun',
                     '" a long quote begins here'}


@pytest.mark.parametrize("dev", ["dev.tsv", "dev [1].tsv"])
def test_glue_folder_as_downloaded_reads_train_and_dev_not_its_unlabelled_test(tmp_path, dev):
    """GLUE's SST-2 folder holds a test.tsv without labels (columns index,sentence): through
    local_path it made the whole folder an error naming it; now only the splits used are read
    (a '[' in a file's name matches that file). Named in data_files, it is still refused."""
    folder = _glue_tsv(tmp_path / "glue")
    (folder / "dev.tsv").rename(folder / dev)
    (folder / "test.tsv").write_text("index\tsentence\n0\tsplendid\n1\tawful , dull\n")
    meta = prepare_dataset("sst2", tmp_path / "out", 0, val_size=2, local_path=str(folder),
                           cache_dir=str(tmp_path / "cache"))
    assert meta["sizes"] == {"train": 10, "val": 2, "test": 3}
    test_x, test_y = read_split(tmp_path / "out", "test")
    assert test_x.tolist() == ["fun , great", "boring", "awful"] and test_y.tolist() == [1, 0, 0]
    with pytest.raises(EENetError) as err:
        prepare_dataset("sst2", tmp_path / "out2", 0, val_size=2, local_path=str(folder),
                        data_files={"train": "train.tsv", "validation": "test.tsv"},
                        cache_dir=str(tmp_path / "cache"))
    assert str(err.value).startswith(f"sst2: data.options.local_path: {folder / 'test.tsv'} "
                                     "lacks column label (it has index, sentence); ")


def test_data_files_of_mixed_or_unknown_formats_name_the_allowed_ones(tmp_path):
    folder = _glue_tsv(tmp_path / "glue")
    (folder / "dev.csv").write_text("sentence,label\nfun,1\n")
    (folder / "dev.txt").write_text("fun\n")
    for dev, message in (
        ("dev.csv", "data.options.data_files: give files of one format, got .csv and .tsv"),
        ("dev.txt", "data.options.data_files: use .csv, .tsv (tab-separated), .json / .jsonl "
                    "(JSON lines) or .parquet files, got .txt"),
    ):
        with pytest.raises(ConfigError) as err:
            prepare_dataset("sst2", tmp_path / "out", 0, val_size=2,
                            data_files={"train": str(folder / "train.tsv"),
                                        "validation": str(folder / dev)})
        assert str(err.value) == message


def test_sst2_default_holds_out_872(tmp_path):
    folder = write_sst2(tmp_path / "sst2", n_train=900, n_val=5)
    meta = prepare_dataset(
        "sst2", tmp_path / "out", 0, local_path=folder, cache_dir=str(tmp_path / "cache")
    )
    assert meta["sizes"] == {"train": 28, "val": 872, "test": 5}


def test_text_offline_without_cache_is_one_line(tmp_path, monkeypatch):
    import datasets.config

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    for name, hub_id in (("ag_news", "fancyzhx/ag_news"), ("sst2", "nyu-mll/glue")):
        with pytest.raises(EENetError) as info:
            prepare_dataset(name, tmp_path / name, 0, cache_dir=str(tmp_path / "cache"))
        message = str(info.value)
        assert "\n" not in message and "offline mode" in message
        assert hub_id in message and "data.options.local_path" in message


def test_text_missing_local_folder_and_unlabelled_test_are_one_line_errors(tmp_path):
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "o", 0, local_path=tmp_path / "nowhere")
    assert str(err.value) == (
        f"data.options.local_path: {tmp_path / 'nowhere'} is not a folder; expected the train "
        "and test splits with columns text,label as CSV / TSV / JSON lines / parquet files "
        "named after the splits in a folder")
    folder = write_sst2(tmp_path / "sst2")  # its test split is GLUE's: every label -1
    with pytest.raises(EENetError, match=r"^sst2: split 'validation' has labels outside 0\.\.1 "
                                         r"\(e\.g\. -1\); it must be a labelled split$"):
        prepare_dataset(
            "sst2",
            tmp_path / "o",
            0,
            val_size=5,
            cache_dir=str(tmp_path / "cache"),
            data_files={
                "train": str(folder / "train.jsonl"),
                "validation": str(folder / "test.jsonl"),
            },
        )


def _unfit_ag_news(folder, kind):
    """AG News fixture files, then changed in the way `kind` names; returns the local_path."""
    import csv

    import datasets

    write_ag_news(folder)
    with open(folder / "train.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    names = ("World", "Sports", "Business", "Sci/Tech")
    if kind in ("saved, test filtered to nothing", "saved, test without rows"):
        loaded = datasets.load_dataset(str(folder), cache_dir=str(folder.parent / "cache"))
        test = loaded["test"]
        test = (test.filter(lambda row: False) if kind.endswith("nothing")
                else test.select([]))
        datasets.DatasetDict({"train": loaded["train"], "test": test}).save_to_disk(
            folder.parent / "saved")
        return folder.parent / "saved"
    if kind in ("test has category, train label", "test has an extra column"):
        with open(folder / "test.csv", newline="") as fh:
            test_rows = list(csv.reader(fh))
        if kind.endswith("extra column"):
            test_rows = [[*row, "extra" if i == 0 else "x"] for i, row in enumerate(test_rows)]
        else:
            test_rows[0] = ["text", "category"]
        with open(folder / "test.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(test_rows)
        return folder
    if kind == "train has category, test label":
        rows[0] = ["text", "category"]
    elif kind == "labels 1-4":  # the original AG News CSVs' numbering
        rows[1:] = [[text, int(label) + 1] for text, label in rows[1:]]
    elif kind == "class names":
        rows[1:] = [[text, names[int(label)]] for text, label in rows[1:]]
    elif kind == "one class name":  # the column is read as text: '3' came before 'Sports'
        rows[5][1] = "Sports"
    elif kind == "an empty test file":
        (folder / "test.csv").write_text("")
        return folder
    elif kind.startswith("a header-only "):  # "... train file" / "... test file"
        (folder / f"{kind.split()[2]}.csv").write_text("text,label\n")
        return folder
    elif kind == "an empty text cell":
        rows[5][0] = ""
    else:  # "an empty label cell"
        rows[5][1] = ""
    with open(folder / "train.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return folder


@pytest.mark.parametrize(("kind", "reason"), [pytest.param(*case, id=case[0]) for case in [
    # `datasets`: "(All the data files must have the same columns", naming neither
    ("train has category, test label", "data.options.local_path: {local}/train.csv lacks column "
                                       "label (it has text, category); expected the train and "
                                       "test splits with columns text,label"),
    # the whole reason was "(Couldn't cast)"
    ("test has category, train label", "data.options.local_path: {local}/test.csv lacks column "
                                       "label (it has text, category); expected the train and "
                                       "test splits with columns text,label"),
    ("test has an extra column", "data.options.local_path: {local}/train.csv has columns text, "
                                 "label but {local}/test.csv has text, label, extra: every file "
                                 "needs the same columns; expected "),
    # it said "it must be a labelled split" alone
    ("labels 1-4", "split 'train' has labels outside 0..3 (e.g. 4); labels must start at 0 (0 "
                   "World, 1 Sports, 2 Business, 3 Sci/Tech) but these run 1..4, as the "
                   "original AG News CSVs number the classes 1-4: subtract 1 from each label"),
    ("class names", "split 'train' column label must hold class numbers 0..3 (World, Sports, "
                    "Business, Sci/Tech), got '"),
    ("an empty label cell", "split 'train' column label must hold class numbers 0..3 (World, "
                            "Sports, Business, Sci/Tech), got None"),
    ("one class name", "split 'train' column label must hold class numbers 0..3 (World, "
                       "Sports, Business, Sci/Tech), got 'Sports'"),
    ("an empty text cell", "split 'train' has no text in row 4; every row needs a text"),
    ("saved, test filtered to nothing", "split 'test' is empty"),
    ("saved, test without rows", "is a split empty?"),
    ("an empty test file", "data.options.local_path: {local}/test.csv is empty (0 bytes); "
                           "expected the train and test splits"),
    # `datasets`: "Instruction "test" corresponds to no data!" / "Couldn't write column 'text':
    # its type in this file is null, ..."
    ("a header-only test file", "data.options.local_path: {local}/test.csv has no rows (only a "
                                "header): a split needs rows in each of its files; expected "),
    ("a header-only train file", "data.options.local_path: {local}/train.csv has no rows (only "
                                 "a header): a split needs rows in each of its files; expected "),
]])
def test_text_local_data_that_does_not_fit_is_a_one_line_error(tmp_path, kind, reason):
    """Local splits whose columns differ, labels that are class names or empty cells, and an
    empty saved split were tracebacks (DatasetGenerationCastError, int() of a name or of None,
    an IndexError in load_from_disk), or were written (an empty test split, an empty text cell
    as the text 'None'); an empty file's reason was `datasets`' "No columns to parse from
    file"."""
    local = _unfit_ag_news(tmp_path / "ag_news", kind)
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "out", 0, local_path=local, val_size=10,
                        cache_dir=str(tmp_path / "cache"))
    message = str(err.value)
    assert reason.format(local=local) in message and "\n" not in message
    assert message.startswith("ag_news: ")


def test_a_saved_dataset_of_one_split_asks_for_a_dataset_dict(tmp_path):
    """`Dataset.save_to_disk` (one split, no split names) as local_path got `datasets`' advice
    "Please use `load_from_disk` instead", beside the point: the train and test splits are
    needed, by name."""
    import datasets

    folder = write_ag_news(tmp_path / "ag_news")
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    loaded["train"].save_to_disk(tmp_path / "saved")
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "out", 0, local_path=tmp_path / "saved",
                        val_size=10, cache_dir=str(tmp_path / "cache"))
    assert str(err.value) == (
        f"ag_news: data.options.local_path: {tmp_path / 'saved'} is a saved Dataset (one split, "
        "unnamed); give a saved DatasetDict naming the splits train and test "
        "(datasets.DatasetDict({'train': ..., 'test': ...}).save_to_disk(folder)) or a folder "
        "of files")


@pytest.mark.parametrize(("cell", "got"), [
    (["game", "team"], "got list ['game', 'team'] in row 0"),
    (7, "got int 7 in row 0"),
])
def test_text_cells_that_are_not_strings_are_one_line(tmp_path, cell, got):
    """A text column of lists or numbers (JSON lines) was stringified: the model trained on
    "['game', 'team']" or "7"."""
    import json

    folder = tmp_path / "ag_news"
    folder.mkdir()
    rows = [{"text": cell, "label": i % 4} for i in range(30)]
    for split in ("train", "test"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "out", 0, local_path=folder, val_size=10,
                        cache_dir=str(tmp_path / "cache"))
    assert str(err.value) == ("ag_news: split 'train' column text must hold texts (strings), "
                              + got)


@pytest.mark.parametrize("how", ["local_path", "data_files"])
def test_a_split_missing_from_local_files_names_the_option_not_the_hub(tmp_path, how):
    """A local folder or data_files without the test split got the advice to run
    datasets.load_dataset once with network, beside the point for the user's own files."""
    folder = write_ag_news(tmp_path / "ag_news")
    (folder / "test.csv").rename(folder / "validation.csv")
    options = ({"local_path": folder} if how == "local_path" else
               {"data_files": {"train": str(folder / "train.csv"),
                               "validation": str(folder / "validation.csv")}})
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "out", 0, val_size=10,
                        cache_dir=str(tmp_path / "cache"), **options)
    message = str(err.value)
    assert message.startswith("ag_news: no 'test' split in the loaded data (it has train, "
                              f"validation); data.options.{how} "), message
    assert "train and test" in message and "load_dataset" not in message and "\n" not in message


@pytest.mark.parametrize("value", [3, "", [], ["train.csv", None]],
                         ids=["a number", "empty text", "an empty list", "a list holding None"])
def test_data_files_that_name_no_file_are_one_line(tmp_path, value):
    """{"train": 3} said "use one of .csv, ... files, got ['', '.csv']"; an empty string named
    the current folder."""
    folder = write_ag_news(tmp_path / "ag_news")
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "out", 0, val_size=10,
                        data_files={"train": value, "test": str(folder / "test.csv")},
                        cache_dir=str(tmp_path / "cache"))
    assert str(err.value) == ("data.options.data_files.train: expected a file path or a list "
                              f"of them, got {value!r}")


def test_text_missing_local_file_names_it_without_every_known_extension(tmp_path):
    """With local_path, data_files are found in that folder; a missing one was named with a
    list of ~300 file extensions `datasets` supports, burying the file in a 5,000-character
    line."""
    folder = write_ag_news(tmp_path / "ag_news")
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "out", 0, local_path=folder, val_size=10,
                        data_files={"train": "nope.csv", "test": "test.csv"},
                        cache_dir=str(tmp_path / "cache"))
    message = str(err.value)
    assert f"(Unable to find '{folder / 'nope.csv'}'); " in message
    assert "\n" not in message and len(message) < 600


def test_text_unreadable_local_files_are_named_without_hub_advice(tmp_path):
    """A failure to read the user's own files names them and the layout they need; the advice
    to fill the Hugging Face cache was beside the point there."""
    folder = write_ag_news(tmp_path / "ag_news")
    (folder / "test.csv").write_text('text,label\n"a text whose quote never closes,1\n')
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "out", 0, local_path=folder, val_size=10,
                        cache_dir=str(tmp_path / "cache"))
    message = str(err.value)
    assert message.startswith(f"ag_news: could not load the data of data.options.local_path "
                              f"({folder}) (")
    assert message.endswith("expected the train and test splits with columns text,label as "
                            "CSV / TSV / JSON lines / parquet files named after the splits")
    assert "Hugging Face" not in message and "\n" not in message


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_one_file_without_the_label_column_is_named_in_every_format(tmp_path, suffix):
    """SST-2 whose validation file names its label column otherwise: the whole reason was
    `datasets`' "Couldn't cast" (CSV: tests above)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "sst2"
    folder.mkdir()
    for split, label in (("train", "label"), ("validation", "score")):
        rows = {"sentence": ["a good film", "a bad film"] * 5, label: [1, 0] * 5}
        if suffix == ".parquet":
            pq.write_table(pa.table(rows), folder / f"{split}{suffix}")
        else:
            lines = [json.dumps(dict(zip(rows, values, strict=True)))
                     for values in zip(*rows.values(), strict=True)]
            (folder / f"{split}{suffix}").write_text("\n".join(lines) + "\n")
    with pytest.raises(EENetError) as err:
        prepare_dataset("sst2", tmp_path / "out", 0, val_size=2, local_path=folder,
                        cache_dir=str(tmp_path / "cache"))
    assert str(err.value).startswith(
        f"sst2: data.options.local_path: {folder / ('validation' + suffix)} lacks column label "
        "(it has sentence, score); expected the train and validation splits")


@pytest.mark.parametrize("how", ["local_path", "data_files"])
def test_a_file_that_is_not_parquet_is_named_in_one_line_and_nothing_else(tmp_path, how, caplog,
                                                                          capfd):
    """train.parquet of random bytes: `datasets` logged "Failed to read schema from '<file>'
    ..." to stderr before the one-line error, which did not name the file."""
    import logging

    import datasets  # noqa: F401  (its logger's handler is added on import)
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "ag_news"
    folder.mkdir()
    (folder / "train.parquet").write_bytes(np.random.default_rng(0).bytes(512))
    pq.write_table(pa.table({"text": ["a text"] * 20, "label": [1] * 20}),
                   folder / "test.parquet")
    options = ({"local_path": folder} if how == "local_path" else
               {"data_files": {s: str(folder / f"{s}.parquet") for s in ("train", "test")}})
    logger = logging.getLogger("datasets")
    handlers, propagate = logger.handlers[:], logger.propagate
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "out", 0, val_size=10,
                        cache_dir=str(tmp_path / "cache"), **options)
    assert str(err.value) == (
        f"ag_news: data.options.{how}: {folder / 'train.parquet'} is not a parquet file (Parquet "
        "magic bytes not found in footer. Either the file is corrupted or this is not a parquet "
        "file.); expected the train and test splits with columns text,label as CSV / TSV / JSON "
        "lines / parquet files named after the splits")
    assert not [r for r in caplog.records if r.name.startswith("datasets")]
    assert "Failed to read schema" not in capfd.readouterr().err
    assert (logger.handlers, logger.propagate) == (handlers, propagate)


def test_text_empty_data_files_is_refused_not_taken_for_the_hub(tmp_path, monkeypatch):
    """`data_files: {}` read as null went to the hub (offline: an error about the cache)."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"^data.options.data_files: empty; give \{split"):
        prepare_dataset("ag_news", tmp_path / "out", 0, data_files={},
                        cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize("key", ["local_path", "cache_dir"])
@pytest.mark.parametrize("call", ["prepare_ag_news", "load_text_splits"])
def test_empty_text_paths_are_refused_by_the_python_api_too(tmp_path, monkeypatch, key, call):
    """params.yaml's check refused local_path: "" and cache_dir: "", but the text functions
    called directly took "" as the current folder (local_path: the AG News files there)."""
    from eenet.data import text

    folder = write_ag_news(tmp_path / "here")
    monkeypatch.chdir(folder)
    options = {"local_path": str(folder), "cache_dir": str(tmp_path / "cache"), key: ""}
    with pytest.raises(ConfigError) as err:
        if call == "prepare_ag_news":
            text.prepare_ag_news(tmp_path / "out", 0, val_size=10, **options)
        else:
            text.load_text_splits(text.AG_NEWS, **options)
    assert str(err.value) == (f"data.options.{key}: empty; give a path, or null (an empty "
                              "string would mean the current folder)")


def test_empty_cifar_root_is_refused_by_the_python_api_too(cifar_root, tmp_path, monkeypatch):
    """prepare_cifar called directly took root="" as the current folder (here: the batches)."""
    from eenet.data.cifar import prepare_cifar

    monkeypatch.chdir(cifar_root)
    with pytest.raises(ConfigError) as err:
        prepare_cifar("cifar10", tmp_path / "out", 0, root="", val_size=10, download=False,
                      checksums=False)
    assert str(err.value) == ("data.options.root: empty; give a path, or null (an empty "
                              "string would mean the current folder)")


def test_text_local_path_may_be_the_current_folder(tmp_path, monkeypatch):
    """local_path: "." failed inside `datasets` ("dataset_name should be specified but got
    None": it names the data set after the folder's last path part, and "." has none)."""
    monkeypatch.chdir(write_ag_news(tmp_path / "ag_news", n_train=30, n_test=8))
    meta = prepare_dataset("ag_news", tmp_path / "out", 0, local_path=".", val_size=10,
                           cache_dir=str(tmp_path / "cache"))
    assert meta["sizes"] == {"train": 20, "val": 10, "test": 8}


def test_augmentation_is_a_crop_and_flip_drawn_per_sample_and_epoch(cifar_root, tmp_path):
    """Each training image is a 32x32 window of itself padded by 4 black pixels (as the
    recipe's crop of raw pixels pads; it padded zeros after normalisation, the mean colour),
    maybe mirrored; the draw depends on (seed, epoch, index) only, never on the global
    generator, so loader workers see the same draws as the main process."""
    import torch

    from eenet.data.prepared import channel_tensors

    prepare_dataset("cifar10", tmp_path, 0, root=cifar_root, val_size=50, download=False,
                    checksums=False)
    plain = PreparedDataset(tmp_path, "train")
    augmented = PreparedDataset(tmp_path, "train", augment=True)
    mean, std = channel_tensors(plain.meta["mean"], plain.meta["std"])
    black = (torch.zeros(3, 1, 1) - mean) / std  # a black pixel, normalised
    padded_by = 0
    draws = set()
    for epoch in range(4):
        augmented.set_epoch(epoch, seed=7)
        for index in range(3):
            torch.manual_seed(epoch * 10 + index)  # the global generator must not matter
            image = augmented[index][0]
            torch.manual_seed(999)
            assert torch.equal(image, augmented[index][0])
            padded = black.expand(3, 40, 40).clone()
            padded[:, 4:36, 4:36] = plain[index][0]
            windows = {(top, left, flip) for top in range(9) for left in range(9)
                       for flip in (False, True)
                       if torch.equal(image, (padded.flip(-1) if flip else padded)
                                      [:, top:top + 32, left:left + 32])}
            assert windows, (epoch, index)
            draws.add((index, frozenset(windows)))
            padded_by += min(max(abs(top - 4), abs(left - 4)) for top, left, _ in windows)
    assert len(draws) > 6  # the epochs draw differently
    assert padded_by  # some draws hold padding (and so black pixels)

    def epoch_images(seed: int) -> list:
        augmented.set_epoch(0, seed=seed)
        return [augmented[i][0] for i in range(10)]

    assert not all(torch.equal(a, b) for a, b in zip(epoch_images(7), epoch_images(8),
                                                     strict=True))


def _text_split(texts: list, labels: list):
    import datasets

    return datasets.Dataset.from_dict({"text": texts, "label": labels})


def test_integer_labels_are_read_in_one_conversion(monkeypatch):
    """A label column Arrow stores as integers (ClassLabel, int64) is taken as it is: the
    Python scan of every label (19.6 ms at 120,000 rows) is left for other columns."""
    import datasets

    from eenet.data import text
    from eenet.data.text import AG_NEWS

    def no_scan(value):
        raise AssertionError("a label looked at one by one")

    monkeypatch.setattr(text, "_is_class_number", no_scan)
    rows = [f"text {i}" for i in range(12)]
    split = _text_split(rows, [i % 4 for i in range(12)])
    texts, labels = text._columns(split, AG_NEWS, "train")
    assert labels.dtype == np.int64 and labels.tolist() == [i % 4 for i in range(12)]
    assert texts.dtype == object and texts.tolist() == rows
    named = split.cast_column("label", datasets.ClassLabel(names=list(AG_NEWS.class_names)))
    assert text._columns(named, AG_NEWS, "train")[1].tolist() == labels.tolist()


@pytest.mark.parametrize(("labels", "got"), [
    ([0, None, 2], "got None"), ([True, False, True], "got True"), ([0.0, 1.5, 2.0], "got 1.5"),
], ids=["a missing label", "bools", "a fraction"])
def test_labels_that_are_no_integers_are_still_named(labels, got):
    """Missing labels, bools and fractions go through the scan, which names one."""
    from eenet.data import text
    from eenet.data.text import AG_NEWS

    with pytest.raises(EENetError) as err:
        text._columns(_text_split(["a", "b", "c"], labels), AG_NEWS, "train")
    assert str(err.value).endswith(got)
    whole = text._columns(_text_split(["a", "b"], [1.0, 3.0]), AG_NEWS, "train")[1]
    assert whole.dtype == np.int64 and whole.tolist() == [1, 3]  # integral floats (CSV)


@pytest.mark.parametrize(("cells", "message"), [
    ([7, None, 8], "split 'train' has no text in row 1; every row needs a text"),
    ([7, 8, 9], "split 'train' column text must hold texts (strings), got int 7 in row 0"),
    (["a", None], "split 'train' has no text in row 1; every row needs a text"),
])
def test_a_missing_text_is_named_before_a_cell_of_another_type(cells, message):
    """One pass over the text column says what the two passes said: a missing text first,
    wherever it is, else the first cell that is no string."""
    from eenet.data import text
    from eenet.data.text import AG_NEWS

    with pytest.raises(EENetError) as err:
        text._columns(_text_split(cells, [0] * len(cells)), AG_NEWS, "train")
    assert str(err.value) == f"ag_news: {message}"


def test_the_text_column_is_read_from_the_data_set_once(monkeypatch):
    """`datasets` gives a column as a lazy Column whose iteration formats every row (0.7 s a
    pass at 120,000 rows): it was iterated three times for the texts and twice for the
    labels; now each column is read once, as a whole."""
    from eenet.data import text
    from eenet.data.text import AG_NEWS

    split = _text_split([f"text {i}" for i in range(8)], [i % 4 for i in range(8)])
    column_type = type(split["text"])
    if column_type is list:
        pytest.skip("this datasets version gives columns as lists")
    iterations = []
    iterate = column_type.__iter__
    monkeypatch.setattr(column_type, "__iter__",
                        lambda column: iterations.append(1) or iterate(column))
    texts, _ = text._columns(split, AG_NEWS, "train")
    assert texts.tolist() == [f"text {i}" for i in range(8)]
    assert iterations == []


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_without_checksums_unpickles_each_file_once(cifar_root, tmp_path, monkeypatch,
                                                          name):
    """Without checksums every batch file was unpickled twice (about 180 MB read twice): by
    the restricted unpickler that checks it, then by torchvision with plain pickle (a file
    swapped in between was unpickled unchecked). The splits are now built from the checked
    read, as torchvision builds them; torchvision unpickles nothing."""
    import shutil

    from eenet.data import cifar, cifar_files

    cls = cifar._dataset_class(name, checksums=False)
    by_torchvision = cls(str(cifar_root), train=True), cls(str(cifar_root), train=False)
    shutil.copytree(cifar_root / cls.base_folder, tmp_path / "raw" / cls.base_folder)
    reads = []
    plain_read = cifar_files._unpickle_plain
    monkeypatch.setattr(cifar_files, "_unpickle_plain",
                        lambda path: reads.append(path.name) or plain_read(path))

    def unpickled_unchecked(*args, **kwargs):
        raise AssertionError("a file unpickled with plain pickle")

    monkeypatch.setattr(pickle, "load", unpickled_unchecked)
    ours = cifar._load(name, tmp_path / "raw", download=True, checksums=False)
    assert sorted(reads) == sorted([*cifar_files._batch_files(cls), cls.meta["filename"]])
    for split, theirs in zip(ours, by_torchvision, strict=True):
        assert split.data.dtype == np.uint8 and split.data.shape[1:] == (32, 32, 3)
        np.testing.assert_array_equal(split.data, theirs.data)
        assert split.targets == theirs.targets and split.classes == theirs.classes
    meta = prepare_dataset(name, tmp_path / "out", 0, root=tmp_path / "raw", val_size=10,
                           download=False, checksums=False)
    assert meta["classes"] == by_torchvision[0].classes


def test_cifar_folder_gone_before_its_files_are_read_names_them(tmp_path):
    """The unverified read runs after the folder's files were found; a folder removed in
    between was a FileNotFoundError traceback, and now names its files missing in one line."""
    from eenet.data import cifar, cifar_files

    cls = cifar._dataset_class("cifar10", checksums=False)
    with pytest.raises(EENetError) as err:
        cifar_files.read_batch_files("cifar10", tmp_path, cls)
    message = str(err.value)
    assert message.startswith(f"cifar10: {tmp_path / cls.base_folder}: data_batch_1 is missing; "
                              "data_batch_2 is missing;") and "\n" not in message


def test_cifar_without_checksums_still_downloads_through_torchvision(cifar_root, tmp_path,
                                                                     monkeypatch):
    """A missing file with download=True is fetched by torchvision (its
    download_and_extract_archive, here a stand-in extracting the fixture), then read as files
    that were there."""
    fetched = _fake_download(monkeypatch, cifar_root)
    meta = prepare_dataset("cifar10", tmp_path / "out", 0, root=tmp_path / "raw", val_size=10,
                           download=True, checksums=False)
    assert fetched == ["cifar-10-python.tar.gz"]
    there = prepare_dataset("cifar10", tmp_path / "there", 0, root=cifar_root, val_size=10,
                            download=False, checksums=False)
    assert meta == there
    for split in ("train", "val", "test"):
        for ours, theirs in zip(read_split(tmp_path / "out", split),
                                read_split(tmp_path / "there", split), strict=True):
            np.testing.assert_array_equal(ours, theirs)


def _fake_download(monkeypatch, cifar_root, offline: bool = False) -> list[str]:
    """Stands in for torchvision's download_and_extract_archive: extracts the fixture's
    folders into the root (over what is there, as the archive's extraction does), or fails
    as it does offline. Returns the list of archives asked for."""
    import shutil
    import urllib.error

    import torchvision.datasets.utils

    fetched = []

    def extract(url, download_root, filename=None, md5=None, **kwargs) -> None:
        fetched.append(filename)
        if offline:
            raise urllib.error.URLError(OSError(-2, "Name or service not known"))
        for folder in ("cifar-10-batches-py", "cifar-100-python"):
            shutil.copytree(cifar_root / folder, Path(download_root) / folder,
                            dirs_exist_ok=True)

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", extract)
    return fetched


@pytest.fixture
def official(cifar_root, monkeypatch):
    """The fixture's files taken for the official ones: torchvision's CIFAR classes list
    their MD5s."""
    import hashlib

    import torchvision.datasets

    def md5(path: Path) -> str:
        return hashlib.md5(path.read_bytes()).hexdigest()

    for cls in (torchvision.datasets.CIFAR10, torchvision.datasets.CIFAR100):
        folder = cifar_root / cls.base_folder
        for attr in ("train_list", "test_list"):
            monkeypatch.setattr(cls, attr, [[file, md5(folder / file)]
                                            for file, _ in getattr(cls, attr)])
        monkeypatch.setattr(cls, "meta", {**cls.meta,
                                          "md5": md5(folder / cls.meta["filename"])})
    return cifar_root


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@pytest.mark.parametrize("checksums", [True, False])
@pytest.mark.parametrize("download", [True, False])
@pytest.mark.parametrize(("damage", "problem"), [
    ("truncated", "data_batch_3 {md5}is corrupt or not in CIFAR's format (pickle data was "
                  "truncated)"),
    ("deleted", "test_batch is missing"),
])
def test_cifar_damaged_folder_names_the_file_in_every_combination(
        official, tmp_path, monkeypatch, damage, problem, download, checksums):
    """With the presets' defaults (download and checksums on) a truncated data_batch_3 or a
    deleted test_batch was "could not load ... (<urlopen error ...>); download ... so that
    .../cifar-10-batches-py/ exists" (the folder exists; no file named); with checksums alone
    "files failing torchvision's checksums; for a copy you trust, set data.options.checksums:
    false"; without checksums the file was named but the advice was "set
    data.options.checksums: true to verify them". Every combination now names the file and
    what is wrong with it, and says to extract the archive again; a failed download is said
    to be one."""
    import shutil

    root = tmp_path / "raw"
    folder = root / "cifar-10-batches-py"
    shutil.copytree(official / "cifar-10-batches-py", folder)
    if damage == "truncated":
        batch = folder / "data_batch_3"
        batch.write_bytes(batch.read_bytes()[:1000])
    else:
        (folder / "test_batch").unlink()
    fetched = _fake_download(monkeypatch, official, offline=True)
    with pytest.raises(EENetError) as err:
        prepare_dataset("cifar10", tmp_path / "out", 0, root=root, val_size=10,
                        download=download, checksums=checksums)
    message = str(err.value)
    problem = problem.format(md5="fails its MD5 checksum and " if checksums else "")
    tried = download and (checksums or damage == "deleted")  # unverified: missing files only
    failed = (f"data.options.download: true tried to download {CIFAR10_URL} to replace it and "
              "failed (<urlopen error [Errno -2] Name or service not known>); download it")
    advice = failed if tried else f"download {CIFAR10_URL}"
    assert message == (f"cifar10: {folder}: {problem}; {advice} and extract it into {root}/ "
                       "again, replacing cifar-10-batches-py/")
    assert fetched == (["cifar-10-python.tar.gz"] if tried else [])
    assert not (tmp_path / "out" / "meta.json").exists()


def test_cifar_download_replaces_a_damaged_folders_files(official, tmp_path, monkeypatch):
    """With download on, a folder whose file fails its MD5 is extracted again from the
    archive (torchvision's download, which an intact archive in the root spares), then read."""
    import shutil

    root = tmp_path / "raw"
    shutil.copytree(official / "cifar-10-batches-py", root / "cifar-10-batches-py")
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:1000])
    fetched = _fake_download(monkeypatch, official)
    meta = prepare_dataset("cifar10", tmp_path / "out", 0, root=root, val_size=10)
    assert fetched == ["cifar-10-python.tar.gz"] and meta["sizes"]["test"] == 30


def test_cifar_files_that_read_but_are_not_the_official_ones(cifar_root, official, tmp_path):
    """A file failing its MD5 that reads as a CIFAR file is named as not the official one;
    only then is checksums: false offered (for a copy one trusts), and a damaged file beside
    it leaves only the advice to extract the archive again."""
    import shutil

    root = tmp_path / "raw"
    folder = root / "cifar-10-batches-py"
    shutil.copytree(official / "cifar-10-batches-py", folder)
    entry = pickle.loads((folder / "data_batch_1").read_bytes())
    (folder / "data_batch_1").write_bytes(pickle.dumps(entry, protocol=4))  # same data
    with pytest.raises(EENetError) as err:
        prepare_dataset("cifar10", tmp_path / "out", 0, root=root, download=False)
    assert str(err.value) == (
        f"cifar10: {folder}: data_batch_1 fails its MD5 checksum (it reads as a CIFAR file: not "
        f"the official one); download {CIFAR10_URL} and extract it into {root}/ again, replacing "
        "cifar-10-batches-py/, or for a copy you trust, set data.options.checksums: false")
    (folder / "test_batch").unlink()
    with pytest.raises(EENetError) as err:
        prepare_dataset("cifar10", tmp_path / "out", 0, root=root, download=False)
    assert "test_batch is missing; data_batch_1 fails" in str(err.value)
    assert str(err.value).endswith("replacing cifar-10-batches-py/")


def test_a_failed_download_to_replace_several_unofficial_files_names_them_all(
        cifar_root, tmp_path, monkeypatch):
    """A copy of one's own (none of its seven files the official one) under the presets'
    defaults, offline: the download to replace them fails. The seven files make one entry of
    the problems, and the error said the download was to "replace it"."""
    import shutil

    root = tmp_path / "raw"
    folder = root / "cifar-10-batches-py"
    shutil.copytree(cifar_root / "cifar-10-batches-py", folder)
    _fake_download(monkeypatch, cifar_root, offline=True)
    with pytest.raises(EENetError) as err:
        prepare_dataset("cifar10", tmp_path / "out", 0, root=root, val_size=10)
    files = "data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch"
    assert str(err.value) == (
        f"cifar10: {folder}: {files}, batches.meta fail their MD5 checksums (they read as CIFAR "
        "files: not the official ones); data.options.download: true tried to download "
        f"{CIFAR10_URL} to replace them and failed (<urlopen error [Errno -2] Name or service "
        f"not known>); download it and extract it into {root}/ again, replacing "
        "cifar-10-batches-py/, or for a copy you trust, set data.options.checksums: false")


# the original AG News CSVs' rows (class 1-4, title, description), with what the hub's loader
# keeps as written: quotes and commas, "NA", an empty description, the `\` line breaks
ORIGINAL_AG_NEWS = [
    ("3", "Wall St. Bears Claw Back Into the Black (Reuters)",
     "Reuters - Short-sellers, Wall Street's dwindling\\band of ultra-cynics, are green again."),
    ("4", "Carlyle Looks Toward Commercial Aerospace (Reuters)",
     "Reuters - Private investment firm Carlyle Group,\\which has a reputation"),
    ("1", "NA", 'A "quoted" description, with commas'),
    ("2", "A title  with two spaces", ""),
]


# how the errors and notes name the two AG News layouts read as they are distributed
ORIGINAL_LAYOUT = "the original AG News CSVs (no header row; class 1-4, title, description)"
KAGGLE_LAYOUT = ("Kaggle's AG News CSVs (header row Class Index,Title,Description; class 1-4, "
                 "title, description)")


def _write_original_ag_news(folder: Path, train: int = 10, test: int = 3) -> Path:
    """train.csv / test.csv as AG News is distributed: no header row, every field quoted."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, repeats in (("train", train), ("test", test)):
        with open(folder / f"{name}.csv", "w", newline="") as fh:
            csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(ORIGINAL_AG_NEWS * repeats)
    return folder


@pytest.mark.parametrize("how", ["local_path", "data_files"])
def test_ag_news_original_csvs_are_read_as_the_hub_has_them(tmp_path, capfd, how):
    """The AG News CSVs as distributed (no header row; class 1-4, title, description) were
    refused: `.../test.csv lacks columns text, label (it has 3, Fears for T N pension ...)`.
    They are read as the hub's loader reads them, text = title + " " + description and label =
    class - 1, said on stderr: the same splits as those files converted to text,label."""
    original = _write_original_ag_news(tmp_path / "original")
    converted = tmp_path / "converted"
    converted.mkdir()
    for name in ("train", "test"):
        with open(original / f"{name}.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        with open(converted / f"{name}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([["text", "label"]] + [
                [f"{title} {description}", int(label) - 1] for label, title, description in rows])
    options = ({"local_path": str(original)} if how == "local_path" else
               {"data_files": {s: str(original / f"{s}.csv") for s in ("train", "test")}})
    meta = prepare_dataset("ag_news", tmp_path / "out", 0, val_size=8,
                           cache_dir=str(tmp_path / "cache"), **options)
    note = capfd.readouterr().err
    assert ("ag_news: read " in note and
            f" as {ORIGINAL_LAYOUT}: text = title + ' ' + description, label = class - 1" in note)
    assert meta["sizes"] == {"train": 32, "val": 8, "test": 12}
    prepare_dataset("ag_news", tmp_path / "want", 0, val_size=8, local_path=str(converted),
                    cache_dir=str(tmp_path / "cache"))
    for split in ("train", "val", "test"):
        got, want = read_split(tmp_path / "out", split), read_split(tmp_path / "want", split)
        assert got[0].tolist() == want[0].tolist() and np.array_equal(got[1], want[1]), split
    texts, labels = read_split(tmp_path / "out", "test")
    assert texts[2] == 'NA A "quoted" description, with commas' and labels[2] == 0
    assert texts[3] == "A title  with two spaces " and labels[:4].tolist() == [2, 3, 0, 1]


def _ag_news_error(tmp_path: Path, folder: Path, reason: str) -> str:
    """The error of preparing AG News from `folder`: one line that says `reason`."""
    with pytest.raises(EENetError) as err:
        prepare_dataset("ag_news", tmp_path / "out", 0, local_path=str(folder), val_size=2,
                        cache_dir=str(tmp_path / "cache"))
    message = str(err.value)
    assert reason in message and "\n" not in message
    return message


@pytest.mark.parametrize(("kind", "reason"), [pytest.param(*case, id=case[0]) for case in [
    # one file in the layout, one with a header: not read as the layout, and said so
    ("test with a header", "train.csv lacks columns text, label (it has 3, Wall St. Bears "),
    # headerless, but two columns: no guess, the error as before
    ("two columns", "split 'train' lacks column(s) label, text; it has 3, "),
    ("a class 14", f"split 'train' row 41 has class '14'; {ORIGINAL_LAYOUT} number the classes "
                   "1-4"),
    ("a row of 4 fields", f"as {ORIGINAL_LAYOUT} (Error tokenizing data. C error: Expected 3 "
                          "fields in line 41, saw 4); expected the train and test splits"),
]])
def test_ag_news_original_layout_is_read_only_as_distributed(tmp_path, kind, reason):
    """The original layout is recognised only where every file begins as it does (three
    fields, the first a class 1-4); each row is then checked, one line naming the first
    that is not in it."""
    folder = _write_original_ag_news(tmp_path / "ag_news")
    if kind == "test with a header":
        (folder / "test.csv").write_text("text,label\na text,1\nanother,2\n")
    elif kind == "two columns":
        for name in ("train", "test"):
            (folder / f"{name}.csv").write_text('"3","a text"\n"1","another"\n' * 5)
    else:
        extra = '"14","a","b"\n' if kind == "a class 14" else '"2","a","b","c"\n'
        with open(folder / "train.csv", "a") as fh:
            fh.write(extra)
    message = _ag_news_error(tmp_path, folder, reason)
    if kind == "test with a header":
        assert message.endswith(f"({folder / 'train.csv'} is in the layout of {ORIGINAL_LAYOUT}, "
                                "which is read only when every file is in it)")


# Kaggle's copy of the AG News CSVs: the original's rows under a header row, written as pandas
# writes them (only fields holding a comma or a quote quoted: a leading space left bare)
KAGGLE_HEADER = "Class Index,Title,Description"
LEADING_SPACES = ("4", " A title after a space", "  a description after two")


def _write_kaggle_ag_news(folder: Path, rows: list[tuple[str, str, str]],
                          header: str = KAGGLE_HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train", "test"):
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            fh.write(header + "\r\n")
            csv.writer(fh).writerows(rows)
    return folder


@pytest.mark.parametrize(("how", "header"), [
    ("local_path", KAGGLE_HEADER),
    # case, spaces around the names and a byte order mark do not matter
    ("data_files", "\ufeffclass index, Title ,DESCRIPTION"),
    # a byte order mark before a quoted header (quoting every field, as Excel or pandas may
    # save it): the mark hid the first quote, and the file read as text,label's
    ("local_path", '\ufeff"Class Index","Title","Description"'),
])
def test_ag_news_kaggle_csvs_give_the_original_csvs_data(tmp_path, capfd, how, header):
    """Kaggle's AG News CSVs (header `Class Index,Title,Description`, the original's rows)
    were refused: `split 'train' lacks column(s) label, text; it has Class Index, Title,
    Description`. They give exactly the splits the original headerless CSVs give (class 1-4
    -> label 0-3, title + " " + description), a leading space kept as the original's quotes
    keep it, and stderr says how they were read."""
    rows = ORIGINAL_AG_NEWS * 9 + [LEADING_SPACES] * 4
    original = tmp_path / "original"
    original.mkdir()
    for name in ("train", "test"):
        with open(original / f"{name}.csv", "w", newline="") as fh:
            csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(rows)
    kaggle = _write_kaggle_ag_news(tmp_path / "kaggle", rows, header)
    assert (kaggle / "train.csv").read_text(encoding="utf-8").splitlines()[-1] == (
        "4, A title after a space,  a description after two")
    options = ({"local_path": str(kaggle)} if how == "local_path" else
               {"data_files": {s: str(kaggle / f"{s}.csv") for s in ("train", "test")}})
    meta = prepare_dataset("ag_news", tmp_path / "out", 0, val_size=8,
                           cache_dir=str(tmp_path / "cache"), **options)
    note = capfd.readouterr().err
    assert f" as {KAGGLE_LAYOUT}: text = title + ' ' + description, label = class - 1" in note
    assert meta["sizes"] == {"train": 32, "val": 8, "test": 40}
    prepare_dataset("ag_news", tmp_path / "want", 0, val_size=8, local_path=str(original),
                    cache_dir=str(tmp_path / "cache"))
    for split in ("train", "val", "test"):
        got, want = read_split(tmp_path / "out", split), read_split(tmp_path / "want", split)
        assert got[0].tolist() == want[0].tolist() and np.array_equal(got[1], want[1]), split
    texts, labels = read_split(tmp_path / "out", "test")
    assert texts[2] == 'NA A "quoted" description, with commas' and labels[:4].tolist() == [
        2, 3, 0, 1]
    assert texts[-1] == " A title after a space   a description after two" and labels[-1] == 3


@pytest.mark.parametrize(("kind", "reason"), [pytest.param(*case, id=case[0]) for case in [
    # a Kaggle file beside a text,label file: neither layout is guessed, the file is named
    ("test as text,label", "train.csv lacks columns text, label (it has Class Index, Title, "
                           "Description); expected the train and test splits"),
    # a Kaggle file beside an original one: one layout each, said so
    ("test headerless", "test.csv lacks columns text, label (it has 3, Wall St. Bears "),
    ("a class 0", f"split 'train' row 41 has class '0'; {KAGGLE_LAYOUT} number the classes 1-4"),
]])
def test_ag_news_kaggle_layout_is_read_only_as_distributed(tmp_path, kind, reason):
    """Kaggle's layout, like the original's, is read only where every file has its header, and
    each row is then checked: one line naming the first row that is not in it."""
    folder = _write_kaggle_ag_news(tmp_path / "ag_news", ORIGINAL_AG_NEWS * 10)
    if kind == "test as text,label":
        (folder / "test.csv").write_text("text,label\na text,1\nanother,2\n")
    elif kind == "test headerless":
        _write_original_ag_news(tmp_path / "original")
        (tmp_path / "original" / "test.csv").replace(folder / "test.csv")
    else:
        with open(folder / "train.csv", "a") as fh:
            fh.write("0,a,b\r\n")
    message = _ag_news_error(tmp_path, folder, reason)
    if kind == "test as text,label":
        assert message.endswith(f"({folder / 'train.csv'} is in the layout of {KAGGLE_LAYOUT}, "
                                "which is read only when every file is in it)")
    if kind == "test headerless":
        assert message.endswith(f"({folder / 'test.csv'} is in the layout of {ORIGINAL_LAYOUT}; "
                                f"{folder / 'train.csv'} is in the layout of {KAGGLE_LAYOUT}: a "
                                "layout is read only when every file is in it)")


def _named_split(names: list, order: list[int], repeat: int):
    """An SST-2 split whose `label` is a ClassLabel of `names`: its rows' texts name their
    class ("negative film"), the classes in `order` (indices into `names`) `repeat` times."""
    import datasets

    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=names)})
    return datasets.Dataset.from_dict(
        {"sentence": [f"{names[i].strip().lower()} film" for i in order] * repeat,
         "label": order * repeat}, features=features)


def test_saved_class_names_in_another_order_are_renumbered_by_name(tmp_path, capsys):
    """A saved DatasetDict whose ClassLabel numbers SST-2's classes in another order (here the
    test split's, not the training split's) gives the preset's numbering in every split: a
    "negative" text is 0 wherever it is, as meta.json's names say; a line on stderr says so.
    Read as numbers, the test split's labels had been the training split's swapped."""
    import datasets

    datasets.DatasetDict({
        "train": _named_split(["negative", "positive"], [0, 1], 10),
        "validation": _named_split(["Positive", "negative"], [0, 1, 1], 3),
    }).save_to_disk(tmp_path / "saved")
    meta = prepare_dataset("sst2", tmp_path / "out", 0, val_size=4,
                           local_path=str(tmp_path / "saved"), cache_dir=str(tmp_path / "c"))
    assert meta["classes"] == ["negative", "positive"]
    for split in ("train", "val", "test"):
        texts, labels = read_split(tmp_path / "out", split)
        assert {(str(t), int(y)) for t, y in zip(texts, labels, strict=True)} == {
            ("negative film", 0), ("positive film", 1)}, split
    _, test_labels = read_split(tmp_path / "out", "test")
    assert test_labels.tolist() == [1, 0, 0] * 3
    assert ("sst2: split 'validation': its label feature numbers the classes 0 Positive, "
            "1 negative: renumbered by name as the preset's (0 negative, 1 positive)"
            in capsys.readouterr().err)


def test_saved_class_names_other_than_the_presets_are_refused(tmp_path):
    """A ClassLabel naming other classes than the preset's is a one-line error naming the
    split and both sets of names: no numbering of them can be trusted. ClassLabel's own names
    of a bare class count ("0", "1") name nothing and are read as numbers."""
    import datasets

    datasets.DatasetDict({
        "train": _named_split(["neg", "pos"], [0, 1], 10),
        "validation": _named_split(["neg", "pos"], [0, 1], 3),
    }).save_to_disk(tmp_path / "saved")
    with pytest.raises(EENetError, match=(
            r"^sst2: split 'train': its label feature names the classes neg, pos, not the "
            r"preset's \(0 negative, 1 positive\); give its classes the preset's names "
            r"\(Dataset\.align_labels_with_mapping\) or store plain integer labels numbered "
            r"so$")):
        prepare_dataset("sst2", tmp_path / "out", 0, val_size=4,
                        local_path=str(tmp_path / "saved"), cache_dir=str(tmp_path / "c"))
    bare = datasets.Features({"sentence": datasets.Value("string"),
                              "label": datasets.ClassLabel(num_classes=2)})
    datasets.DatasetDict({
        name: datasets.Dataset.from_dict({"sentence": ["a film", "b film"] * n,
                                          "label": [1, 0] * n}, features=bare)
        for name, n in (("train", 10), ("validation", 3))
    }).save_to_disk(tmp_path / "bare")
    prepare_dataset("sst2", tmp_path / "out2", 0, val_size=4,
                    local_path=str(tmp_path / "bare"), cache_dir=str(tmp_path / "c"))
    assert read_split(tmp_path / "out2", "test")[1].tolist() == [1, 0] * 3


def test_a_local_file_replaced_keeping_its_size_and_time_is_read_anew(tmp_path):
    """`datasets` reuses its cache of a local file of the same path, size and modification
    time: labels rewritten in place (an archive or `rsync -a` restoring the time) gave the old
    rows, also after `dvc repro -f` (found by an audit). Local files are read anew each time."""
    import csv
    import os

    folder = write_ag_news(tmp_path / "ag", n_train=30, n_test=12)
    cache = str(tmp_path / "cache")
    prepare_dataset("ag_news", tmp_path / "first", 0, val_size=5, local_path=str(folder),
                    cache_dir=cache)
    train = folder / "train.csv"
    stat = train.stat()
    rows = list(csv.reader(train.open(newline="")))
    rows[1:] = [[text, str((int(label) + 1) % 4)] for text, label in rows[1:]]
    with train.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    os.utime(train, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert train.stat().st_size == stat.st_size
    prepare_dataset("ag_news", tmp_path / "second", 0, val_size=5, local_path=str(folder),
                    cache_dir=cache)
    for split in ("train", "val"):
        first_x, first_y = read_split(tmp_path / "first", split)
        second_x, second_y = read_split(tmp_path / "second", split)
        assert first_x.tolist() == second_x.tolist()
        assert second_y.tolist() == [(int(y) + 1) % 4 for y in first_y]


def test_a_cifar_download_from_a_silent_server_fails_instead_of_hanging(tmp_path, monkeypatch):
    """Behind a proxy (or to a server) that accepts the connection and never answers,
    torchvision's download waited without end, and the stage hung without a word (found by
    an audit): a connection silent for DOWNLOAD_TIMEOUT_S seconds is a failed download."""
    import socket

    from eenet.data import cifar

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # connections complete in the backlog; nothing is ever read or sent
    proxy = f"http://127.0.0.1:{silent.getsockname()[1]}"
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cifar, "DOWNLOAD_TIMEOUT_S", 1.0)
    try:
        with pytest.raises(EENetError) as err:
            prepare_dataset("cifar10", tmp_path / "out", 0, root=tmp_path / "raw", val_size=10,
                            download=True)
    finally:
        silent.close()
    assert "folder not found, and its download failed" in str(err.value)
    assert "timed out" in str(err.value) and "\n" not in str(err.value)
    assert socket.getdefaulttimeout() is None  # restored
