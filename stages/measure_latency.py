"""Stage measure: real early exit at the headline budget, measured against the plan.

Usage: python -m stages.measure_latency MODEL_DIR DATA_DIR HEADLINE_DIR LATENCY_JSON \
       TEST_NPZ OUT_JSON   (reads params.yaml: measure)

OUT_JSON holds the report under the top-level key `measured`.

HEADLINE_DIR: stage fit_headline's folder (any schedulers folder that records a headline).
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.measurement import measure_headline, method_lines, report_notes, write_report
    from eenet.params import group, read_params


def main(model_dir: str, data_dir: str, headline_dir: str, latency_json: str, test_npz: str,
         out_json: str) -> None:
    settings = dict(group(read_params(), "measure"))
    report = measure_headline(model_dir, data_dir, headline_dir, latency_json, test_npz,
                              **settings)
    write_report(out_json, report)
    if not report["enabled"]:
        print("measure.enabled is false: nothing measured")
        return
    for note in report_notes(report):
        print(note)
    for line in method_lines(report):
        print(line)


if __name__ == "__main__":
    stage_cli(main, __doc__)
