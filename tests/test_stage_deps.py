"""dvc.yaml lists exactly the eenet code and the params each stage uses.

Every stage runs in-process, in order, on a tiny workspace while a profiler records the eenet
files whose functions it calls (outside the params check every stage makes up front), and
`read_params` hands it a mapping that records every params value it fetches. A file or param
that is used but not among the stage's `deps` / `params` leaves its artifact stale after a
change; a listed one that is never used reruns the stage for nothing.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

import pytest
import yaml

import eenet
import eenet.params
from tests.preset_fixtures import tiny_bert_sources, write_ag_news, write_cifar10
from tests.robust_helpers import ROOT, dvc_stage_script, tiny_params, write_params

pytestmark = pytest.mark.slow

STAGES: dict[str, Any] = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# Code that does not shape what a stage writes: reading and checking params.yaml (and each
# setting's value), errors, the check that an optional package is installed, atomic writes
# (the bytes are the caller's; JSON's layout is eenet/jsonio.py's), name registries, the
# command line's plumbing and stop handling, the notes on local copies
# outside the folders DVC watches and the checks of what evaluate_policies is given.
NOT_CONTENT = {"eenet/params.py", "eenet/config.py", "eenet/checks.py", "eenet/type_specs.py",
               "eenet/errors.py", "eenet/extras.py",
               "eenet/atomic.py", "eenet/registry.py",
               "eenet/cli.py", "eenet/termination.py", "eenet/local_copies.py",
               "eenet/evaluation_checks.py"}
# Listed though a tiny run may not call it: every policy's base class (its tie splitting runs
# only on tied scores), the training augmentation (image data sets only) and the
# counter-based numbers both draw.
LISTED_UNCALLED = {"eenet/schedulers/base.py", "eenet/data/augment.py", "eenet/splitmix.py"}


def _validating(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "validate_params":
            return True
        frame = frame.f_back
    return False


class _Reads(dict):
    """Params that record, in `log`, the dotted key of every value fetched from them.

    A nested mapping comes back as another `_Reads` and is not itself a read (its keys are):
    the log holds leaf keys, `schedulers.eenet.hidden`, so a stage that copies or unpacks a
    whole group reads every key in it, and one that picks keys reads just those. A key asked
    for but absent is a read too: adding it to params.yaml would change what the stage does.
    """

    def __init__(self, data: dict[str, Any], log: set[str], prefix: str = "") -> None:
        super().__init__({k: _Reads(v, log, f"{prefix}{k}.") if isinstance(v, dict) and v else v
                          for k, v in data.items()})
        self._log, self._prefix = log, prefix

    def _fetch(self, key: Any, *default: Any) -> Any:
        value = super().get(key, *default) if default else super().__getitem__(key)
        if not isinstance(value, _Reads):
            self._log.add(f"{self._prefix}{key}")
        return value

    def __getitem__(self, key: Any) -> Any:
        return self._fetch(key)

    def get(self, key: Any, default: Any = None) -> Any:
        return self._fetch(key, default)

    def __contains__(self, key: object) -> bool:
        if not isinstance(super().get(key), _Reads):
            self._log.add(f"{self._prefix}{key}")
        return super().__contains__(key)

    def __iter__(self) -> Any:  # overridden, so dict(x), {**x} and f(**x) go through [] above
        return super().__iter__()

    def items(self) -> Any:
        return [(k, self[k]) for k in self]

    def values(self) -> Any:
        return [self[k] for k in self]

    def copy(self) -> dict[str, Any]:
        return {k: self[k] for k in self}

    def pop(self, key: Any, *default: Any) -> Any:
        value = self._fetch(key, *default)
        super().pop(key, None)
        return value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        value = self._fetch(key, default)
        super().setdefault(key, default)
        return value


class Run(NamedTuple):
    files: set[str]  # eenet files whose functions ran
    params: set[str]  # dotted params keys read


def _run_traced(stage: str, dataset: str = "mnist1d") -> Run:
    """What runs while `stage`'s script runs its dvc.yaml command (on `dataset`): the eenet
    files whose functions it calls, and the params keys it reads. `read_params` validates the
    whole file before the recording mapping wraps it, so that check reads nothing here."""
    script, args = dvc_stage_script(STAGES[stage]["cmd"], dataset)
    read_params, reads = eenet.params.read_params, set()
    with pytest.MonkeyPatch.context() as patch:  # the script imports the patched function
        patch.setattr(eenet.params, "read_params", lambda *a, **k: _Reads(read_params(*a, **k),
                                                                           reads))
        main = runpy.run_path(str(script))["main"]
        return Run(_profiled(main, args), reads)


def _profiled(main: Any, args: list[str], checking: bool = False) -> set[str]:
    """The eenet files whose functions `main(*args)` calls: outside the params check, or
    (`checking`) inside it too."""
    prefix, used = str(ROOT / "eenet") + os.sep, set()

    def record(frame: FrameType, event: str, arg: Any) -> None:
        path = frame.f_code.co_filename
        own = path.startswith(prefix) and frame.f_code.co_name != "<module>"
        if event == "call" and own and (checking or not _validating(frame)):
            used.add(Path(path).relative_to(ROOT).as_posix())

    sys.setprofile(record)
    try:
        main(*args)
    finally:
        sys.setprofile(None)
    return used


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Per stage, the eenet files it ran and the params it read, the whole pipeline run once
    at tiny size."""
    params = tiny_params(budgets=["50%"])
    params["data"]["options"] = {"num_samples": 300, "val_fraction": 0.3}
    params["scoring"].update(warmup=1, repeats=3)
    params["measure"].update(limit=20, rounds=1, warmup=1, repeats=3, device="cpu")
    params["schedulers"]["eenet"].update(max_epochs=10)
    # every eenet module imported before anything is traced: a class body (or a call at a
    # module's top) runs at its first import only, so what a stage was recorded running
    # depended on which tests had imported what before (hit_counter.py's class body counted
    # for profile_eenet_scoring when this file ran alone, not after test_schedulers.py)
    for module in pkgutil.walk_packages(eenet.__path__, "eenet."):
        if module.name != "eenet.__main__":
            importlib.import_module(module.name)
    ws = tmp_path_factory.mktemp("deps")
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        # import_latency reads a table only where profile.table names one: traced with one
        # first (a CSV, then a JSON table, in the watched folder: each is read by its own
        # code), then with none, which the pipeline's profile measures after
        (ws / "latency_tables").mkdir()
        (ws / "latency_tables" / "target.csv").write_text("ms\n0.1\n0.2\n0.4\n")
        (ws / "latency_tables" / "target.json").write_text('{"cumulative_ms": [0.1, 0.2, 0.4]}')
        with_tables = []
        for table in ("latency_tables/target.csv", "latency_tables/target.json"):
            write_params(ws, {**params, "profile": {**params["profile"], "table": table}})
            with_tables.append(_run_traced(IMPORT))
        write_params(ws, params)
        runs = {stage: _run_traced(stage) for stage in STAGES_CHECKED}
        # the paper presets' code paths (an image data set and its augmentation, a text data
        # set, BERT and its hub / local-path rules): each whole pipeline traced too, at tiny
        # size, and every stage's runs taken together
        others = [_preset_runs(tmp_path_factory.mktemp(name), params, name)
                  for name in PRESET_RUNS]
        for stage in STAGES_CHECKED:
            extra = [*(with_tables if stage == IMPORT else []), *(o[stage] for o in others)]
            runs[stage] = Run(set().union(runs[stage].files, *(run.files for run in extra)),
                              set().union(runs[stage].params, *(run.params for run in extra)))
        return runs
    finally:
        os.chdir(cwd)


