"""PyTorch DDP plumbing for runs launched by `torchrun` (a no-op in a single process).

`torchrun --nproc_per_node N` sets `WORLD_SIZE`, `RANK` and `LOCAL_RANK`; `init_distributed`
joins the process group (gloo for CPU tensors, NCCL for CUDA tensors when a GPU is present).
Only rank 0 (`is_main_process`) writes artifacts, checkpoints and logs.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from eenet.errors import ConfigError


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside DDP)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Number of processes (1 outside DDP)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True outside DDP and on rank 0 under DDP: the only process that writes artifacts."""
    return rank() == 0


def init_distributed() -> bool:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); True if joined."""
    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "cpu:gloo,cuda:nccl"  # CPU tensors (train.device: cpu) work too
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)
    return True


def local_device(device: torch.device, param: str = "train.device") -> torch.device:
    """`device` pinned to this process's GPU under DDP (cuda -> cuda:LOCAL_RANK). A GPU named
    by index (`cuda:N`) under DDP would put every process on that one GPU: a one-line
    ConfigError naming `param`, raised by every process alike (none is left waiting)."""
    if device.type != "cuda" or not is_distributed():
        return device
    if device.index is not None:
        raise ConfigError(f"{param}: {device} under torchrun would put all {world_size()} "
                          f"processes on GPU {device.index}; give cuda (each process takes "
                          "the GPU of its LOCAL_RANK)")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def barrier() -> None:
    """Wait for every process (no-op outside DDP)."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of `values` over all processes (a copy; unchanged outside DDP)."""
    total = values.detach().clone()
    if is_distributed():
        if dist.get_backend() == "nccl":
            total = total.cuda()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.cpu()


def share_main_buffers(module: torch.nn.Module) -> None:
    """Give every process rank 0's buffers (BatchNorm's running statistics). Each process's last
    training step updates its own from its own batch, so without this the processes validate
    slightly different models, none of them exactly the one rank 0 saves. Nothing outside DDP."""
    if is_distributed():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def shutdown_distributed() -> None:
    """Leave the process group (call once, at the end of the run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
