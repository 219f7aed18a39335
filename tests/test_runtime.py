"""Real early exit gives exactly the simulated decisions and predictions."""

from __future__ import annotations

import copy
import time
import warnings
from functools import partial

import numpy as np
import pytest
import torch

from eenet.errors import ArtifactError, ConfigError
from eenet.measurement import (
    measure_headline,
    order_period,
    own_profile,
    report_notes,
    round_order,
    round_orders,
)
from eenet.outputs import ExitOutputs
from eenet.runtime import EarlyExitPredictor, EarlyExitResult, robust_ms_per_sample
from eenet.schedulers.entropy import EntropyPolicy
from eenet.schedulers.patience import PatiencePolicy
from eenet.schedulers.thresholds import thresholds_from_plan
from tests.runtime_helpers import (
    DEVICES,
    CoarseMaxProbPolicy,
    MaxProbPolicy,
    PatienceMarginPolicy,
    TinyNet,
    tied_logits_net,
)

N = 96


@pytest.fixture(scope="module")
def model() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet(num_classes=5).eval()


def make_inputs(model: TinyNet, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return model.example_inputs(N) * torch.linspace(0.2, 3.0, N)[:, None, None]


@pytest.fixture(scope="module")
def inputs(model: TinyNet) -> torch.Tensor:
    """The 'test split'."""
    return make_inputs(model, 1)


@pytest.fixture(scope="module")
def val_inputs(model: TinyNet) -> torch.Tensor:
    """The 'validation split' thresholds are fitted on."""
    return make_inputs(model, 2)


def on_device(model: TinyNet, device: str) -> TinyNet:
    """The model itself on the CPU, a copy on any other device (the fixture stays put)."""
    return model if device == "cpu" else copy.deepcopy(model).to(device)


def exit_logits(model: TinyNet, inputs: torch.Tensor) -> np.ndarray:
    """Every exit's logits of one batch, computed where the model is (as the dump does)."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        return torch.stack(model(inputs.to(device))).cpu().numpy()


def simulate(model: TinyNet, inputs: torch.Tensor, policy) -> tuple[np.ndarray, np.ndarray]:
    """What the pipeline does: dump every exit's logits (one batch), then decide on them."""
    logits = exit_logits(model, inputs)
    outputs = ExitOutputs(logits, np.zeros(logits.shape[1], dtype=np.int64))
    exits = policy.decide(outputs.log_probs())
    return outputs.predictions()[exits, np.arange(len(exits))], exits


def fitted(policy_cls, model, inputs, fractions) -> object:
    """Thresholds from a planned exit distribution on the model's scores on `inputs`."""
    logits = exit_logits(model, inputs)
    probe = policy_cls("probe", 1.0, np.zeros(model.n_exits))
    scores = probe.scores(ExitOutputs(logits, np.zeros(N, dtype=np.int64)).log_probs())
    policy = policy_cls("test", 1.0, np.zeros(model.n_exits))
    policy.set_rule(*thresholds_from_plan(scores, np.asarray(fractions)))
    return policy


def run_in_batches(predictor, inputs, batch_size, keep_logits=False):
    parts = [predictor.predict(inputs[i:i + batch_size], keep_logits=keep_logits, first_index=i)
             for i in range(0, N, batch_size)]
    return EarlyExitResult.concatenate(parts)


PLANS = [(0.3, 0.3, 0.4), (0.6, 0.0, 0.4), (0.0, 0.5, 0.5), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)]
# test policies (default score_step, rescoring exits 0..k) and registered ones with their own
# score_step (patience carries per-sample state that the runtime shrinks with the batch)
POLICIES = [MaxProbPolicy, PatienceMarginPolicy, EntropyPolicy, PatiencePolicy]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("policy_cls", POLICIES)
@pytest.mark.parametrize("fractions", PLANS)
@pytest.mark.parametrize("batch_size", [1, 7, N])
def test_runtime_equals_simulation(model, inputs, val_inputs, policy_cls, fractions,
                                   batch_size, device) -> None:
    """Fitted on 'val', run on 'test': same exit and same class as the simulation (logits
    dumped on the same device in one batch, runtime in batches of `batch_size`)."""
    net = on_device(model, device)
    policy = fitted(policy_cls, net, val_inputs, fractions)
    want_pred, want_exit = simulate(net, inputs, policy)
    result = run_in_batches(EarlyExitPredictor(net, policy, device=device), inputs, batch_size)
    np.testing.assert_array_equal(result.exits, want_exit)
    np.testing.assert_array_equal(result.predictions, want_pred)


