"""Training checkpoints: the run fingerprint, which checkpoint is resumed, corrupt files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from eenet.checkpoint import (
    config_fingerprint,
    load_checkpoint,
    mark_delivered,
    save_checkpoint,
)
from eenet.data.prepared import PreparedDataset, write_meta, write_split
from eenet.errors import ArtifactError
from eenet.models import build_model
from eenet.resume import resumable_checkpoint
from eenet.train_config import TrainConfig
from eenet.training import train_model


def _state(fingerprint: str, epoch: int, **extra: Any) -> dict[str, Any]:
    """A checkpoint with every entry a resumed run reads (empty states)."""
    return {"fingerprint": fingerprint, "epoch": epoch, "model": {}, "optimizer": {},
            "scheduler": {}, "scaler": {}, "rng": torch.get_rng_state(), **extra}


def test_fingerprint_ignores_key_order_and_sees_every_value() -> None:
    """Params read back in another key order are the same run; any changed value, however
    deep, is another run (which must not resume this one's checkpoint)."""
    run = {"model": {"name": "resnet1d_3", "options": {"widths": [4, 8], "blocks": [1, 1]}},
           "train": {"epochs": 5, "lr": 0.1}}
    reordered = {"train": {"lr": 0.1, "epochs": 5},
                 "model": {"options": {"blocks": [1, 1], "widths": [4, 8]}, "name": "resnet1d_3"}}
    assert config_fingerprint(reordered) == config_fingerprint(run)
    deeper = {**run, "model": {**run["model"], "options": {"widths": [4, 16], "blocks": [1, 1]}}}
    for other in (deeper, {**run, "train": {"epochs": 6, "lr": 0.1}}, {**run, "data": None}):
        assert config_fingerprint(other) != config_fingerprint(run)


def test_only_an_unfinished_run_with_the_same_fingerprint_is_resumed(tmp_path: Path) -> None:
    assert resumable_checkpoint(tmp_path, "fp", 5) is None  # nothing saved yet
    save_checkpoint(tmp_path, _state("fp", 2, w=torch.arange(3.0)))
    state = resumable_checkpoint(tmp_path, "fp", 5)
    assert state is not None and state["epoch"] == 2
    torch.testing.assert_close(state["w"], torch.arange(3.0))
    assert resumable_checkpoint(tmp_path, "other", 5) is None  # params changed
    assert resumable_checkpoint(tmp_path, "fp", 3) is None  # epochs 0..2 done: finished


def test_a_finished_run_is_resumed_only_until_its_artifact_is_marked(tmp_path: Path) -> None:
    """A finished run's checkpoint is resumed (nothing to train) when asked to and it is of a
    run that marks its artifact written, until marked; an older one marks nothing: afresh."""
    from eenet.checkpoint import DELIVERED_FILE
    from eenet.resume import checkpoint_to_resume

    finished = _state("fp", 2, marks_delivery=True)
    save_checkpoint(tmp_path, finished)
    state, note = checkpoint_to_resume(tmp_path, "fp", 3, resume_finished=True)
    assert state is not None and state["epoch"] == 2 and note is None
    assert checkpoint_to_resume(tmp_path, "fp", 3) == (None, None)  # not asked to
    assert checkpoint_to_resume(tmp_path, "other", 3, resume_finished=True)[0] is None
    mark_delivered(tmp_path)
    assert checkpoint_to_resume(tmp_path, "fp", 3, resume_finished=True) == (None, None)
    save_checkpoint(tmp_path, finished)  # trained again to the same bytes: not delivered yet
    assert not (tmp_path / DELIVERED_FILE).exists()
    assert checkpoint_to_resume(tmp_path, "fp", 3, resume_finished=True)[0] is not None
    mark_delivered(tmp_path)
    torch.save({**finished, "w": torch.ones(2)}, tmp_path / "last.pt")  # another, copied in
    assert checkpoint_to_resume(tmp_path, "fp", 3, resume_finished=True)[0] is not None
    save_checkpoint(tmp_path, _state("fp", 2))  # written before runs marked their artifact
    assert checkpoint_to_resume(tmp_path, "fp", 3, resume_finished=True) == (None, None)


def test_a_delivered_finished_run_is_resumed_only_by_the_code_that_trained_it(
    tmp_path: Path,
) -> None:
    """A finished run whose artifact was written is resumed (nothing to train, its weights
    reused) by a run of the same fingerprint and the same code digest alone: not by other
    code, not without a digest, not from an older checkpoint recording none, and not when
    not asked to (`resume_finished`)."""
    from eenet.resume import checkpoint_to_resume

    save_checkpoint(tmp_path, _state("fp", 2, marks_delivery=True, code="a" * 64))
    mark_delivered(tmp_path)
    state, note = checkpoint_to_resume(tmp_path, "fp", 3, resume_finished=True, code="a" * 64)
    assert state is not None and state["epoch"] == 2 and note is None
    for fingerprint, code, finished in (("fp", "b" * 64, True), ("fp", None, True),
                                        ("other", "a" * 64, True), ("fp", "a" * 64, False)):
        assert checkpoint_to_resume(tmp_path, fingerprint, 3, resume_finished=finished,
                                    code=code)[0] is None
    assert checkpoint_to_resume(tmp_path, "fp", 4, resume_finished=True, code="a" * 64)[0] \
        is not None  # an unfinished run (more epochs asked) resumes whatever the code
    save_checkpoint(tmp_path, _state("fp", 2, marks_delivery=True))  # records no code
    mark_delivered(tmp_path)
    assert checkpoint_to_resume(tmp_path, "fp", 3, resume_finished=True, code="a" * 64)[0] \
        is None


def test_the_package_digest_sees_every_source_file(tmp_path: Path) -> None:
    """The code digest changes with any .py file's bytes or name, not with other files."""
    from eenet.digests import package_digest

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    first = package_digest(tmp_path)
    (tmp_path / "notes.txt").write_text("not code")
    assert package_digest(tmp_path) == first
    (tmp_path / "sub" / "b.py").write_text("y = 3\n")
    assert package_digest(tmp_path) != first
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    assert package_digest(tmp_path) == first
    (tmp_path / "sub" / "b.py").rename(tmp_path / "b.py")
    assert package_digest(tmp_path) != first
    assert len(package_digest()) == 64


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_a_truncated_checkpoint_is_a_one_line_error(tmp_path: Path, keep: float) -> None:
    """A checkpoint cut short (a full disk, a copy stopped midway) is an ArtifactError naming
    the file, not torch's multi-line RuntimeError or an EOFError."""
    path = save_checkpoint(tmp_path, {"epoch": 1, "w": torch.ones(100)})
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ArtifactError, match=r"last\.pt: corrupt checkpoint \(") as err:
        load_checkpoint(tmp_path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert str(err.value).endswith("; delete it to train from the start")


def test_a_checkpoint_with_damaged_weight_bytes_is_refused(tmp_path: Path) -> None:
    """Bytes flipped inside a weight record (a bad disk, a damaged copy) loaded as weights of
    about 1e38, and the finished run's model was written from them without a word (found by
    an audit): torch.load does not check the archive's CRCs; load_checkpoint does."""
    import zipfile

    weights = torch.linspace(-1, 1, 256)
    path = save_checkpoint(tmp_path, {"epoch": 1, "w": weights})
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))
    data = bytearray(path.read_bytes())
    header = info.header_offset  # a local file header: 30 bytes, the name, the extra field
    name_len = int.from_bytes(data[header + 26:header + 28], "little")
    extra_len = int.from_bytes(data[header + 28:header + 30], "little")
    start = header + 30 + name_len + extra_len
    for i in range(start, start + 16):
        data[i] ^= 0x40
    path.write_bytes(bytes(data))
    loaded = torch.load(path, weights_only=True)  # torch reads the damaged numbers as they are
    assert not torch.equal(loaded["w"], weights)
    with pytest.raises(ArtifactError, match=rf"^{re.escape(str(path))}: corrupt checkpoint "
                       r"\(record \S+/data/0 fails its CRC check: damaged bytes\); delete it to "
                       r"train from the start$"):
        load_checkpoint(tmp_path)


