"""What every ``kb`` command shares: kb.core.console's helpers, with click's usage errors and ``kb --verbose``."""

from __future__ import annotations

from typing import Any

import click

from kb.core import console
from kb.core.console import F, configure_logging, settings_problems
from kb.core.errors import ConfigError
from kb.core.settings import Settings
from kb.index.lock import with_running_server

__all__ = ["load_settings", "configure_logging", "friendly_errors", "verbose_requested", "settings_problems"]


def load_settings(*, use_running_server: bool = True, **overrides: Any) -> Settings:
    """Read settings from the environment; a bad value becomes a usage error naming the variable.

    When no Chroma server is configured but ``kb run --server`` is serving this data
    directory, the command uses that server (and says so on stderr): the embedded store
    is locked by it, and writing through the server is what server mode is for.
    """
    try:
        settings = console.load_settings(**overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    return with_running_server(settings) if use_running_server else settings


def verbose_requested() -> bool:
    """True when the user asked for tracebacks: ``--verbose`` on the command or the group, or ``CTO_LOG_LEVEL=DEBUG``."""
    if console.debug_requested():
        return True
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("verbose"):
            return True
        ctx = ctx.parent
    return False


def friendly_errors(func: F) -> F:
    """Show every error as one clear line (exit 2 for set-up problems, 1 otherwise), never a traceback.

    ``--verbose`` or ``CTO_LOG_LEVEL=DEBUG`` prints the traceback above the line, for a bug report.
    """
    return console.guarded(func, verbose=lambda kwargs: verbose_requested())
