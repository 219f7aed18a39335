"""Stage download: prepare the data set's train/val/test splits.

Usage: python -m stages.download OUT_DIR   (reads params.yaml: data; a local copy it names is
watched by DVC in local_data/, see eenet.local_copies)
"""

import sys

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.atomic import atomic_directory
    from eenet.data import prepare_dataset
    from eenet.local_copies import data_copy_notes
    from eenet.params import group, read_params


def main(out_dir: str) -> None:
    data = group(read_params(), "data")
    with atomic_directory(out_dir) as tmp:
        meta = prepare_dataset(data["dataset"], tmp, int(data["seed"]),
                               **(data.get("options") or {}))
    print(f"prepared {meta['dataset']}: {meta['sizes']} -> {out_dir}")
    for note in data_copy_notes(data):  # a copy outside local_data/: DVC does not watch it
        print(note, file=sys.stderr)


if __name__ == "__main__":
    stage_cli(main, __doc__)
