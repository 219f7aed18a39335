"""Profiling: the latency contract, FLOPs, thread handling and imported tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from eenet.costs import validate_costs
from eenet.devices import available_cpus, resolve_device
from eenet.errors import ConfigError, counted
from eenet.models.base import MultiExitModel, check_example_batch
from eenet.profiling import (
    cpu_model,
    prefix_calls,
    profile_model,
    run_prefix,
    warm_up,
)
from eenet.runtime import EarlyExitPredictor
from tests.runtime_helpers import MaxProbPolicy, TinyNet


@pytest.fixture(scope="module")
def table() -> dict:
    torch.manual_seed(0)
    return profile_model(TinyNet(width=16, length=64), device="cpu", batch_size=4, threads=1,
                         warmup=3, repeats=25)


def test_profile_follows_the_latency_contract(table: dict) -> None:
    n_exits = 3
    for key in ("cumulative_ms", "p50_ms", "p90_ms", "flops"):
        assert len(table[key]) == n_exits, key
    validate_costs(table["cumulative_ms"])  # finite, > 0, strictly increasing
    assert table["device"] == "cpu"
    # the CPU by name (it read "x86_64": platform.processor() is empty on Linux), and the
    # instruction set torch's kernels use
    assert table["device_name"] == table["cpu"] == cpu_model()
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip()
                 for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        assert not names or table["cpu"] == names[0]
    assert table["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert table["batch_size"] == 4 and table["threads"] == 1
    assert table["source"] == "measured" and table["decisions"] is True
    assert table["repeats"] >= 25
    assert table["p50_ms"] == table["cumulative_ms"]  # the cost is the median per sample
    json.dumps(table)  # plain data


def test_flops_are_cumulative_and_increasing(table: dict) -> None:
    flops = np.asarray(table["flops"])
    assert (flops > 0).all() and (np.diff(flops) > 0).all()
    # width 16, length 64, kernel 5: every conv layer costs 2*16*16*5*64 per sample
    layer = 2 * 16 * 16 * 5 * 64
    assert flops[1] - flops[0] == 2 * layer + 2 * 16 * 5  # two more convs and one more head
    assert flops[2] - flops[1] == 3 * layer + 2 * 16 * 5


def test_threads_restored_and_model_left_as_found() -> None:
    model = TinyNet().train()
    before = torch.get_num_threads()
    table = profile_model(model, device="cpu", threads=1, warmup=0, repeats=5)
    assert torch.get_num_threads() == before
    assert table["threads"] == 1
    assert model.training


@pytest.mark.parametrize("threads", [10**9, 2**40])
def test_thread_counts_past_the_cap_are_one_line_errors(threads: int) -> None:
    """Settings passed in code, not from params.yaml: 10**9 threads crashed libgomp (out of
    memory), 2**40 overflowed torch.set_num_threads; now each names its setting, before the
    thread count changes."""
    from eenet.devices import num_threads
    from eenet.train_config import TrainConfig

    before = torch.get_num_threads()
    message = rf"must be an integer from 0 to 1024, got {threads}$"
    with pytest.raises(ConfigError, match=rf"^profile\.threads: {message}"):
        profile_model(TinyNet(), device="cpu", threads=threads, warmup=0, repeats=3)
    with pytest.raises(ConfigError, match=rf"^--jobs: {message}"), num_threads(threads, "--jobs"):
        pass
    with pytest.raises(ConfigError, match=rf"^train\.threads: {message}"):
        TrainConfig(threads=threads).validate()
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("threads", [1.5, 2.0, True, "2"])
def test_thread_counts_that_are_no_integer_are_one_line_errors(threads: object) -> None:
    """num_threads cut its count to an integer before checking it: 1.5 ran 1 thread, True 1."""
    from eenet.devices import num_threads

    before = torch.get_num_threads()
    with pytest.raises(ConfigError) as err, num_threads(threads, "--jobs"):  # type: ignore[arg-type]
        pass
    assert str(err.value) == f"--jobs: must be an integer from 0 to 1024, got {threads!r}"
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(("setting", "low"), [("warmup", 0), ("repeats", 1)])
def test_profile_timing_counts_past_the_cap_are_one_line(setting: str, low: int) -> None:
    """np.empty((repeats, exits)) failed for 10**10 (224 GiB) and past 2**63 (a traceback)."""
    for value in (10**10, 2**70):
        with pytest.raises(ConfigError, match=rf"^profile\.{setting}: must be an integer from "
                                              rf"{low} to 1000000, got {value}$"):
            profile_model(TinyNet(), device="cpu", **{"warmup": 0, "repeats": 3, setting: value})


class _BlowUp(TinyNet):
    """Its stem's output is 2**30 times longer than its inputs: small example inputs, and a
    forward pass far too large for any machine's memory."""

    def begin(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        state = super().begin(inputs)
        return {**state, "h": state["h"].repeat(1, 1, 2**30)}


def test_a_profile_batch_that_does_not_fit_in_memory_is_one_line() -> None:
    """profile.batch_size 10**9 asked torch for 160 GB of example inputs, and a batch whose
    forward pass needs more memory than there is was a torch traceback: the example's size is
    checked from one sample first, and torch failing to allocate during the profile names the
    batch size. A fitting batch is profiled as before."""
    with pytest.raises(ConfigError) as caught:
        profile_model(TinyNet(), device="cpu", batch_size=10**9, warmup=0, repeats=3)
    assert str(caught.value) == ("profile.batch_size: 1000000000 samples of the model's example "
                                 "inputs (128 bytes each) would take 119 GiB; allowed: at most "
                                 "8388608 samples (1 GiB)")
    with pytest.raises(ConfigError, match=r"^profile\.batch_size: 64 does not fit in memory "
                                          r"\(tried to allocate \d+ bytes\); lower it$"):
        profile_model(_BlowUp(), device="cpu", batch_size=64, warmup=0, repeats=3)
    assert profile_model(TinyNet(), device="cpu", batch_size=8, warmup=0,
                         repeats=5)["batch_size"] == 8


def test_more_threads_than_cpus_gets_one_note_naming_the_setting(capsys, monkeypatch) -> None:
    """profile.threads above the machine's CPUs still runs (as asked), with a note on stderr
    that the threads contend; a count the machine has gets none. (The note is printed once a
    process: the record of those printed starts empty here, whatever ran before.)"""
    from eenet import devices

    monkeypatch.setattr(devices, "_NOTED", set())
    too_many = available_cpus() + 1
    table = profile_model(TinyNet(), device="cpu", threads=too_many, warmup=0, repeats=3)
    profile_model(TinyNet(), device="cpu", threads=too_many, warmup=0, repeats=3)
    assert table["threads"] == too_many
    err = capsys.readouterr().err
    assert err.count("note: profile.threads") == 1, err
    assert f"profile.threads {too_many} is more than the {counted(available_cpus(), 'CPU')} " in err
    profile_model(TinyNet(), device="cpu", threads=1, warmup=0, repeats=3)
    assert "note:" not in capsys.readouterr().err


def test_given_inputs_set_the_batch_size() -> None:
    model = TinyNet()
    table = profile_model(model, device="cpu", inputs=model.example_inputs(3), warmup=0,
                          repeats=5)
    assert table["batch_size"] == 3


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_a_model_in_another_precision_is_profiled_with_inputs_of_its_precision(dtype) -> None:
    """The runtime takes a model made double or half precision, with inputs of that
    precision; its profile made the example inputs in float32 and failed in torch's first
    layer ("expected scalar type Float but found Double"), a traceback."""
    torch.manual_seed(0)
    model = TinyNet(width=16, length=64).to(dtype)
    table = profile_model(model, device="cpu", warmup=2, repeats=9)
    assert len(table["cumulative_ms"]) == model.n_exits and len(table["flops"]) == 3
    assert next(model.parameters()).dtype == dtype  # the model itself is left as it was
    assert profile_model(model, device="cpu", decisions=False, warmup=2,
                         repeats=9)["timed"] == "run_prefix"


def test_a_double_models_example_inputs_count_at_their_precision() -> None:
    """1 GiB of float32 example inputs passed the cap for a double-precision model, whose
    profile then made them twice as large."""
    model = TinyNet(length=32)  # 128 bytes per sample in float32
    check_example_batch(model, 2**23, "profile.batch_size")  # 1 GiB: at the cap
    with pytest.raises(ConfigError, match=r"^profile\.batch_size: 8388608 samples of the "
                                          r"model's example inputs \(256 bytes each\) would "
                                          r"take 2 GiB; allowed: at most 4194304 samples"):
        check_example_batch(model.double(), 2**23, "profile.batch_size")


def test_run_prefix_gives_the_exit_logits() -> None:
    model = TinyNet().eval()
    x = model.example_inputs(2)
    with torch.inference_mode():
        full = model(x)
        for k in range(model.n_exits):
            assert torch.equal(run_prefix(model, x, k), full[k])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"device": "tpu"}, "profile.device: unknown value 'tpu'; allowed: auto, cpu, cuda, "
                            "cuda:N"),
        ({"repeats": 0}, "profile.repeats: must be an integer from 1 to 1000000, got 0"),
        ({"repeats": "5"}, "profile.repeats: must be an integer from 1 to 1000000, got '5'"),
        ({"warmup": -1}, "profile.warmup: must be an integer from 0 to 1000000, got -1"),
        ({"batch_size": -1}, "profile.batch_size: must be an integer >= 1, got -1"),
        ({"batch_size": 0}, "profile.batch_size: must be an integer >= 1, got 0"),
        ({"threads": 1.5}, "profile.threads: must be an integer from 0 to 1024, got 1.5"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs: dict, match: str) -> None:
    """Each names its setting, what is allowed and what it got (the whole message, one line)."""
    with pytest.raises(ConfigError) as info:
        profile_model(TinyNet(), **kwargs)
    assert str(info.value) == match


