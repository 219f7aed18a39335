"""Stage dump_logits: every exit's logits on the validation and test splits.

Usage: python stages/dump_logits.py MODEL_DIR DATA_DIR OUT_DIR   (reads params.yaml: dump)
"""

from pathlib import Path

from eenet.atomic import atomic_directory
from eenet.cli import stage_cli
from eenet.data.prepared import split_for_model
from eenet.devices import resolve_device
from eenet.inference import collect_exit_logits
from eenet.models.artifact import load_trained
from eenet.outputs import save_exit_outputs
from eenet.params import group, read_params


def main(model_dir: str, data_dir: str, out_dir: str) -> None:
    settings = group(read_params(), "dump")
    model = load_trained(model_dir)
    device = resolve_device(settings.get("device", "auto"), "dump.device")
    with atomic_directory(out_dir) as tmp:  # both splits from this model, or the old pair
        for split in ("val", "test"):
            dataset = split_for_model(model, model_dir, data_dir, split)
            outputs = collect_exit_logits(model, dataset, device,
                                          int(settings.get("batch_size", 512)))
            save_exit_outputs(Path(tmp) / f"{split}.npz", outputs)
            accuracy = ", ".join(f"{a:.2f}" for a in outputs.exit_accuracy())
            print(f"{split}: {outputs.n_samples} samples, exit accuracy % [{accuracy}]")


if __name__ == "__main__":
    stage_cli(main, __doc__)
