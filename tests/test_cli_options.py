"""Options of the `eenet` subcommands given more than once: a single-valued option is a
one-line error naming it (argparse kept the last silently); --method and --budgets of
`eenet schedule` join their comma lists. Output that cannot be written is one line too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eenet.cli import main, stage_cli
from eenet.outputs import save_exit_outputs
from eenet.synthetic import make_split_pair

SCHEDULE = ["schedule", "--val", "v.npz", "--test", "t.npz", "--costs", "1,2,3",
            "--budgets", "2"]
PREDICT = ["predict", "--model", "m", "--policy", "p", "--data", "d"]


@pytest.mark.parametrize(
    ("argv", "option", "value"),
    [
        *((SCHEDULE, option, value) for option, value in (
            ("--val", "v.npz"), ("--test", "t.npz"), ("--costs", "1,2,4"), ("--seed", "3"),
            ("--cost-unit", "s"), ("--save", "fitted"))),
        *((PREDICT, option, value) for option, value in (
            ("--model", "m2"), ("--policy", "p2"), ("--data", "d2"), ("--split", "val"),
            ("--batch-size", "8"), ("--device", "cpu"), ("--threads", "2"), ("--out", "o"))),
        (["predict", "--model", "m", "--policy", "p", "--input", "x.npy"], "--input", "y.npy"),
        (["models"], "--classes", "5"),
    ],
)
def test_a_single_valued_option_given_twice_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], option: str, value: str
) -> None:
    """A second time with another value (an option the command line has), or the same value
    twice (one it lacks): the error, before anything runs."""
    twice = [*argv, option, value] if option in argv else [*argv, option, value, option, value]
    with pytest.raises(SystemExit) as caught:
        main(twice)
    assert caught.value.code == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [f"eenet {argv[0]}: error: {option} given twice; give it "
                                    "once"]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        ([*SCHEDULE, "--seed", "abc"],
         "eenet schedule: error: argument --seed: invalid int value: 'abc' (usage: eenet "
         "schedule -h)"),
        (["schedule", "--val", "v.npz"],
         "eenet schedule: error: the following arguments are required: --test, --costs, "
         "--budgets (usage: eenet schedule -h)"),
        ([*PREDICT, "--bogus"],
         "eenet predict: error: unrecognized arguments: --bogus (usage: eenet predict -h)"),
        ([], "eenet: error: the following arguments are required: {schedule,models,predict} "
             "(usage: eenet -h)"),
    ],
)
def test_argparse_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                                      error: str) -> None:
    """argparse's own errors (a value of the wrong type, a missing or unknown option) printed
    its usage lines first; one line now, naming the option and where the usage is."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines() == [error]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["schedule", "--bogus"], "eenet schedule: error: unrecognized arguments: --bogus "
                                  "(usage: eenet schedule -h)"),
        (["schedule", "--val", "v.npz", "--bogus=1", "stray"],
         "eenet schedule: error: unrecognized arguments: --bogus=1 stray (usage: eenet "
         "schedule -h)"),
        (["predict", "--bogus"], "eenet predict: error: unrecognized arguments: --bogus "
                                 "(usage: eenet predict -h)"),
        (["--bogus", "schedule"], "eenet: error: unrecognized arguments: --bogus (usage: "
                                  "eenet -h)"),
        (["--bogus"], "eenet: error: unrecognized arguments: --bogus (usage: eenet -h)"),
    ],
)
def test_an_unknown_option_is_named_before_missing_ones(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    """`eenet schedule --bogus` said --val, --test, ... were required, not that --bogus is
    unknown; a command's unknown option pointed at `eenet -h`, not at the command's help.
    Before the command (`eenet --bogus schedule`), it is eenet's own."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines() == [error]


def test_help_after_an_unknown_option_shows_the_required_ones(
    capsys: pytest.CaptureFixture[str]
) -> None:
    """`eenet schedule --bogus -h` is the help, as argparse gave it: required options
    unbracketed in its usage (the parse that looks for unknown words requires nothing)."""
    with pytest.raises(SystemExit) as caught:
        main(["schedule", "--bogus", "-h"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith(
        "usage: eenet schedule [-h] --val VAL --test TEST --costs COSTS")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["a", "--bogus"], "unrecognized arguments: --bogus"),
        (["a", "b", "c"], "unrecognized arguments: c"),
        (["a"], "the following arguments are required: out_file"),
    ],
)
def test_a_stage_names_an_unknown_option_before_missing_paths(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
    error: str
) -> None:
    """A stage script (`stage_cli`) as `eenet`: an unknown option first, then missing paths."""

    def stage(in_file: str, out_file: str) -> None:
        raise AssertionError("the stage ran")

    monkeypatch.setattr(sys, "argv", ["stage.py", *argv])
    with pytest.raises(SystemExit) as caught:
        stage_cli(stage, None)
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"stage.py: error: {error} (usage: "
                                                    "stage.py -h)"]


def test_a_file_name_with_a_line_break_keeps_the_error_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path holding a newline (or a terminal's escape sequence) printed the error as two
    lines; control characters are written as their escapes."""
    folder = tmp_path / "a\nb"
    with pytest.raises(SystemExit) as caught:
        sys.exit(main([*SCHEDULE[:2], str(folder / "v\x1b[31m.npz"), *SCHEDULE[3:]]))
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"eenet schedule: error: --val: {tmp_path}/a\\nb/v\\x1b[31m.npz: exit outputs file "
        "not found"]


