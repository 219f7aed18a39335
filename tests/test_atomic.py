"""Atomic writes: every artifact write goes through `eenet.atomic`; an interrupted write leaves
the old artifact intact and no temporary file behind."""

from __future__ import annotations

import ast
import os
import shutil
import signal
import stat
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest
import torch

from eenet import atomic
from eenet.checkpoint import save_checkpoint
from eenet.errors import ArtifactError
from eenet.jsonio import write_json
from eenet.latency_table import save_latency
from eenet.models import build_model
from eenet.models.artifact import save_trained
from eenet.outputs import ExitOutputs, save_exit_outputs
from tests.robust_helpers import ROOT, assert_terminated

# call name -> index of the argument that is the destination (None: the object it is called on)
WRITERS: dict[str, int | None] = {
    "open": 0, "write_text": None, "write_bytes": None, "save": 1, "savez": 0,
    "savez_compressed": 0, "save_file": 1, "savefig": 0, "to_csv": 0, "dump": 1,
}


class Interrupted(Exception):
    pass


def _destinations(path: Path) -> list[tuple[int, str]]:
    """(line, destination source) of every file-writing call in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in WRITERS:
            continue
        if name == "open":
            mode = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax")):
                continue
        index = WRITERS[name]
        if index is None:
            target = func.value if isinstance(func, ast.Attribute) else None
        else:
            target = node.args[index] if len(node.args) > index else None
        if target is None:  # e.g. to_csv() returning text: nothing written
            continue
        found.append((node.lineno, ast.unparse(target)))
    return found


def test_every_artifact_write_goes_to_a_temporary_path() -> None:
    """Writers only ever write to the temporary path `eenet.atomic` hands them (`tmp...`).

    dvclive's training log under reports/train is written by dvclive itself and is not scanned.
    """
    files = [*(ROOT / "eenet").rglob("*.py"), *(ROOT / "stages").glob("*.py")]
    offenders = [
        f"{path.relative_to(ROOT)}:{line} writes {target}"
        for path in files if path.name != "atomic.py"
        for line, target in _destinations(path)
        if "tmp" not in target and target not in ("sys.stdout", "fh")  # fh: open(tmp, ...)
    ]
    assert offenders == []


def _no_temporaries(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_interrupted_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_json(target, {"old": 1})

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text('{"new": ')
        raise Interrupted

    with pytest.raises(Interrupted):
        atomic.write_with(target, half_then_fail)
    assert target.read_text() == '{\n  "old": 1\n}\n'
    _no_temporaries(tmp_path)


def test_interrupted_folder_write_keeps_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "schedulers"
    with atomic.atomic_directory(target) as tmp:
        (tmp / "index.json").write_text("old")
    with pytest.raises(Interrupted), atomic.atomic_directory(target) as tmp:
        (tmp / "index.json").write_text("new")
        (tmp / "half").write_text("x")
        raise Interrupted
    assert sorted(p.name for p in target.iterdir()) == ["index.json"]
    assert (target / "index.json").read_text() == "old"
    _no_temporaries(tmp_path)


def test_folder_write_killed_between_its_renames_gets_the_old_folder_back(
        tmp_path: Path) -> None:
    """A process killed after moving the old folder aside and before moving the new one in
    left only `.NAME.old`; the next write puts it back first, so that write, interrupted,
    keeps the old folder as any interrupted write does."""
    import subprocess
    import sys

    target = tmp_path / "schedulers"
    with atomic.atomic_directory(target) as tmp:
        (tmp / "index.json").write_text("old")
    killed_mid_swap = f"""
import os
from eenet import atomic
renames = []
def replace(src, dst):
    renames.append(dst)
    os.rename(src, dst)
    if len(renames) == 1:
        os._exit(9)
atomic.os.replace = replace
with atomic.atomic_directory({str(target)!r}) as tmp:
    (tmp / "index.json").write_text("new")
