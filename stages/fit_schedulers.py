"""Stage fit_schedulers: fit each method at the headline budget and every sweep budget.

Usage: python stages/fit_schedulers.py VAL_NPZ LATENCY_JSON SCORING_JSON OUT_DIR
(reads params.yaml: budget, budgets, schedulers)

SCORING_JSON (stage profile_scoring) gives the extra cost of EENet's learned scorer per exit;
EENet plans with it (`schedulers.eenet.scorer_extra_ms`) unless that is set explicitly.
"""

import numpy as np

from eenet.budget import resolve_budget, resolve_sweep
from eenet.cli import stage_cli
from eenet.outputs import check_compatible, load_exit_outputs, load_latency
from eenet.params import group, read_params
from eenet.scoring_cost import load_scoring
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
    eenet = dict(settings.get("eenet") or {})
    if not eenet.get("scorer_extra_ms"):  # an explicit setting wins over the measured table
        eenet["scorer_extra_ms"] = load_scoring(scoring_json, len(costs))["extra_ms"]["eenet"]
    settings["eenet"] = eenet
    index = fit_all(val, costs, methods, sweep, headline, out_dir,
                    settings, seed, budget_spec=params["budget"])
    print(f"fitted {len(index['entries'])} schedulers; headline budget {headline:.4g} ms/sample")


if __name__ == "__main__":
    stage_cli(main, __doc__)
