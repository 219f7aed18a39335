"""`bert-base-uncased` with exits after encoder layers 3, 6, 9 and 12 (4 exits).

Built from transformers' own `BertModel` modules: the embeddings are the stem, each segment is
a group of `BertLayer`s run one at a time, and each exit has a pooler-style head: the [CLS]
hidden state, dense + tanh, dropout, linear. With pretrained weights, every head's dense layer
starts from the pretrained pooler (the pooler itself is not kept). The state between segments is
`{"hidden": [B, L, H], "mask": [B, L]}`; each segment turns the 2-D padding mask into the
attention mask the configured attention implementation expects (`create_bidirectional_mask`,
as `BertModel.forward` does), so padding is masked in every layer and a shrunk batch keeps a
matching mask.

A trained model reloads offline: `save_pretrained_assets` writes its `BertConfig` and tokenizer
files into the artifact, and the builder's `assets` option rebuilds from exactly those files
(`BertMultiExit.from_assets`), never from `pretrained` (see `eenet.models.artifact`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eenet.errors import ArtifactError, ConfigError, EENetError, first_line
from eenet.extras import require
from eenet.models.base import MultiExitModel
from eenet.models.bert_loading import (
    BUILD_ERRORS,
    bert_config_problem,
    check_bert_size,
    load_bert,
    load_tokenizer,
)

DEFAULT_PRETRAINED = "bert-base-uncased"
DEFAULT_EXIT_LAYERS = (3, 6, 9, 12)


class Tokenise:
    """Texts to BERT inputs: [CLS] text [SEP], padded on the right to the longest, truncated
    to `max_length`; holds only the tokenizer, so it pickles small. Right whatever the
    tokenizer's own `padding_side`: the exits read [CLS] at position 0, and BERT's position
    ids count from the first token."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, items: list[str]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(
            [str(t) for t in items],
            padding=True,
            padding_side="right",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
            # asked for: a tokenizer whose model_input_names leave them out (a
            # tokenizer_config.json) gave none, a KeyError traceback in the first batch
            return_token_type_ids=True,
            return_attention_mask=True,
        )
        return {key: encoded[key] for key in ("input_ids", "token_type_ids", "attention_mask")}


class BertSegment(nn.Module):
    """Consecutive `BertLayer`s applied to `{"hidden", "mask"}` with the padding mask."""

    def __init__(self, layers: Sequence[nn.Module], config: Any) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.config = config

    def forward(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from transformers.masking_utils import create_bidirectional_mask

        hidden, mask = state["hidden"], state["mask"]
        attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden, attention_mask=mask
        )
        for layer in self.layers:
            hidden = layer(hidden, attention_mask)
        return {"hidden": hidden, "mask": mask}


