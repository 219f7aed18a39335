"""Stage profile_scoring: the extra cost of EENet's learned scorer per exit, on this host.

Usage: python stages/profile_scoring.py LATENCY_JSON VAL_NPZ OUT_JSON
(reads params.yaml: scoring, and the schedulers.eenet keys that shape its scorer)
"""

from eenet.atomic import write_json
from eenet.cli import stage_cli
from eenet.outputs import check_compatible, load_exit_outputs, load_latency
from eenet.params import group, read_params
from eenet.scoring_cost import ARCHITECTURE, profile_scoring


def main(latency_json: str, val_npz: str, out_json: str) -> None:
    params = read_params()
    settings = dict(group(params, "scoring"))
    eenet = dict(group(params, "schedulers").get("eenet") or {})
    latency = load_latency(latency_json)
    val = load_exit_outputs(val_npz)
    check_compatible(val, latency["cumulative_ms"], f"{val_npz} vs {latency_json}")
    table = profile_scoring(
        val.log_probs(), {k: v for k, v in eenet.items() if k in ARCHITECTURE},
        batch_size=int(latency.get("batch_size", 1)), **settings,
    )
    write_json(out_json, table)
    extra = [round(v * 1000, 1) for v in table["extra_ms"]["eenet"]]
    print(f"EENet learned scorer: +{extra} us/sample to reach each exit "
          f"({'charged' if table['charged'] else 'not charged'})")


if __name__ == "__main__":
    stage_cli(main, __doc__)
