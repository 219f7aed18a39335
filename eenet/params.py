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
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give the params .yaml file")
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        params = yaml.safe_load(_params_text(path)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter groups")
    return validate_params(params)


def _params_text(path: Path) -> str:
    """The params file's text; one that cannot be read, or is not UTF-8, is a ConfigError."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: params file not readable ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid YAML (not UTF-8 text: {exc.reason} at byte "
                          f"{exc.start})") from None


def group(params: dict[str, Any], name: str) -> Any:
    """One top-level group or value of the params, or a ConfigError naming it."""
    if name not in params:
        raise ConfigError(f"{name}: missing from params.yaml")
    return params[name]
