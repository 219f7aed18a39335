"""AG News and GLUE SST-2 through Hugging Face `datasets`, written in the prepared text format.

- AG News (`fancyzhx/ag_news`): `val_size` = 10,000 training texts held out by the seed as
  validation (as the authors); test = the official test split (7,600).
- SST-2 (`nyu-mll/glue`, config `sst2`): GLUE's test split has no labels, so test = GLUE's
  validation split (872) and validation = `val_size` = 872 training sentences held out by the
  seed (the authors' hold-out size; train keeps the other 66,477).

Texts are stored as UTF-8 bytes and offsets (`eenet.data.prepared`; no pickles, no padding to
the longest text) and tokenised later by the model's `collate`. Offline use:
`HF_DATASETS_OFFLINE=1` with a filled Hugging Face cache, or local files through `local_path`
(a folder with `train.*` / `test.*` / `validation.*` files in CSV, TSV, JSON lines or parquet,
of which only the two splits used are read, or a `DatasetDict.save_to_disk` folder) or
`data_files` (split -> file, the same formats); AG News's original headerless CSVs (class
1-4, title, description), and Kaggle's copy of them (the same rows under the header
`Class Index,Title,Description`), are read as the hub's loader reads the original.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eenet.config import DATA_PATH_OPTIONS, check_no_empty_paths
from eenet.data.class_names import in_preset_numbering
from eenet.data.prepared import write_meta
from eenet.data.splits import check_options, holdout, write_splits
from eenet.data.text_files import (
    ORIGINAL_COLUMNS,
    as_patterns,
    builder_for,
    check_data_file_paths,
    column_problem,
    datasets_log_held,
    empty_files,
    headed_layout,
    loading_problem,
    original_layout,
    original_read_options,
    saved_dataset,
    saved_to_disk,
    unfit_file,
    used_split_files,
    user_data_files,
)
from eenet.errors import ConfigError, EENetError
from eenet.extras import require
from eenet.hub import hub_unreachable

# the options prepare_ag_news / prepare_sst2 pass on (to prepare_text, load_text_splits)
# local files are read anew each time: `datasets` reuses its cache of a file of the same
# path, size and modification time, so a file replaced by one keeping them (an archive or
# `rsync -a` restoring the time, `touch -r`) gave the old rows, also after `dvc repro -f`
REREAD = "force_redownload"
OPTIONS = {
    "val_size": int, "max_train_samples": int | None, "local_path": str | None,
    "data_files": dict | None, "hub_id": str | None, "cache_dir": str | None,
}


@dataclass(frozen=True)
class TextSource:
    """Where a text data set lives on the hub and how its columns and splits are named."""

    name: str
    hub_id: str
    hub_config: str | None
    text_column: str
    train_split: str
    test_split: str
    class_names: tuple[str, ...]
    numbered_from_one: str = ""  # copies of the data set that number its classes from 1
    # the headerless CSV layout the data set is distributed in (class from 1, title,
    # description), read as such; "" for none
    original_csv: str = ""
    # the header row of copies in that layout that have one (Kaggle's AG News CSVs), read as
    # the layout too, and what to call such files; () / "" for none
    original_header: tuple[str, ...] = ()
    headed_csv: str = ""


AG_NEWS = TextSource(
    "ag_news", "fancyzhx/ag_news", None, "text", "train", "test",
    ("World", "Sports", "Business", "Sci/Tech"),
    "the original AG News CSVs number the classes 1-4",
    "the original AG News CSVs (no header row; class 1-4, title, description)",
    ("Class Index", "Title", "Description"),
    "Kaggle's AG News CSVs (header row Class Index,Title,Description; class 1-4, title, "
    "description)",
)  # fmt: skip
SST2 = TextSource(
    "sst2", "nyu-mll/glue", "sst2", "sentence", "train", "validation", ("negative", "positive")
)


def _offline() -> bool:
    """Whether Hugging Face offline mode is on (environment or the library's own setting)."""
    import datasets.config

    flags = (os.environ.get(v, "") for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))
    return bool(datasets.config.HF_HUB_OFFLINE) or any(
        f.upper() in {"1", "ON", "YES", "TRUE"} for f in flags
    )