class NoExample(TinyNet):
    """A model of one's own without `example_inputs`."""

    example_inputs = MultiExitModel.example_inputs


def test_a_model_without_example_inputs_says_what_to_implement() -> None:
    """One line naming the method, or the profile's `inputs=`, which then runs."""
    with pytest.raises(NotImplementedError) as info:
        profile_model(NoExample(), device="cpu", warmup=0, repeats=3)
    assert str(info.value) == ("NoExample.example_inputs(batch_size): not implemented; "
                               "implement it to return a batch of dummy inputs, or pass "
                               "inputs=<a batch> to eenet.profiling.profile_model")
    table = profile_model(NoExample(), device="cpu", inputs=TinyNet().example_inputs(2),
                          warmup=0, repeats=3)
    assert table["batch_size"] == 2


def segments_without_heads() -> TinyNet:
    """TinyNet with a segment more than it has heads."""
    model = TinyNet()
    del model.heads[-1]
    return model


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: torch.nn.Linear(4, 3),
         "model: expected a multi-exit model (eenet.models), got Linear"),
        (segments_without_heads,
         "model: TinyNet has 3 segment(s) and 2 head(s); allowed: one head per segment"),
    ],
)
@pytest.mark.parametrize("use", ["profile", "runtime"])
def test_a_model_that_is_no_multi_exit_model_is_one_line(make, match: str, use: str) -> None:
    """Not a MultiExitModel, or a segment without its head (it never ran): one ConfigError
    from the profile and the runtime alike."""
    model = make()
    with pytest.raises(ConfigError) as info:
        if use == "profile":
            profile_model(model, device="cpu", inputs=torch.zeros(2, 1, 32), warmup=0,
                          repeats=3)
        else:
            EarlyExitPredictor(model, MaxProbPolicy("maxprob", 0.0, np.zeros(2)), device="cpu")
    assert str(info.value) == match


