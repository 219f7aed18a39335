"""Shared fixtures: small synthetic multi-exit outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from eenet.outputs import ExitOutputs, save_exit_outputs
from eenet.synthetic import make_costs, make_split_pair

# Small, fast EENet settings for tests (the defaults are for real fits).
FAST_EENET = {"max_epochs": 60, "restarts": 1, "period": 10}


def lists_in(value: object, where: str = "") -> list[str]:
    """The dotted keys under which a report's `value` holds a list (what `dvc metrics show`
    leaves out)."""
    if isinstance(value, list):
        return [where]
    if isinstance(value, dict):
        return [found for key, item in value.items()
                for found in lists_in(item, f"{where}.{key}" if where else key)]
    return []


def dotted_keys(value: object, where: str = "") -> list[str]:
    """The dotted keys of a report's (or params file's) leaves, as `dvc metrics show` /
    `dvc exp show` name its columns."""
    if isinstance(value, dict):
        return [found for key, item in value.items()
                for found in dotted_keys(item, f"{where}.{key}" if where else key)]
    return [where]


def saved_split_pair(root: Path, n_classes: int, n_val: int, n_test: int,
                     seed: int) -> tuple[ExitOutputs, ExitOutputs]:
    """Synthetic 3-exit validation and test outputs (`make_split_pair`) saved as
    `root/val.npz` and `root/test.npz`, what `eenet schedule --val --test` reads; returns
    them."""
    val, test = make_split_pair(3, n_classes, n_val, n_test, seed=seed)
    save_exit_outputs(root / "val.npz", val)
    save_exit_outputs(root / "test.npz", test)
    return val, test


@pytest.fixture(autouse=True, scope="session")
def _dvc_site_cache(tmp_path_factory: pytest.TempPathFactory):
    """DVC's per-repo state and index databases (its site cache) in the session's temporary
    folder: every `dvc` the tests run (test_pipeline's, test_local_copies', the metrics and
    plots checks) left a folder under /var/tmp/dvc/repo for each temporary repo, never
    removed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path_factory.mktemp("dvc_site_cache")))
        yield


def _torch_settings() -> tuple[int, object] | None:
    """torch's process-wide thread count and default dtype (None before torch is imported:
    nothing to compare, and no import of torch for tests that do not need it)."""
    torch = sys.modules.get("torch")
    return None if torch is None else (torch.get_num_threads(), torch.get_default_dtype())


@pytest.fixture(autouse=True)
def _torch_settings_restored():
    """A test that changes torch's thread count or default dtype restores it: several set one
    thread and left it so for every later test of the process. The settings are put back
    either way, and the test errors naming them."""
    before = _torch_settings()
    yield
    after = _torch_settings()
    if before is None or after == before:
        return
    import torch

    torch.set_num_threads(before[0])
    torch.set_default_dtype(before[1])
    pytest.fail(f"the test left torch's (threads, default dtype) at {after}, was {before}; "
                "restore them (eenet.devices.num_threads, or try/finally)", pytrace=False)


@pytest.fixture
def one_thread():
    """One torch CPU thread for the test (tiny training runs far faster without an OpenMP
    pool on a shared machine), the previous count restored after it."""
    from eenet.devices import num_threads

    with num_threads(1):
        yield


@pytest.fixture(scope="module")
def one_thread_per_module():
    """`one_thread` for a whole module (`pytestmark = pytest.mark.usefixtures(...)`): its
    module-scoped fixtures (models built once) run at one thread too."""
    from eenet.devices import num_threads

    with num_threads(1):
        yield


@pytest.fixture(scope="session")
def pair():
    return make_split_pair(n_exits=3, n_classes=10, n_val=2000, n_test=2000, seed=5)


@pytest.fixture(scope="session")
def costs() -> np.ndarray:
    return make_costs(3, 1.0, 3.0)


# a sweep holding this method name fails to be written (`failing_sweep_write`)
UNWRITABLE = "unwritable"


@pytest.fixture
def failing_sweep_write(monkeypatch: pytest.MonkeyPatch) -> str:
    """Writing a sweep CSV whose rows hold the method UNWRITABLE raises OSError (as a full disk
    would), after the reports written before it: for the all-or-nothing checks of the evaluate
    stage's reports. Returns the method name."""
    from eenet import sweep_evaluation

    real = sweep_evaluation.sweep_csv_text

    def text(rows):
        if "method" in rows and (rows["method"] == UNWRITABLE).any():
            raise OSError(28, "No space left on device (simulated)")
        return real(rows)

    monkeypatch.setattr(sweep_evaluation, "sweep_csv_text", text)
    return UNWRITABLE