def test_an_exits_class_is_the_log_probs_argmax_everywhere(inputs) -> None:
    """Logits 1e-20 apart give equal log-probabilities: patience counted exits 0 and 1 as
    agreeing (the log-probs' argmax, class 0 at both) while the reports and the runtime named
    exit 0's class by the logits' argmax (class 1). Every place now names the log-probs'
    argmax: the simulation's predictions, the runtime's whether an exit is scored or not,
    when everyone or only some leave there, and the scores are the ones they were."""
    from eenet.schedulers.scores import patience_counts
    from tests.runtime_helpers import TIED_LOGITS

    net = tied_logits_net()
    logits = exit_logits(net, inputs)
    np.testing.assert_array_equal(logits[:, 0], TIED_LOGITS)
    assert logits[:, 0].argmax(axis=-1).tolist() == [1, 0, 1]  # the logits' own argmax
    outputs = ExitOutputs(logits, np.zeros(N, dtype=np.int64))
    log_probs = outputs.log_probs()
    assert log_probs[0, 0, 0] == log_probs[0, 0, 1]  # tied: the log-softmax cannot tell
    assert (patience_counts(log_probs)[:, 0] == [1, 2, 3]).all()  # exits agree, for patience
    np.testing.assert_array_equal(outputs.predictions(), np.zeros((3, N), dtype=np.int64))
    assert outputs.exit_accuracy().tolist() == [100.0, 100.0, 100.0]
    score = MaxProbPolicy("probe", 1.0, np.zeros(3)).scores(log_probs)[0, 0]
    rules = {"exit 0 unscored, everyone leaves": ([-np.inf, np.inf, -np.inf], None),
             "exit 0 scored, everyone leaves": ([score, np.inf, -np.inf], None),
             "exit 0 scored, half leave; the rest at exit 2": ([score, np.inf, -np.inf],
                                                              [0.5, 1.0, 1.0])}
    for name, (thresholds, shares) in rules.items():
        policy = MaxProbPolicy("tied", 1.0, np.zeros(3))
        policy.set_rule(np.array(thresholds), None if shares is None else np.array(shares))
        want_pred, want_exit = simulate(net, inputs, policy)
        for batch_size in (1, N):
            result = run_in_batches(EarlyExitPredictor(net, policy, device="cpu"), inputs,
                                    batch_size)
            np.testing.assert_array_equal(result.exits, want_exit, err_msg=name)
            np.testing.assert_array_equal(result.predictions, want_pred, err_msg=name)
            assert (result.predictions == 0).all(), name
        if shares is not None:
            assert 0 < (want_exit == 0).sum() < N and set(want_exit.tolist()) == {0, 2}


def test_training_counts_an_exit_right_by_the_log_probs_argmax(inputs) -> None:
    """Training's per-exit validation accuracy took the logits' argmax: on tied logits it
    counted exits 0 and 2 wrong (class 1) where the reports count them right (class 0)."""
    from eenet.training import exit_hits, hit_percentages

    labels = torch.zeros(N, dtype=torch.int64)
    hits, problem = exit_hits(tied_logits_net(), [(inputs[:40], labels[:40]),
                                                  (inputs[40:], labels[40:])],
                              torch.device("cpu"))
    assert problem is None
    assert hit_percentages(hits) == [100.0, 100.0, 100.0]


@pytest.mark.parametrize("batch_size", [1, 5, N])
def test_runtime_splits_tied_samples_as_the_simulation(model, inputs, batch_size) -> None:
    """A score with many exact ties: the thresholds split the tied samples (tie shares < 1),
    the plan is met exactly, and batches given their offsets decide as the whole split."""
    fractions = (0.3, 0.3, 0.4)
    policy = fitted(CoarseMaxProbPolicy, model, inputs, fractions)
    assert policy.tie_shares and min(policy.tie_shares[:-1]) < 1.0
    want_pred, want_exit = simulate(model, inputs, policy)
    planned = np.round(np.asarray(fractions) * N).astype(int)
    np.testing.assert_array_equal(np.bincount(want_exit, minlength=3), planned)
    result = run_in_batches(EarlyExitPredictor(model, policy), inputs, batch_size)
    np.testing.assert_array_equal(result.exits, want_exit)
    np.testing.assert_array_equal(result.predictions, want_pred)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("policy_cls", POLICIES)
@pytest.mark.parametrize("fractions", PLANS)
@pytest.mark.parametrize("batch_size", [1, 5, N])
def test_runtime_replays_exactly_even_at_ties(model, inputs, policy_cls, fractions,
                                              batch_size, device) -> None:
    """Thresholds fitted on the same samples sit exactly on some scores (ties); the runtime's
    decisions equal `policy.decide` on the very logits it computed, at any batch size."""
    net = on_device(model, device)
    policy = fitted(policy_cls, net, inputs, fractions)
    predictor = EarlyExitPredictor(net, policy, device=device)
    result = run_in_batches(predictor, inputs, batch_size, keep_logits=True)
    outputs = ExitOutputs(result.logits, np.zeros(N, dtype=np.int64))
    np.testing.assert_array_equal(result.exits, policy.decide(outputs.log_probs()))
    np.testing.assert_array_equal(
        result.predictions, outputs.predictions()[result.exits, np.arange(N)]
    )
    if batch_size == N:  # one batch: the logits are the dump's, the plan is met exactly
        np.testing.assert_array_equal(result.exits, simulate(net, inputs, policy)[1])
        planned = np.round(np.asarray(fractions) * N).astype(int)
        np.testing.assert_array_equal(np.bincount(result.exits, minlength=3), planned)


def test_infinite_thresholds_send_everyone_to_the_last_exit(model, inputs) -> None:
    policy = MaxProbPolicy("none", 1.0, np.array([np.inf, np.inf, -np.inf]))
    result = EarlyExitPredictor(model, policy, device="cpu").predict(inputs)
    assert (result.exits == 2).all()
    with torch.inference_mode():
        np.testing.assert_array_equal(result.predictions, model(inputs)[2].numpy().argmax(-1))


def counting_predictor(model, calls: list[int], policy) -> EarlyExitPredictor:
    """A predictor of `policy` on `model` that appends to `calls` each exit it scores."""
    original = policy.score_step
    policy.score_step = lambda k, history, carry: (calls.append(k),
                                                   original(k, history, carry))[1]
    return EarlyExitPredictor(model, policy, device="cpu")


