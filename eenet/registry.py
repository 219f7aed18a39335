"""Name -> implementation registries, imported lazily (BERT pulls in transformers)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from eenet.errors import unknown_name


def resolve(table: Mapping[str, str], name: str, param: str) -> Any:
    """Import `module:attribute` registered under `name`, or fail naming `param`."""
    if not isinstance(name, str) or name not in table:
        raise unknown_name(param, name, table)
    module_name, _, attribute = table[name].partition(":")
    return getattr(importlib.import_module(module_name), attribute)
