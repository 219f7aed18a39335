"""The params schema accepts every shipped configuration and derives what it allows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from eenet.budget import resolve_budget
from eenet.checks import THREADS_MAX, TIMING_MAX
from eenet.config import check_model_build, check_setup_label, validate_params
from eenet.data import prepare_dataset
from eenet.errors import ConfigError
from eenet.type_specs import describe
from tests.robust_helpers import ROOT, stage_error

PRESETS = sorted(p.stem for p in (ROOT / "conf/preset").glob("*.yaml"))


def test_params_yaml_is_valid() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert validate_params(params) is params


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_is_valid(preset: str) -> None:
    hydra = pytest.importorskip("hydra")
    from omegaconf import OmegaConf

    with hydra.initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        params = OmegaConf.to_container(hydra.compose("config", overrides=[f"preset={preset}"]))
    validate_params(params)


def test_allowed_scheduler_settings_follow_the_method_defaults(monkeypatch) -> None:
    import eenet.schedulers.maxprob as maxprob

    params = {"schedulers": {"methods": ["maxprob"], "maxprob": {"margin": 0.5}}}
    with pytest.raises(ConfigError, match=r"maxprob\.margin: unknown key; allowed: \(none\)"):
        validate_params(params)
    monkeypatch.setattr(maxprob, "DEFAULTS", {"margin": 0.0})
    validate_params(params)
    params["schedulers"]["maxprob"]["margin"] = "wide"
    with pytest.raises(ConfigError, match=r"maxprob\.margin: expected a number, got 'wide'"):
        validate_params(params)


def test_descriptions() -> None:
    assert describe(list[int] | tuple[int, ...]) == "a list of integers"
    assert describe(str | None) == "a string or null"
    assert describe(Path) == "a path"


@pytest.mark.parametrize("group", ["data", "train", "schedulers"])
@pytest.mark.parametrize("seed", [-1, 2**32, True])
def test_seeds_are_checked(group: str, seed: object) -> None:
    """numpy's seeding takes integers from 0 to 2**32 - 1: anything else is named up front,
    not a ValueError from inside a stage."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params[group]["seed"] = seed
    message = (f"{group}.seed: expected an integer, got true" if seed is True else
               f"{group}.seed: must be an integer from 0 to 4294967295, got {seed}")
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == message
    params[group]["seed"] = 2**32 - 1
    validate_params(params)


def test_eenet_ranges_are_checked_with_the_params() -> None:
    """An EENet setting out of range stops every stage up front (not only the fit)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["schedulers"].setdefault("eenet", {})["uniform_weight"] = 2.0
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == ("schedulers.eenet.uniform_weight: must be a finite number >= 0 "
                                 "and <= 1, got 2.0")


@pytest.mark.parametrize("key", ["train.threads", "profile.threads", "measure.threads",
                                 "schedulers.eenet.threads"])
@pytest.mark.parametrize("threads", [10**9, 2**40, -1])
def test_thread_counts_past_the_cap_are_named_up_front(key: str, threads: int) -> None:
    """10**9 threads crashed libgomp (out of memory) and 2**40 overflowed torch's
    set_num_threads, each a traceback from inside a stage: the most is THREADS_MAX."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    *path, name = key.split(".")
    group = params[path[0]] if len(path) == 1 else params[path[0]][path[1]]
    group[name] = threads
    low = 1 if key.startswith("schedulers") else 0
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == (f"{key}: must be an integer from {low} to {THREADS_MAX}, "
                                 f"got {threads}")
    group[name] = THREADS_MAX
    validate_params(params)


@pytest.mark.parametrize(("key", "low"), [
    ("profile.warmup", 0), ("profile.repeats", 1), ("scoring.warmup", 0), ("scoring.repeats", 1),
    ("measure.rounds", 1), ("measure.warmup", 0), ("measure.repeats", 1)])
