"""What the plain model saves: a policy that lets no sample leave early scores nothing.

Each exit's profiled cost includes the reference scoring at the exits before it (the latency
profile times the runtime with max p's decisions). The runtime skips all scoring for a policy
whose thresholds let no sample leave before the last exit, so that policy runs below the last
exit's cost, by `unscored_saving_ms` (stage profile_scoring: `eenet.scoring_cost`). Its own
module, apart from the costs contract (`eenet.costs`), which the latency profile stage runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eenet.costs import is_real_number, show


def saving_value_problem(value: Any, name: str = "unscored_saving_ms") -> str | None:
    """What is wrong with a saving `value`, what running with no early exit saves against the
    last exit's cost (None: nothing): it must be a finite real number >= 0."""
    if is_real_number(value) and np.isfinite(value) and value >= 0:
        return None
    return f"{name} must be a finite number >= 0, got {show(value)}"


def saving_problem(record: Mapping[str, Any]) -> str | None:
    """What is wrong with the `unscored_saving_ms` of a scoring table or a schedulers index
    (None: nothing, or absent, as in EENet's table or one written before it was recorded):
    a finite number >= 0."""
    if "unscored_saving_ms" not in record:
        return None
    return saving_value_problem(record["unscored_saving_ms"])


def unscored_saving(record: Mapping[str, Any]) -> float:
    """The `unscored_saving_ms` of a scoring table or a schedulers index (0 where it records
    none)."""
    return float(record.get("unscored_saving_ms") or 0.0)


def unscored_costs(costs: Any, saving_ms: float) -> np.ndarray:
    """The costs a policy that lets no sample leave early runs at: `costs` with the last
    exit's lowered by `saving_ms` (nothing is scored), kept above the exit before's: at most
    down to the next 12-digit number above it, which the costs' JSON (`eenet.rounding`)
    keeps distinct (where none lies below the last exit's cost, `costs`)."""
    from eenet.rounding import tidy_up

    costs = np.asarray(costs, dtype=np.float64)
    if saving_ms <= 0 or costs.size < 2:
        return costs
    # the next 12-digit number above the exit before's, rounded either way
    floor = tidy_up(float(np.nextafter(tidy_up(float(costs[-2])), np.inf)))
    lowered = max(float(costs[-1]) - float(saving_ms), floor)
    if lowered >= costs[-1]:
        return costs
    return np.append(costs[:-1], lowered)
