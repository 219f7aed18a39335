"""The paper presets: exact architectures (parameter counts) and per-exit forward passes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from eenet.errors import ConfigError, EENetError
from eenet.losses import multi_exit_loss
from eenet.models import build_model

# tiny ops on a shared machine run far faster without an OpenMP thread pool
pytestmark = pytest.mark.usefixtures("one_thread_per_module")


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


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("resnet1d_3", {"widths": [0, 8, 8]},
         "model.options.widths: expected integers >= 1, one per exit, got [0, 8, 8]"),
        ("resnet1d_3", {"widths": [4, 8]}, "model.options.blocks: expected 2 integers >= 1 (as "
         "many as widths), one per exit, got (1, 1, 2)"),
        ("resnet1d_3", {"input_length": 0},
         "model.options.input_length: must be an integer from 1 to 268435456, got 0"),
        # a sample past 1 GiB: 10**12 asked torch for 4 TB, 10**30 could not be sized (a
        # traceback each, at the first example input)
        ("resnet1d_3", {"input_length": 10**12},
         "model.options.input_length: must be an integer from 1 to 268435456, got "
         "1000000000000"),
        ("resnet56_3", {"blocks": []},
         "model.options.blocks: expected integers >= 1, one per exit, got []"),
        ("resnet56_3", {"base_width": -2},
         "model.options.base_width: must be an integer >= 1, got -2"),
        ("densenet121_4", {"blocks": [6, 0, 24, 16]},
         "model.options.blocks: expected integers >= 1, one per exit, got [6, 0, 24, 16]"),
        ("densenet121_4", {"growth": 2.5},
         "model.options.growth: must be an integer >= 1, got 2.5"),
        # options that built but never ran: a 7th block's transition pooled the 1x1 image to
        # nothing, an exit head of 3 // 4 = 0 channels got a weight of size [0, 3, 3, 3]
        ("densenet121_4", {"blocks": [1] * 7, "growth": 8},
         "model.options.blocks: expected at most 6 integers, one per exit (each transition "
         "halves the 32x32 image: 7 blocks would pool it below 1x1), got [1, 1, 1, 1, 1, 1, 1]"),
        ("densenet121_4", {"blocks": [1, 1], "growth": 1},
         "model.options.growth: must be an integer >= 3 with blocks [1, 1], got 1 (exit 0's "
         "head would get 1 // 4 = 0 channels)"),
        ("densenet121_4", {"blocks": [1, 1], "growth": 2},
         "model.options.growth: must be an integer >= 3 with blocks [1, 1], got 2 (exit 0's "
         "head would get 3 // 4 = 0 channels)"),
        ("densenet121_4", {"blocks": [6, 1, 1], "growth": 1},
         "model.options.growth: must be an integer >= 2 with blocks [6, 1, 1], got 1 (exit 1's "
         "head would get 2 // 4 = 0 channels)"),
        # sizes past MAX_WEIGHTS: torch tried to allocate them (192 GB for the first), a
        # traceback, or a billion blocks were built one by one
        ("resnet1d_3", {"widths": [8, 16, 10**9]},
         "model.options: widths [8, 16, 1000000000] and blocks [1, 1, 2] give the model 9e+18 "
         "parameters (3.35e+10 GiB as float32); allowed: at most 1073741824 (4 GiB)"),
        ("resnet1d_3", {"blocks": [1, 1, 10**9]},
         "model.options: widths [8, 16, 64] and blocks [1, 1, 1000000000] give the model "
         "2.48e+13 parameters"),
        ("resnet56_3", {"base_width": 10**9},
         "model.options: blocks [9, 9, 9] and base_width 1000000000 give the model 3.6e+21 "
         "parameters"),
        ("densenet121_4", {"growth": 10**9},
         "model.options: blocks [6, 12, 24, 16] and growth 1000000000 give the model 7.83e+21 "
         "parameters"),
        ("densenet121_4", {"blocks": [6, 12, 24, 10**9]},
         "model.options: blocks [6, 12, 24, 1000000000] and growth 12 give the model 3e+20 "
         "parameters"),
    ],
)
def test_bad_architecture_options_are_one_line_errors(name, options, message):
    """Sizes that count things must be integers >= 1, one per exit (a zero width built a model
    that failed later, a negative one was a torch traceback, a widths / blocks mismatch a
    ValueError)."""
    with pytest.raises(EENetError) as err:
        build_model(name, 10, **options)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("densenet121_4", {"blocks": [1] * 6, "growth": 8}),  # 1x1 after the last transition
        ("densenet121_4", {"blocks": [1, 1], "growth": 3}),  # heads of one channel
        ("densenet121_4", {"blocks": [1], "growth": 1}),  # no early exit
        ("resnet56_3", {"blocks": [1] * 8, "base_width": 1}),  # strided 3x3 convs keep 1x1
        ("resnet1d_3", {"widths": [1] * 8, "blocks": [1] * 8, "input_length": 1}),
    ],
)
def test_the_smallest_and_deepest_allowed_cnns_run(name, options):
    """The limits the CNNs' option checks draw: what they let through runs a forward pass
    (every head and spatial size at least one)."""
    model = build_model(name, 3, **options).eval()
    with torch.no_grad():
        logits = model(model.example_inputs(2))
    assert [tuple(z.shape) for z in logits] == [(2, 3)] * model.n_exits


@pytest.mark.parametrize(
    ("name", "options"),  # options in the order weight_count takes them
    [
        ("resnet1d_3", {"widths": [8, 16, 64], "blocks": [1, 1, 2]}),
        ("resnet1d_3", {"widths": [8, 8, 8], "blocks": [2, 3, 1]}),
        ("resnet1d_3", {"widths": [8, 4, 12, 12], "blocks": [1, 2, 1, 3]}),
        ("resnet56_3", {"blocks": [9, 9, 9], "base_width": 16}),
        ("resnet56_3", {"blocks": [1, 2, 1, 1], "base_width": 3}),
        ("densenet121_4", {"blocks": [6, 12, 24, 16], "growth": 12}),
        ("densenet121_4", {"blocks": [2, 3], "growth": 5}),
    ],
)
def test_the_size_check_counts_the_parameters_the_model_gets(name, options):
    """The size check counts the parameters from the options, before building: exactly what
    the built model holds."""
    from importlib import import_module

    from eenet.models import MODELS

    count = import_module(MODELS[name].partition(":")[0]).weight_count
    model = build_model(name, 7, **options)
    assert count(7, *options.values()) == sum(p.numel() for p in model.parameters())


def test_densenet_built_with_another_reduction_has_the_widths_its_checks_count():
    """The transitions' widths were worked out three times: the model rounded
    channels * reduction in floating point, the size count and the head check exactly, so at
    reduction 0.3 a 50-channel transition was built 15 wide and counted 14 wide. Now all
    three take 3/10 of 50 channels, 15: the reduction as written, not the binary float just
    below it."""
    from eenet.models.densenet121 import DenseNetCifarMultiExit, block_widths, weight_count

    model = DenseNetCifarMultiExit(7, blocks=(3, 1, 2), growth=10, reduction=0.3)
    assert weight_count(7, (3, 1, 2), 10, 0.3) == sum(p.numel() for p in model.parameters())
    assert [b.out for b in block_widths((3, 1, 2), 10, 0.3)] == [15, 7, None]  # 50, then 25


# --- BERT: a tiny BertConfig and WordPiece vocabulary drive the real modules and tokenizer ---

TEXTS = [
    "game team win match",
    "stocks market profit .",
    "software computer internet research space microsoft software computer",
    "government minister election",
]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    from tests.preset_fixtures import write_vocab

    return write_vocab(tmp_path_factory.mktemp("bert") / "vocab.txt")


def tiny_bert(vocab, **options):
    from tests.preset_fixtures import tiny_bert_config

    n_tokens = len(vocab.read_text().split())
    settings = {
        "pretrained": None,
        "config": tiny_bert_config(n_tokens),
        "tokenizer": str(vocab),
        "exit_layers": (1, 2, 3, 4),
        "max_length": 16,
        **options,
    }
    return build_model("bert_4", 4, **settings)


def test_bert_4_default_counts_without_download():
    model = build_model("bert_4", 4, pretrained=None)
    counts = model.segment_parameter_counts()
    head = 768 * 768 + 768 + 768 * 4 + 4
    assert counts["exit_heads"] == [head] * 3
    assert counts["total"] == 108_891_648 + 4 * head  # BertModel without pooler + 4 heads
    assert [len(s.layers) for s in model.segments] == [3, 3, 3, 3]
    assert model.tokenizer is None
    with pytest.raises(EENetError, match="model.options.tokenizer"):
        model.collate(["x"])


def test_bert_tokenises_and_returns_one_output_per_exit(vocab):
    model = tiny_bert(vocab).eval()
    batch = model.collate(TEXTS)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask"}
    assert batch["input_ids"].shape == (4, 10)  # [CLS] + 8 words + [SEP], padded to the longest
    assert batch["attention_mask"].sum(1).tolist() == [6, 6, 10, 5]
    assert (batch["input_ids"] == 1).sum() == 0  # every fixture word is in the vocabulary
    with torch.no_grad():
        logits = model(batch)
    assert [tuple(x.shape) for x in logits] == [(4, 4)] * 4
    long = model.collate([" ".join(["game"] * 50)])
    assert long["input_ids"].shape == (1, 16)
    example = model.example_inputs(3)
    assert example["input_ids"].shape == (3, 16)
    assert len(model(example)) == 4


def test_a_berts_saved_tokenizer_is_the_same_before_and_after_it_tokenised(vocab, tmp_path):
    """The train stage reusing a finished run saves a model whose tokenizer never ran; one
    trained afresh had tokenised every batch, and its tokenizer.json held the truncation and
    padding of the last call: the artifact's bytes differed, so every later stage ran again.
    Saving leaves the tokenizer working as before (long texts still truncated)."""
    model = tiny_bert(vocab)
    for folder in ("unused", "used"):
        (tmp_path / folder).mkdir()
    model.save_pretrained_assets(tmp_path / "unused")
    assert model.collate(TEXTS)["input_ids"].shape == (4, 10)
    model.save_pretrained_assets(tmp_path / "used")
    files = sorted(p.name for p in (tmp_path / "unused").iterdir())
    assert "tokenizer.json" in files
    assert files == sorted(p.name for p in (tmp_path / "used").iterdir())
    for name in files:
        assert (tmp_path / "used" / name).read_bytes() == (tmp_path / "unused" / name).read_bytes()
    assert model.collate([" ".join(["game"] * 50)])["input_ids"].shape == (1, 16)


def test_bert_loader_workers_get_the_tokenizer_not_the_model(vocab):
    """DataLoader workers started by spawn (macOS, Windows) receive the collate function
    pickled: it must batch as the model does without carrying the model's weights."""
    import pickle

    from eenet.batching import make_loader

    model = tiny_bert(vocab).eval()
    items = list(zip(TEXTS, range(len(TEXTS)), strict=True))
    collate = make_loader(items, model, batch_size=4, shuffle=False, seed=0).collate_fn
    shipped = pickle.dumps(collate)
    assert len(shipped) < len(pickle.dumps(model)) / 10
    inputs, labels = pickle.loads(shipped)(items)  # what a spawned worker runs
    expected = model.collate(TEXTS)
    assert all(torch.equal(inputs[key], expected[key]) for key in expected)
    assert labels.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_bert_segments_match_bert_model_with_padding(vocab, attention):
    from transformers import BertConfig, BertModel

    from eenet.models.bert import BertMultiExit
    from eenet.models.bert_loading import load_tokenizer
    from tests.preset_fixtures import tiny_bert_config

    torch.manual_seed(0)
    config = BertConfig(**tiny_bert_config(40), attn_implementation=attention)
    bert = BertModel(config).eval()
    model = BertMultiExit(bert, 4, (2, 4), tokenizer=load_tokenizer(vocab)).eval()
    batch = model.collate(TEXTS)
    with torch.no_grad():
        reference = bert(**batch, output_hidden_states=True).hidden_states
        state = model.begin(batch)
        logits = model(batch)
        real = batch["attention_mask"].bool()
        for k, layer in enumerate((2, 4)):  # each exit reads the hidden states of its layer
            state = model.run_segment(k, state)
            torch.testing.assert_close(state["hidden"][real], reference[layer][real])
            head = model.heads[k]  # pooled from [CLS] as BertPooler pools
            torch.testing.assert_close(
                logits[k], head.classifier(torch.tanh(head.dense(reference[layer][:, 0]))))


