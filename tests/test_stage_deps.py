"""dvc.yaml lists exactly the eenet code each stage runs.

Every stage runs in-process, in order, on a tiny workspace while a profiler records the eenet
files whose functions it calls (outside the params check every stage makes up front). A file
that runs but is not among the stage's `deps` leaves its artifact stale after a change; an
eenet dep that never runs reruns the stage for nothing.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml

from tests.robust_helpers import ROOT, tiny_params, write_params

pytestmark = pytest.mark.slow

STAGES: dict[str, Any] = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# Code that does not shape what a stage writes: reading and checking params.yaml, errors,
# atomic writes, JSON reading, name registries and device / thread selection.
NOT_CONTENT = {"eenet/params.py", "eenet/config.py", "eenet/errors.py", "eenet/atomic.py",
               "eenet/jsonio.py", "eenet/registry.py", "eenet/devices.py", "eenet/cli.py"}
# Listed though a tiny run may not call it: every policy's base class (its tie splitting runs
# only on tied scores).
LISTED_UNCALLED = {"eenet/schedulers/base.py"}


def _validating(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "validate_params":
            return True
        frame = frame.f_back
    return False


def _run_traced(stage: str) -> set[str]:
    """The eenet files whose functions run while `stage`'s script runs its dvc.yaml command."""
    script, *args = STAGES[stage]["cmd"].replace("${data.dataset}", "mnist1d").split()[1:]
    main = runpy.run_path(str(ROOT / script))["main"]
    prefix, used = str(ROOT / "eenet") + os.sep, set()

    def record(frame: FrameType, event: str, arg: Any) -> None:
        path = frame.f_code.co_filename
        own = path.startswith(prefix) and frame.f_code.co_name != "<module>"
        if event == "call" and own and not _validating(frame):
            used.add(Path(path).relative_to(ROOT).as_posix())

    sys.setprofile(record)
    try:
        main(*args)
    finally:
        sys.setprofile(None)
    return used


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Per stage, the eenet files it ran, the whole pipeline run once at tiny size."""
    params = tiny_params(budgets=["50%"])
    params["data"]["options"] = {"num_samples": 300, "val_fraction": 0.3}
    params["scoring"].update(warmup=1, repeats=3)
    params["measure"].update(limit=20, rounds=1, warmup=1, repeats=3, device="cpu")
    params["schedulers"]["eenet"].update(max_epochs=10)
    ws = tmp_path_factory.mktemp("deps")
    write_params(ws, params)
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        return {stage: _run_traced(stage) for stage in STAGES}
    finally:
        os.chdir(cwd)


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_deps_are_the_code_it_runs(used: dict[str, set[str]], stage: str) -> None:
    deps = [d for d in STAGES[stage]["deps"] if isinstance(d, str)]
    ran = {f for f in used[stage] if f not in NOT_CONTENT}
    missing = sorted(f for f in ran if not _covered(f, deps))
    assert not missing, f"{stage} runs {missing}, which its dvc.yaml deps do not list"
    unused = [d for d in deps if d.startswith("eenet/") and d not in LISTED_UNCALLED
              and not any(_covered(f, [d]) for f in ran)]
    assert not unused, f"{stage} lists {unused} in its dvc.yaml deps but never runs them"