def test_a_policy_that_never_exits_early_scores_nothing(model, inputs) -> None:
    """Thresholds +inf before the last exit: nobody can leave early, so no exit is scored (a
    charged method's scoring made it cost more than the plain model); a policy that can only
    leave at exit 0 scores exit 0 alone. A forced exit (what the policy's own profile times)
    scores what `predict` scores on the way there: it scored every exit it passed, and the
    profile of a no-early-exit policy read 12-16 % above its real runs."""
    calls: list[int] = []
    counted = partial(counting_predictor, model, calls)
    predictor = counted(EntropyPolicy("none", 1.0, np.array([np.inf, np.inf, -np.inf])))
    assert (predictor.predict(inputs).exits == 2).all() and calls == []
    predictor.predict_exit(inputs, 2)
    assert calls == []
    first_only = fitted(MaxProbPolicy, model, inputs, (0.5, 0.0, 0.5))
    assert first_only.thresholds[1] == np.inf
    first_only_predictor = counted(first_only)
    result = first_only_predictor.predict(inputs)
    assert calls == [0] and set(result.exits.tolist()) == {0, 2}
    calls.clear()
    first_only_predictor.predict_exit(inputs, 2)
    assert calls == [0]


def test_the_scoring_profiles_policies_score_every_exit(model, inputs) -> None:
    """The policies the scoring profiles time (scoring_cost.scoring_policies) score every exit
    before the last when forced to it, and let no sample leave early: their thresholds are
    finite (+inf ones now mean an exit the runtime does not score)."""
    from eenet.scoring_cost import scoring_policies

    n_classes = exit_logits(model, inputs).shape[-1]
    for name, policy in scoring_policies(model.n_exits, n_classes).items():
        calls: list[int] = []
        predictor = counting_predictor(model, calls, policy)
        predictor.predict_exit(inputs, model.n_exits - 1)
        assert calls == list(range(model.n_exits - 1)), name
        assert (predictor.predict(inputs).exits == model.n_exits - 1).all(), name


def test_a_call_s_seconds_include_its_input_checks(model, inputs, monkeypatch) -> None:
    """`seconds` covers the whole call, its input checks included, as the profile times
    `predict_exit` from outside (the measure stage's seconds left the checks out)."""
    predictor = EarlyExitPredictor(model, MaxProbPolicy("p", 1.0, np.zeros(3)), device="cpu")
    checks = predictor.check_inputs
    monkeypatch.setattr(predictor, "check_inputs",
                        lambda batch: (time.sleep(0.05), checks(batch))[1])
    assert predictor.predict(inputs).seconds >= 0.05
    assert predictor.predict_exit(inputs, 1).seconds >= 0.05


def test_a_policy_that_scores_no_exit_checks_the_classes_too(model, inputs) -> None:
    """A policy fitted on other classes is refused at the first call even when it scores no
    exit (no early exit, or everyone at exit 0): it ran silently on the model's classes."""
    for thresholds in ([np.inf, np.inf, -np.inf], [-np.inf, np.inf, -np.inf]):
        policy = MaxProbPolicy("p", 1.0, np.array(thresholds), n_classes=7)
        with pytest.raises(ArtifactError, match="fitted on exit outputs of 7 classes"):
            EarlyExitPredictor(model, policy, device="cpu").predict(inputs)


def test_first_index_past_int64_range_is_one_line(model, inputs) -> None:
    predictor = EarlyExitPredictor(model, MaxProbPolicy("p", 1.0, np.zeros(3)), device="cpu")
    with pytest.raises(ConfigError, match=r"first_index: expected an integer from 0 to 2\*\*62"):
        predictor.predict(inputs, first_index=2**63)  # an OverflowError traceback before
    predictor.predict(inputs, first_index=2**62)


def test_a_policy_that_lets_everyone_leave_at_an_exit_scores_it_not(model, inputs) -> None:
    """A threshold of -inf lets every sample present leave (every score passes it): that exit
    needs no score, and later exits are never reached. Everyone at exit 0 (the fit below the
    charged first-exit cost) scores nothing; it scored exit 0 and was charged for it."""
    calls: list[int] = []
    counted = partial(counting_predictor, model, calls)
    everyone = EntropyPolicy("entropy", 1.0, np.array([-np.inf, np.inf, -np.inf]))
    predictor = counted(everyone)
    result = predictor.predict(inputs)
    assert calls == [] and (result.exits == 0).all()
    with torch.inference_mode():
        np.testing.assert_array_equal(result.predictions, model(inputs)[0].numpy().argmax(-1))
    predictor.predict_exit(inputs, 0)  # what the policy's own profile times at exit 0
    assert calls == []
    second = fitted(MaxProbPolicy, model, inputs, (0.5, 0.5, 0.0))
    second.thresholds[1] = -np.inf
    result = counted(second).predict(inputs)
    assert calls == [0] and set(result.exits.tolist()) == {0, 1}
    outputs = ExitOutputs(exit_logits(model, inputs), np.zeros(N, dtype=np.int64))
    np.testing.assert_array_equal(result.exits, second.exits_for(outputs))


@pytest.mark.parametrize(("thresholds", "scored", "everyone"), [
    ([np.inf, np.inf, -np.inf], 0, 2), ([0.5, np.inf, -np.inf], 1, 2),
    ([np.inf, 0.5, -np.inf], 2, 2), ([-np.inf, -np.inf, -np.inf], 0, 0),
    ([0.5, -np.inf, -np.inf], 1, 1), ([-np.inf, 0.5, -np.inf], 0, 0),
    ([np.inf, -np.inf], 0, 1), ([0.0, -np.inf], 1, 1), ([-np.inf], 0, 0)])
