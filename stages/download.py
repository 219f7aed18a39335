"""Stage download: prepare the data set's train/val/test splits.

Usage: python stages/download.py OUT_DIR   (reads params.yaml: data)
"""

import argparse

from eenet.atomic import atomic_directory
from eenet.cli import run_stage
from eenet.data import prepare_dataset
from eenet.params import group, read_params


def main(out_dir: str) -> None:
    data = group(read_params(), "data")
    with atomic_directory(out_dir) as tmp:
        meta = prepare_dataset(data["dataset"], tmp, int(data["seed"]), **data.get("options", {}))
    print(f"prepared {meta['dataset']}: {meta['sizes']} -> {out_dir}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    run_stage(main, parser.parse_args().out_dir)
