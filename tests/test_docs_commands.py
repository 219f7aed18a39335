"""What the docs show of the command lines and settings is what the code has: the options of
each `eenet` subcommand and benchmark script (both ways), the Quick start's two commands (the
Makefile's, CI's), the choices params.yaml's comments list, the EENet settings block of
docs/schedulers.md, and the repository paths the pages name."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest
import yaml

from eenet.cli import build_parser
from eenet.config import validate_params
from eenet.errors import ConfigError
from eenet.schedulers import method_defaults

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEXT = {page: page.read_text() for page in PAGES}


def _commands() -> list[tuple[Path, str]]:
    """Every command line (or path) the pages show: each inline code span, and each line of a
    fenced block (a line ending in a backslash joined with the next)."""
    found = []
    for page, text in TEXT.items():
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL)
        for block in blocks:
            found += [(page, line) for line in block.replace("\\\n", " ").splitlines()]
        prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.DOTALL)
        found += [(page, span) for span in re.findall(r"`([^`]+)`", prose.replace("\n", " "))]
    return found


COMMANDS = _commands()


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings
            if option.startswith("--") and option != "--help"}


def _options_after(command: str, program: str) -> set[str]:
    """The long options given to `program` in `command` (up to a shell operator)."""
    rest = command.split(program, 1)[1]
    rest = re.split(r"&&|\||;|#", rest)[0]
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest))


SUBCOMMANDS = _subcommands()


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_option_of_a_subcommand_is_in_the_docs(name: str) -> None:
    shown = {option for page, command in COMMANDS if f"eenet {name}" in command
             for option in _options_after(command, f"eenet {name}")}
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", "".join(TEXT.values())))
    missing = sorted(_long_options(SUBCOMMANDS[name]) - mentioned)
    assert not missing, f"eenet {name}: {missing} in --help, in no page of the docs"
    assert shown, f"no page shows an `eenet {name}` command line"


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_option_the_docs_give_a_subcommand_exists(name: str) -> None:
    allowed = _long_options(SUBCOMMANDS[name])
    wrong = sorted({(page.name, option) for page, command in COMMANDS
                    if f"eenet {name}" in command
                    for option in _options_after(command, f"eenet {name}") - allowed})
    assert not wrong, f"eenet {name} has no option {wrong}"


def _script_options(script: Path) -> set[str]:
    """The options a benchmark script's parser adds (read from its source: importing some of
    them loads torch and the pipeline's artifacts)."""
    return set(re.findall(r"add_argument\(\s*\"(--[a-z0-9-]+)\"", script.read_text()))


SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_option_the_docs_give_a_benchmark_exists(name: str) -> None:
    allowed = _script_options(ROOT / "benchmarks" / f"{name}.py") | {"--help"}
    wrong = set()
    for page, command in COMMANDS:
        for program in (f"benchmarks/{name}.py", f"benchmarks.{name}"):
            if program in command:
                wrong |= {(page.name, option)
                          for option in _options_after(command, program) - allowed}
    assert not wrong, f"benchmarks/{name}.py has no option {sorted(wrong)}"


