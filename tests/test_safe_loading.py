"""Safe loading: no pickle in the code; a malicious pickle where a checkpoint or weights file
is expected is refused with one error line, and its payload never runs."""

from __future__ import annotations

import ast
import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from eenet.data import prepare_dataset
from eenet.models import build_model
from eenet.models.artifact import save_trained
from tests.robust_helpers import ROOT, stage_error, tiny_params, write_params

TRAIN_ARGS = ("data", "artifacts/model", "artifacts/checkpoints", "reports/train")


class Payload:
    """Unpickling this runs `touch <marker>`: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def _python_files() -> list[Path]:
    return sorted([*(ROOT / "eenet").rglob("*.py"), *(ROOT / "stages").glob("*.py")])


def _unsafe_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        name, keywords = node.func.attr, {k.arg: k.value for k in node.keywords}
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        if owner in ("pickle", "dill", "cloudpickle", "joblib") and name.startswith(
            ("load", "Unpickler")
        ):
            found.append(f"{where} {owner}.{name}")
        weights_only = keywords.get("weights_only")
        if owner == "torch" and name == "load" and not (
            isinstance(weights_only, ast.Constant) and weights_only.value is True
        ):
            found.append(f"{where} torch.load without weights_only=True")
        allow = keywords.get("allow_pickle")
        if owner == "np" and name == "load" and not (
            isinstance(allow, ast.Constant) and allow.value is False
        ):
            found.append(f"{where} np.load without allow_pickle=False")
    return found


def test_no_unsafe_loading_in_the_code() -> None:
    assert [c for path in _python_files() for c in _unsafe_calls(path)] == []


@pytest.fixture
def train_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_params(tmp_path, tiny_params())
    prepare_dataset("mnist1d", tmp_path / "data", 0, num_samples=200, val_fraction=0.3)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# torch's warning on a pickle's protocol printed lines beside the one-line refusal
@pytest.mark.filterwarnings("error:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["pickle", "torch.save", "legacy torch.save"])
def test_malicious_checkpoint_is_refused(train_dir: Path, capsys, writer: str) -> None:
    marker = train_dir / "pwned"
    checkpoint = train_dir / "artifacts/checkpoints/last.pt"
    checkpoint.parent.mkdir(parents=True)
    if writer == "pickle":
        checkpoint.write_bytes(pickle.dumps({"epoch": 0, "model": Payload(marker)}))
    else:  # torch's legacy format is a pickle too, of torch.save's own protocol
        torch.save({"epoch": 0, "model": Payload(marker)}, checkpoint,
                   _use_new_zipfile_serialization=writer == "torch.save")
    message = stage_error(capsys, "train", *TRAIN_ARGS)
    assert re.fullmatch(
        re.escape("artifacts/checkpoints/last.pt: refused to load, not a plain checkpoint (")
        + r".+\); delete it to train from the start", message), message
    # what the file holds, not torch's advice to load it with weights_only=False
    assert "weights_only" not in message and "nsupported" in message, message
    # a pickle of its own is named as one (torch's reason alone: "Unsupported operand 149");
    # torch.save's files, its legacy pickle format too, are not
    assert ("a pickle, not a torch.save checkpoint: " in message) == (writer == "pickle")
    assert not marker.exists()
    assert not (train_dir / "artifacts/model").exists()
    # control: the payload is live, an unrestricted unpickler would have run it
    if writer == "pickle":
        pickle.loads(checkpoint.read_bytes())
    else:
        torch.load(checkpoint, weights_only=False)
    assert marker.exists()


def test_malicious_model_weights_are_refused(train_dir: Path, capsys) -> None:
    marker = train_dir / "pwned"
    params = tiny_params()
    options = params["model"]["options"]
    save_trained(build_model("resnet1d_3", 10, **options), "artifacts/model", "resnet1d_3", 10,
                 options)
    weights = train_dir / "artifacts/model/model.safetensors"
    weights.write_bytes(pickle.dumps({"weight": Payload(marker)}))
    message = stage_error(capsys, "dump_logits", "artifacts/model", "data", "artifacts/logits")
    assert re.fullmatch(
        re.escape("artifacts/model/model.safetensors: not a readable safetensors file (")
        + r".+\)", message), message
    assert not marker.exists()
    assert not (train_dir / "artifacts/logits").exists()
