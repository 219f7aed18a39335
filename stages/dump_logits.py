"""Stage dump_logits: every exit's logits on the validation and test splits.

Usage: python -m stages.dump_logits MODEL_DIR DATA_DIR OUT_DIR   (reads params.yaml: dump)
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.inference import dump_exit_outputs
    from eenet.params import group, read_params


def main(model_dir: str, data_dir: str, out_dir: str) -> None:
    dumped = dump_exit_outputs(model_dir, data_dir, out_dir, **group(read_params(), "dump"))
    for split, outputs in dumped.items():
        accuracy = ", ".join(f"{a:.2f}" for a in outputs.exit_accuracy())
        print(f"{split}: {outputs.n_samples} samples, exit accuracy % [{accuracy}]")


if __name__ == "__main__":
    stage_cli(main, __doc__)