def test_exits_scored_stop_at_the_last_exit_open_or_where_everyone_leaves(
        thresholds, scored, everyone) -> None:
    policy = MaxProbPolicy("p", 1.0, np.array(thresholds))
    assert policy.exits_scored() == scored
    assert policy.exit_for_all() == everyone
    assert policy.leaves_early() == bool((np.array(thresholds[:-1]) < np.inf).any())


def test_samples_with_nan_logits_at_the_last_exit_are_refused_by_index(model, inputs) -> None:
    """Finite inputs near float32's maximum overflow to NaN logits: their scores are NaN at
    every exit, they never leave early, and at the last exit there is no answer for them.
    That is a one-line error naming the first such sample's index in the stream (its answer
    was argmax over NaN, exit 0's class, silently)."""
    huge = inputs.clone()
    huge[[7, 30]] = 3e38
    with torch.inference_mode():
        assert torch.isnan(model(huge)[0][7]).any()
    policy = fitted(MaxProbPolicy, model, inputs, (0.5, 0.25, 0.25))
    predictor = EarlyExitPredictor(model, policy, device="cpu")
    message = (r"^exit {} gave NaN or infinite logits \(or -inf for every class\) for the "
               r"sample at index {} \({} of the {} samples of its batch "
               r"that reached exit {}\): the model overflows on these inputs \(far outside the "
               r"range it was trained on\?\); no prediction for them$")
    with pytest.raises(ArtifactError, match=message.format(2, 107, 2, r"\d+", 2)):
        predictor.predict(huge, first_index=100)
    with pytest.raises(ArtifactError, match=message.format(1, 7, 2, N, 1)):
        predictor.predict_exit(huge, 1)
    # in batches of 16 the first bad batch stops the run: its one such sample is counted
    with pytest.raises(ArtifactError, match=message.format(2, 7, 1, r"\d+", 2)):
        run_in_batches(predictor, huge, 16)
    assert predictor.predict(inputs).n_samples == N  # finite logits: no error
    masked = copy.deepcopy(model)
    with torch.no_grad():
        masked.heads[2].bias[0] = -np.inf  # class 0 masked at the last exit: -inf is allowed
    result = EarlyExitPredictor(masked, policy, device="cpu").predict(inputs)
    assert (result.exits == 2).any()
    assert (result.predictions[result.exits == 2] != 0).all()
    with torch.no_grad():  # every class masked: no answer either
        masked.heads[2].weight.zero_()
        masked.heads[2].bias.fill_(-np.inf)
    with pytest.raises(ArtifactError, match=message.format(2, 0, N, N, 2)):
        EarlyExitPredictor(masked, policy, device="cpu").predict_exit(inputs, 2)


@pytest.mark.parametrize("policy_cls", POLICIES)
def test_overflowing_logits_give_no_numpy_warnings(model, inputs, policy_cls) -> None:
    """Logits of +inf (inputs the model overflows on) made the log-softmax compute inf - inf,
    and huge finite ones overflowed the last exit's float32 sum: numpy's RuntimeWarnings were
    printed beside `eenet predict`'s result or its one-line error."""
    policy = fitted(policy_cls, model, inputs, (0.5, 0.25, 0.25))
    blown = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            blown.heads[0].bias[:2] = np.inf  # NaN scores at exit 0: nobody leaves there
            blown.heads[2].bias.fill_(3e38)  # finite, but their float32 sum is not
        result = EarlyExitPredictor(blown, policy, device="cpu").predict(inputs)
        assert (result.exits > 0).all()
        with torch.no_grad():
            blown.heads[2].bias[0] = np.inf  # no answer at the last exit: the error alone
        with pytest.raises(ArtifactError, match="^exit 2 gave NaN or infinite logits"):
            EarlyExitPredictor(blown, policy, device="cpu").predict(inputs)


def test_minus_infinite_thresholds_stop_everyone_at_exit_0(model, inputs) -> None:
    policy = MaxProbPolicy("all", 1.0, np.full(3, -np.inf))
    result = EarlyExitPredictor(model, policy, device="cpu").predict(inputs)
    assert (result.exits == 0).all()
    np.testing.assert_array_equal(result.exit_fractions(3), [1.0, 0.0, 0.0])


def test_a_policy_fitted_on_another_class_count_is_refused_at_the_first_exit(model,
                                                                          inputs) -> None:
    """A policy records the class count of the outputs it was fitted on: the runtime refuses
    a model whose exits give another count with one line (it ran and scored them before),
    and runs the model it was fitted for."""
    policy = MaxProbPolicy("other", 1.0, np.array([0.0, 0.0, -np.inf]), n_classes=7)
    with pytest.raises(ArtifactError, match=r"^other policy: fitted on exit outputs of 7 "
                                            r"classes; the model's exits give 5$"):
        EarlyExitPredictor(model, policy, device="cpu").predict(inputs)
    policy.n_classes = 5
    want = simulate(model, inputs, policy)
    result = EarlyExitPredictor(model, policy, device="cpu").predict(inputs)
    np.testing.assert_array_equal(result.predictions, want[0])
    np.testing.assert_array_equal(result.exits, want[1])


