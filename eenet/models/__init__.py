"""Multi-exit backbones behind one interface (`MultiExitModel`), built by name."""

from __future__ import annotations

from typing import Any

from eenet.errors import ConfigError
from eenet.models.base import MultiExitModel, batch_size_of, select_batch
from eenet.registry import resolve
from eenet.type_specs import options_spec

# name -> "module:builder"; builder(num_classes: int, **options) -> MultiExitModel
MODELS: dict[str, str] = {
    "resnet1d_3": "eenet.models.resnet1d:build_resnet1d_3",
    "resnet56_3": "eenet.models.resnet56:build_resnet56_3",
    "densenet121_4": "eenet.models.densenet121:build_densenet121_4",
    "bert_4": "eenet.models.bert:build_bert_4",
}
# the registered models whose inputs are texts (tokenised in their `collate`); the others take
# tensors. A model registered here too is named by the error for data of the other kind.
TEXT_MODELS: frozenset[str] = frozenset({"bert_4"})
# Most output classes a model may have: far past any label space in use (extreme
# classification has ~10**6), still countable by `eenet models` on the meta device (a model
# that large is refused by its weight count before it is built for real); 2**63 classes
# overflowed torch's storage size and 2**70 its integer conversion while building the heads.
CLASSES_MAX = 10**12


def build_model(name: str, num_classes: int, **options: Any) -> MultiExitModel:
    """Build the registered model `name` for `num_classes` classes; an option it does not
    take is a one-line ConfigError listing those it does."""
    check_option_names(name, options)
    return resolve(MODELS, name, "model.name")(num_classes, **options)


def check_option_names(name: str, options: Any) -> None:
    """Every key of `options` is an option of the registered model `name`, else a one-line
    ConfigError naming the first other one and listing the model's (values are the model's
    own checks)."""
    allowed = options_spec(resolve(MODELS, name, "model.name"), skip=1)
    unknown = sorted(set(options) - set(allowed)) if allowed is not None else []
    if unknown:
        listed = ", ".join(sorted(allowed)) or "(none)"  # as params.yaml's check words it
        raise ConfigError(f"model.options.{unknown[0]}: unknown key; allowed: {listed}")


def models_taking(texts: bool) -> list[str]:
    """The registered models taking texts (`texts`) or else tensors, sorted by name."""
    return sorted(name for name in MODELS if (name in TEXT_MODELS) == texts)


__all__ = ["CLASSES_MAX", "MODELS", "TEXT_MODELS", "MultiExitModel", "batch_size_of",
           "build_model", "check_option_names", "models_taking", "select_batch"]
