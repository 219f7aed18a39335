"""`eenet models`: every registered model with its exits and parameter counts.

Counts are for `--classes` output classes. Models are built on PyTorch's meta device (shapes
only, no memory, no initialisation) and without pretrained weights (BERT from the default
`BertConfig`, which has bert-base-uncased's shape), so counting needs no download. A model
whose extra is not installed (BERT without transformers, the `text` extra) is left out of the
list with a note on stderr saying what to install; asked for by `--model`, it is an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from eenet.checks import check_integer
from eenet.cli import GivenOnce
from eenet.errors import ConfigError, MissingExtraError, unknown_name

# Options that make a model buildable offline for counting; the architecture is unchanged.
COUNT_OPTIONS: dict[str, dict[str, Any]] = {"bert_4": {"pretrained": None}}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `eenet models` and its options."""
    parser = subparsers.add_parser(
        "models", help="list the registered models with exits and parameter counts",
        description=__doc__,
    )  # fmt: skip
    parser.add_argument("--classes", type=int, default=10, action=GivenOnce,
                        help="output classes (default: 10)")
    parser.add_argument("--model", action="append",
                        help="only this model (repeatable; default: every registered model)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=handle)


def describe(name: str, num_classes: int) -> dict[str, Any]:
    """Exits and parameter counts of model `name` for `num_classes` classes."""
    import torch

    from eenet.models import build_model

    options = COUNT_OPTIONS.get(name, {})
    with torch.device("meta"):
        model = build_model(name, num_classes, **options)
    counts = model.segment_parameter_counts()
    return {
        "name": name,
        "num_classes": num_classes,
        "n_exits": model.n_exits,
        "total": counts["total"],
        "backbone": counts["backbone"],
        "exit_heads": counts["exit_heads"],
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table, one model per line."""
    header = ("model", "exits", "total", "backbone", "early exit heads")
    lines = [
        (
            r["name"],
            str(r["n_exits"]),
            f"{r['total']:,}",
            f"{r['backbone']:,}",
            ", ".join(f"{h:,}" for h in r["exit_heads"]) or "-",
        )
        for r in rows
    ]
    widths = [max(len(x) for x in column) for column in zip(header, *lines, strict=False)]
    return "\n".join(
        "  ".join(cell.ljust(w) if i in (0, 4) else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip()
        for line in [header, *lines]
    )  # fmt: skip


def handle(args: argparse.Namespace) -> int:
    """Print each registered model's exits and parameter counts; the exit status."""
    from eenet.models import CLASSES_MAX, MODELS  # torch: imported when the command runs

    check_integer("--classes", args.classes, 2, CLASSES_MAX)
    for name in args.model or []:
        if name not in MODELS:
            raise unknown_name("--model", name, MODELS)
    rows, notes = [], []
    for name in dict.fromkeys(args.model or MODELS):
        try:
            rows.append(describe(name, args.classes))
        except MissingExtraError as exc:
            if args.model:  # asked for by name: the one-line error says what to install
                raise
            notes.append(f"eenet models: not listed: {exc}")
        except ModuleNotFoundError as exc:
            module = MODELS[name].partition(":")[0]
            if exc.name != module:
                raise
            if args.model:  # asked for by name: say why there is no row
                raise ConfigError(f"--model: {name!r} is registered, but its module {module} "
                                  f"is not part of this installation") from None
            # registered, but its module is not part of this installation
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"parameters for {args.classes} classes (backbone = stem + segments + last head)")
        print(format_table(rows))
    for note in notes:
        print(note, file=sys.stderr)
    return 0
