"""docs/python.md's examples, and docs/schedulers.md's API example, run as written: each
`python` block in a fresh folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
# schedulers.md's "API" block: it once used val, test and costs without making them
SCHEDULERS_BLOCKS = re.findall(r"```python\n(.*?)```",
                               (ROOT / "docs" / "schedulers.md").read_text(), flags=re.DOTALL)


def test_the_page_has_its_three_examples():
    assert len(BLOCKS) == 3
    assert len(SCHEDULERS_BLOCKS) == 1


@pytest.mark.parametrize("block", BLOCKS + SCHEDULERS_BLOCKS, ids=[
    *(f"python.md-{index}" for index in range(len(BLOCKS))),
    *(f"schedulers.md-{index}" for index in range(len(SCHEDULERS_BLOCKS)))])
def test_an_example_runs_as_written(tmp_path, block):
    """A block that raises (a name gone from the package, an assertion of the example
    failing) fails here, with the block's own traceback."""
    script = tmp_path / "example.py"
    script.write_text(block)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    assert proc.returncode == 0, proc.stdout + proc.stderr
