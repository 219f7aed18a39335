"""The prepared-data format every data set is written in, and its torch loader.

`data/<name>/` holds `train.npz`, `val.npz`, `test.npz` (compressed npz of arrays `x` and `y`, no
pickles) and `meta.json` with at least `dataset`, `kind` ("sequence", "image" or "text"),
`num_classes` and `sizes`. Images are uint8 NHWC with `mean`/`std` per channel in the meta;
sequences are float32 [N, L]. Texts are stored as `text_utf8` (every text's UTF-8 bytes, one
after another, uint8) and `text_offsets` (int64 [N + 1]: text i is bytes offsets[i]:offsets[i+1])
instead of `x`, so a long text costs its own length only; `read_split` gives them back as `x`, a
numpy array of Python str (dtype object, built in memory, never unpickled), tokenised later by
the model's `collate`. A split written before (`x` a unicode array) still reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from eenet.atomic import write_with
from eenet.batching import SampleBatch, row_index
from eenet.digests import file_sha256
from eenet.errors import (
    NUMPY_LOAD_ERRORS,
    ArtifactError,
    ConfigError,
    npz_array,
    numpy_load_problem,
    require_regular_file,
)
from eenet.jsonio import read_json_object, write_json
from eenet.outputs import checked_labels

if TYPE_CHECKING:
    from eenet.models.base import MultiExitModel

SPLITS = ("train", "val", "test")
KINDS = ("sequence", "image", "text")


def write_split(out_dir: Path, split: str, x: np.ndarray, y: np.ndarray) -> None:
    """Atomically write one split, deflate-compressed (`np.load` reads it as any npz).

    Texts (`x` of str, as a unicode or object array) are written as UTF-8 bytes and offsets,
    not as a fixed-width unicode array: that is 4 bytes per character of the longest text in
    every row, so one long text made the split (and its reading) rows x longest text.
    """
    arrays = encode_texts(x, f"{split} split") if x.dtype.kind in "UO" else {"x": x}

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays, y=np.asarray(y, dtype=np.int64))

    write_with(out_dir / f"{split}.npz", _write)


def encode_texts(texts: np.ndarray, where: str = "texts") -> dict[str, np.ndarray]:
    """`text_utf8` (all texts' UTF-8 bytes, concatenated) and `text_offsets` (int64 [N + 1]).
    A text that is no valid Unicode (a lone surrogate, as a JSON escape `\\ud800` makes) is a
    one-line ConfigError naming it by its index in `where`."""
    try:
        encoded = [str(t).encode("utf-8") for t in texts]
    except UnicodeEncodeError:
        index = next(i for i, t in enumerate(texts) if not _encodes(str(t)))
        raise ConfigError(f"{where}: text {index} is not valid Unicode (a lone surrogate: "
                          f"{str(texts[index])[:40]!r}); fix or drop it in the data") from None
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return {"text_utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8),
            "text_offsets": offsets}


def _encodes(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# the arrays a text split holds in place of `x`
TEXT_ARRAYS = frozenset({"text_utf8", "text_offsets"})


def decode_texts(data: np.ndarray, offsets: np.ndarray, path: str | Path) -> np.ndarray:
    """The texts of `encode_texts` as an object array of str; a one-line ArtifactError naming
    `path` when the arrays do not fit together."""
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ArtifactError(f"{path}: 'text_utf8' must be 1-D uint8, got {data.dtype} "
                            f"{data.shape} (rerun the download stage)")
    if (offsets.dtype.kind not in "iu" or offsets.ndim != 1 or offsets.size < 1
            or offsets[0] != 0 or offsets[-1] != data.size or np.any(np.diff(offsets) < 0)):
        raise ArtifactError(f"{path}: 'text_offsets' must rise from 0 to the {data.size} bytes "
                            "of 'text_utf8' (rerun the download stage)")
    raw = data.tobytes()
    texts = np.empty(offsets.size - 1, dtype=object)
    try:
        for i, (start, end) in enumerate(zip(offsets[:-1].tolist(), offsets[1:].tolist(),
                                             strict=True)):
            texts[i] = raw[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: text {i} is not UTF-8 ({exc.reason}); rerun the download "
                            "stage") from None
    return texts


def split_inputs(npz: np.lib.npyio.NpzFile, path: str | Path) -> np.ndarray:
    """A split's inputs: `x`, or its texts decoded from `text_utf8` / `text_offsets` (errors
    name `path`)."""
    if "x" in npz.files:
        return npz_array(npz, "x")
    if set(npz.files) >= TEXT_ARRAYS:
        return decode_texts(npz_array(npz, "text_utf8"), npz_array(npz, "text_offsets"), path)
    raise ArtifactError(f"{path}: neither 'x' nor 'text_utf8' and 'text_offsets' in it "
                        "(rerun the download stage)")


def write_meta(out_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Atomically write `meta.json` (written last: its presence marks a complete data set)."""
    if meta.get("kind") not in KINDS:
        raise ValueError(f"meta kind must be one of {KINDS}")
    write_json(out_dir / "meta.json", meta)
    return meta


