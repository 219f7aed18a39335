"""Stage profile: cumulative cost (ms/sample) of reaching each exit, or an imported table.

Usage: python stages/profile_latency.py MODEL_DIR OUT_JSON   (reads params.yaml: profile)
"""

import sys

from eenet.cli import stage_cli
from eenet.costs import check_model_exits, save_latency
from eenet.models.artifact import load_trained
from eenet.params import group, read_params
from eenet.profiling import load_latency_table, profile_model, unwatched_table_note


def main(model_dir: str, out_json: str) -> None:
    settings = dict(group(read_params(), "profile"))
    table_path = settings.pop("table", None)
    model = load_trained(model_dir)
    if table_path:
        table = load_latency_table(table_path)
        note = unwatched_table_note(table_path)
        if note:
            print(note, file=sys.stderr)
        check_model_exits(len(table["cumulative_ms"]), model.n_exits,
                          f"{table_path} (profile.table)", model_dir,
                          "give a table with one cost per exit of this model")
    else:
        table = profile_model(model, **settings)
    save_latency(out_json, table)
    print(f"cumulative ms/sample per exit: {[round(c, 4) for c in table['cumulative_ms']]}")


if __name__ == "__main__":
    stage_cli(main, __doc__)
