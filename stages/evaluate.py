"""Stage evaluate: every fitted scheduler and the oracle on the test split.

Usage: python -m stages.evaluate TEST_NPZ LATENCY_JSON HEADLINE_DIR SWEEP_DIR \
       METRICS_JSON SWEEP_CSV ORACLE_CSV SUMMARY_MD EXITS_CSV

HEADLINE_DIR (stage fit_headline) gives metrics.json; both folders give the sweep's rows.
ORACLE_CSV: the oracle's exact curve (its break points), which the plot draws it through.
SUMMARY_MD: accuracy per method and budget, EENet's margins with their paired z.
EXITS_CSV: one row per exit (exit, cost_ms, test_accuracy), as metrics.json's `exits`.
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.sweep_evaluation import evaluate_artifacts, headline_lines


def main(test_npz: str, latency_json: str, headline_dir: str, sweep_dir: str,
         metrics_json: str, sweep_csv: str, oracle_csv: str,
         summary_md: str, exits_csv: str) -> None:
    result = evaluate_artifacts(test_npz, latency_json, headline_dir, sweep_dir, metrics_json,
                                sweep_csv, oracle_csv, summary_md, exits_csv)
    for line in headline_lines(result):
        print(line)


if __name__ == "__main__":
    stage_cli(main, __doc__)
