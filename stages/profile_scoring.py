"""Stage profile_scoring: the fixed scores' extra scoring cost per exit, in the runtime.

Usage: python -m stages.profile_scoring MODEL_DIR LATENCY_JSON OUT_JSON
(reads params.yaml: scoring; device, batch size and threads are the latency profile's; for an
imported table, this host's CPU)

Entropy and patience, timed against max p, and the model run with no early exit (nothing
scored); EENet's learned scorer is profile_eenet_scoring's, so that a change of its
architecture leaves these figures, and the baselines' plans, alone.
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.params import group, read_params
    from eenet.scoring_cost import FIXED_CHARGED, profile_stage


def main(model_dir: str, latency_json: str, out_json: str) -> None:
    profile_stage(model_dir, latency_json, out_json, group(read_params(), "scoring"),
                  FIXED_CHARGED, unscored=True)


if __name__ == "__main__":
    stage_cli(main, __doc__)
