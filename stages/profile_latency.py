"""Stage profile: cumulative cost (ms/sample) of reaching each exit, or an imported table.

Usage: python -m stages.profile_latency MODEL_DIR IMPORTED_JSON OUT_JSON
(reads params.yaml: profile, but for profile.table: IMPORTED_JSON, import_latency's record,
holds the table it names)
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.latency_import import load_import
    from eenet.latency_table import check_latency_for_model, save_latency
    from eenet.models.artifact import load_trained, model_identity
    from eenet.params import group, read_params
    from eenet.profiling import profile_model


def main(model_dir: str, imported_json: str, out_json: str) -> None:
    model = load_trained(model_dir)
    table = load_import(imported_json)
    if table is None:
        settings = group(read_params(), "profile")
        table = profile_model(model, **{key: settings[key] for key in settings
                                        if key != "table"})
    else:
        check_latency_for_model(table, f"profile.table: {table['source']}", model_dir,
                                model.n_exits, "give a table measured for this model")
    # the model its costs are used for (an imported table's own record, checked above, may
    # name other weights of this architecture): the policies planned with them keep it
    table["model"] = model_identity(model_dir)
    save_latency(out_json, table)
    print(f"cumulative ms/sample per exit: {[round(c, 4) for c in table['cumulative_ms']]}")


if __name__ == "__main__":
    stage_cli(main, __doc__)
