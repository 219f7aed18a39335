"""Real early exit: run a multi-exit model segment by segment and stop where the policy says.

After exit k's head, the fitted policy scores the samples still in the batch from the
log-probabilities of exits 0..k (computed exactly as the simulation computes them: float32
logits -> float64 log-softmax, `ExitOutputs.log_probs`); samples whose score reaches t_k leave
with exit k's prediction, the others continue in a smaller batch (`select_batch`). The last
exit takes everyone left. Decisions are therefore identical to `policy.decide` on the dumped
logits of the same model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from eenet.batching import split_batches, to_device
from eenet.devices import memory_names, resolve_device
from eenet.errors import ArtifactError, ConfigError, naming
from eenet.labels import MODEL_EXITS, LabelError, batch_labels, check_label_range
from eenet.models.base import (
    MultiExitModel,
    batch_size_of,
    check_model,
    input_sample_spec,
    select_batch,
    weights_dtype,
)
from eenet.outputs import (
    log_softmax64,
    percent_correct,
    predicted_classes,
    rows_without_answer,
)
from eenet.schedulers.base import FittedPolicy
from eenet.schedulers.thresholds import check_first_index, exit_distribution, split_ties


@dataclass(eq=False)  # arrays: compared by identity (numpy's == is no truth value)
class EarlyExitResult:
    """Per-sample outcome of early-exit inference, in input order."""

    predictions: np.ndarray  # int64 [N]
    exits: np.ndarray  # int64 [N], exit index each sample left at
    seconds: float = 0.0  # wall time of the whole run (device synchronised)
    schedule_seconds: float = 0.0  # part of it spent scoring, deciding and shrinking batches
    labels: np.ndarray | None = None  # int64 [N] when the inputs came with labels
    logits: np.ndarray | None = None  # float32 [K, N, C] if kept; 0 for exits not computed
    # (seconds, samples) of each call a concatenation joined; empty: this one call
    calls: list[tuple[float, int]] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        """Samples run."""
        return int(self.exits.shape[0])

    def exit_fractions(self, n_exits: int) -> np.ndarray:
        """Fraction of the samples that left at each exit, [n_exits]."""
        return exit_distribution(self.exits, n_exits)

    def call_ms_per_sample(self) -> np.ndarray:
        """The ms/sample of each call that made this result, in order (one for a single call),
        float64. A call of no samples has none and is left out (an empty batch's overhead was
        counted as one sample's time): the result of an empty batch gives an empty array."""
        calls = self.calls or [(self.seconds, self.n_samples)]
        return np.array([1000.0 * seconds / n for seconds, n in calls if n > 0],
                        dtype=np.float64)

    def accuracy(self) -> float:
        """Percent correct (needs labels: a one-line ConfigError otherwise)."""
        if self.labels is None:
            raise ConfigError("accuracy: this result has no labels; run labelled data "
                              "(predict_dataset of (input, label) items, or predict_batches "
                              "of (inputs, labels) batches), or compare its predictions with "
                              "the labels yourself")
        return float(percent_correct(self.predictions == self.labels))

    @staticmethod
    def concatenate(parts: list[EarlyExitResult]) -> EarlyExitResult:
        """The results of consecutive parts of one stream as one result."""
        labels = [p.labels for p in parts]
        logits = [p.logits for p in parts]
        return EarlyExitResult(
            predictions=np.concatenate([p.predictions for p in parts]),
            exits=np.concatenate([p.exits for p in parts]),
            seconds=sum(p.seconds for p in parts),
            schedule_seconds=sum(p.schedule_seconds for p in parts),
            labels=None if any(x is None for x in labels) else np.concatenate(labels),
            logits=None if any(x is None for x in logits) else np.concatenate(logits, axis=1),
            calls=[call for p in parts for call in (p.calls or [(p.seconds, p.n_samples)])],
        )


def check_batch_size(batch_size: Any, param: str = "batch_size") -> None:
    """`batch_size` is an integer >= 1 (a numpy one too, not a bool), else a one-line
    ConfigError naming `param`."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
            or batch_size < 1:
        raise ConfigError(f"{param}: expected an integer >= 1, got {batch_size!r}")


def robust_ms_per_sample(call_ms: np.ndarray, exits: np.ndarray, batch_size: int) -> float:
    """A load-robust ms/sample, the profile's statistic. Batch 1 (`call_ms` one per sample, in
    the order of `exits`): the median ms of the samples leaving at each exit, averaged with the
    exits' counts (a plain median is the cost of the exit most samples take); larger
    batches: the median over calls. No calls, or at batch 1 not one call per exit, is a
    one-line ConfigError (a ZeroDivisionError or an IndexError before)."""
    call_ms, exits = np.asarray(call_ms, dtype=np.float64), np.asarray(exits)
    check_batch_size(batch_size)
    if call_ms.ndim != 1 or call_ms.size == 0:
        raise ConfigError(f"call_ms: expected the ms/sample of one or more calls, got shape "
                          f"{call_ms.shape}")
    if batch_size > 1:
        return float(np.median(call_ms))
    if exits.shape != call_ms.shape:
        raise ConfigError(f"exits: at batch 1 one exit per call ({call_ms.size}), got shape "
                          f"{exits.shape}")
    return float(sum(np.median(call_ms[exits == k]) * np.count_nonzero(exits == k)
                     for k in np.unique(exits)) / exits.size)


def _input_spec(model: MultiExitModel) -> tuple[tuple[int, ...], torch.dtype] | None:
    """The sample shape of the model's example inputs and the dtype its weights compute in
    (a model made half or double precision takes inputs of that precision); None for a model
    of texts or one without `example_inputs` (nothing to check against)."""
    try:
        spec = input_sample_spec(model)
    except NotImplementedError:
        return None
    if spec is None:
        return None
    weights = weights_dtype(model)
    return spec[0], weights if spec[1].is_floating_point and weights is not None else spec[1]


def forced_exit_thresholds(n_exits: int) -> np.ndarray:
    """Thresholds no score reaches: used with `EarlyExitPredictor.predict_exit`."""
    return np.full(n_exits, np.inf)


class EarlyExitPredictor:
    """A multi-exit model plus a fitted policy that really stops computing for exited samples.

    `predict` and `predict_exit` (every sample forced to leave at one exit, which is what the
    latency profile times) share one code path, `_run`.
    """

    def __init__(self, model: MultiExitModel, policy: FittedPolicy, device: str = "auto") -> None:
        check_model(model)
        if not isinstance(policy, FittedPolicy):
            raise ConfigError(f"policy: expected a fitted policy (eenet.schedulers.fit_policy "
                              f"or load_policy), got {type(policy).__name__}")
        policy.check_exits(model.n_exits, "the model has")
        # what a batch of inputs must be: a tensor of these samples (None: a model of texts,
        # whose inputs are its `collate`'s, or one without example inputs to tell)
        self._inputs = _input_spec(model)
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.policy = policy
        self.thresholds = np.asarray(policy.thresholds, dtype=np.float64)
        self.tie_shares = list(policy.tie_shares)  # empty: no tie split
        self._never = forced_exit_thresholds(model.n_exits)
        self._last = model.n_exits - 1  # read per call: nn.Module attribute lookups are slow
        # classes of the model's exits, which labels must be: known from its first run, as
        # a policy need not record them (`n_classes` None: a policy file written before it
        # did, one built in code) and a model records no class count
        self._classes: int | None = None
        # exits past the last one a sample can leave at before the last exit (thresholds +inf
        # from there on) need no score: a policy that never exits early runs the plain model;
        # at the first exit where the policy lets everyone leave (threshold -inf) all leave,
        # unscored, and later exits are never reached
        self._scored = policy.exits_scored()
        self._stop = policy.exit_for_all()
        self._cpu = self.device.type == "cpu"

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def predict(self, inputs: Any, keep_logits: bool = False,
                first_index: int = 0) -> EarlyExitResult:
        """Early-exit predictions for one batch of inputs. An empty batch (`x[:0]`: a serving
        queue's, drained) gives an empty result (int64 [0] predictions and exits; float32
        [K, 0, C] logits where kept), not an error; a whole run over no samples
        (`predict_batches`, `predict_dataset`) is one.

        `keep_logits` also returns the logits the run computed (exits 0..exit of each sample),
        so that `policy.decide` can be replayed on exactly what the runtime saw.
        `first_index` is the index of the batch's first sample in the stream it comes from:
        a policy that splits samples tied at a threshold splits them by that index, so
        batches of a split, each given its offset, decide as the whole split at once.
        """
        return self._run(inputs, self.thresholds, self._stop, self._scored, keep_logits,
                         self.tie_shares, first_index)

    def check_inputs(self, inputs: Any) -> None:
        """A batch of a tensor model is a tensor of its samples' shape and dtype (a one-line
        ConfigError otherwise: torch's own errors came from deep in a layer, and samples of
        another length ran silently through a network that pools over any length)."""
        if self._inputs is None:  # texts: the model's `collate` made the inputs
            return
        shape, dtype = self._inputs
        if not isinstance(inputs, torch.Tensor) or inputs.dtype != dtype \
                or inputs.dim() != len(shape) + 1 or tuple(inputs.shape[1:]) != shape:
            tensor = isinstance(inputs, torch.Tensor)
            got = f"{inputs.dtype} of shape {tuple(inputs.shape)}" if tensor else \
                type(inputs).__name__
            lone = tensor and tuple(inputs.shape) == shape  # one sample without its batch axis
            raise ConfigError(f"inputs: expected a {dtype} tensor of shape (batch, "
                              f"{', '.join(map(str, shape))}), got {got}"
                              f"{' (one sample needs its batch axis: x[None])' if lone else ''}")

    def predict_exit(self, inputs: Any, k: int, keep_logits: bool = False) -> EarlyExitResult:
        """Every sample leaves at exit `k`, doing all the work of a real exit there: segments and
        heads 0..k, the policy's scores at the exits of 0..k that `predict` scores (those
        before the last exit, before the exit where the policy lets everyone leave unscored,
        and not past the last exit a sample may leave at early) with thresholds no score
        passes before k, the bookkeeping. The latency profile times this call."""
        if type(k) is not int and not isinstance(k, np.integer) or not 0 <= k <= self._last:
            raise ConfigError(f"k: expected an exit from 0 to {self._last}, got {k!r}")
        return self._run(inputs, self._never, k, self._scored, keep_logits)

    def _host(self, logits: torch.Tensor) -> np.ndarray:
        """Exit logits as float32 numpy on the host (no torch call beyond `numpy` when they
        already are float32 on the CPU, the batch-1 CPU case)."""
        if self._cpu and logits.dtype == torch.float32:
            return logits.numpy()
        return logits.float().cpu().numpy()

    def _run(self, inputs: Any, thresholds: np.ndarray, stop: int, scored: int,
             keep_logits: bool, tie_shares: list[float] | None = None,
             first_index: int = 0) -> EarlyExitResult:
        """The input checks, then `_steps` with the model in eval mode (a caller may have put
        it back in training mode since the predictor was made: dropout and batch statistics
        would then change the predictions and the exits), its mode restored afterwards.
        `seconds` is the wall time of all of it, device synchronised: what a caller timing the
        call sees, and what the latency profile times (from outside `predict_exit`)."""
        self._sync()
        start = time.perf_counter()
        first_index = check_first_index(first_index)  # a Python int: sample ids stay int64
        self.check_inputs(inputs)
        training = self.model.training
        if training:
            self.model.eval()
        try:
            # logits of inputs the model overflows on (inf, NaN) give NaN scores, which never
            # pass a threshold, and no answer at the last exit (`check_final_logits`): numpy's
            # warnings on the way (inf - inf in the log-softmax, a float32 sum past its
            # maximum) would only print beside that error or the result
            with np.errstate(invalid="ignore", over="ignore"):
                result = self._steps(inputs, thresholds, stop, scored, keep_logits, tie_shares,
                                     first_index)
        finally:
            if training:
                self.model.train()
        self._sync()
        result.seconds = time.perf_counter() - start
        return result

    @torch.inference_mode()
    def _steps(self, inputs: Any, thresholds: np.ndarray, stop: int, scored: int,
               keep_logits: bool, tie_shares: list[float] | None = None,
               first_index: int = 0) -> EarlyExitResult:
        """Run exits 0..`stop`; at exit k < min(K-1, `scored`) score the samples present and
        let those with score >= thresholds[k] leave (those scoring exactly thresholds[k] by
        their tie share, where the policy has one below 1); at later exits nobody leaves and
        nothing is scored; everyone still present leaves at `stop`.

        Per exit, the scheduling work is: exit k's log-softmax written in place into the
        history, the policy's `score_step` for exit k, one comparison and one count; the
        batch is shrunk (state, history, carry) only when some but not all samples leave."""
        model = self.model
        score_step = self.policy.score_step
        limits = thresholds.tolist()  # python floats: cheapest to compare against
        carry: np.ndarray | None = None  # the policy's per-sample state between exits
        last = self._last
        n = batch_size_of(inputs)
        predictions = np.empty(n, dtype=np.int64)
        exits = np.empty(n, dtype=np.int64)
        kept: np.ndarray | None = None
        history: np.ndarray | None = None  # float64 log-probs [K-1, len(present), C]
        present = np.arange(n)  # original positions of the samples still in the batch
        schedule = 0.0
        state = model.begin(to_device(inputs, self.device))
        for k in range(stop + 1):
            state = model.run_segment(k, state)
            logits = self._host(model.run_head(k, state))
            tick = time.perf_counter()
            if k == 0:  # the first head's classes are the policy's, scored or not
                self.policy.check_classes(logits.shape[1], "the model's exits give")
                self._classes = logits.shape[1]
            if keep_logits:
                if kept is None:
                    kept = np.zeros((last + 1, n, logits.shape[1]), dtype=np.float32)
                kept[k, present] = logits
            leaving = present.size
            log_probs: np.ndarray | None = None  # exit k's, where it is scored
            if k < last and k >= scored:
                leaving = 0
            elif k < last:
                if history is None:
                    history = np.empty((last, *logits.shape))
                log_probs = log_softmax64(logits, out=history[k])
                score, carry = score_step(k, history[:k + 1], carry)
                leave = score >= limits[k]
                if tie_shares and tie_shares[k] < 1.0:
                    split_ties(leave, score, limits[k], tie_shares[k], first_index + present, k)
                leaving = np.count_nonzero(leave)
            if k == stop or leaving == present.size:
                if k == stop:  # NaN / +inf logits never pass a threshold: they end up here
                    check_final_logits(logits, k, first_index + present)
                # the class: the log-probs' argmax, as the simulation's (`predicted_classes`)
                predictions[present] = (predicted_classes(logits) if log_probs is None
                                        else log_probs.argmax(axis=-1))
                exits[present] = k
                schedule += time.perf_counter() - tick
                break
            if leaving:
                gone = present[leave]
                predictions[gone] = log_probs[leave].argmax(axis=-1)
                exits[gone] = k
                stay = ~leave
                present = present[stay]
                history = history[:, stay]
                carry = None if carry is None else carry[stay]
                state = select_batch(state, torch.from_numpy(np.flatnonzero(stay)).to(self.device))
            schedule += time.perf_counter() - tick
        return EarlyExitResult(predictions, exits, 0.0, schedule, logits=kept)  # `_run` times

    def predict_in_order(self, batches: Iterable[tuple[Any, Any]],
                         batch_setting: tuple[str, int] | None = None,
                         source: str = "batches") -> list[EarlyExitResult]:
        """One result per (inputs, labels) batch, in order: each batch's `first_index` is the
        count of the samples before it (a tie-splitting policy then decides as on the whole
        stream), its labels (None: none) kept as int64 (`_checked_labels`: a one-line
        ArtifactError naming `source` unless they are one class of the model per sample).
        `batch_setting` as `predict_batches`'s, named when a batch does not fit in memory."""
        parts, seen = [], 0
        # labels that are no class index per sample, whether a batch was read with them (a
        # data set's, collated) or checked here: the error names `source`
        with naming(source, LabelError):
            for inputs, labels in batches:
                with memory_names(*batch_setting) if batch_setting else nullcontext():
                    part = self.predict(inputs, first_index=seen)
                seen += part.n_samples
                if labels is not None:
                    part.labels = self._checked_labels(labels, part.n_samples, source)
                parts.append(part)
        return parts

    def _checked_labels(self, labels: Any, n_samples: int, source: str) -> np.ndarray:
        """A batch's labels as int64 on the host: integer class indices (`batch_labels`), one
        per sample, each a class of the model's exits (`check_label_range`); else a one-line
        ArtifactError naming `source`. Labels outside the classes lowered `accuracy()` without
        a word, and a batch of more or fewer labels than samples shifted the labels of every
        batch after it."""
        values = batch_labels(labels)
        if values.numel() != n_samples:
            raise ArtifactError(f"{source}: a batch of {n_samples} samples came with "
                                f"{values.numel()} labels; give one label per sample")
        assert self._classes is not None  # `predict` ran the first exit
        check_label_range(values, self._classes, source, classes_of=MODEL_EXITS)
        return values.cpu().numpy()

    def predict_batches(self, batches: Iterable[Any],
                        batch_setting: tuple[str, int] | None = None) -> EarlyExitResult:
        """Run over the batches of e.g. a DataLoader, results in order: (inputs, labels) pairs,
        or inputs alone (a tensor, a dict, or the one-item list of `TensorDataset(x)`), then
        the result has no labels. Labels are one class of the model's exits per sample, else a
        one-line ArtifactError naming `batches`. `batch_setting`: the (name, value) of the
        setting that sized the batches; torch failing to allocate while running a batch is
        then a one-line ConfigError naming it."""
        return self._predict_all(batches, batch_setting, "batches")

    def _predict_all(self, batches: Iterable[Any], batch_setting: tuple[str, int] | None,
                     source: str) -> EarlyExitResult:
        """`predict_batches`, its batches' labels checked in the name of `source`. No samples
        at all (no batches, or only empty ones: a wrong path, a filter that kept nothing) is
        a one-line ArtifactError naming `source`: a run's accuracy and time per sample mean
        nothing there. An empty batch among others adds no samples, nor a call to
        `call_ms_per_sample`."""
        parts = self.predict_in_order(map(split_batch, batches), batch_setting, source)
        if not any(part.n_samples for part in parts):
            raise ArtifactError(f"{source}: no samples to predict")
        return EarlyExitResult.concatenate(parts)

    def predict_dataset(self, dataset: Dataset, batch_size: int = 1,
                        setting: str | None = None) -> EarlyExitResult:
        """Run over a dataset of (input, label) items, batched with the model's `collate`
        (a `batch_size` beyond the dataset: one batch of all of it); a label outside the
        model's classes is a one-line ArtifactError naming `dataset`. `setting`: the name of
        the setting that gave `batch_size`, named when a batch does not fit in memory."""
        check_batch_size(batch_size, setting or "batch_size")
        batches = split_batches(dataset, self.model, batch_size)
        return self._predict_all(batches, (setting, batch_size) if setting else None, "dataset")