"""
    run = subprocess.run([sys.executable, "-c", killed_mid_swap], check=False)
    assert run.returncode == 9
    assert not target.exists() and (tmp_path / ".schedulers.old" / "index.json").is_file()
    with pytest.raises(Interrupted), atomic.atomic_directory(target) as tmp:
        raise Interrupted
    assert (target / "index.json").read_text() == "old"
    _no_temporaries(tmp_path)


def test_a_folder_write_killed_while_deleting_the_old_copy_leaves_none_to_put_back(
        tmp_path: Path) -> None:
    """A run killed part-way through deleting the old folder (moved aside, the new one in
    place) left a half-deleted `.NAME.old`; once the target was gone (`dvc repro` removes a
    stage's outputs first), the next write put that half back as the target, and that write,
    interrupted, left a partial folder. The old copy is now renamed to a temporary name
    before it is deleted: what a kill there leaves is a stale temporary, never put back."""
    target = tmp_path / "headline"
    with atomic.atomic_directory(target) as tmp:
        for name in ("a.json", "b.json", "index.json"):
            (tmp / name).write_text("old")
    killed_mid_delete = f"""
import os
from pathlib import Path
from eenet import atomic
def rmtree(path, ignore_errors=False):
    first = sorted(Path(path).iterdir())[0]
    first.unlink()  # one file deleted, then killed
    os._exit(9)
atomic.shutil.rmtree = rmtree
with atomic.atomic_directory({str(target)!r}) as tmp:
    for name in ("a.json", "b.json", "index.json"):
        (tmp / name).write_text("new")
"""
    run = subprocess.run([sys.executable, "-c", killed_mid_delete], check=False)
    assert run.returncode == 9
    assert sorted(p.name for p in target.iterdir()) == ["a.json", "b.json", "index.json"]
    shutil.rmtree(target)  # as `dvc repro` removes the stage's outputs before running it
    with pytest.raises(Interrupted), atomic.atomic_directory(target) as tmp:
        (tmp / "index.json").write_text("newer")
        raise Interrupted
    assert not target.exists()  # absent, not the old folder's remains
    _no_temporaries(tmp_path)


def _outputs(value: float) -> ExitOutputs:
    return ExitOutputs(np.full((2, 4, 3), value, dtype=np.float32), np.arange(4) % 3)


def _fail_midway(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> None:
    """Make `module.name(obj, dest, ...)`-style writers write a few bytes and then fail."""
    def partial(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        dest = next(a for a in args if isinstance(a, (str, Path)) or hasattr(a, "write"))
        if hasattr(dest, "write"):
            dest.write(b"PK\x03\x04 half")
        else:
            Path(dest).write_bytes(b"half")
        raise Interrupted

    monkeypatch.setattr(module, name, partial)


@pytest.mark.parametrize("artifact", ["exit outputs", "latency", "checkpoint", "weights"])
def test_interrupted_artifact_writers_keep_the_old_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifact: str
) -> None:
    import eenet.checkpoint
    import eenet.models.artifact
    import eenet.outputs

    model = build_model("resnet1d_3", 10, widths=[4, 8, 16], blocks=[1, 1, 1])
    writers = {
        "exit outputs": (tmp_path / "val.npz", lambda: save_exit_outputs(
            tmp_path / "val.npz", _outputs(1.0)), (eenet.outputs.np, "savez")),
        "latency": (tmp_path / "latency.json", lambda: save_latency(
            tmp_path / "latency.json", {"cumulative_ms": [1.0, 2.0]}),
            (eenet.atomic.Path, "write_text")),
        "checkpoint": (tmp_path / "last.pt", lambda: save_checkpoint(
            tmp_path, {"epoch": 1, "w": torch.ones(3)}), (eenet.checkpoint.torch, "save")),
        "weights": (tmp_path / "model.safetensors", lambda: save_trained(
            model, tmp_path, "resnet1d_3", 10), (eenet.models.artifact, "save_file")),
    }
    path, write, (module, name) = writers[artifact]
    write()
    old = path.read_bytes()
    _fail_midway(monkeypatch, module, name)
    with pytest.raises(Interrupted):
        write()
    assert path.read_bytes() == old
    _no_temporaries(tmp_path)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_and_folders_follow_the_umask(tmp_path, umask) -> None:
    """Artifacts get the mode a plain write would give them (readable by others under umask
    022), not the private mode of the temporary file or folder they were written in."""
    previous = os.umask(umask)
    try:
        atomic.write_text(tmp_path / "metrics.json", "{}\n")
        save_exit_outputs(tmp_path / "val.npz", ExitOutputs(np.zeros((2, 3, 4), np.float32),
                                                            np.zeros(3, np.int64)))
        with atomic.atomic_directory(tmp_path / "schedulers") as folder:
            atomic.write_text(folder / "index.json", "{}\n")
        # safetensors creates its own file private (0600): the weights must be readable too
        save_trained(build_model("resnet1d_3", 10, widths=[4, 8, 16], blocks=[1, 1, 1]),
                     tmp_path / "model", "resnet1d_3", 10)
        save_checkpoint(tmp_path / "checkpoints", {"epoch": 1})
    finally:
        os.umask(previous)
    for name in ("metrics.json", "val.npz", "schedulers/index.json", "model/model.safetensors",
                 "model/config.json", "checkpoints/last.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
    assert stat.S_IMODE((tmp_path / "schedulers").stat().st_mode) == 0o777 & ~umask


def test_an_equal_checkpoint_is_written_as_equal_bytes(tmp_path: Path) -> None:
    """A rerun that trains the same weights writes the same checkpoint file (DVC then sees an
    unchanged output), although every write goes through a fresh temporary name."""
    state = {"epoch": 3, "w": torch.arange(5.0), "rng": torch.get_rng_state()}
    first = save_checkpoint(tmp_path / "a", state).read_bytes()
    assert save_checkpoint(tmp_path / "b", state).read_bytes() == first
    assert save_checkpoint(tmp_path / "a", state).read_bytes() == first


def test_folder_replacement_leaves_no_old_copy_even_after_a_crash(tmp_path: Path) -> None:
    """Replacing a folder moves the old one aside and deletes it; a `.<name>.old` left by a
    run killed between the two renames (a non-empty folder, which a rename cannot replace)
    does not block the next write."""
    target = tmp_path / "schedulers"
    for content in ("first", "second"):
        with atomic.atomic_directory(target) as tmp:
            (tmp / "index.json").write_text(content)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["schedulers"]
        assert (target / "index.json").read_text() == content
    stale = tmp_path / ".schedulers.old"
    stale.mkdir()
    (stale / "index.json").write_text("from a killed run")
    with atomic.atomic_directory(target) as tmp:
        (tmp / "index.json").write_text("third")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schedulers"]
    assert (target / "index.json").read_text() == "third"
    # killed after the first rename: the target is gone, the old copy stays beside it
    shutil.rmtree(target)
    stale.mkdir()
    (stale / "index.json").write_text("from a killed run")
    with atomic.atomic_directory(target) as tmp:
        (tmp / "index.json").write_text("fourth")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schedulers"]


def test_an_interrupted_model_save_keeps_the_whole_old_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights and config.json are swapped in together: a save interrupted after the new
    weights were written (at the config) leaves the old weights beside the old config."""
    import eenet.models.artifact

    folder = tmp_path / "model"
    save_trained(build_model("resnet1d_3", 10, widths=[4, 8, 16], blocks=[1, 1, 1]), folder,
                 "resnet1d_3", 10, {"widths": [4, 8, 16], "blocks": [1, 1, 1]})
    old = {p.name: p.read_bytes() for p in folder.iterdir()}
    wider = build_model("resnet1d_3", 10, widths=[4, 8, 32], blocks=[1, 1, 1])
    monkeypatch.setattr(eenet.models.artifact, "write_json",
                        lambda *args, **kwargs: (_ for _ in ()).throw(Interrupted()))
    with pytest.raises(Interrupted):
        save_trained(wider, folder, "resnet1d_3", 10, {"widths": [4, 8, 32], "blocks": [1, 1, 1]})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == old
    _no_temporaries(tmp_path)


def test_a_model_is_not_saved_over_a_folder_of_other_files(tmp_path: Path) -> None:
    """The model folder is replaced whole, so a folder holding anything else is refused."""
    (tmp_path / "notes.txt").write_text("keep me")
    model = build_model("resnet1d_3", 10, widths=[4, 8, 16], blocks=[1, 1, 1])
    with pytest.raises(ArtifactError, match=r"holds notes.txt besides a trained model"):
        save_trained(model, tmp_path, "resnet1d_3", 10)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# a stage's main, run as its `__main__` runs it, killed with SIGTERM while its output folder is
# half written
_SIGTERM_STAGE = """
import sys, time
from pathlib import Path
from eenet.atomic import atomic_directory
from eenet.cli import run_stage

def main(out: str) -> None:
    with atomic_directory(out) as tmp:
        (tmp / "val.npz").write_bytes(b"half")
        print("writing", flush=True)
        time.sleep(60)

run_stage(main, sys.argv[1])
"""


def test_a_stage_terminated_with_sigterm_leaves_no_temporaries(tmp_path: Path) -> None:
    """SIGTERM (kill, timeout, a job scheduler) cleans up like Ctrl-C: Python's default action
    ended the process at once and left `.logits.*.tmp/` with half a val.npz beside the output."""
    target = tmp_path / "artifacts" / "logits"
    with atomic.atomic_directory(target) as tmp:
        (tmp / "val.npz").write_text("old")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SIGTERM_STAGE, str(target)], cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline() == "writing\n"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert_terminated(proc, err)
    assert (target / "val.npz").read_text() == "old"
    _no_temporaries(target.parent)