class SharedBlock(MultiExitModel):
    """One block run before every head (its own `run_segment`): one segment, three heads."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Identity()
        self.segments = torch.nn.ModuleList([torch.nn.Linear(8, 8)])
        self.heads = torch.nn.ModuleList(torch.nn.Linear(8, 3) for _ in range(3))

    def run_segment(self, k: int, state: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.segments[0](state))

    def example_inputs(self, batch_size: int) -> torch.Tensor:
        return torch.randn(batch_size, 8)


def test_a_model_with_its_own_run_segment_keeps_its_segments_as_it_likes() -> None:
    """Overriding run_segment is the documented way past `segments[k]`: a model sharing one
    block between its three exits runs (the head count check is for the default one)."""
    torch.manual_seed(0)
    model = SharedBlock().eval()
    policy = MaxProbPolicy("maxprob", 0.0, np.array([np.inf, np.inf, -np.inf]))
    result = EarlyExitPredictor(model, policy, device="cpu").predict(torch.randn(5, 8))
    assert (result.exits == 2).all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        profile_model(TinyNet(), device="cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_device_run_without_the_gpu_ends_in_one_line(tmp_path) -> None:
    """`benchmarks/device_run.py` (--device cuda by default) on a machine without a GPU: the
    one-line error eenet's commands give, not a traceback (it ended in one)."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "benchmarks/device_run.py", "--out",
                           str(tmp_path / "out")], cwd=root, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "device_run.py: error: device: 'cuda' requested but no CUDA GPU is available; use auto "
        "or cpu"), proc.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_profile_on_gpu() -> None:
    table = profile_model(TinyNet(), device="cuda", warmup=3, repeats=20)
    assert table["device"] == "cuda"
    validate_costs(table["cumulative_ms"])


