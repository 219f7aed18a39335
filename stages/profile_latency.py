"""Stage profile: cumulative cost (ms/sample) of reaching each exit, or an imported table.

Usage: python -m stages.profile_latency MODEL_DIR IMPORTED_JSON OUT_JSON
(reads params.yaml: profile, but for profile.table: IMPORTED_JSON, import_latency's record,
holds the table it names)
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.latency_table import save_latency
    from eenet.params import group, read_params
    from eenet.profiling import model_latency_table


def main(model_dir: str, imported_json: str, out_json: str) -> None:
    table = model_latency_table(model_dir, imported_json, group(read_params(), "profile"))
    save_latency(out_json, table)
    print(f"cumulative ms/sample per exit: {[round(c, 4) for c in table['cumulative_ms']]}")


if __name__ == "__main__":
    stage_cli(main, __doc__)
