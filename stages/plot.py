"""Stage plot: accuracy-vs-budget and exit-distribution figures.

Usage: python stages/plot.py METRICS_JSON SWEEP_CSV ACCURACY_PNG EXITS_PNG
"""

import json
from pathlib import Path

import pandas as pd

from eenet.cli import stage_cli
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
    stage_cli(main, __doc__)
