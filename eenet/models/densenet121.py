"""CIFAR DenseNet-121 (growth 12) with 4 exits, as in the EENet authors' code.

A 3x3 stem to 2*growth channels, dense blocks of [6, 12, 24, 16] bottleneck layers (BN-ReLU-1x1
to 4*growth, BN-ReLU-3x3 to growth, concatenated), transitions (BN-ReLU-1x1 halving the channels,
2x2 average pooling) after the first three blocks. Exits after each transition use the 3-conv
exit head; the last exit is BN-ReLU, average pooling and linear. For 100 classes: 1,207,768
parameters, 1,035,268 without the three early heads (9,148, 33,748 and 129,604).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import NamedTuple

import torch
from torch import nn

from eenet.checks import check_minimums
from eenet.errors import ConfigError
from eenet.models.base import MultiExitModel, check_counts, check_weight_count
from eenet.models.cifar_heads import (
    ConvExitHead,
    PoolLinearHead,
    conv_head_weights,
    pool_head_weights,
    random_images,
)

BOTTLENECK_WIDTH = 4  # the 1x1 convolution outputs 4 * growth channels
# Most dense blocks: a transition between two blocks halves the 32x32 CIFAR image, so 6
# blocks leave it 1x1 and a 7th block's transition pooled 1x1 to nothing, a torch traceback
# in the first batch ("Output size is too small")
MAX_BLOCKS = 6


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 then BN-ReLU-3x3 producing `growth` new channels, concatenated to the input."""

    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        inner = BOTTLENECK_WIDTH * growth
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(torch.relu(self.bn1(x)))
        out = self.conv2(torch.relu(self.bn2(out)))
        return torch.cat([out, x], dim=1)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 convolution to `out_channels`, then 2x2 average pooling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.AvgPool2d(2, stride=2),
        )


class DenseNetCifarMultiExit(MultiExitModel):
    """One segment per dense block (with its transition), one exit after each segment."""

    def __init__(
        self,
        num_classes: int,
        blocks: Sequence[int] = (6, 12, 24, 16),
        growth: int = 12,
        reduction: float = 0.5,
    ) -> None:
        super().__init__()
        blocks = check_counts("blocks", blocks)
        check_minimums("model.options", {"growth": (growth, 1)})
        check_block_count(blocks)
        check_exit_widths(blocks, growth, reduction)
        check_weight_count(f"blocks {list(blocks)} and growth {growth}",
                           weight_count(num_classes, blocks, growth, reduction))
        self.stem = nn.Conv2d(3, 2 * growth, 3, padding=1, bias=False)
        for block in block_widths(blocks, growth, reduction):
            layers: list[nn.Module] = [DenseLayer(block.start + j * growth, growth)
                                       for j in range(block.layers)]
            if block.out is None:
                self.heads.append(PoolLinearHead(block.end, num_classes, pre_norm=True))
            else:
                layers.append(Transition(block.end, block.out))
                self.heads.append(ConvExitHead(block.out, num_classes,
                                               reduction=BOTTLENECK_WIDTH))
            self.segments.append(nn.Sequential(*layers))

    def example_inputs(self, batch_size: int) -> torch.Tensor:
        return random_images(batch_size)


class BlockWidths(NamedTuple):
    """The channels of one dense block: those it reads (`start`), its `layers`, those it ends
    with (`end`: each layer adds growth), and its transition's output (`out`; None for the
    last block, which has none)."""

    start: int
    layers: int
    end: int
    out: int | None


def block_widths(blocks: Sequence[int], growth: int,
                 reduction: float = 0.5) -> Iterator[BlockWidths]:
    """Each dense block's widths, from the stem's 2 * growth channels: what the model builds,
    the size check counts and the head check reads. A transition keeps
    floor(reduction * channels) for the reduction as written (0.3 is 3/10: 15 of 50 channels,
    where the binary float 0.3, a hair below, gives 14), worked out exactly (a float product
    of huge channel counts is not)."""
    channels = 2 * growth
    for index, n_layers in enumerate(blocks):
        end = channels + n_layers * growth
        out = int(Fraction(repr(float(reduction))) * end) if index < len(blocks) - 1 else None
        yield BlockWidths(channels, n_layers, end, out)
        channels = end if out is None else out


def check_block_count(blocks: Sequence[int]) -> None:
    """At most MAX_BLOCKS dense blocks (the transitions between them must leave the 32x32
    image at least 1x1); else a one-line ConfigError naming model.options.blocks."""
    if len(blocks) > MAX_BLOCKS:
        raise ConfigError(f"model.options.blocks: expected at most {MAX_BLOCKS} integers, one "
                          f"per exit (each transition halves the 32x32 image: {len(blocks)} "
                          f"blocks would pool it below 1x1), got {list(blocks)}")


def check_exit_widths(blocks: Sequence[int], growth: int, reduction: float = 0.5) -> None:
    """Every early exit head gets at least one channel (a quarter of its transition's output,
    rounded down; 0 was a torch traceback in the first batch); else a one-line ConfigError
    naming model.options.growth and the least growth these blocks allow (one exists for any
    `reduction` > 0: 5 / reduction gives every head a channel)."""
    starved = _starved_exit(blocks, growth, reduction)
    if starved is None:
        return
    exit_index, channels = starved
    least = next(g for g in itertools.count(growth + 1)
                 if _starved_exit(blocks, g, reduction) is None)
    raise ConfigError(f"model.options.growth: must be an integer >= {least} with blocks "
                      f"{list(blocks)}, got {growth} (exit {exit_index}'s head would get "
                      f"{channels} // {BOTTLENECK_WIDTH} = 0 channels)")


def _starved_exit(blocks: Sequence[int], growth: int,
                  reduction: float) -> tuple[int, int] | None:
    """The first early exit whose head gets no channel, with its transition's output
    channels; None when every one gets some (always for growth >= 4 at reduction 0.5)."""
    for index, block in enumerate(block_widths(blocks, growth, reduction)):
        if block.out is not None and block.out < BOTTLENECK_WIDTH:
            return index, block.out
    return None


def weight_count(num_classes: int, blocks: Sequence[int], growth: int,
                 reduction: float = 0.5) -> int:
    """The parameters of `DenseNetCifarMultiExit(num_classes, blocks, growth, reduction)`,
    counted without building it."""
    inner = BOTTLENECK_WIDTH * growth
    count = 27 * 2 * growth  # stem: 3x3 convolution from RGB to 2 * growth channels
    for block in block_widths(blocks, growth, reduction):
        n_layers = block.layers
        # layer j reads start + j * growth: batch norm and 1x1 convolution over them
        read = n_layers * block.start + growth * n_layers * (n_layers - 1) // 2
        count += read * (2 + inner) + n_layers * (2 * inner + 9 * inner * growth)
        if block.out is None:
            count += pool_head_weights(block.end, num_classes, pre_norm=True)
        else:
            count += (2 + block.out) * block.end  # transition: batch norm and 1x1 convolution
            count += conv_head_weights(block.out, num_classes, reduction=BOTTLENECK_WIDTH)
    return count


def build_densenet121_4(
    num_classes: int, blocks: Sequence[int] = (6, 12, 24, 16), growth: int = 12
) -> DenseNetCifarMultiExit:
    """The paper's DenseNet-121/4 (defaults); `blocks` / `growth` only shrink it for tests."""
    return DenseNetCifarMultiExit(num_classes, blocks=blocks, growth=growth)
