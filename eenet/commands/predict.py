"""`eenet predict`: real early-exit inference with a trained model and a fitted scheduler.

Reads a prepared split (`--data DIR --split test`) or an input file (`--input x.npy`, or an
`.npz` with `x` and optionally integer labels `y`); prints a summary, or JSON with per-sample
predictions and exit indices (`--json`, `--out FILE`). Runs on `--threads` torch CPU threads
(default 1, as the latency profile); at the profile's batch size (`--batch-size 1` by
default settings) the measured ms/sample compares with the policy's plan, at a larger batch
(the default 64) it is the batched speed, which the plan does not give.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eenet.atomic import nearest_existing
from eenet.budget import DEFAULT_COST_UNIT
from eenet.checks import THREADS_MAX, check_integer
from eenet.cli import GivenOnce
from eenet.commands.predict_policy import (
    asked_budget,
    check_policy_dir,
    check_policy_fits,
    costs_profiled_at,
    unrecorded_profile_note,
)
from eenet.errors import ArtifactError, ConfigError, naming
from eenet.jsonio import write_json
from eenet.rounding import shown_fraction
from eenet.time_units import in_ms

if TYPE_CHECKING:
    from eenet.runtime import EarlyExitPredictor, EarlyExitResult
    from eenet.schedulers.base import FittedPolicy

# The latency profile's default thread count (params.yaml profile.threads, `profile_model`):
# predictions timed on as many threads as the plan was profiled on compare with it.
DEFAULT_THREADS = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `eenet predict` and its options."""
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
                        help=".npy inputs, or .npz with 'x' (and optional 'y'); for a text "
                             "model a 1-D array of strings (str, or UTF-8 bytes)")
    parser.add_argument("--split", action=GivenOnce,
                        help="split of --data (default: test)")
    parser.add_argument("--batch-size", type=int, default=64, action=GivenOnce,
                        help="samples per batch (default 64; the plan was profiled at the "
                             "profile's batch size, 1 by default)")
    parser.add_argument("--device", default="auto", action=GivenOnce,
                        help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, metavar="N", action=GivenOnce,
        help=f"torch CPU threads for the run, 0 (torch's default) to {THREADS_MAX} (default: "
             f"{DEFAULT_THREADS}, "
             "the latency profile's default: at its batch size the measured ms/sample compares "
             "with the plan)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print per-sample results as JSON")
    parser.add_argument("--out", action=GivenOnce,
                        help="write per-sample results as JSON to this file (missing folders "
                             "are created)")
    parser.set_defaults(func=handle)


def check_out_path(path: str | None) -> Path | None:
    """--out names a file whose nearest existing ancestor is a writable folder (checked before
    any work; missing folders are created when writing)."""
    if path is None:
        return None
    if not path.strip():
        raise ConfigError(f"--out: expected a file path, got {path!r}")
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

    if args.input and args.split is not None:  # it was ignored, even a name of no split
        raise ConfigError("--split: chooses a split of --data; --input is read whole")
    if args.data and args.split is None:
        args.split = "test"
    if args.data and args.split not in SPLITS:
        raise ConfigError(f"--split: unknown value {args.split!r}; allowed: {', '.join(SPLITS)}")
    resolve_device(args.device, "--device")
    check_integer("--batch-size", args.batch_size, 1)
    check_integer("--threads", args.threads, 0, THREADS_MAX)
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


def planned_cost(policy: FittedPolicy, exits: np.ndarray) -> float | None:
    """Mean cost per sample, in the policy's cost unit (ms unless `eenet schedule --cost-unit`
    said otherwise), the policy's plan charges for these exits (None: saved without it)."""
    if not policy.planned_costs or not exits.size:
        return None
    return float(np.asarray(policy.planned_costs, dtype=np.float64)[exits].mean())


