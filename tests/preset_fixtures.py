"""Small on-disk fixtures for the paper presets: CIFAR batch files, text samples, a tiny BERT.

The CIFAR files are written in the format torchvision reads (python pickles of dicts, the
official archive's format); only torchvision ever reads them back.
"""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR100_FOLDER = "cifar-100-python"


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    """CIFAR's row layout: [n, 3072] uint8, channel planes one after another."""
    return rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)


def write_cifar10(root: Path, per_batch: int = 40, n_test: int = 30, seed: int = 0) -> Path:
    """`root/cifar-10-batches-py/` with 5 data batches, a test batch and batches.meta."""
    rng = np.random.default_rng(seed)
    folder = root / CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        labels = rng.integers(0, 10, per_batch).tolist()
        _dump(folder / f"data_batch_{i}", {"data": _images(rng, per_batch), "labels": labels})
    _dump(
        folder / "test_batch",
        {"data": _images(rng, n_test), "labels": rng.integers(0, 10, n_test).tolist()},
    )
    _dump(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    return root


def write_cifar100(root: Path, n_train: int = 200, n_test: int = 30, seed: int = 0) -> Path:
    """`root/cifar-100-python/` with train, test and meta (fine and coarse labels)."""
    rng = np.random.default_rng(seed)
    folder = root / CIFAR100_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        _dump(
            folder / name,
            {
                "data": _images(rng, n),
                "fine_labels": rng.integers(0, 100, n).tolist(),
                "coarse_labels": rng.integers(0, 20, n).tolist(),
            },
        )
    _dump(
        folder / "meta",
        {
            "fine_label_names": [f"fine{i}" for i in range(100)],
            "coarse_label_names": [f"coarse{i}" for i in range(20)],
        },
    )
    return root


AG_TOPICS = ("world", "sports", "business", "science")
SST2_MOODS = {0: "bad dull boring awful", 1: "good great moving fun"}
WORDS = {
    0: "government minister election war talks president",
    1: "game team season coach win match",
    2: "stocks market shares profit company oil",
    3: "software computer internet space research microsoft",
}


def _sentence(rng: np.random.Generator, label: int, n_words: int = 8) -> str:
    words = WORDS[label].split()
    return " ".join(rng.choice(words, n_words).tolist()) + " ."


def write_ag_news(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """AG News as the hub data set's columns (`text`, `label` 0-3) in train.csv / test.csv."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        with open(folder / f"{name}.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            for _ in range(n):
                label = int(rng.integers(0, 4))
                writer.writerow([_sentence(rng, label), label])
    return folder


def write_sst2(folder: Path, n_train: int = 60, n_val: int = 20, seed: int = 0) -> Path:
    """GLUE SST-2 as the hub's columns (`sentence`, `label`, `idx`) in JSON-lines files.

    The test file has label -1 everywhere, as GLUE's unlabeled test split.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("validation", n_val), ("test", 10)):
        with open(folder / f"{name}.jsonl", "w") as fh:
            for i in range(n):
                label = int(rng.integers(0, 2))
                words = " ".join(rng.choice(SST2_MOODS[label].split(), 6).tolist())
                row = {"sentence": f"a {words} film", "label": label if name != "test" else -1}
                fh.write(json.dumps({**row, "idx": i}) + "\n")
    return folder


def write_vocab(path: Path) -> Path:
    """A tiny WordPiece vocabulary covering the fixture sentences."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    texts = [*WORDS.values(), *SST2_MOODS.values(), "a film ."]
    words = sorted({w for text in texts for w in text.split()})
    path.write_text("\n".join(specials + words + ["##s", "##ing"]) + "\n")
    return path


def tiny_bert_config(vocab_size: int, layers: int = 4) -> dict:
    """BertConfig overrides for a model small enough to train in a test."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
    }


def tiny_bert_sources(tmp: Path) -> dict[str, Any]:
    """A local 'pretrained' tiny BERT folder and a vocab.txt, as bert_4 model options."""
    from transformers import BertConfig, BertModel

    (tmp / "vocab").mkdir()
    vocab = write_vocab(tmp / "vocab" / "vocab.txt")
    n_tokens = len(vocab.read_text().split())
    BertModel(BertConfig(**tiny_bert_config(n_tokens))).save_pretrained(tmp / "pretrained")
    return {"pretrained": str(tmp / "pretrained"), "tokenizer": str(vocab), "max_length": 24,
            "exit_layers": [1, 2, 3, 4]}  # fmt: skip
