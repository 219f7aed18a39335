"""MNIST-1D, the embedded default: generated offline by the `mnist1d` package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eenet.data.prepared import write_meta
from eenet.data.splits import holdout, write_splits
from eenet.errors import ConfigError
from eenet.extras import require

NUM_SAMPLES_MIN = 100
# mnist1d generates one sample at a time in Python and keeps each as its own array before
# stacking them: about 1 to 3 ms and 1.5 kB at peak per sample on a 2-core AMD EPYC (40,000 in
# 134 s, 59 MB). 10**6, 50 times the default, takes under an hour and about 1.5 GB; a typo
# such as 4000000000 would run for months and need terabytes before failing with MemoryError.
NUM_SAMPLES_MAX = 10**6


def check_ranges(num_samples: int = 20000, val_fraction: float = 0.2) -> None:
    """The options' ranges, which need no data (check_params runs this too): a one-line
    ConfigError naming the option. `num_samples` lies from NUM_SAMPLES_MIN to NUM_SAMPLES_MAX
    (10**6: generating is slow and held in memory whole). How many samples `val_fraction`
    holds out is checked once the data are generated."""
    if not NUM_SAMPLES_MIN <= int(num_samples) <= NUM_SAMPLES_MAX:
        raise ConfigError(f"data.options.num_samples: must be from {NUM_SAMPLES_MIN} to "
                          f"{NUM_SAMPLES_MAX} (MNIST-1D is generated one sample at a time, all "
                          f"in memory: 10**6 take up to an hour and about 1.5 GB), got "
                          f"{num_samples}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"data.options.val_fraction: must lie in (0, 1), got {val_fraction}")


def prepare_mnist1d(
    out_dir: Path, seed: int, num_samples: int = 20000, val_fraction: float = 0.2
) -> dict[str, Any]:
    """Generate MNIST-1D (`mnist1d.data.make_dataset`) and write train/val/test splits.

    The package's own 80/20 split gives train and test; `val_fraction` of train is held out
    as validation by `seed`. The generator itself is seeded by `seed` as well. Needs the
    mnist1d package (the `pipeline` extra): without it, a one-line MissingExtraError.
    """
    require("mnist1d", "data set mnist1d")
    from mnist1d.data import get_dataset_args, make_dataset

    check_ranges(num_samples=num_samples, val_fraction=val_fraction)
    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = int(seed)
    generated = make_dataset(args)
    x_train = np.asarray(generated["x"], dtype=np.float32)
    y_train = np.asarray(generated["y"], dtype=np.int64)
    n_val = _val_count(len(y_train), float(val_fraction), int(num_samples))
    train_idx, val_idx = holdout(len(y_train), n_val, seed)
    splits = {
        "train": (x_train[train_idx], y_train[train_idx]),
        "val": (x_train[val_idx], y_train[val_idx]),
        "test": (
            np.asarray(generated["x_test"], dtype=np.float32),
            np.asarray(generated["y_test"], dtype=np.int64),
        ),
    }
    sizes = write_splits(out_dir, splits)
    return write_meta(
        out_dir,
        {
            "dataset": "mnist1d",
            "kind": "sequence",
            "num_classes": 10,
            "input_shape": [1, int(x_train.shape[1])],
            "sizes": sizes,
            "seed": int(seed),
        },
    )


def _val_count(n_train: int, val_fraction: float, num_samples: int) -> int:
    """Samples `val_fraction` holds out of `n_train`: at least one, and one left to train on."""
    n_val = int(round(val_fraction * n_train))
    if not 0 < n_val < n_train:
        raise ConfigError(
            f"data.options.val_fraction: {val_fraction} holds out {n_val} of the {n_train} "
            f"training samples (num_samples {num_samples}); train and val need one each, e.g. "
            f"from {1 / n_train:.4g} to {(n_train - 1) / n_train:.4g}"
        )
    return n_val
