"""Shared helpers of the robustness tests: tiny params, running stage scripts in a temp dir."""

from __future__ import annotations

import io
import os
import runpy
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from eenet.cli import STOPPED_NOTE
from eenet.cli import run_stage as run_stage_main

ROOT = Path(__file__).resolve().parents[1]


def tiny_params(**overrides: Any) -> dict[str, Any]:
    """The repository's params.yaml at tiny size (seconds on one CPU thread)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["options"] = {"num_samples": 1000, "val_fraction": 0.3}
    params["model"]["options"] = {"widths": [4, 8, 16], "blocks": [1, 1, 1]}
    params["train"].update(epochs=2, batch_size=64, threads=1, device="cpu")
    params["profile"].update(warmup=1, repeats=5, device="cpu")
    params["dump"]["device"] = "cpu"
    params["budgets"] = ["30%", "70%"]
    params.update(overrides)
    return params


def write_params(directory: Path, params: dict[str, Any]) -> Path:
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def dvc_stage_script(cmd: str, dataset: str = "mnist1d") -> tuple[Path, list[str]]:
    """The script file and the arguments of a dvc.yaml stage command (`python -m stages.X
    ARGS`, ${data.dataset} as `dataset`)."""
    words = cmd.replace("${data.dataset}", dataset).split()
    assert words[:2] == ["python", "-m"] and words[2].startswith("stages."), cmd
    return ROOT / f"{words[2].replace('.', '/')}.py", words[3:]


def stage_env() -> dict[str, str]:
    """Environment for running `stages/*.py` from another folder: the repo on PYTHONPATH."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def stage_command(stage: str, *args: str | os.PathLike) -> list[str]:
    return [sys.executable, str(ROOT / "stages" / f"{stage}.py"), *map(str, args)]


def run_stage(stage: str, cwd: Path, *args: str | os.PathLike) -> subprocess.CompletedProcess:
    """Run one stage script in `cwd` (which holds params.yaml)."""
    return subprocess.run(
        stage_command(stage, *args), cwd=cwd, env=stage_env(), capture_output=True, text=True
    )


def check_ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def assert_one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    """Exit status 2, stderr exactly `error: <message>`, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {message}"], result.stderr


def stage_error(capsys: pytest.CaptureFixture[str], stage: str, *args: str) -> str:
    """Run a stage's main in-process as its `__main__` does; return its one error line."""
    main = runpy.run_path(str(ROOT / "stages" / f"{stage}.py"))["main"]
    with pytest.raises(SystemExit) as exc:
        run_stage_main(main, *args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0].removeprefix("error: ")


def assert_terminated(proc: subprocess.Popen, err: str, note: str = STOPPED_NOTE) -> None:
    """A stage stopped by SIGTERM: the shell's status for it and one line on stderr, with the
    stage's note (`eenet.cli.RESUMES_NOTE` for training)."""
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == [f"terminated ({note})"]


class TerminalText(io.StringIO):
    """A stderr that says it is a terminal, keeping what is written to it."""

    def isatty(self) -> bool:
        return True
