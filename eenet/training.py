"""Multi-exit training: the loop over epochs, validation of every exit, a checkpoint every
epoch. Its settings, optimizer and schedule are `eenet.train_config`'s.

Loss (`eenet.losses`, the authors' weighting): sum_k (k+1) * CE_k / (K (K+1)); in the last
`distill_from` fraction of epochs, earlier exits are also distilled to the last one (KL at
temperature T, weight `distill_weight`). A run resumes from its checkpoint where
`eenet.resume` allows. Runs unchanged under `torchrun` (DDP; only rank 0 writes).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm  # not tqdm.auto: its asyncio class calls iter() on the loader at once

from eenet.batching import (
    epoch_seed,
    make_loader,
    reseed_loader,
    split_batches,
    to_device,
)
from eenet.checkpoint import CHECKPOINT_FILE, is_delivered, save_checkpoint
from eenet.devices import (
    allocation_failure,
    memory_names,
    num_threads,
    quiet_worker_warning,
    resolve_device,
    worker_count_note,
)
from eenet.distributed import (
    GradientsSeen,
    all_reduce_sum,
    barrier,
    init_distributed,
    is_distributed,
    is_main_process,
    local_device,
    rank,
    share_error,
    share_main_buffers,
    world_size,
)
from eenet.errors import ConfigError
from eenet.labels import MODEL_EXITS, check_label_range
from eenet.losses import exit_losses
from eenet.models.base import MultiExitModel, check_model
from eenet.outputs import predicted_classes
from eenet.resume import (
    checkpoint_to_resume,
    loading_state,
    restore_rng_states,
    resuming_line,
    rng_states,
)
from eenet.termination import raise_if_stopped
from eenet.train_config import (
    TrainConfig,
    check_train_config,
    distill_weight_for_epoch,
    make_lr_schedule,
    make_optimizer,
    milestones_note,
    run_settings,
)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_train_size(n_samples: int, batch_size: int) -> None:
    """A one-line ConfigError unless the training split fills at least one batch per process:
    training drops the last incomplete batch, so a larger batch would train nothing."""
    if n_samples == 0:
        raise ConfigError("train: the training split is empty (rerun the download stage)")
    per_process = math.ceil(n_samples / world_size())
    if batch_size > per_process:
        where = f" per process ({n_samples} over {world_size()})" if world_size() > 1 else ""
        raise ConfigError(
            f"train.batch_size: {batch_size} is more than the {per_process} training "
            f"samples{where}, so no batch would be trained; use at most {per_process}"
        )


# the validation pass's batches (no setting: the whole split when smaller)
VALIDATION_BATCH = 512


@torch.inference_mode()
def exit_hits(model: MultiExitModel, batches: Iterable[tuple[Any, torch.Tensor]],
              device: torch.device, batch_size: int | None = None,
              source: str = "val_set") -> tuple[torch.Tensor, Exception | None]:
    """This process's counts on (inputs, labels) batches (of `batch_size`, which an
    allocation failure names), int64 [correct at each exit..., samples], and the error its
    pass met (None if none; the counts are then partial): labels outside the model's classes
    are a one-line ArtifactError naming `source`. The caller sums the counts over processes
    under DDP (`hit_percentages` makes them accuracies) and shares the error (`share_error`),
    so that every process raises it alike, whichever process's share held it."""
    model.eval()
    correct = torch.zeros(model.n_exits, dtype=torch.long)
    total = 0
    problem: Exception | None = None
    try:
        for inputs, labels in batches:
            try:
                logits = model(to_device(inputs, device))
            except RuntimeError as exc:
                raise validation_memory_error(exc, batch_size) from None
            check_label_range(labels, logits[0].shape[-1], source, classes_of=MODEL_EXITS)
            classes = labels.cpu().numpy()
            for k, z in enumerate(logits):  # float32 on the host, as the dump stage keeps them
                hits = predicted_classes(z.float().cpu().numpy()) == classes
                correct[k] += int(np.count_nonzero(hits))
            total += int(labels.numel())
    except Exception as exc:  # a bad label or batch, or a failed pass: the caller shares it
        problem = exc
    return torch.tensor([*correct.tolist(), total]), problem


def hit_percentages(counts: torch.Tensor) -> list[float]:
    """Every exit's accuracy (percent) from `exit_hits`'s counts (summed over processes)."""
    correct, total = counts[:-1].double(), int(counts[-1])
    return (100.0 * correct / max(total, 1)).tolist()


