"""`eenet predict --input`: an input file as the model's inputs, in batches.

A .npy of inputs, or an .npz with `x` and optional integer labels `y` (never unpickled):
numbers shaped as the model's samples, uint8 pixels of an image model (normalised as its
training data), or texts for a model that tokenises them. Each problem is a one-line error
naming --input.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from eenet.batching import SampleBatch, row_index, split_batches
from eenet.data.prepared import TEXT_ARRAYS, split_inputs
from eenet.errors import (
    NUMPY_LOAD_ERRORS,
    ArtifactError,
    ConfigError,
    naming,
    npz_array,
    numpy_load_problem,
    require_regular_file,
)
from eenet.models.base import MultiExitModel, input_sample_shape, sample_misfit
from eenet.outputs import checked_labels


def _texts(x: np.ndarray, path: Path) -> list[str]:
    """One text per sample: a 1-D array of str, or of bytes decoded as UTF-8 (`str()` made
    "b'...'" of them, tokenised as such); any other shape (a row of several strings, whose
    repr was classified) or undecodable bytes is a one-line ArtifactError."""
    if x.ndim != 1:
        raise ArtifactError(f"--input: {path}: texts must be a 1-D array, one string per "
                            f"sample, got shape {x.shape}")
    if x.dtype.kind == "S":
        try:
            return np.char.decode(x, "utf-8").tolist()
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"--input: {path}: texts given as bytes must be UTF-8 "
                                f"({exc.reason} at byte {exc.start})") from None
    return x.tolist()  # str: an array of them, or a prepared split's decoded texts


def read_input_file(
    path: str | Path, model: MultiExitModel, num_classes: int,
    normalisation: dict[str, Any] | None = None,
) -> tuple[torch.Tensor | list[str], np.ndarray | None]:
    """Inputs as the model takes them (samples shaped as its example inputs, a missing channel
    axis added; uint8 pixels of an image model normalised by its `normalisation`; or texts,
    for a model that tokenises them in `collate`), and labels (integers in [0, `num_classes`),
    or None)."""
    path = Path(path)
    x, labels = load_input_arrays(path)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ArtifactError(f"--input: {path}: no samples (shape {x.shape})")
    sample = input_sample_shape(model)
    takes_texts = sample is None
    if x.dtype == np.uint8 and sample is not None and len(sample) == 3:
        return (_normalised_pixels(x, sample, normalisation, path),
                _checked_y(labels, x.shape[0], num_classes, path))
    # texts are str / bytes; numbers bool, integer or float (complex would lose its imaginary
    # part in the cast to float32; structured records and dates are no model inputs)
    # texts decoded from a prepared split are an object array of str (never unpickled)
    if x.dtype.kind not in ("USO" if takes_texts else "biuf"):
        wanted = ("texts (an array of strings)" if takes_texts
                  else "numeric arrays (bool, integer or float)")
        raise ArtifactError(f"--input: {path}: the model takes {wanted}, got dtype {x.dtype}")
    if takes_texts:
        return _texts(x, path), _checked_y(labels, x.shape[0], num_classes, path)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range: inf, refused below
        values = np.ascontiguousarray(x, dtype=np.float32)
    bad = values.size - int(np.count_nonzero(np.isfinite(values)))
    if bad:  # NaN logits score below every threshold: such samples left, garbage, at the last
        raise ArtifactError(f"--input: {path}: {bad} value{'s' if bad != 1 else ''} not finite "
                            f"as float32 (NaN, inf, or beyond +-3.4e38); inputs must be finite")
    if normalisation is not None:
        note = raw_pixels_note(values)
        if note:
            print(f"note: --input: {path}: {note}", file=sys.stderr)
    inputs = torch.from_numpy(values)
    if inputs.ndim == len(sample):  # no channel axis
        inputs = inputs.unsqueeze(1)
    if tuple(inputs.shape[1:]) != sample:
        # one sample without its sample axis (without its channel axis too, for one channel)
        if tuple(x.shape) == sample or sample[0] == 1 and tuple(x.shape) == sample[1:]:
            raise ArtifactError(f"--input: {path}: 'x' of shape {tuple(x.shape)} is one sample "
                                f"without the sample axis; give 'x' the shape {(1, *x.shape)}")
        # one channel: samples without their channel axis are taken too (above)
        bare = f", or {sample[1:]} without the channel axis" if sample[0] == 1 else ""
        raise ArtifactError(f"--input: {path}: {sample_misfit(x.shape[1:], sample, also=bare)}")
    return inputs, _checked_y(labels, x.shape[0], num_classes, path)


# float image inputs beyond this: likely raw pixels, not normalised ones (CIFAR's normalised
# values lie within about -2.5 to 2.8)
RAW_PIXEL_HINT = 20.0
RAW_PIXEL_SAMPLES = 8


def raw_pixels_note(values: np.ndarray) -> str | None:
    """What float images that look unnormalised look like (None: as normalised ones, about -3
    to 3 and below 0 somewhere, the training mean being 0; a few bright images may have no
    value below 0, so that is asked about from `RAW_PIXEL_SAMPLES` images on)."""
    largest = float(np.abs(values).max())
    if largest > RAW_PIXEL_HINT:
        return (f"values up to {largest:g}; the model takes normalised images (about -3 to 3): "
                "raw 0-255 pixels give it as uint8, which is normalised as its training data")
    if len(values) >= RAW_PIXEL_SAMPLES and float(values.min()) >= 0.0:
        return ("no value below 0; the model takes normalised images (its training data's "
                "mean 0 per channel): pixels scaled to [0, 1]? give the raw pixels as uint8, "
                "which is normalised as its training data")
    return None


def _normalised_pixels(x: np.ndarray, sample: tuple[int, ...],
                       normalisation: dict[str, Any] | None, path: Path) -> torch.Tensor:
    """uint8 images (NHWC as the prepared splits hold them, or NCHW) of an image model as its
    inputs: scaled and normalised as its training data (the model's `input_normalisation`)."""
    from eenet.data.prepared import channel_tensors, normalise_pixels

    channels, height, width = sample
    if normalisation is None:
        raise ArtifactError(f"--input: {path}: uint8 pixels, but the model records no "
                            "input_normalisation (trained before it was recorded): give float "
                            "inputs normalised as its training data (its meta.json's mean/std)")
    if tuple(x.shape[1:]) == (channels, height, width):
        x = x.transpose(0, 2, 3, 1)
    elif tuple(x.shape[1:]) != (height, width, channels):
        raise ArtifactError(f"--input: {path}: uint8 images of shape {tuple(x.shape[1:])}; the "
                            f"model takes {(height, width, channels)} (HWC) or "
                            f"{(channels, height, width)} (CHW) per sample")
    return normalise_pixels(x, *channel_tensors(normalisation["mean"], normalisation["std"]))


def _checked_y(labels: np.ndarray | None, n_samples: int, num_classes: int,
               path: Path) -> np.ndarray | None:
    """The labels 'y' of an input file, checked once its samples are (a lone sample's shape
    hint comes before 'y' disagreeing with a count read off the wrong axis)."""
    if labels is None:
        return None
    return checked_labels(labels, n_samples, num_classes, f"--input: {path}", "'y'")


def load_input_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """`x` and `y` (None when absent) of a .npy (x only) or .npz file, without pickles; read
    as what the file holds (an .npz archive named .npy, or an array named .npz, reads too)."""
    with naming("--input"):
        require_regular_file(path, "a .npy or .npz", "file not found")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ConfigError(f"--input: {path}: expected a .npy or .npz file")
    try:
        loaded = np.load(path, allow_pickle=False)  # what the file holds, whatever its suffix
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded, None
        with loaded as npz:
            if "x" not in npz.files and not set(npz.files) >= TEXT_ARRAYS:
                raise ArtifactError(f"--input: {path}: expected an array 'x', found {npz.files}")
            # a prepared text split holds its texts as UTF-8 bytes and offsets
            x = split_inputs(npz, f"--input: {path}")
            return x, npz_array(npz, "y") if "y" in npz.files else None
    except NUMPY_LOAD_ERRORS as exc:
        raise ArtifactError(f"--input: {path}: not a readable numpy file "
                            f"({numpy_load_problem(exc)})") from None


class LoadedInputs(Dataset):
    """An input file's inputs (as the model takes them) and labels (-1 when unknown): a data
    set that reads a batch at once, as a prepared split does (`eenet.batching.split_batches`)."""

    def __init__(self, inputs: torch.Tensor | list[str], labels: np.ndarray | None) -> None:
        self.inputs = inputs if isinstance(inputs, torch.Tensor) else np.asarray(inputs,
                                                                                 dtype=object)
        self.labels = (np.full(len(inputs), -1, dtype=np.int64) if labels is None
                       else np.asarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.inputs[index], int(self.labels[index])

    def __getitems__(self, indices: Sequence[int]) -> SampleBatch:
        """The samples `indices`: a slice of the inputs (a range) or a gather."""
        rows = row_index(indices)
        labels = torch.from_numpy(self.labels[rows])
        if isinstance(self.inputs, torch.Tensor):
            return SampleBatch(self.inputs[rows], labels)
        return SampleBatch(self.inputs[rows].tolist(), labels)


def input_batches(model: MultiExitModel, inputs: torch.Tensor | list[str],
                  labels: np.ndarray | None, size: int,
                  ) -> Iterator[tuple[Any, torch.Tensor | None]]:
    """(inputs, labels) batches of `size` samples, texts tokenised by the model's `collate`;
    labels None when unknown (the runtime refuses -1, a label of no class)."""
    batches = split_batches(LoadedInputs(inputs, labels), model, size)
    return batches if labels is not None else ((batch, None) for batch, _ in batches)