@contextmanager
def _cache_only_if_unreachable() -> Iterator[None]:
    """`datasets` in offline mode (the local cache only) while the hub cannot be reached:
    otherwise it retries for about 23 s, logging each retry to stderr (`eenet.hub`)."""
    import datasets.config

    offline = datasets.config.HF_HUB_OFFLINE
    if not offline and hub_unreachable():
        datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE = offline


def _file_layout(source: TextSource) -> str:
    """What local files of `source` must look like."""
    return (f"expected the {source.train_split} and {source.test_split} splits with columns "
            f"{source.text_column},label as CSV / TSV / JSON lines / parquet files named after "
            "the splits")


def _where_to_put(source: TextSource) -> str:
    return (
        f"run `datasets.load_dataset({source.hub_id!r}"
        + (f", {source.hub_config!r}" if source.hub_config else "")
        + ")` once with network to fill the Hugging Face cache ($HF_HOME, default "
        f"~/.cache/huggingface), or set data.options.local_path to a folder of files "
        f"({_file_layout(source).removeprefix('expected ')})"
    )


def _split_advice(source: TextSource, load_options: dict[str, Any]) -> str:
    """What to do about a missing split: for the user's own files, the option naming them and
    the split names they need; for the hub, how to fill the cache."""
    needed = f"{source.train_split} and {source.test_split}"
    if load_options.get("data_files"):
        return (f"data.options.data_files must map the splits {needed} to files with columns "
                f"{source.text_column},label")
    if load_options.get("local_path") is not None:
        return (f"data.options.local_path ({load_options['local_path']}) needs files named "
                f"after the splits {needed} (e.g. {source.train_split}.csv, "
                f"{source.test_split}.csv) with columns {source.text_column},label, or a "
                "save_to_disk folder with those splits")
    return _where_to_put(source)


def load_text_splits(
    source: TextSource,
    local_path: str | Path | None = None,
    data_files: dict[str, Any] | None = None,
    hub_id: str | None = None,
    cache_dir: str | None = None,
) -> Any:
    """A `datasets.DatasetDict` from local files, a saved folder or the hub (one-line errors;
    without the datasets package, the `text` extra, a MissingExtraError)."""
    require("datasets", f"data set {source.name}")
    import datasets
    import datasets.exceptions

    paths = {"local_path": local_path, "cache_dir": cache_dir}  # "" would mean the current folder
    check_no_empty_paths("data.options", paths, DATA_PATH_OPTIONS)
    if data_files is not None and not data_files:  # {} would quietly mean the hub
        raise ConfigError("data.options.data_files: empty; give {split: file, ...} or null "
                          "(local_path or the Hugging Face hub)")
    check_data_file_paths(data_files)
    if local_path is not None and not Path(local_path).is_dir():
        raise ConfigError(f"data.options.local_path: {local_path} is not a folder; "
                          f"{_file_layout(source)} in a folder")
    if local_path is not None and saved_dataset(Path(local_path)):
        raise EENetError(
            f"{source.name}: data.options.local_path: {local_path} is a saved Dataset (one split, "
            f"unnamed); give a saved DatasetDict naming the splits {source.train_split} and "
            f"{source.test_split} (datasets.DatasetDict({{{source.train_split!r}: ..., "
            f"{source.test_split!r}: ...}}).save_to_disk(folder)) or a folder of files")
    load_files = data_files
    if local_path is not None and data_files is None and not saved_to_disk(Path(local_path)):
        # only the splits used are read: GLUE's folder as downloaded holds an unlabelled test.tsv
        splits = (source.train_split, source.test_split)
        data_files = used_split_files(Path(local_path), splits)
        load_files = as_patterns(data_files, splits) if data_files else None
    empty = empty_files(local_path, data_files)
    if empty:
        where = "data.options.local_path" if local_path is not None else "data.options.data_files"
        raise EENetError(f"{source.name}: {where}: {empty[0]} is empty (0 bytes); "
                         f"{_file_layout(source)}")
    original, headed = _original_files(source, local_path, data_files)
    layout = source.headed_csv if headed else source.original_csv
    read_options = original_read_options(headed) if original else {}
    try:
        if local_path is not None and saved_to_disk(Path(local_path)):
            return datasets.load_from_disk(str(local_path))
        if local_path is not None:
            # a .tsv's options (`FORMATS`): `datasets` infers only the builder from the suffix
            folder_options = builder_for(data_files)[1] if data_files else {}
            with datasets_log_held():  # absolute: "." names no data set ("dataset_name ...")
                loaded = datasets.load_dataset(
                    os.path.abspath(local_path), data_files=load_files, cache_dir=cache_dir,
                    download_mode=REREAD, **folder_options, **read_options
                )
            return _from_original(loaded, source, original, layout) if original else loaded
        if data_files:
            files = {k: [str(p) for p in np.atleast_1d(v)] for k, v in data_files.items()}
            builder, builder_options = builder_for(files)
            with datasets_log_held():
                loaded = datasets.load_dataset(
                    builder, data_files=files, cache_dir=cache_dir, download_mode=REREAD,
                    **builder_options, **read_options
                )
            return _from_original(loaded, source, original, layout) if original else loaded
        with _cache_only_if_unreachable():
            return datasets.load_dataset(
                hub_id or source.hub_id, source.hub_config, cache_dir=cache_dir
            )
    # ConnectionError and FileNotFoundError are OSErrors; DatasetsError: files that do not
    # parse or whose columns differ; IndexError: a saved split without rows (load_from_disk)
    except (OSError, ValueError, IndexError, datasets.exceptions.DatasetsError) as exc:
        if local_path is not None or data_files:  # the user's files: no advice on the hub
            where = ("data.options.local_path" if local_path is not None
                     else "data.options.data_files")
            if original:  # a row of other fields than the layout's three, say
                raise EENetError(
                    f"{source.name}: {where}: could not read {_names(original)} as "
                    f"{layout} ({loading_problem(exc)}); {_file_layout(source)}, "
                    "or every file in that layout") from None
            bad = (unfit_file(local_path, data_files)
                   or column_problem(local_path, data_files, (source.text_column, "label")))
            if bad:
                raise EENetError(f"{source.name}: {where}: {bad}; {_file_layout(source)}"
                                 f"{_original_hint(source, local_path, data_files)}") from None
            where = f"data.options.local_path ({local_path})" if local_path is not None else (
                "data.options.data_files")
            raise EENetError(
                f"{source.name}: could not load the data of {where} ({loading_problem(exc)}); "
                f"{_file_layout(source)}"
            ) from None
        unreachable = hub_unreachable()
        mode = ("offline mode, " if _offline() else
                f"the hub cannot be reached: {unreachable}; " if unreachable else "")
        raise EENetError(
            f"{source.name}: could not load the data ({mode}{loading_problem(exc)}); "
            f"{_where_to_put(source)}"
        ) from None


