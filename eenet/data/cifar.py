"""CIFAR-10 / CIFAR-100 through torchvision, written in the prepared image format.

Validation is `val_size` (5,000, as the authors) training images held out by the seed; test is
the official test set. Images are stored uint8 NHWC; the per-channel mean / std of the training
split go to the meta. Without checksums the batch files are read by `eenet.data.cifar_files`
(an unpickler that builds nothing but plain data), not by torchvision.
"""

from __future__ import annotations

import pickle
import socket
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from eenet.config import DATA_PATH_OPTIONS, check_no_empty_paths
from eenet.data.cifar_files import (
    Unreadable,
    all_files,
    flat_text,
    read_batch_files,
    read_file,
    repair_advice,
)
from eenet.data.prepared import write_meta
from eenet.data.splits import check_options, holdout, write_splits
from eenet.errors import EENetError

DEFAULT_ROOT = "data/raw"
# the options prepare_cifar10 / prepare_cifar100 pass on to prepare_cifar, with their types
OPTIONS = {"root": str, "val_size": int, "download": bool, "checksums": bool}
CLASS_COUNTS = {"cifar10": 10, "cifar100": 100}
# what torchvision raises on a corrupt or foreign batch file
CORRUPT_BATCH = (pickle.UnpicklingError, EOFError, KeyError, TypeError, IndexError)
# what fetching and extracting the archive raises (offline: a URLError, an OSError)
DOWNLOAD_FAILED = (OSError, RuntimeError, ValueError, tarfile.TarError)
# seconds a connection may stay silent (connecting, or between received bytes)
DOWNLOAD_TIMEOUT_S = 60.0


def _fetch_advice(root: Path, cls: type) -> str:
    """What to download where, for a CIFAR folder that is not there."""
    return (f"download {cls.url} and extract it into {root}/ so that "
            f"{root / cls.base_folder}/ exists")


# what `_folder_problems` says of a file that fails its MD5 but reads as a CIFAR file
UNOFFICIAL = "fails its MD5 checksum (it reads as a CIFAR file: not the official one)"


def _folder_problems(name: str, root: Path, cls: type, checksums: bool) -> dict[str, str]:
    """What is wrong with the files of the CIFAR folder under `root`, by file name: missing,
    and with `checksums` failing its MD5 (then read, to say whether it is damaged or merely
    not the official file, `UNOFFICIAL`). Without `checksums` only missing files; damage shows
    when `read_batch_files` reads them."""
    from torchvision.datasets.utils import check_integrity

    folder = root / cls.base_folder
    md5s = dict([*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])])
    problems = {}
    for file in all_files(cls):
        path = folder / file
        if not path.is_file():
            problems[file] = "is missing"
        elif checksums and not check_integrity(str(path), md5s[file]):
            try:
                read_file(name, cls, file, path)
                problems[file] = UNOFFICIAL
            except Unreadable as exc:
                problems[file] = f"fails its MD5 checksum and {exc}"
    return problems


def _problems_text(problems: dict[str, str]) -> str:
    """`_folder_problems`' findings on one line, file by file; the files that are merely not
    the official ones together, last."""
    parts = [f"{file} {problem}" for file, problem in problems.items() if problem != UNOFFICIAL]
    unofficial = [file for file, problem in problems.items() if problem == UNOFFICIAL]
    if len(unofficial) == 1:
        parts.append(f"{unofficial[0]} {UNOFFICIAL}")
    elif unofficial:
        parts.append(f"{', '.join(unofficial)} fail their MD5 checksums (they read as CIFAR "
                     "files: not the official ones)")
    return "; ".join(parts)


def _problem_advice(root: Path, cls: type, problems: dict[str, str],
                    url_named: bool = False) -> str:
    """The advice for `problems` of `_folder_problems`: extract the archive again; where the
    only problem is files that read well but are not the official ones, also the way to keep
    a copy of one's own."""
    advice = repair_advice(root, cls, url_named)
    if all(problem == UNOFFICIAL for problem in problems.values()):
        advice += ", or for a copy you trust, set data.options.checksums: false"
    return advice


