"""Stage fit_schedulers: fit each method at every budget of the sweep.

Usage: python -m stages.fit_schedulers VAL_NPZ LATENCY_JSON SCORING_JSON EENET_SCORING_JSON OUT_DIR
(reads params.yaml: budgets, schedulers)

The sweep the plots draw; the headline budget's fits are fit_headline's. SCORING_JSON
(stage profile_scoring: entropy, patience) and EENET_SCORING_JSON (stage
profile_eenet_scoring: EENet's scorer) give each method's extra scoring cost per exit,
charged in its plan (see eenet.fitting).
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.fitting import fit_from_artifacts, sweep_fit_lines
    from eenet.params import group, read_params


def main(val_npz: str, latency_json: str, scoring_json: str, eenet_scoring_json: str,
         out_dir: str) -> None:
    params = read_params()
    index = fit_from_artifacts(val_npz, latency_json, scoring_json, out_dir,
                               group(params, "schedulers"), budgets=group(params, "budgets"),
                               eenet_scoring_json=eenet_scoring_json)
    for line in sweep_fit_lines(index):
        print(line)


if __name__ == "__main__":
    stage_cli(main, __doc__)
