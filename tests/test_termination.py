"""Ctrl-C and SIGTERM end a stage with one line even where Python cannot raise, or another signal
races them.

Python runs a signal handler between two bytecodes of the main thread, wherever that is. In a
fork hook, a `__del__` or a weakref callback it cannot raise: it prints "Exception ignored" and
carries on (seen when the signal reached training just as a DataLoader worker forked: training
went on). And a SIGCHLD pending when SIGTERM's handler reset its handler to SIG_DFL printed
"Signal 17 ignored due to race condition" with a traceback. Both are made here on purpose, and
Ctrl-C (SIGINT) was dropped the same way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from torch.utils.data import Dataset

from eenet import training
from eenet.cli import STOPPED_NOTE
from eenet.data import prepare_dataset
from eenet.data.prepared import PreparedDataset
from eenet.models import build_model
from eenet.termination import Terminated, stop_requested, stop_signals_raise
from eenet.train_config import TrainConfig
from tests.robust_helpers import ROOT

# a stage main that gets a stop signal (SIGNAL) where Python cannot raise it, then writes an
# artifact
DROPPED = """
class DropsSigterm:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGNAL)
        for _ in range(100):  # the handler runs here, inside __del__: its raise is dropped
            pass

def main():
    DropsSigterm()
    print("went on", flush=True)
    write_text("artifact.txt", "complete")
"""

# ... where, after that, torch finds the DataLoader worker the signal killed (what training
# saw next when the signal met a worker's fork)
DROPPED_THEN_FAILED = DROPPED.split("def main")[0] + """
def main():
    DropsSigterm()
    raise RuntimeError("DataLoader worker (pid(s) 4242) exited unexpectedly")
"""

# ... that is stopped inside an object's __init__, an object whose __del__ then fails (torch's
# DataLoader iterator does: its `_shutdown` is not set yet); the failure was printed at exit
HALF_BUILT = """
class HalfBuilt:
    def __init__(self):
        os.kill(os.getpid(), signal.SIGNAL)
        for _ in range(100):  # stopped here
            pass
        self.ready = True

    def __del__(self):
        assert self.ready

def main():
    HalfBuilt()
    write_text("artifact.txt", "complete")
"""

# ... that gets SIGTERM and, pending with it, SIGCHLD (a DataLoader worker dying by the same
# signal) while torch's handler for it is installed
RACED = """
def main():
    signal.signal(signal.SIGCHLD, lambda *_: None)
    both = {signal.SIGTERM, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, both)
    os.kill(os.getpid(), signal.SIGTERM)
    subprocess.run(["true"], check=True)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, both)
    print("went on", flush=True)
    write_text("artifact.txt", "complete")
"""


def run_stage_script(tmp_path: Path, body: str, before: str = "") -> subprocess.CompletedProcess:
    # Ctrl-C handled as a stage run from a terminal has it (Python's own handler), whoever
    # launched the tests: a suite started in the background by a non-interactive shell
    # inherits SIGINT ignored, and its SIGINT cases then failed (`before` may ignore it again)
    script = "import os, signal, subprocess\n" \
             "signal.signal(signal.SIGINT, signal.default_int_handler)\n" \
             "from eenet.atomic import write_text\nfrom eenet.cli import run_stage\n" \
             + textwrap.dedent(body) + "\n" + before + "run_stage(main)\n"
    return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


STOPS = {"SIGTERM": ("terminated", 128 + signal.SIGTERM), "SIGINT": ("interrupted", 130)}


@pytest.mark.parametrize("body, stop", [
    (DROPPED, "SIGTERM"), (DROPPED_THEN_FAILED, "SIGTERM"), (RACED, "SIGTERM"),
    (DROPPED, "SIGINT"), (DROPPED_THEN_FAILED, "SIGINT"),  # Ctrl-C kills no worker: no race
    (HALF_BUILT, "SIGTERM"), (HALF_BUILT, "SIGINT"),
], ids=["dropped-sigterm", "dropped-then-failed-sigterm", "raced-by-sigchld-sigterm",
        "dropped-sigint", "dropped-then-failed-sigint", "half-built-sigterm", "half-built-sigint"])
def test_a_stop_signal_ends_the_stage_with_one_line_and_publishes_nothing(
    tmp_path: Path, body: str, stop: str
) -> None:
    word, status = STOPS[stop]
    result = run_stage_script(tmp_path, body.replace("SIGNAL", stop))
    assert result.returncode == status, result.stderr
    assert result.stderr.splitlines() == [f"{word} ({STOPPED_NOTE})"]
    assert list(tmp_path.iterdir()) == []  # neither the artifact nor its temporary file


def test_an_ignored_ctrl_c_stays_ignored(tmp_path: Path) -> None:
    """Under `nohup` (SIGINT ignored) a stage is not made to stop on Ctrl-C."""
    body = DROPPED.replace("SIGNAL", "SIGINT")
    result = run_stage_script(tmp_path, body, "signal.signal(signal.SIGINT, signal.SIG_IGN)\n")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "artifact.txt").read_text() == "complete"


def test_other_unraisable_errors_are_still_reported(tmp_path: Path) -> None:
    """Only a dropped stop signal's exception is silenced; another error in a `__del__` prints
    as before."""
    result = run_stage_script(tmp_path, """
        class Broken:
            def __del__(self):
                raise ValueError("broken in __del__")

        def main():
            Broken()
            write_text("artifact.txt", "complete")
    """)
    assert result.returncode == 0, result.stderr
    assert "ValueError: broken in __del__" in result.stderr
    assert (tmp_path / "artifact.txt").read_text() == "complete"


class DropsSigtermAt(Dataset):
    """A dataset whose `at`-th read gets SIGTERM inside a `__del__` (Python drops the raise),
    as training did when the signal met a DataLoader worker's fork."""

    def __init__(self, data: Dataset, at: int) -> None:
        self.data, self.at, self.reads = data, at, 0

    def __len__(self) -> int:
        return len(self.data)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> object:
        self.reads += 1
        if self.reads == self.at:
            _DropsSigterm()
        return self.data[index]


