"""The rules every set of labels meets: integer class indices, each in [0, n_classes).

One place for both kinds of labels: numpy arrays (exit outputs, prepared splits, `eenet predict
--input` files: `eenet.outputs.checked_labels`) and torch tensors (batches of training,
validation and the runtime: `batch_labels`). Importing it imports no torch: the functions that
need it import it when called.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

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


def batch_labels(labels: Sequence[Any]) -> torch.Tensor:
    """A batch's labels, one per item (or one tensor or array of them), as int64 [N]: each an
    integer class index (a Python or numpy integer, an integer array or tensor of one value).
    Anything else is a one-line LabelError naming the first label that is none: float
    labels were cut to integers without a word (2.7 read as 2), float tensors, one-hot rows
    and 0-d numpy arrays were a TypeError traceback, as was one value for the whole batch (a
    0-d tensor or array); uint64 labels past int64 wrapped round to negative numbers."""
    import torch  # when called: importing eenet.labels imports no torch

    if _one_value(labels):
        raise LabelError(f"labels: expected an integer class index per sample, got one value "
                         f"for the whole batch ({_value_described(labels)})")
    if isinstance(labels, torch.Tensor | np.ndarray) or not any(  # torch warns of a list
            isinstance(label, np.ndarray) for label in labels):  # of arrays, not of one
        try:  # the usual case at once: Python integers, or integer tensors of one value
            values = torch.as_tensor(labels)
            if values.ndim == 1 and holds_integers(values):
                classes = values.long()  # negative only where uint64 labels are past int64
                if values.dtype != torch.uint64 or not bool((classes < 0).any()):
                    return classes
        except (TypeError, ValueError, RuntimeError):
            pass
    indices = [_class_index(label) for label in labels]
    if None in indices:
        raise LabelError(f"labels: expected an integer class index per sample, got "
                         f"{_described(labels[indices.index(None)])}")
    return torch.tensor(indices, dtype=torch.long)


def _class_index(label: Any) -> int | None:
    """A label as an integer class index: a Python integer (no bool) that int64 holds, or an
    integer tensor, array or numpy scalar of one value (torch takes no sequence of 0-d
    arrays); None when it is none of these."""
    import torch

    if isinstance(label, torch.Tensor | np.ndarray | np.generic):
        if math.prod(label.shape) != 1 or not holds_integers(label):
            return None
        label = label.item()
    fits = isinstance(label, int) and not isinstance(label, bool) and abs(label) < 2 ** 63
    return label if fits else None


def _one_value(labels: Any) -> bool:
    """Whether a batch's `labels` are one value, not one per sample: a 0-d tensor or array, or
    anything that is no sequence (a number, None)."""
    import torch

    if isinstance(labels, torch.Tensor | np.ndarray):
        return labels.ndim == 0
    return not isinstance(labels, Iterable)


def _value_described(value: Any) -> str:
    """One value given as a whole batch's labels (`_one_value`), in words."""
    import torch

    if isinstance(value, torch.Tensor | np.ndarray):
        kind = "tensor" if isinstance(value, torch.Tensor) else "array"
        return f"a 0-d {kind}: {value.item()!r:.40}"
    if isinstance(value, np.generic):
        return f"{value.dtype} {value.item()!r:.40}"
    return f"{type(value).__name__} {value!r:.40}"


def _described(label: Any) -> str:
    """A label that is no class index (`_class_index`), in words for the error naming it."""
    import torch

    kind = type(label).__name__
    if isinstance(label, torch.Tensor | np.ndarray | np.generic):
        if math.prod(label.shape) != 1:
            return (f"labels of shape {tuple(label.shape)} per sample (one-hot rows? give "
                    "each sample's class index: argmax)")
        kind, label = str(label.dtype), label.item()
    shown = f"{label:.6g}" if isinstance(label, float) else repr(label)
    huge = isinstance(label, int) and not isinstance(label, bool) and abs(label) >= 2 ** 63
    return (f"{kind} labels such as {shown[:40]}{'...' * (len(shown) > 40)}"
            f"{' (too large for a class index)' * huge}")