def test_bert_exits_pool_alike_in_training_the_full_pass_and_early_exit(vocab):
    """Without dropout, training mode (what the loss sees), the full forward pass in eval
    mode (the dumped logits the schedulers fit on) and real early exit give each exit the
    same logits: one pooling everywhere."""
    import numpy as np

    from eenet.runtime import EarlyExitPredictor
    from tests.runtime_helpers import MaxProbPolicy

    torch.manual_seed(0)
    model = tiny_bert(vocab, config={**tiny_bert_config_of(vocab), "hidden_dropout_prob": 0.0,
                                     "attention_probs_dropout_prob": 0.0})
    batch = model.collate(TEXTS)
    training = model.train()(batch)
    with torch.no_grad():
        full = model.eval()(batch)
    kept = EarlyExitPredictor(model, MaxProbPolicy("none", 1.0, np.full(4, np.inf)),
                              "cpu").predict(batch, keep_logits=True).logits
    for k in range(model.n_exits):
        torch.testing.assert_close(training[k].detach(), full[k])
        np.testing.assert_allclose(kept[k], full[k].numpy(), rtol=1e-5, atol=1e-6)


def tiny_bert_config_of(vocab) -> dict:
    """The tiny BertConfig overrides `tiny_bert` uses for `vocab`."""
    from tests.preset_fixtures import tiny_bert_config

    return tiny_bert_config(len(vocab.read_text().split()))


