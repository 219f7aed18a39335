"""Hand-edited policy folders: every field `load_policy` reads is checked at load, and a bad one
is a one-line ArtifactError naming the file, the field and what it allows (never a traceback,
never a policy that silently decides otherwise)."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from eenet.errors import ArtifactError, ConfigError
from eenet.schedulers import FittedPolicy, fit_policy, load_policy
from eenet.synthetic import make_costs, make_split_pair
from tests.conftest import FAST_EENET

# the learned score (no fixed candidates) without lookahead heads: decisions use the weights
LEARNED_EENET = {**FAST_EENET, "score_candidates": [], "lookahead": False}
MALFORMED = "policy.json: malformed fitted scheduler"
WEIGHTS = "eenet.safetensors"


@pytest.fixture(scope="module")
def split() -> Any:
    return make_split_pair(3, 10, 600, 600, seed=2)


@pytest.fixture(scope="module")
def saved(split: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fitted maxprob and a fitted (learned-score) EENet policy, saved once."""
    root = tmp_path_factory.mktemp("policies")
    costs = make_costs(3)
    fit_policy("maxprob", split[0], costs, 2.0).save(root / "maxprob")
    policy = fit_policy("eenet", split[0], costs, 2.0, LEARNED_EENET)
    assert policy.score_source == "learned"
    policy.save(root / "eenet")
    return {"maxprob": root / "maxprob", "eenet": root / "eenet"}


def _copy(saved: dict[str, Path], method: str, tmp_path: Path) -> Path:
    folder = tmp_path / method
    shutil.copytree(saved[method], folder)
    return folder


def _edit_json(folder: Path, **fields: Any) -> None:
    meta = json.loads((folder / "policy.json").read_text())
    (folder / "policy.json").write_text(json.dumps({**meta, **fields}))


def _edit_weights(folder: Path, edit: Callable[[dict[str, np.ndarray]], None]) -> None:
    weights = load_file(str(folder / WEIGHTS))
    edit(weights)
    save_file(weights, str(folder / WEIGHTS))


def _refused(folder: Path, message: str) -> None:
    """Loading `folder` is exactly the one-line `message` (after the folder's path)."""
    with pytest.raises(ArtifactError) as err:
        load_policy(folder)
    assert str(err.value) == f"{folder}/{message}"
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("method", ["maxprob", "eenet"])
def test_an_unedited_policy_loads_and_decides_identically(saved, split, method, tmp_path):
    folder = _copy(saved, method, tmp_path)
    first: FittedPolicy = load_policy(folder)
    # the text json_number writes for -inf, and the same file rewritten by the loaded policy
    assert json.loads((folder / "policy.json").read_text())["thresholds"][-1] == "-inf"
    first.save(tmp_path / "again")
    again = load_policy(tmp_path / "again")
    test = split[1]
    np.testing.assert_array_equal(again.exits_for(test), first.exits_for(test))
    np.testing.assert_array_equal(again.thresholds, first.thresholds)
    if method == "eenet":  # the networks decide: not everything at one exit
        assert len(set(first.exits_for(test).tolist())) > 1


