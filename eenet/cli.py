"""The `eenet` command line: subcommands live in `eenet.commands`.

User errors (`EENetError`) print as one line on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence

from eenet.commands import COMMAND_MODULES
from eenet.errors import EENetError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eenet", description="Budgeted adaptive inference with multi-exit networks."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `eenet` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EENetError as exc:
        print(f"eenet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"eenet {args.command}: interrupted", file=sys.stderr)
        return 130


def stage_cli(main_function: Callable[..., None], description: str | None) -> None:
    """A stage script's `__main__`: its positional arguments are `main_function`'s parameters
    (the stage's input and output paths, in order); run it through `run_stage`."""
    names = list(inspect.signature(main_function).parameters)
    parser = argparse.ArgumentParser(description=description)
    for name in names:
        parser.add_argument(name)
    args = parser.parse_args()
    run_stage(main_function, *(getattr(args, name) for name in names))


def run_stage(main_function, *args, **kwargs) -> None:  # noqa: ANN001
    """Run a stage's main; turn user errors into a one-line message and exit status 2."""
    try:
        main_function(*args, **kwargs)
    except EENetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for SIGINT
        print("interrupted (no half-written artifact is left; training resumes from its last "
              "checkpoint)", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    raise SystemExit(main())
