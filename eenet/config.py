"""The typed schema of `params.yaml`, checked up front by every stage (`validate_params`).

Allowed keys and their types are derived from the code they configure, not listed twice:
`data.options` from the data set's prepare function, `model.options` from the model builder,
`train` from `TrainConfig`, `profile` from `profile_model`'s keyword arguments, and
`schedulers.<method>` from `method_defaults(method)`. Every problem is one `ConfigError` line
naming the key path, the value and what is allowed.
"""

from __future__ import annotations

import inspect
import math
import os
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from eenet.budget import has_unit, number_from_text, same_budget, shown_item
from eenet.checks import COUNT_MAXIMUMS, check_integer, check_seed
from eenet.errors import ConfigError, unknown_name, yaml_text
from eenet.type_specs import Spec, describe, is_number_text, matches, options_spec, signature_spec

# Smallest allowed value of integer settings that count things.
MINIMUMS: dict[str, int] = {
    "train.epochs": 1,
    "train.batch_size": 1,
    "train.threads": 0,
    "train.num_workers": 0,
    "profile.batch_size": 1,
    "profile.threads": 0,
    "profile.warmup": 0,
    "profile.repeats": 1,
    "dump.batch_size": 1,
    "scoring.warmup": 0,
    "scoring.repeats": 1,
    "measure.batch_size": 1,
    "measure.limit": 0,
    "measure.rounds": 1,
    "measure.threads": 0,
    "measure.warmup": 0,
    "measure.repeats": 1,
}
# Largest allowed value of the counting settings of params.yaml, by path
# (`eenet.checks.COUNT_MAXIMUMS` by name)
MAXIMUMS: dict[str, int] = {path: COUNT_MAXIMUMS[name] for path in MINIMUMS
                            if (name := path.rsplit(".", 1)[1]) in COUNT_MAXIMUMS}
SEEDS = ("data.seed", "train.seed", "schedulers.seed")


# ---------------------------------------------------------------- types


def check_value(path: str, value: Any, annotation: Any) -> None:
    """Raise a ConfigError when `value` does not fit `annotation` or is below its minimum."""
    if not matches(value, annotation):
        hint = ""
        if isinstance(value, str) and is_number_text(value):
            hint = (" (YAML reads it as text; write it with a dot and a signed exponent, e.g. "
                    "3.0e-3 or 1.0e+9)" if "e" in value.lower() else
                    " (YAML reads a quoted number as text; write it without quotes)")
        raise ConfigError(f"{path}: expected {describe(annotation)}, got {yaml_text(value)}{hint}")
    low = MINIMUMS.get(path)
    if low is not None and isinstance(value, int):
        check_integer(path, value, low, MAXIMUMS.get(path))
    if path in SEEDS:
        check_seed(path, value)


def check_mapping(path: str, value: Any, spec: Spec) -> dict[str, Any]:
    """Check that `value` is a mapping whose keys are in `spec` and whose values fit it."""
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping of {', '.join(spec)}, got "
                          f"{yaml_text(value)}")
    for key, item in value.items():
        if key not in spec:
            allowed = ", ".join(sorted(spec)) or "(none)"
            raise ConfigError(f"{path}.{key}: unknown key; allowed: {allowed}")
        check_value(f"{path}.{key}", item, spec[key])
    return value


def _registered(table: Mapping[str, str], name: Any, param: str) -> Callable[..., Any]:
    """The registered function of `name`, or a ConfigError naming `param`."""
    from eenet.registry import resolve

    if not isinstance(name, str) or name not in table:
        raise unknown_name(param, name, table)
    try:
        return resolve(table, name, param)
    except ImportError as exc:
        raise ConfigError(
            f"{param}: {name!r} cannot be used here, its code failed to import ({exc})"
        ) from None


def _check_options(path: str, options: Any, function: Callable[..., Any], skip: int) -> None:
    if options is None:
        return
    spec = options_spec(function, skip)
    if spec is None:
        if not isinstance(options, dict):
            raise ConfigError(f"{path}: expected a mapping, got {yaml_text(options)}")
        return
    check_mapping(path, options, spec)


# ---------------------------------------------------------------- groups


