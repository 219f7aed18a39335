"""Per-exit latency: measure the cumulative cost of reaching each exit (tables measured
elsewhere: `eenet.latency_import`).

Reaching exit k is timed as the early-exit runtime itself delivering a prediction at exit k:
`EarlyExitPredictor.predict_exit` (stem, segments and heads 0..k, the policy's scoring at the
exits of 0..k that `predict` scores, host transfers, bookkeeping), the same code path
`predict` runs, so the planned cost is the measured one by construction up to noise. Every
repeat times the prefixes of all exits one after the other (interleaved), so slow drifts of the
machine hit every exit alike; the median over repeats, divided by the batch size, is the cost
per sample.

On tiny models, noise can make two medians of neighbouring exits come out equal or in the wrong
order. Then the measurement is repeated with twice as many repeats (pooled with the first), up
to `max_rounds` times; if the medians are still not strictly increasing we stop with a one-line
error rather than invent numbers.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from eenet.batching import to_device
from eenet.checks import COUNT_MAXIMUMS, check_minimums
from eenet.devices import memory_names, num_threads, resolve_device
from eenet.errors import ConfigError, EENetError
from eenet.models.base import (
    MultiExitModel,
    batch_size_of,
    check_example_batch,
    check_model,
    example_batch,
)
from eenet.schedulers.base import FittedPolicy


class MeasurementError(EENetError):
    """A latency measurement that cannot be trusted (e.g. costs not strictly increasing)."""


class NotIncreasingError(MeasurementError):
    """Per-exit medians not strictly increasing: `medians` (ms) after `repeats` timings; the
    message names the settings of `group` that would help."""

    def __init__(self, medians: list[float], repeats: int, group: str, advice: str) -> None:
        self.medians, self.repeats = medians, repeats
        super().__init__(f"{group}: measured per-exit medians are not strictly increasing "
                         f"after {repeats} repeats ({medians} ms); {advice}")


def not_increasing_advice(group: str) -> str:
    """What may help medians that are not increasing, in the settings of `group` (the
    profile stage can import a table instead)."""
    table = ", or import a table with profile.table" if group == "profile" else ""
    return f"raise {group}.repeats or {group}.batch_size{table}"


def reference_policy(n_exits: int) -> FittedPolicy:
    """The decision work a profile includes when no policy is given: MSDNet's max
    log-probability score (the cheapest registered policy's; a learned scorer costs more)."""
    from eenet.schedulers.maxprob import MaxProbPolicy

    return MaxProbPolicy("maxprob", float("nan"), np.zeros(n_exits))


def run_prefix(model: MultiExitModel, inputs: Any, k: int) -> Any:
    """The network alone up to exit k: stem, segments 0..k, heads 0..k; exit k's logits."""
    return model.forward(inputs, up_to=k)[-1]


def prefix_calls(
    model: MultiExitModel,
    inputs: Any,
    device: torch.device,
    decisions: bool = True,
    policy: FittedPolicy | None = None,
) -> list[Callable[[], Any]]:
    """The call timed for each exit k. With `decisions`, the runtime's own code path: an
    `EarlyExitPredictor` forced to let every sample leave at k (`predict_exit`), so the cost
    includes the policy's scoring on the way (the exits `predict` scores), host transfers and
    bookkeeping exactly as real early exit pays them. Without, the network prefix alone
    (`run_prefix`)."""
    if not decisions:
        return [lambda k=k: run_prefix(model, inputs, k) for k in range(model.n_exits)]
    from eenet.runtime import EarlyExitPredictor

    policy = policy if policy is not None else reference_policy(model.n_exits)
    predictor = EarlyExitPredictor(model, policy, device=str(device))
    return [lambda k=k: predictor.predict_exit(inputs, k) for k in range(model.n_exits)]


def _timer(device: torch.device) -> Callable[[Callable[[], Any]], float]:
    """A function that times one call in milliseconds (CUDA events on GPU)."""
    if device.type == "cuda":
        def time_cuda(fn: Callable[[], Any]) -> float:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            stream = torch.cuda.current_stream(device)  # `device`'s, not the current device's
            torch.cuda.synchronize(device)
            start.record(stream)
            fn()
            end.record(stream)
            torch.cuda.synchronize(device)
            return float(start.elapsed_time(end))

        return time_cuda

    def time_cpu(fn: Callable[[], Any]) -> float:
        start = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - start) / 1e6

    return time_cpu