class NoAnswerError(ArtifactError):
    """Samples the model gives no answer for (`check_final_logits`): the inputs' fault, so a
    caller that read them from a file names it."""


def check_final_logits(logits: np.ndarray, k: int, indices: np.ndarray) -> None:
    """Logits of the samples leaving at the run's last exit `k` (sample `indices` in the
    stream) hold no NaN or +inf and not only -inf, else a one-line NoAnswerError: such a
    sample has no answer (its scores were NaN at every exit before, so it came this far).
    Finite inputs far outside the model's range (|x| near float32's maximum) overflow to
    them. The error comes from the first batch holding one, so it counts that batch's samples
    at exit `k` (the others left earlier)."""
    if math.isfinite(logits.sum()):  # the usual case in one reduction (about 2 us at batch 1)
        return
    bad = rows_without_answer(logits)  # -inf for some classes (masked) is fine
    if bad.any():
        count = int(np.count_nonzero(bad))
        raise NoAnswerError(
            f"exit {k} gave NaN or infinite logits (or -inf for every class) for the sample at "
            f"index {int(indices[np.argmax(bad)])} ({count} of the {bad.size} samples of its batch "
            f"that reached exit {k}): the "
            f"model overflows on these inputs (far outside the range it was trained on?); no "
            f"prediction for them")


def split_batch(batch: Any) -> tuple[Any, Any]:
    """A loader's batch as (inputs, labels as given, or None when it has none)."""
    if not isinstance(batch, tuple | list):
        return batch, None
    if len(batch) == 1:
        return batch[0], None
    if len(batch) != 2:
        raise ArtifactError(f"predict_batches: a batch of {len(batch)} items; expected "
                            f"(inputs, labels) or inputs alone")
    return batch[0], batch[1]
