"""Dataset registry: each data set is prepared once into `data/<name>/` splits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from eenet.registry import resolve

# name -> "module:prepare"; prepare(out_dir: Path, seed: int, **options) -> meta dict
DATASETS: dict[str, str] = {
    "mnist1d": "eenet.data.mnist1d:prepare_mnist1d",
    "cifar10": "eenet.data.cifar:prepare_cifar10",
    "cifar100": "eenet.data.cifar:prepare_cifar100",
    "ag_news": "eenet.data.text:prepare_ag_news",
    "sst2": "eenet.data.text:prepare_sst2",
}

# name -> "module:check": check(**options) raises a ConfigError for a value out of range that
# needs no data to tell (check_params runs it before anything is downloaded)
OPTION_RANGE_CHECKS: dict[str, str] = {
    "mnist1d": "eenet.data.mnist1d:check_ranges",
}


def _as_yaml(value: Any) -> Any:
    """An option as params.yaml would write it: a Path as its string, a numpy number as the
    Python number."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value.item() if isinstance(value, np.generic) else value


def prepare_dataset(name: str, out_dir: str | Path, seed: int, **options: Any) -> dict[str, Any]:
    """Download / generate data set `name` and write its train/val/test splits to `out_dir`.
    The arguments are checked as params.yaml's `data` group is (`eenet.config.check_data`):
    a value of the wrong type or range is a one-line ConfigError naming it."""
    from eenet.config import check_data

    as_written = {key: _as_yaml(value) for key, value in options.items()}
    check_data("data", {"dataset": name, "seed": _as_yaml(seed), "options": as_written})
    prepare = resolve(DATASETS, name, "data.dataset")
    return prepare(Path(out_dir), seed, **options)


__all__ = ["DATASETS", "OPTION_RANGE_CHECKS", "prepare_dataset"]