_KILLED_WRITER = """
import sys, time
from eenet.atomic import atomic_directory, atomic_path

with atomic_directory(sys.argv[1]) as folder, atomic_path(sys.argv[2]) as file:
    (folder / "val.npz").write_bytes(b"half")
    file.write_text('{"half": ')
    print("writing", flush=True)
    time.sleep(60)
"""


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    """SIGKILL (or the out-of-memory killer) runs no cleanup: its half-written temporaries
    stayed beside the outputs for good (a model's weights, reports/ files git then lists).
    The next write to the same target removes them; a running writer's are kept."""
    folder, file = tmp_path / "logits", tmp_path / "metrics.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(folder), str(file)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline() == "writing\n"
    finally:
        proc.kill()
        proc.wait()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert [name.split(".")[1] for name in left] == ["logits", "metrics"], left
    running = tmp_path / f".logits.{os.getpid()}.abcd1234.tmp"  # a writer still at work
    running.mkdir()

    with atomic.atomic_directory(folder) as tmp:
        (tmp / "val.npz").write_text("new")
    write_json(file, {"new": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name, "logits",
                                                          "metrics.json"]


def test_what_a_killed_writer_left_is_not_listed_by_git() -> None:
    """Until the next write removes them, a killed writer's temporaries in reports/ (kept by
    git) showed in `git status` as new files to add."""
    for target in ("reports/train", "reports/metrics.json", "artifacts/model"):
        name = f"{atomic._temporary_prefix(Path(target))}k3x9_q2z.tmp"
        path = str(Path(target).parent / name)
        check = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT)
        assert check.returncode == 0, f"{path} is not ignored by git"
    # a folder swap killed between its renames leaves the old folder at `.NAME.old`
    old = str(atomic._old_copy(Path("reports/train")))
    check = subprocess.run(["git", "check-ignore", "--no-index", "-q", old], cwd=ROOT)
    assert check.returncode == 0, f"{old} is not ignored by git"


