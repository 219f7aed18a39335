"""Stage fit_schedulers: fit each method at the headline budget and every sweep budget.

Usage: python stages/fit_schedulers.py VAL_NPZ LATENCY_JSON SCORING_JSON OUT_DIR
(reads params.yaml: budget, budgets, schedulers)

SCORING_JSON (stage profile_scoring) gives each method's extra scoring cost per exit over
the latency profile's reference (max p) scoring: entropy and patience plan with it, EENet
charges it to its learned score and its entropy candidate (`schedulers.eenet.scorer_extra_ms`,
`fixed_extra_ms`, unless set explicitly).
"""

import numpy as np

from eenet.budget import resolve_budget, resolve_sweep
from eenet.cli import stage_cli
from eenet.outputs import check_compatible, load_exit_outputs, load_latency
from eenet.params import group, read_params
from eenet.schedulers.eenet import FIXED_SCORES
from eenet.schedulers.plans import no_early_exit_note
from eenet.scoring_cost import load_scoring, method_extra
from eenet.sweep import fit_all


def main(val_npz: str, latency_json: str, scoring_json: str, out_dir: str) -> None:
    params = read_params()
    settings = dict(group(params, "schedulers"))
    costs = load_latency(latency_json)["cumulative_ms"]
    headline = resolve_budget(group(params, "budget"), costs)
    sweep = resolve_sweep(group(params, "budgets"), costs)
    methods = settings.pop("methods", None)
    seed = int(settings.pop("seed", 0))
    val = load_exit_outputs(val_npz)
    check_compatible(val, np.asarray(costs), f"{val_npz} vs {latency_json}")
    scoring = load_scoring(scoring_json, len(costs))
    charged = {m: method_extra(scoring, m, len(costs)) for m in scoring["extra_ms"]}
    eenet = dict(settings.get("eenet") or {})
    if not eenet.get("scorer_extra_ms"):  # an explicit setting wins over the measured table
        eenet["scorer_extra_ms"] = method_extra(scoring, "eenet", len(costs)).tolist()
    if not eenet.get("fixed_extra_ms"):  # EENet's fixed score candidates, charged likewise
        eenet["fixed_extra_ms"] = {m: e.tolist() for m, e in charged.items() if m in FIXED_SCORES}
    settings["eenet"] = eenet
    index = fit_all(val, costs, methods, sweep, headline, out_dir, settings, seed,
                    budget_spec=params["budget"],
                    charged={m: e for m, e in charged.items() if m != "eenet"})
    print(f"fitted {len(index['entries'])} schedulers; headline budget {headline:.4g} ms/sample")
    note = no_early_exit_note(np.asarray(costs), headline, "budget")
    if note:
        print(f"  {note}")
    for entry in index["entries"]:
        if "fitted_ms" in entry:
            print(f"  {entry['method']} at {entry['budget_ms']:.4g} ms: below its charged "
                  f"first-exit cost, fitted at {entry['fitted_ms']:.4g} ms (all leave at exit 0)")


if __name__ == "__main__":
    stage_cli(main, __doc__)
