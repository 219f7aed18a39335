"""User-facing errors: each prints as one line, without a traceback."""

from __future__ import annotations

from collections.abc import Iterable


class EENetError(Exception):
    """An error caused by the user's input; the CLI prints it as one line."""


class ConfigError(EENetError):
    """A parameter has a value that is not allowed."""


class ArtifactError(EENetError):
    """An artifact file is missing, corrupt, or does not match the others."""


def unknown_name(param: str, value: object, allowed: Iterable[str]) -> ConfigError:
    """Error for a name that is not in a registry, listing what is allowed."""
    choices = ", ".join(sorted(allowed))
    return ConfigError(f"{param}: unknown value {value!r}; allowed: {choices}")
