"""Atomic artifact writes: write to a temporary file beside the target, then rename.

A stage killed mid-write leaves either the old artifact or the new one, never half of one.
Temporary names carry the writer's process id: the next write to the same target removes
what a writer killed outright (SIGKILL, out of memory) had no chance to clean up.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from eenet.errors import ArtifactError
from eenet.termination import raise_if_stopped, stop_signals_held


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, directory: bool = False) -> None:
    """Give a temporary file or folder the mode a plain open()/mkdir() would have (mkstemp and
    mkdtemp make them private, 0600 / 0700, whatever the umask)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _temporary_prefix(target: Path) -> str:
    """The start of this process's temporary names for `target`: `.<name>.<pid>.`"""
    return f".{target.name}.{os.getpid()}."


def _running(pid: int) -> bool:
    """Whether a process `pid` runs on this host (True where that cannot be told)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def remove_stale_temporaries(target: Path) -> None:
    """Remove the temporary files and folders beside `target` whose writer no longer runs
    (killed before its cleanup could run); those of running processes are left alone."""
    if not target.parent.is_dir():
        return
    # a writer's temporary, or one a second atomic write made of it (`write_json` into an
    # `atomic_path` temporary: `..NAME.<pid>.<x>.tmp.<pid>.<y>.tmp`)
    pattern = re.compile(rf"\.+{re.escape(target.name)}\.(\d+)\.[^.]+\.tmp"
                         r"(?:\.\d+\.[^.]+\.tmp)*")
    for path in target.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if match is None or _running(int(match.group(1))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def holds_current_folder(path: Path) -> bool:
    """Whether `path` is the current folder or one above it: swapping it in whole
    (`atomic_directory`) would pull the folder this process works in away."""
    here = Path.cwd()
    return path.resolve() in (here, *here.parents)


def nearest_existing(path: Path) -> Path:
    """The nearest path above `path` that exists (a file there means `path` cannot be made)."""
    return next(parent for parent in path.parents if parent.exists())


def _make_parent(target: Path, advice: str) -> None:
    """Create the folder `target` goes in; a file in the way (the folder itself or one above
    it) is a one-line ArtifactError naming both, not mkdir's FileExistsError."""
    blocker = nearest_existing(target)
    if not blocker.is_dir():
        raise ArtifactError(f"{target}: {blocker} is a file, not a folder; {advice}")
    target.parent.mkdir(parents=True, exist_ok=True)


def _folder_problem(target: Path) -> ArtifactError:
    """A folder where `atomic_path` writes a file (a rename cannot replace it)."""
    return ArtifactError(f"{target}: is a folder; give a file path")


def _old_copy(target: Path) -> Path:
    """Where `atomic_directory` moves the old `target` folder while swapping in the new one."""
    return target.with_name(f".{target.name}.old")


def _discard_old_copy(old: Path, target: Path) -> None:
    """Delete `old` (`_old_copy(target)`), first renamed to one of this process's temporary
    names: a run killed part-way through the deletion leaves a stale temporary, removed by the
    next write, not a half-deleted `.NAME.old` that the next write would take for the whole
    old folder and put back in place of a missing target."""
    doomed = old.with_name(f"{_temporary_prefix(target)}old{os.urandom(4).hex()}.tmp")
    os.replace(old, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _check_swappable(target: Path) -> None:
    """A file where `atomic_directory` writes a folder is refused: the swap would move it
    aside and fail to delete it, leaving it hidden beside the new folder. So is a file (or
    link) where the old folder is moved aside: it is not a copy of ours to delete."""
    if target.exists() and not target.is_dir():
        raise ArtifactError(f"{target}: is a file; give a folder")
    old = _old_copy(target)
    if old.is_symlink() or (old.exists() and not old.is_dir()):
        raise ArtifactError(f"{old}: is a file in the way of replacing {target}; move it away")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` on success.

    An existing folder at `path`, or a file in place of a folder above it, is refused before
    anything is written (a one-line ArtifactError).
    """
    with atomic_paths([path]) as (tmp,):
        yield tmp


@contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of `paths`; on success rename them onto theirs, in
    order, Ctrl-C and SIGTERM held from the first rename to the last (`stop_signals_held`):
    an interrupt leaves all the old files or all the new ones, never a mix of two runs (only
    SIGKILL in the instant between two renames can). Each is refused as `atomic_path` refuses
    it before anything is written."""
    targets = [Path(path) for path in paths]
    for target in targets:
        if target.is_dir():
            raise _folder_problem(target)
        _make_parent(target, "give a file path in a folder")
        remove_stale_temporaries(target)
    tmps: list[Path] = []
    try:
        for target in targets:
            fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(target), suffix=".tmp",
                                            dir=target.parent)
            os.close(fd)
            tmps.append(Path(tmp_name))
        yield tmps
        raise_if_stopped()  # Ctrl-C or SIGTERM whose exception Python dropped: publish nothing
        with stop_signals_held():
            for tmp, target in zip(tmps, targets, strict=True):
                if tmp.exists():
                    _publish_mode(tmp)
                try:
                    os.replace(tmp, target)
                except IsADirectoryError:  # a folder made there while the work ran
                    raise _folder_problem(target) from None
    finally:
        for tmp in tmps:
            if tmp.exists():
                tmp.unlink()


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Run `writer(tmp_path)` and atomically move the result to `path`."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write a text file."""
    return write_with(path, lambda tmp: tmp.write_text(text))


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; swap it in for `path` on success.

    Readers see either the complete old folder or the complete new one (or, for the instant
    between the swap's two renames, none); Ctrl-C and SIGTERM wait for the swap to finish
    (`stop_signals_held`). A run killed (SIGKILL) in that instant leaves the old folder
    at `.NAME.old`: the next write puts it back first, so an interrupted write again keeps
    the old folder. A file at `path`, or in place of a folder above it, is refused before
    anything is written (a one-line ArtifactError), never moved aside.
    """
    target = Path(path)
    _check_swappable(target)
    old = _old_copy(target)
    if old.is_dir() and not target.exists():  # killed between the two renames below
        os.replace(old, target)
    _make_parent(target, "give a folder path that can be created")
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(target), suffix=".tmp",
                                dir=target.parent))
    try:
        yield tmp
        raise_if_stopped()  # as in atomic_path
        _publish_mode(tmp, directory=True)
        _check_swappable(target)  # again: either may have been made while the work ran
        with stop_signals_held():  # Ctrl-C between the two renames: no folder at all
            if old.exists():  # left beside the target by a run killed after the swap
                _discard_old_copy(old, target)
            if target.exists():
                os.replace(target, old)
            os.replace(tmp, target)
            if old.exists():
                _discard_old_copy(old, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