@pytest.mark.parametrize(("fields", "problem"), [
    # thresholds: checked first, a non-empty list of numbers (or the infinities' texts)
    ({"thresholds": ["nan", 0.1, "-inf"]}, 'thresholds needs one number per exit (or "inf" / '
     '"-inf"), not NaN, the last exit\'s "-inf"; got [nan, 0.1, -inf]'),
    ({"thresholds": [True, 0.1, "-inf"]}, 'thresholds needs one number per exit (or "inf" / '
     '"-inf"), not NaN, the last exit\'s "-inf"; got [True, 0.1, \'-inf\']'),
    ({"thresholds": [0.5, "0.1", "-inf"]}, 'thresholds needs one number per exit (or "inf" / '
     '"-inf"), not NaN, the last exit\'s "-inf"; got [0.5, \'0.1\', \'-inf\']'),
    ({"thresholds": [0.5, 0.1, 0.2]}, 'thresholds needs one number per exit (or "inf" / '
     '"-inf"), not NaN, the last exit\'s "-inf"; got [0.5, 0.1, 0.2]'),
    ({"thresholds": None}, 'thresholds needs one number per exit (or "inf" / "-inf"), not '
     'NaN, the last exit\'s "-inf"; got None'),
    ({"thresholds": []}, 'thresholds needs one number per exit (or "inf" / "-inf"), not NaN, '
     'the last exit\'s "-inf"; got []'),
    # a count that disagrees with the thresholds' says so
    ({"thresholds": [0.5, "-inf"]}, "planned_costs_ms needs one finite cost > 0 per exit (2), "
     "increasing, or none; got [1.0, 2.5, 4.0]: 3 values, but thresholds has 2"),
    ({"planned_costs_ms": [], "val_exit_fractions": [0.5, 0.25, 0.25],
      "thresholds": [0.5, "-inf"]}, "val_exit_fractions needs one fraction in [0, 1] per exit "
     "(2), or none; got [0.5, 0.25, 0.25]: 3 values, but thresholds has 2"),
    ({"budget_ms": float("nan")}, "budget_ms must be a finite number > 0, got nan"),
    ({"budget_ms": -1}, "budget_ms must be a finite number > 0, got -1"),
    ({"budget_ms": "2"}, "budget_ms must be a finite number > 0, got '2'"),
    ({"budget_ms": True}, "budget_ms must be a finite number > 0, got True"),
    ({"val_cost_ms": -1.0}, 'val_cost_ms must be a finite number >= 0 or "nan" (not recorded), '
     "got -1.0"),
    ({"val_cost_ms": None}, 'val_cost_ms must be a finite number >= 0 or "nan" (not recorded), '
     "got None"),
    ({"fit_seconds": "fast"}, "fit_seconds must be a finite number >= 0, got 'fast'"),
    ({"settings": [1]}, "settings must be a JSON object, got [1]"),
    # options that are no JSON object were a ValueError / TypeError traceback in `eenet predict`
    # (comparing the architecture), or taken as a dict of pairs ([["widths", 1]])
    ({"model": {"name": 5, "options": "x"}}, "model.options must be a JSON object (the "
     "model's builder options), got \"x\""),
    ({"model": {"name": "resnet1d_3", "options": [1]}}, "model.options must be a JSON object "
     "(the model's builder options), got [1]"),
    ({"model": {"name": "resnet1d_3", "options": [["widths", 1]]}}, "model.options must be a "
     "JSON object (the model's builder options), got [[\"widths\", 1]]"),
    ({"model": {"name": "resnet1d_3", "options": {}}}, "model.num_classes must be the model's "
     "class count (an integer >= 2), got null"),
    ({"val_exit_fractions": [0.5, 0.5, "x"]}, "val_exit_fractions needs one fraction in "
     "[0, 1] per exit (3), or none; got [0.5, 0.5, 'x']"),
    ({"tie_shares": 5}, "tie_shares needs one value in [0, 1] per exit (3), or none; got 5"),
    ({"tie_shares": [0.5, False, 1.0]}, "tie_shares needs one value in [0, 1] per exit (3), or "
     "none; got [0.5, False, 1.0]"),
])
def test_bad_policy_json_fields_are_one_line_errors(saved, tmp_path, fields, problem):
    folder = _copy(saved, "maxprob", tmp_path)
    _edit_json(folder, **fields)
    _refused(folder, f"{MALFORMED} ({problem})")


def test_what_the_saver_writes_still_loads(saved, split, tmp_path):
    """"inf" thresholds, an unrecorded ("nan") validation cost and a missing n_classes (files
    written before it was recorded) load as before."""
    folder = _copy(saved, "maxprob", tmp_path)
    _edit_json(folder, thresholds=["inf", "inf", "-inf"], val_cost_ms="nan")
    policy = load_policy(folder)
    assert np.isnan(policy.val_cost_ms)
    assert (policy.exits_for(split[1]) == 2).all()