class CountingSegments(TinyNet):
    """TinyNet that records how many samples each segment really processed."""

    def __init__(self) -> None:
        super().__init__(num_classes=5)
        self.seen: list[int] = []

    def run_segment(self, k, state):
        self.seen.append(int(state["h"].shape[0]))
        return super().run_segment(k, state)


def test_exited_samples_are_not_computed_further(inputs) -> None:
    torch.manual_seed(0)
    model = CountingSegments().eval()
    policy = fitted(MaxProbPolicy, model, inputs, (0.5, 0.25, 0.25))
    model.seen.clear()
    result = EarlyExitPredictor(model, policy, device="cpu").predict(inputs)
    counts = np.bincount(result.exits, minlength=3)
    assert model.seen == [N, N - counts[0], counts[2]]


class DropoutNet(TinyNet):
    """TinyNet with dropout and batch norm before its heads (both differ in training mode)."""

    def __init__(self) -> None:
        super().__init__(num_classes=5)
        self.drop = torch.nn.Dropout(0.5)
        self.norm = torch.nn.BatchNorm1d(8)

    def run_head(self, k, state):
        return self.heads[k](self.drop(self.norm(state["h"])).mean(dim=-1))


def test_a_model_put_back_in_training_mode_still_runs_in_eval_mode(inputs, val_inputs) -> None:
    """A caller training the model between calls (model.train()) gets the eval-mode decisions,
    its batch norm statistics untouched, and its model back in training mode."""
    torch.manual_seed(0)
    model = DropoutNet().eval()
    policy = fitted(MaxProbPolicy, model, val_inputs, (0.4, 0.3, 0.3))
    want_pred, want_exit = simulate(model, inputs, policy)
    predictor = EarlyExitPredictor(model, policy, device="cpu")
    running = model.norm.running_mean.clone()
    model.train()
    for batch_size in (1, 7, N):
        result = run_in_batches(predictor, inputs, batch_size)
        np.testing.assert_array_equal(result.exits, want_exit)
        np.testing.assert_array_equal(result.predictions, want_pred)
        assert model.training
    assert torch.equal(model.norm.running_mean, running)
    forced = predictor.predict_exit(inputs, 1)
    np.testing.assert_array_equal(forced.predictions, exit_logits(model.eval(), inputs)[1]
                                  .argmax(-1))


def test_seconds_cover_the_whole_call_as_the_profile_times_it(model, inputs,
                                                              monkeypatch) -> None:
    """The profile times `predict_exit` from outside; `seconds` (what the measure stage and
    `eenet predict` report) must cover the same: here the setup before the first segment,
    made slow, is counted (it was not: measured ran ~12 us/call below the plan at batch 1)."""
    import time

    import eenet.runtime

    slow = 0.05
    sized = eenet.runtime.batch_size_of

    def slow_batch_size_of(state):
        time.sleep(slow)
        return sized(state)

    monkeypatch.setattr(eenet.runtime, "batch_size_of", slow_batch_size_of)
    policy = MaxProbPolicy("all", 1.0, np.full(3, -np.inf))
    predictor = EarlyExitPredictor(model, policy, device="cpu")
    for result in (predictor.predict(inputs[:4]), predictor.predict_exit(inputs[:4], 2)):
        assert result.seconds >= slow


def test_policy_with_wrong_number_of_exits_is_an_artifact_error(model) -> None:
    policy = MaxProbPolicy("bad", 1.0, np.array([0.5, -np.inf]))
    with pytest.raises(ArtifactError, match=r"^bad policy: fitted for 2 exits; the model has 3$"):
        EarlyExitPredictor(model, policy, device="cpu")


def test_inputs_the_model_does_not_take_are_one_line_errors(model, inputs) -> None:
    """From Python, a numpy batch, a float64 or integer tensor or a lone sample failed deep in
    torch ("cannot size a state of type ndarray", "expected scalar type Double"), and samples
    of another length ran silently (a network that pools over any length)."""
    policy = fitted(MaxProbPolicy, model, inputs, (0.4, 0.3, 0.3))
    predictor = EarlyExitPredictor(model, policy, device="cpu")
    wanted = ", ".join(map(str, inputs.shape[1:]))
    cases = [
        (inputs.numpy(), "ndarray"),
        (inputs.tolist(), "list"),
        (inputs.double(), f"torch.float64 of shape {tuple(inputs.shape)}"),
        (inputs.int(), f"torch.int32 of shape {tuple(inputs.shape)}"),
        (inputs[0], f"torch.float32 of shape {tuple(inputs.shape[1:])}"),
        (inputs[..., :5], f"torch.float32 of shape {tuple(inputs.shape[:-1]) + (5,)}"),
    ]
    for bad, got in cases:
        lone = " (one sample needs its batch axis: x[None])" if bad is cases[4][0] else ""
        for call in (predictor.predict, lambda x: predictor.predict_exit(x, 1)):
            with pytest.raises(ConfigError) as err:
                call(bad)
            assert str(err.value) == (f"inputs: expected a torch.float32 tensor of shape (batch, "
                                      f"{wanted}), got {got}{lone}")
    for index in (-1, "a", 1.0, True):
        with pytest.raises(ConfigError,
                           match=r"^first_index: expected an integer from 0 to 2\*\*62, got "):
            predictor.predict(inputs, first_index=index)
    for k in (3, -1, 1.0):
        with pytest.raises(ConfigError, match=r"^k: expected an exit from 0 to 2, got "):
            predictor.predict_exit(inputs, k)
    with pytest.raises(ConfigError, match="^batch_size: expected an integer >= 1, got 0$"):
        predictor.predict_dataset(torch.utils.data.TensorDataset(inputs), 0)
    with pytest.raises(ConfigError, match="^policy: expected a fitted policy .*, got NoneType$"):
        EarlyExitPredictor(model, None, device="cpu")
    # what it takes still runs: a batch of one, numpy integers for the offset and the exit
    assert predictor.predict(inputs[:1], first_index=np.int64(5)).n_samples == 1
    assert (predictor.predict_exit(inputs, np.int64(1)).exits == 1).all()
    labelled = torch.utils.data.TensorDataset(inputs, torch.arange(N) % 5)
    assert predictor.predict_dataset(labelled, np.int64(32)).n_samples == N
    # a model made double precision takes double inputs (its example inputs stay float32)
    double = EarlyExitPredictor(copy.deepcopy(model).double(), policy, device="cpu")
    assert double.predict(inputs.double()).n_samples == N
    with pytest.raises(ConfigError, match="^inputs: expected a torch.float64 tensor"):
        double.predict(inputs)
    # a model without example inputs is not checked (they are only needed to profile it)
    bare = copy.deepcopy(model)
    bare.example_inputs = lambda batch_size: (_ for _ in ()).throw(NotImplementedError())
    assert EarlyExitPredictor(bare, policy, device="cpu").predict(inputs).n_samples == N


