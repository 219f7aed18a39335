"""The `eenet` command line: subcommands live in `eenet.commands`.

User errors (`EENetError`) print as one line on stderr and exit with status 2; no traceback.
Output that cannot be written (`> /dev/full`) is one line too, status 1; a closed pipe ends
quietly. Ctrl-C (SIGINT) or SIGTERM is one line, `eenet schedule: interrupted`, and status 130
or 143; after the command has ended, while Python shuts down, the signal alone ends it.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NoReturn, TextIO

from eenet import __version__
from eenet.commands import COMMAND_MODULES
from eenet.errors import EENetError, one_line
from eenet.termination import Terminated, raise_if_stopped, run_stoppable, stop_signals_raise


class UsageError(Exception):
    """A OneLineParser's error, its one line: raised while parsing, printed (status 2) by the
    outermost parse, `parse_args`, so that the parser whose command failed to parse may name
    its own unknown words first."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, status 2: the message (naming the option,
    as argparse words it) and where the usage is; argparse printed its usage lines first.
    Subcommands' parsers are of this class too (argparse makes them of the parent's).

    A word that no argument takes (`--bogus`) is an error of the parser it was given to,
    named before missing required arguments: argparse named the missing ones instead, and
    left a command's unknown words to `eenet`, whose error pointed at `eenet -h`."""

    def error(self, message: str) -> NoReturn:
        """Raise `prog: error: message (usage: prog -h)` as a UsageError (no exit: `parse_args`
        prints it and exits with status 2; a caller of `parse_known_args` or of `error`
        itself, outside `parse_args`, gets the exception)."""
        raise UsageError(f"{self.prog}: error: {message} (usage: {self.prog} -h)")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Parse `args`; an error is its one line on stderr and status 2."""
        try:
            return super().parse_args(args, namespace)
        except UsageError as exc:
            self.exit(2, f"{exc}\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse `args` as argparse does, leaving nothing over: words no argument takes are
        an error. One that argparse raised first (a missing required argument, whose check
        comes last) stands only if a parse with nothing required finds no such words."""
        args = list(sys.argv[1:] if args is None else args)
        try:
            parsed, unknown = super().parse_known_args(args, namespace)
        except UsageError:
            with nothing_required(self):
                _, unknown = super().parse_known_args(args)  # a fresh namespace: none given
            if not unknown:
                raise
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        return parsed, unknown


Requirable = argparse.Action | argparse._MutuallyExclusiveGroup


def requirables(parser: argparse.ArgumentParser) -> Iterator[Requirable]:
    """`parser`'s arguments and groups of them that may be required, and its commands'."""
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for command_parser in action.choices.values():
                yield from requirables(command_parser)
    yield from parser._mutually_exclusive_groups


@contextmanager
def nothing_required(parser: argparse.ArgumentParser) -> Iterator[None]:
    """While inside, no argument of `parser` (nor of its commands) is required: a parse then
    gets to the end, where argparse names what is missing, without stopping there."""
    required = [item for item in requirables(parser) if item.required]
    for item in required:
        item.required = False
    try:
        yield
    finally:
        for item in required:
            item.required = True