@pytest.mark.parametrize(("fields", "message"), [
    ({"weights": 5}, f"{MALFORMED} (weights must be a file name in the policy's folder, got "
     "5)"),
    ({"weights": ""}, f"{MALFORMED} (weights must be a file name in the policy's folder, got "
     "'')"),
    # a weights file outside the policy's folder was opened and read (another policy's, or any
    # file of the system)
    ({"weights": "../eenet/eenet.safetensors"}, f"{MALFORMED} (weights must be a file name in "
     "the policy's folder, got '../eenet/eenet.safetensors')"),
    ({"weights": "/etc/passwd"}, f"{MALFORMED} (weights must be a file name in the policy's "
     "folder, got '/etc/passwd')"),
    ({"plan": [0.5, 0.5, float("nan")]}, f"{MALFORMED} (plan needs one fraction in [0, 1] per "
     "exit (3), or none; got [0.5, 0.5, nan])"),
    ({"plan_source": 3}, f"{MALFORMED} (plan_source must be text, got 3)"),
    ({"score_source": ["learned"]}, "policy.json: unknown score_source ['learned']; allowed: "
     "learned, lookahead, maxprob, entropy"),
])
def test_bad_eenet_policy_json_fields_are_one_line_errors(saved, tmp_path, fields, message):
    folder = _copy(saved, "eenet", tmp_path)
    _edit_json(folder, **fields)
    _refused(folder, message)


def _set(name: str, value: np.ndarray) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(weights: dict[str, np.ndarray]) -> None:
        weights[name] = value

    return edit


def _nan_w1(weights: dict[str, np.ndarray]) -> None:
    weights["m1.g0.w1"] = np.full_like(weights["m1.g0.w1"], np.nan)


def _drop(name: str) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(weights: dict[str, np.ndarray]) -> None:
        for key in [k for k in weights if k.startswith(name)]:
            del weights[key]

    return edit


def _extra_exit(weights: dict[str, np.ndarray]) -> None:
    for key in [k for k in weights if k.startswith("m0.g2.")]:
        weights[key.replace("g2", "g3")] = weights[key]


def _one(value: float, dtype: type = np.int64) -> np.ndarray:
    return np.array([value], dtype=dtype)


INPUTS = ("takes 7 inputs, but the feature options (top {top}, agreement {agreement}) give "
          "exit 0 {d} features of 10 classes and 0 earlier scores")


@pytest.mark.parametrize(("edit", "problem"), [
    (_nan_w1, "EENet weight m1.g0.w1 must be finite, got NaN or infinite values"),
    (_set("m0.g1.b2", np.array([np.inf], dtype=np.float32)),
     "EENet weight m0.g1.b2 must be finite, got NaN or infinite values"),
    (_set("m0.g0.w1", np.ones((7, 32), dtype=np.int32)),
     "EENet weight m0.g0.w1 must be floating-point, got dtype int32"),
    (_set("m0.g0.b1", np.ones(32, dtype=bool)),
     "EENet weight m0.g0.b1 must be floating-point, got dtype bool"),
    (_set("top", _one(100)), "EENet weights' m0.g0.w1 "
     + INPUTS.format(top=100, agreement=1, d=12)),
    (_set("top", _one(0)), "EENet weights' m0.g0.w1 " + INPUTS.format(top=0, agreement=1, d=12)),
    (_set("top", _one(-3)), "EENet weights' top must be an integer >= 0 (0: every class's "
     "probability), got -3"),
    (_set("top", _one(5.0, np.float32)), "EENet weights' top must be an integer >= 0 (0: every "
     "class's probability), got 5.0"),
    (_set("agreement", _one(0)), "EENet weights' m0.g1.w1 takes 10 inputs, but the feature "
     "options (top 5, agreement 0) give exit 1 7 features of 10 classes and 1 earlier scores"),
    (_set("agreement", _one(7)), "EENet weights' agreement must be 0 or 1, got 7"),
    (_set("log_scale", np.array([1, 1])), "EENet weights' log_scale must be 0 or 1, got [1, 1]"),
    (_set("members", _one(2.5, np.float64)), "EENet weights' members must be an integer >= 1, "
     "got 2.5"),
    (_set("members", _one(5)), "EENet weights' members must be the number of member networks "
     "the file holds (2), got 5"),
    (_drop("m1.g2."), "EENet weights incomplete (missing 'm1.g2.w1')"),
    (_extra_exit, "EENet weights have a network beyond the policy's 3 exits (m0.g3.b1)"),
])
def test_bad_eenet_weights_are_one_line_errors(saved, tmp_path, edit, problem):
    folder = _copy(saved, "eenet", tmp_path)
    _edit_weights(folder, edit)
    _refused(folder, f"{WEIGHTS}: {problem}")


