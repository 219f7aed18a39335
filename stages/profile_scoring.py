"""Stage profile_scoring: each scheduler's extra scoring cost per exit, in the runtime.

Usage: python stages/profile_scoring.py MODEL_DIR LATENCY_JSON OUT_JSON
(reads params.yaml: scoring, and the schedulers.eenet keys that shape its scorer; device,
batch size and threads are the latency profile's; for an imported table, this host's CPU)
"""

from eenet.atomic import write_json
from eenet.cli import stage_cli
from eenet.costs import check_model_exits, load_latency
from eenet.models.artifact import load_trained
from eenet.params import group, read_params
from eenet.scoring_cost import (
    ARCHITECTURE,
    latency_timing,
    profile_scoring,
    scoring_device,
)


def main(model_dir: str, latency_json: str, out_json: str) -> None:
    params = read_params()
    settings = dict(group(params, "scoring"))
    eenet = group(params, "schedulers").get("eenet") or {}
    latency = load_latency(latency_json)
    model = load_trained(model_dir)
    check_model_exits(len(latency["cumulative_ms"]), model.n_exits, latency_json, model_dir,
                      "rerun profile")
    table = profile_scoring(
        model, {k: eenet[k] for k in ARCHITECTURE if k in eenet},  # dvc.yaml lists just these
        device=scoring_device(latency, latency_json), **latency_timing(latency, latency_json),
        **settings,
    )
    write_json(out_json, table)
    charged = "charged" if table["charged"] else "not charged"
    for name, extra in table["extra_ms"].items():
        print(f"{name:>9} scoring: +{[round(v * 1000, 1) for v in extra]} us/sample to reach "
              f"each exit ({charged})")


if __name__ == "__main__":
    stage_cli(main, __doc__)