def test_a_checkpoint_that_is_not_a_torch_archive_is_called_corrupt(tmp_path: Path) -> None:
    """Garbage in last.pt is a corrupt checkpoint (torch.load's weights-only refusal of it
    read as if the file were a pickle it would not trust)."""
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ArtifactError, match=r"last\.pt: corrupt checkpoint \(not a torch.save "
                       r"archive\); delete it to train from the start$"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(("content", "problem"), [
    ([1, 2, 3], "a list, not a dict of training states"),
    (torch.ones(3), "a Tensor, not a dict of training states"),
    ({"epoch": 1, "model": {}}, "no 'fingerprint'"),
    ({k: v for k, v in _state("fp", 1).items() if k != "epoch"}, "no 'epoch'"),
    (_state("fp", "x"), "'epoch' is 'x', not an integer >= 0"),
    (_state("fp", True), "'epoch' is True, not an integer >= 0"),
    (_state("fp", -1), "'epoch' is -1, not an integer >= 0"),
    (_state("fp", 1, optimizer=[]), "'optimizer' is a list, not a state dict"),
    (_state("fp", 1, world_size="2"), "'world_size' is '2', not an integer >= 1"),
    (_state("fp", 1, history=[{"train_loss": "low"}]),
     "'history' is a list, not a list of per-epoch metrics"),
])
def test_a_checkpoint_of_the_wrong_shape_is_a_one_line_error(
    tmp_path: Path, content: Any, problem: str
) -> None:
    """Plain data that is no training checkpoint (a list, a bare tensor, a dict lacking an
    entry or holding one of the wrong type) is refused as a corrupt file is, not an
    AttributeError, KeyError or ValueError from resuming; the file is left as it was."""
    path = tmp_path / "last.pt"
    torch.save(content, path)
    data = path.read_bytes()
    with pytest.raises(ArtifactError) as err:
        resumable_checkpoint(tmp_path, "fp", 5)
    assert str(err.value) == f"{path}: not a training checkpoint ({problem})"
    assert path.read_bytes() == data