def test_weights_too_large_to_score_are_named_as_the_file_at_load(saved, tmp_path, monkeypatch):
    """A weights file whose fused scorer would pass the memory limit is refused at load, naming
    the file: it loaded, then its first scoring said params.yaml's schedulers.eenet.folds, a
    setting that file was never fitted with. (The saved policy's 2 members of 32 hidden units
    pass 1 GiB by far: the limit is lowered instead of writing a file that large.)"""
    from eenet.schedulers.eenet import scorer

    folder = _copy(saved, "eenet", tmp_path)
    monkeypatch.setattr(scorer, "MAX_FUSED_BYTES", 2**20 // 1024)  # 1 KiB
    with pytest.raises(ArtifactError) as err:
        load_policy(folder)
    assert re.fullmatch(
        rf"{re.escape(str(folder / WEIGHTS))}: EENet weights too large to score: 2 members would "
        r"need [0-9.]+ GiB for one exit's fused scorer \(64 hidden units in all; it grows with "
        r"the square of folds\); at most [0-9.e-]+ GiB per exit \(fit with lower folds or "
        r"hidden\)", str(err.value))


def test_a_policy_loads_from_its_policy_json_too(saved, split):
    """`load_policy(folder / "policy.json")` said ".../policy.json/policy.json: not found"."""
    for method in ("maxprob", "eenet"):
        policy = load_policy(saved[method] / "policy.json")
        assert (policy.exits_for(split[1]) == load_policy(saved[method]).exits_for(split[1])).all()


def test_a_schedulers_folder_names_a_policy_to_load_instead(split, tmp_path):
    """A folder written by save_policies (`eenet schedule --save`) said "policy.json: fitted
    scheduler not found (fit it with eenet schedule ...)", though it holds fitted ones."""
    from eenet.sweep import save_policies

    costs = make_costs(3)
    fitted = [{"method": "maxprob", "budget_ms": b, "policy": fit_policy("maxprob", split[0],
                                                                        costs, b)}
              for b in (1.6, 2.4)]
    save_policies(tmp_path / "fitted", fitted, {"costs_ms": costs.tolist()})
    with pytest.raises(ConfigError) as err:
        load_policy(tmp_path / "fitted")
    folder = tmp_path / "fitted"
    assert str(err.value) == (
        f"load_policy: {folder} is a folder of 2 fitted schedulers; give one of them, e.g. "
        f"{folder / 'maxprob' / '00'} (maxprob at 1.6 ms/sample; all are listed in "
        f"{folder / 'index.json'})")
    with pytest.raises(ConfigError, match=r"^load_policy: .* holds 2 fitted schedulers in "
                                          r"subfolders \(00, 01\); give one of them$"):
        load_policy(folder / "maxprob")
    assert load_policy(folder / "maxprob" / "01").budget_ms == 2.4
    # its index.json, given as a policy's policy.json is: "index.json/policy.json: fitted
    # scheduler not found"
    with pytest.raises(ConfigError, match=f"^load_policy: {re.escape(str(folder))} is a folder "
                                          "of 2 fitted schedulers; give one of them"):
        load_policy(folder / "index.json")


def test_a_schedulers_folder_of_one_policy_names_it_in_the_singular(split, tmp_path):
    """'a folder of 1 fitted schedulers; give one of them, e.g. ...; all are listed in'."""
    from eenet.sweep import save_policies

    costs = make_costs(3)
    save_policies(tmp_path / "fitted", [{"method": "maxprob", "budget_ms": 1.6,
                                         "policy": fit_policy("maxprob", split[0], costs, 1.6)}],
                  {"costs_ms": costs.tolist()})
    folder = tmp_path / "fitted"
    for given in (folder, folder / "index.json"):
        with pytest.raises(ConfigError) as err:
            load_policy(given)
        assert str(err.value) == (
            f"load_policy: {folder} is a folder of 1 fitted scheduler; give its own folder, "
            f"{folder / 'maxprob' / '00'} (maxprob at 1.6 ms/sample)")


def test_saving_replaces_the_folder_whole(saved, split, tmp_path, monkeypatch):
    """A save interrupted between the weights and the JSON left the new weights beside the old
    JSON, a policy that loaded and decided as neither; a maxprob saved over an EENet left its
    weights behind. Now the folder is swapped in whole."""
    import eenet.schedulers.base as base

    old, new = load_policy(saved["eenet"]), fit_policy("eenet", split[0], make_costs(3), 2.4,
                                                       LEARNED_EENET)
    folder = tmp_path / "policy"
    old.save(folder)

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(base, "write_json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        new.save(folder)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy"]  # no temporary left
    assert (load_policy(folder).exits_for(split[1]) == old.exits_for(split[1])).all()
    load_policy(saved["maxprob"]).save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["policy.json"]
    assert load_policy(folder).method == "maxprob"


def test_saving_into_a_folder_of_other_files_is_refused(saved, tmp_path, monkeypatch):
    """Saving replaces the folder: one that holds anything but a policy's files is refused,
    untouched; a path that is a file is a one-line error too."""
    policy = load_policy(saved["maxprob"])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ArtifactError, match=r"mine: holds notes\.txt beside a fitted policy's "
                       r"files, which saving the policy there would delete; give a new or "
                       r"empty folder$"):
        policy.save(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    for here in (".", ""):  # a raw ValueError of pathlib ("has an empty name")
        with pytest.raises(ArtifactError, match="the current folder or one holding it"):
            policy.save(here)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArtifactError) as err:
        policy.save(tmp_path / "file")
    # the whole line: "file" alone was found in the path the message starts with
    assert str(err.value) == f"{tmp_path / 'file'}: is a file; give a folder"
    assert (tmp_path / "file").read_text() == "x"