def validation_memory_error(exc: RuntimeError, batch_size: int | None) -> Exception:
    """The validation pass's allocation failure as a one-line ConfigError (its batches are a
    fixed size, no setting: the model, or the device, is what does not fit); `exc` itself for
    any other error."""
    reason = allocation_failure(exc)
    if reason is None:
        return exc
    return ConfigError(f"train: the validation pass (batches of {batch_size} samples) does not "
                       f"fit in memory ({reason}); use smaller model.options, or a "
                       "train.device with more memory")


def diverged_weight(model: torch.nn.Module) -> str | None:
    """The name of the first weight of `model` that is NaN or infinite; None if none is."""
    return next((name for name, weight in model.named_parameters()
                 if not bool(torch.isfinite(weight).all())), None)


def diverged_error(broken: str, epoch: int, epochs: int, loss: float) -> ConfigError:
    """After an epoch, a weight (`broken`) that is NaN or infinite (training diverged: a
    learning rate far too high, say): a one-line ConfigError naming train.lr, which
    `train_model` raises before the epoch is validated or saved. Such a run was saved as a
    model answering nonsense, refused only by dump_logits, and a rerun of the same settings
    reused its checkpoint; the checkpoint of the epoch before stays as it was."""
    return ConfigError(f"train: training diverged in epoch {epoch + 1}/{epochs} (train loss "
                       f"{loss:.4g}; weight {broken} is NaN or infinite); lower train.lr")


EpochCallback = Callable[[int, dict[str, float]], None]


def _train_epoch(
    network: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    distill: float,
    temperature: float,
    desc: str,
    progress: bool,
    batch_size: int,
) -> tuple[torch.Tensor, Exception | None]:
    """One pass over `loader`: this process's sums (float64) of the training loss (the
    objective), of its exit-weighted cross-entropy alone (without distillation) and the count
    of batches, which the caller sums over processes and divides; and under DDP the error of
    this process's last backward pass or optimizer step, if any, which the caller shares (None
    outside DDP, where it is raised). torch failing to allocate in a step's forward or backward
    pass is a one-line ConfigError naming train.batch_size (= `batch_size`).

    Under DDP an error in one process's forward pass or loss, or in its read of the next
    batch (read before the step's backward pass), is raised by every process alike before
    that backward pass (`share_error`; one all-reduce of one number per step, and one before
    the first step): the others would wait for it in the gradient all-reduce. An error in its
    backward pass or optimizer step is shared so at the next step (the process still finishes
    DDP's gradient all-reduce: `GradientsSeen`, and runs the next forward pass), or after the
    last step by the caller. Every process has as many batches (`DistributedSampler`), so all
    reach the end together."""
    use_amp = device.type == "cuda"
    running, running_ce, batches = 0.0, 0.0, 0
    # disable=None: a bar only on a TTY; only rank 0 shows one
    bar = iter(tqdm(loader, desc=desc, leave=False, disable=None if progress else True))
    batch, problem = _read_batch(bar, device, batch_size)
    share_error(problem, "train")  # before the first forward pass, which no process runs alone
    gradients = GradientsSeen(network)  # under DDP only
    try:
        while batch is not None:
            raise_if_stopped()  # Ctrl-C or SIGTERM whose exception Python dropped (a fork)
            following: tuple[Any, torch.Tensor] | None = None
            try:
                loss, ce = _step_loss(network, batch, device, use_amp, distill, temperature,
                                      batch_size)
            except Exception as exc:  # raised below, by every process alike (the last
                # step's backward or optimizer step, where it failed, first)
                problem = exc if problem is None else problem
            else:
                following, read_problem = _read_batch(bar, device, batch_size)
                problem = read_problem if problem is None else problem
            share_error(problem, "train")
            problem = _backward_and_step(loss, optimizer, scheduler, scaler, gradients,
                                         batch_size)
            value, value_ce = torch.stack([loss.detach(), ce.detach()]).tolist()  # one sync
            running += value
            running_ce += value_ce
            batches += 1
            batch = following
    finally:
        gradients.close()
    return torch.tensor([running, running_ce, batches], dtype=torch.float64), problem


