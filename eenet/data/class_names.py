"""A text split's class numbering where its `label` column is a `datasets.ClassLabel` (a saved
`DatasetDict`, parquet files `datasets` wrote, a hub copy): its names matched to the preset's.

Labels are numbers, so a copy that numbers the same classes in another order (SST-2 saved
with names `positive, negative`) would train 0 as "negative" and, where its splits disagree,
test a model on the other numbering. Names that are the preset's in another order are read
in the preset's numbering; other names are refused, as no numbering can be trusted.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from eenet.errors import EENetError


def _key(name: str) -> str:
    return name.strip().casefold()


def preset_lookup(feature: Any, class_names: tuple[str, ...], where: str) -> np.ndarray | None:
    """For the `label` feature of a split (`where` names it in errors): None when it names no
    classes (not a ClassLabel, or `ClassLabel(num_classes=n)`'s own names "0".."n-1") or names
    the preset's `class_names` in their order (case and surrounding spaces ignored); for the
    preset's names in another order, an int64 array whose entry i is the preset's number of
    the data's class i; a one-line EENetError for any other names."""
    names = getattr(feature, "names", None)
    if type(feature).__name__ != "ClassLabel" or not names:
        return None
    if list(names) == [str(i) for i in range(len(names))]:  # numbers, no names
        return None
    preset = {_key(name): i for i, name in enumerate(class_names)}
    given = [_key(str(name)) for name in names]
    if sorted(given) != sorted(preset):
        numbered = ", ".join(f"{i} {name}" for i, name in enumerate(class_names))
        raise EENetError(
            f"{where}: its label feature names the classes {', '.join(map(str, names))}, not "
            f"the preset's ({numbered}); give its classes the preset's names "
            "(Dataset.align_labels_with_mapping) or store plain integer labels numbered so")
    lookup = np.array([preset[name] for name in given], dtype=np.int64)
    return None if (lookup == np.arange(len(lookup))).all() else lookup


def in_preset_numbering(labels: np.ndarray, feature: Any, class_names: tuple[str, ...],
                        where: str) -> np.ndarray:
    """`labels` (each in 0..len(class_names)-1) in the preset's numbering: as they are unless
    the split's ClassLabel `feature` numbers the preset's classes in another order, when each
    is renumbered by its name (a line on stderr says so). See `preset_lookup`."""
    lookup = preset_lookup(feature, class_names, where)
    if lookup is None:
        return labels
    order = ", ".join(f"{i} {name}" for i, name in enumerate(feature.names))
    preset = ", ".join(f"{i} {name}" for i, name in enumerate(class_names))
    print(f"{where}: its label feature numbers the classes {order}: renumbered by name as the "
          f"preset's ({preset})", file=sys.stderr)
    return lookup[labels]
