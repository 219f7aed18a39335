"""The params each stage of dvc.yaml lists, and the check that params.yaml holds every one.

DVC fails a stage whose listed param is missing from params.yaml ("Parameters 'budget' are
missing from 'params.yaml'") only when it reaches that stage, after the stages before it
(training included) have run. The schema (`eenet.config`) accepts a group or key left out,
since stages read their own; the check_params stage runs this check first instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from eenet.errors import ConfigError


def listed_params(dvc_yaml: str | os.PathLike, params_file: str = "params.yaml"
                  ) -> dict[str, list[str]]:
    """Each stage of `dvc_yaml` and the dotted keys of `params_file` its `params` list: plain
    entries, and the keys listed under `params_file` (a whole-file entry names no key; other
    files' entries and interpolated keys are left out)."""
    path = Path(dvc_yaml)
    try:
        pipeline = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: cannot read the pipeline ({problem})") from None
    stages = pipeline.get("stages") if isinstance(pipeline, dict) else None
    if not isinstance(stages, dict):
        raise ConfigError(f"{path}: expected a mapping `stages` of the pipeline's stages")
    listed: dict[str, list[str]] = {}
    for name, stage in stages.items():
        keys: list[str] = []
        for entry in (stage or {}).get("params") or []:
            if isinstance(entry, str):
                keys.append(entry)
            elif isinstance(entry, dict) and isinstance(entry.get(params_file), list):
                keys.extend(k for k in entry[params_file] if isinstance(k, str))
        listed[str(name)] = [k for k in keys if "${" not in k]
    return listed


def _present(params: Mapping[str, Any], key: str) -> bool:
    """Whether the dotted `key` is in `params` (a null value is present, as DVC reads it)."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def check_listed_params(params: Mapping[str, Any], listed: Mapping[str, list[str]]) -> None:
    """Every key a stage lists must be in `params`, else a one-line ConfigError naming the key
    and the first stage listing it."""
    for stage, keys in listed.items():
        for key in keys:
            if not _present(params, key):
                raise ConfigError(
                    f"{key}: missing from params.yaml, but dvc.yaml's stage {stage} lists it "
                    "(DVC would stop there, after the stages before it had run); restore it"
                )