def test_bert_padding_does_not_change_predictions(vocab):
    model = tiny_bert(vocab).eval()
    with torch.no_grad():
        alone = model(model.collate([TEXTS[3]]))
        padded = model(model.collate([TEXTS[3], TEXTS[2]]))
    for a, p in zip(alone, padded, strict=True):
        torch.testing.assert_close(a[0], p[0], atol=1e-5, rtol=1e-4)


def test_a_tokenizer_padding_on_the_left_still_pads_texts_on_the_right(vocab, tmp_path):
    """A tokenizer folder whose tokenizer_config.json pads on the left put padding before
    [CLS]: the exits pooled a padding position and the position ids shifted, so a text's
    outputs depended on the longest text of its batch."""
    import json

    from eenet.models.bert_loading import load_tokenizer

    load_tokenizer(vocab).save_pretrained(tmp_path)
    settings = json.loads((tmp_path / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**settings,
                                                                "padding_side": "left"}))
    assert load_tokenizer(tmp_path).padding_side == "left"
    torch.manual_seed(0)
    model = tiny_bert(vocab, tokenizer=str(tmp_path)).eval()
    batch = model.collate([TEXTS[3], TEXTS[2]])
    assert batch["input_ids"][0, 0] == model.tokenizer.cls_token_id
    assert batch["attention_mask"][0].tolist() == [1] * 5 + [0] * 5
    with torch.no_grad():
        alone, padded = model(model.collate([TEXTS[3]])), model(batch)
    for a, p in zip(alone, padded, strict=True):
        torch.testing.assert_close(a[0], p[0], atol=1e-5, rtol=1e-4)


def test_bert_state_can_shrink_between_segments(vocab):
    from eenet.models import select_batch

    model = tiny_bert(vocab).eval()
    batch = model.collate(TEXTS)
    keep = torch.tensor([0, 2])
    with torch.no_grad():
        full = model(batch)
        state = model.run_segment(0, model.begin(batch))
        state = select_batch(state, keep)
        late = model.run_head(1, model.run_segment(1, state))
    torch.testing.assert_close(late, full[1][keep], atol=1e-5, rtol=1e-4)


def test_bert_trains_with_adamw(vocab):
    torch.manual_seed(0)
    model = tiny_bert(vocab)
    batch = model.collate(TEXTS)
    labels = torch.tensor([1, 2, 3, 0])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        # the training objective itself: the authors' sum_k (k+1) CE_k / (K(K+1))
        loss = multi_exit_loss(model(batch), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_bert_loads_pretrained_from_a_local_folder(vocab, tmp_path):
    from transformers import BertConfig, BertModel

    from eenet.models.bert_loading import load_tokenizer
    from tests.preset_fixtures import tiny_bert_config

    torch.manual_seed(0)
    source = BertModel(BertConfig(**tiny_bert_config(len(vocab.read_text().split()))))
    source.save_pretrained(tmp_path)
    load_tokenizer(vocab).save_pretrained(tmp_path)
    model = build_model("bert_4", 2, pretrained=str(tmp_path), exit_layers=(2, 4), max_length=16)
    assert bert_weights(model) == {k: v for k, v in source.state_dict().items()
                                   if not k.startswith("pooler.")}
    for head in model.heads:
        assert torch.equal(head.dense.weight, source.pooler.dense.weight)
        assert torch.equal(head.dense.bias, source.pooler.dense.bias)
    assert model(model.collate(TEXTS[:2]))[1].shape == (2, 2)
    # built in training mode throughout, as a model from its config (from_pretrained hands
    # back its BertModel in eval mode: no dropout in the encoder of a model "training")
    assert {m.training for m in model.modules()} == {True}


class TensorDict(dict):
    """A state dict compared by exact tensor equality (==), for a readable assert."""

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, dict) and self.keys() == other.keys()
                and all(torch.equal(v, other[k]) for k, v in self.items()))

    __hash__ = None  # type: ignore[assignment]


def bert_weights(model) -> TensorDict:
    """A BertMultiExit's `BertModel` weights (embeddings and encoder layers, without its
    heads) under the names `BertModel.state_dict` gives them."""
    state = {f"embeddings.{k}": v for k, v in model.stem.state_dict().items()}
    layers = [layer for segment in model.segments for layer in segment.layers]
    for index, layer in enumerate(layers):
        state.update({f"encoder.layer.{index}.{k}": v for k, v in layer.state_dict().items()})
    return TensorDict(state)


def test_bert_missing_pretrained_offline_is_one_line(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    messages = []
    for source in ("eenet-test/no-such-bert", str(tmp_path)):
        with pytest.raises(EENetError) as info:
            build_model("bert_4", 2, pretrained=source)
        message = str(info.value)
        assert "\n" not in message and "model.options.pretrained" in message
        assert "config.json" in message
        messages.append(message)
    # the hub's files go into $HF_HOME/hub; $HF_HOME itself defaults to ~/.cache/huggingface
    assert "Hugging Face cache ($HF_HOME/hub, default ~/.cache/huggingface/hub)" in messages[0]


def test_an_uncached_tokenizer_hub_name_offline_says_where_it_is_looked_for(tmp_path,
                                                                            monkeypatch):
    """Offline, a tokenizer hub name not in the cache (`bert-base-cased`, or a typo) loaded
    as a tokenizer of the special tokens alone, and the error said the files held no
    vocabulary; it now says the hub and the cache, as for `pretrained` (found by an audit)."""
    import huggingface_hub.constants

    from eenet.models.bert_loading import load_tokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(EENetError) as info:
        load_tokenizer("eenet-test/no-such-tokenizer")
    message = str(info.value)
    assert message.startswith("model.options.tokenizer: could not load "
                              "'eenet-test/no-such-tokenizer' (no tokenizer files for it in the "
                              "Hugging Face cache"), message
    assert "hf download eenet-test/no-such-tokenizer" in message and "\n" not in message


def test_a_tokenizer_without_token_type_ids_in_its_inputs_still_gives_them(vocab, tmp_path):
    """A tokenizer_config.json whose model_input_names leave out token_type_ids gave none:
    a KeyError traceback in the first training batch (found by an audit)."""
    import json
    import shutil

    from eenet.models.bert import Tokenise
    from eenet.models.bert_loading import load_tokenizer

    folder = tmp_path / "tok"
    folder.mkdir()
    shutil.copy(vocab, folder / "vocab.txt")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"model_input_names": ["input_ids", "attention_mask"]}))
    tokenizer = load_tokenizer(folder)
    assert "token_type_ids" not in tokenizer(["a good film"])  # as the config asks
    batch = Tokenise(tokenizer, 16)(["a good film", "a bad dull film ."])
    assert batch["token_type_ids"].shape == batch["input_ids"].shape
    assert not batch["token_type_ids"].any()


@pytest.mark.parametrize("source", ["local_models/missing", "local_models/bert/vocab.txt",
                                    "./local_models/missing", "copies/bert-base/uncased"])