def _never_entered(context: AbstractContextManager[Path]) -> None:
    """Enter `context` (an atomic writer) expecting its refusal before the body runs."""
    with context:
        raise AssertionError("the write went ahead")


def test_a_folder_is_not_written_over_a_file(tmp_path: Path) -> None:
    """A stage given a file for its output folder: the file was moved aside to a hidden
    `.notes.txt.old` (which the cleanup's rmtree could not delete) and the folder written in
    its place; the next run failed with NotADirectoryError. Now both runs refuse at once."""
    notes = tmp_path / "notes.txt"
    notes.write_text("important")
    for _ in range(2):
        with pytest.raises(ArtifactError) as err:
            _never_entered(atomic.atomic_directory(notes))
        assert str(err.value) == f"{notes}: is a file; give a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert notes.read_text() == "important"


def test_a_file_where_the_old_folder_is_moved_aside_is_kept(tmp_path: Path) -> None:
    """A file at `.<name>.old` (a user's file the swap once moved there) is not deleted, nor
    an rmtree traceback: the write is refused, naming it."""
    target, old = tmp_path / "notes.txt", tmp_path / ".notes.txt.old"
    target.mkdir()
    old.write_text("important")
    with pytest.raises(ArtifactError) as err:
        _never_entered(atomic.atomic_directory(target))
    assert str(err.value) == f"{old}: is a file in the way of replacing {target}; move it away"
    assert old.read_text() == "important" and list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt.old", "notes.txt"]


def test_a_file_is_not_written_over_a_folder(tmp_path: Path) -> None:
    """A file artifact given an existing folder's path is refused before the work (not an
    IsADirectoryError at the final rename), and so is a folder made there while it ran."""
    folder = tmp_path / "metrics.json"
    folder.mkdir()
    (folder / "keep.txt").write_text("important")
    message = f"{folder}: is a folder; give a file path"
    with pytest.raises(ArtifactError) as err:
        _never_entered(atomic.atomic_path(folder))
    assert str(err.value) == message
    with pytest.raises(ArtifactError) as err:
        write_json(folder, {"new": 1})
    assert str(err.value) == message
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    assert (folder / "keep.txt").read_text() == "important"

    late = tmp_path / "late.json"
    with pytest.raises(ArtifactError) as err, atomic.atomic_path(late) as tmp:
        tmp.write_text("{}")
        late.mkdir()
    assert str(err.value) == f"{late}: is a folder; give a file path"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.json", "metrics.json"]


