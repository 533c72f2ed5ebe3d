"""``python -m outofcore.cli``: the ``outofcore`` command."""

from outofcore.cli.main import run

raise SystemExit(run())