def test_timing_counts_past_the_cap_are_named_up_front(key: str, low: int) -> None:
    """Each timing count's times are kept in one array: numpy could not make it for 10**10
    rounds (224 GiB for the profile's repeats) or past 2**63, a traceback from inside a stage;
    the most is TIMING_MAX."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    group, name = key.split(".")
    params[group][name] = 10**10
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == (f"{key}: must be an integer from {low} to {TIMING_MAX}, got "
                                 "10000000000")
    params[group][name] = TIMING_MAX
    validate_params(params)


def test_eenet_hidden_units_past_the_cap_are_named_up_front() -> None:
    """10**9 hidden units asked torch for 28 GB at once (a traceback from inside the scoring
    profile or the fit): the most is HIDDEN_MAX."""
    from eenet.schedulers.eenet.settings import HIDDEN_MAX

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["schedulers"]["eenet"]["hidden"] = 10**9
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == ("schedulers.eenet.hidden: must be an integer from 1 to "
                                 f"{HIDDEN_MAX}, got 1000000000")
    params["schedulers"]["eenet"]["hidden"] = HIDDEN_MAX
    validate_params(params)


@pytest.mark.parametrize("group", ["profile", "dump", "measure", "train"])
def test_a_numbered_gpu_passes_the_params_check(group: str) -> None:
    """'cuda:1' is a device wherever the runtime takes one (the params check knows no GPUs:
    a stage resolves the device, and names a missing one, when it runs)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params[group]["device"] = "cuda:1"
    validate_params(params)
    params[group]["device"] = "cuda:x"
    with pytest.raises(ConfigError, match=rf"^{group}\.device: unknown value 'cuda:x'; allowed: "
                                          r"auto, cpu, cuda, cuda:N$"):
        validate_params(params)


@pytest.mark.parametrize(("dataset", "key", "value"), [
    ("cifar10", "val_size", 0), ("cifar10", "val_size", -5), ("ag_news", "val_size", 0),
    ("ag_news", "max_train_samples", 0), ("sst2", "max_train_samples", -1),
])
def test_data_sample_counts_below_one_are_named_up_front(dataset: str, key: str,
                                                         value: int) -> None:
    """check_params passed them; download refused them only when it ran."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"] = {"dataset": dataset, "seed": 0, "options": {key: value}}
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == f"data.options.{key}: must be >= 1, got {value}"
    params["data"]["options"][key] = 1
    validate_params(params)


@pytest.mark.parametrize(("budgets", "message"), [
    (["30%", "30%"], "budgets[0] ('30%') and budgets[1] ('30%') are the same budget (30%); "
                     "give each budget once"),
    ([0.5, "25%", " 25.0% "], "budgets[1] ('25%') and budgets[2] (' 25.0% ') are the same "
                              "budget (25%); give each budget once"),
    ([2, 1.5, "2.0"], "budgets[0] (2) and budgets[2] ('2.0') are the same budget (2 "
                      "ms/sample); give each budget once"),
])
def test_a_budget_written_twice_is_refused_up_front(budgets, message) -> None:
    """`budgets: ['30%', '30%']` became one budget, unsaid, after training and profiling;
    check_params refuses a repeat in the same form (a share, or ms) in one line naming both
    items. '50%' and 2.0 can be one budget on some costs only: the fit stage tells those."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["budgets"] = budgets
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == message
    params["budgets"] = [2, "50%", "2.5", 2.0000001]
    validate_params(params)


BUDGET_ALLOWED = "expected a number of ms/sample > 0 or a percentage 'N%' with 0 <= N <= 100"


@pytest.mark.parametrize(("text", "message"), [
    # float() reads Python's digit grouping, the fit stages do not: check_params passed
    # `-S budget=1_0%`, and fit_headline refused it after whatever ran before it
    ("1_0%", f"'1_0%' is not allowed; {BUDGET_ALLOWED}"),
    ("1_0", f"'1_0' is not allowed; {BUDGET_ALLOWED}"),
    (" 0.3_5 ", f"' 0.3_5 ' is not allowed; {BUDGET_ALLOWED}"),
    ("2ms", f"'2ms' is not allowed; {BUDGET_ALLOWED}; write a number without a unit: "
            "budgets are in ms"),
    ("50 %%", f"'50 %%' is not allowed; {BUDGET_ALLOWED}"),
])
def test_check_params_refuses_the_budget_texts_the_fit_stages_refuse(text: str,
                                                                     message: str) -> None:
    """`budget` and each item of `budgets` are read up front as the fit stages read them
    (`resolve_budget`), so a text they would refuse fails in check_params, before any stage."""
    costs = np.array([0.1, 0.2, 20.0])
    with pytest.raises(ConfigError):
        resolve_budget(text, costs)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["budget"] = text
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == f"budget: {message}"
    params["budget"] = "50%"
    params["budgets"] = [0.5, text]
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == f"budgets[1]: {message}"


