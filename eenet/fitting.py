"""Fit the pipeline's schedulers from its artifacts: what fit_headline and fit_schedulers run.

Both stages fit every method of `schedulers.methods` on the validation exit outputs, each
planning with the latency profile's costs plus its own measured scoring cost (the
profile_scoring and profile_eenet_scoring tables), and write one schedulers folder
(`eenet.sweep`'s format). They differ
only in the budgets: fit_headline fits the headline `budget` alone (what measure runs and
metrics.json reports), fit_schedulers the `budgets` sweep (the plots). Two stages, so that a
change of one reruns its own fits only. Usable without DVC.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from eenet.budget import resolve_budget, resolve_sweep_and_given
from eenet.config import check_schedulers
from eenet.errors import ConfigError
from eenet.latency_table import check_latency_classes, costs_profiled_at, load_latency
from eenet.outputs import ExitOutputs, check_compatible, load_exit_outputs
from eenet.report_layout import as_set
from eenet.schedulers import check_method_settings
from eenet.schedulers.base import FittedPolicy
from eenet.schedulers.eenet import FIXED_SCORES
from eenet.schedulers.plans import no_early_exit_note
from eenet.scoring_cost import CHARGED, extra_problem, load_scoring_tables, method_extra
from eenet.sweep import fit_all, fit_charged
from eenet.unscored import saving_problem, unscored_saving


def charged_settings(
    schedulers: Mapping[str, Any], scoring: Mapping[str, Any], n_exits: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Per-method settings (`schedulers` less methods and seed) with EENet's scoring costs
    filled in from the measured table, and the extra ms per exit each other method is
    charged. An explicit `schedulers.eenet.scorer_extra_ms` / `fixed_extra_ms` wins over the
    table."""
    settings = {k: v for k, v in schedulers.items() if k not in ("methods", "seed")}
    charged = {m: method_extra(scoring, m, n_exits) for m in scoring["extra_ms"]}
    eenet = dict(settings.get("eenet") or {})
    if not eenet.get("scorer_extra_ms"):
        eenet["scorer_extra_ms"] = method_extra(scoring, "eenet", n_exits).tolist()
    if not eenet.get("fixed_extra_ms"):  # EENet's fixed score candidates, charged likewise
        eenet["fixed_extra_ms"] = {m: e.tolist() for m, e in charged.items() if m in FIXED_SCORES}
    settings["eenet"] = eenet
    return settings, {m: e for m, e in charged.items() if m != "eenet"}


