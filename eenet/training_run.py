"""Train a multi-exit model on a prepared data set and save it as a model artifact: the train
stage's work, usable without DVC (also under torchrun: DDP, only rank 0 logs and writes)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eenet.atomic import atomic_directory, write_text
from eenet.checkpoint import config_fingerprint, mark_delivered
from eenet.config import FILE_OPTIONS
from eenet.data.prepared import PreparedDataset, read_meta, split_digest
from eenet.digests import local_paths, package_digest, path_digest
from eenet.distributed import init_distributed, is_main_process, shutdown_distributed
from eenet.extras import require
from eenet.models import build_model
from eenet.models.artifact import check_replaceable, save_trained
from eenet.models.base import check_data_fits, check_input_shape
from eenet.train_config import TrainConfig, check_train_config, run_settings
from eenet.training import (
    EpochCallback,
    chance_note,
    exit_accuracy_name,
    seed_everything,
    train_model,
)


def train_to_artifact(
    data_dir: str | os.PathLike, model_dir: str | os.PathLike,
    checkpoint_dir: str | os.PathLike, live_dir: str | os.PathLike,
    model_params: dict[str, Any], train_cfg: TrainConfig,
) -> dict[str, Any] | None:
    """Build the model `model_params` names (params.yaml `model`: name, options) for the data
    in `data_dir`, train it with `train_cfg` (resuming from `checkpoint_dir` when its
    checkpoint has the same settings), log each epoch with dvclive for `live_dir` (swapped in
    whole after the model is written: `training_log`), and save the artifact in `model_dir`;
    then mark the checkpoint delivered. A finished run's checkpoint
    not marked (stopped before its artifact) is resumed with nothing to train: the artifact is
    written from it, as that run would have. Returns the training summary (None on a DDP rank
    other than 0).
    `train_cfg` is checked as params.yaml's `train` group is (one-line ConfigErrors).
    The logs need dvclive (the `pipeline` extra): without it, a one-line MissingExtraError
    before anything is read."""
    require("dvclive", "training (its dvclive logs)")
    check_train_config(train_cfg, "train_cfg")  # before reading data or building a model
    # a folder save_trained would refuse was found after the last epoch: hours of a preset
    check_replaceable(Path(model_dir))
    meta = read_meta(data_dir)
    options = model_params.get("options", {}) or {}
    seed_everything(train_cfg.seed)  # before building: initial weights are seeded too
    model = build_model(model_params["name"], int(meta["num_classes"]), **options)
    check_input_shape(model, meta.get("input_shape"), f"the data in {data_dir}")
    train_set = PreparedDataset(data_dir, "train", augment=True)
    val_set = PreparedDataset(data_dir, "val")
    # texts for a model of tensors (or the reverse) failed deep in the first batch, or trained
    # a BERT on the text of tensors' reprs for hours before dump_logits refused the pair; a
    # val split of another shape failed at the first validation, or validated silently
    for split, dataset in (("train", train_set), ("val", val_set)):
        check_data_fits(model, dataset, str(Path(data_dir) / f"{split}.npz"),
                        registered=model_params["name"])
    # the split files themselves: relabelled samples keep meta.json as it was, and a checkpoint
    # of the old data was resumed
    files = {split: split_digest(data_dir, split) for split in ("train", "val")}
    # train.num_workers left out (run_settings): it does not change the weights, and a run
    # interrupted, then restarted with more workers, resumes
    settings = {"model": model_params, "train": run_settings(train_cfg), "data": meta,
                "files": files}
    # the files the model was built from (pretrained weights, a tokenizer) where an option
    # names them here: weights replaced in the same folder reused the run trained from the old
    sources = model_file_digests(options)
    if sources:  # absent for a model built from no local files: its runs' fingerprints as before
        settings["model_files"] = sources
    fingerprint = config_fingerprint(settings)
    init_distributed()
    try:
        if not is_main_process():  # under torchrun only rank 0 logs and writes artifacts
            train_model(model, train_set, val_set, train_cfg, checkpoint_dir, fingerprint,
                        settings=settings, resume_finished=True, code=package_digest())
            return None
        # the log is swapped in after the model is written: a stop or an error while the model
        # is written leaves the old log beside the old model, not the new run's beside it
        with training_log(live_dir) as log_epoch:
            summary = train_model(model, train_set, val_set, train_cfg, checkpoint_dir,
                                  fingerprint, on_epoch=log_epoch, settings=settings,
                                  resume_finished=True, code=package_digest())
            save_trained(model, model_dir, model_params["name"], int(meta["num_classes"]),
                         options, extra={"dataset": meta["dataset"],
                                         "val_accuracy": summary["val_accuracy"],
                                         **input_normalisation(meta)})
        mark_delivered(checkpoint_dir)  # a rerun (its code changed) trains afresh
        note = chance_note(summary["val_accuracy"], val_set.y, train_cfg)
        if note is not None:
            print(note, file=sys.stderr, flush=True)
        return summary
    finally:
        shutdown_distributed()


def model_file_digests(options: dict[str, Any]) -> dict[str, str]:
    """The digest (`eenet.digests.path_digest`) of each file or folder a model option names
    that exists here (`eenet.config.FILE_OPTIONS`: `pretrained`, `tokenizer`), by option; a
    hub name, read from the Hugging Face cache, is left out (its files are not looked up)."""
    return {name: path_digest(path) for name, path in local_paths(options, FILE_OPTIONS).items()}


def input_normalisation(meta: dict[str, Any]) -> dict[str, Any]:
    """For image data, `{"input_normalisation": {"mean": [...], "std": [...]}}`: the training
    data's per-channel statistics, kept in the model's config.json so that the model folder
    alone turns raw pixels into its inputs (`eenet predict --input` of uint8 images)."""
    if meta.get("kind") != "image":
        return {}
    return {"input_normalisation": {"mean": list(meta["mean"]), "std": list(meta["std"])}}


# every exit's validation accuracy per epoch in one long table beside dvclive's files (one
# file per exit there): `dvc plots show` draws it as one plot, a line per exit
EXIT_ACCURACY_CSV = "exit_accuracy.csv"
EXIT_ACCURACY_HEADER = "epoch,exit,val_accuracy\n"


def exit_accuracy_lines(epoch: int, values: dict[str, float]) -> list[str]:
    """One epoch's rows of EXIT_ACCURACY_CSV, one per exit (`val_acc_exit<k>` in `values`),
    each value as dvclive's .tsv files write it."""
    lines, k = [], 0
    while exit_accuracy_name(k) in values:
        lines.append(f"{epoch},{k},{float(values[exit_accuracy_name(k)])}\n")
        k += 1
    return lines


@contextmanager
def training_log(live_dir: str | os.PathLike) -> Iterator[EpochCallback]:
    """Yield the callback that logs each epoch's values with dvclive, and every exit's
    validation accuracy in EXIT_ACCURACY_CSV beside them, for `train_model`'s `on_epoch`. A
    fresh log every run (a resumed run replays the finished epochs from its checkpoint, so no
    epoch is there twice), written beside `live_dir` and swapped in whole when the block ends
    without error: never half a log, and none of a run stopped or failed inside the block."""
    from dvclive import Live  # the `pipeline` extra (train_to_artifact checked it is there)

    rows: list[str] = []
    with atomic_directory(live_dir) as log_dir, \
            Live(str(log_dir), dvcyaml=None, save_dvc_exp=False, resume=False) as live:
        def log_epoch(epoch: int, values: dict[str, float]) -> None:
            live.step = epoch
            for name, value in values.items():
                live.log_metric(name, value)
            live.next_step()
            rows.extend(exit_accuracy_lines(epoch, values))
            write_text(log_dir / EXIT_ACCURACY_CSV, EXIT_ACCURACY_HEADER + "".join(rows))

        yield log_epoch
