"""`eenet predict`: real early-exit inference with a trained model and a fitted scheduler.

Reads a prepared split (`--data DIR --split test`) or an input file (`--input x.npy`, or an
`.npz` with `x` and optionally integer labels `y`); prints a summary, or JSON with per-sample
predictions and exit indices (`--json`, `--out FILE`). Runs on `--threads` torch CPU threads
(default 1, as the latency profile), so the measured ms/sample compares with the policy's plan.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from eenet.atomic import nearest_existing, write_json
from eenet.budget import DEFAULT_COST_UNIT
from eenet.cli import GivenOnce
from eenet.config import THREADS_MAX, check_integer
from eenet.data.prepared import TEXT_ARRAYS, split_inputs
from eenet.devices import num_threads
from eenet.errors import NUMPY_LOAD_ERRORS, ArtifactError, ConfigError, naming, numpy_load_problem
from eenet.models.base import (
    MultiExitModel,
    check_data_fits,
    input_sample_shape,
    sample_misfit,
)
from eenet.outputs import checked_labels

if TYPE_CHECKING:
    from eenet.runtime import EarlyExitPredictor, EarlyExitResult
    from eenet.schedulers.base import FittedPolicy

# The latency profile's default thread count (params.yaml profile.threads, `profile_model`):
# predictions timed on as many threads as the plan was profiled on compare with it.
DEFAULT_THREADS = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="early-exit predictions with a trained model and a fitted scheduler",
        description=__doc__,
    )
    parser.add_argument("--model", required=True, action=GivenOnce,
                        help="trained model dir (artifacts/model)")
    parser.add_argument("--policy", required=True, action=GivenOnce, help="fitted scheduler dir")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", action=GivenOnce, help="prepared data dir (data/<dataset>)")
    source.add_argument("--input", action=GivenOnce,
                        help=".npy inputs, or .npz with 'x' (and optional 'y')")
    parser.add_argument("--split", default="test", action=GivenOnce,
                        help="split of --data (default: test)")
    parser.add_argument("--batch-size", type=int, default=64, action=GivenOnce,
                        help="samples per batch (default 64; the plan was profiled at the "
                             "profile's batch size, 1 by default)")
    parser.add_argument("--device", default="auto", action=GivenOnce,
                        help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, metavar="N", action=GivenOnce,
        help=f"torch CPU threads for the run, 1 to {THREADS_MAX} (default: {DEFAULT_THREADS}, "
             "the latency profile's default, so the measured ms/sample compares with the plan)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print per-sample results as JSON")
    parser.add_argument("--out", action=GivenOnce,
                        help="write per-sample results as JSON to this file (missing folders "
                             "are created)")
    parser.set_defaults(func=handle)


def read_input_file(
    path: str | Path, model: MultiExitModel, num_classes: int,
    normalisation: dict[str, Any] | None = None,
) -> tuple[torch.Tensor | list[str], np.ndarray | None]:
    """Inputs as the model takes them (samples shaped as its example inputs, a missing channel
    axis added; uint8 pixels of an image model normalised by its `normalisation`; or texts,
    for a model that tokenises them in `collate`), and labels (integers in [0, `num_classes`),
    or None)."""
    path = Path(path)
    x, labels = _load_arrays(path)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ArtifactError(f"--input: {path}: no samples (shape {x.shape})")
    sample = input_sample_shape(model)
    takes_texts = sample is None
    if x.dtype == np.uint8 and sample is not None and len(sample) == 3:
        return (_normalised_pixels(x, sample, normalisation, path),
                _checked_y(labels, x.shape[0], num_classes, path))
    # texts are str / bytes; numbers bool, integer or float (complex would lose its imaginary
    # part in the cast to float32; structured records and dates are no model inputs)
    # texts decoded from a prepared split are an object array of str (never unpickled)
    if x.dtype.kind not in ("USO" if takes_texts else "biuf"):
        wanted = ("texts (an array of strings)" if takes_texts
                  else "numeric arrays (bool, integer or float)")
        raise ArtifactError(f"--input: {path}: the model takes {wanted}, got dtype {x.dtype}")
    if takes_texts:
        return [str(t) for t in x], _checked_y(labels, x.shape[0], num_classes, path)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range: inf, refused below
        values = np.ascontiguousarray(x, dtype=np.float32)
    bad = values.size - int(np.count_nonzero(np.isfinite(values)))
    if bad:  # NaN logits score below every threshold: such samples left, garbage, at the last
        raise ArtifactError(f"--input: {path}: {bad} value{'s' if bad != 1 else ''} not finite "
                            f"as float32 (NaN, inf, or beyond +-3.4e38); inputs must be finite")
    if normalisation is not None:
        note = raw_pixels_note(values)
        if note:
            print(f"note: --input: {path}: {note}", file=sys.stderr)
    inputs = torch.from_numpy(values)
    if inputs.ndim == len(sample):  # no channel axis
        inputs = inputs.unsqueeze(1)
    if tuple(inputs.shape[1:]) != sample:
        # one sample without its sample axis (without its channel axis too, for one channel)
        if tuple(x.shape) == sample or sample[0] == 1 and tuple(x.shape) == sample[1:]:
            raise ArtifactError(f"--input: {path}: 'x' of shape {tuple(x.shape)} is one sample "
                                f"without the sample axis; give 'x' the shape {(1, *x.shape)}")
        raise ArtifactError(f"--input: {path}: {sample_misfit(x.shape[1:], sample)}")
    return inputs, _checked_y(labels, x.shape[0], num_classes, path)


# float image inputs beyond this: likely raw pixels, not normalised ones (CIFAR's normalised
# values lie within about -2.5 to 2.8)
RAW_PIXEL_HINT = 20.0
RAW_PIXEL_SAMPLES = 8


def raw_pixels_note(values: np.ndarray) -> str | None:
    """What float images that look unnormalised look like (None: as normalised ones, about -3
    to 3 and below 0 somewhere, the training mean being 0; a few bright images may have no
    value below 0, so that is asked about from `RAW_PIXEL_SAMPLES` images on)."""
    largest = float(np.abs(values).max())
    if largest > RAW_PIXEL_HINT:
        return (f"values up to {largest:g}; the model takes normalised images (about -3 to 3): "
                "raw 0-255 pixels give it as uint8, which is normalised as its training data")
    if len(values) >= RAW_PIXEL_SAMPLES and float(values.min()) >= 0.0:
        return ("no value below 0; the model takes normalised images (its training data's "
                "mean 0 per channel): pixels scaled to [0, 1]? give the raw pixels as uint8, "
                "which is normalised as its training data")
    return None


def _normalised_pixels(x: np.ndarray, sample: tuple[int, ...],
                       normalisation: dict[str, Any] | None, path: Path) -> torch.Tensor:
    """uint8 images (NHWC as the prepared splits hold them, or NCHW) of an image model as its
    inputs: scaled and normalised as its training data (the model's `input_normalisation`)."""
    from eenet.data.prepared import channel_tensors, normalise_pixels

    channels, height, width = sample
    if normalisation is None:
        raise ArtifactError(f"--input: {path}: uint8 pixels, but the model records no "
                            "input_normalisation (trained before it was recorded): give float "
                            "inputs normalised as its training data (its meta.json's mean/std)")
    if tuple(x.shape[1:]) == (channels, height, width):
        x = x.transpose(0, 2, 3, 1)
    elif tuple(x.shape[1:]) != (height, width, channels):
        raise ArtifactError(f"--input: {path}: uint8 images of shape {tuple(x.shape[1:])}; the "
                            f"model takes {(height, width, channels)} (HWC) or "
                            f"{(channels, height, width)} (CHW) per sample")
    return normalise_pixels(x, *channel_tensors(normalisation["mean"], normalisation["std"]))


def _checked_y(labels: np.ndarray | None, n_samples: int, num_classes: int,
               path: Path) -> np.ndarray | None:
    """The labels 'y' of an input file, checked once its samples are (a lone sample's shape
    hint comes before 'y' disagreeing with a count read off the wrong axis)."""
    if labels is None:
        return None
    return checked_labels(labels, n_samples, num_classes, f"--input: {path}", "'y'")


def _load_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """`x` and `y` (None when absent) of a .npy (x only) or .npz file, without pickles; read
    as what the file holds (an .npz archive named .npy, or an array named .npz, reads too)."""
    if path.is_dir():
        raise ConfigError(f"--input: {path} is a folder; give a .npy or .npz file")
    if not path.is_file():
        raise ArtifactError(f"--input: {path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ConfigError(f"--input: {path}: expected a .npy or .npz file")
    try:
        loaded = np.load(path, allow_pickle=False)  # what the file holds, whatever its suffix
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded, None
        with loaded as npz:
            if "x" not in npz.files and not set(npz.files) >= TEXT_ARRAYS:
                raise ArtifactError(f"--input: {path}: expected an array 'x', found {npz.files}")
            # a prepared text split holds its texts as UTF-8 bytes and offsets
            return split_inputs(npz, f"--input: {path}"), npz["y"] if "y" in npz.files else None
    except NUMPY_LOAD_ERRORS as exc:
        raise ArtifactError(f"--input: {path}: not a readable numpy file "
                            f"({numpy_load_problem(exc)})") from None


def _batches(model: MultiExitModel, inputs: torch.Tensor | list[str],
             labels: np.ndarray | None, size: int) -> Iterator[tuple[Any, np.ndarray]]:
    """(inputs, labels) batches of `size` samples, texts tokenised by the model's `collate`;
    labels -1 when unknown."""
    n = len(inputs)
    for i in range(0, n, size):
        y = labels[i:i + size] if labels is not None else np.full(min(size, n - i), -1)
        part = inputs[i:i + size]
        yield (model.collate(part) if isinstance(part, list) else part), y


def check_policy_dir(path: str) -> Path:
    """--policy names one fitted scheduler (its folder, or its policy.json); a folder of them
    (or of one method's) is a one-line error that names the folders to choose from."""
    from eenet.schedulers.policy_file import POLICY_FILE, policy_folder
    from eenet.sweep import INDEX_FILE, read_index

    folder = policy_folder(path)  # the policy's file names its folder
    if folder.is_file():
        raise ConfigError(f"--policy: {folder} is a file; give a fitted scheduler's folder or "
                          f"its {POLICY_FILE}")
    if (folder / POLICY_FILE).is_file() or not folder.is_dir():
        return folder
    if (folder / INDEX_FILE).is_file():
        index = read_index(folder, headline=False)
        entries, unit = index["entries"], index.get("cost_unit", DEFAULT_COST_UNIT)
        if entries:
            first = entries[0]
            raise ConfigError(
                f"--policy: {folder} is a folder of {len(entries)} fitted schedulers; give one "
                f"of them, e.g. {folder / first['dir']} ({first['method']} at "
                f"{float(first['budget_ms']):.4g} {unit}/sample; all are listed in "
                f"{folder / INDEX_FILE})")
    inside = sorted(p.parent.name for p in folder.glob(f"*/{POLICY_FILE}"))
    if inside:
        many = (f"{len(inside)} fitted schedulers in subfolders" if len(inside) > 1
                else "a fitted scheduler in a subfolder")
        raise ConfigError(f"--policy: {folder} holds {many} ({', '.join(inside)}); give "
                          f"{'one of them' if len(inside) > 1 else 'that folder'}")
    return folder


def index_entry(folder: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The schedulers folder's index (`index.json`) that lists `folder`, and its entry there;
    None where no readable index lists it."""
    from eenet.sweep import INDEX_FILE, read_index

    resolved = folder.resolve()
    for root in (folder.parent, folder.parent.parent):
        if not (root / INDEX_FILE).is_file():
            continue
        try:
            index = read_index(root, headline=False)
        except ArtifactError:
            return None  # an unreadable index is only context here, not the input
        for entry in index["entries"]:
            if (root / entry["dir"]).resolve() == resolved:
                return index, entry
    return None


def index_classes(folder: Path) -> int | None:
    """`n_classes` recorded by the schedulers folder (`index.json`) that lists `folder`."""
    listed = index_entry(folder)
    classes = None if listed is None else listed[0].get("n_classes")
    return classes if isinstance(classes, int) else None


def asked_budget(folder: Path, policy: FittedPolicy) -> float | None:
    """The budget the schedulers folder's index says was asked for `folder`'s policy, where
    it differs from the one the policy was fitted at (below the first exit's cost, the fit
    spends that cost)."""
    listed = index_entry(folder)
    if listed is None or "fitted_ms" not in listed[1]:
        return None
    asked = float(listed[1]["budget_ms"])
    return asked if asked != policy.budget_ms else None


def weights_classes(policy: FittedPolicy, num_classes: int) -> int | None:
    """Classes an EENet policy's networks take, where their inputs show them (`top_probs` = 0:
    every class's probability is a feature of exit 0)."""
    from eenet.schedulers.eenet.features import exit_features
    from eenet.schedulers.eenet.scorer import member_prefixes, recorded_feature_options

    weights = getattr(policy, "weights", None)
    if not weights or not member_prefixes(weights):
        return None
    options = recorded_feature_options(weights)
    first = weights.get(f"{member_prefixes(weights)[0]}g0.w1")
    if options[0] != 0 or first is None:
        return None
    extra = exit_features(np.zeros((1, num_classes)), None, *options).shape[1] - num_classes
    return int(np.shape(first)[0]) - extra


def check_policy_fits(policy: FittedPolicy, folder: Path, n_exits: int, num_classes: int,
                      model_dir: str) -> None:
    """A policy fitted on another model's outputs (other exits or classes) or planned with
    another architecture's costs is a one-line ArtifactError naming --policy, before any
    inference; one planned for other weights of the same architecture gets a note."""
    from eenet.models.artifact import other_weights
    from eenet.outputs import log_softmax64
    from eenet.runtime import planned_for_other_model
    from eenet.sweep import decide_checked

    with naming(f"--policy: {folder}"):
        policy.check_fits(n_exits, num_classes, "the model has",
                          lambda: index_classes(folder) or weights_classes(policy, num_classes))
    problem = planned_for_other_model(policy, model_dir)
    if problem:
        raise ArtifactError(f"--policy: {folder}: {problem}")
    if other_weights(policy.model, model_dir):
        print(f"note: --policy {folder} was fitted for other weights of this model (retrained "
              f"since?): its thresholds were set on that model's exit outputs, so its exit "
              f"fractions and cost may differ from its plan; refit it for {model_dir}",
              file=sys.stderr)
    probe = np.random.default_rng(0).standard_normal((n_exits, 2, num_classes))
    with naming("--policy"):  # anything else that does not fit: decide on two samples of it
        decide_checked(policy, log_softmax64(probe.astype(np.float32)), folder, {"dir": "."})


def check_out_path(path: str | None) -> Path | None:
    """--out names a file whose nearest existing ancestor is a writable folder (checked before
    any work; missing folders are created when writing)."""
    if path is None:
        return None
    out = Path(path)
    if out.is_dir() or path.endswith(tuple(filter(None, (os.sep, os.altsep)))):
        raise ConfigError(f"--out: {path} names a folder; give a file path, e.g. "
                          f"{out / 'predictions.json'}")
    if out.exists() and not out.is_file():  # the atomic rename would replace the node itself
        raise ConfigError(f"--out: {path} is not a regular file (a device, pipe or socket); "
                          f"give a file path")
    parent = nearest_existing(out)
    if not parent.is_dir():
        raise ConfigError(f"--out: {parent} is a file, not a folder; give a file path in a "
                          "folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out: cannot write in {parent} (permission denied)")
    return out


def check_args(args: argparse.Namespace) -> Path | None:
    """The numeric flags' minimums, --split, --device and --out (each error names its flag);
    returns the --out path."""
    from eenet.data.prepared import SPLITS
    from eenet.devices import resolve_device

    if args.data and args.split not in SPLITS:
        raise ConfigError(f"--split: unknown value {args.split!r}; allowed: {', '.join(SPLITS)}")
    resolve_device(args.device, "--device")
    check_integer("--batch-size", args.batch_size, 1)
    check_integer("--threads", args.threads, 1, THREADS_MAX)
    out = check_out_path(args.out)
    if out is not None:
        check_out_apart(out, args)
    return out


def check_out_apart(out: Path, args: argparse.Namespace) -> None:
    """--out is none of what the command reads: not the --input file (it was replaced by the
    report without a word), nor inside the --model, --policy or --data folder (an artifact
    with a foreign file in it)."""
    # the path the report's rename replaces: a link at --out itself is replaced, not followed
    # (os.path.realpath: Path.resolve raised on a symlink loop)
    target = Path(os.path.realpath(out.parent)) / out.name
    if args.input and target == Path(os.path.realpath(args.input)):
        raise ConfigError(f"--out: {args.out} is the --input file; write the report elsewhere")
    for flag in ("model", "policy", "data"):
        given = getattr(args, flag)
        folder = Path(os.path.realpath(given)) if given else None
        if folder is not None and folder.is_file():  # --policy may name the policy file
            folder = folder.parent
        if folder is not None and folder in target.parents:
            raise ConfigError(f"--out: {args.out} is inside the --{flag} folder {given}; "
                              "write the report elsewhere")


def planned_ms(policy: FittedPolicy, exits: np.ndarray) -> float | None:
    """Mean ms/sample (or the policy's cost unit) the policy's plan charges for these exits
    (None: saved without it)."""
    if not policy.planned_costs or not exits.size:
        return None
    return float(np.asarray(policy.planned_costs, dtype=np.float64)[exits].mean())


def costs_profiled_at(folder: Path) -> dict[str, Any] | None:
    """The device, batch size and threads the policy's costs were profiled at, as the
    schedulers folder's index records them (None: no index, or costs of an imported CSV)."""
    listed = index_entry(folder)
    recorded = None if listed is None else listed[0].get("costs_profiled_at")
    return recorded if isinstance(recorded, dict) and recorded else None


def profiled_otherwise(summary: dict[str, Any]) -> str:
    """', profiled at batch 1, 4 threads' where the run's batch, threads or device differ
    from those the plan's costs were profiled at (its ms then do not compare); else ''."""
    at = summary.get("costs_profiled_at") or {}
    settings = []
    if at.get("batch_size") not in (None, summary["batch_size"]):
        settings.append(f"batch {at['batch_size']}")
    if at.get("threads") not in (None, summary["threads"]):
        settings.append(f"{at['threads']} thread{'s' if at['threads'] != 1 else ''}")
    where = ""
    if at.get("device") not in (None, str(summary["device"]).split(":")[0]):
        where = f" on {at['device']}"
    if not settings and not where:
        return ""
    return f", profiled{' at ' + ', '.join(settings) if settings else ''}{where}"


def write_report(out: Path, report: dict[str, Any]) -> None:
    """Atomically write the JSON report; an OS refusal is a one-line error naming --out."""
    try:
        write_json(out, report)
    except OSError as exc:
        raise ArtifactError(f"--out: cannot write {out} ({exc.strerror or exc})") from None


def handle(args: argparse.Namespace) -> int:
    from eenet.models.artifact import load_trained, read_trained_config
    from eenet.runtime import EarlyExitPredictor
    from eenet.schedulers import load_policy

    out = check_args(args)
    with naming("--model"):  # a missing or broken artifact: the error names the flag
        model = load_trained(args.model)
        classes = int(read_trained_config(args.model)["num_classes"])
    with naming("--policy"):
        folder = check_policy_dir(args.policy)
        policy = load_policy(folder)
    check_policy_fits(policy, folder, model.n_exits, classes, args.model)
    predictor = EarlyExitPredictor(model, policy, device=args.device)
    result, has_labels, threads = run(args, predictor, classes)
    fractions = result.exit_fractions(model.n_exits)
    summary = {
        "samples": result.n_samples,
        "method": policy.method,
        "budget_ms": policy.budget_ms,
        # asked below the first exit's cost: the fit spends that cost
        "asked_budget_ms": asked_budget(folder, policy),
        "cost_unit": policy.cost_unit,
        "exit_fractions": fractions.tolist(),
        "accuracy": result.accuracy() if has_labels else None,
        "measured_ms_per_sample": 1000.0 * result.seconds / result.n_samples,
        # the median call's: the first call runs cold (caches, torch's first dispatch)
        "median_call_ms_per_sample": float(np.median(result.call_ms_per_sample())),
        "calls": len(result.call_ms_per_sample()),
        "planned_ms_per_sample": planned_ms(policy, result.exits),
        # how the costs it was planned with were measured (None: not recorded)
        "costs_profiled_at": costs_profiled_at(folder),
        # the batch it ran at: fewer samples than --batch-size ran as one smaller batch
        "batch_size": min(args.batch_size, result.n_samples),
        "threads": threads,
        "device": str(predictor.device),
    }
    report = {
        "summary": summary,
        "predictions": result.predictions.tolist(),
        "exits": result.exits.tolist(),
    }
    if out is not None:
        write_report(out, report)
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(summary_line(summary, fractions))
    return 0


def run(args: argparse.Namespace, predictor: EarlyExitPredictor,
        classes: int) -> tuple[EarlyExitResult, bool, int]:
    """Early exit over --data or --input on --threads torch threads: the result, whether the
    labels are known, and the thread count it ran on."""
    from eenet.data.prepared import PreparedDataset, read_meta
    from eenet.models.artifact import read_trained_config

    model = predictor.model
    if args.data:
        with naming("--data"):
            if int(read_meta(args.data).get("num_classes", classes)) != classes:
                raise ArtifactError(f"{args.data} does not have the model's {classes} classes")
            dataset = PreparedDataset(args.data, args.split)
        check_data_fits(model, dataset, f"--data: {args.data}")
        predict = partial(predictor.predict_dataset, dataset, args.batch_size, "--batch-size")
        labelled = True
    else:
        inputs, labels = read_input_file(args.input, model, classes,
                                         read_trained_config(args.model).get(
                                             "input_normalisation"))
        batches = _batches(model, inputs, labels, args.batch_size)
        predict = partial(predictor.predict_batches, batches, ("--batch-size", args.batch_size))
        labelled = labels is not None
    with num_threads(args.threads, "--threads"):
        return predict(), labelled, torch.get_num_threads()


def summary_line(summary: dict[str, Any], fractions: np.ndarray) -> str:
    """The one-line text summary."""
    accuracy = summary["accuracy"]
    planned = summary["planned_ms_per_sample"]
    threads = summary["threads"]
    unit = summary["cost_unit"]
    # a plan in ms compares with the measured time; one in another unit (MFLOPs) does not;
    # a policy written without its planned costs has none to show
    if planned is None:
        plan = ""
    elif unit == DEFAULT_COST_UNIT:
        plan = (f"; planned {planned:.4f} by the costs it was fitted with"
                f"{profiled_otherwise(summary)}")
    else:
        plan = f"; planned {planned:.4g} {unit}/sample"
    median = ("" if summary["calls"] == 1 else
              f" (median of {summary['calls']} calls {summary['median_call_ms_per_sample']:.4f})")
    asked = summary["asked_budget_ms"]
    below = "" if asked is None else f" (asked {asked:g}, below the first exit's cost)"
    return (
        f"{summary['samples']} sample{'s' if summary['samples'] != 1 else ''}, "
        f"{summary['method']} @ {summary['budget_ms']:g} {unit}{below}: "
        "exit "
        f"fractions {np.round(fractions, 3).tolist()}"
        f"{'' if accuracy is None else f', accuracy {accuracy:.2f} %'}, "
        f"{summary['measured_ms_per_sample']:.4f} ms/sample measured{median} on "
        f"{summary['device']} "
        f"(batch {summary['batch_size']}, {threads} thread{'s' if threads != 1 else ''}"
        f"{plan})"
    )
