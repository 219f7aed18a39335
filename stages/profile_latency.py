"""Stage profile: cumulative cost (ms/sample) of reaching each exit, or an imported table.

Usage: python stages/profile_latency.py MODEL_DIR OUT_JSON   (reads params.yaml: profile)
"""

import sys

from eenet.cli import stage_cli
from eenet.costs import check_latency_for_model, save_latency
from eenet.models.artifact import load_trained, model_identity
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
        check_latency_for_model(table, f"{table_path} (profile.table)", model_dir,
                                model.n_exits, "give a table measured for this model")
    else:
        table = profile_model(model, **settings)
    # the model its costs are used for (an imported table's own record, checked above, may
    # name other weights of this architecture): the policies planned with them keep it
    table["model"] = model_identity(model_dir)
    save_latency(out_json, table)
    print(f"cumulative ms/sample per exit: {[round(c, 4) for c in table['cumulative_ms']]}")


if __name__ == "__main__":
    stage_cli(main, __doc__)
