"""Optional dependencies: the packages of pyproject.toml's extras, imported where a feature
needs them (never at a module's top), so that a core install (`pip install -e .`) imports
every module and runs `eenet schedule`, `eenet predict` and the Python API.

- `pipeline`: dvc (the DVC pipeline itself, never imported here), dvclive (training's logs),
  mnist1d (the default data set);
- `text`: transformers (the BERT model), datasets (the text data sets, ag_news and sst2).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from eenet.errors import MissingExtraError

# package -> the extra of pyproject.toml that installs it (tests/test_extras.py checks these
# against pyproject.toml)
EXTRAS: dict[str, str] = {
    "dvc": "pipeline",
    "dvclive": "pipeline",
    "mnist1d": "pipeline",
    "transformers": "text",
    "datasets": "text",
}


def install_hint(package: str) -> str:
    """The command installing `package`'s extra (from a clone of this repository)."""
    return f"pip install -e '.[{EXTRAS[package]}]'"


def require(package: str, needed_for: str) -> ModuleType:
    """Import `package` (one of EXTRAS) for `needed_for` (the feature, as the user asked for
    it: "model bert_4"); not installed, a one-line MissingExtraError naming the package and
    the extra to install. A package that is there but fails to import raises as it does."""
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != package:
            raise  # the package is there; something it imports is not: its own error
        raise MissingExtraError(
            f"{needed_for} needs the {package} package, which is not installed: "
            f"{install_hint(package)} (the {EXTRAS[package]!r} extra)"
        ) from None


# torch is a core dependency (pyproject.toml), not an extra; an install without it (pip's
# --no-deps, a broken environment) still runs the heuristics, and says this where torch is
# needed (EENet's fit, `eenet predict`, `eenet models`)
TORCH_MISSING = ("this needs torch, which is not installed: pip install torch==2.14.1 "
                 "torchvision==0.29.1 (a core dependency; `eenet schedule` runs maxprob, "
                 "entropy, patience and oracle without it)")


def is_missing_torch(exc: ModuleNotFoundError) -> bool:
    """Whether `exc` is torch (or a part of it) not being installed."""
    return (exc.name or "").partition(".")[0] == "torch"