class _DropsSigterm:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):
            pass


def test_training_stops_at_the_next_batch_after_a_dropped_sigterm(tmp_path: Path,
                                                                  one_thread) -> None:
    """Not at the epoch's end (its checkpoint is refused then) nor after all epochs: the batch
    being read is the last."""
    prepare_dataset("mnist1d", tmp_path / "data", 0, num_samples=600)
    train_set = DropsSigtermAt(PreparedDataset(tmp_path / "data", "train"), at=70)
    val_set = PreparedDataset(tmp_path / "data", "val")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    cfg = TrainConfig(epochs=20, batch_size=32, threads=1, device="cpu")
    with pytest.raises(Terminated), stop_signals_raise():
        training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                             progress=False)
    assert train_set.reads == 96  # the batch holding read 70 (reads 65 to 96), no more
    assert not (tmp_path / "ckpt").exists()
    assert stop_requested() is None  # the record ends with the block


def test_sigterm_ends_an_eenet_command_with_one_line_and_no_temporaries(tmp_path: Path) -> None:
    """`eenet predict` / `eenet schedule` killed by SIGTERM (`timeout`, a job scheduler) died
    by the signal's default action, leaving the temporary file of the write under way; now they
    end as a stage does: one line, the shell's status 143, nothing left behind."""
    script = textwrap.dedent("""
        import os, signal, sys
        import eenet.commands.models as command
        from eenet import cli
        from eenet.atomic import atomic_path

        def handle(args):
            with atomic_path("out.txt") as tmp:
                tmp.write_text("half")
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(100):
                    pass
            return 0

        command.handle = handle
        sys.exit(cli.main(["models"]))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert result.stderr.splitlines() == ["eenet models: terminated"]
    assert list(tmp_path.iterdir()) == []


# `eenet schedule` whose first EENet member gets the stop signal twice: once while it trains,
# and again once the main thread, stopping, waits for it; `timeout` sends its signal twice (to
# the process, then to its group), and now and then the second came that late. The member
# then trains on as long as it is let (nothing else ends it).
TWICE = """
import signal, sys, threading, time
import numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)
from eenet import cli, termination
from eenet.schedulers.eenet import training
from eenet.synthetic import make_split_pair

val, test = make_split_pair(n_exits=4, n_classes=10, n_val=400, n_test=400, seed=3)
np.savez("val.npz", logits=val.logits, labels=val.labels)
np.savez("test.npz", logits=test.logits, labels=test.labels)
early_stopped, signalled, main = training._early_stopped, [], threading.main_thread().ident

def signalled_twice(phases, hold_loss, state, s, *rest):
    if signalled:
        return early_stopped(phases, hold_loss, state, s, *rest)
    signalled.append(True)
    while termination.stop_requested() is None:  # sent again where the main thread went to
        signal.pthread_kill(main, signal.SIGNAL)  # wait on a lock just after it arrived
        time.sleep(0.05)
    time.sleep(0.5)  # the main thread has taken it and waits for this member to end
    signal.pthread_kill(main, signal.SIGNAL)
    return early_stopped(phases, hold_loss, state, {**s, "max_epochs": 10**9,
                                                    "patience": 10**9}, *rest)

training._early_stopped = signalled_twice
sys.exit(cli.main(["schedule", "--val", "val.npz", "--test", "test.npz",
                   "--costs", "1,4,8,12", "--budgets", "50%"]))