@pytest.mark.parametrize("text", ["10%", " 1e1 % ", "+50%", "0.35", " 2.5 ", "1e1", "100%"])
def test_check_params_accepts_the_budget_texts_the_fit_stages_accept(text: str) -> None:
    resolve_budget(text, np.array([0.1, 0.2, 20.0]))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["budget"] = text
    params["budgets"] = [text]
    validate_params(params)


NUM_SAMPLES_RANGE = ("data.options.num_samples: must be from 100 to 1000000 (MNIST-1D is "
                     "generated one sample at a time, all in memory: 10**6 take up to an hour "
                     "and about 1.5 GB)")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("val_fraction", 1.5, "data.options.val_fraction: must lie in (0, 1), got 1.5"),
    ("val_fraction", 0, "data.options.val_fraction: must lie in (0, 1), got 0"),
    ("num_samples", 0, f"{NUM_SAMPLES_RANGE}, got 0"),
    # a typo of 4 * 10**9 samples ran out of memory (or on for hours) in download
    ("num_samples", 4000000000, f"{NUM_SAMPLES_RANGE}, got 4000000000"),
    ("num_samples", 10**6 + 1, f"{NUM_SAMPLES_RANGE}, got 1000001"),
])
def test_mnist1d_ranges_are_named_up_front(tmp_path: Path, key: str, value: float,
                                           message: str) -> None:
    """check_params passed them ("every key and value checked") and download refused them,
    after DVC had removed the data it was to replace; the message is the one download gives."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["options"][key] = value
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == message
    with pytest.raises(ConfigError) as caught:
        prepare_dataset("mnist1d", tmp_path, 0, **params["data"]["options"])
    assert str(caught.value) == message


def test_mnist1d_num_samples_ends_of_the_range_pass() -> None:
    """100 and 10**6 samples are allowed (checked only: nothing is generated here)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for value in (100, 10**6):
        params["data"]["options"]["num_samples"] = value
        validate_params(params)


@pytest.mark.parametrize(("group", "key", "value", "dataset"), [
    ("data", "local_path", "", "ag_news"), ("data", "cache_dir", " ", "ag_news"),
    ("data", "root", "", "cifar10"), ("model", "tokenizer", "", "ag_news"),
    ("model", "pretrained", "", "ag_news"),
])
def test_empty_paths_are_refused_up_front(group: str, key: str, value: str,
                                          dataset: str) -> None:
    """local_path: "" and tokenizer: "" silently meant the current folder (root: "", CIFAR's
    download folder, too)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"] = {"dataset": dataset, "seed": 0, "options": {}}
    params["model"] = {"name": "bert_4", "options": {}}
    params[group]["options"][key] = value
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == (f"{group}.options.{key}: empty; give a path, or null (an "
                                 "empty string would mean the current folder)")


@pytest.mark.parametrize(("name", "options", "message"), [
    ("resnet56_3", {"base_width": -4}, "model.options.base_width: must be an integer >= 1, got -4"),
    ("resnet1d_3", {"widths": [4, 8]}, "model.options.blocks: expected 2 integers >= 1 (as many "
                                        "as widths), one per exit, got (1, 1, 2)"),
    ("densenet121_4", {"blocks": [6, 0, 24, 16]},
     "model.options.blocks: expected integers >= 1, one per exit, got [6, 0, 24, 16]"),
    # built, then a torch traceback in training's first batch
    ("densenet121_4", {"blocks": [1, 1, 1, 1, 1, 1, 1], "growth": 8},
     "model.options.blocks: expected at most 6 integers, one per exit"),
    ("densenet121_4", {"blocks": [1, 1], "growth": 2},
     "model.options.growth: must be an integer >= 3 with blocks [1, 1], got 2"),
    ("resnet56_3", {"base_width": 10**6}, "model.options: blocks [9, 9, 9] and base_width "
                                          "1000000 give the model 3.6e+15 parameters"),
    ("bert_4", {"pretrained": None, "exit_layers": [2, 1, 4]}, "model.options.exit_layers: "),
    # built, but never trains: train refused it in these words, where it makes the loader
    ("bert_4", {"pretrained": None},
     "model.options.tokenizer: this BERT model has no tokenizer (built without pretrained "
     "weights); set model.options.tokenizer to a tokenizer name, folder or vocab.txt"),
    # BertModel's own refusals (a RuntimeError, an AssertionError): a one-line error
    ("bert_4", {"pretrained": None, "config": {"initializer_range": -1.0}},
     "model.options: the model does not build with them ("),
    ("bert_4", {"pretrained": None, "config": {"pad_token_id": 10**6}},
     "model.options: the model does not build with them ("),
])
def test_model_size_options_are_named_up_front(tmp_path: Path, capsys, name: str,
                                               options: dict, message: str) -> None:
    """The check_params stage builds the model on the meta device, so sizes its builder
    refuses fail before data is downloaded; they passed until the train stage. The other
    stages leave it to train (thousands of blocks take seconds to build, even on meta)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"] = {"name": name, "options": options}
    validate_params(params)
    with pytest.raises(ConfigError) as caught:
        check_model_build(params)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    line = stage_error(capsys, "check_params", str(tmp_path / "params.yaml"),
                       str(ROOT / "conf" / "preset"), str(ROOT / "dvc.yaml"))
    assert line.startswith(message)


