"""Stage plot: accuracy-vs-budget and exit-distribution figures.

Usage: python -m stages.plot METRICS_JSON SWEEP_CSV ORACLE_CSV ACCURACY_PNG ACCURACY_PDF \
       EXITS_PNG

ORACLE_CSV: the oracle's exact curve (stage evaluate), drawn through its break points.
ACCURACY_PDF: the accuracy figure again, as a vector PDF (the same bytes on every rerun).
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.plotting import plot_reports, read_oracle_curve, read_report


def main(metrics_json: str, sweep_csv: str, oracle_csv: str, accuracy_png: str,
         accuracy_pdf: str, exits_png: str) -> None:
    metrics, sweep = read_report(metrics_json, sweep_csv)
    plot_reports(metrics, sweep, read_oracle_curve(oracle_csv), accuracy_png, accuracy_pdf,
                 exits_png)
    print(f"wrote {accuracy_png}, {accuracy_pdf} and {exits_png}")


if __name__ == "__main__":
    stage_cli(main, __doc__)
