"""The exit-outputs contract between stages: logits per exit, and labels.

Exit outputs (`<split>.npz`): `logits` float32 [n_exits, n_samples, n_classes] (raw, before
softmax; -inf for some classes of a row marks masked classes, NaN and +inf are errors) and
`labels` int64 [n_samples]. A file holding `probs` instead of `logits` is accepted
(its log is used as logits, which gives the same softmax) if they are probabilities: finite,
never negative (beyond PROB_ROUNDOFF, read as 0), and at most 1 and summing to 1 over the
classes within PROB_TOLERANCE. A file
holding both is an error, and so are probabilities saved as `logits` (`check_exit_arrays`).
Per-exit costs, the other contract, are `eenet.costs`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import InitVar, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eenet.atomic import write_with
from eenet.errors import (
    NUMPY_LOAD_ERRORS,
    ArtifactError,
    counted,
    first_line,
    npz_array,
    numpy_load_problem,
    require_regular_file,
)
from eenet.labels import check_label_range, holds_integers

if TYPE_CHECKING:
    import torch

PROB_TOLERANCE = 1e-2  # how far `probs` may stray above 1 and from summing to 1 (float16)
# negative `probs` this small are round-off (a class's 1 - the sum of the others, say), read as
# 0; more negative is an error (-1e-12 was refused while every value x 1.009 passed)
PROB_ROUNDOFF = 1e-6
# how many samples of each exit the cheap checks of an array's kind read: `check_exit_arrays`
# telling probabilities given as logits, `decide` telling log-probabilities from logits or
# probabilities (such a mistake shows in every row; all rows would cost a scan of the array)
HEAD_CHECK_SAMPLES = 1024


def percent_correct(hits: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Percent of True in `hits` (along `axis`), as 100 * count / n: one rounding, so 2959 of
    4000 reads 73.975 (100 * mean rounds twice: 73.97500000000001)."""
    hits = np.asarray(hits, dtype=bool)
    n = hits.size if axis is None else hits.shape[axis]
    return np.float64(100.0) * np.count_nonzero(hits, axis=axis) / n  # n = 0: nan, as a mean