@pytest.mark.parametrize("option", ["pretrained", "tokenizer"])
def test_a_local_model_path_that_does_not_exist_says_so(tmp_path, monkeypatch, source, option):
    """A mistyped local copy (`pretrained: local_models/bert-base-uncasd`) was taken for a hub
    name: its error told the user to `hf download local_models/...`, or (./...) quoted the
    hub's 'Repo id must be ...'; with the hub reachable it was looked up there first. A path
    in local_models/, written from ./, or of more parts than a hub name's owner/name is one
    line saying it does not exist."""
    pytest.importorskip("transformers")
    monkeypatch.chdir(tmp_path)
    options = {option: source} if option == "pretrained" else {option: source,
                                                                 "pretrained": None}
    with pytest.raises(EENetError) as info:
        build_model("bert_4", 2, **options)
    expected = ("a folder holding vocab.txt or tokenizer.json, or a vocab.txt file"
                if option == "tokenizer" else
                "a folder holding config.json, model.safetensors and vocab.txt")
    assert str(info.value) == (f"model.options.{option}: {source!r} does not exist (no such file "
                               f"or folder); it must be {expected}")


def test_bert_rejects_bad_exit_layers(vocab):
    """Exit layers must increase from 1 and end at the last of the 4 layers; max_length must
    lie in [2, max_position_embeddings (64)]: each bound itself is allowed, one past it not."""
    layers = ("model.options.exit_layers: must increase strictly from >= 1 and end at the last "
              "layer (4), got {}")
    for bad in ((2, 1, 4), (1, 2), (0, 1, 2, 4), (1, 1, 2, 4), ()):
        with pytest.raises(EENetError) as err:
            tiny_bert(vocab, exit_layers=bad)
        assert str(err.value) == layers.format(list(bad))
    for bad in (1, 65, 512):
        with pytest.raises(EENetError) as err:
            tiny_bert(vocab, max_length=bad)
        assert str(err.value) == f"model.options.max_length: must lie in [2, 64], got {bad}"
    for good in (2, 64):
        assert tiny_bert(vocab, max_length=good).max_length == good
    assert len(tiny_bert(vocab, exit_layers=(4,)).segments) == 1


@pytest.fixture(scope="module")
def tiny_pretrained(vocab, tmp_path_factory):
    """A local 'pretrained' tiny BERT folder (config.json, model.safetensors, vocab.txt)."""
    import shutil

    from transformers import BertConfig, BertModel

    from tests.preset_fixtures import tiny_bert_config

    folder = tmp_path_factory.mktemp("pretrained")
    BertModel(BertConfig(**tiny_bert_config(len(vocab.read_text().split())))).save_pretrained(
        folder)
    shutil.copy(vocab, folder / "vocab.txt")
    return folder


@pytest.mark.parametrize(("options", "message"), [
    ({"config": {"vocab_sise": 42}},
     "model.options.config.vocab_sise: not a BertConfig field; allowed: add_cross_attention"),
    ({"config": {"num_hidden_layers": "4"}},
     "model.options.config.num_hidden_layers: Field 'num_hidden_layers' expected int, got str"),
    ({"config": {"hidden_size": 30, "num_attention_heads": 4}},
     "model.options.config: The hidden size (30) is not a multiple of the number of attention "
     "heads (4)"),
    ({"config": {"vocab_size": 30}},
     "model.options.tokenizer: the tokenizer has 42 tokens but the model's vocab_size is 30"),
    ({"tokenizer": "EMPTY"}, "model.options.tokenizer: 'EMPTY' holds no vocabulary"),
    ({"pretrained": "PRE", "config": {"vocab_sise": 1}},
     "model.options.config.vocab_sise: not a BertConfig field"),
    ({"pretrained": "PRE", "config": {"hidden_size": 64}},
     "model.options.config.hidden_size: 64 differs from 32 of the pretrained weights 'PRE'"),
    ({"pretrained": "PRE", "config": {"hidden_dropout_prob": 2.0}},
     "model.options.config: dropout probability has to be between 0 and 1"),
    ({"pretrained": "PRE-WITHOUT-VOCAB", "tokenizer": None},
     "model.options.pretrained: 'PRE-WITHOUT-VOCAB' holds no vocabulary"),
    # sizes past MAX_WEIGHTS: torch was asked for them (or built layer after layer)
    ({"config": {"hidden_size": 2 * 10**9}},
     "model.options: config sizes (vocab_size 42, hidden_size 2000000000, num_hidden_layers 4, "
     "intermediate_size 64, max_position_embeddings 64, type_vocab_size 2) give the model "
     "6.8e+19 parameters (2.53e+11 GiB as float32); allowed: at most 1073741824 (4 GiB)"),
    ({"config": {"num_hidden_layers": 10**9}},
     "model.options: config sizes (vocab_size 42, hidden_size 32, num_hidden_layers 1000000000"),
    # with pretrained weights, more layers than they have are refused before any size check
    ({"pretrained": "PRE", "config": {"num_hidden_layers": 10**9}},
     "model.options.config.num_hidden_layers: 1000000000 is more than the 4 layers of the "
     "pretrained weights 'PRE'"),
])
def test_bert_config_and_tokenizer_problems_are_one_line_errors(
    vocab, tiny_pretrained, tmp_path, options, message
):
    """BertConfig overrides with an unknown field were silently ignored (a default-size BERT
    was trained) or a TypeError with pretrained weights; a bad value, a size the pretrained
    weights lack, or sizes that do not build were tracebacks or blamed on `pretrained`; a
    tokenizer folder without a vocabulary mapped every word to [UNK] and trained; a tokenizer
    larger than vocab_size failed in the embedding at the first rare token."""
    import shutil

    (tmp_path / "EMPTY").mkdir()
    shutil.copytree(tiny_pretrained, tmp_path / "PRE-WITHOUT-VOCAB")
    (tmp_path / "PRE-WITHOUT-VOCAB" / "vocab.txt").unlink()
    shutil.copytree(tiny_pretrained, tmp_path / "PRE")
    from tests.preset_fixtures import tiny_bert_config

    settings = dict(options)
    for key in ("pretrained", "tokenizer"):
        if isinstance(settings.get(key), str) and settings[key].isupper():
            settings[key] = str(tmp_path / settings[key])
    if "pretrained" not in settings and "config" in settings:  # a tiny config, changed
        settings["config"] = {**tiny_bert_config(len(vocab.read_text().split())),
                              **settings["config"]}
    with pytest.raises(EENetError) as err:
        tiny_bert(vocab, **settings)
    text = str(err.value).replace(str(tmp_path) + "/", "")
    assert text.startswith(message) and "\n" not in text


