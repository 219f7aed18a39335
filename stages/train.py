"""Stage train: train every exit of the multi-exit model.

Usage: python stages/train.py DATA_DIR MODEL_DIR CHECKPOINT_DIR LIVE_DIR
(reads params.yaml: model, train). Runs unchanged under
`torchrun --nproc_per_node N stages/train.py ...` (DDP): every process trains on its shard,
only rank 0 logs (dvclive), checkpoints and writes the model artifact.
"""

from typing import Any

from dvclive import Live

from eenet.atomic import atomic_directory
from eenet.checkpoint import config_fingerprint
from eenet.cli import stage_cli
from eenet.data.prepared import PreparedDataset, read_meta
from eenet.distributed import init_distributed, is_main_process, shutdown_distributed
from eenet.models import MultiExitModel, build_model
from eenet.models.artifact import save_trained
from eenet.models.base import check_input_shape
from eenet.params import group, read_params
from eenet.training import TrainConfig, seed_everything, train_model


def main(data_dir: str, model_dir: str, checkpoint_dir: str, live_dir: str) -> None:
    params = read_params()
    model_params = group(params, "model")
    train_cfg = TrainConfig.from_params(group(params, "train"))
    meta = read_meta(data_dir)
    options = model_params.get("options", {}) or {}
    seed_everything(train_cfg.seed)  # before building: initial weights are seeded too
    model = build_model(model_params["name"], int(meta["num_classes"]), **options)
    check_input_shape(model, meta.get("input_shape"), f"the data in {data_dir}")
    fingerprint = config_fingerprint({"model": model_params, "train": train_cfg, "data": meta})
    train_set = PreparedDataset(data_dir, "train", augment=True)
    val_set = PreparedDataset(data_dir, "val")
    init_distributed()
    try:
        if is_main_process():
            _train_and_save(model, train_set, val_set, train_cfg, fingerprint, meta,
                            model_params, options, model_dir, checkpoint_dir, live_dir)
        else:  # under torchrun only rank 0 logs and writes artifacts
            train_model(model, train_set, val_set, train_cfg, checkpoint_dir, fingerprint)
    finally:
        shutdown_distributed()


def _train_and_save(
    model: MultiExitModel, train_set: PreparedDataset, val_set: PreparedDataset,
    train_cfg: TrainConfig, fingerprint: str, meta: dict[str, Any], model_params: dict[str, Any],
    options: dict[str, Any], model_dir: str, checkpoint_dir: str, live_dir: str,
) -> None:
    """Rank 0 (or the only process): train with dvclive logging, then write the artifact."""
    # a fresh log every run (a resumed run replays the finished epochs from its checkpoint),
    # written beside live_dir and swapped in whole when training ends: never half a log
    with atomic_directory(live_dir) as log_dir, \
            Live(str(log_dir), dvcyaml=None, save_dvc_exp=False, resume=False) as live:
        def log_epoch(epoch: int, values: dict[str, float]) -> None:
            live.step = epoch
            for name, value in values.items():
                live.log_metric(name, value)
            live.next_step()

        summary = train_model(model, train_set, val_set, train_cfg, checkpoint_dir,
                              fingerprint, on_epoch=log_epoch)
    save_trained(model, model_dir, model_params["name"], int(meta["num_classes"]), options,
                 extra={"dataset": meta["dataset"], "val_accuracy": summary["val_accuracy"]})
    print(f"trained {model_params['name']}: val accuracy per exit {summary['val_accuracy']}")


if __name__ == "__main__":
    stage_cli(main, __doc__, resumes=True)
