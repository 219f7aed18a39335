"""Offline: a preset whose data must be downloaded fails fast, through the download stage, with
one line saying what is missing and where to put it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.robust_helpers import stage_command, stage_env, tiny_params, write_params


def _download(path: Path, dataset: str, options: dict, **env: str) -> str:
    """Run the download stage for `dataset`; return its single stderr line (exit status 2)."""
    params = tiny_params()
    params["data"] = {"dataset": dataset, "seed": 0, "options": options}
    write_params(path, params)
    result = subprocess.run(stage_command("download", "data/out"), cwd=path,
                            env={**stage_env(), **env}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not (path / "data/out").exists()
    return lines[0]


def test_cifar10_without_its_files_says_what_to_download_and_where(tmp_path: Path) -> None:
    pytest.importorskip("eenet.data.cifar")
    root = tmp_path / "nothing"
    line = _download(tmp_path, "cifar10", {"root": str(root), "download": False})
    assert line.startswith(f"error: cifar10: could not load {root}/cifar-10-batches-py"), line
    assert "cifar-10-python.tar.gz" in line  # what is missing
    assert f"extract it into {root}/" in line  # where to put it


def test_ag_news_offline_says_how_to_provide_the_data(tmp_path: Path) -> None:
    pytest.importorskip("eenet.data.text")
    pytest.importorskip("datasets")
    empty = tmp_path / "hf"
    line = _download(tmp_path, "ag_news", {}, HF_HOME=str(empty), HF_DATASETS_OFFLINE="1",
                     HF_HUB_OFFLINE="1")
    assert line.startswith("error: ag_news: could not load the data (offline mode, "), line
    assert "data.options.local_path" in line and "Hugging Face cache" in line
