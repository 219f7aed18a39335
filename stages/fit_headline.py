"""Stage fit_headline: fit each method at the headline budget.

Usage: python -m stages.fit_headline VAL_NPZ LATENCY_JSON SCORING_JSON EENET_SCORING_JSON OUT_DIR
(reads params.yaml: budget, schedulers)

The policies measure runs and metrics.json reports. SCORING_JSON (stage profile_scoring:
entropy, patience) and EENET_SCORING_JSON (stage profile_eenet_scoring: EENet's scorer) give
each method's extra scoring cost per exit, charged in its plan (see eenet.fitting).
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    import numpy as np

    from eenet.fitting import below_first_exit_notes, fit_from_artifacts, imported_from_csv
    from eenet.params import group, read_params
    from eenet.report_layout import as_set
    from eenet.schedulers.plans import no_early_exit_note


def main(val_npz: str, latency_json: str, scoring_json: str, eenet_scoring_json: str,
         out_dir: str) -> None:
    params = read_params()
    index = fit_from_artifacts(val_npz, latency_json, scoring_json, out_dir,
                               group(params, "schedulers"), budget=group(params, "budget"),
                               eenet_scoring_json=eenet_scoring_json)
    headline = index["headline_ms"]
    fitted = len(index["entries"])
    # as set where that was a share, as summary.md and the plots give it: '30% = 0.1496'
    print(f"fitted {fitted} scheduler{'s' if fitted != 1 else ''} at the headline budget "
          f"{as_set(index.get('budget'), f'{headline:.4g}')} ms/sample")
    spec = index.get("budget")  # '100%' named as set
    note = no_early_exit_note(np.asarray(index["costs_ms"]), headline, "budget",
                              typed_costs=imported_from_csv(latency_json),
                              given=spec if isinstance(spec, str) else None)
    if note:
        print(f"  {note}")
    for line in below_first_exit_notes(index):
        print(line)


if __name__ == "__main__":
    stage_cli(main, __doc__)
