"""CIFAR's batch files read safely: each unpickled once by an unpickler that builds nothing
but plain data (numpy arrays, dicts, lists, strings, numbers), checked to hold CIFAR's entries
in CIFAR's shapes, and joined into the train and test splits as torchvision builds them.
"""

from __future__ import annotations

import pickle
import reprlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from eenet.errors import EENetError

# the batch files' entry of the labels (CIFAR-100's fine labels: its 100 classes)
LABELS_KEY = {"cifar10": "labels", "cifar100": "fine_labels"}
# the values of one image in a batch file's `data` row: its red, green, then blue 32 x 32 plane
PIXELS_PER_IMAGE = 3 * 32 * 32
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


def flat_text(exc: BaseException) -> str:
    """An exception's text on one line, each run of whitespace one space (its type's name
    when it has none); `eenet.errors.one_line` escapes control characters instead."""
    return " ".join(str(exc).split()) or type(exc).__name__


class Unreadable(Exception):
    """A CIFAR file that cannot be read as one; its text says what is wrong with it (it
    follows the file's name: "is corrupt or ...")."""


def _unpickle_plain(path: Path) -> Any:
    """What the pickle `path` holds, read by an unpickler that builds nothing but plain data
    (any code it would import is refused unrun); Unreadable when it does not unpickle."""
    try:
        with path.open("rb") as fh:
            return _PlainUnpickler(fh, encoding="latin1").load()  # latin1: as torchvision
    except _ForeignGlobal as exc:
        raise Unreadable(f"is not a CIFAR batch file ({exc}; not unpickled)") from None
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle is damage
        raise Unreadable(f"is corrupt or not in CIFAR's format ({flat_text(exc)})") from None


def read_file(name: str, cls: type, file: str, path: Path) -> dict[str, Any]:
    """The entries of CIFAR file `file` (at `path`), read by `_unpickle_plain`; Unreadable
    when it does not unpickle, lacks CIFAR's entries or they are not shaped as CIFAR's."""
    entry = _unpickle_plain(path)
    labels_key = LABELS_KEY[name]
    wanted = (cls.meta["key"],) if file == cls.meta["filename"] else ("data", labels_key)
    missing = [key for key in wanted if not isinstance(entry, dict) or key not in entry]
    if missing:
        raise Unreadable(f"is not in CIFAR's format (no entry {missing[0]!r})")
    problem = (_names_problem(entry, cls.meta["key"]) if file == cls.meta["filename"]
               else _batch_problem(entry, labels_key))
    if problem:
        raise Unreadable(f"is not in CIFAR's format ({problem})")
    return entry


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """`value`'s shape as numpy sees it (an array's, a nested list's; () for a single value);
    None for a ragged list (lists of different lengths)."""
    try:
        return np.shape(value)
    except ValueError:
        return None


def _described(value: Any, shape: tuple[int, ...] | None) -> str:
    """`value` of shape `shape` (`_shape_of`) in words for an error: its shape, or a single
    value itself, or that it is a ragged list."""
    if shape is None:
        return "a ragged list"
    return f"shape {shape}" if shape else reprlib.repr(value)


def _batch_problem(entry: dict[str, Any], labels_key: str) -> str | None:
    """What keeps a batch file's `data` and labels from being images and their labels, in
    words (None: one row of PIXELS_PER_IMAGE values per image, a flat list of labels); their
    dtypes and counts are `_check_loaded`'s (a traceback from numpy or list.extend was)."""
    data, labels = entry["data"], entry[labels_key]
    shape = _shape_of(data)
    if shape is None or len(shape) != 2 or shape[1] != PIXELS_PER_IMAGE:
        return (f"'data' must hold one row of {PIXELS_PER_IMAGE} pixels per image, got "
                f"{_described(data, shape)}")
    shape = _shape_of(labels)
    if shape is None or len(shape) != 1:
        return f"{labels_key!r} must be a flat list of labels, got {_described(labels, shape)}"
    return None


def _names_problem(entry: dict[str, Any], key: str) -> str | None:
    """What keeps a meta file's class names (entry `key`) from being a list of strings, in
    words; None when they are one (a single value was a TypeError from len)."""
    names = entry[key]
    if not isinstance(names, list | tuple):
        return f"{key!r} must be a list of class names, got {reprlib.repr(names)}"
    others = [name for name in names if not isinstance(name, str)]
    if others:
        return f"{key!r} must be a list of class names (strings), got {reprlib.repr(others[0])}"
    return None


def read_batch_files(name: str, root: Path, cls: type) -> tuple[CifarSplit, CifarSplit]:
    """(train, test) of the CIFAR folder without checksums, each file unpickled once, by an
    unpickler that builds nothing but plain data: a pickle can run any code, and torchvision
    would unpickle whatever lies in the folder. Files that are missing, do not unpickle,
    import anything else or lack CIFAR's entries are one one-line EENetError naming each
    (torchvision's own errors name no file). Arrays as torchvision builds them."""
    folder = root / cls.base_folder
    labels_key = LABELS_KEY[name]
    entries, problems = {}, []
    for file in all_files(cls):
        path = folder / file
        if not path.is_file():
            problems.append(f"{file} is missing")
            continue
        try:
            entries[file] = read_file(name, cls, file, path)
        except Unreadable as exc:
            problems.append(f"{file} {exc}")
    if problems:
        raise EENetError(f"{name}: {folder}: {'; '.join(problems)}; "
                         f"{repair_advice(root, cls)}")
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


def all_files(cls: type) -> list[str]:
    """The names of all files of a torchvision CIFAR class's folder: batches, then meta."""
    return [*_batch_files(cls), cls.meta["filename"]]


def repair_advice(root: Path, cls: type, url_named: bool = False) -> str:
    """What to do about a CIFAR folder with missing or damaged files: extract the archive
    again (whatever the checksums setting: both read the same files)."""
    archive = "it" if url_named else cls.url
    return f"download {archive} and extract it into {root}/ again, replacing {cls.base_folder}/"