def test_a_repeated_key_or_deep_nesting_is_a_one_line_error(saved, tmp_path):
    """A policy.json with `"method"` twice loaded with the last one (other JSON readers take
    the first); brackets nested 100,000 deep were a RecursionError."""
    folder = _copy(saved, "maxprob", tmp_path)
    text = (folder / "policy.json").read_text()
    (folder / "policy.json").write_text(text.replace('"method": "maxprob"',
                                                     '"method": "eenet", "method": "maxprob"', 1))
    _refused(folder, "policy.json: not valid JSON (key 'method' appears more than once in an "
                     "object)")
    (folder / "policy.json").write_text("[" * 100_000 + "]" * 100_000)
    _refused(folder, "policy.json: not valid JSON (nested too deeply)")


def test_a_policy_json_that_is_no_file_names_the_fitted_scheduler(saved, tmp_path):
    """A folder or a pipe where policy.json belongs says which file to give, in the words of
    its other errors ('fitted scheduler', read as given: no caller's words are cut)."""
    folder = _copy(saved, "maxprob", tmp_path)
    (folder / "policy.json").unlink()
    (folder / "policy.json").mkdir()
    _refused(folder, "policy.json: is a directory; give the fitted scheduler file")
    (folder / "policy.json").rmdir()
    os.mkfifo(folder / "policy.json")
    _refused(folder, "policy.json: not a regular file (a device, pipe or socket); give the "
                     "fitted scheduler file")


def test_an_unreadable_policy_json_says_not_readable(saved, tmp_path, monkeypatch):
    """A policy.json without read permission was "not valid JSON ([Errno 13] Permission
    denied: ...)": the file may be fine, it cannot be read; now said as the CSV loader says.
    Opening it is refused by a stand-in for Path.open (what read_text opens with), so the test
    runs as root too, who reads a file without read permission; and for real by chmod where
    that denies reading."""
    folder = _copy(saved, "maxprob", tmp_path)
    path = folder / "policy.json"
    message = "policy.json: fitted scheduler not readable (Permission denied)"
    real_open = Path.open

    def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_open(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "open", denied)
        _refused(folder, message)
    load_policy(folder)  # the file itself is fine
    path.chmod(0)
    try:
        if not os.access(path, os.R_OK):  # not as root
            _refused(folder, message)
    finally:
        path.chmod(0o644)


def test_saving_through_a_link_writes_the_folder_it_names(saved, split, tmp_path):
    """A link to a folder was replaced by a new folder, the linked folder left as it was."""
    policy = load_policy(saved["maxprob"])
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    policy.save(tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert (load_policy(tmp_path / "target").exits_for(split[1])
            == policy.exits_for(split[1])).all()
