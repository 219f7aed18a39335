"""Ctrl-C and SIGTERM as exceptions in the main thread of a stage or an `eenet` command, and a
record of them that Python cannot drop.

Python's default SIGTERM action ends the process at once, leaving `eenet.atomic`'s temporary
files behind; `stop_signals_raise` turns the signal into `Terminated`, raised like Ctrl-C's
KeyboardInterrupt, so their `finally` blocks run. Where Python cannot raise (a fork hook, a
`__del__`, a weakref callback) it prints "Exception ignored" and carries on, Ctrl-C's
KeyboardInterrupt included; each stop signal is therefore also recorded, and `raise_if_stopped`
raises it again at the next safe point: a training step, an artifact about to be published,
the end of the stage or command.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


class Terminated(BaseException):
    """SIGTERM arrived during a stage or command. A BaseException, so no `except Exception`
    swallows it."""


# the exception of each stop signal, and the one that arrived first inside the block
STOP_EXCEPTIONS: dict[int, type[BaseException]] = {
    signal.SIGINT: KeyboardInterrupt, signal.SIGTERM: Terminated,
}
_stopped: list[type[BaseException]] = []


def stop_requested() -> type[BaseException] | None:
    """The exception of the first stop signal that arrived inside `stop_signals_raise` (in this
    process), or None."""
    return _stopped[0] if _stopped else None


def raise_if_stopped() -> None:
    """Raise the first stop signal's exception if one arrived, whether or not its own raise got
    through."""
    stopped = stop_requested()
    if stopped is not None:
        raise stopped


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """A Python handler that does nothing (SIG_DFL in its place makes CPython report a signal
    already pending as 'ignored due to race condition', with a traceback)."""


def _drop_tracebacks(exc: BaseException) -> None:
    """Let go of the frames `exc` and the exceptions chained to it hold. Objects a stop signal
    interrupted half-way are freed with them, and their cleanup can fail (torch's DataLoader
    iterator stopped inside its `__init__` raised AttributeError from `__del__`): freed here,
    where that is not printed, not at the process's exit, where it was, after the one line."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__cause__, current.__context__]


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Inside the block, SIGTERM raises `Terminated` and Ctrl-C (SIGINT) KeyboardInterrupt in
    this process, each recorded for `raise_if_stopped`. After a stop signal nothing Python can
    only report as "Exception ignored" is printed: the signal's exception where it could not be
    raised (the record raises it later), or the failed cleanup of an object it interrupted. After
    SIGTERM a child's end is no error: DataLoader workers get the signal with their process
    group and die by it, and torch's SIGCHLD handler would raise that over `Terminated`, with a
    traceback. In a child forked meanwhile SIGTERM keeps its default action and Ctrl-C does
    nothing (the main process stops its workers). SIGINT is left alone where it is
    not Python's default handler (ignored by `nohup`, or the caller's). Only the main thread may
    install handlers; elsewhere nothing changes. The previous handlers are put back, and the
    record cleared, on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()
    report_unraisable = sys.unraisablehook

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked child (a DataLoader worker): SIGTERM ends it as by
            if signum == signal.SIGINT:  # default; Ctrl-C is the main process's to act on (it
                return  # stops its workers), raised here it printed a worker's traceback
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if not _stopped:
            _stopped.append(STOP_EXCEPTIONS[signum])
        if signum == signal.SIGTERM:  # the process ends: not put back
            signal.signal(signal.SIGCHLD, _ignore_signal)
        raise STOP_EXCEPTIONS[signum]

    def unraisable(info: Any) -> None:
        if not _stopped:  # after a stop, only what the stop itself broke: not printed
            report_unraisable(info)

    handled = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        handled.append(signal.SIGINT)
    previous = {signum: signal.signal(signum, handler) for signum in handled}
    sys.unraisablehook = unraisable
    try:
        yield
    except BaseException as exc:
        if _stopped:  # free what the stop interrupted now, while `unraisable` is installed
            _drop_tracebacks(exc)
            gc.collect()
        raise
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)
        sys.unraisablehook = report_unraisable
        _stopped.clear()


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Inside the block Ctrl-C and SIGTERM are recorded, not acted on; after it, on success,
    the first that arrived is acted on as its handler from before would have (raised, or the
    default action). For a few renames that must all happen, or none: publishing several
    files of one result, or swapping a folder in. Python-level handlers only, in the main
    thread (elsewhere, and for an ignored signal, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        arrived.append(signum)

    previous = {signum: signal.signal(signum, record)
                for signum in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(signum) not in (signal.SIG_IGN, None)}
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)
    if arrived:
        signum, before = arrived[0], previous[arrived[0]]
        if callable(before):
            before(signum, None)  # raises: KeyboardInterrupt, or `stop_signals_raise`'s
        else:  # the default action (SIGTERM ends the process)
            os.kill(os.getpid(), signum)


def run_stoppable(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` inside `stop_signals_raise`; after a stop signal it ends with
    that signal's exception whatever came out of it (torch's "worker exited unexpectedly" for a
    worker the signal killed), or if nothing did (Python dropped the exception). Raised here,
    inside the block, so that what came out lets go of the interrupted frames while their
    failed cleanup is not printed (at the block's exit they are still held)."""
    with stop_signals_raise():
        try:
            return function(*args, **kwargs)
        finally:
            raise_if_stopped()
