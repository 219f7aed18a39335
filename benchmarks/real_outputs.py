"""Exit outputs of real networks the schedulers were never tuned on, made in a few minutes.

Each case draws a fresh MNIST-1D data set (its own seed and size), trains a small multi-exit
1-D ResNet on it (its own exits, widths and training length) with the package's own data,
model, training and inference code, and returns the validation and test exit outputs with
the cumulative cost of reaching each exit in MFLOPs per sample (deterministic, unlike a
timing), and on request the network's outputs on a fresh draw of the same distribution (the
MNIST-1D generator with another seed). Used by `benchmarks/schedulers.py --real-held-out`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eenet.data import prepare_dataset
from eenet.data.mnist1d import NUM_SAMPLES_MAX, NUM_SAMPLES_MIN
from eenet.data.prepared import PreparedDataset
from eenet.errors import ConfigError
from eenet.inference import collect_exit_logits
from eenet.models import build_model
from eenet.models.base import MultiExitModel, example_batch
from eenet.outputs import ExitOutputs
from eenet.profiling import count_flops
from eenet.train_config import TrainConfig
from eenet.training import seed_everything, train_model


@dataclass(frozen=True)
class RealCase:
    """One held-out network: data seed and size, architecture, training length."""

    seed: int
    num_samples: int  # MNIST-1D samples generated: 80 % train + val (20 % of it val), 20 % test
    widths: tuple[int, ...]  # one stage (and one exit) per width
    epochs: int
    distill_weight: float = 0.01

    @property
    def name(self) -> str:
        n_val = int(self.num_samples * 0.8 * 0.2)
        return (f"real {len(self.widths)} exits {list(self.widths)}, {self.epochs} ep, "
                f"{n_val} val")


# chosen once, never tuned against: 3 or 4 exits, weak to strong first exits, 3k-8k validation
REAL_HELD_OUT = [
    RealCase(seed=201, num_samples=20_000, widths=(8, 16, 32, 64), epochs=10),
    RealCase(seed=202, num_samples=50_000, widths=(4, 8, 32), epochs=8),
    RealCase(seed=203, num_samples=25_000, widths=(8, 16, 64), epochs=4),
    RealCase(seed=204, num_samples=40_000, widths=(4, 8, 16, 32), epochs=6, distill_weight=0.0),
]


# the generator seed of a case's fresh draw: the case's seed plus this (no case's own seed)
FRESH_SEED_OFFSET = 100_000


def check_fresh_samples(fresh_samples: int, param: str = "fresh_samples") -> None:
    """A fresh draw's size: 0 (none) or a size MNIST-1D generates (NUM_SAMPLES_MIN to
    NUM_SAMPLES_MAX), else a one-line ConfigError naming `param`; checked before any case
    trains (the generator refused it only after the case's network had trained, minutes)."""
    if fresh_samples != 0 and not NUM_SAMPLES_MIN <= fresh_samples <= NUM_SAMPLES_MAX:
        raise ConfigError(f"{param}: a real case's fresh draw is MNIST-1D generated anew: 0 "
                          f"(none) or from {NUM_SAMPLES_MIN} to {NUM_SAMPLES_MAX} samples, got "
                          f"{fresh_samples}")


def trained_outputs(
    case: RealCase, fresh_samples: int = 0
) -> tuple[ExitOutputs, ExitOutputs, np.ndarray, ExitOutputs | None]:
    """(validation outputs, test outputs, cumulative MFLOPs per exit, outputs on a fresh draw
    of `fresh_samples` or None) of one trained case. A `fresh_samples` MNIST-1D cannot
    generate is a ConfigError before the network trains."""
    check_fresh_samples(fresh_samples)
    with tempfile.TemporaryDirectory(prefix="eenet-real-") as tmp:
        data_dir = Path(tmp) / "data"
        meta = prepare_dataset("mnist1d", data_dir, case.seed, num_samples=case.num_samples)
        seed_everything(case.seed)
        model = build_model("resnet1d_3", int(meta["num_classes"]), widths=list(case.widths),
                            blocks=[1] * len(case.widths))
        config = TrainConfig(epochs=case.epochs, seed=case.seed,
                             distill_weight=case.distill_weight, device="cpu")
        train_model(model, PreparedDataset(data_dir, "train", augment=True),
                    PreparedDataset(data_dir, "val"), config, Path(tmp) / "checkpoints",
                    fingerprint=f"real-held-out-{case.seed}", progress=False)
        model.eval()
        cpu = torch.device("cpu")
        val, test = (collect_exit_logits(model, PreparedDataset(data_dir, split), cpu)
                     for split in ("val", "test"))
        mflops = exit_mflops(model)
        fresh = None
        if fresh_samples > 0:
            fresh_dir = Path(tmp) / "fresh"
            prepare_dataset("mnist1d", fresh_dir, case.seed + FRESH_SEED_OFFSET,
                            num_samples=fresh_samples)
            parts = [collect_exit_logits(model, PreparedDataset(fresh_dir, split), cpu)
                     for split in ("train", "val", "test")]  # every sample of the draw
            fresh = ExitOutputs(np.concatenate([p.logits for p in parts], axis=1),
                                np.concatenate([p.labels for p in parts]))
    return val, test, mflops, fresh


def exit_mflops(model: MultiExitModel) -> np.ndarray:
    """Cumulative MFLOPs per sample of reaching each exit, counted on one example input made
    in the precision of the model's weights (`example_batch`: a double model refuses float32)."""
    with torch.no_grad():
        flops = count_flops(model, example_batch(model, 1))
    return np.asarray(flops, dtype=np.float64) / 1e6