def time_prefixes(
    calls: list[Callable[[], Any]], device: torch.device, repeats: int
) -> np.ndarray:
    """Milliseconds per call, [repeats, n_exits]; exits interleaved within each repeat."""
    timer = _timer(device)
    samples = np.empty((repeats, len(calls)))
    for r in range(repeats):
        for k, call in enumerate(calls):
            samples[r, k] = timer(call)
    return samples


# The first moments of work in a process run slow (an H200 here: the GPU idles at 345 MHz, and
# the first blocks of a fresh process took 0.87-0.90 ms to reach exit 0, later ones 0.50). So
# warming up runs blocks of `warmup` rounds until a block is no more than WARMUP_SETTLED faster
# than the one before, for at least WARMUP_MIN_SECONDS on the device, and stops after
# WARMUP_MAX_SECONDS whatever happens.
WARMUP_SETTLED = 0.02
WARMUP_MIN_SECONDS = {"cuda": 1.0}
WARMUP_MAX_SECONDS = 10.0


def warm_up(calls: list[Callable[[], Any]], device: torch.device, rounds: int) -> int:
    """Untimed rounds of every call until the machine runs them at speed; rounds run."""
    if rounds == 0:
        return 0
    start = time.perf_counter()
    previous = float(np.median(time_prefixes(calls, device, rounds).sum(axis=1)))
    done = rounds
    while time.perf_counter() - start < WARMUP_MAX_SECONDS:
        block = float(np.median(time_prefixes(calls, device, rounds).sum(axis=1)))
        done += rounds
        settled = block >= (1.0 - WARMUP_SETTLED) * previous
        if settled and time.perf_counter() - start >= WARMUP_MIN_SECONDS.get(device.type, 0.0):
            break
        previous = block
    return done


def warm_for_device(run: Callable[[], Any], device: torch.device) -> int:
    """`run` untimed once, and again until WARMUP_MIN_SECONDS of `device`'s type have passed
    (a GPU's clocks and caches take about a second to settle; a CPU: once); runs made."""
    start = time.perf_counter()
    least = min(WARMUP_MIN_SECONDS.get(device.type, 0.0), WARMUP_MAX_SECONDS)
    done = 0
    while True:
        run()
        done += 1
        if time.perf_counter() - start >= least:
            return done


def count_flops(model: MultiExitModel, inputs: Any) -> list[int]:
    """FLOPs per sample of reaching each exit (cumulative), by `torch.utils.flop_counter`."""
    n = batch_size_of(inputs)
    flops = []
    for k in range(model.n_exits):
        counter = FlopCounterMode(display=False)
        with counter:
            run_prefix(model, inputs, k)
        flops.append(int(round(counter.get_total_flops() / n)))
    return flops


