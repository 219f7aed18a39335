"""Exit heads shared by the CIFAR presets (the authors' 3-conv exit classifier)."""

from __future__ import annotations

import torch
from torch import nn


class ConvExitHead(nn.Sequential):
    """Three 3x3 conv + BN + ReLU layers, global average pooling and a linear classifier.

    The first convolution reduces the channels by `reduction` (the backbone's bottleneck
    expansion, 4 for both presets); the other two keep the reduced width. Convolutions have no
    bias (batch norm follows), as in the authors' `exit_classifier`.
    """

    def __init__(
        self, in_channels: int, num_classes: int, n_convs: int = 3, reduction: int = 4
    ) -> None:
        width = in_channels // reduction
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(n_convs):
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            channels = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
        super().__init__(*layers)


def conv_head_weights(in_channels: int, num_classes: int, n_convs: int = 3,
                      reduction: int = 4) -> int:
    """Parameters of `ConvExitHead(in_channels, num_classes, n_convs, reduction)`."""
    width = in_channels // reduction
    convs = 9 * width * (in_channels + (n_convs - 1) * width) + 2 * n_convs * width
    return convs + (width + 1) * num_classes


def pool_head_weights(in_channels: int, num_classes: int, pre_norm: bool = False) -> int:
    """Parameters of `PoolLinearHead(in_channels, num_classes, pre_norm)`."""
    return (2 * in_channels if pre_norm else 0) + (in_channels + 1) * num_classes


class PoolLinearHead(nn.Sequential):
    """Final classifier: optional BN + ReLU, global average pooling, linear."""

    def __init__(self, in_channels: int, num_classes: int, pre_norm: bool = False) -> None:
        layers: list[nn.Module] = []
        if pre_norm:
            layers += [nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True)]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)]
        super().__init__(*layers)


def random_images(batch_size: int, size: int = 32) -> torch.Tensor:
    """A batch of normalised-looking random CIFAR-sized images, [B, 3, size, size]."""
    return torch.randn(batch_size, 3, size, size)
