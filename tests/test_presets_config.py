"""Presets are Hydra config groups: params.yaml is the default composition; each preset composes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted(p.stem for p in (ROOT / "conf/preset").glob("*.yaml"))


def composed(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)))


def test_params_yaml_is_the_default_composition():
    assert yaml.safe_load((ROOT / "params.yaml").read_text()) == composed()


def key_paths(tree: dict, prefix: str = "") -> list[str]:
    """Every key of a nested mapping, dotted, in the mapping's order."""
    paths = []
    for key, value in tree.items():
        paths.append(prefix + key)
        if isinstance(value, dict):
            paths.extend(key_paths(value, f"{prefix}{key}."))
    return paths


@pytest.mark.parametrize("preset", PRESETS)
def test_a_preset_sets_no_key_of_config_yaml(preset):
    """conf/config.yaml composes after the preset (`_self_` last, for params.yaml's order):
    a key both set would take config.yaml's value, the preset's silently lost."""
    own = set(key_paths(yaml.safe_load((ROOT / "conf/config.yaml").read_text())))
    path = ROOT / "conf/preset" / f"{preset}.yaml"
    assert own & set(key_paths(yaml.safe_load(path.read_text()))) == set()


def test_params_yaml_keeps_the_order_dvc_exp_run_writes():
    """`dvc exp run` rewrites params.yaml in the composition's key order: the committed file
    has that order, so the rewrite moves no setting (it drops the comments alone)."""
    assert key_paths(yaml.safe_load((ROOT / "params.yaml").read_text())) == key_paths(composed())


def test_every_paper_setup_has_a_preset():
    assert {"default", "resnet56_3", "densenet121_4", "bert_4_ag_news", "bert_4_sst2"} <= set(
        PRESETS
    )


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_replaces_whole_groups(preset):
    params = composed(f"preset={preset}")
    default = composed()
    assert params["setup"] == preset
    assert set(params) == set(default)
    for group in ("data", "model", "train"):
        assert set(params[group]) == set(default[group])
    # a preset's options are its own, never merged with the default's (Hydra merges dicts)
    own = yaml.safe_load((ROOT / "conf/preset" / f"{preset}.yaml").read_text())
    for group, key in (("model", "name"), ("data", "dataset")):
        if params[group][key] != default[group][key]:
            assert params[group]["options"] == own[group]["options"]


@pytest.mark.parametrize(
    ("preset", "dataset", "model", "budget"),
    [
        ("resnet56_3", "cifar10", "resnet56_3", 2.5),
        ("densenet121_4", "cifar100", "densenet121_4", 6.5),
        ("bert_4_ag_news", "ag_news", "bert_4", 125),
        ("bert_4_sst2", "sst2", "bert_4", 125),
    ],
)
def test_paper_presets_carry_the_papers_budgets(preset, dataset, model, budget):
    params = composed(f"preset={preset}")
    assert (params["data"]["dataset"], params["model"]["name"]) == (dataset, model)
    assert params["budget"] == budget


def test_budget_override_applies_after_the_preset():
    assert composed("preset=resnet56_3", "budget=3.0")["budget"] == 3.0
    assert composed("budget=70%")["budget"] == "70%"


def _data_options(dataset: str) -> set[str]:
    """The options data set `dataset` takes (what `data.options` may hold)."""
    import inspect

    from eenet.data import cifar, mnist1d, text

    if dataset == "mnist1d":
        return set(inspect.signature(mnist1d.prepare_mnist1d).parameters) - {"out_dir", "seed"}
    return set((cifar if dataset.startswith("cifar") else text).OPTIONS)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_data_option_is_in_the_preset_so_dash_s_can_set_it(preset):
    """docs/presets.md sets `data.options.local_path`, `download` and `checksums` with
    `dvc exp run -S`: a Hydra override of a key the composed config lacks needs a `+`, and
    Hydra refused them ("Could not override ... use +data.options.local_path")."""
    params = composed(f"preset={preset}")
    options = params["data"]["options"]
    assert set(options) == _data_options(params["data"]["dataset"])
    for key in options:
        assert composed(f"preset={preset}", f"data.options.{key}=1")["data"]["options"][key] == 1


PAPER_PRESETS = [preset for preset in PRESETS if preset != "default"]


@pytest.mark.parametrize("preset", PAPER_PRESETS)
def test_every_model_option_is_in_the_paper_presets_so_dash_s_can_set_it(preset):
    """docs/presets.md says the paper's presets list every option of their model, but the
    BERT presets lacked `config`: `dvc exp run -S model.options.config=...` failed in Hydra
    ("Key 'config' is not in struct"). Every option the builder takes but `assets` (which
    load_trained sets) is listed, and `-S` sets each (`config` a mapping at once)."""
    import inspect

    from eenet.models import MODELS
    from eenet.registry import resolve

    params = composed(f"preset={preset}")
    name, options = params["model"]["name"], params["model"]["options"]
    builder = resolve(MODELS, name, "model.name")
    taken = set(list(inspect.signature(builder).parameters)[1:]) - {"assets"}
    assert set(options) == taken
    for key in options:
        assert composed(f"preset={preset}", f"model.options.{key}=1")["model"]["options"][key] == 1
    if "config" in options:
        assert options["config"] is None  # BertConfig's own defaults (pretrained's)
        override = "model.options.config={hidden_dropout_prob: 0.2}"
        assert composed(f"preset={preset}", override)["model"]["options"]["config"] == {
            "hidden_dropout_prob": 0.2}
        # one field inside the null: Hydra's `+` (as docs/presets.md says)
        override = "+model.options.config.hidden_dropout_prob=0.2"
        assert composed(f"preset={preset}", override)["model"]["options"]["config"] == {
            "hidden_dropout_prob": 0.2}
