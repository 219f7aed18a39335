"""Stage plot: accuracy-vs-budget and exit-distribution figures.

Usage: python stages/plot.py METRICS_JSON SWEEP_CSV ACCURACY_PNG EXITS_PNG
"""

from eenet.cli import stage_cli
from eenet.plotting import plot_accuracy_vs_budget, plot_exit_distribution, read_report


def main(metrics_json: str, sweep_csv: str, accuracy_png: str, exits_png: str) -> None:
    metrics, sweep = read_report(metrics_json, sweep_csv)
    plot_accuracy_vs_budget(sweep, metrics, accuracy_png)
    plot_exit_distribution(metrics, exits_png)
    print(f"wrote {accuracy_png} and {exits_png}")


if __name__ == "__main__":
    stage_cli(main, __doc__)
