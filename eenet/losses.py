"""The multi-exit training objective: exit-weighted cross-entropy (the authors' weighting,
sum_k (k+1) CE_k / (K (K+1))) and self-distillation of the earlier exits to the last one (KL at
temperature T)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def multi_exit_loss(
    logits: Sequence[torch.Tensor],
    labels: torch.Tensor,
    distill_weight: float = 0.0,
    temperature: float = 3.0,
) -> torch.Tensor:
    """sum_k (k+1) CE_k / (K(K+1)) plus optional distillation of exits 0..K-2 to exit K-1."""
    return exit_losses(logits, labels, distill_weight, temperature)[0]


def exit_losses(
    logits: Sequence[torch.Tensor],
    labels: torch.Tensor,
    distill_weight: float = 0.0,
    temperature: float = 3.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(`multi_exit_loss`, its exit-weighted cross-entropy part alone), computed once."""
    n_exits = len(logits)
    ce = exit_weighted_ce(logits, labels)
    if distill_weight <= 0 or n_exits < 2:
        return ce, ce
    teacher = F.log_softmax(logits[-1].detach().float() / temperature, dim=-1)
    kd = sum(
        F.kl_div(
            F.log_softmax(z.float() / temperature, dim=-1),
            teacher,
            log_target=True,
            reduction="batchmean",
        )
        for z in logits[:-1]
    )
    return ce + distill_weight * temperature**2 * kd / (n_exits - 1), ce


def exit_weighted_ce(logits: Sequence[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """The loss without distillation: sum_k (k+1) CE_k / (K(K+1))."""
    n_exits = len(logits)
    loss = sum((k + 1) * F.cross_entropy(z.float(), labels) for k, z in enumerate(logits))
    return loss / (n_exits * (n_exits + 1))


