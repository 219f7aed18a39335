"""`python -m eenet`: the `eenet` command line, as its console script runs it."""

from eenet.cli import main

raise SystemExit(main())