# The data sets whose presets are traced too, at test size (`_preset_runs`).
PRESET_RUNS = ("cifar10", "ag_news")


def _preset_runs(ws: Path, params: dict[str, Any], dataset: str) -> dict[str, Run]:
    """Every stage but check_params traced in `ws` on a tiny copy of `dataset`'s preset:
    resnet56_3 on CIFAR-10 batch files, or bert_4 (a tiny local BERT and vocabulary) on AG
    News files."""
    if dataset == "cifar10":
        write_cifar10(ws / "raw", per_batch=10, n_test=12)
        data = {"root": str(ws / "raw"), "val_size": 10, "download": False, "checksums": False}
        model = {"name": "resnet56_3", "options": {"blocks": [1, 1, 1], "base_width": 4}}
    else:
        data = {"local_path": str(write_ag_news(ws / "raw", n_train=50, n_test=12)),
                "val_size": 10, "cache_dir": str(ws / "hf-cache")}
        model = {"name": "bert_4", "options": tiny_bert_sources(ws)}
    preset = {**params, "data": {**params["data"], "dataset": dataset, "options": data},
              "model": model, "train": {**params["train"], "epochs": 1, "batch_size": 16},
              "dump": {**params["dump"], "batch_size": 8}}
    write_params(ws, preset)
    os.chdir(ws)
    return {stage: _run_traced(stage, dataset) for stage in STAGES_CHECKED}


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


