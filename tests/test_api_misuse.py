"""The Python API given the wrong thing: one line naming the argument, where an audit met
Python's own errors (an unpacking ValueError, torch's driver error, a TypeError) or a
silent answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from eenet.errors import ArtifactError, ConfigError
from eenet.evaluation import schedule_sweep
from eenet.inference import collect_exit_logits
from eenet.models import build_model
from eenet.profiling import profile_model
from eenet.runtime import EarlyExitPredictor, robust_ms_per_sample
from eenet.schedulers import fit_policy
from eenet.scoring_cost import profile_scoring
from eenet.synthetic import make_costs, make_split_pair

PAIRS = r"^dataset: each sample must be an \(inputs, label\) pair, as a TensorDataset\(x, y\) gives"


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("resnet1d_3", 10, widths=[4, 8, 8], blocks=[1, 1, 1])


def _inputs(n: int) -> torch.Tensor:
    return torch.randn(n, 1, 40, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(("extra", "got"), [(0, "a tuple of 1 item$"),
                                            (1, "a tuple of 3 items$")])
def test_a_dataset_without_labels_or_with_more_is_one_line(model, extra, got):
    """TensorDataset(x) (inputs alone) read by collect_exit_logits or real early exit was
    'ValueError: not enough values to unpack (expected 2, got 1)'; a third tensor, 'too
    many values'. Both read a pair per sample, as training does."""
    x = _inputs(12)
    parts = [x] if not extra else [x, torch.zeros(12, dtype=torch.long), torch.zeros(12)]
    dataset = TensorDataset(*parts)
    with pytest.raises(ArtifactError, match=PAIRS + "; got " + got):
        collect_exit_logits(model, dataset, "cpu")
    val = collect_exit_logits(model, TensorDataset(x, torch.zeros(12, dtype=torch.long)), "cpu")
    assert val.logits.shape == (3, 12, 10)
    policy = fit_policy("maxprob", make_split_pair(3, 10, 50, 50, seed=1)[0], make_costs(3), 2.0)
    with pytest.raises(ArtifactError, match=PAIRS + "; got " + got):
        EarlyExitPredictor(model, policy, device="cpu").predict_dataset(dataset, batch_size=5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", torch.device("cuda"), "cuda:1"])
def test_collect_exit_logits_on_a_missing_gpu_is_one_line(model, device):
    """collect_exit_logits(model, data, "cuda") without a GPU was torch's RuntimeError ('Found
    no NVIDIA driver ...') from the first tensor moved; now the ConfigError every other
    device setting gives. A name ('cpu', 'auto') is taken as a torch.device is."""
    dataset = TensorDataset(_inputs(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"^device: 'cuda(:1)?' requested but no CUDA GPU is "
                       r"available; use auto or cpu$"):
        collect_exit_logits(model, dataset, device)
    by_name = collect_exit_logits(model, dataset, "auto")
    np.testing.assert_array_equal(by_name.logits,
                                  collect_exit_logits(model, dataset, torch.device("cpu")).logits)


@pytest.mark.parametrize(("methods", "message"), [
    (("foo",), r"^methods: unknown value 'foo'; allowed: eenet, entropy, patience$"),
    (("maxprob",), r"^methods: maxprob is the reference the others' extra scoring cost is "
                   r"measured against \(its extra is 0\); allowed: entropy, patience, eenet$"),
    ("entropy", r"^methods: expected a list of method names, got 'entropy'; e\.g\. \['entropy'\]"),
])
def test_profile_scoring_names_a_method_it_cannot_time(model, methods, message):
    """profile_scoring(model, methods=...) with a name that is no charged method was a bare
    ValueError naming `scoring_policies`, an inner function; uncharged (charge=False) it was
    not checked at all."""
    for charge in (True, False):
        with pytest.raises(ConfigError, match=message):
            profile_scoring(model, methods=methods, charge=charge, warmup=1, repeats=2)


def test_profile_model_given_numpy_inputs_is_one_line(model):
    """profile_model(model, inputs=<numpy array>) was 'TypeError: cannot size a state of
    type ndarray'; the same batch as a tensor is profiled."""
    x = _inputs(2)
    with pytest.raises(ConfigError, match=r"^inputs: expected a batch as the model takes it .*"
                       r"got ndarray \(torch\.from_numpy\(x\)\)$"):
        profile_model(model, device="cpu", inputs=x.numpy(), warmup=0, repeats=2)
    table = profile_model(model, device="cpu", inputs=x, warmup=0, repeats=2)
    assert len(table["cumulative_ms"]) == 3


@pytest.mark.parametrize(("methods", "budgets", "message"), [
    (["maxprob", "maxprob"], [1.5], r"^methods: 'maxprob' given twice; give each method once$"),
    ([], [1.5], r"^methods: expected a non-empty list; allowed: eenet, entropy, maxprob, "
                r"oracle, patience$"),
    (["maxprob"], [], r"^budgets_ms: empty; give one or more budgets in ms/sample$"),
])
def test_schedule_sweep_refuses_a_repeated_method_and_empty_lists(methods, budgets, message):
    """schedule_sweep with a method twice gave its rows once, and with no methods or no
    budgets returned [], each without a word (eenet schedule refuses them)."""
    val, test = make_split_pair(3, 10, 60, 60, seed=1)
    with pytest.raises(ConfigError, match=message):
        schedule_sweep(val, test, make_costs(3), methods, budgets)
    rows = schedule_sweep(val, test, make_costs(3), ["maxprob", "entropy"], [1.5])
    assert [r["method"] for r in rows] == ["maxprob", "entropy"]


@pytest.mark.parametrize(("args", "message"), [
    (([], [], 1), r"^call_ms: expected the ms/sample of one or more calls, got shape \(0,\)$"),
    (([1.0, 2.0], [0], 1), r"^exits: at batch 1 one exit per call \(2\), got shape \(1,\)$"),
    (([1.0, 2.0], [0, 1], 0), r"^batch_size: expected an integer >= 1, got 0$"),
])
def test_robust_ms_per_sample_names_what_it_cannot_summarise(args, message):
    """robust_ms_per_sample (docs/python.md's summary of a timed run) of no calls was a
    ZeroDivisionError, of fewer exits than calls an IndexError; the calls it can summarise
    give the median of each exit's calls weighted by their counts."""
    with pytest.raises(ConfigError, match=message):
        robust_ms_per_sample(*args)
    assert robust_ms_per_sample([1.0, 3.0, 10.0], [0, 0, 1], 1) == pytest.approx(
        (2.0 * 2 + 10.0) / 3)
    assert robust_ms_per_sample([1.0, 3.0, 10.0], [0, 0, 1], 4) == 3.0
