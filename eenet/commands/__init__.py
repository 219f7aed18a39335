"""`eenet` subcommands: each module of COMMAND_MODULES exposes `register(subparsers)` and
sets `func`; the others (predict_inputs, predict_policy) are parts of one command.

`eenet --help` imports every module listed here, so each keeps its module-level imports light
(numpy, eenet's own light modules) and imports torch, pandas and the like inside the function
that runs the command: a parse (`--help`, a usage error) and `eenet schedule` with the
heuristics load none of them (tests/test_cli_start.py)."""

# Modules listed here are imported by eenet.cli; each adds one subcommand.
COMMAND_MODULES: tuple[str, ...] = (
    "eenet.commands.schedule",
    "eenet.commands.models",
    "eenet.commands.predict",
)