def log_softmax64(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Float64 log-softmax over the last axis of float32 logits: the one arithmetic used by the
    simulation (`ExitOutputs.log_probs`) and by real early exit (`eenet.runtime`).

    z = x - max x; z - log(sum exp z), written into `out` (float64, the logits' shape; a new
    array when None) with ufuncs called directly and in place: the per-call overhead matters
    at batch 1, where the runtime calls this once per exit."""
    z = np.empty(logits.shape, dtype=np.float64) if out is None else out
    top = np.maximum.reduce(logits, axis=-1, keepdims=True)  # exact in float32 as in float64
    np.subtract(logits, top, out=z, dtype=np.float64)  # both cast to float64 exactly first
    total = _sum_exp(z)
    return np.subtract(z, np.log(total, out=total), out=z)


# values per block of a large array's float64 temporaries (8 MB): exp(z) of a whole [K, n, C]
# split was another array as large as the log-probabilities (1.6 GB for ImageNet's 5 x 50,000
# x 1000), allocated and freed at each call
BLOCK_VALUES = 1 << 20


def row_blocks(n_rows: int, n_cols: int) -> list[slice]:
    """The blocks of rows, about BLOCK_VALUES values each, that a [n_rows, n_cols] array is
    processed in to keep its temporaries small; each of at least 2 rows where there are 2
    (numpy's einsum sums a lone row of over 8192 values in another order than the same row
    among others: `scores.entropy` gave another last bit)."""
    step = max(2, BLOCK_VALUES // max(n_cols, 1))
    starts = list(range(0, n_rows, step))
    if len(starts) > 1 and n_rows - starts[-1] == 1:  # a lone last row joins the block before
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], n_rows], strict=True)]


def _sum_exp(z: np.ndarray) -> np.ndarray:
    """sum exp z over the last axis, keepdims, float64 (`reduce_exp_rows`: a large `z` block by
    block of rows, each row's sum the same number as at once)."""
    return reduce_exp_rows(z, lambda p, _: np.add.reduce(p, axis=-1))[..., None]


def reduce_exp_rows(
    z: np.ndarray, reduce: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """`reduce(exp z, z)` over the last axis, float64 z.shape[:-1]: `reduce` maps rows of
    exp z and of z, [n, C] both, to one number per row [n]. A large C-contiguous `z` block by
    block of rows (`row_blocks`), exp written into one reused buffer of a block (exp z was
    another array as large as z); each row's number is the same as at once."""
    if z.size <= BLOCK_VALUES or not z.flags.c_contiguous or z.ndim < 2:
        return reduce(np.exp(z), z)
    rows = z.reshape(-1, z.shape[-1])
    out = np.empty(rows.shape[0], dtype=np.float64)
    blocks = row_blocks(*rows.shape)
    buffer = np.empty((max(b.stop - b.start for b in blocks), rows.shape[1]), dtype=np.float64)
    for block in blocks:
        out[block] = reduce(np.exp(rows[block], out=buffer[:block.stop - block.start]),
                            rows[block])
    return out.reshape(z.shape[:-1])


def predicted_classes(logits: np.ndarray) -> np.ndarray:
    """Each row's predicted class, int64: the argmax of its float64 log-probabilities
    (`log_softmax64`), the class the schedulers' own argmax names (patience's agreement,
    EENet's features and training targets read log-probabilities). Logits of one row closer
    than the log-softmax resolves (under ~1e-16 apart: tiny logits) give equal log-probs, the
    first of them named; the logits' own argmax could name another, and an exit's prediction
    then differed between the reports, the runtime and the schedulers."""
    return log_softmax64(logits).argmax(axis=-1)


def _torch_as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A torch tensor as a numpy array: detached, on the CPU, bfloat16 (which numpy lacks) as
    float32, any other dtype kept."""
    import torch  # already imported: the caller found it in sys.modules

    tensor = tensor.detach().cpu().resolve_conj().resolve_neg()  # numpy takes neither bit
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


def _as_numpy(value: object, name: str) -> np.ndarray:
    """`value` as a numpy array: an ndarray unchanged, a torch tensor (or a list or tuple of
    tensors, stacked: a multi-exit model's per-exit logits) via `_torch_as_numpy`, anything
    else through np.asarray; what does not convert is a one-line ArtifactError."""
    if isinstance(value, np.ndarray):
        return value
    torch = sys.modules.get("torch")  # no tensor can exist before torch is imported
    try:
        if torch is not None:
            if isinstance(value, (list, tuple)) and value and all(
                    isinstance(item, torch.Tensor) for item in value):
                value = torch.stack([item.detach() for item in value])
            if isinstance(value, torch.Tensor):
                return _torch_as_numpy(value)
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ArtifactError(f"ExitOutputs: {name} do not convert to a numpy array "
                            f"({first_line(exc)})") from None


@dataclass(frozen=True, eq=False)  # arrays: compared by identity (numpy's == is no truth value)
class ExitOutputs:
    """What every exit of a multi-exit model produced on one split.

    Built from numpy arrays, torch tensors (detached and moved to the CPU; bfloat16 becomes
    float32) or nested lists; the shapes and dtypes are checked at once (`check_exit_arrays`),
    the logits' values (NaN, inf) by `validate_exit_outputs`. Labels are kept as int64, the
    logits in their own real dtype. `source` (keyword, not kept) is what the checks' errors
    name: `load_exit_outputs` gives the file's path."""

    logits: np.ndarray  # real [n_exits, n_samples, n_classes]; float32 when loaded from a file
    labels: np.ndarray  # int64 [n_samples]
    # what the checks' errors name (a file's path, say); not kept
    source: InitVar[str] = "ExitOutputs"

    def __post_init__(self, source: str) -> None:
        logits = _as_numpy(self.logits, "logits")
        labels = check_exit_arrays(logits, _as_numpy(self.labels, "labels"), source)
        object.__setattr__(self, "logits", logits)  # frozen: set once, here
        object.__setattr__(self, "labels", labels)

    @property
    def n_exits(self) -> int:
        """Exits (the logits' first axis)."""
        return int(self.logits.shape[0])

    @property
    def n_samples(self) -> int:
        """Samples (the logits' second axis)."""
        return int(self.logits.shape[1])

    @property
    def n_classes(self) -> int:
        """Classes (the logits' last axis)."""
        return int(self.logits.shape[2])

    def log_probs(self) -> np.ndarray:
        """Log-softmax of the logits in float64, [n_exits, n_samples, n_classes]. Logits
        holding a row without an answer (NaN, +inf, only -inf) are a one-line ArtifactError
        (`check_logit_values`), as for every other use of the outputs."""
        self.check_values()
        return log_softmax64(self.logits)

    def check_values(self) -> None:
        """The logits' values: no row without an answer (`check_logit_values`), else a
        one-line ArtifactError. Their answers (log-probabilities, predictions, hits) check
        this first: a NaN logit gave an exit a silent accuracy."""
        check_logit_values(self.logits, "exit outputs")

    def probs(self) -> np.ndarray:
        """Softmax of the logits in float64, [n_exits, n_samples, n_classes]."""
        return np.exp(self.log_probs())

    def predictions(self) -> np.ndarray:
        """Predicted class of every exit, int64 [n_exits, n_samples]: the argmax of the
        log-probabilities, as the schedulers and the runtime take it (`predicted_classes`),
        computed a block of samples at a time (never all float64 log-probabilities at once)."""
        self.check_values()
        logits = self.logits
        out = np.empty(logits.shape[:2], dtype=np.int64)
        for block in row_blocks(logits.shape[1], logits.shape[0] * logits.shape[2]):
            out[:, block] = predicted_classes(logits[:, block])  # all exits of some samples
        return out

    def correct(self) -> np.ndarray:
        """Whether each exit is right on each sample, bool [n_exits, n_samples]: `correct_of`
        a block of samples at a time (never all float64 log-probabilities at once)."""
        self.check_values()
        logits = self.logits
        out = np.empty(logits.shape[:2], dtype=bool)
        for block in row_blocks(logits.shape[1], logits.shape[0] * logits.shape[2]):
            out[:, block] = correct_of(log_softmax64(logits[:, block]), self.labels[block])
        return out

    def log_probs_and_correct(self) -> tuple[np.ndarray, np.ndarray]:
        """`log_probs()` and `correct()` from one log-softmax: what an evaluation reads."""
        log_probs = self.log_probs()
        return log_probs, correct_of(log_probs, self.labels)

    def exit_accuracy(self) -> np.ndarray:
        """Accuracy (percent) of each exit alone, [n_exits]."""
        return percent_correct(self.correct(), axis=1)


def correct_of(log_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Whether each exit is right on each sample, bool [n_exits, n_samples], from the
    float64 log-probabilities [n_exits, n_samples, n_classes] (their argmax: the class
    `predicted_classes` names) and the labels [n_samples]. The one rule of `ExitOutputs.
    correct`, which applies it a block of samples at a time."""
    return log_probs.argmax(axis=-1) == labels[None, :]


def checked_labels(labels: np.ndarray, n_samples: int, n_classes: int, source: str,
                   name: str = "labels") -> np.ndarray:
    """`labels` as int64 after checking them: one integer per sample, each in [0, n_classes)
    (`eenet.labels`' rules); an ArtifactError naming `source` and the array's `name`
    otherwise."""
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ArtifactError(
            f"{source}: {name} must be [n_samples] with n_samples={n_samples}, "
            f"got shape {labels.shape}"
        )
    if not holds_integers(labels):
        raise ArtifactError(f"{source}: {name} must be integers, got dtype {labels.dtype}")
    check_label_range(labels, n_classes, source, name)
    return labels.astype(np.int64, copy=False)


def one_exit_hint(ndim: int, name: str) -> str:
    """What to do with exit outputs of `ndim` axes where three are needed: two are one exit's
    [n_samples, n_classes] (the final exit's alone, say), stacked with the others' into
    [n_exits, ...]; '' for any other count."""
    if ndim != 2:
        return ""
    return (f" (one exit's {name}? stack every exit's, first to last: "
            f"np.stack([{name}_0, {name}_1, ...]))")


def looks_like_probabilities(head: np.ndarray) -> bool:
    """Whether `head` [..., C] holds probabilities: every value in [0, 1] and each row summing
    to 1, within PROB_TOLERANCE (as a file's `probs` are accepted); NaN is neither."""
    head = np.asarray(head, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return bool(head.size and head.min() >= -PROB_ROUNDOFF
                    and head.max() <= 1 + PROB_TOLERANCE
                    and (np.abs(head.sum(axis=-1) - 1) <= PROB_TOLERANCE).all())


def check_exit_arrays(logits: np.ndarray, labels: np.ndarray, source: str) -> np.ndarray:
    """The cheap checks of exit outputs, on numpy arrays: real logits [n_exits, n_samples,
    n_classes] with >=1 exit, >=1 sample and >=2 classes, integer labels [n_samples] in
    [0, n_classes), and logits that are no probabilities (their first
    HEAD_CHECK_SAMPLES samples: a softmax of probabilities is not theirs, so every
    policy would decide on the wrong confidences, and spend the wrong budget, without a
    word). Returns the labels as int64; an ArtifactError naming `source` otherwise."""
    if logits.dtype.kind not in "fiu":  # complex, object, bool, text
        raise ArtifactError(f"{source}: logits must be real numbers, got dtype {logits.dtype}")
    if logits.ndim != 3:
        raise ArtifactError(f"{source}: logits must be [n_exits, n_samples, n_classes], got "
                            f"shape {logits.shape}{one_exit_hint(logits.ndim, 'logits')}")
    if logits.shape[0] < 1 or logits.shape[1] < 1 or logits.shape[2] < 2:
        raise ArtifactError(f"{source}: need >=1 exit, >=1 sample, >=2 classes; got {logits.shape}")
    if labels.ndim == 1 and labels.shape[0] == logits.shape[0] != logits.shape[1]:
        raise ArtifactError(
            f"{source}: logits of shape {logits.shape} look like [n_samples, n_exits, "
            f"n_classes] ({labels.shape[0]} labels); give [n_exits, n_samples, n_classes]: "
            "np.transpose(logits, (1, 0, 2))"
        )
    if looks_like_probabilities(logits[:, :HEAD_CHECK_SAMPLES]):
        raise ArtifactError(
            f"{source}: logits look like probabilities (each row in [0, 1], summing to 1 "
            f"within {PROB_TOLERANCE}), whose softmax is not theirs: give the logits, or "
            "np.log(probs) as logits, or in an .npz file the probabilities as 'probs'"
        )
    return checked_labels(labels, logits.shape[1], logits.shape[2], source)


def validate_exit_outputs(outputs: ExitOutputs, source: str = "exit outputs") -> ExitOutputs:
    """Check shapes, dtypes and label range again (`check_exit_arrays`: the arrays may have
    changed in place since construction) and the logits' values (`check_logit_values`, the
    costly scan); raise ArtifactError naming `source`."""
    if not isinstance(outputs, ExitOutputs):  # an array given for the outputs, say
        raise ArtifactError(f"{source}: expected ExitOutputs (logits and labels), got "
                            f"{type(outputs).__name__}")
    check_exit_arrays(outputs.logits, outputs.labels, source)
    check_logit_values(outputs.logits, source)
    return outputs


def rows_without_answer(logits: np.ndarray) -> np.ndarray:
    """Which rows of `logits` [..., C] hold NaN or +inf, or -inf for every class, bool [...];
    -inf for some classes (a masked class, probability 0) is fine. The one rule of the
    exit-outputs files and of real early exit (`eenet.runtime.check_final_logits`)."""
    # NaN < inf is False: a NaN row fails the first test
    return ~(logits < np.inf).all(axis=-1) | ~(logits > -np.inf).any(axis=-1)


def first_row_without_answer(logits: np.ndarray) -> tuple[int, int, int] | None:
    """(exit, sample) of the first row without an answer (`rows_without_answer`) and how many
    rows have none, or None where every row has one."""
    if np.isfinite(logits).all():  # the usual case
        return None
    bad = rows_without_answer(logits)
    if not bad.any():
        return None
    exit_k, sample = (int(i[0]) for i in np.nonzero(bad))
    return exit_k, sample, int(np.count_nonzero(bad))


def check_logit_values(logits: np.ndarray, source: str, name: str = "logits") -> None:
    """No row without an answer (`rows_without_answer`); the error names the first such row
    and what it holds, and counts them, calling the array `name` (log-probabilities follow
    the same rule)."""
    first = first_row_without_answer(logits)
    if first is None:
        return
    exit_k, sample, count = first
    row = logits[exit_k, sample]
    what = "NaN" if np.isnan(row).any() else "+inf" if (row == np.inf).any() else (
        "-inf for every class")
    raise ArtifactError(
        f"{source}: {name} hold {what} at exit {exit_k}, sample {sample} "
        f"({count} of {logits.shape[0] * logits.shape[1]} rows hold NaN, +inf or only -inf); "
        "-inf is allowed only for some classes of a row (masked classes)"
    )


def save_exit_outputs(path: str | os.PathLike, outputs: ExitOutputs) -> Path:
    """Validate and atomically write exit outputs as an uncompressed npz (float32 logits:
    finite values beyond float32's range are an error, not a silent +-inf)."""
    validate_exit_outputs(outputs, str(path))
    logits = _logits_as_float32(outputs.logits, Path(path))

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                logits=logits,
                labels=outputs.labels.astype(np.int64),
            )

    return write_with(path, _write)


def _real_array(array: np.ndarray, name: str, path: Path) -> np.ndarray:
    """`array` unchanged if it holds real numbers (ints or floats); complex, bool or text is an
    error (a cast would silently drop the imaginary part or invent numbers)."""
    if array.dtype.kind not in "iuf":
        raise ArtifactError(
            f"{path}: {name} must be real numbers (float or int), got dtype {array.dtype}"
        )
    return array


def _logits_as_float32(logits: np.ndarray, path: Path) -> np.ndarray:
    """Logits cast to float32; finite values beyond float32's range are a one-line error (no
    numpy overflow warning)."""
    with np.errstate(over="ignore"):
        cast = logits.astype(np.float32, copy=False)
    # ints and float16/32 are within float32's range (an int past 2**24 is rounded to float32's
    # precision, as float64 logits are: the outputs are float32 throughout)
    if logits.dtype.kind != "f" or logits.dtype.itemsize <= 4:
        return cast  # (a loaded file's float32: two scans of every logit spared)
    if (np.isinf(cast) & np.isfinite(logits)).any():  # -inf given (masked classes) is fine
        raise ArtifactError(
            f"{path}: logits exceed the float32 range (|x| <= {np.finfo(np.float32).max:.4g})"
        )
    return cast


def _refuse_probs(bad: np.ndarray, probs: np.ndarray, path: Path, rule: str) -> None:
    """The one-line error for probabilities breaking `rule` where `bad` [exits, samples,
    classes]: the first such value's exit, sample and class, and how many rows hold one."""
    exit_k, sample, cls = (int(i[0]) for i in np.nonzero(bad))
    rows = np.count_nonzero(bad.any(axis=-1))
    raise ArtifactError(
        f"{path}: probs {rule}; exit {exit_k}, sample {sample}, class {cls} holds "
        f"{probs[exit_k, sample, cls]:.6g} ({rows} of {bad.shape[0] * bad.shape[1]} rows "
        "hold such a value)"
    )


def _check_probs(probs: np.ndarray, path: Path) -> None:
    """Probabilities [n_exits, n_samples, n_classes]: finite, never below -PROB_ROUNDOFF, at
    most 1 + PROB_TOLERANCE, each row summing to 1 within PROB_TOLERANCE (float16 rounding)."""
    if probs.ndim != 3:
        raise ArtifactError(f"{path}: probs must be [n_exits, n_samples, n_classes], got shape "
                            f"{probs.shape}{one_exit_hint(probs.ndim, 'probs')}")
    if probs.size == 0:
        return
    finite = np.isfinite(probs)
    if not finite.all():
        _refuse_probs(~finite, probs, path, "hold NaN or inf")
    if probs.min() < -PROB_ROUNDOFF:
        _refuse_probs(probs < -PROB_ROUNDOFF, probs, path,
                      f"must not be negative (beyond {PROB_ROUNDOFF:g} of round-off)")
    if probs.max() > 1 + PROB_TOLERANCE:
        _refuse_probs(probs > 1 + PROB_TOLERANCE, probs, path,
                      f"must lie in [0, 1] (within {PROB_TOLERANCE})")
    sums = probs.sum(axis=-1)
    off = np.abs(sums - 1) > PROB_TOLERANCE
    if off.any():
        exit_k, sample = (int(i[0]) for i in np.nonzero(off))
        raise ArtifactError(
            f"{path}: probs must sum to 1 over the classes (within {PROB_TOLERANCE}); "
            f"exit {exit_k}, sample {sample} sums to {sums[exit_k, sample]:.6g}"
        )


def _logits_from_probs(probs: np.ndarray, path: Path) -> np.ndarray:
    """Validated probabilities' log as float32 logits (the same softmax), shifted so that each
    row's largest is 0: float32 then keeps what tells the top classes apart (log 0.5 and
    log(0.5 + 1e-8) round to the same float32; shifted, their difference 2e-8 is kept)."""
    probs = probs.astype(np.float64)
    _check_probs(probs, path)
    with np.errstate(divide="ignore"):
        logs = np.log(np.maximum(probs, 0.0))  # round-off below 0 (PROB_ROUNDOFF) is 0
    logs -= logs.max(axis=-1, keepdims=True)
    return np.maximum(logs, -1e4).astype(np.float32)


def _read_npz_arrays(npz: np.lib.npyio.NpzFile, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(float32 logits, labels) from an open npz holding `labels` and `logits` or `probs`."""
    keys = set(npz.files)
    if "labels" not in keys or not ({"logits", "probs"} & keys):
        raise ArtifactError(
            f"{path}: expected arrays 'logits' (or 'probs') and 'labels', found {sorted(keys)}"
        )
    if {"logits", "probs"} <= keys:
        raise ArtifactError(
            f"{path}: holds both 'logits' and 'probs'; expected one of them (and 'labels')"
        )
    labels = npz_array(npz, "labels")
    if "logits" in keys:
        return _logits_as_float32(_real_array(npz_array(npz, "logits"), "logits", path),
                                  path), labels
    return _logits_from_probs(_real_array(npz_array(npz, "probs"), "probs", path), path), labels


def check_exit_outputs_file(path: str | os.PathLike) -> Path:
    """`path` as a Path when a regular file is there, else a one-line ArtifactError (a
    folder, a device such as /dev/null, a pipe, or nothing): what a command checks of each
    outputs file it is given before loading any."""
    return require_regular_file(Path(path), "an exit-outputs .npz", "exit outputs file not found")


def load_exit_outputs(path: str | os.PathLike) -> ExitOutputs:
    """Load and validate an exit-outputs npz (`logits` or `probs`, and `labels`)."""
    path = check_exit_outputs_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ArtifactError(
                f"{path}: a single .npy array, not an .npz archive; expected an .npz with "
                "arrays 'logits' (or 'probs') and 'labels' (np.savez)"
            )
        with loaded as npz:
            logits, labels = _read_npz_arrays(npz, path)
    except ArtifactError:
        raise
    except NUMPY_LOAD_ERRORS as exc:
        raise ArtifactError(f"{path}: not a readable npz file ({numpy_load_problem(exc)})"
                            ) from None
    outputs = ExitOutputs(logits, labels, source=str(path))  # its checks' errors name the file
    check_logit_values(outputs.logits, str(path))
    return outputs


def check_compatible(outputs: ExitOutputs, costs: np.ndarray, source: str = "inputs") -> None:
    """The exit outputs and the costs must describe the same number of exits."""
    if outputs.n_exits != len(costs):
        raise ArtifactError(
            f"{source}: exit outputs have {counted(outputs.n_exits, 'exit')} but costs list "
            f"{len(costs)}"
        )