def test_a_setup_label_naming_a_preset_must_run_its_data_and_model(tmp_path: Path,
                                                                   capsys) -> None:
    """`dvc exp run -S setup=resnet56_3` relabelled the default run (MNIST-1D, resnet1d_3):
    check_params passed it and the experiment showed a setup it did not run. A label naming a
    preset must match its dataset and model; each preset's own composition does; a name of
    one's own is accepted."""
    presets = ROOT / "conf" / "preset"
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    check_setup_label(params, presets)  # the default composition
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**params, "setup": "resnet56_3"}))
    line = stage_error(capsys, "check_params", str(tmp_path / "params.yaml"), str(presets),
                       str(ROOT / "dvc.yaml"))
    assert line.startswith("setup: 'resnet56_3' names the preset ")
    assert "data.dataset 'mnist1d' (the preset's: 'cifar10')" in line
    assert "model.name 'resnet1d_3' (the preset's: 'resnet56_3')" in line
    assert "-S preset=resnet56_3" in line
    check_setup_label({**params, "setup": "my_mnist1d_run"}, presets)
    check_setup_label({**params, "setup": "../config"}, presets)  # a path names no preset
    for preset in presets.glob("*.yaml"):
        composed = yaml.safe_load(preset.read_text())
        assert composed["setup"] == preset.stem
        check_setup_label(composed, presets)
        changed = {**composed, "model": {**composed["model"], "name": "other"}}
        with pytest.raises(ConfigError, match=r"^setup: .* model\.name 'other'"):
            check_setup_label(changed, presets)


def test_a_model_that_reads_files_is_left_to_the_train_stage(tmp_path: Path) -> None:
    """A BERT with pretrained weights (by default or a folder) is built by the train stage,
    which has the files; the params check does not try to read them."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"] = {"name": "bert_4", "options": {"exit_layers": [2, 1, 4]}}
    check_model_build(validate_params(params))
    params["model"]["options"]["pretrained"] = str(tmp_path / "missing")
    check_model_build(validate_params(params))


def _tracked_by_a_stage(key: str) -> bool:
    """Whether some stage of dvc.yaml lists `key` (or a group above it) in its params."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    listed = {p for stage in stages.values() for p in stage.get("params", [])
              if isinstance(p, str)}
    parts = key.split(".")
    return any(".".join(parts[:n]) in listed for n in range(1, len(parts) + 1))


@pytest.mark.parametrize("name", ["max_rounds", "decisions"])
def test_a_profile_setting_no_stage_lists_is_refused(name: str) -> None:
    """`profile_model` takes `max_rounds` and `decisions`, but the profile stage lists its
    keys one by one and not these: accepted in params.yaml, a change to either (`dvc exp run
    -S +profile.max_rounds=5`) reran no stage and the experiment ended "done" with nothing
    changed, which check_params exists to prevent."""
    assert not _tracked_by_a_stage(f"profile.{name}")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"][name] = 5 if name == "max_rounds" else False
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value) == (f"profile.{name}: unknown key; allowed: batch_size, device, "
                                 "repeats, table, threads, warmup")


