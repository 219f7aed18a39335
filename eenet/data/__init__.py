"""Dataset registry: each data set is prepared once into `data/<name>/` splits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def prepare_dataset(name: str, out_dir: str | Path, seed: int, **options: Any) -> dict[str, Any]:
    """Download / generate data set `name` and write its train/val/test splits to `out_dir`.
    The arguments are checked as params.yaml's `data` group is (`eenet.config.check_data`):
    a value of the wrong type or range is a one-line ConfigError naming it."""
    from eenet.config import check_data

    # a path may be a Path here, where params.yaml writes a string
    as_written = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in options.items()}
    check_data("data", {"dataset": name, "seed": seed, "options": as_written})
    prepare = resolve(DATASETS, name, "data.dataset")
    return prepare(Path(out_dir), seed, **options)


__all__ = ["DATASETS", "OPTION_RANGE_CHECKS", "prepare_dataset"]
