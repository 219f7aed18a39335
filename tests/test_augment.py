"""The training augmentation of images: the CIFAR recipe's pad-4 random crop and horizontal
flip, done a batch at a time, each sample's draw a counter-based function of (seed, epoch,
index)."""

from __future__ import annotations

import numpy as np
import torch

from eenet.data.augment import PADDING, crop_flip, crop_flip_draws, keyed_uniforms
from eenet.data.prepared import PreparedDataset, write_meta, write_split

MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]


def write_images(root, n: int = 40, size: int = 32) -> np.ndarray:
    """A prepared image train split of `n` random images (never black); its pixels."""
    pixels = np.random.default_rng(1).integers(1, 256, (n, size, size, 3), dtype=np.uint8)
    write_split(root, "train", pixels, np.arange(n) % 10)
    write_meta(root, {"dataset": "images", "kind": "image", "num_classes": 10,
                      "input_shape": [3, size, size], "mean": MEAN, "std": STD})
    return pixels


def by_hand(image: np.ndarray, top: int, left: int, flip: bool, padding: int) -> np.ndarray:
    """One image padded black, cropped at (top, left) and mirrored when `flip`."""
    height, width, _ = image.shape
    padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    crop = padded[top:top + height, left:left + width]
    return crop[:, ::-1] if flip else crop


def test_a_batch_is_cropped_and_flipped_as_each_image_by_hand():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 6, 7, 3), dtype=np.uint8)
    top, left = rng.integers(0, 5, 12), rng.integers(0, 5, 12)
    flip = rng.random(12) < 0.5
    out = crop_flip(pixels, top, left, flip, padding=2)
    assert out.shape == pixels.shape and out.dtype == np.uint8
    for i in range(12):
        np.testing.assert_array_equal(out[i], by_hand(pixels[i], top[i], left[i], flip[i], 2))


def test_crops_and_flips_are_drawn_uniformly_and_independently():
    """torchvision's RandomCrop(padding=4) draws each offset uniformly from 0..8 and
    RandomHorizontalFlip flips half the images: so do the counter-based draws."""
    n = 90_000
    top, left, flip = crop_flip_draws(7, 3, np.arange(n))
    for offsets in (top, left):
        counts = np.bincount(offsets, minlength=2 * PADDING + 1)
        assert len(counts) == 2 * PADDING + 1
        assert np.all(np.abs(counts - n / 9) < 500), counts  # about 5 standard deviations
    assert abs(flip.mean() - 0.5) < 0.01
    assert abs(np.corrcoef([top, left, flip])[np.triu_indices(3, 1)]).max() < 0.02


def test_each_sample_draws_from_seed_epoch_and_index_whatever_its_batch(tmp_path):
    """The same sample in another batch, or read alone (a wrapped data set reads items one
    by one), is cropped and flipped the same; another epoch or seed draws anew."""
    write_images(tmp_path)
    dataset = PreparedDataset(tmp_path, "train", augment=True)
    first = dataset.__getitems__([5, 2, 30])
    again = dataset.__getitems__([30, 11, 5])
    assert torch.equal(first.inputs[0], again.inputs[2])
    assert torch.equal(first.inputs[2], again.inputs[0])
    assert torch.equal(dataset[2][0], first.inputs[1]) and dataset[2][1] == 2
    assert torch.equal(dataset.__getitems__(range(2, 6)).inputs[3], first.inputs[0])
    whole = dataset.__getitems__(range(40)).inputs
    for epoch, seed in ((1, 0), (0, 1)):
        dataset.set_epoch(epoch, seed)
        assert not torch.equal(dataset.__getitems__(range(40)).inputs, whole)
    dataset.set_epoch(0, 0)
    assert torch.equal(dataset.__getitems__(range(40)).inputs, whole)


def test_augmented_images_are_crops_of_the_black_padded_image_then_normalised(tmp_path):
    """Cropped before normalising, as the recipe does: the padding is black pixels,
    (0 - mean) / std once normalised; unaugmented reads are not cropped."""
    pixels = write_images(tmp_path)
    dataset = PreparedDataset(tmp_path, "train", augment=True)
    dataset.set_epoch(4, seed=9)
    top, left, flip = crop_flip_draws(9, 4, np.arange(40))
    mean, std = (torch.tensor(v).reshape(3, 1, 1) for v in (MEAN, STD))
    images = dataset.__getitems__(range(40)).inputs
    for i in range(40):
        crop = by_hand(pixels[i], top[i], left[i], flip[i], PADDING)
        expected = (torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255.0 - mean) / std
        assert torch.equal(images[i], expected)
    assert (top == 0).any()  # a crop holding the padding's top rows: black there
    black = ((0.0 - mean) / std).expand(3, PADDING, 32)
    assert torch.equal(images[int(np.argmax(top == 0))][:, :PADDING], black)
    plain = PreparedDataset(tmp_path, "train").__getitems__(range(40)).inputs
    expected = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    assert torch.equal(plain, expected)


def test_keyed_uniforms_depend_on_the_key_and_the_index_alone():
    numbers = keyed_uniforms((0, 1, 2), np.arange(1000))
    assert numbers.dtype == np.float64 and numbers.min() >= 0.0 and numbers.max() < 1.0
    np.testing.assert_array_equal(keyed_uniforms((0, 1, 2), np.arange(500, 1000)),
                                  numbers[500:])
    for key in ((0, 1, 3), (1, 1, 2), (0, 2, 2), (0, 1)):
        assert not np.any(keyed_uniforms(key, np.arange(1000)) == numbers)