def test_network_only_profile_is_recorded() -> None:
    table = profile_model(TinyNet(), device="cpu", warmup=0, repeats=5, decisions=False)
    assert table["decisions"] is False and table["decision_policy"] is None
    assert table["timed"] == "run_prefix"
    validate_costs(table["cumulative_ms"])
    # what it times: the network prefix alone, its exit's logits and no decision
    model = TinyNet().eval()
    x = model.example_inputs(4)
    with torch.inference_mode():
        full = model(x)
        for k, call in enumerate(prefix_calls(model, x, torch.device("cpu"), decisions=False)):
            assert torch.equal(call(), full[k])


def test_forced_exit_predicts_with_the_exit_logits() -> None:
    model = TinyNet().eval()
    x = model.example_inputs(4)
    calls = prefix_calls(model, x, torch.device("cpu"))
    with torch.inference_mode():
        full = model(x)
    for k, call in enumerate(calls):
        result = call()
        assert (result.exits == k).all()
        np.testing.assert_array_equal(result.predictions, full[k].numpy().argmax(-1))


class Recording(TinyNet):
    """TinyNet that logs every model call with its batch size."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, int, int]] = []

    def begin(self, inputs):
        self.log.append(("begin", -1, int(inputs.shape[0])))
        return super().begin(inputs)

    def run_segment(self, k, state):
        self.log.append(("segment", k, int(state["h"].shape[0])))
        return super().run_segment(k, state)

    def run_head(self, k, state):
        self.log.append(("head", k, int(state["h"].shape[0])))
        return super().run_head(k, state)


class ScoreLog(MaxProbPolicy):
    """MaxProbPolicy that logs the shape of what it scores."""

    calls: list[tuple[int, ...]] = []

    def scores(self, log_probs):
        self.calls.append(tuple(log_probs.shape))
        return super().scores(log_probs)


@pytest.mark.parametrize("batch_size", [1, 6])
def test_profiled_prefix_runs_what_the_runtime_runs_to_exit_k(batch_size: int) -> None:
    """Structural: the call timed for exit k runs the same model calls (segments, heads, batch
    sizes) and the same policy scoring as the runtime when every sample leaves at exit k."""
    torch.manual_seed(0)
    model = Recording().eval()
    x = model.example_inputs(batch_size)
    n_exits = model.n_exits
    policy = ScoreLog("log", 1.0, np.zeros(n_exits))
    calls = prefix_calls(model, x, torch.device("cpu"), policy=policy)
    for k in range(n_exits):
        model.log.clear()
        ScoreLog.calls = []
        profiled = calls[k]()
        profiled_log, profiled_scores = list(model.log), list(ScoreLog.calls)
        # the runtime with thresholds that send every sample to exit k: before k finite but
        # above any score, from k on finite but below any score (a policy whose thresholds are
        # +inf up to the last exit can never exit early and scores nothing, one of -inf lets
        # everyone leave unscored: test_runtime.py)
        thresholds = np.full(n_exits, np.finfo(np.float64).max)
        thresholds[k:] = np.finfo(np.float64).min
        runtime = EarlyExitPredictor(model, ScoreLog("log", 1.0, thresholds), device="cpu")
        model.log.clear()
        ScoreLog.calls = []
        real = runtime.predict(x)
        assert (real.exits == k).all()
        assert model.log == profiled_log
        assert ScoreLog.calls == profiled_scores
        np.testing.assert_array_equal(real.predictions, profiled.predictions)
        want = [("begin", -1, batch_size)]
        for j in range(k + 1):
            want += [("segment", j, batch_size), ("head", j, batch_size)]
        assert profiled_log == want
        assert profiled_scores == [(j + 1, batch_size, 5) for j in range(min(k + 1, n_exits - 1))]


def test_profile_records_the_policy_it_timed() -> None:
    model = TinyNet()
    table = profile_model(model, device="cpu", warmup=0, repeats=5,
                          policy=MaxProbPolicy("custom", 1.0, np.zeros(3)))
    assert table["decision_policy"] == "custom"
    assert table["timed"] == "EarlyExitPredictor.predict_exit"
    assert profile_model(model, device="cpu", warmup=0, repeats=5)["decision_policy"] == "maxprob"


def test_gpu_index_past_the_machines_gpus_is_a_config_error(monkeypatch) -> None:
    """'cuda:7' on a one-GPU machine: a one-line error naming the GPUs there, not a CUDA
    'invalid device ordinal' at the first tensor moved (seen on a GPU machine)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"^device: 'cuda:7' requested but this machine has 1 "
                                          r"CUDA GPU \(cuda:0\.\.cuda:0\)$"):
        resolve_device("cuda:7")
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match=r"^device: unknown value 'cuda:x'; allowed: auto"):
        resolve_device("cuda:x")


