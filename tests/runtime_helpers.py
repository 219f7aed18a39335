"""Small real models and policies shared by the profiling and runtime tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from eenet.models.base import MultiExitModel
from eenet.schedulers.base import FittedPolicy

# where real early exit is checked: the CPU always, the GPU too on a machine that has one
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


class TinyNet(MultiExitModel):
    """A 1-D conv multi-exit net whose state is a dict (exercises dict shrinking)."""

    def __init__(self, num_classes: int = 5, width: int = 8, length: int = 32,
                 depths: tuple[int, ...] = (1, 2, 3)) -> None:
        super().__init__()
        self.length = length
        self.stem = nn.Conv1d(1, width, 3, padding=1)
        for depth in depths:
            layers: list[nn.Module] = []
            for _ in range(depth):
                layers += [nn.Conv1d(width, width, 5, padding=2), nn.ReLU()]
            self.segments.append(nn.Sequential(*layers))
            self.heads.append(nn.Linear(width, num_classes))

    def begin(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"h": self.stem(inputs), "scale": inputs.abs().mean(dim=(1, 2))}

    def run_segment(self, k: int, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"h": self.segments[k](state["h"]), "scale": state["scale"]}

    def run_head(self, k: int, state: dict[str, torch.Tensor]) -> torch.Tensor:
        pooled = state["h"].mean(dim=-1) * (1.0 + state["scale"][:, None])
        return self.heads[k](pooled)

    def example_inputs(self, batch_size: int) -> torch.Tensor:
        return torch.randn(batch_size, 1, self.length)


# logits closer than the float64 log-softmax resolves (tiny: 1e-20 apart): the logits' own
# argmax names one class (1 at exits 0 and 2), the log-probs' argmax, equal log-probs, the
# first (0); exit 1's larger logit is class 0's, so by logits exits 0 and 1 disagree
TIED_LOGITS = np.array([[1e-20, 2e-20, -5.0], [2e-20, 1e-20, -5.0], [1e-20, 3e-20, -5.0]],
                       dtype=np.float32)


def tied_logits_net() -> TinyNet:
    """A TinyNet whose exit k gives TIED_LOGITS[k] for every input (heads: zero weights and
    those biases)."""
    net = TinyNet(num_classes=3).eval()
    with torch.no_grad():
        for head, bias in zip(net.heads, TIED_LOGITS, strict=True):
            head.weight.zero_()
            head.bias.copy_(torch.from_numpy(bias))
    return net


class BlowUpNet(TinyNet):
    """Its stem's output is 2**30 times longer than its inputs: small inputs, and a forward
    pass far too large for any machine's memory (torch fails to allocate it at once)."""

    def begin(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        state = super().begin(inputs)
        return {**state, "h": state["h"].repeat(1, 1, 2**30)}


class MaxProbPolicy(FittedPolicy):
    """Score = max softmax probability of the exit (MSDNet's rule)."""

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        return np.exp(log_probs.max(axis=-1))


class CoarseMaxProbPolicy(FittedPolicy):
    """Max probability rounded to one decimal: many samples tie at every threshold."""

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        return np.round(np.exp(log_probs.max(axis=-1)), 1)


class PatienceMarginPolicy(FittedPolicy):
    """A score that reads earlier exits: margin of exit k, +1 per earlier exit that agrees."""

    def scores(self, log_probs: np.ndarray) -> np.ndarray:
        probs = np.exp(log_probs)
        top2 = np.sort(probs, axis=-1)[..., -2:]
        margin = top2[..., 1] - top2[..., 0]
        pred = log_probs.argmax(axis=-1)
        agree = np.cumsum(np.concatenate(
            [np.zeros_like(pred[:1]), (pred[1:] == pred[:-1]).astype(np.int64)]), axis=0)
        return margin + agree
