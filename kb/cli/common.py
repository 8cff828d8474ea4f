"""What every ``kb`` command shares: the entry-point helpers of kb.core.console, with a bad setting as a usage error."""

from __future__ import annotations

from typing import Any

import click

from kb.core import console
from kb.core.console import configure_logging, friendly_errors
from kb.core.errors import ConfigError
from kb.core.settings import Settings

__all__ = ["load_settings", "configure_logging", "friendly_errors"]


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; a bad value becomes a usage error naming the variable."""
    try:
        return console.load_settings(**overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
