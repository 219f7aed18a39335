"""Prepared splits are compressed npz files that read back exactly, without pickles."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest

from eenet.data import prepare_dataset
from eenet.data.prepared import PreparedDataset, read_split, write_meta, write_split
from eenet.errors import ArtifactError, ConfigError


def test_text_split_round_trips_compressed(tmp_path):
    rng = np.random.default_rng(0)
    words = np.array(["market", "game", "film", "été", "數據", "a"])
    texts = [" ".join(rng.choice(words, int(rng.integers(1, 40)))) for _ in range(500)]
    x = np.asarray(texts, dtype=np.str_)
    y = rng.integers(0, 4, len(texts))
    write_split(tmp_path, "train", x, y)
    path = tmp_path / "train.npz"
    with zipfile.ZipFile(path) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    assert path.stat().st_size < x.nbytes / 4  # fixed-width unicode is mostly padding
    x_back, y_back = read_split(tmp_path, "train")
    assert x_back.dtype == object and y_back.dtype == np.int64
    np.testing.assert_array_equal(x_back, x)
    np.testing.assert_array_equal(y_back, y)
    write_meta(tmp_path, {"dataset": "t", "kind": "text", "num_classes": 4, "sizes": {}})
    assert PreparedDataset(tmp_path, "train")[3] == (texts[3], int(y[3]))


def test_one_long_text_does_not_pad_every_row(tmp_path):
    """Texts were a fixed-width unicode array: one 1,000,000-character row among 200 made the
    split 760 MB on disk and 2.1 GB read back (4 bytes per character of the longest text in
    every row). Stored as UTF-8 bytes with offsets, each text costs its own length (here one
    200,000-character row)."""
    rng = np.random.default_rng(0)
    long_text = "".join(rng.choice(list("abcdefghé數 "), 200_000))  # incompressible-ish
    texts = [long_text, *(f"row {i} été 數據 ✓" for i in range(199))]
    write_split(tmp_path, "train", np.asarray(texts, dtype=object), np.arange(200) % 2)
    with np.load(tmp_path / "train.npz", allow_pickle=False) as npz:
        assert set(npz.files) == {"text_utf8", "text_offsets", "y"}
        stored = sum(npz[key].nbytes for key in npz.files)
    assert stored < 2 * len(long_text.encode("utf-8"))  # not 200 rows x the longest text
    assert (tmp_path / "train.npz").stat().st_size < len(long_text.encode("utf-8"))
    x_back, _ = read_split(tmp_path, "train")
    assert x_back.tolist() == texts


def test_a_text_that_is_no_valid_unicode_is_named_and_nothing_written(tmp_path):
    """A lone surrogate (a JSON escape such as \\ud800 in a local data file) raised
    UnicodeEncodeError from deep in the split's write; now one line naming the text."""
    texts = np.array(["fine", "also fine", "broken \ud800 here"], dtype=object)
    with pytest.raises(ConfigError) as caught:
        write_split(tmp_path, "train", texts, np.array([0, 1, 0]))
    assert str(caught.value) == ("train split: text 2 is not valid Unicode (a lone surrogate: "
                                 "'broken \\ud800 here'); fix or drop it in the data")
    assert not list(tmp_path.iterdir())


def test_text_splits_written_as_unicode_arrays_still_read(tmp_path):
    texts = np.asarray(["été", "數據", ""], dtype=np.str_)
    np.savez_compressed(tmp_path / "val.npz", x=texts, y=np.arange(3))
    assert read_split(tmp_path, "val")[0].tolist() == texts.tolist()