@pytest.mark.parametrize("directory", [False, True])
@pytest.mark.parametrize("depth", [1, 2])
def test_a_file_in_place_of_a_parent_folder_is_a_one_line_error(
    tmp_path: Path, directory: bool, depth: int
) -> None:
    """`params.yaml/sub` (and deeper): mkdir's FileExistsError or NotADirectoryError became a
    one-line error naming the target and the file in the way, which is left as it was."""
    params = tmp_path / "params.yaml"
    params.write_text("seed: 0\n")
    target = params.joinpath(*["sub"] * depth)
    writer = atomic.atomic_directory if directory else atomic.atomic_path
    advice = ("give a folder path that can be created" if directory
              else "give a file path in a folder")
    with pytest.raises(ArtifactError) as err:
        _never_entered(writer(target))
    assert str(err.value) == f"{target}: {params} is a file, not a folder; {advice}"
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]
    assert params.read_text() == "seed: 0\n"


def _signal_after_rename(monkeypatch: pytest.MonkeyPatch, signum: int, after: int) -> list:
    """Send `signum` to this process right after atomic's `after`-th rename (a Ctrl-C landing
    between two renames); the renames' destinations are listed in the list returned."""
    renames: list = []

    def replace(src, dst):
        os.rename(src, dst)
        renames.append(Path(dst).name)
        if len(renames) == after:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(atomic.os, "replace", replace)
    return renames


def test_ctrl_c_between_files_written_together_waits_for_the_last(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluate stage's five reports and the plot stage's three figures were each renamed
    into place on its own: a Ctrl-C after the first rename left a new file beside old ones
    (figures of two runs). Files written together are all renamed before it acts."""
    files = [tmp_path / name for name in ("exits.csv", "sweep.csv", "metrics.json")]
    for file in files:
        file.write_text("old")
    renames = _signal_after_rename(monkeypatch, signal.SIGINT, after=1)
    with pytest.raises(KeyboardInterrupt), atomic.atomic_paths(files) as tmps:
        for tmp in tmps:
            tmp.write_text("new")
    assert renames == ["exits.csv", "sweep.csv", "metrics.json"]
    assert [file.read_text() for file in files] == ["new"] * 3
    _no_temporaries(tmp_path)


def test_ctrl_c_between_a_folder_swaps_two_renames_leaves_the_new_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C after the old folder was moved aside and before the new one was moved in
    deleted the finished new folder and left no folder at all (the old one hidden at
    `.NAME.old`). The swap now finishes first, and the old copy is deleted."""
    target = tmp_path / "schedulers"
    with atomic.atomic_directory(target) as tmp:
        (tmp / "index.json").write_text("old")
    renames = _signal_after_rename(monkeypatch, signal.SIGINT, after=1)
    with pytest.raises(KeyboardInterrupt), atomic.atomic_directory(target) as tmp:
        (tmp / "index.json").write_text("new")
    assert renames[:2] == [".schedulers.old", "schedulers"]
    assert (target / "index.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schedulers"]


def test_a_stop_signal_without_a_python_handler_still_ends_a_held_block() -> None:
    """SIGTERM with its default action, held over the renames: the process ends by it after
    the block, not inside it."""
    code = """
import os, signal, sys
from eenet.termination import stop_signals_held
with stop_signals_held():
    os.kill(os.getpid(), signal.SIGTERM)
    print("held", flush=True)
print("not reached", flush=True)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert run.returncode == -signal.SIGTERM and run.stdout == "held\n", run


def test_the_next_write_removes_a_killed_writers_nested_temporary(tmp_path: Path) -> None:
    """`write_json` into an `atomic_path` temporary makes a temporary of that temporary
    (`..metrics.json.<pid>.<x>.tmp.<pid>.<y>.tmp`); killed while writing it, the writer left
    a file no later write removed."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    nested = tmp_path / f"..metrics.json.{dead}.ab_cd12.tmp.{dead}.xy_z34.tmp"
    nested.write_text("{")
    write_json(tmp_path / "metrics.json", {"new": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
