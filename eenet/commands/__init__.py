"""`eenet` subcommands: each module of COMMAND_MODULES exposes `register(subparsers)` and
sets `func`; the others (predict_inputs, predict_policy) are parts of one command."""

# Modules listed here are imported by eenet.cli; each adds one subcommand.
COMMAND_MODULES: tuple[str, ...] = (
    "eenet.commands.schedule",
    "eenet.commands.models",
    "eenet.commands.predict",
)