def check_budget_spec(path: str, value: Any) -> None:
    """A budget: ms/sample > 0, or 'N%' with 0 <= N <= 100, its text read as the fit stages
    read it (`eenet.budget.resolve_budget`: '1_0%' is a typo there, not 10%)."""
    allowed = "a number of ms/sample > 0 or a percentage 'N%' with 0 <= N <= 100"
    if isinstance(value, str):
        text = value.strip()
        try:
            number = number_from_text(text[:-1] if text.endswith("%") else text)
        except ValueError:
            hint = "; write a number without a unit: budgets are in ms" if has_unit(text) else ""
            raise ConfigError(f"{path}: {yaml_text(value)} is not allowed; expected "
                              f"{allowed}{hint}") from None
        if text.endswith("%"):
            if not 0.0 <= number <= 100.0:
                raise ConfigError(f"{path}: {yaml_text(value)} is not allowed; expected {allowed}")
            return
        value = number
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}: {yaml_text(value)} is not allowed; expected {allowed}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{path}: {yaml_text(value)} is not allowed; expected {allowed}")


def check_budgets(path: str, value: Any) -> None:
    """The sweep: 'auto' or a non-empty list of budgets, none given twice in the same form
    ('30%' and '30.0%', 2 and 2.0; '50%' and 2.0 may be one budget too, which the fit stage
    tells once the costs are measured)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{path}: expected 'auto' or a non-empty list of budgets, got {yaml_text(value)}"
        )
    for i, item in enumerate(value):
        check_budget_spec(f"{path}[{i}]", item)
    first: dict[tuple[bool, float], int] = {}
    for j, item in enumerate(value):
        i = first.setdefault(budget_as_written(item), j)
        if i != j:
            percent, number = budget_as_written(item)
            raise same_budget(f"{path}[{i}] ({shown_item(value[i])})",
                              f"{path}[{j}] ({shown_item(item)})",
                              f"{number:g}%" if percent else f"{number:.6g} ms/sample")


def budget_as_written(item: Any) -> tuple[bool, float]:
    """A checked budget spec as (a percentage?, its number): two items that are the same
    budget whatever the costs ('30%' and ' 30.0% ', 2 and '2.0') give the same."""
    if isinstance(item, str) and item.strip().endswith("%"):
        return True, float(item.strip()[:-1])
    return False, float(item)


def check_required(path: str, value: dict[str, Any], keys: Sequence[str]) -> None:
    """Each of `keys` must be in the mapping `value` (the stages read them without a default)."""
    for key in keys:
        if key not in value:
            raise ConfigError(f"{path}.{key}: missing (required, with {', '.join(keys)})")


# data options that count samples: their least values (download checks the rest against the
# data itself: a validation split smaller than the training set, ...)
DATA_OPTION_MINIMUMS = {"val_size": 1, "max_train_samples": 1}


# data options naming a folder: an empty string would quietly mean the current folder
DATA_PATH_OPTIONS = ("local_path", "cache_dir", "root")


def check_no_empty_paths(path: str, options: dict[str, Any], names: Sequence[str]) -> None:
    """A ConfigError for an option of `names` given as an empty (or blank) string: a path
    library reads it as the current folder."""
    for name in names:
        given = options.get(name)
        if isinstance(given, str) and not given.strip():
            raise ConfigError(f"{path}.{name}: empty; give a path, or null (an empty string "
                              "would mean the current folder)")


def check_data(path: str, value: Any) -> None:
    """`data`: a registered data set, its builder's options by type, counts and paths
    sensible, and the data set's own option ranges."""
    from eenet.data import DATASETS, OPTION_RANGE_CHECKS
    from eenet.registry import resolve

    check_mapping(path, value, {"dataset": str, "seed": int, "options": dict | None})
    check_required(path, value, ("dataset", "seed"))
    prepare = _registered(DATASETS, value["dataset"], f"{path}.dataset")
    _check_options(f"{path}.options", value.get("options"), prepare, skip=2)
    options = value.get("options") or {}
    check_no_empty_paths(f"{path}.options", options, DATA_PATH_OPTIONS)
    for key, low in DATA_OPTION_MINIMUMS.items():  # their upper bounds depend on the data
        if isinstance(options.get(key), int) and options[key] < low:
            raise ConfigError(f"{path}.options.{key}: must be >= {low}, got {options[key]}")
    if value["dataset"] in OPTION_RANGE_CHECKS:  # a data set's own ranges
        resolve(OPTION_RANGE_CHECKS, value["dataset"], f"{path}.dataset")(**options)


# builder options that name files to read (pretrained weights, a tokenizer, a trained model's
# assets): a model given one, or taking one by default, is checked when the train stage builds it
FILE_OPTIONS = ("pretrained", "tokenizer", "assets")
# builder options that `load_trained` alone sets, to rebuild a trained artifact: in params.yaml
# `assets` trained a BERT from random weights, ignoring `pretrained`, `config` and `tokenizer`
ARTIFACT_OPTIONS = ("assets",)


