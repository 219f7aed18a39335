"""Stage plot: accuracy-vs-budget and exit-distribution figures.

Usage: python stages/plot.py METRICS_JSON SWEEP_CSV ACCURACY_PNG EXITS_PNG
"""

import argparse
import json
from pathlib import Path

import pandas as pd

from eenet.cli import run_stage
from eenet.errors import ArtifactError
from eenet.plotting import plot_accuracy_vs_budget, plot_exit_distribution


def main(metrics_json: str, sweep_csv: str, accuracy_png: str, exits_png: str) -> None:
    try:
        metrics = json.loads(Path(metrics_json).read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{metrics_json}: not a readable JSON file ({exc})") from None
    try:
        sweep = pd.read_csv(sweep_csv)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{sweep_csv}: not a readable CSV file ({exc})") from None
    plot_accuracy_vs_budget(sweep, metrics, accuracy_png)
    plot_exit_distribution(metrics, exits_png)
    print(f"wrote {accuracy_png} and {exits_png}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("metrics_json", "sweep_csv", "accuracy_png", "exits_png"):
        parser.add_argument(name)
    a = parser.parse_args()
    run_stage(main, a.metrics_json, a.sweep_csv, a.accuracy_png, a.exits_png)