def cpu_model() -> str:
    """The CPU's model name (`/proc/cpuinfo` on Linux, where `platform.processor()` is empty;
    the platform's own elsewhere), or the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def profile_model(
    model: MultiExitModel,
    *,
    device: str = "auto",
    batch_size: int = 1,
    threads: int = 1,
    warmup: int = 20,
    repeats: int = 200,
    inputs: Any = None,
    max_rounds: int = 3,
    decisions: bool = True,
    policy: FittedPolicy | None = None,
    group: str = "profile",
) -> dict[str, Any]:
    """Measure the cumulative ms/sample of reaching each exit; a latency-contract dict.

    `inputs` (a batch) replaces the model's `example_inputs(batch_size)` (made in the precision
    of its weights, `example_batch`); the batch size is then the inputs'. `threads` = 0 keeps
    torch's current thread count. The model is put in eval mode on `device` for the
    measurement, then returned to its former device and mode.
    `decisions` (default) times the runtime itself forced to exit at k (`prefix_calls`), so the
    plan is what real early exit costs; the scoring is `policy`'s (default: `reference_policy`,
    max log-probability). False times the network alone. Errors name `group` and its
    settings (e.g. `measure` for its profile of each running policy).
    """
    check_minimums(group, {"batch_size": (batch_size, 1), "threads": (threads, 0),
                               "warmup": (warmup, 0), "repeats": (repeats, 1),
                               "max_rounds": (max_rounds, 1)}, COUNT_MAXIMUMS)
    target = resolve_device(device, f"{group}.device")
    check_model(model)
    if model.n_exits < 1:
        raise ConfigError(f"{group}: the model has no exits")
    first = next(model.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    if inputs is None:
        check_example_batch(model, batch_size, f"{group}.batch_size")
        with memory_names(f"{group}.batch_size", batch_size):
            inputs = example_batch(model, batch_size)
    elif not isinstance(inputs, torch.Tensor | dict | tuple | list):  # batch_size_of's TypeError
        hint = " (torch.from_numpy(x))" if isinstance(inputs, np.ndarray) else ""
        raise ConfigError(f"inputs: expected a batch as the model takes it (a torch tensor "
                          f"[batch, ...], or the dict of tensors its collate makes), got "
                          f"{type(inputs).__name__}{hint}")
    n = batch_size_of(inputs)
    inputs = to_device(inputs, target)
    model.eval().to(target)
    try:
        with (num_threads(threads, f"{group}.threads"), torch.inference_mode(),
              memory_names(f"{group}.batch_size", n)):
            used_threads = torch.get_num_threads()
            flops = count_flops(model, inputs)
            calls = prefix_calls(model, inputs, target, decisions, policy)
            warmed = warm_up(calls, target, warmup)
            samples = time_prefixes(calls, target, repeats)
            rounds = 1
            while not _strictly_increasing(np.median(samples, axis=0)) and rounds < max_rounds:
                more = time_prefixes(calls, target, repeats * 2**rounds)
                samples = np.concatenate([samples, more])
                rounds += 1
    finally:
        model.to(home).train(was_training)
    per_sample = samples / n
    median = np.median(per_sample, axis=0)
    if not _strictly_increasing(median):
        raise NotIncreasingError(np.round(median, 6).tolist(), samples.shape[0], group,
                                 not_increasing_advice(group))
    return {
        "cumulative_ms": median.tolist(),
        "p50_ms": median.tolist(),
        "p90_ms": np.percentile(per_sample, 90, axis=0).tolist(),
        "mean_ms": per_sample.mean(axis=0).tolist(),
        "flops": flops,
        # with its index (cuda:1): profile_scoring times the scoring on this very device
        "device": str(target),
        "device_name": _device_name(target),
        # the host's CPU, and the vector instructions torch's CPU kernels use (AVX2, AVX512):
        # CPU costs differ between them
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "batch_size": n,
        "threads": used_threads,
        "decisions": bool(decisions),
        "decision_policy": (policy.method if policy is not None else "maxprob")
        if decisions else None,
        "timed": "EarlyExitPredictor.predict_exit" if decisions else "run_prefix",
        "warmup": warmup,
        "warmup_rounds": warmed,  # rounds run before timing (until at speed; see warm_up)
        "repeats": int(samples.shape[0]),
        "torch": torch.__version__,
        "source": "measured",
    }


def _strictly_increasing(values: np.ndarray) -> bool:
    return bool(np.all(np.diff(values) > 0))


def model_latency_table(model_dir: str | Path, imported_json: str | Path,
                        settings: Mapping[str, Any]) -> dict[str, Any]:
    """The profile stage's table for the trained model in `model_dir`: the table import_latency
    recorded in `imported_json` (checked against the model: its exit count and weights), or,
    where it recorded none, the model measured with `settings` (the params.yaml group
    `profile`, less its `table`). Either records the model its costs are used for (an imported
    table's own record may name other weights of this architecture): the policies planned with
    them keep it."""
    from eenet.latency_import import load_import
    from eenet.latency_table import check_latency_for_model
    from eenet.models.artifact import load_trained, model_identity

    model = load_trained(model_dir)
    table = load_import(imported_json)
    if table is None:
        # `table` is import_latency's to read (the profile stage does not list it)
        table = profile_model(model, **{key: settings[key] for key in settings
                                        if key != "table"})
    else:
        check_latency_for_model(table, f"profile.table: {table['source']}", model_dir,
                                model.n_exits, "give a table measured for this model")
    table["model"] = model_identity(model_dir)
    return table