def fit_with_scoring(
    method: str,
    val: ExitOutputs,
    costs: Any,
    budget_ms: float,
    scoring: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> FittedPolicy:
    """`fit_policy` with the method's own scoring cost charged, as the pipeline charges it:
    `scoring` is `eenet.scoring_cost.profile_scoring`'s table (`extra_ms` per method) for the
    model whose `costs` (`eenet.profiling.profile_model`'s `cumulative_ms`) the policy plans
    with. EENet gets its scorer's and its fixed candidates' extra in its settings (unless
    `settings` gives them), entropy and patience plan with costs + their extra, max p with the
    costs (the profile times its scoring); a policy of no early exit with the last exit's
    cost less the table's `unscored_saving_ms` (`eenet.sweep.fit_charged`). Uncharged,
    EENet's learned scorer can cost far more than its plan in real early exit. Time EENet's
    scorer with the settings it is fitted with (`profile_scoring(model, settings)`: its
    architecture sets its cost). A budget below the first exit's cost, a table that is no
    such table or lacks the method (where it is charged: entropy, patience, eenet) is a
    one-line ConfigError; so are bad `settings`."""
    check_method_settings(method, settings)  # no mapping: a TypeError of dict() below
    n_exits = int(np.size(costs))
    budget_ms = resolve_budget(budget_ms, np.asarray(costs, dtype=np.float64), "budget_ms")
    extra = scoring.get("extra_ms") if isinstance(scoring, Mapping) else None
    problem = extra_problem(extra, n_exits)
    if problem is None and method in CHARGED and method not in extra:
        problem = f"extra_ms has no {method}"
    if problem is None:
        problem = saving_problem(scoring)
    if problem is not None:
        raise ConfigError(f"scoring: {problem}; give eenet.scoring_cost.profile_scoring's "
                          f"table of the model the costs are for (methods including {method})")
    every, charged = charged_settings({method: dict(settings or {})}, scoring, n_exits)
    policy, _ = fit_charged(method, val, costs, budget_ms, charged.get(method),
                            every.get(method, {}), seed,
                            unscored_saving_ms=unscored_saving(scoring))
    return policy


def fit_from_artifacts(
    val_npz: str | os.PathLike,
    latency_json: str | os.PathLike,
    scoring_json: str | os.PathLike,
    out_dir: str | os.PathLike,
    schedulers: Mapping[str, Any],
    *,
    budget: Any = None,
    budgets: Any = None,
    eenet_scoring_json: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Fit every method of `schedulers` at the headline `budget` or at the `budgets` sweep
    (params.yaml's specs: ms/sample or 'N%'; give exactly one) and write them to `out_dir`.
    The scoring costs come from `scoring_json` (the fixed scores', stage profile_scoring) and
    `eenet_scoring_json` (EENet's scorer's, stage profile_eenet_scoring), or from
    `scoring_json` alone where it holds every method's. Returns the folder's index; a
    headline folder records `headline_ms` and the `budget` spec, a sweep folder `sweep_ms`
    (and, for a list, each budget as given: `sweep_given`). `schedulers` is checked as
    params.yaml's group is, a bad one a one-line ConfigError in its names (those found while
    fitting too: schedulers.<method>.KEY). A bar over the fits shows on a terminal's stderr only."""
    if (budget is None) == (budgets is None):
        raise TypeError("fit_from_artifacts: give exactly one of budget and budgets")
    check_schedulers("schedulers", schedulers)  # as params.yaml's group, in its names
    latency = load_latency(latency_json)
    costs = np.asarray(latency["cumulative_ms"], dtype=np.float64)
    headline = None if budget is None else resolve_budget(budget, costs)
    # `given`: each sweep budget as the list gave it, for the reports
    sweep, given = ([], None) if budgets is None else resolve_sweep_and_given(budgets, costs)
    val = load_exit_outputs(val_npz)
    check_compatible(val, costs, f"{val_npz} vs {latency_json}")
    check_latency_classes(latency, str(latency_json), val.n_classes, str(val_npz))
    if "eenet" in (schedulers.get("methods") or []):
        from eenet.schedulers.eenet.settings import check_sample_count

        fitted_at = [*sweep, *([] if headline is None else [headline])]
        check_sample_count(val.n_samples, costs, fitted_at, str(val_npz))
    tables = [(scoring_json, "profile_scoring")]
    if eenet_scoring_json is not None:
        tables.append((eenet_scoring_json, "profile_eenet_scoring"))
    scoring = load_scoring_tables(tables, costs.size, latency, str(latency_json))
    settings, charged = charged_settings(schedulers, scoring, costs.size)
    return fit_all(val, costs, schedulers.get("methods"), sweep, headline, out_dir, settings,
                   int(schedulers.get("seed", 0)), budget_spec=budget, charged=charged,
                   model=latency.get("model"), profiled_at=costs_profiled_at(latency),
                   sweep_given=given, settings_param="schedulers", progress=True,
                   unscored_saving_ms=scoring["unscored_saving_ms"])


def imported_from_csv(latency_json: str | os.PathLike) -> bool:
    """Whether the latency table's costs came from an imported CSV (`profile.table`), which
    may hold seconds without saying so, rather than from a measurement or a JSON table."""
    source = str(load_latency(latency_json).get("source", "measured")).lower()
    return source.endswith((".csv", ".txt"))


def above_last_exit_note(index: Mapping[str, Any]) -> str | None:
    """The note for the sweep budgets of a sweep folder's `index` above the last exit's cost
    (where every policy runs the full model: the plots' points there say nothing), one line;
    None if there are none. The last exit's cost itself, `auto`'s top point, is no mistake."""
    last = float(index["costs_ms"][-1])
    above = [b for b in index["sweep_ms"] if b > last]
    if not above:
        return None
    listed = ", ".join(f"{b:.4g}" for b in above)
    many = len(above) > 1
    return (f"  note: budget{'s' if many else ''} {listed} ms/sample "
            f"{'are' if many else 'is'} above the last exit's cost ({last:.4g} ms): no early "
            f"exit is needed, every policy sends all samples to the last exit there; a share "
            f"of the feasible range is written 'N%'")


def below_first_exit_notes(index: Mapping[str, Any]) -> list[str]:
    """One line per fit whose budget was below the first exit's cost."""
    return [f"  {e['method']} at {e['budget_ms']:.4g} ms: below the first exit's cost, "
            f"fitted at {e['fitted_ms']:.4g} ms (all leave at exit 0)"
            for e in index["entries"] if "fitted_ms" in e]


def _fitted_count(index: Mapping[str, Any]) -> str:
    fitted = len(index["entries"])
    return f"fitted {fitted} scheduler{'s' if fitted != 1 else ''}"


def headline_fit_lines(index: Mapping[str, Any], latency_json: str | os.PathLike) -> list[str]:
    """What fit_headline prints of its folder's `index`: the fits and the headline budget (as
    set where that was a share, as summary.md and the plots give it: '30% = 0.1496'), the note
    for a budget at or above the last exit's cost (a share named as typed: '100% = 3
    ms/sample'; costs from an imported CSV `latency_json` may be seconds) and the fits below
    the first exit's cost."""
    headline, spec = index["headline_ms"], index.get("budget")
    lines = [f"{_fitted_count(index)} at the headline budget "
             f"{as_set(spec, f'{headline:.4g}')} ms/sample"]
    note = no_early_exit_note(np.asarray(index["costs_ms"]), headline, "budget",
                              typed_costs=imported_from_csv(latency_json),
                              given=spec if isinstance(spec, str) else None)
    if note:
        lines.append(f"  {note}")
    return lines + below_first_exit_notes(index)


def sweep_fit_lines(index: Mapping[str, Any]) -> list[str]:
    """What fit_schedulers prints of its folder's `index`: the fits and budgets, the note for
    budgets above the last exit's cost and the fits below the first exit's cost."""
    budgets = len(index["sweep_ms"])
    lines = [f"{_fitted_count(index)} at {budgets} sweep budget{'s' if budgets != 1 else ''}"]
    note = above_last_exit_note(index)
    if note:
        lines.append(note)
    return lines + below_first_exit_notes(index)