"""


def run_stopped(tmp_path: Path, script: str, stop: str
                ) -> tuple[subprocess.CompletedProcess, str]:
    """`script` run in `tmp_path` with its SIGNAL the `stop` signal's name; asserts it ended
    with that signal's status. Returns the result and the word its line should say."""
    word, status = STOPS[stop]
    result = subprocess.run([sys.executable, "-c", script.replace("SIGNAL", stop)],
                            cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == status, result.stderr
    return result, word


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_twice_during_an_eenet_fit_ends_it_with_one_line(
    tmp_path: Path, stop: str
) -> None:
    """The second signal, inside the thread pool's join, made Python 3.11 mark the member's
    thread stopped though it still trained; the interpreter exited without waiting for it and
    killed the thread inside torch: `terminate called without an active exception`, status
    134 (SIGABRT). Now the member stops at its next phase and the command ends as promised."""
    result, word = run_stopped(tmp_path, TWICE, stop)
    assert result.stderr.splitlines() == [f"eenet schedule: {word}"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["test.npz", "val.npz"]


# `eenet` stopped while it imports its commands (torch: a second or two after it starts)
WHILE_IMPORTING = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from eenet import cli
build_parser = cli.build_parser

def signalled_while_building():
    os.kill(os.getpid(), signal.SIGNAL)
    return build_parser()

cli.build_parser = signalled_while_building
sys.exit(cli.main(["models"]))
"""


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_while_eenet_starts_is_one_line(tmp_path: Path, stop: str) -> None:
    """Ctrl-C while `eenet` imported its commands, before any handler was set, printed a
    KeyboardInterrupt traceback (SIGTERM ended it with no line at all)."""
    result, word = run_stopped(tmp_path, WHILE_IMPORTING, stop)
    assert result.stderr.splitlines() == [f"eenet: {word}"]


@pytest.mark.parametrize("ending, line", [
    ("", None), ("    raise EENetError('bad input')\n", "error: bad input"),
], ids=["finished", "failed"])
def test_ctrl_c_while_a_stage_shuts_down_ends_it_by_the_signal_alone(
        tmp_path: Path, ending: str, line: str | None) -> None:
    """A Ctrl-C after the stage ended (wrote everything, or failed with its one line), while
    Python runs its exit hooks (torch's): the script ends by the signal, with no line more;
    Python's handler raised KeyboardInterrupt inside the hook, which printed `Exception
    ignored in atexit callback` and a traceback."""
    script = textwrap.dedent("""\
        import atexit, os, signal, sys, time
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from eenet.atomic import write_text
        from eenet.cli import stage_cli

        def hook():  # an exit hook that a Ctrl-C interrupts
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)

        def main(out: str) -> None:
            write_text(out, "complete")
            print("written")
            atexit.register(hook)
    """) + ending + textwrap.dedent("""\
        from eenet.errors import EENetError
        sys.argv = ["stage.py", "artifact.txt"]
        stage_cli(main, None)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == -signal.SIGINT, result.stderr
    assert result.stderr.splitlines() == ([] if line is None else [line])  # the stage's own only
    assert result.stdout == "written\n"  # printed before the kill
    assert (tmp_path / "artifact.txt").read_text() == "complete"


@pytest.mark.parametrize("args, status", [
    (["models", "--model", "resnet1d_3", "--json"], 0), (["models", "--model", "nope"], 2),
], ids=["finished", "failed"])
def test_ctrl_c_while_an_eenet_command_shuts_down_ends_it_by_the_signal_alone(
        tmp_path: Path, args: list[str], status: int) -> None:
    """A Ctrl-C after an `eenet` command ended (its output written, or its one error line),
    while Python runs its exit hooks (torch's): the command ends by the signal with no line
    more, as a stage does; Python's handler raised KeyboardInterrupt inside the hook, which
    printed `Exception ignored in atexit callback` and a traceback, and the status was 0.
    A caller's argv leaves the handler alone: `main(argv)` runs in-process (tests)."""
    script = textwrap.dedent(f"""\
        import atexit, os, signal, sys, time
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from eenet.cli import main

        def hook():  # an exit hook that a Ctrl-C interrupts
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)

        atexit.register(hook)
        assert main({args!r}) == {status}
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        sys.argv = ["eenet", *{args!r}]
        raise SystemExit(main())
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == -signal.SIGINT, result.stderr
    lines = result.stderr.splitlines()
    assert lines == ([] if status == 0 else ["eenet models: error: --model: unknown value "
                                             "'nope'; allowed: bert_4, densenet121_4, "
                                             "resnet1d_3, resnet56_3"] * 2)
    if status == 0:
        half = len(result.stdout) // 2  # both outputs whole, flushed before the kill
        assert result.stdout[:half] == result.stdout[half:]
        assert json.loads(result.stdout[:half])[0]["name"] == "resnet1d_3"
