"""What a YAML value may be, read from the code's own type annotations: the spec of a
function's parameters (and of the `OPTIONS` of a module whose function takes `**options`),
whether a value fits an annotation, and the annotation's name in words for the one-line
errors. `eenet.config` builds params.yaml's schema from these.
"""

from __future__ import annotations

import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

Spec = dict[str, Any]  # key -> type annotation (Any: not type-checked)


def describe(annotation: Any) -> str:
    """A short English name of what an annotation allows."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(a) for a in args))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, Sequence):
        inner = [a for a in args if a is not Ellipsis]
        if len(set(inner)) != 1:
            return "a list"
        item = describe(inner[0])
        plural = f"{item.split(' ', 1)[-1]}s" if item.startswith("a") else item
        return f"a list of {plural}"
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        return "a mapping"
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
             type(None): "null", list: "a list", Path: "a path", os.PathLike: "a path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def matches(value: Any, annotation: Any) -> bool:
    """Whether a YAML value fits an annotation (unknown annotations accept anything)."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        inner = [a for a in args if a is not Ellipsis]
        item = inner[0] if len(set(inner)) == 1 else Any
        return isinstance(value, list) and all(matches(v, item) for v in value)
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        return isinstance(value, dict)
    if annotation is type(None) or annotation is None:
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation in (str, Path, os.PathLike):
        return isinstance(value, str)
    return True


def is_number_text(text: str) -> bool:
    """Whether `text` reads as a number (YAML kept it as text: quoted, or an exponent
    without a dot)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def signature_spec(function: Callable[..., Any], skip: int = 0, keyword_only: bool = False) -> Spec:
    """Parameters of `function` (after the first `skip`) with their annotations.

    Parameters annotated `Any` cannot come from YAML (tensors, callables) and are left out.
    """
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - unresolvable annotations: check keys only
        hints = {}
    spec: Spec = {}
    for i, param in enumerate(inspect.signature(function).parameters.values()):
        if i < skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if keyword_only and param.kind is not param.KEYWORD_ONLY:
            continue
        annotation = hints.get(param.name, Any)
        if keyword_only and annotation is Any:
            continue
        spec[param.name] = annotation
    return spec


def options_spec(function: Callable[..., Any], skip: int) -> Spec | None:
    """The options a builder / prepare function takes; None when they cannot be known.

    A function taking `**options` names them in its module's `OPTIONS`: a mapping of each
    name to its type annotation (or a sequence of names, not type-checked).
    """
    spec = signature_spec(function, skip)
    params = inspect.signature(function).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        listed = getattr(inspect.getmodule(function), "OPTIONS", None)
        if listed is None:
            return None
        types_ = listed if isinstance(listed, Mapping) else dict.fromkeys(listed, Any)
        spec.update({name: kind for name, kind in types_.items() if name not in spec})
    return spec