def check_model(path: str, value: Any) -> None:
    """`model`: a registered model and options its builder takes (types, no empty path)."""
    from eenet.models import MODELS

    check_mapping(path, value, {"name": str, "options": dict | None})
    check_required(path, value, ("name",))
    builder = _registered(MODELS, value["name"], f"{path}.name")
    _check_options(f"{path}.options", value.get("options"), builder, skip=1)
    for name in ARTIFACT_OPTIONS:
        if name in (value.get("options") or {}):
            raise ConfigError(
                f"{path}.options.{name}: not a setting; loading a trained model sets it, to "
                "rebuild the artifact's architecture from that folder in place of the other "
                "options (training would start from random weights, ignoring pretrained); "
                "remove it"
            )
    check_no_empty_paths(f"{path}.options", value.get("options") or {}, FILE_OPTIONS)


# what a model builder may raise on options it refuses without a ConfigError of its own
# (BertModel: a RuntimeError for a negative initializer_range, an AssertionError for a
# pad_token_id past the vocabulary)
BUILD_ERRORS = (RuntimeError, AssertionError, ValueError, TypeError, IndexError)


def check_model_build(params: dict[str, Any]) -> None:
    """Build the checked params' model on the meta device (no memory; milliseconds for the
    presets, longer for thousands of blocks) for 2 classes, so its own checks of its size
    options (counts, minimums, weight limit) refuse them before any stage runs: the
    check_params stage runs it, the others leave it to the train stage. Its inputs must
    batch as training batches them (a BERT needs a tokenizer). Skipped for a model that reads
    files to be built (see FILE_OPTIONS)."""
    from eenet.models import MODELS
    from eenet.models.base import checking_options

    if "model" not in params:
        return
    builder = _registered(MODELS, params["model"]["name"], "model.name")
    options = params["model"].get("options") or {}
    parameters = inspect.signature(builder).parameters
    if any(options.get(name, parameters[name].default) is not None
           for name in FILE_OPTIONS if name in parameters):
        return
    try:
        with checking_options():
            model = builder(2, **options)
    except BUILD_ERRORS as exc:
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"model.options: the model does not build with them ({problem})"
                          ) from None
    # what batches its inputs, as train's data loader asks for it: a BERT without pretrained
    # weights or a tokenizer builds, but train refuses it (a ConfigError naming the option)
    model.collate_function()


def check_train(path: str, value: Any) -> None:
    """`train`: the keys and types of TrainConfig, then its values (names, ranges)."""
    from eenet.train_config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    check_mapping(path, value, {f.name: hints[f.name] for f in fields(TrainConfig)})
    TrainConfig.from_params(value)  # value checks: names, ranges


def _check_device(path: str, value: Any) -> None:
    """A group's `device`, where it has one: auto, cpu, cuda or cuda:N."""
    from eenet.devices import check_device_name

    if isinstance(value, dict) and "device" in value:
        check_device_name(value["device"], f"{path}.device")


def check_profile(path: str, value: Any) -> None:
    """`profile`: the settings `profile_model` takes that the profile stage lists, and `table`
    (a path or null)."""
    from eenet.profiling import profile_model

    spec = signature_spec(profile_model, keyword_only=True)
    for runtime_object in ("inputs", "policy", "group"):  # arguments for code, not settings
        spec.pop(runtime_object, None)
    # settings for code only: dvc.yaml's profile stage does not list them, so a change to
    # either in params.yaml would rerun no stage (`profile_model(..., max_rounds=...)`)
    for untracked in ("max_rounds", "decisions"):
        spec.pop(untracked, None)
    spec["table"] = str | None
    check_mapping(path, value, spec)
    _check_device(path, value)


def check_dump(path: str, value: Any) -> None:
    """`dump`: the settings `dump_exit_outputs` takes."""
    from eenet.inference import dump_exit_outputs

    check_mapping(path, value, signature_spec(dump_exit_outputs, keyword_only=True))
    _check_device(path, value)


def check_scoring(path: str, value: Any) -> None:
    """`scoring`: the settings `profile_scoring` takes but those the latency profile gives."""
    from eenet.scoring_cost import profile_scoring

    spec = signature_spec(profile_scoring, keyword_only=True)
    # the latency profile's, where its batch size comes from (for errors), and which methods
    # and whether the plain model is timed too (each stage's own)
    for profile_key in ("device", "batch_size", "threads", "batch_param", "batch_fix",
                        "threads_param", "settings_param", "methods", "unscored"):
        spec.pop(profile_key, None)
    check_mapping(path, value, spec)


