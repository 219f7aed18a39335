"""Every registered model family, built small, run for real: early exit runs no layer past the
exit, gives the outputs of the full forward pass, runs in eval and inference mode, and the
model round-trips through its artifact."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from eenet.errors import ArtifactError
from eenet.inference import collect_exit_logits
from eenet.models import MODELS, batch_size_of, build_model, select_batch
from eenet.models.artifact import load_trained, save_trained
from eenet.profiling import NotIncreasingError, count_flops, prefix_calls, profile_model
from eenet.runtime import EarlyExitPredictor
from tests.runtime_helpers import MaxProbPolicy

N = 6
CLASSES = 4
# texts of different lengths: a batch of them is padded to the longest
TEXTS = [
    "game team win match",
    "stocks market profit .",
    "software computer internet research space microsoft software computer",
    "government minister election",
    "good great",
    "bad dull boring awful film",
]
SMALL = {
    "resnet1d_3": {},
    "resnet56_3": {"blocks": [1, 1, 1], "base_width": 4},
    "densenet121_4": {"blocks": [1, 1, 1, 1], "growth": 4},
    "bert_4": {"pretrained": None, "exit_layers": [1, 2, 3, 4], "max_length": 16},
}


# tiny ops on a shared machine run far faster without an OpenMP thread pool
pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> Path:
    from tests.preset_fixtures import write_vocab

    return write_vocab(tmp_path_factory.mktemp("bert") / "vocab.txt")


def options_of(name: str, vocab: Path) -> dict[str, Any]:
    """`name`'s small options (BERT: a tiny config and the fixture's vocabulary)."""
    if name != "bert_4":
        return dict(SMALL[name])
    from tests.preset_fixtures import tiny_bert_config

    return {**SMALL[name], "config": tiny_bert_config(len(vocab.read_text().split())),
            "tokenizer": str(vocab)}


def as_trained(model: torch.nn.Module) -> torch.nn.Module:
    """Batch norm statistics as after training (far from a batch's own), in eval mode."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            size = module.running_mean.shape
            module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.num_batches_tracked.fill_(100)
    return model.eval()


@pytest.fixture(params=sorted(MODELS))
def family(request, vocab) -> tuple[str, dict[str, Any], Any, Any]:
    """(name, options, model, a batch of N inputs) for each registered model."""
    name = request.param
    options = options_of(name, vocab)
    torch.manual_seed(0)
    model = as_trained(build_model(name, CLASSES, **options))
    if name == "bert_4":
        inputs = model.collate(TEXTS)
    else:
        inputs = model.example_inputs(N)  # samples of different scales: different scores
        inputs = inputs * torch.linspace(0.2, 3.0, N).view(-1, *[1] * (inputs.dim() - 1))
    return name, options, model, inputs


def owners(model) -> dict[int, tuple[str, int]]:
    """id(module) -> (part, exit) for every module of the stem, segments and heads."""
    owner = {id(m): ("stem", -1) for m in model.stem.modules()}
    for part, modules in (("segment", model.segments), ("head", model.heads)):
        for k, module in enumerate(modules):
            owner.update({id(m): (part, k) for m in module.modules()})
    return owner


def test_reaching_exit_k_runs_no_layer_past_it(family) -> None:
    """The profile's call for exit k (the runtime's `predict_exit`) runs every weighted layer
    of the stem, segments and heads 0..k and none of any later segment or head; its FLOPs
    grow with k. In real early exit, a segment runs only the samples still present."""
    _, _, model, inputs = family
    owner = owners(model)
    ran: list[int] = []
    hooks = [m.register_forward_hook(lambda mod, args, out: ran.append(id(mod)))
             for m in model.modules() if m is not model]
    weighted = [id(m) for m in model.modules()
                if m is not model and any(True for _ in m.parameters(recurse=False))]
    try:
        for k, call in enumerate(prefix_calls(model, inputs, torch.device("cpu"))):
            ran.clear()
            assert (call().exits == k).all()
            parts = {owner.get(i, ("elsewhere", 0)) for i in ran}
            assert all(part == "stem" or (part != "elsewhere" and j <= k)
                       for part, j in parts), sorted(parts)
            wanted = {i for i in weighted if owner[i][1] <= k}
            assert wanted <= set(ran)
    finally:
        for hook in hooks:
            hook.remove()
    with torch.inference_mode():
        flops = count_flops(model, inputs)
    assert (np.diff(flops) > 0).all(), flops


def mixed_policy(model, inputs) -> MaxProbPolicy:
    """Max-p thresholds that send the batch's samples to different exits: each between two
    of the batch's scores at its exit (no ties), about a third leaving at each early exit."""
    with torch.inference_mode():
        logits = torch.stack(model(inputs)).double()
    scores = logits.softmax(-1).amax(-1).numpy()
    thresholds = []
    for row in scores[:-1]:
        top = np.sort(row)[-3:-1]
        thresholds.append(float(top.mean()))
    return MaxProbPolicy("mixed", 1.0, np.array([*thresholds, 0.0]))


def test_mixed_exits_give_the_full_forward_pass_outputs(family) -> None:
    """Samples leaving at different exits get, at each exit they reach, the logits of the full
    forward pass over the whole batch (every exit at once), to float tolerance: run in one
    batch that shrinks, and each sample alone (BERT: alone unpadded; batch norm in eval mode
    uses its running statistics, never the batch's)."""
    name, _, model, inputs = family
    with torch.inference_mode():
        full = torch.stack(model(inputs)).numpy()
    predictor = EarlyExitPredictor(model, mixed_policy(model, inputs), device="cpu")
    sizes: list[tuple[int, int]] = []
    hooks = [segment.register_forward_pre_hook(
        lambda mod, args, k=k: sizes.append((k, batch_size_of(args[0]))))
        for k, segment in enumerate(model.segments)]
    try:
        together = predictor.predict(inputs, keep_logits=True)
    finally:
        for hook in hooks:
            hook.remove()
    exits = together.exits
    assert len(set(exits.tolist())) >= 2, exits  # the batch shrank on the way
    assert sizes == [(k, int((exits >= k).sum())) for k in range(exits.max() + 1)]
    alone = [predictor.predict(model.collate([TEXTS[i]]) if name == "bert_4"
                               else select_batch(inputs, torch.tensor([i])), keep_logits=True)
             for i in range(N)]
    assert [int(a.exits[0]) for a in alone] == exits.tolist()
    for i, exit_k in enumerate(exits):
        for k in range(exit_k + 1):
            np.testing.assert_allclose(together.logits[k, i], full[k, i], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(alone[i].logits[k, 0], full[k, i], rtol=1e-4, atol=1e-5)
        assert together.predictions[i] == full[exit_k, i].argmax()


class ModeLog:
    """Records (training, grad enabled, inference mode) at every segment call of a model."""

    def __init__(self, model) -> None:
        self.seen: list[tuple[bool, bool, bool]] = []
        self.hooks = [segment.register_forward_pre_hook(self.record)
                      for segment in model.segments]

    def record(self, module, args) -> None:
        self.seen.append((module.training, torch.is_grad_enabled(),
                          torch.is_inference_mode_enabled()))


def test_profile_runtime_and_dump_run_the_model_in_eval_and_inference_mode(vocab) -> None:
    """A model left in training mode by its caller is profiled, run early-exit and dumped in
    eval mode under inference mode (no dropout, batch norm on its running statistics, which
    stay as they were, no autograd graph), and handed back in training mode."""
    torch.manual_seed(0)
    model = as_trained(build_model("resnet1d_3", CLASSES))
    running = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = model.example_inputs(N)
    log = ModeLog(model)
    model.train()
    with contextlib.suppress(NotIncreasingError):  # the modes are seen before any verdict
        profile_model(model, device="cpu", warmup=0, repeats=3, max_rounds=1)
    assert log.seen and set(log.seen) == {(False, False, True)}
    assert model.training
    predictor = EarlyExitPredictor(model, MaxProbPolicy("p", 1.0, np.full(3, 0.5)), "cpu")
    model.train()
    log.seen.clear()
    predictor.predict(inputs)
    predictor.predict_exit(inputs, 2)
    assert log.seen and set(log.seen) == {(False, False, True)}
    assert model.training
    log.seen.clear()
    dataset = torch.utils.data.TensorDataset(inputs, torch.zeros(N, dtype=torch.long))
    collect_exit_logits(model.train(), dataset, torch.device("cpu"))
    assert log.seen and set(log.seen) == {(False, False, True)}
    assert all(torch.equal(v, running[k]) for k, v in model.state_dict().items())


def test_the_artifact_round_trips_exactly(family, tmp_path) -> None:
    """save_trained then load_trained gives every tensor back exactly (weights, batch norm
    statistics and counters, same dtypes), the model in eval mode with the same outputs."""
    name, options, model, inputs = family
    save_trained(model, tmp_path / "model", name, CLASSES, options)
    loaded = load_trained(tmp_path / "model")
    assert not loaded.training and type(loaded) is type(model)
    saved, back = model.state_dict(), loaded.state_dict()
    assert list(back) == list(saved)
    for key, tensor in saved.items():
        assert back[key].dtype == tensor.dtype and torch.equal(back[key], tensor), key
    with torch.inference_mode():
        for a, b in zip(model(inputs), loaded(inputs), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize(("edit", "message"), [
    ({"num_classes": CLASSES + 1}, "model.safetensors: weights do not match {name} with the "
                                   "options of config.json (size mismatch for heads.0."),
    ({"n_exits": 9}, "config.json: n_exits is 9, but {name} built with its options has "),
])
def test_an_artifact_edited_to_other_classes_or_exits_is_one_line(family, tmp_path, edit,
                                                                  message) -> None:
    """An artifact whose config.json names other classes or another exit count than its
    weights were saved with is a one-line ArtifactError naming the file."""
    name, options, model, _ = family
    folder = save_trained(model, tmp_path / "model", name, CLASSES, options)
    text = load_edited(folder, edit)
    assert text.startswith(str(folder)) and message.format(name=name) in text, text


def load_edited(folder: Path, edit: dict[str, Any]) -> str:
    """The one-line ArtifactError of load_trained on `folder` with `edit` in its config.json."""
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **edit}))
    with pytest.raises(ArtifactError) as err:
        load_trained(folder)
    assert "\n" not in str(err.value), str(err.value)
    return str(err.value)


