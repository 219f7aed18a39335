"""`eenet` starts light: building its parsers (`--help`, `--version`, a usage error) and
`eenet schedule` with the heuristics and the oracle import no torch, torchvision,
transformers, datasets, pandas or matplotlib (torch alone took some 3 s of a 4 s `--help`).
Commands that need them (EENet's fit, `eenet models`, `eenet predict`) import them as they
run. Each case runs in a fresh interpreter, which reports the modules it loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eenet.schedulers.eenet import untrained_policy
from eenet.synthetic import make_split_pair

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "transformers", "datasets", "pandas", "matplotlib")
LOADED = "loaded heavy modules: "  # the last line of the script's stderr

# the command line of argv, then which of HEAVY the process has loaded
RUN_CLI = f"""
import sys
from eenet.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:  # --help, --version, a usage error: argparse exits
    status = exc.code
print({LOADED!r} + ",".join(sorted(name for name in {HEAVY!r} if name in sys.modules)),
      file=sys.stderr)
sys.exit(status)
"""


def run_python(code: str, args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess,
                                                                 list[str]]:
    """`code` run with `args` in a fresh interpreter in `cwd`: its result and the heavy
    modules it reported loaded (its last line on stderr)."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    last = done.stderr.splitlines()[-1] if done.stderr else ""
    assert last.startswith(LOADED), done.stderr
    return done, [name for name in last.removeprefix(LOADED).split(",") if name]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with small exit outputs, val.npz and test.npz (3 exits, 5 classes)."""
    folder = tmp_path_factory.mktemp("outputs")
    val, test = make_split_pair(n_exits=3, n_classes=5, n_val=200, n_test=200, seed=1)
    for name, split in (("val", val), ("test", test)):
        np.savez(folder / f"{name}.npz", logits=split.logits, labels=split.labels)
    return folder


@pytest.mark.parametrize(("args", "status"), [
    (["--help"], 0),
    (["--version"], 0),
    (["schedule", "--help"], 0),
    (["models", "--help"], 0),
    (["predict", "--help"], 0),
    (["schedule", "--val", "val.npz"], 2),  # the required options missing
    (["schedule", "--bogus"], 2),
    (["bogus"], 2),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_parsing_imports_nothing_heavy(outputs: Path, args: list[str], status: int) -> None:
    done, loaded = run_python(RUN_CLI, args, outputs)
    assert done.returncode == status, done.stderr
    assert loaded == []


@pytest.mark.parametrize("extra", [
    ["--method", "maxprob,entropy", "--save", "fitted"],
    ["--method", "patience,oracle", "--json"],
], ids=["maxprob,entropy --save", "patience,oracle --json"])
def test_schedule_with_the_heuristics_imports_nothing_heavy(outputs: Path,
                                                            extra: list[str]) -> None:
    """A real run, its table or JSON on stdout, and --save's policies written."""
    done, loaded = run_python(RUN_CLI, ["schedule", "--val", "val.npz", "--test", "test.npz",
                                        "--costs", "1,2,4", "--budgets", "2,3", *extra],
                              outputs)
    assert done.returncode == 0, done.stderr
    methods = extra[1].split(",")
    assert all(method in done.stdout for method in methods)
    if "--save" in extra:
        assert sorted(p.name for p in (outputs / "fitted").iterdir()) == sorted(
            [*methods, "index.json"])
    assert loaded == []


def test_a_command_that_needs_torch_imports_it(outputs: Path) -> None:
    """The check sees torch where a command runs on it: `eenet models` builds a model."""
    done, loaded = run_python(RUN_CLI, ["models", "--model", "resnet1d_3"], outputs)
    assert done.returncode == 0, done.stderr
    assert "resnet1d_3" in done.stdout
    assert "torch" in loaded


# a saved EENet policy loaded and applied, then the package's fit (torch) asked for
EENET_POLICY = f"""
import sys
import numpy as np
import eenet.schedulers.eenet as package
from eenet.schedulers import load_policy
from eenet.schedulers.eenet.settings import check_settings
policy = load_policy(sys.argv[1])
print((policy.decide(np.log(np.full((3, 4, 5), 0.2))) == 2).all())
print("torch" in sys.modules, {{"fit", "prepare", "untrained_policy"}} <= set(dir(package)))
try:
    package.no_such_name
except AttributeError as exc:
    print(exc)
from eenet.schedulers.eenet import fit
from eenet.schedulers.eenet.fitting import fit as fitting_fit
print(fit is fitting_fit is package.fit, package.prepare.__name__)
print({LOADED!r} + ",".join(sorted(name for name in {HEAVY!r} if name in sys.modules)),
      file=sys.stderr)
"""


def test_an_eenet_policy_loads_and_decides_without_torch(tmp_path: Path) -> None:
    """Its scorer runs in numpy: the package imports torch (its fitting and training modules)
    only when `fit`, `untrained_policy` or `prepare` is first used (`dir` lists them before,
    for completion)."""
    policy = untrained_policy(3, 5, {"folds": 2, "hidden": 8})  # never exits early
    policy.budget_ms = 3.0  # its budget, infinite, is no JSON number
    policy.save(tmp_path / "policy")
    done, loaded = run_python(EENET_POLICY, [str(tmp_path / "policy")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "True", "False True",
        "module 'eenet.schedulers.eenet' has no attribute 'no_such_name'",
        "True load_optimizer_machinery",
    ]
    assert loaded == ["torch"]