def profiled_otherwise(summary: dict[str, Any]) -> str:
    """', profiled at batch 1, 4 threads' where the run's batch, threads or device differ
    from those the plan's costs were profiled at (its ms then do not compare); else ''."""
    from eenet.devices import same_device
    at = summary.get("costs_profiled_at") or {}
    settings = []
    if at.get("batch_size") not in (None, summary["batch_size"]):
        settings.append(f"batch {at['batch_size']}")
    if at.get("threads") not in (None, summary["threads"]):
        settings.append(f"{at['threads']} thread{'s' if at['threads'] != 1 else ''}")
    where = ""
    if at.get("device") is not None and not same_device(at["device"], summary["device"]):
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
    """Run a trained model with a fitted policy (real early exit); the exit status."""
    from eenet.models.artifact import load_trained, read_trained_config
    from eenet.runtime import EarlyExitPredictor, robust_ms_per_sample
    from eenet.schedulers import load_policy

    out = check_args(args)
    with naming("--model"):  # a missing or broken artifact: the error names the flag
        model = load_trained(args.model)
        classes = int(read_trained_config(args.model)["num_classes"])
    with naming("--policy"):
        folder = check_policy_dir(args.policy)
        policy = load_policy(folder)
    check_policy_fits(policy, folder, model.n_exits, classes, args.model)
    note = unrecorded_profile_note(policy, folder)
    if note:
        print(note, file=sys.stderr)
    predictor = EarlyExitPredictor(model, policy, device=args.device)
    result, has_labels, threads = run(args, predictor, classes)
    fractions = result.exit_fractions(model.n_exits)
    unit = policy.cost_unit
    asked = asked_budget(folder, policy)  # below the first exit's cost: the fit spends that
    planned = planned_cost(policy, result.exits)
    summary = {
        "samples": result.n_samples,
        "method": policy.method,
        # the budget and the plan in the policy's cost unit, and in ms where that is a time
        # (null for MFLOPs): every field named _ms holds ms, to compare with the measured ms
        "cost_unit": unit,
        "budget": policy.budget_ms,
        "budget_ms": in_ms(policy.budget_ms, unit),
        "asked_budget": asked,
        "asked_budget_ms": in_ms(asked, unit),
        "exit_fractions": fractions.tolist(),
        "accuracy": result.accuracy() if has_labels else None,
        "measured_ms_per_sample": 1000.0 * result.seconds / result.n_samples,
        # robust to the cold first call (caches, torch's first dispatch) and to load: the
        # median call's at batch > 1, the per-exit medians weighted by the exits at batch 1
        "robust_ms_per_sample": robust_ms_per_sample(result.call_ms_per_sample(), result.exits,
                                                     min(args.batch_size, result.n_samples)),
        "calls": len(result.call_ms_per_sample()),
        "planned_per_sample": planned,
        "planned_ms_per_sample": in_ms(planned, unit),
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
    import torch

    from eenet.commands.predict_inputs import input_batches, read_input_file
    from eenet.data.prepared import PreparedDataset, read_meta
    from eenet.devices import num_threads
    from eenet.models.artifact import read_trained_config
    from eenet.models.base import check_data_fits

    model = predictor.model
    if args.data:
        # images normalised as the model's training data, as --input's uint8 pixels are
        normalisation = read_trained_config(args.model).get("input_normalisation")
        with naming("--data"):
            held = int(read_meta(args.data).get("num_classes", classes))
            if held != classes:
                raise ArtifactError(f"{args.data} has {held} classes, the model {classes}")
            dataset = PreparedDataset(args.data, args.split, normalisation=normalisation)
        check_data_fits(model, dataset, f"--data: {args.data}")
        predict = partial(predictor.predict_dataset, dataset, args.batch_size, "--batch-size")
        labelled = True
    else:
        inputs, labels = read_input_file(args.input, model, classes,
                                         read_trained_config(args.model).get(
                                             "input_normalisation"))
        batches = input_batches(model, inputs, labels, args.batch_size)
        predict = partial(predictor.predict_batches, batches, ("--batch-size", args.batch_size))
        labelled = labels is not None
    from eenet.runtime import NoAnswerError

    source = (f"--data: {Path(args.data) / f'{args.split}.npz'}" if args.data
              else f"--input: {args.input}")
    # samples the model gives no answer for (their logits overflow): the error names where
    # they were read (the index it gives is theirs there)
    with num_threads(args.threads, "--threads"), naming(source, NoAnswerError):
        return predict(), labelled, torch.get_num_threads()


def summary_line(summary: dict[str, Any], fractions: np.ndarray) -> str:
    """The one-line text summary."""
    accuracy = summary["accuracy"]
    threads = summary["threads"]
    unit = summary["cost_unit"]
    plan = plan_text(summary)
    statistic = "per-exit medians" if summary["batch_size"] == 1 else "median"
    median = ("" if summary["calls"] == 1 else
              f" ({statistic} of {summary['calls']} calls {summary['robust_ms_per_sample']:.4f})")
    asked = summary["asked_budget"]
    below = "" if asked is None else f" (asked {asked:g}, below the first exit's cost)"
    return (
        f"{summary['samples']} sample{'s' if summary['samples'] != 1 else ''}, "
        f"{summary['method']} @ {summary['budget']:g} {unit}{below}: "
        "exit "
        f"fractions {[shown_fraction(f) for f in fractions]}"
        f"{'' if accuracy is None else f', accuracy {accuracy:.2f} %'}, "
        f"{summary['measured_ms_per_sample']:.4f} ms/sample measured{median} on "
        f"{summary['device']} "
        f"(batch {summary['batch_size']}, {threads} thread{'s' if threads != 1 else ''}"
        f"{plan})"
    )


def plan_text(summary: dict[str, Any]) -> str:
    """The summary line's plan: in ms where the policy's cost unit is a time (converted from
    s, us or ns, the unit's figure beside it), to compare with the measured ms; in its own
    unit otherwise (MFLOPs: no time); empty for a policy saved without its planned costs."""
    planned, planned_ms = summary["planned_per_sample"], summary["planned_ms_per_sample"]
    unit = summary["cost_unit"]
    if planned is None:
        return ""
    if planned_ms is None:
        return f"; planned {planned:.4g} {unit}/sample"
    given = "" if unit == DEFAULT_COST_UNIT else f" ({planned:.4g} {unit})"
    return (f"; planned {planned_ms:.4f} ms/sample{given} by the costs it was fitted with"
            f"{profiled_otherwise(summary)}")