def read_meta(data_dir: str | Path) -> dict[str, Any]:
    """Read a prepared data set's meta.json; a value the loader cannot use (`kind`,
    `num_classes`, an image set's `mean` / `std`) is a one-line ArtifactError naming it."""
    path = Path(data_dir) / "meta.json"
    meta = read_json_object(path, "prepared data set", "run the download stage",
                            required=("kind", "num_classes"))
    problem = _meta_problem(meta)
    if problem:
        raise ArtifactError(f"{path}: {problem} (rerun the download stage)")
    return meta


def _meta_problem(meta: dict[str, Any]) -> str | None:
    """What makes a meta.json unusable, in words (None when it is fine)."""
    if meta["kind"] not in KINDS:
        return f"kind must be one of {', '.join(KINDS)}; got {meta['kind']!r}"
    classes = meta["num_classes"]
    if type(classes) is not int or classes < 2:
        return f"num_classes must be an integer >= 2, got {classes!r}"
    if meta["kind"] == "image":
        return channel_stats_problem(meta)
    return None


def channel_stats_problem(stats: Mapping[str, Any]) -> str | None:
    """What is wrong with an image set's per-channel `mean` / `std` (None: 3 finite numbers
    each, the std's > 0)."""
    for key, low in (("mean", -math.inf), ("std", 0.0)):
        values = stats.get(key)
        if not (isinstance(values, list) and len(values) == 3 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                and v > low for v in values)):
            bound = ", each > 0" if key == "std" else ""
            return (f"{key} must be a list of 3 finite numbers (one per colour "
                    f"channel{bound}), got {values!r}")
    return None


def split_digest(data_dir: str | Path, split: str) -> str:
    """The sha256 of one prepared split's file: what a training run saw, beyond meta.json
    (relabelled or edited samples keep its sizes and statistics)."""
    return file_sha256(Path(data_dir) / f"{split}.npz")


