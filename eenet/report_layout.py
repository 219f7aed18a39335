"""How the reports lay out what they share: per-exit values keyed `{"exit0": .., "exit1": ..}`
in the DVC metrics files, not a list, and the methods' order in the accuracy figures' legends.

`dvc metrics show` / `diff` and `dvc exp show` show a report's numbers and nested objects of
them (flattened, `exits.exit0.accuracy`) but drop lists: each exit has its own key, named as
sweep.csv's `exit<k>_fraction` columns and dvclive's `val_acc_exit<k>` name it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
_KEY = re.compile(r"exit(0|[1-9][0-9]*)")


def budget_as_set(metrics: Mapping[str, Any], shown: str) -> str:
    """`shown` (metrics.json's headline budget as a caller formats it, '0.274 ms'), preceded by
    the budget as set where that was a percentage ('50% = 0.274 ms'): `budget_given`, or
    `budget` in a metrics.json written before it was renamed."""
    return as_set(metrics.get("budget_given", metrics.get("budget")), shown)


def as_set(spec: Any, shown: str) -> str:
    """`shown` (a budget in ms as a caller formats it), preceded by `spec`, the budget as set,
    where that was a percentage ('75% = 0.373'); a budget set in ms (or not known) is `shown`
    alone."""
    if isinstance(spec, str) and spec.strip().endswith("%"):
        return f"{spec.strip()} = {shown}"
    return shown


def method_order(listed: Iterable[str], methods: Iterable[str]) -> dict[str, int]:
    """Each method's place (0 first) in the accuracy figures' legends, for `listed` (metrics.json's
    `methods`: schedulers.methods in order, then the oracle) and `methods` (a sweep's): the
    listed in their order, any other after them by name. The PNG draws its lines in this order
    and sweep.csv's `method_order` holds it for `dvc plots` (plots/by_method.json)."""
    order = {method: i for i, method in enumerate(dict.fromkeys(listed))}
    for method in sorted(set(methods) - set(order)):
        order[method] = len(order)
    return order


def exit_key(k: int) -> str:
    """The key of exit `k` (0-based): `exit<k>`."""
    return f"exit{k}"


def by_exit(values: Iterable[T]) -> dict[str, T]:
    """`values`, one per exit in order, keyed `exit0`, `exit1`, ..."""
    return {exit_key(k): value for k, value in enumerate(values)}


def per_exit(value: Any) -> list[Any] | None:
    """A per-exit field's values in exit order: from its keyed form (keys exactly `exit0` to
    `exit<n-1>`, in any order) or from the list the reports held before; None when `value` is
    neither (another key, a gap, no exit at all)."""
    if isinstance(value, list):
        return list(value) if value else None
    if not isinstance(value, dict) or not value:
        return None
    matches = [_KEY.fullmatch(key) if isinstance(key, str) else None for key in value]
    if not all(matches):
        return None
    order = sorted(int(m.group(1)) for m in matches if m)
    if order != list(range(len(value))):
        return None
    return [value[exit_key(k)] for k in order]
