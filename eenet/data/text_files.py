"""The user's own text data files (`data.options.local_path` / `data_files`) as `datasets`
loads them: which files they are, which packaged builder reads them, and why one cannot give a
split (empty, a header alone, not parquet), said with the file's name where `datasets`' own
errors name none; its log held back while it loads them.
"""

from __future__ import annotations

import csv
import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from eenet.errors import ConfigError

# the data files read, each with its `datasets` packaged builder and that builder's options
# (a .tsv: tab-separated and unquoted, as GLUE writes it: a CSV reader unquoted a sentence
# starting with a quote, and one whose quote never closed swallowed the rows after it)
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {}), ".tsv": ("csv", {"sep": "\t", "quoting": csv.QUOTE_NONE}),
    ".json": ("json", {}), ".jsonl": ("json", {}), ".parquet": ("parquet", {}),
}
FORMAT_NAMES = ".csv, .tsv (tab-separated), .json / .jsonl (JSON lines) or .parquet"


def _reader_dialect(suffix: str) -> dict[str, Any]:
    """`csv.reader` options reading a .csv or .tsv as `datasets` does (`FORMATS`)."""
    options = FORMATS[suffix][1]
    return {"delimiter": options.get("sep", ","),
            "quoting": options.get("quoting", csv.QUOTE_MINIMAL)}


def check_data_file_paths(data_files: dict[str, Any] | None) -> None:
    """Each split of `data_files` names a file path, or a list of them: a one-line ConfigError
    for anything else (a number gave "got ['', '.csv']"; an empty string the current folder)."""
    for split, value in (data_files or {}).items():
        paths = value if isinstance(value, list) else [value]
        if not paths or not all(isinstance(p, str) and p.strip() for p in paths):
            raise ConfigError(f"data.options.data_files.{split}: expected a file path or a list "
                              f"of them, got {value!r}")


