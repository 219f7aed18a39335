"""`eenet predict`: real early-exit inference with a trained model and a fitted scheduler.

Reads a prepared split (`--data DIR --split test`) or an input file (`--input x.npy`, or an
`.npz` with `x` and optionally `y`); prints a summary, or JSON with per-sample predictions and
exit indices (`--json`, `--out FILE`).
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eenet.atomic import write_json
from eenet.errors import ArtifactError, ConfigError
from eenet.models.base import MultiExitModel


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="early-exit predictions with a trained model and a fitted scheduler",
        description=__doc__,
    )
    parser.add_argument("--model", required=True, help="trained model dir (artifacts/model)")
    parser.add_argument("--policy", required=True, help="fitted scheduler dir")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="prepared data dir (data/<dataset>)")
    source.add_argument("--input", help=".npy inputs, or .npz with 'x' (and optional 'y')")
    parser.add_argument("--split", default="test", help="split of --data (default: test)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per batch")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--json", action="store_true", help="print per-sample results as JSON")
    parser.add_argument("--out", help="write per-sample results as JSON to this file")
    parser.set_defaults(func=handle)


def read_input_file(path: str | Path, model: MultiExitModel) -> tuple[Any, np.ndarray | None]:
    """Inputs shaped as the model takes them (a channel axis is added if missing), labels."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"--input: {path}: file not found")
    labels = None
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                if "x" not in npz.files:
                    raise ArtifactError(
                        f"--input: {path}: expected an array 'x', found {npz.files}"
                    )
                x = npz["x"]
                labels = npz["y"].astype(np.int64) if "y" in npz.files else None
        elif path.suffix.lower() == ".npy":
            x = np.load(path, allow_pickle=False)
        else:
            raise ConfigError(f"--input: {path}: expected a .npy or .npz file")
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactError(f"--input: {path}: not a readable numpy file ({exc})") from None
    if x.ndim < 1 or x.shape[0] < 1:
        raise ArtifactError(f"--input: {path}: no samples (shape {x.shape})")
    if labels is not None and labels.shape != (x.shape[0],):
        raise ArtifactError(f"--input: {path}: 'y' must have one label per sample")
    if x.dtype.kind in "US":  # texts: the model's collate tokenises them
        return model.collate([str(t) for t in x]), labels
    inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    example = model.example_inputs(1)
    if isinstance(example, torch.Tensor):
        if inputs.ndim == example.ndim - 1:
            inputs = inputs.unsqueeze(1)
        if inputs.shape[1:] != example.shape[1:]:
            raise ArtifactError(
                f"--input: {path}: samples of shape {tuple(x.shape[1:])} do not fit the model "
                f"(expects {tuple(example.shape[1:])})"
            )
    return inputs, labels


def _batches(inputs: torch.Tensor, labels: np.ndarray | None, size: int):
    n = inputs.shape[0]
    for i in range(0, n, size):
        y = labels[i:i + size] if labels is not None else np.full(min(size, n - i), -1)
        yield inputs[i:i + size], y


def check_policy_dir(path: str) -> Path:
    """--policy names one fitted scheduler; a folder of them (or of one method's) is a
    one-line error that names the folders to choose from."""
    from eenet.schedulers.base import POLICY_FILE
    from eenet.sweep import INDEX_FILE, read_index

    folder = Path(path)
    if (folder / POLICY_FILE).is_file() or not folder.is_dir():
        return folder
    if (folder / INDEX_FILE).is_file():
        entries = read_index(folder)["entries"]
        if entries:
            first = entries[0]
            raise ConfigError(
                f"--policy: {folder} is a folder of {len(entries)} fitted schedulers; give one "
                f"of them, e.g. {folder / first['dir']} ({first['method']} at "
                f"{float(first['budget_ms']):.4g} ms/sample; all are listed in "
                f"{folder / INDEX_FILE})")
    inside = sorted(p.parent.name for p in folder.glob(f"*/{POLICY_FILE}"))
    if inside:
        raise ConfigError(f"--policy: {folder} holds {len(inside)} fitted schedulers in "
                          f"subfolders ({', '.join(inside)}); give one of them")
    return folder


def handle(args: argparse.Namespace) -> int:
    from eenet.data.prepared import PreparedDataset, read_meta
    from eenet.models.artifact import load_trained, read_trained_config
    from eenet.runtime import EarlyExitPredictor
    from eenet.schedulers import load_policy

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size: must be >= 1, got {args.batch_size}")
    model = load_trained(args.model)
    policy = load_policy(check_policy_dir(args.policy))
    predictor = EarlyExitPredictor(model, policy, device=args.device)
    if args.data:
        classes = int(read_trained_config(args.model)["num_classes"])
        if int(read_meta(args.data).get("num_classes", classes)) != classes:
            raise ArtifactError(f"--data: {args.data} does not have the model's {classes} classes")
        result = predictor.predict_dataset(PreparedDataset(args.data, args.split), args.batch_size)
        has_labels = True
    else:
        inputs, labels = read_input_file(args.input, model)
        if not isinstance(inputs, torch.Tensor):
            result = predictor.predict(inputs)
        else:
            result = predictor.predict_batches(_batches(inputs, labels, args.batch_size))
        has_labels = labels is not None
    fractions = result.exit_fractions(model.n_exits)
    summary = {
        "samples": result.n_samples,
        "method": policy.method,
        "budget_ms": policy.budget_ms,
        "exit_fractions": fractions.tolist(),
        "accuracy": result.accuracy() if has_labels else None,
        "measured_ms_per_sample": 1000.0 * result.seconds / result.n_samples,
        "batch_size": args.batch_size,
        "device": str(predictor.device),
    }
    report = {
        "summary": summary,
        "predictions": result.predictions.tolist(),
        "exits": result.exits.tolist(),
    }
    if args.out:
        write_json(args.out, report)
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        accuracy = f", accuracy {summary['accuracy']:.2f} %" if has_labels else ""
        print(
            f"{result.n_samples} samples, {policy.method} @ {policy.budget_ms:g} ms: exit "
            f"fractions {np.round(fractions, 3).tolist()}{accuracy}, "
            f"{summary['measured_ms_per_sample']:.4f} ms/sample measured on {predictor.device}"
        )
    return 0