def test_predict_batches_keeps_order_and_labels(model, inputs) -> None:
    policy = fitted(MaxProbPolicy, model, inputs, (0.4, 0.3, 0.3))
    labels = torch.arange(N) % 5
    batches = [(inputs[i:i + 10], labels[i:i + 10]) for i in range(0, N, 10)]
    result = EarlyExitPredictor(model, policy, device="cpu").predict_batches(batches)
    want_pred, want_exit = simulate(model, inputs, policy)
    np.testing.assert_array_equal(result.exits, want_exit)
    np.testing.assert_array_equal(result.labels, labels.numpy())
    assert result.accuracy() == pytest.approx(100 * (want_pred == labels.numpy()).mean())
    assert result.seconds > 0 and 0 < result.schedule_seconds < result.seconds


def test_predict_batches_takes_a_dataloader_with_or_without_labels(model, inputs) -> None:
    """A DataLoader of TensorDataset(x, y) gives labels; of TensorDataset(x), or bare input
    batches, none: same exits either way."""
    from torch.utils.data import DataLoader, TensorDataset

    policy = fitted(MaxProbPolicy, model, inputs, (0.4, 0.3, 0.3))
    predictor = EarlyExitPredictor(model, policy, device="cpu")
    labels = torch.arange(N) % 5
    labelled = predictor.predict_batches(DataLoader(TensorDataset(inputs, labels),
                                                    batch_size=7))
    np.testing.assert_array_equal(labelled.labels, labels.numpy())
    for batches in (DataLoader(TensorDataset(inputs), batch_size=7), inputs.split(7)):
        result = predictor.predict_batches(batches)
        assert result.labels is None
        np.testing.assert_array_equal(result.exits, labelled.exits)
    with pytest.raises(ArtifactError, match="a batch of 3 items"):
        predictor.predict_batches([(inputs, labels, labels)])


def test_accuracy_without_labels_says_where_labels_come_from(model, inputs) -> None:
    """A result of unlabelled inputs has no accuracy: a one-line ConfigError saying how to
    get one (it was a bare ValueError("no labels"))."""
    predictor = EarlyExitPredictor(model, fitted(MaxProbPolicy, model, inputs, (0.4, 0.3, 0.3)),
                                   device="cpu")
    for result in (predictor.predict(inputs), predictor.predict_batches(inputs.split(7))):
        with pytest.raises(ConfigError) as err:
            result.accuracy()
        assert str(err.value) == (
            "accuracy: this result has no labels; run labelled data (predict_dataset of "
            "(input, label) items, or predict_batches of (inputs, labels) batches), or compare "
            "its predictions with the labels yourself")


def test_labels_that_are_no_class_of_the_model_are_one_line(model, inputs) -> None:
    """Labels outside the model's 5 classes, a batch with more or fewer labels than samples,
    and float labels of a DataLoader were taken as they were: `accuracy()` counted the first
    wrong, the second shifted the labels of the batches after it, the third were cut to
    integers."""
    from torch.utils.data import DataLoader, TensorDataset

    predictor = EarlyExitPredictor(model, fitted(MaxProbPolicy, model, inputs, (0.4, 0.3, 0.3)),
                                   device="cpu")
    labels = torch.arange(N) % 5
    classes = r"labels must lie in \[0, 4\] \(the 5 classes of the model's exits\), got "
    with pytest.raises(ArtifactError, match=f"^dataset: {classes}" + r"\[0, 5\]$"):
        predictor.predict_dataset(TensorDataset(inputs, labels + (labels == 4)), 16)
    with pytest.raises(ArtifactError, match=f"^batches: {classes}" + r"\[-1, 3\]$"):
        predictor.predict_batches([(inputs[:10], labels[:10]), (inputs[10:20], labels[10:20] - 1)])
    with pytest.raises(ArtifactError, match="^batches: a batch of 10 samples came with 9 "
                                            "labels; give one label per sample$"):
        predictor.predict_batches([(inputs[:10], labels[:9]), (inputs[10:20], labels[9:20])])
    with pytest.raises(ArtifactError, match="^batches: labels: expected an integer class index "
                                            "per sample, got torch.float32 labels such as 0.5$"):
        predictor.predict_batches(DataLoader(TensorDataset(inputs, labels + 0.5), batch_size=8))
    with pytest.raises(ArtifactError, match="^dataset: labels: expected an integer class index per "
                                            "sample, got torch.float32 labels such as 0.5$"):
        predictor.predict_dataset(TensorDataset(inputs, labels + 0.5), 8)
    for label, shown in ((torch.tensor(3), "tensor"), (np.array(3), "array")):  # a TypeError
        with pytest.raises(ArtifactError, match="^batches: labels: expected an integer class "
                                                "index per sample, got one value for the whole "
                                                rf"batch \(a 0-d {shown}: 3\)$"):
            predictor.predict_batches([(inputs[:1], label)])
    # integer labels of any kind, every class included, run as before
    batches = [(inputs[:48], labels[:48].numpy().astype(np.int32)), (inputs[48:], labels[48:])]
    result = predictor.predict_batches(batches)
    assert result.labels.dtype == np.int64 and result.labels.tolist() == labels.tolist()


