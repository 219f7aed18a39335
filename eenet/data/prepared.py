"""The prepared-data format every data set is written in, and its torch loader.

`data/<name>/` holds `train.npz`, `val.npz`, `test.npz` (compressed npz of arrays `x` and `y`, no
pickles) and `meta.json` with at least `dataset`, `kind` ("sequence", "image" or "text"),
`num_classes` and `sizes`. Images are uint8 NHWC with `mean`/`std` per channel in the meta;
sequences are float32 [N, L]; texts are unicode arrays, tokenised later by the model's `collate`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from eenet.atomic import write_json, write_with
from eenet.errors import ArtifactError, ConfigError, numpy_load_problem
from eenet.jsonio import read_json_object

if TYPE_CHECKING:
    from eenet.models.base import MultiExitModel

SPLITS = ("train", "val", "test")
KINDS = ("sequence", "image", "text")


def write_split(out_dir: Path, split: str, x: np.ndarray, y: np.ndarray) -> None:
    """Atomically write one split, deflate-compressed (`np.load` reads it as any npz).

    Texts are fixed-width unicode arrays (4 bytes per character of the longest text), mostly
    padding: compressed, AG News' training split is a small fraction of its ~450 MB raw size.
    """
    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, x=x, y=np.asarray(y, dtype=np.int64))

    write_with(out_dir / f"{split}.npz", _write)


def write_meta(out_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Atomically write `meta.json` (written last: its presence marks a complete data set)."""
    if meta.get("kind") not in KINDS:
        raise ValueError(f"meta kind must be one of {KINDS}")
    write_json(out_dir / "meta.json", meta)
    return meta


def read_meta(data_dir: str | Path) -> dict[str, Any]:
    """Read a prepared data set's meta.json."""
    return read_json_object(
        Path(data_dir) / "meta.json", "prepared data", "run the download stage",
        required=("kind", "num_classes"),
    )


def read_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrays (x, y) of one split."""
    if split not in SPLITS:
        raise ConfigError(f"split: unknown value {split!r}; allowed: {', '.join(SPLITS)}")
    path = Path(data_dir) / f"{split}.npz"
    if not path.is_file():
        raise ArtifactError(f"{path}: split not found (run the download stage)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz["x"], npz["y"].astype(np.int64)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactError(f"{path}: not a readable split file ({numpy_load_problem(exc)})"
                            ) from None


class PreparedDataset(Dataset):
    """A prepared split as (input, label) items; image splits can be augmented for training.

    Augmentation (torchvision's pad-4 random crop and horizontal flip, the standard CIFAR
    recipe) draws each sample's crop and flip from (seed, epoch, index), set by `set_epoch`:
    the same whatever process loads the sample, so the number of loader workers does not
    change the trained weights."""

    def __init__(self, data_dir: str | Path, split: str, augment: bool = False) -> None:
        self.meta = read_meta(data_dir)
        self.kind = self.meta["kind"]
        self.x, self.y = read_split(data_dir, split)
        self.augment = augment and self.kind == "image"
        self._draw = (0, 0)  # (seed, epoch) of the augmentation draws
        if self.kind == "image":
            mean = np.asarray(self.meta["mean"], dtype=np.float32).reshape(3, 1, 1)
            std = np.asarray(self.meta["std"], dtype=np.float32).reshape(3, 1, 1)
            self._mean, self._std = torch.from_numpy(mean), torch.from_numpy(std)
            self._transform = _crop_flip(tuple(self.x.shape[1:3]))

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        """Draw this epoch's augmentations (before the loader's iterator is made)."""
        self._draw = (int(seed), int(epoch))

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, index: int) -> tuple[Any, int]:
        label = int(self.y[index])
        if self.kind == "text":
            return str(self.x[index]), label
        if self.kind == "sequence":
            return torch.from_numpy(np.asarray(self.x[index], dtype=np.float32))[None, :], label
        image = torch.from_numpy(np.ascontiguousarray(self.x[index])).permute(2, 0, 1).float()
        image = (image / 255.0 - self._mean) / self._std
        if self.augment:
            with torch.random.fork_rng(devices=[]):  # the caller's generator stays untouched
                torch.manual_seed(_sample_seed(*self._draw, int(index)))
                image = self._transform(image)
        return image, label


def split_for_model(model: MultiExitModel, model_dir: str | Path, data_dir: str | Path,
                    split: str) -> PreparedDataset:
    """A prepared split to run the model of `model_dir` on, refused in one line when its
    samples are not what that model takes (`eenet.models.base.check_data_fits`)."""
    from eenet.models.base import check_data_fits

    dataset = PreparedDataset(data_dir, split)
    check_data_fits(model, dataset, str(data_dir), f"the model in {model_dir}")
    return dataset


def _crop_flip(size: tuple[int, int], padding: int = 4) -> Any:
    """Standard CIFAR augmentation (torchvision): pad-`padding` random crop, horizontal flip."""
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomCrop(list(size), padding=padding), v2.RandomHorizontalFlip()])


def _sample_seed(seed: int, epoch: int, index: int) -> int:
    """One sample's augmentation seed in one epoch of a run: distinct for every (seed, epoch,
    index) a run meets."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0])
