"""SIGTERM as an exception in the main thread of a stage or an `eenet` command, and a record of
it that Python cannot drop.

Python's default SIGTERM action ends the process at once, leaving `eenet.atomic`'s temporary
files behind; `sigterm_raises` turns the signal into `Terminated`, raised like Ctrl-C's
KeyboardInterrupt, so their `finally` blocks run. Where Python cannot raise (a fork hook, a
`__del__`, a weakref callback) it prints "Exception ignored" and carries on; the signal is
therefore also recorded, and `raise_if_terminated` raises it again at the next safe point: a
training step, an artifact about to be published, the end of the stage or command.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class Terminated(BaseException):
    """SIGTERM arrived during a stage or command. A BaseException, so no `except Exception`
    swallows it."""


_terminated = threading.Event()


def termination_requested() -> bool:
    """Whether SIGTERM arrived inside `sigterm_raises` (in this process)."""
    return _terminated.is_set()


def raise_if_terminated() -> None:
    """Raise `Terminated` if SIGTERM arrived, whether or not its first raise got through."""
    if _terminated.is_set():
        raise Terminated


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """A Python handler that does nothing (SIG_DFL in its place makes CPython report a signal
    already pending as 'ignored due to race condition', with a traceback)."""


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Inside the block, SIGTERM raises `Terminated` in this process and is recorded for
    `raise_if_terminated`. From then on a child's end is no error: DataLoader workers get the
    signal with their process group and die by it, and torch's SIGCHLD handler would raise that
    over `Terminated`, with a traceback. A `Terminated` that Python can only report as
    "Exception ignored" is not printed (the record raises it later). A child forked meanwhile
    keeps SIGTERM's default action. Only the main thread may install a handler; elsewhere
    nothing changes. The previous handlers are put back, and the record cleared, on the way
    out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()
    report_unraisable = sys.unraisablehook

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked child: die by the signal, as by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        _terminated.set()
        signal.signal(signal.SIGCHLD, _ignore_signal)  # the process ends: not put back
        raise Terminated

    def unraisable(info: Any) -> None:
        if info.exc_type is not Terminated:
            report_unraisable(info)

    previous = signal.signal(signal.SIGTERM, handler)
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = report_unraisable
        _terminated.clear()