def test_a_malformed_checkpoint_of_another_run_is_trained_afresh(tmp_path: Path) -> None:
    """Only the fingerprint of another run's checkpoint is read: it is replaced, whatever the
    rest holds (an older format, say), as a checkpoint of changed params always was."""
    torch.save({"fingerprint": "other", "epoch": "x"}, tmp_path / "last.pt")
    assert resumable_checkpoint(tmp_path, "fp", 5) is None


def _write_waves(root: Path, n: int = 32, length: int = 16) -> None:
    """A tiny prepared sequence set (class k: a sine of frequency k + 1)."""
    rng = np.random.default_rng(0)
    t = np.arange(length) / length
    for split in ("train", "val"):
        labels = rng.integers(0, 10, n)
        write_split(root, split, np.sin(2 * np.pi * (labels[:, None] + 1) * t).astype(
            np.float32), labels)
    write_meta(root, {"dataset": "waves", "kind": "sequence", "num_classes": 10,
                      "sizes": {"train": n, "val": n}})


@pytest.mark.parametrize(("entry", "value", "problem"), [
    ("optimizer", {}, "its optimizer state does not load: KeyError: 'param_groups'"),
    ("rng", torch.zeros(3, dtype=torch.uint8), "its random state does not load: RuntimeError: "),
])
def test_a_checkpoint_whose_states_do_not_load_is_a_one_line_error(
    tmp_path: Path, entry: str, value: Any, problem: str
) -> None:
    """A checkpoint of the right shape whose optimizer (or random) state does not fit the run
    is refused when training resumes from it, not a traceback from load_state_dict."""
    _write_waves(tmp_path / "data")
    sets = PreparedDataset(tmp_path / "data", "train"), PreparedDataset(tmp_path / "data", "val")
    cfg = TrainConfig(epochs=2, batch_size=16, threads=1, device="cpu")

    def model() -> torch.nn.Module:
        return build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])

    train_model(model(), *sets, cfg, tmp_path / "ckpt", "fp", progress=False)
    path = tmp_path / "ckpt" / "last.pt"
    save_checkpoint(path.parent, {**load_checkpoint(path.parent), "epoch": 0, entry: value})
    with pytest.raises(ArtifactError) as err:
        train_model(model(), *sets, cfg, tmp_path / "ckpt", "fp", progress=False)
    message = str(err.value)
    assert message.startswith(f"{path}: not a training checkpoint ({problem}"), message
    assert message.endswith(")") and "\n" not in message


def test_a_checkpoint_not_resumed_is_named_unless_its_run_finished(tmp_path: Path) -> None:
    """checkpoint_to_resume's note: the fields that differ (long values by name, at most four
    and a count), another number of processes; none for a finished run."""
    from eenet.resume import checkpoint_to_resume

    old = {"train": {"epochs": 5, "lr": 0.1, "seed": 0, "gamma": 0.1, "momentum": 0.9,
                     "batch_size": 8}, "files": {"train": "a" * 64}}
    save_checkpoint(tmp_path, _state("old", 1, settings=old))
    new = {"train": {**old["train"], "lr": 0.2, "seed": 1, "gamma": 0.5, "batch_size": 4},
           "files": {"train": "b" * 64}}
    path = tmp_path / "last.pt"
    assert checkpoint_to_resume(tmp_path, "new", 5, settings=new) == (None, (
        f"checkpoint {path} (2 of 5 epochs) is of other training settings (files.train, "
        "train.batch_size 8 -> 4, train.gamma 0.1 -> 0.5, train.lr 0.1 -> 0.2, 1 more); "
        "training from the start"))
    save_checkpoint(tmp_path, _state("old", 4, settings=old))  # finished: nothing lost
    assert checkpoint_to_resume(tmp_path, "new", 5, settings=new) == (None, None)
    save_checkpoint(tmp_path, _state("fp", 1, world_size=2))
    assert checkpoint_to_resume(tmp_path, "fp", 5) == (None, (
        f"checkpoint {path} (2 of 5 epochs) is of 2 DDP processes, this run has 1; training "
        "from the start"))
    assert resumable_checkpoint(tmp_path, "fp", 5) is None