def read_split(data_dir: str | Path, split: str,
               num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Arrays (x, y) of one split: at least one sample, finite where its inputs are floats,
    one integer label per sample, each in [0, `num_classes`) when given (else a one-line
    ArtifactError naming the file)."""
    if split not in SPLITS:
        raise ConfigError(f"split: unknown value {split!r}; allowed: {', '.join(SPLITS)}")
    path = Path(data_dir) / f"{split}.npz"
    require_regular_file(path, "a split .npz", "split not found (run the download stage)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = split_inputs(npz, path), npz_array(npz, "y")
    except NUMPY_LOAD_ERRORS as exc:
        raise ArtifactError(f"{path}: not a readable split file ({numpy_load_problem(exc)})"
                            ) from None
    if x.ndim == 0:
        raise ArtifactError(f"{path}: 'x' must hold one sample per row, got a scalar")
    if x.shape[0] == 0:
        raise ArtifactError(f"{path}: no samples")
    if x.dtype.kind == "f":  # NaN inputs give NaN logits: garbage answers at the last exit
        bad = x.size - int(np.count_nonzero(np.isfinite(x)))
        if bad:
            raise ArtifactError(f"{path}: 'x' holds {bad} value{'s' if bad != 1 else ''} not "
                                f"finite (NaN or inf); rerun the download stage")
    return x, checked_labels(y, x.shape[0], num_classes or np.iinfo(np.int64).max,
                             str(path), "'y'")


def stored_sample_shape(meta: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The shape one sample of a split is stored in, by meta.json's `input_shape` (the shape
    the models take): images (height, width, channels) for [channels, height, width],
    sequences (length,) for [1, length]; None where it records none (texts) or another form."""
    shape = meta.get("input_shape")
    if not (isinstance(shape, list) and all(type(d) is int for d in shape)):
        return None
    if meta["kind"] == "image" and len(shape) == 3:
        return shape[1], shape[2], shape[0]
    if meta["kind"] == "sequence" and len(shape) == 2 and shape[0] == 1:
        return (shape[1],)
    return None


def check_sample_shape(x: np.ndarray, meta: Mapping[str, Any], path: Path) -> None:
    """A split's samples `x` are stored as its meta.json's `input_shape` says; else a
    one-line ArtifactError naming the split file `path` (4-channel images were a traceback
    from `normalise_pixels`, sequences of another length trained a network that pools over
    any length, silently)."""
    wanted = stored_sample_shape(meta)
    if wanted is not None and tuple(x.shape[1:]) != wanted:
        raise ArtifactError(f"{path}: samples of shape {tuple(x.shape[1:])}, but "
                            f"{path.parent / 'meta.json'}'s input_shape {meta['input_shape']} "
                            f"stores them as {wanted}; rerun the download stage")


class PreparedDataset(Dataset):
    """A prepared split as (input, label) items; image splits can be augmented for training.

    A batch of samples is read at once (`__getitems__`, as a DataLoader and
    `eenet.batching.split_batches` read): its rows of the split's arrays, converted
    together into the tensors the samples one by one would stack into. Augmentation (the pad-4
    random crop and horizontal flip of the CIFAR recipe, `eenet.data.augment`) draws each
    sample's crop and flip from (seed, epoch, index), set by `set_epoch`: the same whatever
    process or batch loads the sample, so the number of loader workers does not change the
    trained weights.

    Images are normalised with the meta's per-channel `mean` / `std` (its training split's),
    or with `normalisation` where given: a trained model's `input_normalisation`, the
    statistics of the data it was trained on, which its inputs must have whatever folder
    holds the images."""

    def __init__(self, data_dir: str | Path, split: str, augment: bool = False,
                 normalisation: Mapping[str, Any] | None = None) -> None:
        self.meta = read_meta(data_dir)
        self.kind = self.meta["kind"]
        self.x, self.y = read_split(data_dir, split, self.meta["num_classes"])
        check_sample_shape(self.x, self.meta, Path(data_dir) / f"{split}.npz")
        self.augment = augment and self.kind == "image"
        self._draw = (0, 0)  # (seed, epoch) of the augmentation draws
        if self.kind == "image":
            stats = self.meta if normalisation is None else normalisation
            self._mean, self._std = channel_tensors(stats["mean"], stats["std"])

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        """Draw this epoch's augmentations (before the loader's iterator is made)."""
        self._draw = (int(seed), int(epoch))

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, index: int) -> tuple[Any, int]:
        label = int(self.y[index])
        if self.kind == "text":
            return str(self.x[index]), label
        if self.kind == "sequence":  # a copy, as a batch's (`__getitems__`)
            return torch.from_numpy(np.array(self.x[index], dtype=np.float32))[None, :], label
        if self.augment:  # drawn as in a batch: the same sample, the same crop and flip
            return self.__getitems__([index])[0]
        image = unit_pixels(self.x[index][None])[0]
        return (image - self._mean) / self._std, label

    def __getitems__(self, indices: Sequence[int]) -> SampleBatch:
        """The samples `indices` read at once: what their items would batch into (inputs
        stacked, or texts; int64 labels), from one slice (a range) or gather of the arrays."""
        rows = row_index(indices)
        labels = torch.from_numpy(np.array(self.y[rows], dtype=np.int64))
        if self.kind == "text":
            return SampleBatch(self.x[rows].tolist(), labels)
        if self.kind == "sequence":  # a copy: a batch changed in place leaves the split as it is
            values = np.array(self.x[rows], dtype=np.float32)
            return SampleBatch(torch.from_numpy(values)[:, None, :], labels)
        pixels = self.x[rows]
        if self.augment:  # before normalising: the crop pads black, as the recipe's does
            from eenet.data.augment import augment_pixels

            pixels = augment_pixels(pixels, np.arange(len(self))[rows], *self._draw)
        # contiguous, as the samples stacked are (not the channels-last strides of NHWC)
        images = normalise_pixels(pixels, self._mean, self._std).contiguous()
        return SampleBatch(images, labels)


def channel_tensors(mean: Any, std: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """An image set's per-channel `mean` / `std` (its meta.json's, or a trained model's
    `input_normalisation`) as float32 tensors shaped (3, 1, 1)."""
    return (torch.from_numpy(np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)),
            torch.from_numpy(np.asarray(std, dtype=np.float32).reshape(3, 1, 1)))


def unit_pixels(pixels: np.ndarray) -> torch.Tensor:
    """uint8 NHWC pixels as float32 NCHW scaled to [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float() / 255.0


def normalise_pixels(pixels: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC pixels as the image models take them: float32 NCHW, scaled to [0, 1] and
    normalised per channel (the training data's statistics, `channel_tensors`)."""
    return (unit_pixels(pixels) - mean) / std


def split_for_model(model: MultiExitModel, model_dir: str | Path, data_dir: str | Path,
                    split: str) -> PreparedDataset:
    """A prepared split to run the model of `model_dir` on, refused in one line when it has
    another class count than the model, or samples that are not what the model
    takes (`eenet.models.base.check_data_fits`). Images are normalised as the model's
    training data (its recorded `input_normalisation`; the folder's own statistics for a
    model that records none), not by the statistics of another folder's training split."""
    from eenet.models.artifact import read_trained_config
    from eenet.models.base import check_data_fits

    config = read_trained_config(model_dir)
    dataset = PreparedDataset(data_dir, split, normalisation=config.get("input_normalisation"))
    classes = config["num_classes"]
    if dataset.meta["num_classes"] != classes:
        raise ArtifactError(f"{Path(data_dir) / 'meta.json'}: {dataset.meta['num_classes']} "
                            f"classes; the model in {model_dir} has {classes}")
    check_data_fits(model, dataset, str(data_dir), f"the model in {model_dir}")
    return dataset