@pytest.mark.parametrize("tokenizer", [None, "VOCAB"])
def test_a_tokenizer_larger_than_pretrained_weights_asks_only_for_a_matching_one(
        vocab, tmp_path, tokenizer):
    """A pretrained folder whose tokenizer (42 tokens) outgrows its weights' vocab_size (30)
    was told "use a matching tokenizer or set model.options.config.vocab_size", and setting
    it was refused: pretrained weights fix vocab_size. Only the advice that can work is given;
    from scratch, vocab_size is still offered."""
    import shutil

    from transformers import BertConfig, BertModel

    from tests.preset_fixtures import tiny_bert_config

    folder = tmp_path / "pretrained"
    BertModel(BertConfig(**tiny_bert_config(30))).save_pretrained(folder)
    shutil.copy(vocab, folder / "vocab.txt")
    with pytest.raises(EENetError) as err:
        tiny_bert(vocab, pretrained=str(folder), config=None,
                  tokenizer=None if tokenizer is None else str(vocab))
    message = str(err.value)
    if tokenizer is None:
        assert message == (
            f"model.options.pretrained: the tokenizer of '{folder}' has 42 tokens but its weights' "
            "vocab_size is 30: token ids would fall outside the embedding, so it is not the "
            "tokenizer the weights were trained with; set model.options.tokenizer to that one "
            "(the weights fix vocab_size)")
    else:
        assert message == (
            "model.options.tokenizer: the tokenizer has 42 tokens but the vocab_size of the "
            f"pretrained weights '{folder}' is 30: token ids would fall outside the embedding; "
            "use the tokenizer those weights were trained with (the one saved with them; "
            f"model.options.tokenizer: null reads the one of '{folder}')")
    assert "vocab_size:" not in message and "config" not in message
    # the advice it gave: refused, as pretrained weights fix vocab_size
    with pytest.raises(EENetError, match=r"^model\.options\.config\.vocab_size: 42 differs "
                                         r"from 30 of the pretrained weights"):
        tiny_bert(vocab, pretrained=str(folder), config={"vocab_size": 42})
    with pytest.raises(EENetError) as err:  # from scratch either fix works
        tiny_bert(vocab, config=tiny_bert_config(30))
    assert str(err.value).endswith("; use a matching tokenizer or set "
                                   "model.options.config.vocab_size to at least 42")


@pytest.mark.parametrize("config", [{}, {"hidden_size": 24, "num_attention_heads": 4,
                                         "intermediate_size": 10, "type_vocab_size": 3}])
def test_the_bert_size_check_counts_the_parameters_bert_model_gets(vocab, config):
    from transformers import BertConfig, BertModel

    from eenet.models.bert_loading import bert_weight_count
    from tests.preset_fixtures import tiny_bert_config

    settings = BertConfig(**{**tiny_bert_config(len(vocab.read_text().split())), **config})
    built = sum(p.numel() for p in BertModel(settings).parameters())
    assert bert_weight_count(settings) == built


def test_a_saved_bert_config_too_large_to_build_is_one_line(vocab, tmp_path):
    """A trained model's saved BertConfig is rebuilt from its sizes: past MAX_WEIGHTS (an
    edited config.json) torch was asked for them; now it is the size check's one line."""
    import json

    from eenet.models.bert import BertMultiExit

    tiny_bert(vocab).save_pretrained_assets(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "vocab_size": 10**12}))
    with pytest.raises(EENetError, match=rf"^{tmp_path}/config\.json: model\.options: config "
                                         r"sizes \(vocab_size 1000000000000, hidden_size 32, .+ "
                                         r"give the model 3\.2e\+13 parameters"):
        BertMultiExit.from_assets(tmp_path, 2, (1, 2, 3, 4), 16)


@pytest.mark.parametrize(("edit", "problem"), [
    # each was a traceback from inside transformers / torch (its type after the case)
    ({"hidden_size": -16}, "hidden_size: must be an integer >= 1, got -16"),  # RuntimeError
    ({"hidden_size": 0}, "hidden_size: must be an integer >= 1, got 0"),  # ZeroDivisionError
    ({"num_attention_heads": 0}, "num_attention_heads: must be an integer >= 1, got 0"),
    ({"intermediate_size": -1}, "intermediate_size: must be an integer >= 1, got -1"),
    ({"hidden_act": "nope"}, "hidden_act: unknown activation 'nope'; allowed: gelu, "),  # KeyError
    ({"num_hidden_layers": "4"}, "not a valid BertConfig (Field 'num_hidden_layers' expected "
                                 "int, got str (value: '4'))"),  # StrictDataclassError
    ({"dtype": "nope"}, "not a valid BertConfig (module 'torch' has no attribute 'nope')"),
    ({"num_attention_heads": 3}, "does not build (The hidden size (32) is not a multiple of the "
                                 "number of attention heads (3))"),  # ValueError
    ({"hidden_dropout_prob": 2.0}, "does not build (dropout probability has to be between 0 "
                                   "and 1, but got 2.0)"),  # ValueError
    ({"initializer_range": -1.0}, "does not build (normal expects std >= 0.0, but found std "
                                  "-1)"),  # RuntimeError
    ({"pad_token_id": 10**6}, "does not build (Padding_idx must be within num_embeddings)"),
    (None, "not a valid BertConfig (transformers.models.bert.configuration_bert.BertConfig() "
           "argument after ** must be a mapping, not list)"),  # TypeError
])
def test_a_hand_edited_saved_bert_config_is_one_line(vocab, tmp_path, edit, problem):
    """A trained BERT is rebuilt from the BertConfig saved in its artifact (assets/config.json):
    values BertModel refuses there were tracebacks from `load_trained` (every stage that reads
    the model, and `eenet predict`); they are one line naming that file and the field."""
    import json

    from eenet.errors import ArtifactError
    from eenet.models.artifact import load_trained, save_trained

    options = {"pretrained": None, "config": {}, "exit_layers": [1, 2, 3, 4], "max_length": 16}
    save_trained(tiny_bert(vocab), tmp_path / "model", "bert_4", 4, options)
    path = tmp_path / "model" / "assets" / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps([1] if edit is None else {**config, **edit}))
    with pytest.raises(ArtifactError) as err:
        load_trained(tmp_path / "model")
    assert str(err.value).startswith(f"{path}: {problem}"), err.value
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("config", "message"), [
    ({"hidden_size": -16}, "model.options.config.hidden_size: must be an integer >= 1, got -16"),
    ({"num_attention_heads": 0},
     "model.options.config.num_attention_heads: must be an integer >= 1, got 0"),
    ({"hidden_act": "nope"}, "model.options.config.hidden_act: unknown activation 'nope'; "
                             "allowed: gelu, "),
    *[({key: True}, f"model.options.config.{key}: must be false, got True (the exits read "
                    "[CLS] of BERT run as an encoder, with bidirectional attention)")
      for key in ("is_decoder", "add_cross_attention")],
])
def test_bert_config_values_that_do_not_build_are_one_line(vocab, config, message):
    """The same values as model.options.config in params.yaml were tracebacks when training
    (a negative dimension, a division by zero, a KeyError). A decoder's config built a model
    whose exits were not BertModel's: its segments attend both ways where BertModel, as a
    decoder, masks causally (and cross-attention weights that never ran)."""
    from tests.preset_fixtures import tiny_bert_config

    with pytest.raises(EENetError) as err:
        tiny_bert(vocab, config={**tiny_bert_config(len(vocab.read_text().split())), **config})
    assert str(err.value).startswith(message) and "\n" not in str(err.value), err.value


