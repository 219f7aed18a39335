"""Stage train: train every exit of the multi-exit model.

Usage: python -m stages.train DATA_DIR MODEL_DIR CHECKPOINT_DIR LIVE_DIR
(reads params.yaml: model, train; local pretrained weights or a tokenizer are watched by DVC
in local_models/, see eenet.local_copies). Runs unchanged under
`torchrun --nproc_per_node N -m stages.train ...` (DDP): every process trains on its shard,
only rank 0 logs (dvclive), checkpoints and writes the model artifact.
"""

import sys

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.local_copies import model_copy_notes
    from eenet.params import group, read_params
    from eenet.train_config import TrainConfig
    from eenet.training_run import train_to_artifact


def main(data_dir: str, model_dir: str, checkpoint_dir: str, live_dir: str) -> None:
    params = read_params()
    model_params = group(params, "model")
    summary = train_to_artifact(data_dir, model_dir, checkpoint_dir, live_dir, model_params,
                                TrainConfig.from_params(group(params, "train")))
    if summary is not None:  # rank 0 under torchrun
        accuracy = ", ".join(f"{a:.2f}" for a in summary["val_accuracy"])
        print(f"trained {model_params['name']}: val accuracy % per exit [{accuracy}]")
        # files outside local_models/: DVC does not watch them
        for note in model_copy_notes(model_params.get("options") or {}):
            print(note, file=sys.stderr)


if __name__ == "__main__":
    stage_cli(main, __doc__, resumes=True)