def _original_files(source: TextSource, local_path: str | Path | None,
                    data_files: dict[str, Any] | None) -> tuple[list[Path], bool]:
    """(the user's data files, False) when every one of them begins in `source`'s original
    headerless CSV layout (`original_layout`: the AG News CSVs as distributed), (files, True)
    when every one begins with its header row (`headed_layout`: Kaggle's copy); ([], False)
    otherwise: for other data sets, other headers, a mixture, a save_to_disk folder."""
    files = user_data_files(local_path, data_files) if source.original_csv else []
    if not files:
        return [], False
    if all(original_layout(p, len(source.class_names)) for p in files):
        return files, False
    if all(headed_layout(p, source.original_header) for p in files):
        return files, True
    return [], False


def _original_hint(source: TextSource, local_path: str | Path | None,
                   data_files: dict[str, Any] | None) -> str:
    """For files lacking columns, where some (not all) of them are in `source`'s original
    layout: that the layout is read only when every file is in it ('' otherwise)."""
    if not source.original_csv:
        return ""
    files = user_data_files(local_path, data_files)
    n_classes = len(source.class_names)
    parts = []
    for layout, some in (
        (source.original_csv, [p for p in files if original_layout(p, n_classes)]),
        (source.headed_csv, [p for p in files if headed_layout(p, source.original_header)]),
    ):
        if some:
            parts.append(f"{_names(some)} {'is' if len(some) == 1 else 'are'} in the layout of "
                         f"{layout}")
    if len(parts) == 1:
        return f" ({parts[0]}, which is read only when every file is in it)"
    return (f" ({'; '.join(parts)}: a layout is read only when every file is in it)"
            if parts else "")


