"""BERT's pretrained parts through transformers, with one-line errors: the `BertConfig`
(`pretrained`'s, with `model.options.config` overrides) and its checks, the `BertModel`
weights (safetensors only, finite), and the tokenizer (a hub name, a folder or a vocab.txt).
A hub name is read from the local cache alone while the hub cannot be reached (`eenet.hub`).
The multi-exit model built from them is `eenet.models.bert`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eenet.errors import ConfigError, EENetError, first_line
from eenet.hub import hub_unreachable, names_a_local_path
from eenet.models.base import check_weight_count

# the safetensors files of a pretrained folder: whole, or the index of its shards
SAFETENSORS_FILE, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"


def _hub_options(source: str | Path, what: str) -> dict[str, Any]:
    """`from_pretrained` options for `source` (the option `what` gave): the local cache only
    for a hub name when the hub cannot be reached (`eenet.hub`: no half-minute retries per
    file). A path (`names_a_local_path`) that does not exist is a one-line ConfigError:
    transformers took it for a hub name, tried the hub and answered about repo ids."""
    if names_a_local_path(source):
        if not Path(source).expanduser().exists():
            raise ConfigError(f"model.options.{what}: {str(source)!r} does not exist (no such "
                              f"file or folder); it must be {_expected(what)}")
        return {}
    return {"local_files_only": True} if hub_unreachable() else {}


def _expected(what: str) -> str:
    """What the option `what` (tokenizer or pretrained) names when it is a local path."""
    return ("a folder holding vocab.txt or tokenizer.json, or a vocab.txt file"
            if what == "tokenizer" else
            "a folder holding config.json, model.safetensors and vocab.txt")


def _missing(what: str, source: str, exc: Exception) -> EENetError:
    """One-line error for pretrained files that cannot be loaded."""
    first = first_line(exc)
    unreachable = None if names_a_local_path(source) else hub_unreachable()
    if unreachable:
        first = f"{first.rstrip('.')}; the hub cannot be reached: {unreachable}"
    folder = _expected(what)
    param = f"model.options.{what}"
    if names_a_local_path(source):
        return EENetError(f"{param}: could not load {source!r} ({first}); it must be {folder}")
    return EENetError(
        f"{param}: could not load {source!r} ({first}); with network it is downloaded into "
        f"the Hugging Face cache ($HF_HOME/hub, default ~/.cache/huggingface/hub); offline, run "
        f"`hf download {source}` where there is network and copy that cache here, or set "
        f"{param} to {folder}"
    )


def load_tokenizer(source: str | Path, what: str = "tokenizer") -> Any:
    """A fast BERT tokenizer from a hub name, a folder, or a `vocab.txt` file; `what` is the
    option it comes from (`tokenizer`, or `pretrained` when that is the default source)."""
    from transformers import BertTokenizerFast

    param = f"model.options.{what}"
    path = Path(source)
    if path.is_file():
        if path.name != "vocab.txt":
            raise ConfigError(f"{param}: a file must be named vocab.txt, got {path.name}")
        path = path.parent
    options = _hub_options(source, what)
    try:
        tokenizer = BertTokenizerFast.from_pretrained(str(path) if path.is_dir() else str(source),
                                                      **options)
    except (OSError, ValueError) as exc:
        raise _missing(what, str(source), exc) from None
    except Exception as exc:  # noqa: BLE001 - the tokenizers library raises plain Exception
        # for a file it cannot read (a vocab.txt that is not UTF-8): a traceback before
        raise ConfigError(f"{param}: cannot read the tokenizer in {str(source)!r} "
                          f"({first_line(exc)})") from None
    if (not path.is_dir() and not names_a_local_path(source)
            and len(tokenizer) <= len(tokenizer.all_special_tokens)):
        # a hub name whose files are not in the cache (offline, or a typo): transformers
        # returned a tokenizer of the special tokens alone, as if the files held no vocabulary
        raise _missing(what, str(source), OSError("no tokenizer files for it in the Hugging "
                                                  "Face cache"))
    # the WordPiece vocabulary itself (the tokenizer adds [UNK] as a special token beside it,
    # which WordPiece does not use): without it training failed in its first batch
    if tokenizer.unk_token not in tokenizer.backend_tokenizer.get_vocab(with_added_tokens=False):
        raise ConfigError(f"{param}: {str(source)!r} has no {tokenizer.unk_token} token in its "
                          "vocabulary; WordPiece needs one for words it cannot split")
    if len(tokenizer) <= len(tokenizer.all_special_tokens):  # a folder without vocabulary
        raise ConfigError(
            f"{param}: {str(source)!r} holds no vocabulary (only the special tokens); give a "
            "folder with vocab.txt or tokenizer.json, or a vocab.txt file"
        )
    return tokenizer


# BertConfig fields that fix the shape of pretrained weights (num_hidden_layers may shrink)
# the BertConfig fields that size a BertModel's parameters
SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size",
         "max_position_embeddings", "type_vocab_size")
WEIGHT_SHAPES = ("vocab_size", "hidden_size", "intermediate_size", "max_position_embeddings",
                 "type_vocab_size")


def bert_config(pretrained: str | None, overrides: dict[str, Any] | None) -> Any:
    """`pretrained`'s `BertConfig` (the defaults without it) with `overrides` set; a one-line
    ConfigError naming `model.options.config.<field>` for a field BertConfig does not have, a
    value it refuses, or a weight shape the pretrained weights do not have."""
    from transformers import BertConfig

    try:  # huggingface_hub's strict dataclasses (BertConfig with transformers >= 5) refuse values
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:  # older versions: a refused value is a TypeError / ValueError
        StrictDataclassError = TypeError

    overrides = dict(overrides or {})
    config = BertConfig()
    fields = sorted(k for k in config.to_dict() if not k.startswith("_"))
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigError(f"model.options.config.{unknown[0]}: not a BertConfig field; "
                          f"allowed: {', '.join(fields)}")
    if pretrained is not None:
        options = _hub_options(pretrained, "pretrained")
        try:
            config = BertConfig.from_pretrained(pretrained, **options)
        except (OSError, ValueError) as exc:
            raise _missing("pretrained", pretrained, exc) from None
    for key, value in overrides.items():
        if pretrained is not None and key in WEIGHT_SHAPES and value != getattr(config, key):
            raise ConfigError(
                f"model.options.config.{key}: {value!r} differs from {getattr(config, key)!r} "
                f"of the pretrained weights {pretrained!r}, which would not fit; keep it, or set "
                "model.options.pretrained: null to train from scratch"
            )
        if pretrained is not None and key == "num_hidden_layers":
            _refuse_more_layers(value, config.num_hidden_layers, pretrained)
        try:
            setattr(config, key, value)
        except (StrictDataclassError, TypeError, ValueError) as exc:
            cause = exc.__cause__ or exc
            raise ConfigError(f"model.options.config.{key}: {first_line(cause)}") from None
    return config


def _refuse_more_layers(value: Any, layers: int, pretrained: str) -> None:
    """A one-line ConfigError when `value` layers exceed the pretrained `layers`: the extra
    layers would start random (fewer keep the first ones)."""
    if type(value) is int and value > layers:
        raise ConfigError(
            f"model.options.config.num_hidden_layers: {value} is more than the {layers} layers "
            f"of the pretrained weights {pretrained!r}, the extra ones would start random; use "
            f"at most {layers}, or set model.options.pretrained: null to train from scratch")


def bert_weight_count(config: Any) -> int:
    """The parameters of `BertModel(config)` (embeddings, encoder layers without cross-attention,
    pooler), counted from the config's sizes without building it."""
    hidden, inner = int(config.hidden_size), int(config.intermediate_size)
    tables = (int(config.vocab_size) + int(config.max_position_embeddings)
              + int(config.type_vocab_size))
    layer = 4 * hidden * hidden + 2 * hidden * inner + 9 * hidden + inner
    return (tables + 3) * hidden + hidden * hidden + int(config.num_hidden_layers) * layer


