"""PyTorch DDP plumbing for runs launched by `torchrun` (a no-op in a single process).

`torchrun --nproc_per_node N` sets `WORLD_SIZE`, `RANK` and `LOCAL_RANK`; `init_distributed`
joins the process group (gloo for CPU tensors, NCCL for CUDA tensors when a GPU is present).
Only rank 0 (`is_main_process`) writes artifacts, checkpoints and logs.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from eenet.errors import ArtifactError, ConfigError, EENetError, first_line, one_line
from eenet.labels import LabelError


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


def _for_backend(values: torch.Tensor) -> torch.Tensor:
    """A copy of `values` where the process group's backend takes it: a GPU for a group of
    NCCL alone (one joined by the caller), the host for gloo or `init_distributed`'s pair."""
    values = values.detach().clone()
    return values.cuda() if dist.get_backend() == "nccl" else values


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of `values` over all processes (a copy; unchanged outside DDP)."""
    if not is_distributed():
        return values.detach().clone().cpu()
    total = _for_backend(values)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.cpu()


# the errors `share_error` raises on every process as their own type (the most specific
# first); any other EENetError is raised there as an EENetError of its message
SHARED_ERRORS: tuple[type[EENetError], ...] = (LabelError, ArtifactError, ConfigError,
                                                EENetError)


def share_error(error: Exception | None, where: str = "") -> None:
    """Under DDP, raise on every process the error that any of them met (the lowest rank's:
    its own exception there, with its traceback; on the others an EENetError of its type and
    one-line message, or for an error of any other kind (a bug's RuntimeError, say) one line
    naming that process, its error's type and first line, after `where`), so that none is
    left waiting in the next collective for a process that stopped (forever, where the caller
    catches the error; a gloo "Connection closed by peer" traceback, where it exits). A
    collective: every process calls it at the same point, with None where it met no error,
    and all return together when none did (one all-reduce of one number). Outside DDP it
    raises `error` itself, if any."""
    if not is_distributed():
        if error is not None:
            raise error
        return
    first = _for_backend(torch.tensor([rank() if error is not None else world_size()]))
    dist.all_reduce(first, op=dist.ReduceOp.MIN)
    source = int(first.item())
    if source == world_size():
        return
    if error is not None and rank() == source:  # its message and type, to every process
        text = shared_message(error, where).encode("utf-8", "backslashreplace")
        kind = len(SHARED_ERRORS) - 1  # EENetError: any other error's line (`shared_message`)
        if isinstance(error, EENetError):
            kind = next(k for k, cls in enumerate(SHARED_ERRORS) if isinstance(error, cls))
        dist.broadcast(_for_backend(torch.tensor([len(text), kind])), src=source)
        dist.broadcast(_for_backend(torch.tensor(list(text), dtype=torch.uint8)), src=source)
        raise error
    header = _for_backend(torch.zeros(2, dtype=torch.long))
    dist.broadcast(header, src=source)
    body = _for_backend(torch.zeros(int(header[0]), dtype=torch.uint8))
    dist.broadcast(body, src=source)
    message = bytes(body.cpu().tolist()).decode("utf-8", "replace")
    raise SHARED_ERRORS[int(header[1])](message) from None


def shared_message(error: Exception, where: str = "") -> str:
    """What the other processes raise for this process's `error`: an EENetError's own message;
    for any other, one line naming this process and the error's type and first line (its
    traceback is printed by this process alone), after `where` ("train: ...")."""
    if isinstance(error, EENetError):
        return str(error)
    prefix = f"{where}: " if where else ""
    return (f"{prefix}process {rank()} of {world_size()} stopped with {type(error).__name__}: "
            f"{one_line(first_line(error))} (its traceback is in that process's output)")


class GradientsSeen:
    """Under DDP, the trainable parameters of `module` whose gradient this step's backward pass
    accumulated (`start` forgets them), so that a process whose backward pass failed can still
    finish DDP's gradient all-reduce (`finish_reduction`), which the others wait in. Nothing is
    watched outside DDP. `close` removes its hooks."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.seen: set[int] = set()
        self.handles = ([p.register_post_accumulate_grad_hook(self._accumulated)
                         for p in self.params] if is_distributed() else [])

    def _accumulated(self, param: torch.Tensor) -> None:
        self.seen.add(id(param))

    def start(self) -> None:
        """Forget the parameters seen: a backward pass begins."""
        self.seen.clear()

    def finish_reduction(self) -> None:
        """After a failed backward pass: accumulate a zero gradient into every parameter it
        did not reach, so DDP's hooks launch the gradient all-reduces the other processes wait
        in (its buckets, in order) and its backward ends with theirs; this process's
        gradients are then no use (the caller shares its error, and no process steps on
        them). Nothing outside DDP."""
        if not self.handles:
            return
        rest = [p for p in self.params if id(p) not in self.seen]
        if rest:
            torch.autograd.backward(rest, [torch.zeros_like(p) for p in rest])

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self.handles:
            handle.remove()
        self.handles = []


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