def _names(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def _from_original(loaded: Any, source: TextSource, files: list[Path], layout: str) -> Any:
    """The splits read from files in `source`'s original CSV layout (`ORIGINAL_COLUMNS`; with
    or without a header row, `layout` naming which) as the hub's loading script made them:
    text = title + " " + description, label = class - 1 (a one-line EENetError naming the
    first row whose class is no number 1..n; a row of two fields reads with an empty
    description, as pandas fills it). Says on stderr how the files were read."""
    import datasets
    import pyarrow
    import pyarrow.compute as pc

    n_classes = len(source.class_names)
    numbers = pyarrow.array([str(c) for c in range(1, n_classes + 1)])
    splits = {}
    for name, split in loaded.items():  # column-wise (arrow compute): no per-row Python
        labels, titles, descriptions = (split.data.column(c) for c in ORIGINAL_COLUMNS)
        classes = pc.utf8_trim_whitespace(labels)
        valid = pc.fill_null(pc.is_in(classes, value_set=numbers), False)
        if not pc.all(valid).as_py():
            row = pc.index(valid, False).as_py()
            raise EENetError(f"{source.name}: split {name!r} row {row + 1} has class "
                             f"{labels[row].as_py()!r}; {layout} number the "
                             f"classes 1-{n_classes}")
        splits[name] = datasets.Dataset.from_dict({
            "text": pc.binary_join_element_wise(titles, descriptions, " "),
            "label": pc.subtract(pc.cast(classes, pyarrow.int64()), 1),
        })
    print(f"{source.name}: read {_names(files)} as {layout}: text = title + ' ' "
          "+ description, label = class - 1, as the hub's loader reads them", file=sys.stderr)
    return datasets.DatasetDict(splits)


def _columns(split: Any, source: TextSource, split_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(texts as a numpy object array of str, int64 labels) of one `datasets` split, the labels
    in the preset's numbering (`in_preset_numbering`: a ClassLabel's names decide)."""
    missing = {source.text_column, "label"} - set(split.column_names)
    if missing:
        raise EENetError(
            f"{source.name}: split {split_name!r} lacks column(s) {', '.join(sorted(missing))}; "
            f"it has {', '.join(split.column_names)}"
        )
    if len(split) == 0:
        raise EENetError(f"{source.name}: split {split_name!r} is empty; it needs labelled "
                         f"{source.text_column},label rows")
    texts = split[source.text_column][:]  # its Python values, read once (a list)
    _refuse_non_text(texts, source, split_name)
    # an object array of str: a unicode array pads every row to the longest text
    texts = np.asarray(texts, dtype=object)
    labels = _class_numbers(_label_column(split), source, split_name)
    n_classes = len(source.class_names)
    bad = labels[(labels < 0) | (labels >= n_classes)]
    if bad.size:
        raise EENetError(f"{source.name}: split {split_name!r} has labels outside "
                         f"0..{n_classes - 1} (e.g. {int(bad[0])}); "
                         f"{_label_advice(source, labels)}")
    labels = in_preset_numbering(labels, split.features.get("label"), source.class_names,
                                 f"{source.name}: split {split_name!r}")
    return texts, labels


def _label_advice(source: TextSource, labels: np.ndarray) -> str:
    """What to do about labels outside the classes: labels that run 1..n are numbered from 1
    (as the original AG News CSVs number their classes), others are no labelled split (GLUE's
    test split has -1 everywhere)."""
    n_classes = len(source.class_names)
    if labels.min() >= 1 and labels.max() == n_classes:
        numbered = ", ".join(f"{i} {name}" for i, name in enumerate(source.class_names))
        origin = f", as {source.numbered_from_one}" if source.numbered_from_one else ""
        return (f"labels must start at 0 ({numbered}) but these run 1..{n_classes}{origin}: "
                "subtract 1 from each label")
    return "it must be a labelled split"


def _refuse_non_text(column: list[Any], source: TextSource, split_name: str) -> None:
    """A one-line EENetError naming the first row of the text column without a text (None:
    str(None) would train on the text 'None'), or else the first cell that is not a string
    (a list, a number: str() of it would train on its Python spelling). One pass."""
    other = None  # the first cell that is neither a string nor None
    for row, text in enumerate(column):
        if text is None:
            raise EENetError(f"{source.name}: split {split_name!r} has no "
                             f"{source.text_column} in row {row}; every row needs a text")
        if other is None and not isinstance(text, str):
            other = row
    if other is not None:
        raise EENetError(
            f"{source.name}: split {split_name!r} column {source.text_column} must hold texts "
            f"(strings), got {type(column[other]).__name__} {column[other]!r:.60} in row "
            f"{other}")


def _label_column(split: Any) -> np.ndarray | list[Any]:
    """A split's `label` column: a numpy array when Arrow stores it as integers with none
    missing (ClassLabel, int64: read in one conversion); else its Python values."""
    import pyarrow.types

    column = split.with_format("arrow")["label"][:]
    if pyarrow.types.is_integer(column.type) and column.null_count == 0:
        numbers = column.to_numpy()
        if np.can_cast(numbers.dtype, np.int64):  # not uint64's largest
            return numbers
    return split["label"][:]


def _is_class_number(value: Any) -> bool:
    """An integer (or an integral float, as CSV readers give) that is not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    )