# The stage whose job is the params check every stage makes: it reads the whole params file
# and runs every group's rules, wherever in the package they live.
CHECK = "check_params"
STAGES_CHECKED = [name for name in STAGES if name != CHECK]
IMPORT = "import_latency"  # traced with and without a table to import


def test_check_params_tracks_the_whole_params_file_and_the_code_its_check_runs() -> None:
    stage = STAGES[CHECK]
    assert stage["params"] == [{"params.yaml": None}] and "outs" not in stage
    assert stage["cmd"] == "python -m stages.check_params params.yaml conf/preset dvc.yaml"
    assert "conf/preset" in stage["deps"]  # the presets a `setup` label may name
    used = _profiled(eenet.params.read_params, [ROOT / "params.yaml"], checking=True)
    assert "eenet/config.py" in used  # (which others run depends on what is cached already)
    deps = stage["deps"]
    assert all(_covered(f, deps) for f in used), (sorted(used), deps)


@pytest.mark.parametrize("stage", STAGES_CHECKED)
def test_stage_deps_are_the_code_it_runs(used: dict[str, Run], stage: str) -> None:
    deps = [d for d in STAGES[stage]["deps"] if isinstance(d, str)]
    ran = {f for f in used[stage].files if f not in NOT_CONTENT}
    missing = sorted(f for f in ran if not _covered(f, deps))
    assert not missing, f"{stage} runs {missing}, which its dvc.yaml deps do not list"
    unused = [d for d in deps if d.startswith("eenet/") and d not in LISTED_UNCALLED
              and not any(_covered(f, [d]) for f in ran)]
    assert not unused, f"{stage} lists {unused} in its dvc.yaml deps but never runs them"


def _under(key: str, listed: str) -> bool:
    return key == listed or key.startswith(listed + ".")


@pytest.mark.parametrize("stage", STAGES_CHECKED)
def test_stage_params_are_the_params_it_reads(used: dict[str, Run], stage: str) -> None:
    """At dvc.yaml's granularity: `train` covers every train.* key, `schedulers.eenet.hidden`
    just that one. A key interpolated into the stage's cmd / paths (`${data.dataset}`) counts
    as tracked: dvc.lock records the resolved cmd and paths, so a change to it reruns the stage
    though no `params` entry names it (and it need not be read: the command uses it)."""
    listed = STAGES[stage].get("params", [])
    assert all(isinstance(p, str) for p in listed), f"{stage}: params from other files"
    interpolated = set(re.findall(r"\$\{([^}]+)\}", yaml.safe_dump(STAGES[stage])))
    read = used[stage].params
    stale = sorted(k for k in read if not any(_under(k, p) for p in [*listed, *interpolated]))
    assert not stale, f"{stage} reads params {stale}, which its dvc.yaml params do not list"
    unused = [p for p in listed if not any(_under(k, p) for k in read)]
    assert not unused, f"{stage} lists {unused} in its dvc.yaml params but never reads them"


def test_every_stage_runs_the_eenet_of_the_workspace_it_runs_in(tmp_path: Path) -> None:
    """dvc.yaml ran `python stages/X.py`, which starts Python's path at stages/ and so imports
    eenet from wherever the environment installed it: in a queued experiment's temporary
    workspace, or in a second clone using the first one's environment, DVC tracked that
    workspace's eenet/ while another copy's code ran. Run as `python -m stages.X` from the
    workspace root, each stage imports the workspace's own eenet (here, one that says so)."""
    work = tmp_path / "workspace"
    shutil.copytree(ROOT / "stages", work / "stages")
    (work / "eenet").mkdir()
    (work / "eenet" / "__init__.py").write_text('raise SystemExit("this workspace\'s eenet")\n')
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for name, stage in STAGES.items():
        command = stage["cmd"].replace("${data.dataset}", "mnist1d")
        done = subprocess.run(command, shell=True, cwd=work, env=env, capture_output=True,
                              text=True, timeout=120)
        assert (done.returncode, done.stderr.strip()) == (1, "this workspace's eenet"), (
            name, done.stderr)
