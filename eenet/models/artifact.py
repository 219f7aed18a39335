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

import hashlib
import inspect
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from eenet.atomic import atomic_directory, write_with
from eenet.digests import file_sha256
from eenet.errors import ArtifactError, ConfigError, counted, require_regular_file
from eenet.jsonio import read_json_object, write_json
from eenet.models import CLASSES_MAX, MultiExitModel, build_model, check_option_names

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
    """Write the artifact folder whole: weights (safetensors), the model's assets if any, and
    config.json, into a temporary folder swapped in for `directory` at the end (readers see the
    old model or the new one, never a mix; an interrupted write leaves the old one)."""
    directory = Path(directory)
    check_replaceable(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = {
        "name": name,
        "num_classes": int(num_classes),
        "n_exits": model.n_exits,
        "options": options or {},
        **(extra or {}),
    }
    with atomic_directory(directory) as tmp:
        # through write_with: safetensors creates its file private (0600), whatever the umask
        write_with(tmp / WEIGHTS_FILE, lambda tmp_file: save_file(state, str(tmp_file)))
        save_assets = getattr(model, "save_pretrained_assets", None)
        if callable(save_assets):
            (tmp / ASSETS_DIR).mkdir()
            save_assets(tmp / ASSETS_DIR)
            config["assets"] = ASSETS_DIR
        write_json(tmp / CONFIG_FILE, config)
    return directory


def check_replaceable(directory: Path) -> None:
    """`directory` is new, empty or a trained model's folder (it is replaced whole); anything
    else is a one-line ArtifactError, so that no other files are lost."""
    if directory.exists() and not directory.is_dir():
        raise ArtifactError(f"{directory}: is a file; give a folder for the trained model")
    others = sorted(p.name for p in directory.iterdir()
                    if p.name not in {WEIGHTS_FILE, CONFIG_FILE, ASSETS_DIR}
                    ) if directory.is_dir() else []
    if others:
        raise ArtifactError(f"{directory}: holds {', '.join(others[:3])}"
                            f"{' ...' if len(others) > 3 else ''} besides a trained model; "
                            "give a new folder or a trained model's (it is replaced whole)")


def _assets_option(directory: Path, config: dict[str, Any]) -> dict[str, Any]:
    """`{"assets": <folder>}` for an artifact that carries assets, else `{}`. A one-line
    ArtifactError where config.json and its model disagree: no assets recorded for a model
    rebuilt from them (its builder would read `pretrained` again, from the network), or
    assets for one that takes none (another model's artifact). A builder whose options cannot
    be known (`**options` with no `OPTIONS` list) is taken at config.json's word."""
    from eenet.models import MODELS
    from eenet.registry import resolve
    from eenet.type_specs import options_spec

    name = config.get("assets")
    model = config["name"]
    spec = options_spec(resolve(MODELS, model, "model.name"), skip=1)
    takes = bool(name) if spec is None else "assets" in spec  # None: `**options`, unlisted
    if takes and not name:
        raise ArtifactError(f"{directory / CONFIG_FILE}: records no assets folder, which "
                            f"{model} is rebuilt from (its config and tokenizer); rerun train")
    if name and not takes:
        raise ArtifactError(f"{directory / CONFIG_FILE}: records an assets folder, but {model} "
                            "takes none (the artifact of another model?); rerun train")
    if not name:
        return {}
    folder = directory / str(name)
    if Path(str(name)).name != str(name) or not folder.is_dir():
        raise ArtifactError(f"{folder}: the model's assets folder is missing (rerun training)")
    return {"assets": str(folder.resolve())}


def model_identity(directory: str | os.PathLike) -> dict[str, Any]:
    """What a latency table, and the policies planned with it, record of the trained model
    they are for: its architecture (`name`, `options`, `num_classes`, and its weights' shapes,
    `weight_shapes`: what its costs depend on) and its weights' sha256 (what its exit
    outputs depend on)."""
    config = read_trained_config(directory)
    return {
        "name": config["name"],
        "options": config.get("options") or {},
        "num_classes": int(config["num_classes"]),
        **weight_shapes(directory),
        "weights_sha256": weights_digest(directory),
    }


def weight_shapes(directory: str | os.PathLike) -> dict[str, Any]:
    """`weight_count` (the values in the artifact's weights file) and `weight_shapes_sha256`
    (the sha256 of its tensors' names and shapes, in name order): the architecture where the
    options do not show it, as for a model built from a pretrained folder whose config sets
    its sizes (`pretrained` names a path, left out of the comparison). Read from the file's
    header alone; an unreadable file is a one-line ArtifactError."""
    path = Path(directory) / WEIGHTS_FILE
    try:
        with safe_open(str(path), framework="pt") as weights:
            shapes = sorted((name, list(weights.get_slice(name).get_shape()))
                            for name in weights.keys())  # noqa: SIM118 - no __iter__
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a readable safetensors file ({exc})") from None
    count = sum(math.prod(shape) for _, shape in shapes)
    digest = hashlib.sha256(json.dumps(shapes, separators=(",", ":")).encode()).hexdigest()
    return {"weight_count": count, "weight_shapes_sha256": digest}


def describe_identity(identity: Mapping[str, Any]) -> str:
    """`resnet1d_3 {'widths': [8, 16, 64]}, 10 classes`: a model identity's architecture."""
    options = identity.get("options") or {}
    return (f"{identity.get('name')}{f' {options}' if options else ''}, "
            f"{identity.get('num_classes')} classes")


def architecture(identity: Mapping[str, Any]) -> dict[str, Any]:
    """A model identity's architecture, comparable however its options were written: the
    builder's defaults filled in, options naming files (where pretrained weights or a
    tokenizer were read from) left out, as JSON types (tuples as lists)."""
    from eenet.config import FILE_OPTIONS
    from eenet.models import MODELS
    from eenet.registry import resolve

    name = identity.get("name")
    options = dict(identity.get("options") or {})
    if isinstance(name, str) and name in MODELS:
        builder = resolve(MODELS, name, "model.name")
        for param in list(inspect.signature(builder).parameters.values())[1:]:
            if param.default is not param.empty and param.kind in (
                    param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                options.setdefault(param.name, param.default)
    options = {key: value for key, value in options.items() if key not in FILE_OPTIONS}
    return json.loads(json.dumps({"name": name, "num_classes": identity.get("num_classes"),
                                  "options": options}, default=str))


def architecture_mismatch(recorded: Any, directory: str | os.PathLike) -> str | None:
    """None when `recorded` (an artifact's `model` entry; None or absent for an imported table
    or an older file) is the architecture of the trained model in `directory` (options compared
    with the builder's defaults filled in), else what differs: "<recorded>, not <directory>'s
    <its own>"."""
    if not isinstance(recorded, Mapping):
        return None
    config = read_trained_config(directory)
    own = {"name": config["name"], "options": config.get("options") or {},
           "num_classes": config["num_classes"]}
    if architecture(recorded) != architecture(own):
        return f"{describe_identity(recorded)}, not {directory}'s {describe_identity(own)}"
    if "weight_shapes_sha256" not in recorded:  # recorded before the shapes were
        return None
    shapes = weight_shapes(directory)
    if recorded["weight_shapes_sha256"] == shapes["weight_shapes_sha256"]:
        return None
    count = recorded.get("weight_count")
    shown = f", {count:,} weights" if type(count) is int else ""
    return (f"{describe_identity(recorded)}{shown}, not {directory}'s "
            f"{describe_identity(own)}, {shapes['weight_count']:,} weights (other weight "
            "shapes: built from another pretrained model?)")


def other_weights(recorded: Any, directory: str | os.PathLike,
                  weights_sha256: str | None = None) -> bool:
    """Whether `recorded` names weights other than those in `directory` (False where it
    records none); `weights_sha256`: their digest where the caller took it already (several
    records checked against one model hash its file once)."""
    if not isinstance(recorded, Mapping) or "weights_sha256" not in recorded:
        return False
    return recorded["weights_sha256"] != (weights_sha256 or weights_digest(directory))


def weights_digest(directory: str | os.PathLike) -> str:
    """The sha256 of a trained-model artifact's weights file."""
    return file_sha256(Path(directory) / WEIGHTS_FILE)


def read_trained_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The config.json of a trained-model artifact, its name, classes and options checked."""
    if Path(directory).is_file():  # not "<file>/config.json not found"
        raise ArtifactError(f"{directory}: is a file; give the trained model's folder (the train "
                            f"stage's artifacts/model, holding {CONFIG_FILE})")
    path = Path(directory) / CONFIG_FILE
    config = read_json_object(
        path, "trained model config", "run the train stage", required=("name", "num_classes")
    )
    _check_config(path, config)
    return config


def _check_config(path: Path, config: dict[str, Any]) -> None:
    """A one-line ArtifactError naming the file unless `name` is a registered model, the classes
    an integer >= 1 and `options` (null or a mapping) options its builder takes."""
    from eenet.config import check_mapping
    from eenet.models import MODELS
    from eenet.registry import resolve
    from eenet.type_specs import options_spec

    name, classes, options = config["name"], config["num_classes"], config.get("options")
    if not isinstance(name, str) or name not in MODELS:
        raise ArtifactError(f"{path}: name {name!r} is not a registered model; allowed: "
                            f"{', '.join(sorted(MODELS))}")
    if isinstance(classes, bool) or not isinstance(classes, int) or not (
            1 <= classes <= CLASSES_MAX):
        raise ArtifactError(f"{path}: num_classes must be an integer from 1 to {CLASSES_MAX}, "
                            f"got {classes!r}")
    spec = options_spec(resolve(MODELS, name, "model.name"), skip=1)
    try:
        if options is not None:
            check_mapping("options", options, spec or {})
    except ConfigError as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    normalisation = config.get("input_normalisation")
    if normalisation is not None:
        from eenet.data.prepared import channel_stats_problem

        problem = (channel_stats_problem(normalisation) if isinstance(normalisation, dict)
                   else f"a JSON object, got {normalisation!r}")
        if problem:
            raise ArtifactError(f"{path}: input_normalisation: {problem}")


def _mismatch(exc: RuntimeError) -> str:
    """The first specific line of load_state_dict's error (a missing key, a size mismatch)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    line = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
    head, colon, keys = line.partition(": ")
    names = [k.strip().strip('".') for k in keys.split(",")] if colon else []
    if head.endswith("key(s) in state_dict") and len(names) > 3:
        return f"{head}: {', '.join(names[:3])}, ... ({len(names)} in all)"
    return line


def _dtype(tensor: torch.Tensor) -> str:
    """A tensor's dtype as its name alone: float32, int64."""
    return str(tensor.dtype).removeprefix("torch.")


def _check_dtypes(weights: Path, state: Mapping[str, torch.Tensor], model: MultiExitModel,
                  name: str) -> None:
    """A one-line ArtifactError where a tensor of the weights file has another dtype than the
    rebuilt model holds there: integers for float weights or the other way round (an edited
    or foreign file: integer weights answer nonsense), or another float precision (a float64
    model came back float32, other logits than a policy was fitted on). `load_state_dict`
    converts either without a word, so that the model loaded is not the one saved."""
    built = model.state_dict()
    other = [key for key, tensor in state.items()
             if key in built and tensor.dtype != built[key].dtype]
    kind = [key for key in other if state[key].is_floating_point()
            != built[key].is_floating_point()]
    if kind:
        raise ArtifactError(f"{weights}: {kind[0]} is {_dtype(state[kind[0]])}, but {name} "
                            f"takes {_dtype(built[kind[0]])} ({counted(len(kind), 'tensor')} "
                            "of another kind); give the weights the train stage saved")
    if other:
        key = other[0]
        more = (f" (and {len(other) - 1} more tensor{'s' if len(other) > 2 else ''} of "
                "another dtype)" if len(other) > 1 else "")
        raise ArtifactError(
            f"{weights}: {key} is {_dtype(state[key])}, but {name} built with the options of "
            f"{CONFIG_FILE} holds {_dtype(built[key])} there{more}; loading would convert it: "
            "save the model as its builder makes it (e.g. model.float()) or train again")


def load_trained(directory: str | os.PathLike, **override_options: Any) -> MultiExitModel:
    """Rebuild a trained model from its artifact and load its weights (no pickle), in eval mode.

    Needs nothing outside `directory`: a model with assets is rebuilt from them (see above).
    config.json's `n_exits`, where present, must be the rebuilt model's (one-line ArtifactError).
    """
    directory = Path(directory)
    config = read_trained_config(directory)
    if override_options:  # the caller's, not config.json's: no fault of the artifact
        check_option_names(config["name"], override_options)
    options = {**(config.get("options") or {}), **_assets_option(directory, config),
               **override_options}
    try:
        model = build_model(config["name"], config["num_classes"], **options)
    except ConfigError as exc:  # options that no longer build (an edited config.json)
        raise ArtifactError(f"{directory / CONFIG_FILE}: {exc}") from None
    n_exits = config.get("n_exits", model.n_exits)  # recorded by save_trained; absent: not checked
    if type(n_exits) is not int:  # 3.0, True or '3' are no exit counts
        raise ArtifactError(f"{directory / CONFIG_FILE}: n_exits: expected an integer, got "
                            f"{n_exits!r}")
    if n_exits != model.n_exits:
        raise ArtifactError(f"{directory / CONFIG_FILE}: n_exits is {n_exits!r}, but "
                            f"{config['name']} built with its options has {model.n_exits} exits")
    weights = directory / WEIGHTS_FILE
    require_regular_file(weights, "the model weights", "model weights not found (run the train "
                         "stage)")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{weights}: not a readable safetensors file ({exc})") from None
    broken = [name for name, tensor in state.items()
              if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if broken:  # a model with NaN or inf weights answers nonsense without a word
        more = f" and {len(broken) - 1} more" if len(broken) > 1 else ""
        raise ArtifactError(f"{weights}: weights hold NaN or inf ({broken[0]}{more}); train "
                            f"again")
    _check_dtypes(weights, state, model, config["name"])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ArtifactError(f"{weights}: weights do not match {config['name']} with the options "
                            f"of {CONFIG_FILE} ({_mismatch(exc)})") from None
    return model.eval()