def _download_archive(root: Path, cls: type) -> None:
    """torchvision's download of the CIFAR archive into `root` (an intact archive already
    there is not downloaded again) and its extraction, which replaces the folder's files. A
    server (or proxy) silent for DOWNLOAD_TIMEOUT_S seconds fails it: torchvision's urllib
    waits without end, and the stage hung without a word."""
    from torchvision.datasets import utils

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        utils.download_and_extract_archive(cls.url, str(root), filename=cls.filename,
                                           md5=cls.tgz_md5)
    finally:
        socket.setdefaulttimeout(previous)


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
    """(train, test) splits, or a one-line error naming each missing or damaged file and
    saying what to download where.

    A folder that is not there is downloaded when `download`. One that is there is checked
    file by file first (`_folder_problems`): with `download`, missing files (with
    `checksums`, files failing their MD5s) have torchvision download and extract the archive
    again (offline that fails: the error names both the files and the failed download).
    Then with `checksums`, torchvision's datasets read the files (it verifies the MD5s again,
    then unpickles them); without, `read_batch_files` reads each once."""
    cls = _dataset_class(name, checksums)
    folder = root / cls.base_folder
    if not folder.is_dir():
        if not download:
            # a queued or --temp experiment runs in a copy holding what git tracks: data/raw,
            # git-ignored, is not there
            where = "" if root.is_absolute() else (
                f"; looked under {Path.cwd()}, and a queued or --temp experiment runs in a copy "
                "of the repository without its git-ignored folders: give an absolute "
                "data.options.root")
            raise EENetError(f"{name}: could not load {folder} (folder not found and "
                             f"download=False{where}); {_fetch_advice(root, cls)}")
        try:
            _download_archive(root, cls)
        except DOWNLOAD_FAILED as exc:
            raise EENetError(f"{name}: could not load {folder} (folder not found, and its "
                             f"download failed: {flat_text(exc)}); "
                             f"{_fetch_advice(root, cls)}") from None
    problems = _folder_problems(name, root, cls, checksums)
    if problems and download:
        try:
            _download_archive(root, cls)
        except DOWNLOAD_FAILED as exc:
            them = "it" if len(problems) == 1 else "them"  # one file, or several
            raise EENetError(
                f"{name}: {folder}: {_problems_text(problems)}; data.options.download: true "
                f"tried to download {cls.url} to replace {them} and failed ({flat_text(exc)}); "
                f"{_problem_advice(root, cls, problems, url_named=True)}") from None
        problems = _folder_problems(name, root, cls, checksums)
    if problems:
        raise EENetError(f"{name}: {folder}: {_problems_text(problems)}; "
                         f"{_problem_advice(root, cls, problems)}")
    if not checksums:
        return read_batch_files(name, root, cls)
    try:
        return cls(str(root), train=True), cls(str(root), train=False)
    except (OSError, RuntimeError, ValueError, *CORRUPT_BATCH) as exc:  # changed since checked
        problem = f"missing entry {exc}" if isinstance(exc, KeyError) else flat_text(exc)
        raise EENetError(f"{name}: could not load {folder} ({problem}); "
                         f"{repair_advice(root, cls)}") from None


def _check_loaded(name: str, root: Path, train: Any, test: Any) -> None:
    """One-line EENetError unless each split has images, one label per image and every label
    a class of the meta file (torchvision checks none of this; without `checksums` a damaged
    or foreign batch file would otherwise be written as data)."""
    cls = _dataset_class(name, checksums=True)
    folder = root / cls.base_folder
    damaged = f"its files are damaged: {repair_advice(root, cls)}"
    n_classes = len(train.classes)
    if n_classes != CLASS_COUNTS[name]:  # an 11-name meta file made an 11-class CIFAR-10
        raise EENetError(f"{name}: {folder}'s meta file names {n_classes} classes, not "
                         f"{CLASS_COUNTS[name]}; {damaged}")
    for split, data in (("training", train), ("test", test)):
        labels = np.asarray(data.targets)
        if len(data.data) == 0:
            raise EENetError(f"{name}: {folder} holds no {split} images; {damaged}")
        # text labels failed in numpy; fractional ones were truncated and float pixels cast to
        # bytes (nearly all 0), written as data
        if labels.dtype.kind not in "iu":
            raise EENetError(f"{name}: {folder} has {split} labels of dtype {labels.dtype}, "
                             f"not integers; {damaged}")
        pixels = np.asarray(data.data)
        if pixels.dtype != np.uint8:
            raise EENetError(f"{name}: {folder} has {split} images of dtype {pixels.dtype}, "
                             f"not uint8 pixels; {damaged}")
        if len(labels) != len(data.data):
            raise EENetError(
                f"{name}: {folder} holds {len(data.data)} {split} images but {len(labels)} "
                f"labels; {damaged}"
            )
        bad = labels[(labels < 0) | (labels >= n_classes)]
        if bad.size:
            raise EENetError(
                f"{name}: {folder} has {split} labels outside 0..{n_classes - 1} (e.g. "
                f"{int(bad[0])}; {n_classes} classes in its meta file); {damaged}"
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


def archive_root(name: str, root: Path) -> Path:
    """The folder that holds (or is to hold) CIFAR `name`'s extracted folder: `root`, or its
    parent where `root` names that folder itself (`.../cifar-10-batches-py`, as extracted from
    the archive) and holds no folder of that name. The files are still checked one by one."""
    base = _dataset_class(name, checksums=True).base_folder
    if root.name == base and not (root / base).is_dir():
        return root.parent
    return root


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
    root = archive_root(name, Path(root))
    train, test = _load(name, root, download, checksums)
    _check_loaded(name, root, train, test)
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
