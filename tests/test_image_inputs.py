"""Raw pixels into an image model: the model folder carries its training data's normalisation,
so `eenet predict --input` of uint8 images predicts as on the prepared split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from eenet.data import prepare_dataset
from eenet.data.prepared import PreparedDataset, read_meta, read_split
from eenet.inference import collect_exit_logits
from eenet.models.artifact import load_trained, read_trained_config
from eenet.sweep import fit_all
from eenet.train_config import TrainConfig
from eenet.training_run import train_to_artifact
from tests.preset_fixtures import write_cifar10

pytestmark = pytest.mark.slow
COSTS = np.array([1.0, 2.0, 3.5])
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A tiny ResNet trained one epoch on a fake CIFAR-10, and a max-p policy fitted on it."""
    root = tmp_path_factory.mktemp("images")
    write_cifar10(root / "raw")
    data = root / "cifar10"
    prepare_dataset("cifar10", data, 0, root=root / "raw", val_size=50, download=False,
                    checksums=False)
    train_to_artifact(data, root / "model", root / "checkpoints", root / "live",
                      {"name": "resnet56_3", "options": {"blocks": [1, 1, 1], "base_width": 4}},
                      TrainConfig(epochs=1, batch_size=50, device="cpu"))
    val = collect_exit_logits(load_trained(root / "model"), PreparedDataset(data, "val"),
                              torch.device("cpu"))
    index = fit_all(val, COSTS, ["maxprob"], [], 2.0, root / "fitted")
    return {"root": root, "data": data, "model": root / "model",
            "policy": root / "fitted" / index["entries"][0]["dir"]}


def _cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m eenet.cli ARGS` in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "eenet.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


def _predict(trained: dict[str, Path], *source: str) -> subprocess.CompletedProcess:
    return _cli("predict", "--model", str(trained["model"]), "--policy", str(trained["policy"]),
                "--device", "cpu", "--json", *source)


def test_the_model_folder_carries_its_training_datas_normalisation(trained) -> None:
    meta = read_meta(trained["data"])
    config = read_trained_config(trained["model"])
    assert config["input_normalisation"] == {"mean": meta["mean"], "std": meta["std"]}


def test_uint8_pixels_predict_as_the_prepared_split(trained, tmp_path) -> None:
    """The prepared test split's uint8 pixels (HWC, as stored, or CHW) give the predictions and
    exits of `--data`; they ran unnormalised before (every sample left at exit 0)."""
    on_split = _predict(trained, "--data", str(trained["data"]))
    assert on_split.returncode == 0, on_split.stderr
    expected = json.loads(on_split.stdout)
    x, y = read_split(trained["data"], "test")
    assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3)
    for name, pixels in (("hwc", x), ("chw", x.transpose(0, 3, 1, 2))):
        np.savez(tmp_path / f"{name}.npz", x=pixels, y=y)
        done = _predict(trained, "--input", str(tmp_path / f"{name}.npz"))
        assert done.returncode == 0 and done.stderr == "", done.stderr
        got = json.loads(done.stdout)
        assert got["predictions"] == expected["predictions"], name
        assert got["exits"] == expected["exits"], name
        assert got["summary"]["accuracy"] == expected["summary"]["accuracy"]


def test_float_pixels_get_a_note_and_a_wrong_shape_one_line(trained, tmp_path) -> None:
    x, _ = read_split(trained["data"], "test")
    np.save(tmp_path / "float.npy", x.transpose(0, 3, 1, 2).astype(np.float32))
    done = _predict(trained, "--input", str(tmp_path / "float.npy"))
    assert done.returncode == 0
    assert done.stderr.startswith(f"note: --input: {tmp_path / 'float.npy'}: values up to ")
    assert "give it as uint8" in done.stderr
    np.save(tmp_path / "unit.npy", x.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    done = _predict(trained, "--input", str(tmp_path / "unit.npy"))
    assert done.returncode == 0
    assert done.stderr.startswith(f"note: --input: {tmp_path / 'unit.npy'}: no value below 0; ")
    assert "pixels scaled to [0, 1]?" in done.stderr
    np.save(tmp_path / "small.npy", x[:, :16, :16])
    done = _predict(trained, "--input", str(tmp_path / "small.npy"))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"eenet predict: error: --input: {tmp_path / 'small.npy'}: uint8 images of shape "
        "(16, 16, 3); the "
        "model takes (32, 32, 3) (HWC) or (3, 32, 32) (CHW) per sample")


def test_uint8_pixels_without_a_recorded_normalisation_are_refused(trained, tmp_path) -> None:
    """A model folder written before it recorded the normalisation: one line, not a run on
    unnormalised pixels."""
    import shutil

    old = tmp_path / "model"
    shutil.copytree(trained["model"], old)
    config = json.loads((old / "config.json").read_text())
    del config["input_normalisation"]
    (old / "config.json").write_text(json.dumps(config))
    x, _ = read_split(trained["data"], "test")
    np.save(tmp_path / "x.npy", x)
    done = _cli("predict", "--model", str(old), "--policy", str(trained["policy"]), "--device",
                "cpu", "--input", str(tmp_path / "x.npy"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"eenet predict: error: --input: {tmp_path / 'x.npy'}: uint8 "
                                  "pixels, but the model records no input_normalisation")


def _folder_of_other_statistics(trained: dict[str, Path], folder: Path) -> Path:
    """The same splits in another folder whose meta.json records other per-channel statistics,
    as a folder prepared from another (here: darker, lower-contrast) training split would."""
    import shutil

    shutil.copytree(trained["data"], folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "mean": [0.2, 0.25, 0.3],
                                                  "std": [0.1, 0.1, 0.1]}))
    return folder


def test_dumped_logits_normalise_images_as_the_models_training_data(trained, tmp_path) -> None:
    """The same images give the same logits whatever folder holds them: they are normalised
    with the model's recorded training statistics, not with the statistics of the folder's
    own training split (its meta.json), which gave other inputs than the model was trained
    on."""
    from eenet.inference import dump_exit_outputs

    other = _folder_of_other_statistics(trained, tmp_path / "other")
    own = dump_exit_outputs(trained["model"], trained["data"], tmp_path / "own_logits")
    moved = dump_exit_outputs(trained["model"], other, tmp_path / "other_logits")
    for split in ("val", "test"):
        np.testing.assert_array_equal(moved[split].logits, own[split].logits, err_msg=split)


def test_predict_data_normalises_as_the_models_training_data(trained, tmp_path) -> None:
    """`--data` of a folder recording other statistics predicts as `--input` of its uint8
    pixels does (both normalised with the model's `input_normalisation`)."""
    other = _folder_of_other_statistics(trained, tmp_path / "other")
    x, y = read_split(other, "test")
    np.savez(tmp_path / "pixels.npz", x=x, y=y)
    on_pixels = _predict(trained, "--input", str(tmp_path / "pixels.npz"))
    on_split = _predict(trained, "--data", str(other))
    assert on_pixels.returncode == 0 and on_split.returncode == 0, on_split.stderr
    expected, got = json.loads(on_pixels.stdout), json.loads(on_split.stdout)
    assert got["predictions"] == expected["predictions"]
    assert got["exits"] == expected["exits"]
