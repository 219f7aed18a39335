"""Trained-model artifact: `model.safetensors` (weights) + `config.json` (how to rebuild it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from eenet.atomic import write_json, write_with
from eenet.errors import ArtifactError
from eenet.models import MultiExitModel, build_model

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def save_trained(
    model: MultiExitModel,
    directory: str | os.PathLike,
    name: str,
    num_classes: int,
    options: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write weights (safetensors) and the config needed to rebuild the model, atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_with(directory / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp)))
    config = {
        "name": name,
        "num_classes": int(num_classes),
        "n_exits": model.n_exits,
        "options": options or {},
        **(extra or {}),
    }
    write_json(directory / CONFIG_FILE, config)
    return directory


def read_trained_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The config.json of a trained-model artifact."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ArtifactError(f"{path}: trained model config not found (run the train stage)")
    try:
        config = json.loads(path.read_text())
    except ValueError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None
    for key in ("name", "num_classes"):
        if key not in config:
            raise ArtifactError(f"{path}: missing key {key!r}")
    return config


def load_trained(directory: str | os.PathLike, **override_options: Any) -> MultiExitModel:
    """Rebuild a trained model from its artifact and load its weights (no pickle), in eval mode."""
    directory = Path(directory)
    config = read_trained_config(directory)
    options = {**config.get("options", {}), **override_options}
    model = build_model(config["name"], int(config["num_classes"]), **options)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise ArtifactError(f"{weights}: model weights not found (run the train stage)")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{weights}: not a readable safetensors file ({exc})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ArtifactError(f"{weights}: weights do not match {config['name']} ({first})") from None
    return model.eval()
