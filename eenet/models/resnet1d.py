"""The embedded default: a small multi-exit 1-D residual CNN for MNIST-1D (3 exits)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from eenet.checks import check_minimums
from eenet.models.base import (
    MAX_EXAMPLE_BYTES,
    MultiExitModel,
    check_counts,
    check_weight_count,
)

# Longest input: one sample of float32 example inputs within MAX_EXAMPLE_BYTES (2**28 values,
# 1 GiB). An input_length of 10**12 (e.g. a hand-edited config.json) asked torch for 4 TB at
# the first example input, and past 2**63 torch could not even size the tensor: tracebacks.
MAX_INPUT_LENGTH = MAX_EXAMPLE_BYTES // 4


class ResidualBlock1d(nn.Module):
    """Two 3-tap convolutions with batch norm and an identity (or 1x1) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm1d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class PoolHead1d(nn.Module):
    """Exit head: global average pooling then a linear classifier."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=-1))


class ResNet1d(MultiExitModel):
    """Stem conv, then one stage of residual blocks per exit, each stage wider and coarser."""

    input_options = ("input_length",)

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (8, 16, 64),
        blocks: tuple[int, ...] = (1, 1, 2),
        input_length: int = 40,
    ) -> None:
        super().__init__()
        widths = check_counts("widths", widths)
        blocks = check_counts("blocks", blocks, len(widths), like="widths")
        check_minimums("model.options", {"input_length": (input_length, 1)},
                       {"input_length": MAX_INPUT_LENGTH})
        check_weight_count(f"widths {list(widths)} and blocks {list(blocks)}",
                           weight_count(num_classes, widths, blocks))
        self.input_length = input_length
        self.stem = nn.Sequential(
            nn.Conv1d(1, widths[0], 5, 1, 2, bias=False), nn.BatchNorm1d(widths[0]), nn.ReLU()
        )
        channels = widths[0]
        for stage, (width, depth) in enumerate(zip(widths, blocks, strict=True)):
            layers = [ResidualBlock1d(channels, width, stride=1 if stage == 0 else 2)]
            layers += [ResidualBlock1d(width, width) for _ in range(depth - 1)]
            self.segments.append(nn.Sequential(*layers))
            self.heads.append(PoolHead1d(width, num_classes))
            channels = width

    def example_inputs(self, batch_size: int) -> torch.Tensor:
        return torch.randn(batch_size, 1, self.input_length)

    def input_options_for(self, sample_shape: Sequence[int]) -> dict[str, Any]:
        """{'input_length': n} for samples of one channel of length n (the data's, which a
        shape error names); {} for other shapes, which no input_length gives."""
        shape = [int(d) for d in sample_shape]
        return {"input_length": shape[1]} if len(shape) == 2 and shape[0] == 1 else {}


def weight_count(num_classes: int, widths: tuple[int, ...], blocks: tuple[int, ...]) -> int:
    """The parameters of `ResNet1d(num_classes, widths, blocks)`, counted without building it."""
    count = 7 * widths[0]  # stem: 5-tap convolution and batch norm
    channels = widths[0]
    for stage, (width, depth) in enumerate(zip(widths, blocks, strict=True)):
        count += _block_weights(channels, width, stage > 0 or channels != width)
        count += (depth - 1) * _block_weights(width, width, False)
        count += (width + 1) * num_classes  # the exit's linear classifier
        channels = width
    return count


def _block_weights(in_channels: int, out_channels: int, projects: bool) -> int:
    """Parameters of a `ResidualBlock1d` (with a 1x1 shortcut if it `projects`)."""
    count = 3 * (in_channels + out_channels) * out_channels + 4 * out_channels
    return count + (in_channels + 2) * out_channels if projects else count


def build_resnet1d_3(
    num_classes: int,
    widths: tuple[int, ...] | list[int] = (8, 16, 64),
    blocks: tuple[int, ...] | list[int] = (1, 1, 2),
    input_length: int = 40,
) -> ResNet1d:
    """Default preset: 3 exits after stages of (1, 1, 2) residual blocks of 8, 16, 64 channels."""
    return ResNet1d(num_classes, widths, blocks, input_length)
