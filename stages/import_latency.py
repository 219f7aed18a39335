"""Stage import_latency: read the latency table profile.table names, or record that none is.

Usage: python -m stages.import_latency TABLES_DIR OUT_JSON   (reads params.yaml: profile.table;
TABLES_DIR: latency_tables, the folder DVC watches for it)
"""

import sys
from pathlib import Path

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.latency_import import import_record, save_import, unwatched_table_note
    from eenet.params import group, read_params


def main(tables_dir: str, out_json: str) -> None:
    table_path = group(read_params(), "profile")["table"]
    if table_path:
        note = unwatched_table_note(table_path, Path(tables_dir))
        if note:
            print(note, file=sys.stderr)
    record = import_record(table_path)
    save_import(out_json, record)
    if record["latency"] is None:
        print("no profile.table: profile measures the model")
    else:
        costs = [round(c, 4) for c in record["latency"]["cumulative_ms"]]
        print(f"imported {table_path}: cumulative ms/sample per exit {costs}")


if __name__ == "__main__":
    stage_cli(main, __doc__)
