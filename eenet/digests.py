"""File digests: what an artifact records of the files it was made from."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_digest(folder: str | os.PathLike | None = None) -> str:
    """The sha256 of the eenet package's source (every .py file under `folder`, default the
    package's own, by relative path and bytes): what a finished training run records of the
    code that trained it, so that a rerun of the same settings by the same code may reuse it."""
    root = Path(folder) if folder is not None else Path(__file__).resolve().parent
    return _files_digest(root, root.rglob("*.py"))


def path_digest(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, or of a folder's files (each by its relative path and
    bytes, in sorted order; links to files followed; hidden files and folders left out): what
    a training run records of the local files its model is built from (a pretrained folder, a
    tokenizer's vocab.txt), so that a rerun with other files there trains afresh instead of
    reusing the run. Hidden ones are no part of a model (transformers reads none): `hf download
    --local-dir` keeps its bookkeeping in `.cache/huggingface/`, with the time of each run, so
    rerunning it on unchanged files would otherwise retrain."""
    root = Path(path)
    if not root.is_dir():
        return file_sha256(root)
    return _files_digest(root, (file for file in root.rglob("*") if file.is_file()
                                and not _hidden(file.relative_to(root))))


def _hidden(relative: Path) -> bool:
    """Whether a path inside a folder is hidden: a part of it begins with a dot."""
    return any(part.startswith(".") for part in relative.parts)


def local_paths(options: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The options of `names` whose value is a path that exists here (a pretrained folder, a
    tokenizer file), by name; a hub name such as `bert-base-uncased` is no local path."""
    return {name: value for name in names
            if isinstance(value := options.get(name), str | os.PathLike) and Path(value).exists()}


def _files_digest(root: Path, files: Iterable[Path]) -> str:
    """The sha256 of `files` under `root`, each by its relative path and its bytes' sha256,
    in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        relative = path.relative_to(root).as_posix().encode()
        digest.update(len(relative).to_bytes(8, "big") + relative)
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()
