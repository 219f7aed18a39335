"""The `train:` group of params.yaml and what it builds: the checked settings
(`TrainConfig`), those that identify a run (`run_settings`, without the WEIGHT_NEUTRAL ones),
the optimizer and per-step learning-rate schedule they name, the self-distillation weight of
each epoch, and the note on milestones training never reaches. The loop is `eenet.training`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch

from eenet.checks import THREADS_MAX, WORKERS_MAX, check_integer, check_number
from eenet.config import check_train
from eenet.devices import check_device_name
from eenet.errors import ConfigError, unknown_name

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("multistep", "onecycle", "linear", "constant")


@dataclass
class TrainConfig:
    """The `train:` group of params.yaml."""

    epochs: int = 15
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 3e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "onecycle"
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    distill_weight: float = 0.01
    distill_temperature: float = 3.0
    distill_from: float = 0.75
    seed: int = 0
    threads: int = 0
    num_workers: int = 0
    device: str = "auto"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainConfig:
        """The params.yaml group `train`; an unknown key is a one-line ConfigError."""
        allowed = {f.name for f in fields(cls)}
        for key in params:
            if key not in allowed:
                raise ConfigError(
                    f"train.{key}: unknown key; allowed: {', '.join(sorted(allowed))}"
                )
        config = cls(**params)
        config.validate()
        return config

    def check(self) -> None:
        """The check params.yaml's `train` group gets (types, names, ranges), for a config made
        in code: the same one-line ConfigErrors (unchecked, e.g. optimizer "rmsprop" trained
        with AdamW and schedule "cosine" at a constant learning rate)."""
        check_train("train", asdict(self))

    def validate(self) -> None:
        """The value checks (names, ranges) of a config of the right types."""
        if self.optimizer not in OPTIMIZERS:
            raise unknown_name("train.optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise unknown_name("train.schedule", self.schedule, SCHEDULES)
        if self.epochs < 1:
            raise ConfigError(f"train.epochs: must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size: must be >= 1, got {self.batch_size}")
        self.check_parallelism()
        check_number("train.lr", self.lr, 0.0, low_ok=False)
        check_number("train.weight_decay", self.weight_decay, 0.0)
        check_number("train.momentum", self.momentum, 0.0, 1.0, high_ok=False)
        check_number("train.gamma", self.gamma, 0.0, low_ok=False)
        check_number("train.distill_weight", self.distill_weight, 0.0)
        check_number("train.distill_temperature", self.distill_temperature, 0.0, low_ok=False)
        steps = self.milestones
        integers = all(isinstance(m, int) and not isinstance(m, bool) for m in steps)
        if not integers or any(b <= a for a, b in zip([0, *steps], steps, strict=False)):
            raise ConfigError(f"train.milestones: must be increasing epoch numbers >= 1, got "
                              f"{self.milestones}")
        if not 0.0 <= self.distill_from <= 1.0:
            raise ConfigError(f"train.distill_from: must lie in [0, 1], got {self.distill_from}")
        check_device_name(self.device, "train.device")

    def check_parallelism(self) -> None:
        """`threads` at most THREADS_MAX and `num_workers` at most WORKERS_MAX, else a one-line
        ConfigError naming it (past them torch crashed, or the loader forked without end)."""
        check_integer("train.threads", self.threads, 0, THREADS_MAX)
        check_integer("train.num_workers", self.num_workers, 0, WORKERS_MAX)


def distill_weight_for_epoch(cfg: TrainConfig, epoch: int) -> float:
    """Self-distillation weight of 0-based `epoch`: on from epoch floor(distill_from * epochs)."""
    return cfg.distill_weight if epoch >= math.floor(cfg.distill_from * cfg.epochs) else 0.0


# The train settings a run's fingerprint leaves out: `num_workers` alone is proven not to
# change the trained weights, so a run interrupted and restarted with another value resumes,
# and a finished one rerun with another value by the same code (`code`) is reused.
# The training loader's order comes from its own generator, reseeded from (seed, epoch) every
# epoch (`train_model`, `epoch_seed`), which the main process draws from whatever the worker
# count (the sampler's permutation, then the DataLoader's base seed; never the global
# generator); each sample's augmentation is a counter-based draw from (seed, epoch, index)
# (`eenet.data.augment`), so a worker draws what the main process would, whatever batch holds
# the sample; the collate functions draw nothing. tests/test_training_recipe.py's
# test_num_workers_does_not_change_* check it.
# `threads` and `device` stay in: they change the kernels and the order of float sums.
WEIGHT_NEUTRAL = ("num_workers",)


def run_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The train settings that identify a run and its checkpoint: all of `cfg` but
    WEIGHT_NEUTRAL."""
    return {k: v for k, v in asdict(cfg).items() if k not in WEIGHT_NEUTRAL}


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer `cfg.optimizer` names; any other name is a one-line ConfigError."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise unknown_name("train.optimizer", cfg.optimizer, OPTIMIZERS)


def make_lr_schedule(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-step learning-rate schedule `cfg.schedule` names; any other name is a one-line
    ConfigError.

    onecycle with SGD keeps `cfg.momentum` (torch's OneCycleLR cycles it 0.95 -> 0.85 -> 0.95
    by default, so train.momentum changed nothing); with Adam or AdamW it cycles beta1 so, as
    torch does."""
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.lr, total_steps=total,
                                                   cycle_momentum=cfg.optimizer != "sgd")
    if cfg.schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total))
    if cfg.schedule == "multistep":
        steps = [m * steps_per_epoch for m in cfg.milestones]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, steps, gamma=cfg.gamma)
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    raise unknown_name("train.schedule", cfg.schedule, SCHEDULES)


def milestones_note(cfg: TrainConfig) -> str | None:
    """A note for multistep milestones at or past the last epoch: the learning rate never
    drops there (e.g. a preset's milestones after `-S train.epochs=2`)."""
    late = [m for m in cfg.milestones if m >= cfg.epochs]
    if cfg.schedule != "multistep" or not late:
        return None
    return (f"note: train.milestones {late} lie at or past the last epoch ({cfg.epochs}): the "
            "learning rate is not lowered there")


def check_train_config(cfg: Any, param: str) -> None:
    """`cfg` (argument `param` of a function) is a TrainConfig, checked as `TrainConfig.check`
    does; anything else, a dict included, is a one-line ConfigError naming TrainConfig."""
    if not isinstance(cfg, TrainConfig):
        raise ConfigError(f"{param}: expected a TrainConfig (eenet.train_config; "
                          f"TrainConfig.from_params(d) makes one of a dict d), got "
                          f"{type(cfg).__name__}")
    cfg.check()
