"""CIFAR ResNet-56 with 3 exits, as in the EENet authors' code.

Bottleneck blocks (expansion 4) in three stages of [9, 9, 9] blocks with 16, 32 and 64 planes
(64, 128 and 256 output channels); exits after block 9 (end of stage 1) and block 18 (end of
stage 2) use the 3-conv exit head, the last exit is average pooling + linear. For 10 classes:
939,438 parameters, 869,530 without the two early heads (14,090 and 55,818).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from eenet.checks import check_minimums
from eenet.models.base import MultiExitModel, check_counts, check_weight_count
from eenet.models.cifar_heads import (
    ConvExitHead,
    PoolLinearHead,
    conv_head_weights,
    pool_head_weights,
    random_images,
)

EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), each with BN; projection shortcut if needed."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + self.shortcut(x))


def make_stage(in_channels: int, planes: int, n_blocks: int, stride: int) -> nn.Sequential:
    """`n_blocks` bottlenecks; the first one strides."""
    blocks = []
    for i in range(n_blocks):
        blocks.append(Bottleneck(in_channels, planes, stride if i == 0 else 1))
        in_channels = planes * EXPANSION
    return nn.Sequential(*blocks)


class ResNetCifarMultiExit(MultiExitModel):
    """Bottleneck CIFAR ResNet; one segment per stage, one exit after each stage."""

    def __init__(
        self, num_classes: int, blocks: Sequence[int] = (9, 9, 9), base_width: int = 16
    ) -> None:
        super().__init__()
        blocks = check_counts("blocks", blocks)
        check_minimums("model.options", {"base_width": (base_width, 1)})
        check_weight_count(f"blocks {list(blocks)} and base_width {base_width}",
                           weight_count(num_classes, blocks, base_width))
        self.stem = nn.Sequential(
            nn.Conv2d(3, base_width, 3, padding=1, bias=False),
            nn.BatchNorm2d(base_width),
            nn.ReLU(inplace=True),
        )
        channels = base_width
        for index, n_blocks in enumerate(blocks):
            planes = base_width * 2**index
            self.segments.append(make_stage(channels, planes, n_blocks, 1 if index == 0 else 2))
            channels = planes * EXPANSION
            if index < len(blocks) - 1:
                self.heads.append(ConvExitHead(channels, num_classes, reduction=EXPANSION))
            else:
                self.heads.append(PoolLinearHead(channels, num_classes))

    def example_inputs(self, batch_size: int) -> torch.Tensor:
        return random_images(batch_size)


def weight_count(num_classes: int, blocks: Sequence[int], base_width: int) -> int:
    """The parameters of `ResNetCifarMultiExit(num_classes, blocks, base_width)`, counted
    without building it."""
    count = 29 * base_width  # stem: 3x3 convolution from RGB and batch norm
    channels = base_width
    for index, n_blocks in enumerate(blocks):
        planes = base_width * 2**index
        out = planes * EXPANSION
        count += _bottleneck_weights(channels, planes, index > 0 or channels != out)
        count += (n_blocks - 1) * _bottleneck_weights(out, planes, False)
        channels = out
        last = index == len(blocks) - 1
        count += (pool_head_weights(channels, num_classes) if last else
                  conv_head_weights(channels, num_classes, reduction=EXPANSION))
    return count


def _bottleneck_weights(in_channels: int, planes: int, projects: bool) -> int:
    """Parameters of a `Bottleneck` (with a projection shortcut if it `projects`)."""
    out = planes * EXPANSION
    count = (in_channels + 9 * planes + out) * planes + 2 * (2 * planes + out)
    return count + (in_channels + 2) * out if projects else count


def build_resnet56_3(
    num_classes: int, blocks: Sequence[int] = (9, 9, 9), base_width: int = 16
) -> ResNetCifarMultiExit:
    """The paper's ResNet-56/3 (defaults); `blocks` / `base_width` only shrink it for tests."""
    return ResNetCifarMultiExit(num_classes, blocks=blocks, base_width=base_width)
