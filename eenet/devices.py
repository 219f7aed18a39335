"""Device and CPU-thread selection shared by profiling, the runtime and the benchmark."""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from eenet.checks import THREADS_MAX, check_integer
from eenet.errors import ConfigError, counted

DEVICES = ("auto", "cpu", "cuda")
_NOTED: set[str] = set()  # thread-count notes already printed by this process


def check_device_name(name: Any, param: str = "device") -> str:
    """`name` as a device name (one of DEVICES, or 'cuda:N'), whether or not this machine has
    that device; anything else is a one-line ConfigError naming `param`."""
    text = str(name)
    if text not in DEVICES and _cuda_index(text) is None:
        raise ConfigError(f"{param}: unknown value {text!r}; allowed: {', '.join(DEVICES)}, "
                          "cuda:N")
    return text


def _cuda_index(name: str) -> int | None:
    """N of a 'cuda:N' name; None for anything else."""
    index = name.partition(":")[2] if name.startswith("cuda:") else ""
    return int(index) if index.isdigit() else None


def resolve_device(name: str, param: str = "device") -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without a GPU, or 'cuda:N' past the machine's
    GPUs, is a one-line ConfigError."""
    name = check_device_name(name, param)
    index = _cuda_index(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"{param}: {name!r} requested but no CUDA GPU is available; use auto or cpu"
        )
    if index is not None and index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(f"{param}: {name!r} requested but this machine has {count} CUDA "
                          f"GPU{'s' if count != 1 else ''} (cuda:0..cuda:{count - 1})")
    return torch.device(name)


def torch_device(device: str | torch.device, param: str = "device") -> torch.device:
    """`device` as a torch.device: a name by `resolve_device`'s rules, a torch.device as
    given, but a CUDA one on a machine without it (or past its GPUs) is `resolve_device`'s
    one-line ConfigError too, not torch's error at the first tensor moved there."""
    if isinstance(device, torch.device) and device.type != "cuda":
        return device
    return resolve_device(str(device), param)


def same_device(recorded: str, run: str) -> bool:
    """Whether a device name a table records and the one a run used name the same device:
    the same type, and the same index where both give one ('cuda' is the current GPU)."""
    recorded_type, _, recorded_index = str(recorded).partition(":")
    run_type, _, run_index = str(run).partition(":")
    return recorded_type == run_type and (not recorded_index or not run_index
                                          or recorded_index == run_index)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS reports one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _over_cpus_note(count: int, param: str, consequence: str) -> str | None:
    """A note when `count` (the setting `param`: threads, loader processes) exceeds the CPUs
    this process may use, ending with `consequence` (formatted with `cpus`)."""
    cpus = available_cpus()
    if count <= cpus:
        return None
    return (f"note: {param} {count} is more than the {counted(cpus, 'CPU')} available here: "
            + consequence.format(cpus=cpus))


def thread_count_note(threads: int, param: str) -> str | None:
    """A note when `threads` (the setting `param`) exceeds the CPUs this process may use."""
    return _over_cpus_note(threads, param, "the threads contend for them, so work runs (and "
                                           "is timed) slower than with {cpus}")


def worker_count_note(workers: int, param: str) -> str | None:
    """A one-line note when `workers` loader processes (the setting `param`) exceed the CPUs
    this process may use: it stands for torch's multi-line DataLoader warning, which
    `quiet_worker_warning` then silences."""
    return _over_cpus_note(workers, param, "the loader processes contend for them, so batches "
                                           "may come slower than with {cpus}")


def quiet_worker_warning() -> None:
    """Silence torch's DataLoader warning about more workers than CPUs (a multi-line
    paragraph each run), once `worker_count_note` has said it in one line."""
    warnings.filterwarnings("ignore", message="This DataLoader will create",
                            category=UserWarning)


@contextmanager
def memory_names(param: str, value: int, fix: str = "lower it") -> Iterator[None]:
    """torch failing to allocate memory inside the block is a one-line ConfigError naming the
    setting `param` (= `value`) with the size it tried, and the `fix`; other errors pass."""
    try:
        yield
    except RuntimeError as exc:
        reason = allocation_failure(exc)
        if reason is None:
            raise
        raise ConfigError(f"{param}: {value} does not fit in memory ({reason}); {fix}") from None


def allocation_failure(exc: BaseException) -> str | None:
    """What failed to be allocated when `exc` is torch's out-of-memory error (a CUDA device's,
    or the CPU allocator's, which raises a plain RuntimeError); None for any other error."""
    text = str(exc)
    cpu = isinstance(exc, RuntimeError) and "can't allocate memory" in text
    if not (cpu or isinstance(exc, torch.OutOfMemoryError)):
        return None
    tried = re.search(r"(?i)tried to allocate ([\d.]+ ?\w+)", text)
    return f"tried to allocate {tried.group(1)}" if tried else "out of memory"


@contextmanager
def num_threads(threads: int, param: str = "threads") -> Iterator[None]:
    """Use `threads` torch CPU threads inside the block (0 = leave as is); restore afterwards.
    More threads than CPUs gets a note on stderr naming the setting `param` (once a process);
    more than THREADS_MAX is a one-line ConfigError naming it (torch would crash), as is a
    count that is no integer (1.5 ran 1 thread, True 1)."""
    check_integer(param, threads, 0, THREADS_MAX)
    previous = torch.get_num_threads()
    if threads:
        note = thread_count_note(threads, param)
        if note and note not in _NOTED:
            _NOTED.add(note)
            print(note, file=sys.stderr)
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