def test_nothing_to_predict_names_the_batches_or_the_dataset(model, inputs) -> None:
    """No batches, or an empty data set, was 'no samples to predict', naming neither."""
    from torch.utils.data import TensorDataset

    predictor = EarlyExitPredictor(model, fitted(MaxProbPolicy, model, inputs, (0.4, 0.3, 0.3)),
                                   device="cpu")
    with pytest.raises(ArtifactError, match="^batches: no samples to predict$"):
        predictor.predict_batches([])
    with pytest.raises(ArtifactError, match="^dataset: no samples to predict$"):
        predictor.predict_dataset(TensorDataset(inputs[:0], torch.zeros(0, dtype=torch.long)), 4)
    # only empty batches are no samples either (they gave an empty result, its accuracy NaN)
    none = torch.zeros(0, dtype=torch.long)
    for batches in ([(inputs[:0], none)], [inputs[:0], inputs[:0]]):
        with pytest.raises(ArtifactError, match="^batches: no samples to predict$"):
            predictor.predict_batches(batches)
    # an empty batch among others adds no samples, and no call of a time per sample for none
    # (its overhead was one call's 'ms per sample', moving the median over calls)
    result = predictor.predict_batches([(inputs[:3], torch.arange(3)), (inputs[:0], none),
                                        (inputs[3:5], torch.arange(2))])
    assert result.n_samples == 5 and result.labels.tolist() == [0, 1, 2, 0, 1]
    assert result.call_ms_per_sample().shape == (2,)


@pytest.mark.parametrize("policy_cls", POLICIES)
def test_an_empty_batch_gives_an_empty_result(model, inputs, policy_cls) -> None:
    """`predict` of an empty batch (a serving queue's, drained) is an empty result, not an
    error: every per-sample field empty with its dtype, and no time per sample (its one call
    counted the call's overhead as one sample's ms)."""
    predictor = EarlyExitPredictor(model, fitted(policy_cls, model, inputs, (0.4, 0.3, 0.3)),
                                   device="cpu")
    runs = [predictor.predict(inputs[:0]), predictor.predict(inputs[:0], keep_logits=True),
            predictor.predict_exit(inputs[:0], 1, keep_logits=True)]
    for result in runs:
        assert result.n_samples == 0 and result.labels is None
        for values in (result.predictions, result.exits):
            assert values.dtype == np.int64 and values.shape == (0,)
        times = result.call_ms_per_sample()
        assert times.dtype == np.float64 and times.shape == (0,)
        assert result.seconds >= 0.0 and result.exit_fractions(3).tolist() == [0.0] * 3
    assert runs[0].logits is None
    for result in runs[1:]:
        assert result.logits.dtype == np.float32 and result.logits.shape == (3, 0, 5)
    joined = EarlyExitResult.concatenate([predictor.predict(inputs[:4]), runs[0]])
    assert joined.n_samples == 4 and joined.call_ms_per_sample().shape == (1,)


def test_measure_settings_are_checked_before_anything_loads(tmp_path):
    paths = [tmp_path / name for name in ("model", "data", "schedulers", "lat.json", "t.npz")]
    with pytest.raises(ConfigError, match=r"^measure\.limit: must be an integer >= 0, got -1$"):
        measure_headline(*paths, limit=-1)
    assert measure_headline(*paths, enabled=False) == {"enabled": False}