class _Clock:
    """A stand-in for `time` in eenet.profiling: a call "takes" what it adds to `ns`, so the
    warm-up's decisions follow the durations given, not the machine's load."""

    def __init__(self) -> None:
        self.ns = 0

    def perf_counter_ns(self) -> int:
        return self.ns

    def perf_counter(self) -> float:
        return self.ns / 1e9


def test_warm_up_runs_until_the_calls_stop_getting_faster(monkeypatch) -> None:
    """A call that starts slow (a GPU at idle clocks) and speeds up over its first 13 runs
    (2.8 ms, 2.6 ms, ... then 0.5 ms from the 13th call on): warming up goes on, in blocks of 3
    rounds, until a block is no faster than the last. Block medians 2.6, 2.0, 1.4, 0.8, 0.5,
    0.5 ms: the sixth block is the first no faster than the one before, 18 calls in all."""
    import eenet.profiling as profiling

    clock = _Clock()
    monkeypatch.setattr(profiling, "time", clock)
    made = [0]

    def speeding_up() -> None:
        made[0] += 1
        clock.ns += round(max(0.5, 3.0 - 0.2 * made[0]) * 1e6)

    done = warm_up([speeding_up], torch.device("cpu"), 3)
    assert done == made[0] == 18
    assert warm_up([speeding_up], torch.device("cpu"), 0) == 0
    assert made[0] == 18


def test_warm_up_stops_after_its_time_cap(monkeypatch) -> None:
    """A call that never settles (each one 5 % faster than the last) is warmed up for
    WARMUP_MAX_SECONDS and no longer: the block that crosses the cap is the last."""
    import eenet.profiling as profiling

    clock = _Clock()
    monkeypatch.setattr(profiling, "time", clock)
    durations = []

    def ever_faster() -> None:
        durations.append(1e9 * 0.95 ** len(durations))  # 1 s, 0.95 s, ...
        clock.ns += round(durations[-1])

    done = warm_up([ever_faster], torch.device("cpu"), 2)
    assert done == len(durations) and done % 2 == 0
    spent = np.cumsum(durations) / 1e9
    assert spent[-3] < profiling.WARMUP_MAX_SECONDS <= spent[-1]


