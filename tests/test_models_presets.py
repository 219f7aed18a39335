"""The paper presets: exact architectures (parameter counts) and per-exit forward passes."""

from __future__ import annotations

import pytest
import torch

from eenet.models import build_model


@pytest.fixture(scope="module")
def resnet56() -> torch.nn.Module:
    return build_model("resnet56_3", 10)


@pytest.fixture(scope="module")
def densenet121() -> torch.nn.Module:
    return build_model("densenet121_4", 100)


def test_resnet56_matches_the_authors_parameter_counts(resnet56):
    counts = resnet56.segment_parameter_counts()
    assert counts == {"total": 939_438, "backbone": 869_530, "exit_heads": [14_090, 55_818]}
    assert resnet56.n_exits == 3


def test_densenet121_matches_the_authors_parameter_counts(densenet121):
    counts = densenet121.segment_parameter_counts()
    assert counts == {
        "total": 1_207_768,
        "backbone": 1_035_268,
        "exit_heads": [9_148, 33_748, 129_604],
    }
    assert densenet121.n_exits == 4


@pytest.mark.parametrize(
    ("fixture", "num_classes", "n_exits"),
    [("resnet56", 10, 3), ("densenet121", 100, 4)],
)
def test_cnn_presets_forward_one_output_per_exit(request, fixture, num_classes, n_exits):
    model = request.getfixturevalue(fixture).eval()
    inputs = model.example_inputs(2)
    assert inputs.shape == (2, 3, 32, 32)
    with torch.no_grad():
        logits = model(inputs)
        partial = model(inputs, up_to=1)
    assert [tuple(x.shape) for x in logits] == [(2, num_classes)] * n_exits
    assert len(partial) == 2
    for full, early in zip(logits[:2], partial, strict=True):
        torch.testing.assert_close(full, early)


def test_resnet_segments_exit_at_blocks_9_and_18(resnet56):
    assert [len(segment) for segment in resnet56.segments] == [9, 9, 9]
    state = resnet56.begin(torch.zeros(1, 3, 32, 32))
    shapes = []
    for k in range(3):
        state = resnet56.run_segment(k, state)
        shapes.append(tuple(state.shape[1:]))
    assert shapes == [(64, 32, 32), (128, 16, 16), (256, 8, 8)]


def test_small_cnn_variants_train_a_step():
    torch.manual_seed(0)
    for name, options in (
        ("resnet56_3", {"blocks": (1, 1, 1), "base_width": 4}),
        ("densenet121_4", {"blocks": (1, 1, 1, 1), "growth": 4}),
    ):
        model = build_model(name, 5, **options)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = model.example_inputs(8), torch.arange(8) % 5
        losses = []
        for _ in range(4):
            optimizer.zero_grad()
            loss = sum(torch.nn.functional.cross_entropy(z, y) for z in model(x))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0], name