def builder_for(files: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The `datasets` packaged builder (csv / json / parquet) for local data files, with its
    options (a .tsv's tab separator), as a local_path folder reads them."""
    suffixes = sorted({Path(str(p)).suffix for v in files.values() for p in np.atleast_1d(v)})
    unknown = [s or "(none)" for s in suffixes if s not in FORMATS]
    if unknown:
        raise ConfigError(f"data.options.data_files: use {FORMAT_NAMES} files, got "
                          f"{', '.join(unknown)}")
    builders = {(FORMATS[s][0], tuple(FORMATS[s][1].items())) for s in suffixes}
    if len(builders) != 1:
        raise ConfigError(f"data.options.data_files: give files of one format, got "
                          f"{' and '.join(suffixes)}")
    builder, options = builders.pop()
    return builder, dict(options)


def saved_to_disk(folder: Path) -> bool:
    """Whether `folder` is a `DatasetDict.save_to_disk` folder (not data files)."""
    return (folder / "dataset_dict.json").is_file()


def saved_dataset(folder: Path) -> bool:
    """Whether `folder` is a `Dataset.save_to_disk` folder (one split): its state.json, which
    `datasets.load_dataset` refuses with "Please use `load_from_disk` instead"."""
    return (folder / "state.json").is_file() and not saved_to_disk(folder)


def used_split_files(folder: Path, splits: tuple[str, ...]) -> dict[str, list[str]] | None:
    """The data files of a folder of files (not `save_to_disk`) that give `splits`, split by
    their names as `datasets` splits a folder (GLUE's dev.tsv: validation): {split: [path
    relative to `folder`, ...]} in the order of their paths (the order errors name files in),
    the files of any other split left out (GLUE's test.tsv, which has no labels: its columns
    failed the whole load). None where a split of `splits` has no file of a format read here:
    the folder is then read whole, as `datasets` reads it."""
    from datasets.data_files import DataFilesDict, get_data_patterns

    base = folder.expanduser().resolve()
    try:
        patterns = get_data_patterns(base.as_posix())
    except FileNotFoundError:  # no data files: the load says so
        return None
    if not all(split in patterns for split in splits):
        return None
    found = DataFilesDict.from_patterns({split: patterns[split] for split in splits},
                                        base_path=base.as_posix())
    files = {split: sorted(Path(f).relative_to(base).as_posix() for f in found[split]
                           if Path(f).suffix in FORMATS) for split in splits}
    return dict(sorted(files.items(), key=lambda item: item[1])) if all(files.values()) else None


def as_patterns(files: dict[str, list[str]], splits: tuple[str, ...]) -> dict[str, list[str]]:
    """The file paths of `splits` as `datasets` patterns matching just those files (a '[' in a
    name escaped), the splits in the order given: `datasets` casts every split to the columns
    of the first (train, as in a folder it read whole)."""
    import glob

    return {split: [glob.escape(path) for path in files[split]] for split in splits}


def user_data_files(local_path: str | Path | None, data_files: dict[str, Any] | None) -> list[Path]:
    """The user's data files: those `data_files` names (in `local_path` when given), or the data
    files in `local_path` (none in a `save_to_disk` folder); only those that are files."""
    folder = Path(local_path) if local_path is not None else None
    if data_files:
        paths = [folder / str(p) if folder is not None else Path(str(p))
                 for v in data_files.values() for p in np.atleast_1d(v)]
    elif folder is not None and not saved_to_disk(folder):
        paths = sorted(p for p in folder.rglob("*") if p.suffix in FORMATS)
    else:
        return []
    return [p for p in paths if p.is_file()]


def empty_files(local_path: str | Path | None, data_files: dict[str, Any] | None) -> list[Path]:
    """The user's data files of 0 bytes (`datasets` says only "No columns to parse from file")."""
    return [p for p in user_data_files(local_path, data_files) if p.stat().st_size == 0]


def unfit_file(local_path: str | Path | None, data_files: dict[str, Any] | None) -> str:
    """'<file> <why>' for the first of the user's data files that cannot give a split ('' for
    none): a .parquet file whose footer does not read, or a file without rows (a CSV header
    alone). `datasets`' errors name no file ("Parquet magic bytes not found", "its type in
    this file is null", "Instruction 'test' corresponds to no data")."""
    for path in user_data_files(local_path, data_files):
        why = file_unfit(path)
        if why:
            return f"{path} {why}"
    return ""


def file_unfit(path: Path) -> str:
    """Why one data file cannot give a split ('' when nothing is seen): reads a parquet footer,
    a CSV's first two rows, a JSON file up to its first non-blank byte."""

    import pyarrow
    import pyarrow.parquet

    if path.suffix == ".parquet":
        try:
            rows = pyarrow.parquet.read_metadata(path).num_rows
        except (OSError, pyarrow.ArrowException) as exc:
            return f"is not a parquet file ({loading_problem(exc)})"
    elif path.suffix in (".csv", ".tsv"):
        dialect = _reader_dialect(path.suffix)
        try:
            with open(path, newline="", encoding="utf-8", errors="replace") as fh:
                reader = csv.reader(fh, **dialect)
                rows = sum(1 for _ in itertools.islice(filter(None, reader), 2)) - 1
        except (OSError, csv.Error):
            return ""
        if rows == 0:
            return "has no rows (only a header): a split needs rows in each of its files"
    else:  # JSON (lines): only blank
        with open(path, "rb") as fh:
            rows = int(any(chunk.strip() for chunk in iter(lambda: fh.read(1 << 16), b"")))
    return "has no rows: a split needs rows in each of its files" if rows <= 0 else ""


# the columns of the original AG News CSVs, as distributed (no header row): class number from
# 1, title, description; read by name (`datasets`' csv builder, every cell a string as written)
ORIGINAL_COLUMNS = ("label", "title", "description")


def original_read_options(headed: bool = False) -> dict[str, Any]:
    """The `datasets` csv builder's options reading files of the original AG News layout: the
    three columns named, each cell the string written (no "NA" read as missing); without a
    header row, spaces after a comma skipped (as the hub's own loader reads the original's
    quoted fields); `headed` (Kaggle's copy): its header row skipped and spaces kept, as its
    fields are written unquoted (' Title' is the original's quoted " Title")."""
    import datasets

    return {"names": list(ORIGINAL_COLUMNS), "header": 0 if headed else None, "na_filter": False,
            "skipinitialspace": not headed,
            "features": datasets.Features({c: datasets.Value("string") for c in ORIGINAL_COLUMNS})}


def original_layout(path: Path, n_classes: int) -> bool:
    """Whether the .csv file `path` begins as the original AG News CSVs do: no header row, its
    first row three fields of which the first is a class number 1..`n_classes`. Only that row
    is read; every row is checked as the file is loaded."""
    if path.suffix != ".csv":
        return False
    first = file_columns(path)
    return (first is not None and len(first) == 3
            and first[0].strip() in {str(c) for c in range(1, n_classes + 1)})


def headed_layout(path: Path, header: tuple[str, ...]) -> bool:
    """Whether the .csv file `path` begins with the header row `header` (case, spaces around a
    name and a UTF-8 byte order mark ignored): the original AG News layout under Kaggle's
    header `Class Index,Title,Description`. Only that row is read."""
    if path.suffix != ".csv" or not header:
        return False
    first = file_columns(path)
    return first is not None and [name.strip().casefold()
                                  for name in first] == [name.casefold() for name in header]


def file_columns(path: Path) -> list[str] | None:
    """The column names of one data file, read cheaply: a CSV's (TSV's) header, the keys of a
    JSON lines file's first object, a parquet file's schema; None where they cannot be seen
    (a JSON array, an unreadable file)."""
    import json

    import pyarrow
    import pyarrow.parquet

    try:
        if path.suffix == ".parquet":
            return list(pyarrow.parquet.read_schema(path).names)
        if path.suffix in (".csv", ".tsv"):
            dialect = _reader_dialect(path.suffix)
            # a byte order mark dropped, as pandas drops it, before it hides a quoted name
            with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
                return next(filter(None, csv.reader(fh, **dialect)), None)
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = next((line for line in fh if line.strip()), None)
        row = json.loads(first) if first is not None else None
        return list(row) if isinstance(row, dict) else None
    except (OSError, csv.Error, ValueError, pyarrow.ArrowException):
        return None


def column_problem(local_path: str | Path | None, data_files: dict[str, Any] | None,
                   needed: tuple[str, ...]) -> str:
    """'<file> lacks column ... (it has ...)' for the first of the user's data files without a
    column of `needed`, else '<file> has columns ... but <file> has ...' for the first whose
    columns differ from the first file's ('' for none). `datasets` loads all files with one
    schema, and its error for a file that does not fit it names neither file nor column
    ("Couldn't cast")."""
    seen: list[tuple[Path, list[str]]] = []
    for path in user_data_files(local_path, data_files):
        columns = file_columns(path)
        if columns is None:
            continue
        missing = [name for name in needed if name not in columns]
        if missing:
            return (f"{path} lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                    f"(it has {', '.join(columns) or 'none'})")
        seen.append((path, columns))
    for path, columns in seen[1:]:
        if set(columns) != set(seen[0][1]):
            return (f"{path} has columns {', '.join(columns)} but {seen[0][0]} has "
                    f"{', '.join(seen[0][1])}: every file needs the same columns")
    return ""


class _Holder(logging.Handler):
    """A logging handler that keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def datasets_log_held() -> Iterator[None]:
    """Hold what `datasets` logs while it loads the user's files: passed on once the load
    succeeds, dropped when it fails (a "Failed to read schema" line would precede the one-line
    error saying the same). The `datasets` logger is restored as it was either way."""
    logger = logging.getLogger("datasets")
    holder = _Holder()
    handlers, propagate = logger.handlers[:], logger.propagate
    logger.handlers[:], logger.propagate = [holder], False
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate = handlers, propagate
    for record in holder.records:  # reached only when the load succeeded
        logger.handle(record)


def loading_problem(exc: BaseException) -> str:
    """The first specific line of a loading error: `datasets` wraps a failure while reading
    files in a generic first line, with the reason on a later line or in the chained cause."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0].startswith("An error occurred while generating the dataset"):
        if len(lines) > 1:
            return lines[1]
        if exc.__cause__ is not None:
            return loading_problem(exc.__cause__)
    if isinstance(exc, IndexError):
        return f"{lines[0] if lines else 'IndexError'}: is a split empty?"
    # a missing local file: drop the list of every extension `datasets` knows (~300 of them)
    return (lines[0].split(" with any supported extension [")[0] if lines
            else type(exc).__name__)
