"""Stage profile_eenet_scoring: EENet's learned scorer's extra cost per exit, in the runtime.

Usage: python -m stages.profile_eenet_scoring MODEL_DIR LATENCY_JSON OUT_JSON
(reads params.yaml: scoring, and the schedulers.eenet keys that shape its scorer; device,
batch size and threads are the latency profile's; for an imported table, this host's CPU)
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.params import group, read_params
    from eenet.scoring_cost import ARCHITECTURE, LEARNED_CHARGED, profile_stage


def main(model_dir: str, latency_json: str, out_json: str) -> None:
    params = read_params()
    eenet = group(params, "schedulers").get("eenet") or {}
    profile_stage(model_dir, latency_json, out_json, group(params, "scoring"), LEARNED_CHARGED,
                  {k: eenet[k] for k in ARCHITECTURE if k in eenet},  # dvc.yaml lists these
                  unscored=False)  # profile_scoring's


if __name__ == "__main__":
    stage_cli(main, __doc__)