def build_parser() -> argparse.ArgumentParser:
    """The `eenet` parser, one subcommand per module of `COMMAND_MODULES`."""
    parser = OneLineParser(
        prog="eenet", description="Budgeted adaptive inference with multi-exit networks."
    )
    parser.add_argument("--version", action="version", version=f"eenet {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # command not built yet
            raise
        module.register(subparsers)
    # the name a missing command is called by in the error: the commands, not `command`
    subparsers.metavar = "{" + ",".join(subparsers.choices) + "}"
    return parser


# where a parse records the options given so far (each action's `dest`), for the two below
GIVEN_OPTIONS = "_given_options"


def given_before(namespace: argparse.Namespace, dest: str) -> bool:
    """Whether the option storing `dest` was given earlier in this parse; records it given."""
    given = vars(namespace).setdefault(GIVEN_OPTIONS, set())
    if dest in given:
        return True
    given.add(dest)
    return False


class GivenOnce(argparse.Action):
    """A single-valued option (`--val FILE`): given again, a one-line error and status 2
    (`eenet schedule: error: --val given twice; give it once`); argparse kept the last."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if given_before(namespace, self.dest):
            parser.exit(2, f"{parser.prog}: error: {self.option_strings[0]} given twice; "
                           "give it once\n")
        setattr(namespace, self.dest, values)


class CommaJoined(argparse.Action):
    """A comma-list option that may be repeated (`--method`, `--budgets`): each repeat's list
    joins the ones before, `--method maxprob --method entropy` as `--method maxprob,entropy`,
    and the whole is checked as one list; argparse kept the last."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if given_before(namespace, self.dest):
            before = getattr(namespace, self.dest)
            for text in (before, values):  # named as typed: the joined text was never typed
                if not all(item.strip() for item in str(text).split(",")):
                    what = "has an empty item" if str(text).strip() else "is empty"
                    parser.exit(2, f"{parser.prog}: error: {self.option_strings[0]}: {text!r} "
                                   f"{what}; give each repeat a comma list without empty "
                                   "items\n")
            values = f"{before},{values}"
        setattr(namespace, self.dest, values)


# options whose value may begin with '-' (a negative budget or cost): argparse takes such a
# value for an unknown option unless it reads as one negative number, and stops with its usage
DASH_VALUE_OPTIONS = ("--budgets", "--costs")


def attach_dash_values(argv: Sequence[str]) -> list[str]:
    """`--budgets -5%` as `--budgets=-5%` (and `--costs -1,2,4` likewise), so the value's own
    check answers it; a next word beginning with '--' is left alone (an option: the value is
    missing)."""
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word in DASH_VALUE_OPTIONS:
            value = next(words, None)
            if value is not None and value.startswith("-") and not value.startswith("--"):
                out.append(f"{word}={value}")
                continue
            out.append(word)
            if value is not None:
                out.append(value)
            continue
        out.append(word)
    return out


class OutputError(Exception):
    """Writing a command's output (stdout) failed; `error` is the OSError it raised."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class GuardedOutput:
    """A command's stdout whose failed write or flush raises OutputError: a full disk or a
    closed pipe told apart from an OSError of a file the command reads or writes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write `text`; an OSError is an OutputError."""
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise OutputError(exc) from exc

    def flush(self) -> None:
        """Flush; an OSError is an OutputError."""
        try:
            self._stream.flush()
        except OSError as exc:
            raise OutputError(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def output_failure(prog: str, error: OSError) -> int:
    """The exit status once writing stdout failed with `error`: a closed pipe ends quietly
    with the status of a SIGPIPE, anything else (`> /dev/full`) is one line naming `prog`
    (`eenet schedule`) and status 1. Stdout then goes to /dev/null, so that the flush at exit
    cannot fail again (a traceback)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if isinstance(error, BrokenPipeError):
        # the reader closed the pipe (`eenet predict --json | head`): stop quietly, as tools
        # killed by SIGPIPE do
        return 128 + signal.SIGPIPE
    print(f"{prog}: error: cannot write the output ({error.strerror or error})",
          file=sys.stderr)
    return 1


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str],
           prog: str) -> argparse.Namespace:
    """`parser`'s arguments from `argv`, stdout guarded while it parses: `--help`, whose text
    is the output, is flushed here, and help that cannot be written (argparse drops an OSError
    of its write) ends as `output_failure` says, naming `prog`, rather than silently."""
    stdout, sys.stdout = sys.stdout, GuardedOutput(sys.stdout)
    try:
        try:
            return parser.parse_args(argv)
        except SystemExit as exc:
            if exc.code in (0, None):
                sys.stdout.flush()
            raise
    except OutputError as exc:
        sys.stdout = stdout
        raise SystemExit(output_failure(prog, exc.error)) from None
    finally:
        sys.stdout = stdout