class BertExitHead(nn.Module):
    """Pooler-style classifier on the [CLS] token: dense + tanh, dropout, linear."""

    def __init__(self, hidden_size: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        pooled = torch.tanh(self.dense(state["hidden"][:, 0]))
        return self.classifier(self.dropout(pooled))


class BertMultiExit(MultiExitModel):
    """A `BertModel` split into segments ending at `exit_layers`, one head per exit."""

    def __init__(
        self,
        bert: nn.Module,
        num_classes: int,
        exit_layers: Sequence[int] = DEFAULT_EXIT_LAYERS,
        max_length: int = 128,
        tokenizer: Any = None,
        pooler_init: bool = False,
    ) -> None:
        super().__init__()
        config = bert.config
        self.config = config
        self.max_length = int(max_length)
        self.tokenizer = tokenizer
        self.assets_folder: Path | None = None  # set when rebuilt from a trained model
        self.stem = bert.embeddings
        dropout = config.classifier_dropout
        dropout = config.hidden_dropout_prob if dropout is None else dropout
        start = 0
        for end in exit_layers:
            self.segments.append(BertSegment(bert.encoder.layer[start:end], config))
            self.heads.append(BertExitHead(config.hidden_size, num_classes, dropout))
            start = end
        self._init_heads(bert.pooler if pooler_init and bert.pooler is not None else None)
        # one mode for the whole model, training as any new module: `from_pretrained` hands
        # its BertModel back in eval mode, which left the encoder without dropout under a
        # model that said it was training
        self.train()

    def _init_heads(self, pooler: nn.Module | None) -> None:
        """BERT's initialisation for the heads; dense layers copy the pretrained pooler if any."""
        for head in self.heads:
            for linear in (head.dense, head.classifier):
                nn.init.normal_(linear.weight, std=self.config.initializer_range)
                nn.init.zeros_(linear.bias)
            if pooler is not None:
                head.dense.load_state_dict(pooler.dense.state_dict())

    def save_pretrained_assets(self, folder: Path) -> None:
        """Write the `BertConfig` (config.json) and the tokenizer files into `folder`.

        The tokenizer is saved without the truncation and padding its last call left in its
        backend (`Tokenise` passes its own on every call): with them, a model trained afresh
        and the same model reused from its finished checkpoint (whose tokenizer never ran)
        wrote different tokenizer.json files, and every stage after train ran again."""
        folder = Path(folder)
        self.config.to_json_file(str(folder / "config.json"))
        if self.tokenizer is not None:
            backend = self.tokenizer.backend_tokenizer
            backend.no_truncation()
            backend.no_padding()
            self.tokenizer.save_pretrained(str(folder))

    @classmethod
    def from_assets(
        cls,
        folder: str | Path,
        num_classes: int,
        exit_layers: Sequence[int] = DEFAULT_EXIT_LAYERS,
        max_length: int = 128,
    ) -> BertMultiExit:
        """The architecture saved by `save_pretrained_assets`, randomly initialised, offline."""
        from transformers import BertConfig, BertModel

        try:  # huggingface_hub's strict dataclasses (BertConfig with transformers >= 5)
            from huggingface_hub.errors import StrictDataclassError
        except ImportError:  # older versions: a refused value is a TypeError / ValueError
            StrictDataclassError = TypeError

        folder = Path(folder)
        path = folder / "config.json"
        try:
            config = BertConfig.from_json_file(str(path))
        except (OSError, ValueError) as exc:
            raise EENetError(f"{folder}: cannot read the saved BertConfig ({exc})") from None
        except (StrictDataclassError, TypeError, AttributeError, KeyError) as exc:  # a field
            # of the wrong type (dtype: a name torch lacks), or no JSON object at all (an
            # edited file): a traceback before
            raise ArtifactError(f"{path}: not a valid BertConfig "
                                f"({first_line(exc.__cause__ or exc)})") from None
        layers = _check_layers(exit_layers, max_length, config)
        problem = bert_config_problem(config)
        if problem:
            raise ArtifactError(f"{path}: {problem}")
        try:
            check_bert_size(config)
        except ConfigError as exc:
            raise ArtifactError(f"{path}: {exc}") from None
        tokenizer = None
        if any((folder / name).is_file() for name in ("tokenizer.json", "vocab.txt")):
            from transformers import BertTokenizerFast

            try:
                tokenizer = BertTokenizerFast.from_pretrained(str(folder), local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - the tokenizers library raises plain
                # Exception (and json its JSONDecodeError) for a damaged file: a traceback before
                raise ArtifactError(f"{folder}: cannot read the saved tokenizer "
                                    f"({first_line(exc)}); rerun train") from None
        try:
            model = cls(BertModel(config), num_classes, layers, max_length, tokenizer=tokenizer)
        except BUILD_ERRORS as exc:  # values BertModel refuses (heads, dropout, init range)
            raise ArtifactError(f"{path}: does not build ({first_line(exc)})") from None
        model.assets_folder = folder
        return model

    def begin(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = self.stem(
            input_ids=inputs["input_ids"], token_type_ids=inputs.get("token_type_ids")
        )
        mask = inputs.get("attention_mask")
        if mask is None:
            mask = torch.ones(inputs["input_ids"].shape, dtype=torch.long, device=hidden.device)
        return {"hidden": hidden, "mask": mask}

    def collate_function(self) -> Tokenise:
        """The tokenizer and length limit alone (`collate` tokenises a list of texts with them:
        [CLS] text [SEP], padded to the longest, truncated); loader workers get these, not the
        model."""
        if self.tokenizer is None and self.assets_folder is not None:  # a trained model's
            raise ArtifactError(f"{self.assets_folder}: the trained model's tokenizer files "
                                "(tokenizer.json, vocab.txt) are missing; rerun train")
        if self.tokenizer is None:
            raise ConfigError(
                "model.options.tokenizer: this BERT model has no tokenizer (built without "
                "pretrained weights); set model.options.tokenizer to a tokenizer name, folder "
                "or vocab.txt"
            )
        return Tokenise(self.tokenizer, self.max_length)

    def example_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        """Random token ids at the full `max_length`, no padding (the worst case for latency)."""
        shape = (batch_size, self.max_length)
        return {
            "input_ids": torch.randint(0, self.config.vocab_size, shape),
            "token_type_ids": torch.zeros(shape, dtype=torch.long),
            "attention_mask": torch.ones(shape, dtype=torch.long),
        }


def _check_layers(exit_layers: Sequence[int], max_length: int, config: Any) -> list[int]:
    """`exit_layers` as ints; a ConfigError unless they and `max_length` fit the `BertConfig`."""
    n_layers = config.num_hidden_layers
    layers = [int(k) for k in exit_layers]
    if (
        not layers
        or layers[-1] != n_layers
        or any(b <= a for a, b in zip([0, *layers], layers, strict=False))
    ):
        raise ConfigError(
            f"model.options.exit_layers: must increase strictly from >= 1 and end at the last "
            f"layer ({n_layers}), got {list(exit_layers)}"
        )
    if not 2 <= int(max_length) <= config.max_position_embeddings:
        raise ConfigError(
            f"model.options.max_length: must lie in [2, {config.max_position_embeddings}], "
            f"got {max_length}"
        )
    return layers


def _vocab_mismatch(what: str, tokens: int, vocab_size: int, pretrained: str | None) -> str:
    """The error for a tokenizer of more tokens than the model's vocab_size (from `what`:
    `tokenizer`, or `pretrained` for its own), with only the advice that can work: pretrained
    weights fix vocab_size (model.options.config.vocab_size must equal theirs), so there only
    a tokenizer matching them helps; from scratch, either."""
    outside = "token ids would fall outside the embedding"
    if pretrained is None:
        return (f"model.options.{what}: the tokenizer has {tokens} tokens but the model's "
                f"vocab_size is {vocab_size}: {outside}; use a matching tokenizer or set "
                f"model.options.config.vocab_size to at least {tokens}")
    if what == "pretrained":
        return (f"model.options.pretrained: the tokenizer of {pretrained!r} has {tokens} "
                f"tokens but its weights' vocab_size is {vocab_size}: {outside}, so it is not the "
                "tokenizer the weights were trained with; set model.options.tokenizer to that "
                "one (the weights fix vocab_size)")
    return (f"model.options.tokenizer: the tokenizer has {tokens} tokens but the vocab_size of "
            f"the pretrained weights {pretrained!r} is {vocab_size}: {outside}; use the "
            "tokenizer those weights were trained with (the one saved with them; "
            f"model.options.tokenizer: null reads the one of {pretrained!r})")


def build_bert_4(
    num_classes: int,
    pretrained: str | None = DEFAULT_PRETRAINED,
    max_length: int = 128,
    config: dict[str, Any] | None = None,
    tokenizer: str | None = None,
    exit_layers: Sequence[int] = DEFAULT_EXIT_LAYERS,
    assets: str | None = None,
) -> BertMultiExit:
    """BERT with exits after `exit_layers`; `pretrained=None` builds a random-init model.

    `config` overrides `BertConfig` fields (the whole config without `pretrained`), `tokenizer`
    defaults to `pretrained`; without either, `collate` is unavailable but counting and
    `example_inputs` work. `assets` (set by `load_trained`) rebuilds a trained model's saved
    architecture and tokenizer from that folder instead, ignoring `pretrained`, `config` and
    `tokenizer`. Needs transformers (the `text` extra): without it, a one-line
    MissingExtraError.
    """
    require("transformers", "model bert_4")
    if assets is not None:
        return BertMultiExit.from_assets(assets, num_classes, exit_layers, max_length)
    bert = load_bert(pretrained, config)
    layers = _check_layers(exit_layers, max_length, bert.config)
    source, what = (tokenizer, "tokenizer") if tokenizer is not None else (pretrained, "pretrained")
    loaded = load_tokenizer(source, what) if source is not None else None
    if loaded is not None and len(loaded) > bert.config.vocab_size:
        raise ConfigError(_vocab_mismatch(what, len(loaded), bert.config.vocab_size, pretrained))
    return BertMultiExit(
        bert,
        num_classes,
        layers,
        max_length=max_length,
        tokenizer=loaded,
        pooler_init=pretrained is not None,
    )
