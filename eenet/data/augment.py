"""Training augmentation of image batches: the standard CIFAR recipe, a random crop of the
image padded black on each side and a horizontal flip with probability 1/2, done for a whole
batch at once (one pad, one gather).

Each sample's crop offsets and flip are counter-based draws (`eenet.splitmix`, as the
schedulers' `tie_uniforms`) from the run's seed, the epoch and the sample's index in its
split: the same whatever process loads the sample or which batch holds it, so the number of
loader workers does not change the trained weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eenet.splitmix import splitmix64, unit_floats

PADDING = 4  # black pixels added on each side before cropping (the CIFAR recipe's)
# what each draw is for: the third part of its key, after (seed, epoch)
TOP, LEFT, FLIP = range(3)


def crop_flip_draws(seed: int, epoch: int, indices: np.ndarray,
                    padding: int = PADDING) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sample's crop offsets into its padded image, `top` and `left` (integers, uniform
    over 0..2 * `padding`), and whether it is flipped (bool, probability 1/2), by sample
    index."""
    offsets = 2 * padding + 1
    top = (keyed_uniforms((seed, epoch, TOP), indices) * offsets).astype(np.intp)
    left = (keyed_uniforms((seed, epoch, LEFT), indices) * offsets).astype(np.intp)
    return top, left, keyed_uniforms((seed, epoch, FLIP), indices) < 0.5


def crop_flip(pixels: np.ndarray, top: np.ndarray, left: np.ndarray, flip: np.ndarray,
              padding: int = PADDING) -> np.ndarray:
    """uint8 NHWC images padded with `padding` black pixels on each side, cropped back to
    their size at (`top`, `left`) and mirrored left-right where `flip`."""
    n, height, width, channels = pixels.shape
    padded = np.zeros((n, height + 2 * padding, width + 2 * padding, channels), np.uint8)
    padded[:, padding:padding + height, padding:padding + width] = pixels
    # each pixel's channels as one item, so the gather copies pixels, not single bytes
    whole_pixels = padded.view(np.dtype((np.void, channels)))[..., 0]
    rows = top[:, None] + np.arange(height)
    columns = left[:, None] + np.arange(width)
    columns = np.where(flip[:, None], columns[:, ::-1], columns)
    cropped = whole_pixels[np.arange(n)[:, None, None], rows[:, :, None], columns[:, None, :]]
    return cropped.view(np.uint8).reshape(n, height, width, channels)


def augment_pixels(pixels: np.ndarray, indices: np.ndarray, seed: int, epoch: int,
                   padding: int = PADDING) -> np.ndarray:
    """A batch of uint8 NHWC images (the samples `indices` of a split) augmented for
    training epoch `epoch` of the run seeded `seed`."""
    return crop_flip(pixels, *crop_flip_draws(seed, epoch, indices, padding), padding)


def keyed_uniforms(key: Sequence[int], indices: np.ndarray) -> np.ndarray:
    """A number in [0, 1) per index, float64: splitmix64 of the index under `key` (integers:
    the run's seed, the epoch, what the number is for). The same key and index give the same
    number; another key, unrelated ones."""
    state = np.zeros(1, dtype=np.uint64)  # an array: numpy scalars warn on overflow
    for part in key:
        state = splitmix64(state ^ np.uint64(int(part) % 2**64))
    bits = splitmix64(state ^ np.asarray(indices, dtype=np.uint64))
    return unit_floats(bits)
