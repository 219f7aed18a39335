"""Stage plot: accuracy-vs-budget and exit-distribution figures.

Usage: python stages/plot.py METRICS_JSON SWEEP_CSV ACCURACY_PNG EXITS_PNG
"""

import argparse
import json

import pandas as pd

from eenet.cli import run_stage
from eenet.plotting import plot_accuracy_vs_budget, plot_exit_distribution


def main(metrics_json: str, sweep_csv: str, accuracy_png: str, exits_png: str) -> None:
    with open(metrics_json) as fh:
        metrics = json.load(fh)
    plot_accuracy_vs_budget(pd.read_csv(sweep_csv), metrics, accuracy_png)
    plot_exit_distribution(metrics, exits_png)
    print(f"wrote {accuracy_png} and {exits_png}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("metrics_json", "sweep_csv", "accuracy_png", "exits_png"):
        parser.add_argument(name)
    a = parser.parse_args()
    run_stage(main, a.metrics_json, a.sweep_csv, a.accuracy_png, a.exits_png)
