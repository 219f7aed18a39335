"""CIFAR-10 / CIFAR-100 through torchvision, written in the prepared image format.

Validation is `val_size` (5,000, as the authors) training images held out by the seed; test is
the official test set. Images are stored uint8 NHWC; the per-channel mean / std of the training
split go to the meta.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from eenet.config import DATA_PATH_OPTIONS, check_no_empty_paths
from eenet.data.prepared import write_meta
from eenet.data.splits import check_options, holdout, write_splits
from eenet.errors import EENetError

DEFAULT_ROOT = "data/raw"
# the options prepare_cifar10 / prepare_cifar100 pass on to prepare_cifar, with their types
OPTIONS = {"root": str, "val_size": int, "download": bool, "checksums": bool}
CLASS_COUNTS = {"cifar10": 10, "cifar100": 100}
# the advice of every check on loaded data: torchvision verifies files only with checksums
DAMAGED = "its files are damaged (set data.options.checksums: true to verify them)"
# what torchvision raises on a corrupt or foreign batch file (checksums off)
CORRUPT_BATCH = (pickle.UnpicklingError, EOFError, KeyError, TypeError, IndexError)
# all a CIFAR batch file may import: numpy arrays (any numpy, any pickle protocol) and bytes
PLAIN_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    *((f"numpy.{core}.multiarray", "_reconstruct") for core in ("core", "_core")),
    *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
})


class _ForeignGlobal(pickle.UnpicklingError):
    """A pickle importing something no CIFAR file imports."""


class _PlainUnpickler(pickle.Unpickler):
    """Reads a pickle that may build only dicts, lists, strings, numbers and numpy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in PLAIN_GLOBALS:
            raise _ForeignGlobal(f"it imports {module}.{name}, which no CIFAR file does")
        return super().find_class(module, name)


class CifarSplit(NamedTuple):
    """One CIFAR split as loaded: its images (uint8 NHWC, if the files are sound), a label
    per image and the meta file's class names (the attributes torchvision's datasets have)."""

    data: np.ndarray
    targets: list[Any]
    classes: list[Any]


def _unpickle_plain(name: str, path: Path) -> Any:
    """What the pickle `path` holds, read by an unpickler that builds nothing but plain data
    (any code it would import is refused unrun); a one-line EENetError naming the file when it
    does not unpickle."""
    try:
        with path.open("rb") as fh:
            return _PlainUnpickler(fh, encoding="latin1").load()  # latin1: as torchvision
    except _ForeignGlobal as exc:
        raise EENetError(f"{name}: {path} is not a CIFAR batch file ({exc}); not "
                         f"unpickled; {DAMAGED}") from None
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle is damage
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise EENetError(f"{name}: {path} is corrupt or not in CIFAR's format ({problem}); "
                         f"{DAMAGED}") from None