def test_the_quick_start_is_the_makefiles_and_ci_runs_it() -> None:
    """The README's two commands are Makefile targets doing what the README says, CI's
    script runs the test one, and the torch pins quoted are pyproject's and the Makefile's."""
    section = TEXT[ROOT / "README.md"].split("## The two commands", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert commands == ["make repro", "make test"]
    makefile = (ROOT / "Makefile").read_text()

    def recipe(target: str) -> list[str]:
        body = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
        assert body, f"Makefile has no target {target}"
        return [line.strip() for line in body.group(1).splitlines()]

    assert recipe("repro") == ["dvc repro"]
    assert recipe("test") == ["ruff check .", "python -m pytest -q --durations=20"]
    assert (ROOT / ".ci/run").read_text().strip().splitlines()[-1] == "make test"
    pins = set(re.findall(r"torch(?:vision)?==[\d.]+", block + section))
    project = set(re.findall(r"torch(?:vision)?==[\d.]+", (ROOT / "pyproject.toml").read_text()))
    assert pins and pins == project == set(re.findall(r"torch(?:vision)?==[\d.]+", makefile))


def _allowed(path: str) -> set[str]:
    """What check_params allows at `path` (a key of params.yaml), from its one-line error."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    *groups, key = path.split(".")
    node = params
    for group in groups:
        node = node[group]
    node[key] = ["no such value"] if isinstance(node[key], list) else "no such value"
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    return set(str(caught.value).split("allowed: ", 1)[1].split(", "))


def _path_of(key: str, line_no: int, lines: list[str]) -> str:
    """The dotted params path of the key on `lines[line_no]`, from the indentation above."""
    path, indent = [key], len(lines[line_no]) - len(lines[line_no].lstrip())
    for line in reversed(lines[:line_no]):
        depth = len(line) - len(line.lstrip())
        if line.strip() and not line.lstrip().startswith("#") and depth < indent:
            path.insert(0, line.split(":", 1)[0].strip())
            indent = depth
    return ".".join(path)


def _choice_lines() -> list[tuple[str, set[str]]]:
    lines = (ROOT / "params.yaml").read_text().splitlines()
    found = []
    for number, line in enumerate(lines):
        match = re.search(r"#\s*(\w+(?::\w+)?(?: \| \w+(?::\w+)?)+)", line)
        if match and not line.lstrip().startswith("#"):
            key = line.split(":", 1)[0].strip()
            found.append((_path_of(key, number, lines), set(match.group(1).split(" | "))))
    return found


@pytest.mark.parametrize(("path", "listed"), _choice_lines(), ids=lambda v: str(v))
def test_the_choices_params_yaml_lists_are_the_allowed_ones(path: str, listed: set[str]) -> None:
    assert listed == _allowed(path)


def test_the_eenet_settings_block_is_the_defaults() -> None:
    """docs/schedulers.md's "Settings" block: every EENet setting with its default value."""
    block = re.findall(r"```yaml\n(.*?)```", TEXT[ROOT / "docs/schedulers.md"], re.DOTALL)
    assert yaml.safe_load(block[0])["schedulers"]["eenet"] == method_defaults("eenet")


# the repository's own folders whose files the pages name (data/, artifacts/ and the local
# copies' examples are made by a run or by the user)
TRACKED = ("eenet", "stages", "benchmarks", "tests", "conf", "docs", "plots", "latency_tables",
           ".ci", "reports")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_repository_path_a_page_names_exists(page: Path) -> None:
    pattern = rf"(?<![\w/.-])((?:\.\./)?(?:{'|'.join(re.escape(t) for t in TRACKED)})/[\w./*<>-]*)"
    named = {match.rstrip(".") for shown, span in COMMANDS if shown == page
             for match in re.findall(pattern, span)}
    base = page.parent
    missing = sorted(p for p in named
                     if not (base / p if p.startswith("../") else ROOT / p).exists()
                     and not re.search(r"[<*]|\.\.\.|…|N\b", p))
    assert not missing, f"{page.name} names {missing}, not in the repository"


def test_every_api_name_the_pages_give_exists() -> None:
    """`eenet.module.name` in the pages imports and resolves (a `--set eenet.KEY` setting
    and the policy file `eenet.safetensors` are no API names)."""
    settings = set(method_defaults("eenet")) | {"safetensors"}
    missing = []
    for page, text in TEXT.items():
        for name in sorted(set(re.findall(r"(?<![\w./-])(eenet(?:\.\w+)+)", text))):
            parts = name.split(".")
            if len(parts) == 2 and parts[1] in settings:
                continue
            found = 1
            while found < len(parts):  # the longest importable module, then its attributes
                try:
                    importlib.import_module(".".join(parts[:found + 1]))
                except ModuleNotFoundError:
                    break
                found += 1
            target: object = importlib.import_module(".".join(parts[:found]))
            for attribute in parts[found:]:
                target = getattr(target, attribute, MISSING)
            if target is MISSING:
                missing.append(f"{page.name}: {name}")
    assert not missing, missing


MISSING = object()
# named in the pages as keys that do not exist (runtime.md: "there is no `scoring.threads`")
NAMED_AS_ABSENT = {"scoring.threads"}


def test_every_setting_the_pages_name_is_one_check_params_allows() -> None:
    """`train.lr`, `measure.limit`, `schedulers.eenet.hidden`, `--set eenet.hidden=...`: each
    setting of those groups the pages name exists (a file such as `train.py` is no setting)."""
    eenet_settings = set(method_defaults("eenet"))
    groups = ("train", "profile", "dump", "scoring", "measure")
    allowed = {group: _allowed_keys(group) for group in groups}
    wrong = []
    for page, text in TEXT.items():
        named = set(re.findall(rf"(?<![\w./-])((?:{'|'.join(groups)})\.\w+)(?![\w-])", text))
        wrong += [f"{page.name}: {name}" for name in sorted(named - NAMED_AS_ABSENT)
                  if name.split(".")[1] not in allowed[name.split(".")[0]]
                  and name.split(".")[1] not in ("py", "csv", "json")]
        keys = set(re.findall(r"schedulers\.eenet\.(\w+)", text))
        keys |= set(re.findall(r"(?<![\w.])eenet\.(\w+)=", text))
        wrong += [f"{page.name}: eenet setting {key}" for key in sorted(keys)
                  if key not in eenet_settings | {"KEY", "settings"}]
    assert not wrong, wrong


def _allowed_keys(group: str) -> set[str]:
    """The keys check_params allows in `group`, from its one-line error on an unknown one."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params[group]["no_such_key"] = 1
    with pytest.raises(ConfigError) as caught:
        validate_params(params)
    return set(str(caught.value).split("allowed: ", 1)[1].split(", "))


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_scripts_usage_line_takes_the_arguments_dvc_yaml_gives(stage: str) -> None:
    """`python -m stages.X --help` prints its docstring's `Usage:` line: one name per argument
    of the stage's command in dvc.yaml, which runs the stage as that module."""
    command = " ".join(STAGES[stage]["cmd"].split())
    module = re.search(r"^python -m (stages\.\w+) ", command).group(1)
    source = (ROOT / f"{module.replace('.', '/')}.py").read_text().replace("\\\n", " ")
    paragraphs = re.search(r'"""(.*?)"""', source, re.DOTALL).group(1).split("\n\n")
    text = " ".join(next((p for p in paragraphs if p.startswith("Usage:")), "").split())
    usage = re.search(rf"Usage: python -m {re.escape(module)}((?: [A-Z][A-Z0-9_]*)*)", text)
    assert usage, f"{module}: no `Usage: python -m {module} ...` line"
    assert len(usage.group(1).split()) == len(command.split(module, 1)[1].split()), (
        usage.group(0), command)


PRESETS = {p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "conf/preset").glob("*.yaml")}


def test_the_presets_the_pages_name_are_conf_presets_with_their_budgets() -> None:
    """Every `preset=NAME` the pages give is a file of conf/preset/; the README's preset
    commands list every paper preset, each with its dataset's and budget's comment."""
    named = {name for text in TEXT.values() for name in re.findall(r"preset=(\w+)", text)}
    assert named <= set(PRESETS), sorted(named - set(PRESETS))
    block = TEXT[ROOT / "README.md"].split("## Presets", 1)[1]
    lines = re.findall(r"^dvc exp run -S preset=(\w+)\s+# .*?([\d.]+) ms$", block, re.MULTILINE)
    assert {name for name, _ in lines} == set(PRESETS) - {"default"}
    for name, budget in lines:
        assert float(budget) == float(PRESETS[name]["budget"]), name