def stop_word_and_status(exc: KeyboardInterrupt | Terminated) -> tuple[str, int]:
    """The word a stop signal's one line says and the shell's status for that signal: Ctrl-C
    (KeyboardInterrupt) `interrupted`, 130; SIGTERM (`Terminated`) `terminated`, 143."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 128 + signal.SIGINT
    return "terminated", 128 + signal.SIGTERM


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `eenet` console script (and `python -m eenet`): `argv` None, the
    process's own command line. Once the command has ended (its output or its one line out),
    a Ctrl-C while Python shuts down (torch's exit hooks) ends the process by the signal with
    no line more, as a stage's does; it printed `Exception ignored in atexit callback`, a
    traceback, and status 0. A caller's `argv` leaves its Ctrl-C handler alone."""
    try:
        return run_command(argv)
    finally:
        if argv is None:  # this process is the command: nothing runs after it
            _shut_down_by_ctrl_c()


def run_command(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`) and run its command: its exit status, with its
    errors and stop signals as one line on stderr."""
    prog, stdout = "eenet", sys.stdout  # what its one-line messages are called by
    if argv is None:  # this process is the command (a caller keeps its environment)
        quiet_library_bars_off_terminal()
    try:
        # importing the commands (light: each imports torch as it runs): a stop signal then
        # is one line
        parser = run_stoppable(build_parser)
        words = list(sys.argv[1:] if argv is None else argv)
        command = next((word for word in words if not word.startswith("-")), None)  # its help's
        args = _parse(parser, attach_dash_values(words), " ".join(filter(None, (prog, command))))
        prog = f"eenet {args.command}"
        sys.stdout = GuardedOutput(stdout)
        status = int(run_stoppable(args.func, args) or 0)  # Ctrl-C, SIGTERM: as in a stage
        sys.stdout.flush()  # a closed pipe or a full disk shows here, not at exit
        return status
    except OutputError as exc:
        sys.stdout = stdout
        return output_failure(prog, exc.error)
    except EENetError as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a traceback from deep inside a command's imports
        from eenet.extras import TORCH_MISSING, is_missing_torch  # (not among cli's imports)

        if not is_missing_torch(exc):
            raise
        print(f"{prog}: error: {TORCH_MISSING}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as exc:
        word, status = stop_word_and_status(exc)
        print(f"{prog}: {word}", file=sys.stderr)
        return status
    finally:
        sys.stdout = stdout


# the Hugging Face libraries' switches for their own progress bars (a download, transformers'
# "Loading weights", datasets' "Generating train split"), read when each is imported
LIBRARY_BAR_SWITCHES = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS")


def quiet_library_bars_off_terminal() -> None:
    """Where stderr is no terminal (a log: DVC's, a redirect), switch the Hugging Face
    libraries' progress bars off, as eenet's own are (they filled logs with bar lines); a
    switch the user set is kept. Before those libraries are imported."""
    if not sys.stderr.isatty():
        for name in LIBRARY_BAR_SWITCHES:
            os.environ.setdefault(name, "1")


@contextmanager
def stage_start() -> Iterator[None]:
    """Around a stage script's start: its imports (torch: a second or two), the first thing it
    does after importing this light module, and the parse of its arguments (`stage_cli`).
    Ctrl-C (SIGINT) or SIGTERM meanwhile ends the script with one line naming it and the
    signal's word, `train.py: interrupted while starting (nothing written)`, and the shell's
    status, 130 or 143, as later in the stage (`run_stage`); Ctrl-C printed a KeyboardInterrupt
    traceback from inside the import, and SIGTERM ended the script with no line at all."""
    prog = os.path.basename(sys.argv[0])
    quiet_library_bars_off_terminal()
    try:
        with stop_signals_raise():
            try:
                yield
            finally:
                raise_if_stopped()  # one whose raise Python dropped (in a `__del__`)
    except (KeyboardInterrupt, Terminated) as exc:
        word, status = stop_word_and_status(exc)
        print(f"{prog}: {word} while starting (nothing written)", file=sys.stderr)
        raise SystemExit(status) from None


def stage_cli(
    main_function: Callable[..., None], description: str | None, resumes: bool = False
) -> None:
    """A stage script's `__main__`: its positional arguments are `main_function`'s parameters
    (the stage's input and output paths, in order); run it through `run_stage`. `resumes`:
    a rerun of this stage continues from its checkpoint (training) instead of starting over."""
    with stage_start():  # a stop signal while parsing: still nothing written
        names = list(inspect.signature(main_function).parameters)
        parser = OneLineParser(description=description)
        for name in names:
            parser.add_argument(name)
        args = _parse(parser, sys.argv[1:], parser.prog)
    try:
        run_stage(main_function, *(getattr(args, name) for name in names), resumes=resumes)
    finally:  # finished, failed or stopped: its line is out, nothing is left to write
        _shut_down_by_ctrl_c()


def _shut_down_by_ctrl_c() -> None:
    """After a stage or an `eenet` command has ended (written everything, or failed or stopped
    with its one line): a Ctrl-C while Python shuts down (torch's exit hooks, some 0.7 s)
    ends the process by the signal itself, with no line more, as SIGTERM does there; Python's
    handler raised KeyboardInterrupt inside an exit hook, which printed `Exception ignored in
    atexit callback` and its traceback. An ignored Ctrl-C (`nohup`) stays ignored."""
    for stream in (sys.stdout, sys.stderr):  # what the stage printed, before a kill could drop it
        with suppress(OSError):  # one that cannot be written fails at exit, as it did
            stream.flush()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


# what a stage stopped by Ctrl-C or SIGTERM says after its one word: its outputs are written
# atomically, and a rerun does the stage's work again from the start ...
STOPPED_NOTE = "no half-written artifact is left; a rerun starts the stage over"
# ... except training's (`resumes`): it checkpoints every epoch and continues from there
RESUMES_NOTE = (
    "no half-written artifact is left; a rerun resumes training from its last checkpoint "
    "(from the start if no epoch had finished)"
)


def run_stage(main_function: Callable[..., object], *args: object, resumes: bool = False,
              **kwargs: object) -> None:
    """Run a stage's main; turn user errors into a one-line message and exit status 2, and
    Ctrl-C (SIGINT) or SIGTERM into one line and the shell's status for that signal, after
    the interrupted write's temporary files are removed. The line says what a rerun does:
    resume from the last checkpoint where `resumes` (training), else start the stage over."""
    note = RESUMES_NOTE if resumes else STOPPED_NOTE
    try:
        run_stoppable(main_function, *args, **kwargs)
    except EENetError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except (KeyboardInterrupt, Terminated) as exc:  # Ctrl-C, SIGTERM (kill, a job scheduler)
        word, status = stop_word_and_status(exc)
        print(f"{word} ({note})", file=sys.stderr)
        raise SystemExit(status) from None


def script_cli(main_function: Callable[[], None]) -> None:
    """A tool script's `__main__` (the benchmarks): a user error (`EENetError`: an option out
    of range, a missing artifact, a device that is not there) ends in one line named as
    argparse names the script, `schedulers.py: error: ...`, and status 2, as argparse's own; a
    reader that closes the pipe (`| head`) ends it quietly with SIGPIPE's status."""
    prog = os.path.basename(sys.argv[0])
    try:
        main_function()
        sys.stdout.flush()  # a closed pipe shows here, not in the flush at exit
    except EENetError as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except BrokenPipeError as exc:  # `schedulers.py | head`: quietly, as `eenet` does
        raise SystemExit(output_failure(prog, exc)) from None


if __name__ == "__main__":
    raise SystemExit(main())
