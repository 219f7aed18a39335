"""Reading `params.yaml`: each stage reads only its own group(s)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from eenet.config import validate_params
from eenet.errors import ConfigError

DEFAULT_PARAMS = "params.yaml"


def read_params(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, Any]:
    """The whole params file as a dict (safe YAML), validated against the schema."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter groups")
    return validate_params(params)


def group(params: dict[str, Any], name: str) -> Any:
    """One top-level group or value of the params, or a ConfigError naming it."""
    if name not in params:
        raise ConfigError(f"{name}: missing from params.yaml")
    return params[name]
