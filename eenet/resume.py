"""Whether a training run resumes from its checkpoint, and restoring what it resumes with.

A checkpoint resumes only a run of the same fingerprint that is unfinished (or finished but
its artifact never written), of as many DDP processes, whose weights fit the model; otherwise
a one-line note says why training starts afresh, naming the settings that differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from eenet.checkpoint import CHECKPOINT_FILE, checked_checkpoint, is_delivered, load_checkpoint
from eenet.distributed import world_size
from eenet.errors import ArtifactError


def resumable_checkpoint(
    checkpoint_dir: str | Path, fingerprint: str, epochs: int,
    model: torch.nn.Module | None = None,
) -> dict[str, Any] | None:
    """The checkpoint of an unfinished run with the same fingerprint, else None
    (`checkpoint_to_resume` without its note; the train stage calls that, which also resumes
    a finished run whose artifact was never written, or that the same code ran).

    A finished run is not resumed here. Nor is a run of another number of DDP processes (its
    steps per epoch, hence its learning rate schedule, differ), nor, given `model`, one whose
    weights do not fit it (the model's code changed with the same params). A file that is no
    training checkpoint is refused (a one-line ArtifactError, see `checked_checkpoint`), as a
    corrupt one is.
    """
    return checkpoint_to_resume(checkpoint_dir, fingerprint, epochs, model)[0]


def checkpoint_to_resume(
    checkpoint_dir: str | Path, fingerprint: str, epochs: int,
    model: torch.nn.Module | None = None, settings: dict[str, Any] | None = None,
    resume_finished: bool = False, code: str | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """(`resumable_checkpoint`'s answer, a one-line note when an unfinished run's checkpoint
    is there but not resumed): naming the fields that differ from `settings` (what
    `fingerprint` hashes) where the checkpoint records its own, the number of processes, or
    weights that do not fit `model`. No note for a finished run's checkpoint.

    With `resume_finished`, a finished run's checkpoint is resumed too, with nothing left to
    train, when its artifact was never written (`awaits_artifact`) or when it records `code`,
    the digest of the code training now (`eenet.digests.package_digest`): the same settings
    trained by the same code give the same weights, so a rerun for a setting the fingerprint
    leaves out (WEIGHT_NEUTRAL) reuses them."""
    loaded = load_checkpoint(checkpoint_dir)
    if loaded is None:
        return None, None
    path = Path(checkpoint_dir) / CHECKPOINT_FILE
    state = checked_checkpoint(path, loaded, fingerprint)
    if state is None:
        return None, other_settings_note(path, loaded, settings)
    done = int(state["epoch"]) + 1
    if done >= epochs and not (done == epochs and resume_finished
                               and (same_code(state, code)
                                    or awaits_artifact(checkpoint_dir, state))):
        return None, None
    where = f"checkpoint {path} ({done} of {epochs} epochs)"
    processes = state.get("world_size", 1)
    if processes != world_size():
        return None, (f"{where} is of {processes} DDP processes, this run has {world_size()}; "
                      f"{TRAINING_AFRESH}")
    if model is not None and not same_shapes(state["model"], model.state_dict()):
        return None, f"{where} holds weights that do not fit the model; {TRAINING_AFRESH}"
    return state, None


TRAINING_AFRESH = "training from the start"


def same_code(state: dict[str, Any], code: str | None) -> bool:
    """Whether the checkpoint `state` records `code` as the digest of the code that trained
    it (an older checkpoint records none: its run is not reused)."""
    return code is not None and state.get("code") == code


def awaits_artifact(checkpoint_dir: str | Path, state: dict[str, Any]) -> bool:
    """Whether `state`, the checkpoint under `checkpoint_dir`, is of a run that marks its
    artifact written (`eenet.checkpoint.mark_delivered`) and is not marked: the run stopped
    between its last checkpoint and its artifact. An older checkpoint marks nothing: its
    finished run may have been saved, and a rerun (its code changed) trains afresh."""
    return state.get("marks_delivery") is True and not is_delivered(checkpoint_dir)


def other_settings_note(
    path: Path, state: dict[str, Any], settings: dict[str, Any] | None
) -> str | None:
    """The note for `state`, the checkpoint at `path` of another fingerprint: which of its
    recorded settings differ from `settings` (an older checkpoint records only the hash: "other
    training settings" alone); None if it is of a finished run."""
    epoch = state.get("epoch")
    done = epoch + 1 if isinstance(epoch, int) and not isinstance(epoch, bool) else None
    saved = state.get("settings")
    saved = saved if isinstance(saved, dict) else None
    train = saved.get("train") if saved is not None else None
    total = train.get("epochs") if isinstance(train, dict) else None
    if not isinstance(total, int) or isinstance(total, bool):
        total = None
    if done is not None and total is not None and done >= total:
        return None  # a finished run: nothing is lost
    if done is None:
        where = f"checkpoint {path}"
    elif total is None:
        where = f"checkpoint {path} ({done} epoch{'s' if done != 1 else ''} done)"
    else:
        where = f"checkpoint {path} ({done} of {total} epochs)"
    changes = settings_diff(saved, settings) if saved is not None and settings else []
    detail = f" ({', '.join(changes)})" if changes else ""
    return f"{where} is of other training settings{detail}; {TRAINING_AFRESH}"


def settings_diff(old: dict[str, Any], new: dict[str, Any], shown: int = 4) -> list[str]:
    """What differs between two nested settings dicts, by dotted name: "train.lr 0.003 ->
    0.002" (long values, e.g. digests, by name alone); at most `shown`, then "N more"."""
    before, after = _flat(old), _flat(new)
    changes = []
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name, "unset"), after.get(name, "unset")
        if a == b:
            continue
        texts = [str(v) for v in (a, b)]
        fits = all(len(t) <= 24 for t in texts)
        changes.append(f"{name} {texts[0]} -> {texts[1]}" if fits else name)
    if len(changes) > shown:
        changes = [*changes[:shown], f"{len(changes) - shown} more"]
    return changes


def _flat(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict of dotted names."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@contextmanager
def loading_state(path: Path, what: str) -> Iterator[None]:
    """Errors of loading `what` from the checkpoint `path` (a state of the right type but the
    wrong contents) as a one-line ArtifactError."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        raise ArtifactError(f"{path}: not a training checkpoint ({what} does not load: "
                            f"{detail})") from None


def same_shapes(saved: dict[str, Any], current: dict[str, torch.Tensor]) -> bool:
    """Whether two state dicts hold the same names with tensors of the same shapes."""
    return saved.keys() == current.keys() and all(
        isinstance(saved[k], torch.Tensor) and saved[k].shape == v.shape
        for k, v in current.items()
    )


def rng_states(device: torch.device) -> dict[str, Any]:
    """The random states a resumed run continues from: the CPU generator's, and on a GPU the
    CUDA generators' (dropout, e.g. BERT's, draws from them there)."""
    states: dict[str, Any] = {"rng": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda_rng"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(state: dict[str, Any], device: torch.device) -> None:
    """Put back what `rng_states` saved (CUDA states only on a GPU with as many devices)."""
    torch.set_rng_state(state["rng"])
    cuda = state.get("cuda_rng")
    if device.type == "cuda" and cuda is not None and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def resuming_line(path: Path, done: int, epochs: int, delivered: bool = False) -> str:
    """The line saying a run resumes from the checkpoint `path` of `done` epochs (`delivered`:
    a finished run whose artifact was written, reused by a rerun of the same code)."""
    if done < epochs:
        return f"resuming from epoch {done} of {epochs} ({done} done, checkpoint {path})"
    if delivered:
        return (f"reusing checkpoint {path} ({done} of {epochs} epochs): a finished run of "
                f"these settings by this code, the model is taken from it; delete "
                f"{path.parent} to train again")
    return (f"resuming from checkpoint {path} ({done} of {epochs} epochs): all trained, the "
            "model is taken from it")