def test_warm_for_device_runs_once_on_a_cpu_and_for_a_second_on_a_gpu(monkeypatch) -> None:
    """The measure stage's untimed real runs: one pass on a CPU (as before), and passes until
    WARMUP_MIN_SECONDS (1 s) have gone by on a GPU, as the profile warms up there (a pass of
    0.3 s: four passes, the fourth crossing the second)."""
    import eenet.profiling as profiling

    clock = _Clock()
    monkeypatch.setattr(profiling, "time", clock)
    passes = [0]

    def one_pass() -> None:
        passes[0] += 1
        clock.ns += 300_000_000

    assert profiling.warm_for_device(one_pass, torch.device("cpu")) == 1 == passes[0]
    assert profiling.warm_for_device(one_pass, torch.device("cuda")) == 4
    assert passes[0] == 5


def test_profile_errors_name_the_callers_settings(monkeypatch) -> None:
    """Called for the measure stage (`group="measure"`), the profile's own errors said
    "profile: ..." and advised profile.repeats / profile.table, settings of another stage."""
    import eenet.profiling as profiling
    from eenet.profiling import NotIncreasingError

    def decreasing(calls, device, repeats):
        return np.tile(np.arange(len(calls), 0, -1.0), (repeats, 1))

    monkeypatch.setattr(profiling, "time_prefixes", decreasing)
    medians = "not strictly increasing after 2 repeats ([3.0, 2.0, 1.0] ms)"
    with pytest.raises(NotIncreasingError) as caught:
        profile_model(TinyNet(), device="cpu", warmup=0, repeats=2, max_rounds=1,
                      group="measure")
    assert str(caught.value) == (f"measure: measured per-exit medians are {medians}; raise "
                                 "measure.repeats or measure.batch_size")
    with pytest.raises(NotIncreasingError) as caught:  # the profile stage's, as before
        profile_model(TinyNet(), device="cpu", warmup=0, repeats=2, max_rounds=1)
    assert str(caught.value) == (f"profile: measured per-exit medians are {medians}; raise "
                                 "profile.repeats or profile.batch_size, or import a table "
                                 "with profile.table")
    with pytest.raises(ConfigError, match="^measure: the model has no exits$"):
        profile_model(TinyNet(depths=()), device="cpu", group="measure")


def test_profile_costs_are_per_sample_not_per_batch(monkeypatch) -> None:
    """Each timed call runs the whole batch; the table's costs are per sample: a batch of 4
    whose calls take 4, 8 and 12 ms costs 1, 2 and 3 ms per sample. Five repeats, the last
    six times slower (per sample 1, 1, 1, 1, 6 times the base): the median is the base, the
    mean twice it, and p90 (numpy's linear interpolation: 1 + 0.6 * (6 - 1)) four times it."""
    import eenet.profiling as profiling

    per_call = np.array([4.0, 8.0, 12.0])
    scale = np.array([1.0, 1.0, 1.0, 1.0, 6.0])

    def fixed(calls, device, repeats):
        assert len(calls) == per_call.size and repeats == scale.size
        return scale[:, None] * per_call

    monkeypatch.setattr(profiling, "time_prefixes", fixed)
    table = profile_model(TinyNet(), device="cpu", batch_size=4, warmup=0, repeats=5)
    base = [1.0, 2.0, 3.0]  # per_call / 4
    assert table["batch_size"] == 4 and table["repeats"] == 5
    assert table["cumulative_ms"] == pytest.approx(base)
    assert table["p50_ms"] == pytest.approx(base)
    assert table["mean_ms"] == pytest.approx([2 * b for b in base])
    assert table["p90_ms"] == pytest.approx([4 * b for b in base])


def test_profile_records_its_device_with_the_index(monkeypatch) -> None:
    """A profile on `cuda:1` recorded `device: cuda`, so profile_scoring, which times the
    scoring on the profile's device, ran on the current GPU (cuda:0) instead. The device is
    now recorded as resolved, index included (a CPU device with an index stands in for a GPU
    here: the record is the same code path)."""
    import eenet.profiling as profiling

    monkeypatch.setattr(profiling, "resolve_device", lambda name, param: torch.device("cpu", 0))
    table = profile_model(TinyNet(), batch_size=1, threads=1, warmup=0, repeats=20,
                          decisions=False, max_rounds=3)
    assert table["device"] == "cpu:0"
