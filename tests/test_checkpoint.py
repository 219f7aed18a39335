"""Training checkpoints: the run fingerprint, which checkpoint is resumed, corrupt files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eenet.checkpoint import config_fingerprint, load_checkpoint, save_checkpoint
from eenet.errors import ArtifactError
from eenet.training import resumable_checkpoint


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
    save_checkpoint(tmp_path, {"epoch": 2, "fingerprint": "fp", "w": torch.arange(3.0)})
    state = resumable_checkpoint(tmp_path, "fp", 5)
    assert state is not None and state["epoch"] == 2
    torch.testing.assert_close(state["w"], torch.arange(3.0))
    assert resumable_checkpoint(tmp_path, "other", 5) is None  # params changed
    assert resumable_checkpoint(tmp_path, "fp", 3) is None  # epochs 0..2 done: finished


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


def test_a_checkpoint_that_is_not_a_torch_archive_is_called_corrupt(tmp_path: Path) -> None:
    """Garbage in last.pt is a corrupt checkpoint (torch.load's weights-only refusal of it
    read as if the file were a pickle it would not trust)."""
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ArtifactError, match=r"last\.pt: corrupt checkpoint \(not a torch.save "
                       r"archive\)$"):
        load_checkpoint(tmp_path)