# What BertModel (and the heads' initialisation) raise for config values they refuse: hidden
# sizes not a multiple of the heads, dropout outside [0, 1], a negative init range, ...
BUILD_ERRORS = (ValueError, TypeError, KeyError, IndexError, RuntimeError, AssertionError,
                ZeroDivisionError)


# BertConfig fields the multi-exit BERT does not honour: its segments run the encoder layers
# with a bidirectional mask and no encoder states, so as a decoder (causal attention, which
# BertModel would apply) its exits were not BertModel's hidden states, and its cross-attention
# weights never ran
ENCODER_ONLY = ("is_decoder", "add_cross_attention")


def bert_config_problem(config: Any) -> str | None:
    """What in a BertConfig BertModel would fail on with a bare traceback: a size or the head
    count not an integer >= 1 (a negative dimension, a division by zero), an activation it does
    not know (a KeyError); or what the exits would silently not honour (`ENCODER_ONLY`). None
    when there is nothing of that."""
    from transformers.activations import ACT2FN

    for key in (*SIZES, "num_attention_heads"):
        value = getattr(config, key, None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"{key}: must be an integer >= 1, got {value!r}"
    act = config.hidden_act
    if not (callable(act) or (isinstance(act, str) and act in ACT2FN)):
        return f"hidden_act: unknown activation {act!r}; allowed: {', '.join(sorted(ACT2FN))}"
    for key in ENCODER_ONLY:
        if getattr(config, key, False):
            return (f"{key}: must be false, got {getattr(config, key)!r} (the exits read [CLS] "
                    "of BERT run as an encoder, with bidirectional attention)")
    return None


def check_bert_size(config: Any) -> None:
    """A one-line ConfigError naming the config's sizes when they give BertModel more than
    MAX_WEIGHTS parameters, before anything is built."""
    sizes = ", ".join(f"{key} {getattr(config, key)}" for key in SIZES)
    check_weight_count(f"config sizes ({sizes})", bert_weight_count(config))


def load_bert(pretrained: str | None, config: dict[str, Any] | None) -> nn.Module:
    """`BertModel` with pretrained weights (as float32, whatever dtype they were saved in), or
    randomly initialised from `BertConfig(**config)`."""
    from transformers import BertModel

    settings = bert_config(pretrained, config)
    problem = bert_config_problem(settings)
    if problem:
        raise ConfigError(f"model.options.config.{problem}")
    check_bert_size(settings)
    from safetensors import SafetensorError

    try:
        if pretrained is None:
            return BertModel(settings)
        # safetensors only: a pytorch_model.bin is a pickle, which can run code when loaded.
        _refuse_pickled_shards(pretrained)
        # float32 as a model built from its config: transformers otherwise keeps the dtype
        # the weights were saved in (bfloat16, float16), and the float32 exit heads failed
        # on them in the first batch ("mat1 and mat2 must have the same dtype")
        # weights the config does not fit, or that lack some of its tensors, are checked
        # below (`_refuse_unloaded`): transformers started those at random after a
        # multi-line table on stderr (and raised a traceback for shapes that differ)
        with _quiet_transformers():
            bert, loading = BertModel.from_pretrained(
                pretrained, config=settings, use_safetensors=True, dtype=torch.float32,
                output_loading_info=True, ignore_mismatched_sizes=True,
                **_hub_options(pretrained, "pretrained"))
    except SafetensorError as exc:
        raise ConfigError(f"model.options.pretrained: the weights file of {pretrained!r} is not "
                          f"readable as safetensors ({first_line(exc)})") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValueError) and (config or pretrained is None):
            # the settings do not build (e.g. hidden_size not a multiple of the heads)
            raise ConfigError(f"model.options.config: {first_line(exc)}") from None
        _refuse_pickled_only(str(pretrained))
        raise _missing("pretrained", str(pretrained), exc) from None
    _refuse_unloaded(loading, pretrained)
    _refuse_non_finite(bert, pretrained)
    return bert


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers logs errors only inside the block (its load report, a warning table of
    every key it did not load, is replaced by `_refuse_unloaded`'s one line)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _refuse_unloaded(loading: dict[str, Any], pretrained: str) -> None:
    """A one-line ConfigError where `pretrained`'s weights did not all load into BertModel
    (`from_pretrained`'s loading info): a tensor of another shape than the config builds, or
    one the checkpoint lacks (another architecture's weights, a config claiming more layers),
    each of which would start at random under a 'pretrained' model. Only the pooler may be
    missing (MLM-only checkpoints; it is trained with the exits): a note says so. Extra
    tensors (BertForPreTraining's heads) are ignored."""
    def more(keys: list[Any]) -> str:
        return f" and {len(keys) - 1} more" if len(keys) > 1 else ""

    mismatched = sorted(loading.get("mismatched_keys") or (), key=lambda k: k[0])
    if mismatched:
        name, saved, built = mismatched[0]
        raise ConfigError(
            f"model.options.pretrained: the weights of {pretrained!r} do not fit its config "
            f"({name}: saved {tuple(saved)}, the config builds {tuple(built)}"
            f"{more(mismatched)}); give a folder whose config.json is its weights' own")
    missing = sorted(loading.get("missing_keys") or ())
    lacking = [key for key in missing if not key.startswith("pooler.")]
    if lacking:
        raise ConfigError(
            f"model.options.pretrained: {pretrained!r} lacks {len(lacking)} of the tensors "
            f"its config builds ({lacking[0]}{more(lacking)}), which would start at random; "
            "give a BERT checkpoint whose config.json describes its weights")
    if missing:
        print(f"note: model.options.pretrained {pretrained!r} has no pooler weights: the pooler "
              "starts at random and is trained with the exits", file=sys.stderr)


def _refuse_pickled_only(source: str) -> None:
    """A one-line ConfigError when the folder `source` holds pytorch_model.bin but no
    model.safetensors: eenet never unpickles weights."""
    folder = Path(source)
    safetensors = (SAFETENSORS_FILE, SAFETENSORS_INDEX)  # whole, or sharded
    if (names_a_local_path(source) and (folder / "pytorch_model.bin").is_file()
            and not any((folder / name).is_file() for name in safetensors)):
        raise ConfigError(
            f"model.options.pretrained: {source!r} holds pytorch_model.bin but no "
            "model.safetensors; eenet reads only safetensors (a .bin is a pickle, which can run "
            "code when loaded): convert it to model.safetensors")


def _refuse_pickled_shards(source: str) -> None:
    """A one-line ConfigError when the folder `source` has no model.safetensors and its
    model.safetensors.index.json names a shard that is not a .safetensors file: transformers
    reads such a shard with torch.load (a pickle), use_safetensors=True notwithstanding. An
    index that does not read as one is left to transformers' own error."""
    folder = Path(source)
    index = folder / SAFETENSORS_INDEX
    if (not names_a_local_path(source) or (folder / SAFETENSORS_FILE).is_file()
            or not index.is_file()):
        return
    try:
        weight_map = json.loads(index.read_text()).get("weight_map")
    except (OSError, ValueError, AttributeError):
        return
    if not isinstance(weight_map, dict):
        return
    pickled = sorted({str(shard) for shard in weight_map.values()
                      if not str(shard).endswith(".safetensors")})
    if pickled:
        named = (f"{pickled[0]} as a shard, not a .safetensors file" if len(pickled) == 1 else
                 f"{pickled[0]} and {len(pickled) - 1} more as shards, not .safetensors files")
        raise ConfigError(
            f"model.options.pretrained: {str(index)!r} names {named}; eenet reads only "
            "safetensors (a .bin is a pickle, which can run code when loaded): convert it to "
            ".safetensors shards")


def _refuse_non_finite(bert: nn.Module, pretrained: str) -> None:
    """A one-line ConfigError naming the first pretrained tensor holding NaN or inf: such
    weights train at chance without a word."""
    broken = [name for name, tensor in bert.state_dict().items()
              if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if broken:
        more = f" and {len(broken) - 1} more" if len(broken) > 1 else ""
        raise ConfigError(f"model.options.pretrained: the weights of {pretrained!r} hold NaN or "
                          f"inf ({broken[0]}{more}); use a checkpoint with finite weights")