def _class_numbers(values: np.ndarray | list[Any], source: TextSource,
                   split_name: str) -> np.ndarray:
    """A split's `label` column as int64, or a one-line EENetError naming a value that is not a
    class number (a class name, an empty cell, a fraction). An array of integers is one; other
    values are looked at one by one."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu" \
            and np.can_cast(values.dtype, np.int64):
        return values.astype(np.int64)
    # one text cell makes a CSV reader read the whole column as text: name a cell that is no
    # number ('Sports'), not the first one ('3')
    bad = sorted((v for v in values if not _is_class_number(v)),
                 key=lambda v: isinstance(v, str) and v.strip().isdigit())[:1]
    if bad:
        raise EENetError(
            f"{source.name}: split {split_name!r} column label must hold class numbers "
            f"0..{len(source.class_names) - 1} ({', '.join(source.class_names)}), got {bad[0]!r}"
        )
    return np.asarray(values, dtype=np.int64)


def prepare_text(
    source: TextSource,
    out_dir: Path,
    seed: int,
    val_size: int,
    max_train_samples: int | None = None,
    **load_options: Any,
) -> dict[str, Any]:
    """Load `source`, hold out `val_size` training texts by seed, write train / val / test."""
    loaded = load_text_splits(source, **load_options)
    for split in (source.train_split, source.test_split):
        if split not in loaded:
            raise EENetError(
                f"{source.name}: no {split!r} split in the loaded data (it has "
                f"{', '.join(loaded)}); {_split_advice(source, load_options)}"
            )
    x_all, y_all = _columns(loaded[source.train_split], source, source.train_split)
    train_idx, val_idx = holdout(len(y_all), val_size, seed)
    if max_train_samples is not None:
        if int(max_train_samples) < 1:
            raise ConfigError(
                f"data.options.max_train_samples: must be >= 1, got {max_train_samples}"
            )
        keep = np.random.default_rng(seed + 1).permutation(len(train_idx))[: int(max_train_samples)]
        train_idx = np.sort(train_idx[keep])
    splits = {
        "train": (x_all[train_idx], y_all[train_idx]),
        "val": (x_all[val_idx], y_all[val_idx]),
        "test": _columns(loaded[source.test_split], source, source.test_split),
    }
    sizes = write_splits(Path(out_dir), splits)
    return write_meta(
        Path(out_dir),
        {
            "dataset": source.name,
            "kind": "text",
            "num_classes": len(source.class_names),
            "classes": list(source.class_names),
            "sizes": sizes,
            "seed": int(seed),
            "val_size": int(val_size),
            "test_from": source.test_split,
        },
    )


def prepare_ag_news(out_dir: Path, seed: int, **options: Any) -> dict[str, Any]:
    """AG News: 110,000 train / 10,000 val (held out by seed) / 7,600 test, 4 classes."""
    check_options("ag_news", options, OPTIONS)
    return prepare_text(AG_NEWS, out_dir, seed, **{"val_size": 10_000, **options})


def prepare_sst2(out_dir: Path, seed: int, **options: Any) -> dict[str, Any]:
    """SST-2: 66,477 train / 872 val (held out by seed) / 872 test (GLUE validation), 2 classes."""
    check_options("sst2", options, OPTIONS)
    return prepare_text(SST2, out_dir, seed, **{"val_size": 872, **options})
