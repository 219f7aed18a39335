"""Trained-model artifact: `model.safetensors` (weights) + `config.json` (how to rebuild it).

A model whose builder would fetch files (a pretrained transformer's config, a tokenizer) keeps
them in the artifact, so that it reloads offline and without the source it was trained from.
The protocol, generic over models:

- `model.save_pretrained_assets(folder: Path) -> None` (optional method): write into `folder`
  whatever rebuilding the architecture needs. `save_trained` calls it with `<artifact>/assets/`
  and records `"assets": "assets"` in config.json.
- builder option `assets`: for such an artifact `load_trained` calls the registered builder with
  `assets=<absolute path of that folder>` on top of the saved options; the builder must then
  build the architecture from those files only (never the network, no pretrained weights).
  The trained weights come from `model.safetensors` right after.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from eenet.atomic import atomic_directory, write_json, write_with
from eenet.errors import ArtifactError
from eenet.jsonio import read_json_object
from eenet.models import MultiExitModel, build_model

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
ASSETS_DIR = "assets"


def save_trained(
    model: MultiExitModel,
    directory: str | os.PathLike,
    name: str,
    num_classes: int,
    options: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write weights (safetensors), the model's assets if any, and config.json (last)."""
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
    save_assets = getattr(model, "save_pretrained_assets", None)
    if callable(save_assets):
        with atomic_directory(directory / ASSETS_DIR) as tmp:
            save_assets(tmp)
        config["assets"] = ASSETS_DIR
    elif (directory / ASSETS_DIR).is_dir():  # left by an earlier model saved here
        shutil.rmtree(directory / ASSETS_DIR)
    write_json(directory / CONFIG_FILE, config)
    return directory


def _assets_option(directory: Path, config: dict[str, Any]) -> dict[str, Any]:
    """`{"assets": <folder>}` for an artifact that carries assets, else `{}`."""
    name = config.get("assets")
    if not name:
        return {}
    folder = directory / str(name)
    if Path(str(name)).name != str(name) or not folder.is_dir():
        raise ArtifactError(f"{folder}: the model's assets folder is missing (rerun training)")
    return {"assets": str(folder.resolve())}


def read_trained_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The config.json of a trained-model artifact."""
    return read_json_object(
        Path(directory) / CONFIG_FILE, "trained model config", "run the train stage",
        required=("name", "num_classes"),
    )


def load_trained(directory: str | os.PathLike, **override_options: Any) -> MultiExitModel:
    """Rebuild a trained model from its artifact and load its weights (no pickle), in eval mode.

    Needs nothing outside `directory`: a model with assets is rebuilt from them (see above).
    """
    directory = Path(directory)
    config = read_trained_config(directory)
    options = {**config.get("options", {}), **_assets_option(directory, config), **override_options}
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
