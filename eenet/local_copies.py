"""Local copies of data sets and pretrained models, and the repository folders DVC watches.

A path in params.yaml (`data.options.local_path`, `data_files`, CIFAR's `root`;
`model.options.pretrained`, `tokenizer`) is only a string to DVC: editing the files behind it
changes no dependency, and nothing would rerun. dvc.yaml lists `local_data/` as a dependency
of the download stage and `local_models/` of the train stage, so a copy kept there (named by
its path from the repository root, where the stages run: `local_data/ag_news`) reruns the
stage that reads it when a file in it changes. A copy elsewhere is read as well; the stage
then notes on stderr that DVC does not watch it (`unwatched_note`). The Hugging Face cache
(a hub name such as `bert-base-uncased`) is not watched either, and gets no note.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eenet.config import FILE_OPTIONS
from eenet.data.cifar import DEFAULT_ROOT
from eenet.digests import local_paths
from eenet.hub import LOCAL_MODELS

# the folders dvc.yaml lists: the download stage's data copies, the train stage's model files
WATCHED_DATA = Path("local_data")
WATCHED_MODELS = Path(LOCAL_MODELS)


def unwatched_note(option: str, path: str | os.PathLike, watched: Path, stage: str) -> str | None:
    """A note when the local copy `path` that `option` names lies outside the `watched`
    folder (relative to the working directory; links resolved): DVC does not see edits to it,
    so `stage` would not rerun after them."""
    if _inside(path, watched):
        return None
    return (f"note: {option} {path} is outside {watched}/, which DVC watches: after changing "
            f"its files, run `dvc repro -f -s {stage}` then `dvc repro` (or move it into "
            f"{watched}/)")


def data_copy_notes(data: dict[str, Any], watched: Path = WATCHED_DATA) -> list[str]:
    """The notes for the local data copies params.yaml's `data` group names outside `watched`:
    a text data set's `local_path` and `data_files` (with `local_path`, those outside it: an
    absolute path or one through `..`, read all the same, which its own note does not cover),
    and CIFAR's `root` when `checksums` is off (with them on, torchvision refuses any file but
    the official one)."""
    options = data.get("options") or {}
    named: list[tuple[str, Any]] = []
    folder = options.get("local_path")
    if folder is not None:
        named.append(("data.options.local_path", folder))
    for split, files in (options.get("data_files") or {}).items():
        for file in files if isinstance(files, list) else [files]:
            path = Path(folder) / str(file) if folder is not None else file
            if folder is None or not _inside(path, Path(folder)):
                named.append((f"data.options.data_files.{split}", path))
    if options.get("checksums") is False:
        named.append(("data.options.root", options.get("root", DEFAULT_ROOT)))
    notes = (unwatched_note(option, path, watched, "download") for option, path in named)
    return [note for note in notes if note is not None]


def _inside(path: str | os.PathLike, folder: Path) -> bool:
    """Whether `path` lies in `folder` (links resolved)."""
    return Path(path).resolve().is_relative_to(folder.resolve())


def model_copy_notes(options: dict[str, Any], watched: Path = WATCHED_MODELS) -> list[str]:
    """The notes for the local files the model's options name outside `watched` (those of
    `eenet.config.FILE_OPTIONS` that exist as paths here: a pretrained folder, a tokenizer);
    a hub name is no local copy."""
    notes = (unwatched_note(f"model.options.{name}", path, watched, "train")
             for name, path in local_paths(options, FILE_OPTIONS).items())
    return [note for note in notes if note is not None]