def check_measure(path: str, value: Any) -> None:
    """`measure`: the settings `measure_headline` takes."""
    from eenet.measurement import measure_headline

    check_mapping(path, value, signature_spec(measure_headline, keyword_only=True))
    _check_device(path, value)


def check_schedulers(path: str, value: Any) -> None:
    """`schedulers`: the methods run and each method's settings (its own keys, types and
    ranges), before anything fits."""
    from eenet.schedulers import available_methods, check_method_settings, method_defaults
    from eenet.sweep import check_methods

    methods = available_methods()
    spec: Spec = {"methods": Any, "seed": int, **{m: dict for m in methods}}
    check_mapping(path, value, spec)
    if "methods" in value:
        check_methods(value["methods"], f"{path}.methods")
    for method in methods:
        if method in value and value[method] is not None:
            defaults = method_defaults(method)
            check_mapping(
                f"{path}.{method}",
                value[method],
                {k: (Any if d is None else float if type(d) is float else type(d))
                 for k, d in defaults.items()},
            )
            # its ranges, before anything fits, named as params.yaml's
            check_method_settings(method, value[method], f"{path}.{method}")


def check_setup(path: str, value: Any) -> None:
    """`setup`: a preset's name (what it labels is checked by `check_setup_label`)."""
    check_value(path, value, str)


# what makes a setup: a `setup` naming a preset must run that preset's data and model
SETUP_DEFINING = (("data", "dataset"), ("model", "name"))


def check_setup_label(params: Mapping[str, Any], presets_dir: str | os.PathLike) -> None:
    """`setup` labels which preset of `presets_dir` (conf/preset/) composed `params`: a label
    naming a preset whose dataset or model differs from `params`' is a one-line ConfigError
    (`dvc exp run -S setup=resnet56_3` relabels the default run; `-S preset=...` switches).
    A name that is no preset labels a setup of one's own and is accepted."""
    if not Path(presets_dir).is_dir():  # every label was taken for one of one's own
        raise ConfigError(f"{presets_dir}: presets folder not found; give the folder of the "
                          "preset .yaml files (conf/preset)")
    label = params.get("setup")
    if not isinstance(label, str) or not label or Path(label).name != label:
        return  # a preset is a file of presets_dir itself: a path names none
    preset_file = Path(presets_dir) / f"{label}.yaml"
    if not preset_file.is_file():
        return
    preset = _read_preset(preset_file)
    differ = [
        f"{group}.{key} {params.get(group, {}).get(key)!r} (the preset's: "
        f"{preset.get(group, {}).get(key)!r})"
        for group, key in SETUP_DEFINING
        if params.get(group, {}).get(key) != preset.get(group, {}).get(key)
    ]
    if differ:
        raise ConfigError(
            f"setup: {label!r} names the preset {preset_file}, but this run has "
            f"{' and '.join(differ)}; switch setups with `dvc exp run -S preset={label}` "
            "(setup only labels the composed file), or give a changed setup a name of its own"
        )


def _read_preset(path: Path) -> dict[str, Any]:
    """A preset file as a mapping whose setup-defining groups are mappings; one that cannot
    be read, is no YAML, or has another shape is a one-line ConfigError naming the file."""
    import yaml

    try:
        preset = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: preset not readable ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: preset not valid YAML (not UTF-8 text: {exc.reason} at "
                          f"byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: preset not valid YAML ({str(exc).splitlines()[0]})"
                          ) from None
    if not isinstance(preset, dict):
        raise ConfigError(f"{path}: preset: expected a mapping of parameter groups")
    for group, _ in SETUP_DEFINING:
        if not isinstance(preset.get(group, {}), dict):
            raise ConfigError(f"{path}: preset's {group} must be a mapping, got "
                              f"{yaml_text(preset[group])}")
    return preset


GROUPS: dict[str, Callable[[str, Any], None]] = {
    "setup": check_setup,
    "budget": check_budget_spec,
    "budgets": check_budgets,
    "data": check_data,
    "model": check_model,
    "train": check_train,
    "profile": check_profile,
    "dump": check_dump,
    "scoring": check_scoring,
    "measure": check_measure,
    "schedulers": check_schedulers,
}


def validate_params(params: dict[str, Any]) -> dict[str, Any]:
    """Check every group present in `params`; return `params` unchanged or raise ConfigError."""
    for key, value in params.items():
        if key not in GROUPS:
            raise ConfigError(f"{key}: unknown top-level key; allowed: {', '.join(GROUPS)}")
        GROUPS[key](key, value)
    return params