def _read_batch_files(name: str, root: Path, cls: type) -> tuple[CifarSplit, CifarSplit]:
    """(train, test) of the CIFAR folder without checksums, each file unpickled once, by an
    unpickler that builds nothing but plain data: a pickle can run any code, and torchvision
    would unpickle whatever lies in the folder. A file that is missing, does not unpickle,
    imports anything else or lacks CIFAR's entries is a one-line EENetError naming it
    (torchvision's own errors name no file). Arrays as torchvision builds them; a folder
    that is not there raises FileNotFoundError."""
    folder = root / cls.base_folder
    if not folder.is_dir():
        raise FileNotFoundError(folder)
    labels_key = "labels" if name == "cifar10" else "fine_labels"
    entries = {}
    for file in [*_batch_files(cls), cls.meta["filename"]]:
        path = folder / file
        if not path.is_file():
            raise EENetError(f"{name}: {path} is missing; {_fetch_advice(root, cls)}")
        entry = _unpickle_plain(name, path)
        wanted = (cls.meta["key"],) if file == cls.meta["filename"] else ("data", labels_key)
        missing = [key for key in wanted if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise EENetError(f"{name}: {path} is not in CIFAR's format (no entry "
                             f"{missing[0]!r}); {DAMAGED}")
        entries[file] = entry
    classes = entries[cls.meta["filename"]][cls.meta["key"]]

    def split(files: list[list[Any]]) -> CifarSplit:
        batches = [entries[file] for file, _ in files]
        images = np.vstack([batch["data"] for batch in batches]).reshape(-1, 3, 32, 32)
        labels: list[Any] = []
        for batch in batches:
            labels.extend(batch[labels_key])
        return CifarSplit(images.transpose((0, 2, 3, 1)), labels, classes)  # HWC

    return split(cls.train_list), split(cls.test_list)


def _batch_files(cls: type) -> list[str]:
    """The names of a torchvision CIFAR class's batch files (train, then test)."""
    return [file for file, _ in [*cls.train_list, *cls.test_list]]


def _missing_files(root: Path, cls: type) -> list[str]:
    """The files of a torchvision CIFAR class missing from its folder under `root`."""
    folder = root / cls.base_folder
    return [file for file in [*_batch_files(cls), cls.meta["filename"]]
            if not (folder / file).is_file()]


def _fetch_advice(root: Path, cls: type) -> str:
    """What to download where, for a CIFAR folder that cannot be read."""
    return (f"download {cls.url} and extract it into {root}/ so that "
            f"{root / cls.base_folder}/ exists")


def _dataset_class(name: str, checksums: bool) -> type:
    """torchvision's CIFAR10 / CIFAR100; without `checksums`, a subclass that skips the MD5s."""
    from torchvision.datasets import CIFAR10, CIFAR100

    base = {"cifar10": CIFAR10, "cifar100": CIFAR100}[name]
    if checksums:
        return base
    return type(
        f"{base.__name__}Unverified",
        (base,),
        {
            "train_list": [[file, None] for file, _ in base.train_list],
            "test_list": [[file, None] for file, _ in base.test_list],
            "meta": {**base.meta, "md5": None},
        },
    )


def _load(name: str, root: Path, download: bool, checksums: bool) -> tuple[Any, Any]:
    """(train, test) splits, or a one-line error saying what to download where. With
    `checksums`, torchvision's datasets (it verifies the files' MD5s, then unpickles them);
    without, the files read once by `_read_batch_files` (torchvision only downloads what is
    missing, when `download`)."""
    cls = _dataset_class(name, checksums)
    try:
        if checksums:
            return cls(str(root), train=True, download=download), cls(str(root), train=False)
        if download and _missing_files(root, cls):
            # torchvision downloads and extracts the archive (checking its MD5), then reads
            # the test file of what it extracted: the smallest read it can be asked for
            cls(str(root), train=False, download=True)
        return _read_batch_files(name, root, cls)
    except (OSError, RuntimeError, ValueError, *CORRUPT_BATCH) as exc:
        folder = root / cls.base_folder
        if not folder.is_dir() and not download:
            # a queued or --temp experiment runs in a copy holding what git tracks: data/raw,
            # git-ignored, is not there
            where = "" if root.is_absolute() else (
                f"; looked under {Path.cwd()}, and a queued or --temp experiment runs in a copy "
                "of the repository without its git-ignored folders: give an absolute "
                "data.options.root")
            reason = f"folder not found and download=False{where}"
        elif folder.is_dir() and isinstance(exc, RuntimeError):
            missing = _missing_files(root, cls)
            reason = (f"{', '.join(missing)} missing" if missing
                      else "files failing torchvision's checksums; for a copy you trust, set "
                           "data.options.checksums: false")
        elif isinstance(exc, CORRUPT_BATCH):
            problem = f"missing entry {exc}" if isinstance(exc, KeyError) else (
                " ".join(str(exc).split()) or type(exc).__name__)
            reason = f"a batch file is corrupt or not in CIFAR's format: {problem}"
        else:
            reason = " ".join(str(exc).split()) or type(exc).__name__
        raise EENetError(f"{name}: could not load {root / cls.base_folder} ({reason}); "
                         f"{_fetch_advice(root, cls)}") from None


def _check_loaded(name: str, folder: Path, train: Any, test: Any) -> None:
    """One-line EENetError unless each split has images, one label per image and every label
    a class of the meta file (torchvision checks none of this; without `checksums` a damaged
    or foreign batch file would otherwise be written as data)."""
    n_classes = len(train.classes)
    if n_classes != CLASS_COUNTS[name]:  # an 11-name meta file made an 11-class CIFAR-10
        raise EENetError(f"{name}: {folder}'s meta file names {n_classes} classes, not "
                         f"{CLASS_COUNTS[name]}; {DAMAGED}")
    for split, data in (("training", train), ("test", test)):
        labels = np.asarray(data.targets)
        if len(data.data) == 0:
            raise EENetError(f"{name}: {folder} holds no {split} images; {DAMAGED}")
        # text labels failed in numpy; fractional ones were truncated and float pixels cast to
        # bytes (nearly all 0), written as data
        if labels.dtype.kind not in "iu":
            raise EENetError(f"{name}: {folder} has {split} labels of dtype {labels.dtype}, "
                             f"not integers; {DAMAGED}")
        pixels = np.asarray(data.data)
        if pixels.dtype != np.uint8:
            raise EENetError(f"{name}: {folder} has {split} images of dtype {pixels.dtype}, "
                             f"not uint8 pixels; {DAMAGED}")
        if len(labels) != len(data.data):
            raise EENetError(
                f"{name}: {folder} holds {len(data.data)} {split} images but {len(labels)} "
                f"labels; {DAMAGED}"
            )
        bad = labels[(labels < 0) | (labels >= n_classes)]
        if bad.size:
            raise EENetError(
                f"{name}: {folder} has {split} labels outside 0..{n_classes - 1} (e.g. "
                f"{int(bad[0])}; {n_classes} classes in its meta file); {DAMAGED}"
            )


def channel_mean_std(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 NHWC `images`, scaled to [0, 1].

    From each channel's histogram of the 256 pixel values: exact, and without the float copy
    of every pixel (1.1 GB for CIFAR's training split) that `mean`/`std` over them would make.
    """
    values = np.arange(256, dtype=np.float64) / 255.0
    mean, std = [], []
    for channel in range(images.shape[-1]):
        counts = np.bincount(images[..., channel].ravel(), minlength=256).astype(np.float64)
        total = counts.sum()
        centre = counts @ values / total
        mean.append(float(centre))
        std.append(float(np.sqrt(counts @ (values - centre) ** 2 / total)))
    return mean, std


def prepare_cifar(
    name: str,
    out_dir: Path,
    seed: int,
    root: str | Path = DEFAULT_ROOT,
    val_size: int = 5000,
    download: bool = True,
    checksums: bool = True,
) -> dict[str, Any]:
    """Load CIFAR `name` from `root` (downloading it if allowed) and write the splits."""
    check_no_empty_paths("data.options", {"root": root}, DATA_PATH_OPTIONS)  # "": cwd
    root = Path(root)
    train, test = _load(name, root, download, checksums)
    _check_loaded(name, root / _dataset_class(name, checksums).base_folder, train, test)
    x_all = np.ascontiguousarray(train.data, dtype=np.uint8)
    y_all = np.asarray(train.targets, dtype=np.int64)
    train_idx, val_idx = holdout(len(y_all), val_size, seed)
    x_train = x_all[train_idx]
    mean, std = channel_mean_std(x_train)
    splits = {
        "train": (x_train, y_all[train_idx]),
        "val": (x_all[val_idx], y_all[val_idx]),
        "test": (np.ascontiguousarray(test.data, dtype=np.uint8), np.asarray(test.targets)),
    }
    sizes = write_splits(Path(out_dir), splits)
    return write_meta(
        Path(out_dir),
        {
            "dataset": name,
            "kind": "image",
            "num_classes": len(train.classes),
            "classes": list(train.classes),
            "input_shape": [3, 32, 32],
            "mean": mean,
            "std": std,
            "sizes": sizes,
            "seed": int(seed),
            "val_size": int(val_size),
        },
    )


def prepare_cifar10(out_dir: Path, seed: int, **options: Any) -> dict[str, Any]:
    """CIFAR-10: 45,000 train / 5,000 val (held out by seed) / 10,000 test."""
    check_options("cifar10", options, OPTIONS)
    return prepare_cifar("cifar10", out_dir, seed, **options)


def prepare_cifar100(out_dir: Path, seed: int, **options: Any) -> dict[str, Any]:
    """CIFAR-100 (fine labels): 45,000 train / 5,000 val (held out by seed) / 10,000 test."""
    check_options("cifar100", options, OPTIONS)
    return prepare_cifar("cifar100", out_dir, seed, **options)