@pytest.mark.parametrize("n", range(1, 9))
def test_measure_rounds_change_each_methods_place_and_predecessor(n: int) -> None:
    """The measure stage ran the methods in one order every round: a method always first, or
    always right after the same other one. Each round is every method once; over each block of
    n rounds every method takes every place once; over a period (n rounds, 2n for an odd n)
    every method runs right after every other one equally often (once, or twice)."""
    period = order_period(n)
    assert period == (n if n % 2 == 0 or n == 1 else 2 * n)
    orders = [round_order(n, r) for r in range(period)]
    assert all(sorted(order) == list(range(n)) for order in orders)
    for start in range(0, period, n):
        for place in range(n):
            assert sorted(o[place] for o in orders[start:start + n]) == list(range(n))
    follows = [(o[k], o[k + 1]) for o in orders for k in range(n - 1)]
    expected = [(a, b) for a in range(n) for b in range(n) if a != b] * (period // n)
    assert sorted(follows) == sorted(expected)
    assert [round_order(n, r) for r in range(period, 2 * period)] == orders  # it repeats
    if n > 1:
        assert len({tuple(o) for o in orders}) == period


def test_measure_round_orders_are_recorded_by_round_for_one_period() -> None:
    names = ["eenet", "maxprob", "entropy"]
    assert round_order(2, 0) == [0, 1] and round_order(2, 1) == [1, 0]  # two alternate
    assert round_orders(names, 5) == {"round0": "eenet, maxprob, entropy",
                                      "round1": "maxprob, entropy, eenet",
                                      "round2": "entropy, eenet, maxprob",
                                      "round3": "entropy, maxprob, eenet",
                                      "round4": "eenet, entropy, maxprob"}
    assert len(round_orders(names, 10**6)) == 6 and round_orders(names, 1) == {
        "round0": "eenet, maxprob, entropy"}
    with pytest.raises(ValueError, match="^round_order: needs n_methods >= 1"):
        round_order(0, 0)


def test_measure_notes_a_batch_size_other_than_the_plans() -> None:
    report = {"enabled": True, "batch_size": 8, "plan_batch_size": 1, "plan": "measured"}
    notes = report_notes(report)
    assert len(notes) == 1 and notes[0].startswith("note: measured at batch 8, the plan was "
                                                   "profiled at batch 1")
    for same in ({**report, "plan_batch_size": 8}, {**report, "plan_batch_size": None},
                 {"enabled": False}):
        assert report_notes(same) == []
    imported = report_notes({**report, "plan_batch_size": 8, "plan": "gpu/latency.json"})
    assert imported == ["note: the plan is a latency table imported from gpu/latency.json: "
                        "'ratio' compares this host's time with it; 'ratio_own_profile' "
                        "compares like with like"]


def test_a_failed_own_profile_names_the_measure_settings(model, monkeypatch) -> None:
    """The running policy's own profile is taken with the measure settings (device, batch
    size, threads, warmup, repeats; each a different value here), its policy's scoring and
    group "measure": when its medians are not increasing, the advice names those, not
    profile.*."""
    import eenet.profiling as profiling

    received = []

    def not_increasing(*args, **kwargs):
        received.append((args, kwargs))
        raise profiling.NotIncreasingError([0.2, 0.1], 200, "profile", "raise profile.repeats")

    monkeypatch.setattr(profiling, "profile_model", not_increasing)
    policy = MaxProbPolicy("entropy", 1.0, np.zeros(model.n_exits))
    with pytest.raises(profiling.MeasurementError) as caught:
        own_profile(model, policy, "entropy", "cpu", 3, 2, 7, 11)
    assert str(caught.value) == (
        "measure: entropy's own profile: measured per-exit medians are not strictly increasing "
        "after 200 repeats ([0.2, 0.1] ms); raise measure.repeats or measure.batch_size")
    ((args, kwargs),) = received
    assert args == (model,)
    assert kwargs == {"device": "cpu", "batch_size": 3, "threads": 2, "warmup": 7,
                      "repeats": 11, "policy": policy, "group": "measure"}


def test_a_joined_result_keeps_each_calls_time_per_sample() -> None:
    """`eenet predict` reports the median call beside the mean; a join of joins keeps every
    call, in order."""
    def call(seconds: float, n: int) -> EarlyExitResult:
        return EarlyExitResult(np.zeros(n, np.int64), np.zeros(n, np.int64), seconds=seconds)

    first = EarlyExitResult.concatenate([call(0.010, 2), call(0.003, 3)])
    joined = EarlyExitResult.concatenate([first, call(0.004, 1)])
    np.testing.assert_allclose(joined.call_ms_per_sample(), [5.0, 1.0, 4.0])
    assert joined.seconds == pytest.approx(0.017) and joined.n_samples == 6
    np.testing.assert_allclose(call(0.006, 3).call_ms_per_sample(), [2.0])


def test_the_robust_statistic_at_batch_1_weighs_each_exits_median_by_its_samples() -> None:
    """At batch 1 a plain median over calls is the cost of the exit most samples take (eenet
    predict printed it as the run's ms/sample, below the plan when most left early): the
    median of each exit's samples, weighted by their counts; at larger batches the median."""
    call_ms = np.array([1.0, 1.1, 0.9, 10.0, 50.0])  # the 50 ms call: one slow outlier
    exits = np.array([0, 0, 0, 1, 1])
    assert robust_ms_per_sample(call_ms, exits, 1) == pytest.approx((3 * 1.0 + 2 * 30.0) / 5)
    assert robust_ms_per_sample(call_ms, exits, 64) == 1.1


def test_a_numpy_unsigned_first_index_splits_ties_as_the_same_int(model, inputs) -> None:
    """Real early exit given its batch's offset as np.uint64 decides as with the same int and
    as the simulation: uint64 plus the int64 sample positions is float64, which rounded an
    offset past 2**53 and split the tied samples by other numbers."""
    policy = fitted(CoarseMaxProbPolicy, model, inputs, (0.3, 0.3, 0.4))
    assert policy.tie_shares and min(policy.tie_shares[:-1]) < 1.0
    predictor = EarlyExitPredictor(model, policy, device="cpu")
    offset = 2**60 + 1
    want = predictor.predict(inputs, first_index=offset).exits
    logits = exit_logits(model, inputs)
    simulated = policy.decide(ExitOutputs(logits, np.zeros(N, dtype=np.int64)).log_probs(),
                              first_index=offset)
    np.testing.assert_array_equal(want, simulated)
    np.testing.assert_array_equal(predictor.predict(inputs, first_index=np.uint64(offset)).exits,
                                  want)