@pytest.mark.parametrize(("damage", "message"), [
    ("truncate", "the weights file of {src!r} is not readable as safetensors (Error while "
                 "deserializing header"),
    ("bin-only", "{src!r} holds pytorch_model.bin but no model.safetensors; eenet reads only "
                 "safetensors"),
    ("nan", "the weights of {src!r} hold NaN or inf (encoder.layer.1.output.dense.weight)"),
    ("inf", "the weights of {src!r} hold NaN or inf (encoder.layer.1.output.dense.weight)"),
])
def test_unusable_pretrained_weights_are_one_line(tiny_pretrained, tmp_path, damage, message):
    """A truncated model.safetensors was a SafetensorError traceback, a folder with only a
    pytorch_model.bin an UnpicklingError traceback (advising weights_only=False), and NaN / inf
    weights were accepted and trained at chance."""
    import shutil

    from safetensors.torch import load_file, save_file

    source = tmp_path / "pretrained"
    shutil.copytree(tiny_pretrained, source)
    weights = source / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:300])
    elif damage == "bin-only":
        weights.rename(source / "pytorch_model.bin")
    else:
        state = load_file(str(weights))
        state["encoder.layer.1.output.dense.weight"][0, 0] = float(damage)
        save_file(state, str(weights))
    with pytest.raises(EENetError) as err:
        build_model("bert_4", 2, pretrained=str(source), exit_layers=(2, 4), max_length=16)
    text = str(err.value)
    assert text.startswith("model.options.pretrained: " + message.format(src=str(source))), text
    assert "\n" not in text


def _edited_pretrained(source: Path, folder: Path, weights: Any = None,
                       config: dict[str, Any] | None = None) -> Path:
    """A copy of `source` with its weights mapped by `weights` and its config.json updated."""
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(source, folder)
    if weights is not None:
        path = folder / "model.safetensors"
        save_file(weights(load_file(str(path))), str(path))
    if config:
        path = folder / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **config}))
    return folder


@pytest.mark.parametrize(("edit", "message"), [
    # another architecture's names (DistilBERT's layers): everything but a few started random
    ({"weights": lambda state: {f"foo.{k}": v for k, v in state.items()}},
     r"SRC lacks 69 of the tensors its config builds \(embeddings\.LayerNorm\.bias and "
     r"68 more\), which would start at random; give a BERT checkpoint whose config\.json "
     r"describes its weights"),
    # a config claiming more layers than were saved: layers 2-3 started random
    ({"weights": lambda state: {k: v for k, v in state.items()
                                if not k.startswith(("encoder.layer.2.", "encoder.layer.3."))}},
     r"SRC lacks 32 of the tensors its config builds \(encoder\.layer\.2\."),
    # a config of other sizes than its weights: a 60-line RuntimeError traceback
    ({"config": {"intermediate_size": 48}},
     r"the weights of SRC do not fit its config \(encoder\.layer\.0\.intermediate\."
     r"dense\.bias: saved \(64,\), the config builds \(48,\) and 11 more\); give a folder "
     r"whose config\.json is its weights' own$"),
])
def test_pretrained_weights_that_do_not_all_load_are_refused(tiny_pretrained, tmp_path, capfd,
                                                             edit, message):
    """transformers starts every tensor a checkpoint lacks (or holds in another shape, with
    ignore_mismatched_sizes) at random, after a table on stderr: a 'pretrained' BERT trained
    from random weights with status 0 (found by an audit). Now one line, and no table."""
    source = _edited_pretrained(tiny_pretrained, tmp_path / "edited", **edit)
    with pytest.raises(ConfigError) as err:
        build_model("bert_4", 2, pretrained=str(source), exit_layers=(2, 4), max_length=16)
    shown = re.escape(repr(str(source)))
    pattern = "model.options.pretrained: " + message.replace("SRC", shown)
    assert re.match(pattern, str(err.value)), str(err.value)
    assert "\n" not in str(err.value)
    assert "MISSING" not in capfd.readouterr().err


def test_pretrained_weights_without_a_pooler_load_with_a_note(tiny_pretrained, tmp_path,
                                                              capsys):
    """An MLM-only checkpoint has no pooler (the exits' heads start from it): it loads, the
    pooler at random, and a note says so; every other tensor is the checkpoint's."""
    from safetensors.torch import load_file

    source = _edited_pretrained(tiny_pretrained, tmp_path / "mlm", weights=lambda state: {
        k: v for k, v in state.items() if not k.startswith("pooler.")})
    model = build_model("bert_4", 2, pretrained=str(source), exit_layers=(2, 4), max_length=16)
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [f"note: model.options.pretrained {str(source)!r} has no pooler weights: the "
                     "pooler starts at random and is trained with the exits"]
    saved = load_file(str(source / "model.safetensors"))
    loaded = bert_weights(model)
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())


