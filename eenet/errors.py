"""User-facing errors: each prints as one line, without a traceback."""

from __future__ import annotations

import tokenize
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class EENetError(Exception):
    """An error caused by the user's input; the CLI prints it as one line."""


class ConfigError(EENetError):
    """A parameter has a value that is not allowed."""


class ArtifactError(EENetError):
    """An artifact file is missing, corrupt, or does not match the others."""


class MissingExtraError(EENetError):
    """A feature needs a package of one of pyproject.toml's extras that is not installed
    (`eenet.extras.require`): a core install schedules exit outputs, not the pipeline or BERT."""


def unknown_name(param: str, value: object, allowed: Iterable[str]) -> ConfigError:
    """Error for a name that is not in a registry, listing what is allowed."""
    choices = ", ".join(sorted(allowed))
    return ConfigError(f"{param}: unknown value {value!r}; allowed: {choices}")


def once_each(names: Sequence[str], param: str, what: str) -> list[str]:
    """`names` as a list when none repeats, else a one-line ConfigError naming the first
    repeat (a repeat was dropped silently: the user may have meant another name)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{param}: {name!r} given twice; give each {what} once")
        seen.add(name)
    return list(names)


def yaml_text(value: object) -> str:
    """A value as params.yaml spells it, for messages about a parameter: null, true and false
    (Python's None, True, False), anything else as repr writes it."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, the noun plural unless the count is one: '1 fitted policy',
    '2 fitted policies' (`plural`, default the noun and 's')."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def one_line(message: object) -> str:
    """`message` as one printable line: a line break or other control character in it (a file
    name holding one, say) written as its escape (`\\n`), so an error stays one line."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode()
                   for char in str(message))


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): what a
    one-line error quotes of a library's own, often multi-line, message."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()


# what `np.load(..., allow_pickle=False)` and reading an array of its archive raise on a file
# that is not one (zlib.error: a compressed .npz whose data is corrupt; TokenError /
# SyntaxError: an array header that does not parse; MemoryError: a header declaring an array
# larger than memory; NotImplementedError: a zip member of an unknown compression method)
NUMPY_LOAD_ERRORS = (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, zlib.error,
                     tokenize.TokenError, SyntaxError, MemoryError, NotImplementedError)


def numpy_load_problem(exc: Exception) -> str:
    """Why `np.load(..., allow_pickle=False)` refused a file, in words for the user: numpy
    takes any file that is neither an .npz archive nor an .npy array for a pickle and advises
    loading it unsafely, which is never what is wanted here."""
    if isinstance(exc, ValueError) and str(exc).startswith("Object arrays cannot be loaded"):
        # an .npy (or an array of an .npz) of dtype object: its items are pickled Python objects
        return ("an array of Python objects (dtype object), which is never unpickled; save "
                "numbers or strings")
    if isinstance(exc, ValueError) and "pickle" in str(exc):
        return "neither an .npz archive nor an .npy array"
    if isinstance(exc, EOFError):
        return "empty or truncated"
    if isinstance(exc, zlib.error):
        return f"corrupt compressed data: {exc}"
    if isinstance(exc, (tokenize.TokenError, SyntaxError)):
        return "an array header that does not parse"
    if isinstance(exc, MemoryError):
        return "an array header declaring more data than fits in memory"
    return " ".join(str(exc).split())


def npz_array(npz: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    """Array `name` of an open npz; a member that is not an .npy array (numpy hands its raw
    bytes) is a ValueError naming the member, which `numpy_load_problem` words as it is."""
    value = npz[name]
    if isinstance(value, bytes):
        member = name if name in npz.zip.namelist() else f"{name}.npy"
        raise ValueError(f"member {member!r} is not an .npy array")
    return value


@contextmanager
def naming(param: str, types: type[EENetError] | tuple[type[EENetError], ...] = EENetError,
           ) -> Iterator[None]:
    """Prefix any error of `types` (default: every EENetError) raised inside with `param`
    (e.g. a CLI flag), so the one-line error says which input it is about; one already naming
    `param` passes unchanged."""
    try:
        yield
    except types as exc:
        message = str(exc)
        if message.startswith(f"{param}:"):
            raise
        raise type(exc)(f"{param}: {message}") from None


def reject_directory(path: Path, wanted: str) -> None:
    """A directory where a file is expected is a one-line error saying which file to give."""
    if path.is_dir():
        raise ArtifactError(f"{path}: is a directory; give {wanted} file")


def require_regular_file(path: Path, wanted: str, missing: str) -> Path:
    """`path` when a regular file is there, else a one-line ArtifactError saying what is there
    instead and which file to give: a directory, something neither a file nor a directory (a
    device such as /dev/null, a pipe, a socket; it was reported as not found) or nothing
    (`missing`, e.g. "costs file not found"; where a file stands in for a folder above it,
    saying so: `artifacts/headline` a file, its index.json was merely not found)."""
    reject_directory(path, wanted)
    if path.exists() and not path.is_file():
        raise ArtifactError(f"{path}: not a regular file (a device, pipe or socket); give "
                            f"{wanted} file")
    if not path.is_file():
        blocker = next((parent for parent in path.parents if parent.exists()), None)
        cause = (f"; {blocker} is a file, not a folder"
                 if blocker is not None and not blocker.is_dir() else "")
        raise ArtifactError(f"{path}: {missing}{cause}")
    return path
