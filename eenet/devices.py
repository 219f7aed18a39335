"""Device and CPU-thread selection shared by profiling, the runtime and the benchmark."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import torch

from eenet.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def check_device_name(name: Any, param: str = "device") -> str:
    """`name` as a device name (one of DEVICES, or 'cuda:N'), whether or not this machine has
    that device; anything else is a one-line ConfigError naming `param`."""
    text = str(name)
    index = text.partition(":")[2] if text.startswith("cuda:") else None
    if text not in DEVICES and not (index and index.isdigit()):
        raise ConfigError(f"{param}: unknown value {text!r}; allowed: {', '.join(DEVICES)}, "
                          "cuda:N")
    return text


def resolve_device(name: str, param: str = "device") -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without a GPU, or 'cuda:N' past the machine's
    GPUs, is a one-line ConfigError."""
    name = check_device_name(name, param)
    index = name.partition(":")[2] if name.startswith("cuda:") else None
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"{param}: {name!r} requested but no CUDA GPU is available; use auto or cpu"
        )
    if index is not None and int(index) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(f"{param}: {name!r} requested but this machine has {count} CUDA "
                          f"GPU{'s' if count != 1 else ''} (cuda:0..cuda:{count - 1})")
    return torch.device(name)


@contextmanager
def num_threads(threads: int):
    """Use `threads` torch CPU threads inside the block (0 = leave as is); restore afterwards."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
