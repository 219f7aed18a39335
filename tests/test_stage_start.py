"""Ctrl-C or SIGTERM while a stage script still imports (torch: a second or two) ends it with one
line naming the script and status 130 / 143, as later in the stage.

Each real script of stages/ runs with a `sitecustomize` on PYTHONPATH that blocks its first
import outside the standard library and eenet.cli's own modules (where torch or numpy comes in)
until the signal arrives, so the signal lands inside that import every time. Python printed a
KeyboardInterrupt traceback from importlib's frames there, and SIGTERM ended the script with no
line at all. A new stage script that imports anything heavy outside `stage_start` fails here.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.robust_helpers import ROOT

STAGE_SCRIPTS = sorted((ROOT / "stages").glob("*.py"))

BLOCKER = '''
import signal, sys, time

# a stage run from a terminal has Python's own Ctrl-C handler, whoever launched the tests (a
# suite started in the background by a non-interactive shell inherits SIGINT ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
LIGHT = {"eenet", "eenet.cli", "eenet.commands", "eenet.errors", "eenet.termination"}


class BlockFirstHeavyImport:
    """Blocks the first import neither of the standard library nor of eenet.cli's own modules
    until a signal handler raises out of it; the rest import as usual."""

    blocked = False

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if cls.blocked or name in LIGHT or name.partition(".")[0] in sys.stdlib_module_names:
            return None
        cls.blocked = True
        print(f"blocked importing {name}", flush=True)
        while True:
            time.sleep(0.01)


sys.meta_path.insert(0, BlockFirstHeavyImport)
'''

STOPS = {"SIGINT": ("interrupted", 130), "SIGTERM": ("terminated", 128 + signal.SIGTERM)}


def main_arity(script: Path) -> int:
    """How many paths the script's `main` takes (read from its source, nothing imported)."""
    tree = ast.parse(script.read_text())
    main = next(node for node in tree.body
                if isinstance(node, ast.FunctionDef) and node.name == "main")
    return len(main.args.args)


@pytest.mark.parametrize("stop", sorted(STOPS))
@pytest.mark.parametrize("script", STAGE_SCRIPTS, ids=[path.stem for path in STAGE_SCRIPTS])
def test_a_stop_signal_while_a_stage_start_is_one_line(tmp_path: Path, script: Path,
                                                         stop: str) -> None:
    site, work = tmp_path / "site", tmp_path / "work"
    site.mkdir()
    work.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
           "PYTHONDONTWRITEBYTECODE": "1"}
    paths = [str(work / f"path{i}") for i in range(main_arity(script))]
    process = subprocess.Popen([sys.executable, str(script), *paths], cwd=work, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        blocked = process.stdout.readline()
        assert blocked.startswith("blocked importing "), process.communicate(timeout=60)
        process.send_signal(getattr(signal, stop))
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    word, status = STOPS[stop]
    assert process.returncode == status, stderr
    assert stderr.splitlines() == [f"{script.name}: {word} while starting (nothing written)"]
    assert stdout == ""
    assert list(work.iterdir()) == []


# a stage whose arguments are being parsed when the signal arrives: `stage_cli` asks its main
# for its parameters, and this main sends the signal then
WHILE_PARSING = """
import inspect, os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from eenet.cli import stage_cli


class SignalledWhileParsed:
    @property
    def __signature__(self):
        os.kill(os.getpid(), signal.SIGNAL)
        for _ in range(100):  # the handler runs here
            pass
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        return inspect.Signature([inspect.Parameter("out_file", kind)])

    def __call__(self, out_file):
        open(out_file, "w").write("ran")


sys.argv = ["stage.py", "out.txt"]
stage_cli(SignalledWhileParsed(), None)
"""


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_a_stop_signal_while_a_stage_parses_its_arguments_is_one_line(tmp_path: Path,
                                                                      stop: str) -> None:
    result = subprocess.run([sys.executable, "-c", WHILE_PARSING.replace("SIGNAL", stop)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    word, status = STOPS[stop]
    assert result.returncode == status, result.stderr
    assert result.stderr.splitlines() == [f"stage.py: {word} while starting (nothing written)"]
    assert list(tmp_path.iterdir()) == []
