"""The rules every set of labels meets: integer class indices, each in [0, n_classes).

One place for both kinds of labels: numpy arrays (exit outputs, prepared splits, `eenet predict
--input` files: `eenet.outputs.checked_labels`) and torch tensors (batches of training,
validation and the runtime: `eenet.batching.batch_labels`). Importing it imports no torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from eenet.errors import ArtifactError

if TYPE_CHECKING:
    import torch

# whose classes a batch's labels must be (`check_label_range`'s `classes_of` in training,
# validation and the runtime)
MODEL_EXITS = "the model's exits"


class LabelError(ArtifactError):
    """Labels that are no integer class index per sample (`batch_labels`): a caller that knows
    where they came from names it (`EarlyExitPredictor`: `dataset` or `batches`)."""


def holds_integers(values: np.ndarray | torch.Tensor) -> bool:
    """Whether an array's or a tensor's dtype is an integer type: not bool, float or complex,
    nor numpy's timedelta64 (which numpy counts among its integer types)."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        return dtype.kind in "iu"
    import torch  # a tensor's dtype: torch is imported already

    return not (dtype == torch.bool or dtype.is_floating_point or dtype.is_complex)


def check_label_range(labels: np.ndarray | torch.Tensor, n_classes: int, source: str,
                      name: str = "labels", classes_of: str = "") -> None:
    """Integer `labels` (an array or a tensor on the host) must be classes 0 to `n_classes` - 1,
    else a one-line ArtifactError naming `source` and the labels' `name`; `classes_of` says
    whose classes they are (`MODEL_EXITS`), where the message should. Out-of-range
    labels made cross-entropy raise an IndexError traceback on the CPU (a device-side assert
    on a GPU; -100, its ignore_index, skipped without a word) and counted as wrong answers in
    every accuracy."""
    if math.prod(labels.shape) == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= n_classes:
        classes = f"the {n_classes} classes of {classes_of}" if classes_of else \
            f"{n_classes} classes"
        raise ArtifactError(f"{source}: {name} must lie in [0, {n_classes - 1}] ({classes}), "
                            f"got [{low}, {high}]")