def test_every_profile_key_check_params_allows_reruns_a_stage() -> None:
    """Each key the profile group accepts is one a stage lists (profile's own, or
    import_latency's `profile.table`), so changing it reruns that stage."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"]["not_a_key"] = 1
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    allowed = str(caught.value).split("allowed: ", 1)[1].split(", ")
    assert allowed and all(_tracked_by_a_stage(f"profile.{key}") for key in allowed), allowed


@pytest.mark.parametrize(("text", "problem"), [
    (b"data: [1,\n", "preset not valid YAML (while parsing a flow node)"),
    (b"\xff\xfe\x00", "preset not valid YAML (not UTF-8 text: invalid start byte at byte 0)"),
    (b"- 1\n", "preset: expected a mapping of parameter groups"),
    (b"data: [mnist1d]\n", "preset's data must be a mapping, got ['mnist1d']"),
], ids=["bad yaml", "not utf-8", "a list", "a group that is a list"])
def test_a_preset_that_cannot_be_read_is_one_line(tmp_path: Path, capsys, text: bytes,
                                                  problem: str) -> None:
    """check_params run on a damaged preset file (the one `setup` names) was a yaml,
    UnicodeDecodeError or AttributeError traceback; now one line naming the file."""
    presets = tmp_path / "preset"
    shutil.copytree(ROOT / "conf" / "preset", presets)
    (presets / "default.yaml").write_bytes(text)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    line = stage_error(capsys, "check_params", str(tmp_path / "params.yaml"), str(presets),
                       str(ROOT / "dvc.yaml"))
    assert line == f"{presets / 'default.yaml'}: {problem}"


def test_a_presets_folder_that_is_not_there_is_one_line(tmp_path: Path, capsys) -> None:
    """check_params given a presets folder that is not there passed any `setup`, unchecked."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    line = stage_error(capsys, "check_params", str(tmp_path / "params.yaml"),
                       str(tmp_path / "conf"), str(ROOT / "dvc.yaml"))
    assert line == (f"{tmp_path / 'conf'}: presets folder not found; give the folder of the "
                    "preset .yaml files (conf/preset)")


@pytest.mark.parametrize(("removed", "stage"), [
    ("budget", "fit_headline"),
    ("schedulers.eenet", "profile_eenet_scoring"),
    ("profile.device", "profile"),
    ("measure", "measure"),
])
def test_check_params_refuses_a_param_a_stage_lists_but_the_file_lacks(
        tmp_path: Path, capsys, removed: str, stage: str) -> None:
    """The schema takes a group or key left out (`dvc exp run -S '~budget'`, or removed with
    `--no-hydra`), but DVC stops a stage whose listed param is missing only on reaching it,
    after download and training had run; check_params refuses it first, naming the stage."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    *parents, last = removed.split(".")
    node = params
    for part in parents:
        node = node[part]
    del node[last]
    validate_params(params)  # the schema alone accepts it
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    line = stage_error(capsys, "check_params", str(tmp_path / "params.yaml"),
                       str(ROOT / "conf" / "preset"), str(ROOT / "dvc.yaml"))
    listed = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["params"]
    key = next(p for p in listed if p == removed or p.startswith(removed + "."))
    assert line == (f"{key}: missing from params.yaml, but dvc.yaml's stage {stage} lists it "
                    "(DVC would stop there, after the stages before it had run); restore it")


def test_check_params_accepts_every_preset_against_the_pipeline() -> None:
    """Each preset's composition holds every param the stages list (a null one included)."""
    hydra = pytest.importorskip("hydra")
    from omegaconf import OmegaConf

    from eenet.listed_params import check_listed_params, listed_params

    listed = listed_params(ROOT / "dvc.yaml")
    assert "profile.table" in listed["import_latency"] and listed["check_params"] == []
    for preset in PRESETS:
        with hydra.initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
            params = OmegaConf.to_container(
                hydra.compose("config", overrides=[f"preset={preset}"]))
        check_listed_params(params, listed)


@pytest.mark.parametrize("preset", ["bert_4_ag_news", "bert_4_sst2"])
def test_the_artifact_option_assets_is_refused_in_params(preset: str, tmp_path: Path) -> None:
    """`assets` is the option load_trained sets to rebuild a trained BERT from its artifact:
    given in params.yaml, check_params took it and train built a randomly initialised model
    from that folder, ignoring the preset's `pretrained` weights (and `config`) in silence."""
    hydra = pytest.importorskip("hydra")
    from omegaconf import OmegaConf

    with hydra.initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        params = OmegaConf.to_container(hydra.compose("config", overrides=[f"preset={preset}"]))
    params["model"]["options"]["assets"] = str(tmp_path / "assets")
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    assert str(caught.value).startswith("model.options.assets: not a setting; loading a "
                                        "trained model sets it")
