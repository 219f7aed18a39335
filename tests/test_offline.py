"""Offline: a preset whose data must be downloaded fails fast, through the download stage, with
one line saying what is missing and where to put it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.robust_helpers import stage_command, stage_env, tiny_params, write_params


def _download(path: Path, dataset: str, options: dict, env: dict[str, str] | None = None,
              **extra: str) -> str:
    """Run the download stage for `dataset` with `env` (default stage_env()) and `extra`;
    return its single stderr line (exit status 2)."""
    params = tiny_params()
    params["data"] = {"dataset": dataset, "seed": 0, "options": options}
    write_params(path, params)
    result = subprocess.run(stage_command("download", "data/out"), cwd=path,
                            env={**(env if env is not None else stage_env()), **extra},
                            capture_output=True, text=True, timeout=120)
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


# behind a proxy the hub's host is not checked here (it need not resolve): none for these tests
NO_PROXY = {f"{scheme}_proxy": "" for scheme in ("http", "https", "all")} | {
    f"{scheme.upper()}_PROXY": "" for scheme in ("http", "https", "all")}
OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def online_env(**env: str) -> dict[str, str]:
    """stage_env() with `env`, without the offline flags: the tests of an unreachable hub need
    offline mode off (it is what they are about), whatever the shell running pytest set."""
    return {key: value for key, value in {**stage_env(), **env}.items()
            if key not in OFFLINE_FLAGS}


def test_text_data_with_the_hub_unreachable_fails_at_once_in_one_line(tmp_path: Path) -> None:
    """Without offline mode set, an unreachable hub was retried for about 23 s, each retry a
    warning on stderr before the error (not one line); now the cache is read at once. The
    endpoint's .invalid domain never resolves (RFC 2606), on any machine."""
    pytest.importorskip("eenet.data.text")
    pytest.importorskip("datasets")
    line = _download(tmp_path, "ag_news", {}, env=online_env(
        HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="https://hub.invalid", **NO_PROXY))
    assert line.startswith("error: ag_news: could not load the data (the hub cannot be reached: "
                           "hub.invalid does not resolve"), line
    assert "data.options.local_path" in line


def test_pretrained_bert_with_the_hub_unreachable_fails_at_once_in_one_line(
        tmp_path: Path) -> None:
    """The default `pretrained: bert-base-uncased`, not cached, with the hub unreachable: one
    line on stderr naming why (23 s of retries, each a warning, before; a tokenizer several
    minutes)."""
    pytest.importorskip("transformers")
    code = ("from eenet.cli import run_stage\n"
            "from eenet.models import build_model\n"
            "run_stage(build_model, 'bert_4', 4)\n")
    env = online_env(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="https://hub.invalid",
                     **NO_PROXY)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: model.options.pretrained: could not load "
                               "'bert-base-uncased' ("), lines[0]
    assert "the hub cannot be reached: hub.invalid does not resolve" in lines[0]


PROXY_VARIABLES = [f"{name}_proxy" for name in ("http", "https", "all", "no")]


@pytest.mark.parametrize(("env", "checked"), [
    ({"no_proxy": "localhost,127.0.0.1"}, True),  # no proxy at all: 23 s of retries before
    ({"https_proxy": "http://proxy.invalid:3128"}, False),
    ({"ALL_PROXY": "http://proxy.invalid:3128"}, False),
    ({"http_proxy": "http://proxy.invalid:3128"}, True),  # not for the hub's https
    ({"https_proxy": "http://proxy.invalid:3128", "no_proxy": "hub.invalid"}, True),
])
def test_only_a_proxy_the_hub_goes_through_skips_the_hub_check(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], checked: bool) -> None:
    """A `no_proxy` set without any proxy (common on clusters) counted as "behind a proxy": the
    unreachable hub was not noticed, and a BERT preset retried for about 23 s per file, each
    retry a line on stderr (31 s and 12 lines against 9 s and one line on this machine)."""
    constants = pytest.importorskip("huggingface_hub.constants")
    from eenet.hub import hub_unreachable

    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.invalid")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    hub_unreachable.cache_clear()
    try:
        found = hub_unreachable()
    finally:
        hub_unreachable.cache_clear()
    if checked:
        assert found is not None and found.startswith("hub.invalid does not resolve"), found
    else:
        assert found is None
