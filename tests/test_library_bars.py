"""In a log (stderr no terminal) the Hugging Face libraries draw no progress bars, as eenet's
own do not: a stage or an `eenet` command switches theirs off before importing them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# a stage's start, then transformers loading a tiny saved BERT ("Loading weights" drew a bar)
LOAD_AFTER_STAGE_START = """
from eenet.cli import stage_start
with stage_start():
    from transformers import BertModel
BertModel.from_pretrained({folder!r})
import os
print(os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS"),
      os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS"))
"""


@pytest.fixture(scope="module")
def tiny_bert_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("bert") / "tiny"
    BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=8)).save_pretrained(folder)
    return folder


def _load(folder: Path, **env: str) -> subprocess.CompletedProcess:
    """The script above in a fresh interpreter, stderr a pipe (no terminal)."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.endswith("_DISABLE_PROGRESS_BARS")}
    environment.update(PYTHONPATH=str(ROOT), **env)
    done = subprocess.run([sys.executable, "-c", LOAD_AFTER_STAGE_START.format(folder=str(folder))],
                          capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_a_stage_in_a_log_draws_no_library_bar(tiny_bert_folder: Path) -> None:
    """transformers' "Loading weights" bar went into DVC's log (and datasets' "Generating
    train split"); after a stage's start both switches are on, and no bar is written."""
    done = _load(tiny_bert_folder)
    assert done.stdout.split() == ["1", "1"]
    assert "Loading weights" not in done.stderr and "%|" not in done.stderr, done.stderr


def test_a_switch_the_user_set_is_kept(tiny_bert_folder: Path) -> None:
    """HF_HUB_DISABLE_PROGRESS_BARS=0 set by the user is theirs: the bar is drawn."""
    done = _load(tiny_bert_folder, HF_HUB_DISABLE_PROGRESS_BARS="0")
    assert done.stdout.split() == ["0", "1"]
    assert "Loading weights" in done.stderr