def test_a_stage_called_without_its_paths_is_one_line() -> None:
    """A stage script run by hand without its paths: argparse's error in one line too."""
    done = subprocess.run([sys.executable, "stages/download.py"], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "download.py: error: the following arguments are required: out_dir (usage: "
        "download.py -h)"]


def test_method_and_budgets_given_again_join_in_the_parse() -> None:
    """--method and --budgets: each repeat's list joins the ones before, in order; --set,
    repeatable, still gathers its items."""
    from eenet.cli import build_parser

    args = build_parser().parse_args(
        [*SCHEDULE, "--budgets", "1.5,2.5", "--method", "maxprob", "--method", "entropy,eenet",
         "--set", "eenet.hidden=8", "--set", "eenet.max_epochs=10"])
    assert args.budgets == "2,1.5,2.5"
    assert args.method == "maxprob,entropy,eenet"
    assert args.set == ["eenet.hidden=8", "eenet.max_epochs=10"]
    assert build_parser().parse_args(SCHEDULE).method == "eenet"  # the default, given none


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--budgets", ""], "--budgets: '' is empty"),
        (["--budgets", "3,,4"], "--budgets: '3,,4' has an empty item"),
        (["--method", "maxprob", "--method", " "], "--method: ' ' is empty"),
        (["--method", "maxprob,", "--method", "entropy"], "--method: 'maxprob,' has an empty item"),
    ],
)
def test_an_empty_repeat_is_named_as_typed(
    capsys: pytest.CaptureFixture[str], extra: list[str], error: str
) -> None:
    """`--budgets 2 --budgets ''` quoted the joined text ('2,'), which the user never typed;
    now the repeat (or the value before it) as given, before anything runs."""
    with pytest.raises(SystemExit) as caught:
        main([*SCHEDULE, *extra])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"eenet schedule: error: {error}; give each repeat a comma list without empty items"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [
    ["schedule", "--json"], ["schedule"], ["models"], ["models", "--json"],
])
def test_output_that_cannot_be_written_is_one_line(tmp_path: Path, args: list[str]) -> None:
    """`eenet schedule --json > /dev/full`, `eenet models > /dev/full`: an OSError traceback
    (No space left on device) from the command's print, status 1; now one line naming the
    command, no traceback (nor one at exit, flushing stdout), and a non-zero status."""
    if args[0] == "schedule":
        for name, split in zip(("val", "test"), make_split_pair(3, 10, 50, 50, seed=1),
                               strict=True):
            save_exit_outputs(tmp_path / f"{name}.npz", split)
        args = [*args, "--val", str(tmp_path / "val.npz"), "--test", str(tmp_path / "test.npz"),
                "--costs", "1,2,3", "--method", "maxprob", "--budgets", "2"]
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "eenet.cli", *args], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.stderr.splitlines() == [
        f"eenet {args[0]}: error: cannot write the output (No space left on device)"
    ], done.stderr
    assert done.returncode == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(("args", "prog"), [
    (["-m", "eenet.cli", "--help"], "eenet"),
    (["-m", "eenet.cli", "schedule", "--help"], "eenet schedule"),
    (["-m", "eenet.cli", "predict", "-h"], "eenet predict"),
    (["stages/import_latency.py", "-h"], "import_latency.py"),
])
def test_help_that_cannot_be_written_is_one_line(args: list[str], prog: str) -> None:
    """`eenet --help > /dev/full` (or a stage script's) ended silently with status 0
    (argparse prints the help while parsing, and drops an OSError of its write): one line
    naming the command, and status 1."""
    root = Path(__file__).resolve().parents[1]
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=300, cwd=root)
    assert done.stderr.splitlines() == [
        f"{prog}: error: cannot write the output (No space left on device)"], done.stderr
    assert done.returncode == 1
    shown = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                           timeout=300, cwd=root)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: ")


def test_python_m_eenet_runs_the_command_line() -> None:
    """`python -m eenet` was "'eenet' is a package and cannot be directly executed"; it now
    runs the `eenet` command line as the console script does."""
    done = subprocess.run([sys.executable, "-m", "eenet", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: eenet ")
    assert "schedule" in done.stdout and "predict" in done.stdout


def test_version_is_the_packages_one_line() -> None:
    """`eenet --version` was an unrecognised argument; it prints the package's version (the
    one pyproject.toml installs, read from `eenet.__version__`), one line, status 0."""
    from importlib.metadata import version

    import eenet

    done = subprocess.run([sys.executable, "-m", "eenet.cli", "--version"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"eenet {eenet.__version__}\n"
    assert version("eenet") == eenet.__version__
    if os.path.exists("/dev/full"):  # its write failing is one line, as --help's
        with open("/dev/full", "w") as full:
            failed = subprocess.run([sys.executable, "-m", "eenet.cli", "--version"],
                                    stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
        assert failed.stderr.splitlines() == [
            "eenet: error: cannot write the output (No space left on device)"], failed.stderr
        assert failed.returncode == 1