def _backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                       scheduler: torch.optim.lr_scheduler.LRScheduler,
                       scaler: torch.amp.GradScaler, gradients: GradientsSeen,
                       batch_size: int) -> Exception | None:
    """A training step's backward pass, optimizer and learning-rate steps. Under DDP an error
    in them is returned, for the caller to share at the next collective, after this process
    finished DDP's gradient all-reduce (a failed backward pass: `GradientsSeen`), so that no
    process is left waiting in it; outside DDP it is raised."""
    try:
        gradients.start()
        with memory_names("train.batch_size", batch_size):
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
    except Exception as exc:
        if not is_distributed():
            raise
        gradients.finish_reduction()
        return exc
    try:
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
    except Exception as exc:
        if not is_distributed():
            raise
        return exc
    return None


def _step_loss(network: torch.nn.Module, batch: tuple[Any, torch.Tensor],
               device: torch.device, use_amp: bool, distill: float, temperature: float,
               batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A training step's loss and exit-weighted cross-entropy on `batch` (its inputs on
    `device` already), its labels checked first against the classes of the exits'
    logits: a one-line ArtifactError naming train_set."""
    inputs, labels = batch
    with memory_names("train.batch_size", batch_size):
        with torch.autocast(device.type, enabled=use_amp):
            logits = network(inputs)
        check_label_range(labels, logits[0].shape[-1], "train_set", classes_of=MODEL_EXITS)
        return exit_losses(logits, labels.to(device), distill, temperature)


def _read_batch(batches: Iterator[tuple[Any, torch.Tensor]], device: torch.device,
                batch_size: int) -> tuple[tuple[Any, torch.Tensor] | None, Exception | None]:
    """The next training batch, its inputs moved to `device` (None after the last), or the
    error reading or moving it (labels that are no class indices: `batch_labels`, in the
    loader's collate), which the caller shares before any process goes on: moved here, the
    inputs leave nothing that can fail before the model's forward pass, where DDP's own
    collectives (its buffers' broadcast) run first."""
    try:
        inputs, labels = next(batches)
        with memory_names("train.batch_size", batch_size):
            return (to_device(inputs, device), labels), None
    except StopIteration:
        return None, None
    except Exception as exc:
        return None, exc


@num_threads(0)  # torch's thread count as the caller had it, restored on return
def train_model(
    model: MultiExitModel,
    train_set: Dataset,
    val_set: Dataset,
    cfg: TrainConfig,
    checkpoint_dir: str | Path,
    fingerprint: str,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    settings: dict[str, Any] | None = None,
    resume_finished: bool = False,
    code: str | None = None,
) -> dict[str, Any]:
    """Train all exits; checkpoint every epoch and resume a run with the same fingerprint.

    `settings`, what `fingerprint` hashes (default: `{"train": run_settings(cfg)}`), is kept
    in the checkpoint: a later run of another fingerprint names the fields that differ in the
    line saying it trains from the start.

    `resume_finished`: the caller marks the checkpoint once it has written the run's artifact
    (`eenet.checkpoint.mark_delivered`), and a finished run's checkpoint not so marked (the
    run was stopped before its artifact) is resumed: no epoch trained, the model loaded from
    it, its epochs replayed into `on_epoch`. Without it a finished run is trained afresh.
    `code`, the digest of the code training (`eenet.digests.package_digest`), is kept in the
    checkpoint; with `resume_finished`, a finished run that records the same is resumed so
    too, its artifact written or not (same settings, same code: the same weights).

    Under torchrun (DDP) every process trains on its shard of the data; validation accuracy and
    the training loss are reduced over all processes; only rank 0 writes the checkpoint and
    calls `on_epoch`. An error in one process's read of a batch (a label error), forward pass
    or loss stops every process, at the same step, before its backward pass (`share_error`:
    one all-reduce of one number per step); one in its backward pass or optimizer step, at the
    next step or the epoch's end (`_train_epoch`); the others raise it in one line. All processes
    leave together (a barrier), so rank 0 may write artifacts right after. Returns a summary:
    epochs run, resumed-from epoch, final per-exit validation accuracy.
    """
    check_model(model)
    # as params.yaml's check does: a config made in code is checked too
    check_train_config(cfg, "cfg")
    distributed = init_distributed()
    device = local_device(resolve_device(cfg.device, "train.device"))
    if cfg.threads > 0:  # restored on return (the decorator)
        torch.set_num_threads(cfg.threads)
    note = milestones_note(cfg)
    if note and is_main_process():
        print(note, file=sys.stderr, flush=True)
    workers_note = worker_count_note(cfg.num_workers, "train.num_workers")
    if workers_note:  # in one line, for torch's paragraph
        quiet_worker_warning()
        if is_main_process():
            print(workers_note, file=sys.stderr, flush=True)
    seed_everything(cfg.seed)
    model.to(device)
    check_train_size(len(train_set), cfg.batch_size)
    train_loader = make_loader(
        train_set, model, cfg.batch_size, True, cfg.seed, cfg.num_workers, shard=True
    )
    optimizer = make_optimizer(model, cfg)
    scheduler = make_lr_schedule(optimizer, cfg, max(len(train_loader), 1))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")

    start_epoch, resumed_from = 0, None
    log: list[dict[str, float]] = []  # every finished epoch's metrics, kept in the checkpoint
    if settings is None:
        settings = {"train": run_settings(cfg)}
    # as plain data (a Path in model options as its text, as the fingerprint has it): the
    # checkpoint loads with weights_only, which refuses any other object
    settings = json.loads(json.dumps(settings, default=str))
    state, note = checkpoint_to_resume(checkpoint_dir, fingerprint, cfg.epochs, model, settings,
                                       resume_finished, code)
    if note is not None and is_main_process():
        print(note, file=sys.stderr, flush=True)
    if state is not None:  # every process loads the same checkpoint, before DDP wraps the model
        path = Path(checkpoint_dir) / CHECKPOINT_FILE
        for name, target in (("model", model), ("optimizer", optimizer),
                             ("scheduler", scheduler), ("scaler", scaler)):
            if name == "scaler" and not state[name]:  # saved off (no GPU then): starts afresh
                continue
            with loading_state(path, f"its {name} state"):
                target.load_state_dict(state[name])
        with loading_state(path, "its random state"):
            restore_rng_states(state, device)
        start_epoch = resumed_from = int(state["epoch"]) + 1
        log = [dict(values) for values in state.get("history", [])]
        if start_epoch == cfg.epochs:
            model.eval()  # as the last epoch's validation leaves it
        if is_main_process():
            print(resuming_line(path, start_epoch, cfg.epochs, start_epoch == cfg.epochs
                                and is_delivered(checkpoint_dir)), flush=True)
            if on_epoch is not None:  # replay the finished epochs into a fresh log
                for done, values in enumerate(log):
                    on_epoch(done, values)
    # once the checkpoint is read: a checkpoint refused is the one line a stage prints
    note = dropped_samples_note(len(train_set), cfg.batch_size)
    if note and is_main_process():
        print(note, file=sys.stderr, flush=True)
    network: torch.nn.Module = model
    if distributed:
        ids = [device.index] if device.type == "cuda" else None
        network = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    is_main = is_main_process()
    history: dict[str, float] = dict(log[-1]) if log else {}  # a finished run resumed: its own
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        reseed_loader(train_loader, epoch_seed(cfg.seed, epoch))
        set_epoch = getattr(train_set, "set_epoch", None)  # its augmentation draws
        if set_epoch is not None:
            set_epoch(epoch, cfg.seed)
        started = time.perf_counter()
        sums, problem = _train_epoch(
            network, train_loader, optimizer, scheduler, scaler, device,
            distill_weight_for_epoch(cfg, epoch), cfg.distill_temperature,
            f"epoch {epoch + 1}/{cfg.epochs}", progress and is_main, cfg.batch_size,
        )
        # a model diverged is neither validated nor saved (every process has the same weights,
        # so all find it alike; a process whose last step failed has its own: not looked at)
        broken = diverged_weight(model) if problem is None else None
        share_main_buffers(model)  # validate the model rank 0 saves, on every process
        where, hits = "train", torch.zeros(model.n_exits + 1, dtype=torch.long)
        if problem is None and broken is None:
            hits, problem = exit_hits(
                model, split_batches(val_set, model, VALIDATION_BATCH, shard=True), device,
                min(VALIDATION_BATCH, max(len(val_set), 1)))
            where = "val_set"
        # one sum over processes: the training loss, the validation counts, and whether any
        # process met an error (its last step's, its validation's) or a diverged model
        failed = problem is not None or broken is not None
        summed = all_reduce_sum(torch.cat([sums, hits.double(), torch.tensor([failed])]))
        batches = max(float(summed[2]), 1.0)
        train_loss, train_ce = float(summed[0] / batches), float(summed[1] / batches)
        if broken is not None:
            problem = diverged_error(broken, epoch, cfg.epochs, train_loss)
        if int(summed[-1]):
            share_error(problem, where)
        accuracies = hit_percentages(summed[3:-1])
        # train_ce: comparable across epochs; train_loss steps up where distillation starts
        history = {"train_loss": train_loss, "train_ce": train_ce}
        history.update({exit_accuracy_name(k): a for k, a in enumerate(accuracies)})
        log.append(history)
        if is_main:
            save_checkpoint(
                checkpoint_dir,
                {
                    "fingerprint": fingerprint,
                    "settings": settings,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    **rng_states(device),
                    "world_size": world_size(),
                    "history": log,
                    "marks_delivery": resume_finished,
                    **({} if code is None else {"code": code}),
                },
            )
            if on_epoch is not None:
                on_epoch(epoch, history)
            if progress:  # a line per epoch: the bar shows only on a terminal
                print(epoch_line(epoch, cfg.epochs, history, time.perf_counter() - started),
                      flush=True)
    barrier()
    return {
        "epochs": cfg.epochs,
        "resumed_from_epoch": resumed_from,
        "val_accuracy": [history.get(exit_accuracy_name(k)) for k in range(model.n_exits)],
        "config": asdict(cfg),
        "world_size": world_size(),
        "rank": rank(),
    }


CHANCE_MARGIN = 2.0  # points above the most common class's share that count as learning


def chance_note(val_accuracy: Sequence[float | None], labels: np.ndarray,
                cfg: TrainConfig) -> str | None:
    """A one-line note when no exit's validation accuracy (percent) beats always answering
    the split's most common class by CHANCE_MARGIN points: the model learned nothing (a
    learning rate too high to converge yet low enough to keep the weights finite, which the
    divergence check, `diverged_weight`, does not stop); None otherwise, without labels, or
    where that class is so common (over 100 - 2 * CHANCE_MARGIN %) that no exit could beat it
    by the margin."""
    known = [a for a in val_accuracy if a is not None]
    if not known or labels.size == 0:
        return None
    common = 100.0 * np.bincount(labels).max() / labels.size
    best = max(known)
    if best > common + CHANCE_MARGIN or common > 100.0 - 2 * CHANCE_MARGIN:
        return None
    return (f"note: train: no exit beats always answering the most common class on validation "
            f"(best exit {best:.2f} %, that class {common:.2f} %): the model learned nothing; "
            f"check train.lr ({cfg.lr:g}: far too high or too low?) and train.epochs "
            f"({cfg.epochs})")


# the logged name of each exit's validation accuracy: dvclive's metric (and .tsv file), the
# checkpoint's history and the stage's exit_accuracy.csv rows all read it through these
EXIT_ACCURACY_PREFIX = "val_acc_exit"


def exit_accuracy_name(k: int) -> str:
    """The logged name of exit k's validation accuracy per epoch ("val_acc_exit<k>")."""
    return f"{EXIT_ACCURACY_PREFIX}{k}"


def epoch_line(epoch: int, epochs: int, history: dict[str, float], seconds: float) -> str:
    """One finished epoch, as the train stage prints it: under DVC, a queue or a redirect
    (where no progress bar shows) a long run is followed by these lines."""
    accuracies = [v for k, v in history.items() if k.startswith(EXIT_ACCURACY_PREFIX)]
    return (f"epoch {epoch + 1}/{epochs}: train loss {history['train_loss']:.4f}, val accuracy "
            f"by exit {' / '.join(f'{a:.2f}' for a in accuracies)} %, {seconds:.1f} s")


def dropped_samples_note(n_samples: int, batch_size: int) -> str | None:
    """A note when the last incomplete batch, which training drops, is over a tenth of each
    process's training samples (a batch of 1000 on 1920 samples trained 1000 an epoch)."""
    per_process = math.ceil(n_samples / world_size())
    dropped = per_process % batch_size
    if dropped <= 0.1 * per_process:
        return None
    where = f" per process ({n_samples} over {world_size()})" if world_size() > 1 else ""
    return (f"note: train.batch_size {batch_size} leaves {dropped} of the {per_process} "
            f"training samples{where} out of every epoch (only whole batches are trained; "
            f"another shuffle each epoch); a batch size that divides {per_process}, or one "
            "much smaller, trains on all of them")