def test_an_artifact_renamed_to_another_model_is_one_line(family, tmp_path) -> None:
    """config.json naming another registered model than the weights' is a one-line
    ArtifactError naming config.json or model.safetensors. A BERT is rebuilt from its
    artifact's assets: one claiming to be a BERT without them went for the pretrained
    weights on the network (an EENetError about the Hugging Face cache, offline), and a
    BERT's renamed to a CNN was refused for an option (assets) no params.yaml sets."""
    name, options, model, _ = family
    folder = save_trained(model, tmp_path / "model", name, CLASSES, options)
    for other in sorted(set(MODELS) - {name}):
        if name == "bert_4":
            want = (f"{folder}/config.json: records an assets folder, but {other} takes none "
                    "(the artifact of another model?); rerun train")
        elif other == "bert_4":
            want = (f"{folder}/config.json: records no assets folder, which bert_4 is rebuilt "
                    "from (its config and tokenizer); rerun train")
        else:
            want = ""
        text = load_edited(folder, {"name": other, "options": {}})
        if want:
            assert text == want
        else:
            assert re.match(rf"{re.escape(str(folder))}/(config\.json: n_exits is \d, but "
                            rf"{other} |model\.safetensors: weights do not match {other} )",
                            text), text


# a model of one's own that keeps assets (README: a `save_pretrained_assets` method and an
# `assets` option), its builder taking `**options` with no OPTIONS list: options unknown
OWN_MODEL = '''
import json
from pathlib import Path

from eenet.models.resnet1d import build_resnet1d_3


def build(num_classes, **options):
    assets = options.pop("assets", None)
    if assets is not None:
        options = json.loads((Path(assets) / "options.json").read_text())
    model = build_resnet1d_3(num_classes, **options)
    model.save_pretrained_assets = (
        lambda folder: (folder / "options.json").write_text(json.dumps(options)))
    return model
'''


def test_an_artifact_with_assets_of_a_builder_taking_any_options_loads(tmp_path,
                                                                       monkeypatch) -> None:
    """A registered builder taking `**options` (options that cannot be known) is given the
    assets its artifact records: it was refused as taking none."""
    (tmp_path / "own_model.py").write_text(OWN_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(MODELS, "own_3", "own_model:build")
    torch.manual_seed(0)
    model = build_model("own_3", CLASSES, widths=[4, 8, 16]).eval()
    folder = save_trained(model, tmp_path / "model", "own_3", CLASSES, {})
    assert (folder / "assets" / "options.json").is_file()
    loaded = load_trained(folder)
    inputs = model.example_inputs(N)
    with torch.inference_mode():
        for a, b in zip(model(inputs), loaded(inputs), strict=True):
            assert torch.equal(a, b)