@pytest.mark.parametrize(("arrays", "problem"), [
    ({"text_utf8": np.frombuffer(b"ab\xff", np.uint8), "text_offsets": np.array([0, 2, 3])},
     "text 1 is not UTF-8"),
    ({"text_utf8": np.frombuffer(b"abc", np.uint8), "text_offsets": np.array([0, 2, 5])},
     "'text_offsets' must rise from 0 to the 3 bytes of 'text_utf8'"),
    ({"text_utf8": np.zeros(3, np.int32), "text_offsets": np.array([0, 3])},
     "'text_utf8' must be 1-D uint8"),
    ({"text_offsets": np.array([0, 3])}, "neither 'x' nor 'text_utf8' and 'text_offsets'"),
])
def test_damaged_text_splits_are_one_line(tmp_path, arrays, problem):
    np.savez_compressed(tmp_path / "test.npz", **arrays, y=np.arange(2))
    with pytest.raises(ArtifactError) as err:
        read_split(tmp_path, "test")
    assert str(err.value).startswith(f"{tmp_path / 'test.npz'}: {problem}"), err.value
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("arrays", "pickled"), [
    ({"x": np.zeros((2, 40), np.float32), "y": np.arange(2)}, "x"),
    ({"x": np.zeros((2, 40), np.float32), "y": np.arange(2)}, "y"),
    ({"text_utf8": np.frombuffer(b"ab", np.uint8), "text_offsets": np.array([0, 1, 2]),
      "y": np.arange(2)}, "text_utf8"),
])
def test_a_split_member_that_is_no_npy_array_is_one_line(tmp_path, arrays, pickled):
    """A member holding a pickle, not an .npy array: numpy hands its raw bytes, which were an
    AttributeError traceback ('bytes' has no attribute 'ndim' / 'dtype'); never unpickled."""
    with zipfile.ZipFile(tmp_path / "test.npz", "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            data = pickle.dumps(array) if name == pickled else buffer.getvalue()
            archive.writestr(f"{name}.npy", data)
    with pytest.raises(ArtifactError) as err:
        read_split(tmp_path, "test")
    assert str(err.value) == (f"{tmp_path / 'test.npz'}: not a readable split file (member "
                              f"'{pickled}.npy' is not an .npy array)")


def test_image_split_round_trips_compressed(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    write_split(tmp_path, "val", x, np.arange(20) % 10)
    x_back, y_back = read_split(tmp_path, "val")
    np.testing.assert_array_equal(x_back, x)
    np.testing.assert_array_equal(y_back, np.arange(20) % 10)


@pytest.mark.parametrize(("kind", "input_shape", "x", "stored"), [
    ("image", [3, 8, 8], np.zeros((4, 8, 8, 4), dtype=np.uint8), (8, 8, 3)),
    ("image", [3, 8, 8], np.zeros((4, 8, 8), dtype=np.uint8), (8, 8, 3)),
    ("sequence", [1, 40], np.zeros((4, 50), dtype=np.float32), (40,)),
])
def test_split_samples_of_another_shape_than_meta_json_are_one_line(tmp_path, kind, input_shape,
                                                                     x, stored):
    """4-channel images under an image meta.json were a traceback from normalise_pixels at
    the first sample; sequences of another length read as if they fitted."""
    write_split(tmp_path, "train", x, np.arange(4) % 2)
    write_meta(tmp_path, {"dataset": "toy", "kind": kind, "num_classes": 2,
                          "input_shape": input_shape, "mean": [0.5] * 3, "std": [0.25] * 3})
    with pytest.raises(ArtifactError) as err:
        PreparedDataset(tmp_path, "train")[0]
    assert str(err.value) == (f"{tmp_path / 'train.npz'}: samples of shape {x.shape[1:]}, but "
                              f"{tmp_path / 'meta.json'}'s input_shape {input_shape} stores them "
                              f"as {stored}; rerun the download stage")


@pytest.mark.parametrize(("fraction", "held_out"), [(0.001, 0), (0.999, 80)])
def test_mnist1d_val_fraction_leaving_a_split_empty_is_a_one_line_error(tmp_path, fraction,
                                                                       held_out):
    """A fraction inside (0, 1) can still round to no validation sample or no training sample
    of a small data set: the download succeeded and training then reported 0 % validation
    accuracy, or failed with a sampler traceback."""
    with pytest.raises(ConfigError) as err:
        prepare_dataset("mnist1d", tmp_path / "data", 0, num_samples=100, val_fraction=fraction)
    assert str(err.value) == (
        f"data.options.val_fraction: {fraction} holds out {held_out} of the 80 training samples "
        "(num_samples 100); train and val need one each, e.g. from 0.0125 to 0.9875"
    )
    assert not (tmp_path / "data" / "meta.json").exists()


def test_mnist1d_holds_out_val_fraction_of_the_training_split(tmp_path):
    meta = prepare_dataset("mnist1d", tmp_path / "data", 0, num_samples=100, val_fraction=0.0125)
    assert meta["sizes"] == {"train": 79, "val": 1, "test": 20}
