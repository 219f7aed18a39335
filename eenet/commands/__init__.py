"""`eenet` subcommands: each module exposes `register(subparsers)` and sets `func`."""

# Modules listed here are imported by eenet.cli; each adds one subcommand.
COMMAND_MODULES: tuple[str, ...] = (
    "eenet.commands.schedule",
    "eenet.commands.models",
    "eenet.commands.predict",
)