def test_sharded_safetensors_beside_a_bin_are_not_called_missing(tiny_pretrained, tmp_path):
    """A folder with a sharded safetensors index (and a pytorch_model.bin) that fails to load
    is not told it has no model.safetensors."""
    import json
    import shutil

    source = tmp_path / "sharded"
    shutil.copytree(tiny_pretrained, source)
    (source / "model.safetensors").rename(source / "pytorch_model.bin")
    (source / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": {"pooler.dense.weight": "missing.safetensors"}}))
    with pytest.raises(EENetError) as err:
        build_model("bert_4", 2, pretrained=str(source), exit_layers=(2, 4), max_length=16)
    text = str(err.value)
    assert text.startswith("model.options.pretrained: ") and "\n" not in text, text
    assert "no model.safetensors" not in text, text


class _Payload:
    """Unpickling this runs `touch <marker>`: what a malicious weights shard would do."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("shard", ["plain", "malicious"])
def test_a_safetensors_index_naming_a_pickle_shard_is_refused(tiny_pretrained, tmp_path, shard):
    """A model.safetensors.index.json naming a .bin shard had transformers read that shard
    with torch.load, use_safetensors=True notwithstanding: a plain one was unpickled (with
    weights_only) and loaded, a malicious one an UnpicklingError traceback advising
    weights_only=False. Both are refused in one line, before anything is read."""
    import json
    import shutil

    from safetensors.torch import load_file

    source = tmp_path / "sharded"
    shutil.copytree(tiny_pretrained, source)
    state = load_file(str(source / "model.safetensors"))
    (source / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    bin_name = "pytorch_model-00001-of-00001.bin"
    torch.save(state if shard == "plain" else {"x": _Payload(marker)}, source / bin_name)
    (source / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": dict.fromkeys(state, bin_name)}))
    with pytest.raises(ConfigError) as err:
        build_model("bert_4", 2, pretrained=str(source), exit_layers=(2, 4), max_length=16)
    assert str(err.value) == (
        f"model.options.pretrained: {str(source / 'model.safetensors.index.json')!r} names "
        f"{bin_name} as a shard, not a .safetensors file; eenet reads only safetensors (a .bin "
        "is a pickle, which can run code when loaded): convert it to .safetensors shards")
    assert not marker.exists()


def test_more_layers_than_the_pretrained_weights_is_one_line(tiny_pretrained):
    """num_hidden_layers above the checkpoint's was accepted: the extra layers started random
    under a 'pretrained' model."""
    with pytest.raises(EENetError) as err:
        build_model("bert_4", 2, pretrained=str(tiny_pretrained), exit_layers=(2, 6),
                    max_length=16, config={"num_hidden_layers": 6})
    assert str(err.value) == (
        f"model.options.config.num_hidden_layers: 6 is more than the 4 layers of the pretrained "
        f"weights {str(tiny_pretrained)!r}, the extra ones would start random; use at most 4, "
        "or set model.options.pretrained: null to train from scratch")


def test_bert_config_overrides_that_fit_still_apply(tiny_pretrained):
    """Overrides the pretrained weights allow keep working: fewer layers, another dropout."""
    model = build_model("bert_4", 2, pretrained=str(tiny_pretrained), exit_layers=(1, 2),
                        max_length=16, config={"num_hidden_layers": 2,
                                               "hidden_dropout_prob": 0.2})
    assert [len(s.layers) for s in model.segments] == [1, 1]
    assert model.config.hidden_dropout_prob == 0.2
    from safetensors.torch import load_file

    saved = load_file(str(tiny_pretrained / "model.safetensors"))  # the first two layers kept
    assert bert_weights(model) == {k: v for k, v in saved.items() if k.startswith((
        "embeddings.", "encoder.layer.0.", "encoder.layer.1."))}
    assert model(model.collate(TEXTS[:2]))[1].shape == (2, 2)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_pretrained_weights_saved_in_half_precision_load_as_float32(vocab, tmp_path, dtype):
    """transformers keeps the dtype a checkpoint was saved in: a bfloat16 / float16 BERT
    loaded in it, and its float32 exit heads failed in the first batch with a RuntimeError
    traceback ("mat1 and mat2 must have the same dtype")."""
    from transformers import BertConfig, BertModel

    from eenet.models.bert_loading import load_tokenizer
    from tests.preset_fixtures import tiny_bert_config

    torch.manual_seed(0)
    source = BertModel(BertConfig(**tiny_bert_config(len(vocab.read_text().split()))))
    source.to(dtype).save_pretrained(tmp_path)
    load_tokenizer(vocab).save_pretrained(tmp_path)
    model = build_model("bert_4", 2, pretrained=str(tmp_path), exit_layers=(2, 4), max_length=16)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert bert_weights(model) == {k: v.float() for k, v in source.state_dict().items()
                                   if not k.startswith("pooler.")}
    logits = model(model.collate(TEXTS[:2]))
    assert [(x.dtype, tuple(x.shape)) for x in logits] == [(torch.float32, (2, 2))] * 2


def test_the_registry_says_which_models_take_texts():
    """TEXT_MODELS (named by the error for data of the other kind) is what each registered
    model's inputs are: texts exactly where it has no tensor input shape."""
    from eenet.models import MODELS, TEXT_MODELS
    from eenet.models.base import input_sample_shape

    with torch.device("meta"):
        takes_texts = {name for name in MODELS if input_sample_shape(
            build_model(name, 2, **({"pretrained": None} if name == "bert_4" else {}))) is None}
    assert takes_texts == TEXT_MODELS


def test_models_command_lists_exits_and_counts(capsys):
    import json

    from eenet.cli import main

    assert main(["models", "--classes", "100", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert {"resnet56_3", "densenet121_4", "bert_4"} <= set(rows)
    assert rows["densenet121_4"]["n_exits"] == 4
    assert rows["densenet121_4"]["total"] == 1_207_768
    assert rows["densenet121_4"]["exit_heads"] == [9_148, 33_748, 129_604]
    assert rows["bert_4"]["n_exits"] == 4
    assert main(["models", "--model", "resnet56_3"]) == 0
    table = capsys.readouterr().out
    assert "939,438" in table and "869,530" in table and "14,090, 55,818" in table


def test_models_command_counts_any_size_on_the_meta_device(capsys):
    """`eenet models` builds on the meta device (no memory), so the size check lets any count
    through there: 10**12 classes give models far past MAX_WEIGHTS, counted, not refused."""
    import json

    from eenet.cli import main
    from eenet.models.base import MAX_WEIGHTS

    assert main(["models", "--classes", str(10**12), "--model", "resnet1d_3", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    # each exit's classifier holds width + 1 parameters per class; the rest 43,448
    assert row["total"] == (8 + 16 + 64 + 3) * 10**12 + 43_448 > MAX_WEIGHTS


def test_models_command_errors_are_one_line(capsys):
    import json

    from eenet.cli import main

    assert main(["models", "--model", "nope"]) == 2
    assert main(["models", "--classes", "1"]) == 2
    # 2**63 was torch's storage-size overflow, 2**70 its integer conversion: tracebacks
    assert main(["models", "--classes", str(2**63)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [
        "eenet models: error: --model: unknown value 'nope'; allowed: bert_4, densenet121_4, "
        "resnet1d_3, resnet56_3",
        *(f"eenet models: error: --classes: must be an integer from 2 to {10**12}, got {n}"
          for n in (1, 2**63))]
    # the least count allowed is listed
    assert main(["models", "--classes", "2", "--model", "resnet1d_3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["num_classes"] == 2


def test_bert_weights_round_trip_through_safetensors(vocab, tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    model = tiny_bert(vocab).eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    torch.manual_seed(1)
    other = tiny_bert(vocab).eval()
    other.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    batch = model.collate(TEXTS)
    with torch.no_grad():
        for a, b in zip(model(batch), other(batch), strict=True):
            torch.testing.assert_close(a, b)


def test_unreadable_tokenizer_files_are_one_line_errors(vocab, tmp_path):
    """A vocab.txt without [UNK] failed in the first batch of training (WordPiece's "Missing
    [UNK] token"), one that is not UTF-8 with the tokenizers library's traceback."""
    (tmp_path / "nounk").mkdir()
    (tmp_path / "nounk" / "vocab.txt").write_text(
        "\n".join(w for w in vocab.read_text().split() if w != "[UNK]") + "\n")
    with pytest.raises(EENetError) as err:
        tiny_bert(tmp_path / "nounk" / "vocab.txt", tokenizer=str(tmp_path / "nounk" /
                                                                  "vocab.txt"))
    assert str(err.value) == (f"model.options.tokenizer: '{tmp_path / 'nounk' / 'vocab.txt'}' "
                              "has no [UNK] token in its vocabulary; WordPiece needs one for "
                              "words it cannot split")
    (tmp_path / "bytes").mkdir()
    (tmp_path / "bytes" / "vocab.txt").write_bytes(bytes(range(128, 256)) * 40)
    with pytest.raises(EENetError) as err:
        tiny_bert(vocab, tokenizer=str(tmp_path / "bytes" / "vocab.txt"))
    assert str(err.value).startswith("model.options.tokenizer: cannot read the tokenizer in ")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_trained_berts_damaged_tokenizer_is_one_line(vocab, tmp_path, damage):
    """A corrupt assets/tokenizer.json was a JSONDecodeError traceback in every stage reading
    the model; missing tokenizer files blamed model.options.tokenizer, which a trained model
    does not read."""
    from eenet.errors import ArtifactError
    from eenet.models.artifact import load_trained, save_trained

    options = {"pretrained": None, "config": {}, "exit_layers": [1, 2, 3, 4], "max_length": 16}
    save_trained(tiny_bert(vocab), tmp_path / "model", "bert_4", 4, options)
    assets = tmp_path / "model" / "assets"
    if damage == "corrupt":
        (assets / "tokenizer.json").write_text("{")
        with pytest.raises(ArtifactError) as err:
            load_trained(tmp_path / "model")
        assert str(err.value).startswith(f"{assets}: cannot read the saved tokenizer (")
        assert str(err.value).endswith("); rerun train") and "\n" not in str(err.value)
        return
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json",
                 "special_tokens_map.json"):
        (assets / name).unlink(missing_ok=True)
    model = load_trained(tmp_path / "model")
    with pytest.raises(ArtifactError) as err:
        model.collate(["a text"])
    assert str(err.value) == (f"{assets}: the trained model's tokenizer files (tokenizer.json, "
                              "vocab.txt) are missing; rerun train")


def test_an_option_the_model_does_not_take_is_one_line_listing_its_options():
    """build_model("resnet1d_3", 10, width=...) was a TypeError of an unexpected keyword."""
    with pytest.raises(ConfigError) as err:
        build_model("resnet1d_3", 10, width=[4, 8, 16])
    assert str(err.value) == ("model.options.width: unknown key; allowed: "
                              "blocks, input_length, widths")


def test_a_wrong_option_given_to_load_trained_is_the_callers_not_the_artifacts(tmp_path):
    """load_trained(dir, width=...) blamed the artifact's config.json, which is fine."""
    from eenet.models.artifact import load_trained, save_trained

    options = {"widths": [4, 4, 4], "blocks": [1, 1, 1]}
    save_trained(build_model("resnet1d_3", 10, **options), tmp_path, "resnet1d_3", 10, options)
    with pytest.raises(ConfigError) as err:
        load_trained(tmp_path, width=[8, 8, 8])
    assert str(err.value) == ("model.options.width: unknown key; allowed: "
                              "blocks, input_length, widths")
    assert load_trained(tmp_path, input_length=40).n_exits == 3  # an option it takes


def test_a_sequence_of_another_length_names_the_input_length_that_fits() -> None:
    """Data of another length than resnet1d_3's default 40 (MNIST-1D's; the default preset does
    not list input_length) is named with the value to set; a model made for one input shape
    (the CIFAR ResNet) is still pointed at model.name, and shapes no input_length gives at
    the input options alone."""
    from eenet.models.base import check_input_shape

    model = build_model("resnet1d_3", 10)
    check_input_shape(model, [1, 40], "the data in data/mnist1d")
    with pytest.raises(ConfigError) as caught:
        check_input_shape(model, [1, 72], "the data in own")
    assert str(caught.value) == (
        "model.options: the model's inputs are shaped [1, 40] but the data in own holds "
        "samples shaped [1, 72]; set model.options.input_length: 72 to match")
    with pytest.raises(ConfigError) as caught:
        check_input_shape(model, [2, 72], "the data in own")
    assert str(caught.value).endswith(
        "; set the model's input options to match (model.options.input_length)")
    cifar = build_model("resnet56_3", 10, blocks=[1, 1, 1])
    with pytest.raises(ConfigError, match=r"^model\.name: .* which no option of it changes"):
        check_input_shape(cifar, [1, 72], "the data in own")


def test_a_policy_of_a_bert_built_from_another_pretrained_folder_is_refused(vocab, tmp_path):
    """bert_4's sizes come from its `pretrained` folder's config, and that path is left out of
    the architecture compared: a policy planned with the costs of a BERT of hidden size 32 ran
    on one of 64 (four times the weights) with only a note, "fitted for other weights (retrained
    since?)". The weights' shapes, recorded with the model, now tell them apart."""
    from transformers import BertConfig, BertModel

    from eenet.models.artifact import model_identity, save_trained
    from eenet.real_latency import planned_for_other_model
    from eenet.schedulers.maxprob import MaxProbPolicy
    from tests.preset_fixtures import tiny_bert_config

    def artifact(name: str, hidden: int, seed: int) -> object:
        folder = tmp_path / f"pretrained_{name}"
        config = {**tiny_bert_config(len(vocab.read_text().split())), "hidden_size": hidden,
                  "intermediate_size": 2 * hidden}
        torch.manual_seed(seed)
        BertModel(BertConfig(**config)).save_pretrained(folder)
        (folder / "vocab.txt").write_text(vocab.read_text())
        options = {"pretrained": str(folder), "exit_layers": [1, 2, 3, 4], "max_length": 16}
        return save_trained(build_model("bert_4", 4, **options), tmp_path / name, "bert_4", 4,
                            options)

    small, big, again = artifact("small", 32, 0), artifact("big", 64, 0), artifact("again", 32, 1)
    policy = MaxProbPolicy("maxprob", 2.0, torch.zeros(4).numpy(), model=model_identity(small))
    problem = planned_for_other_model(policy, big)
    assert problem is not None and problem.startswith("planned with the costs of bert_4 ")
    assert "42,448 weights, not " in problem and ", 158,608 weights (other weight shapes" in problem
    # the same shapes from another folder (another training run's copy): no error
    assert planned_for_other_model(policy, again) is None
    assert planned_for_other_model(policy, small) is None
    # a record written before the shapes were recorded is compared as before
    older = {k: v for k, v in model_identity(small).items() if not k.startswith("weight_")}
    assert planned_for_other_model(MaxProbPolicy("maxprob", 2.0, torch.zeros(4).numpy(),
                                                 model=older), big) is None


@pytest.mark.parametrize(("texts", "problem"), [
    (np.array([b"a great film", b"a dull film"]), None),
    (np.array(["a great film", "a dull film"]), None),
    (np.array([["a great film", "x"], ["a dull film", "y"]]),
     "texts must be a 1-D array, one string per sample, got shape (2, 2)"),
    (np.array([b"a great film", b"\xff\xfe"]),
     "texts given as bytes must be UTF-8 (invalid start byte at byte 0)"),
])
def test_predict_input_texts_are_one_string_per_sample(vocab, tmp_path, texts, problem):
    """`eenet predict --input` texts: bytes were classified as their repr ("b'a great film'"),
    and a 2-D array's rows as "['a great film' 'x']", without a word (found by an audit).
    Bytes are decoded as UTF-8 now, and any other shape is one line."""
    from eenet.commands.predict_inputs import read_input_file
    from eenet.errors import ArtifactError

    path = tmp_path / "texts.npy"
    np.save(path, texts)
    model = tiny_bert(vocab)
    if problem is None:
        got, labels = read_input_file(path, model, 2)
        assert got == ["a great film", "a dull film"] and labels is None
    else:
        with pytest.raises(ArtifactError) as err:
            read_input_file(path, model, 2)
        assert str(err.value) == f"--input: {path}: {problem}"
