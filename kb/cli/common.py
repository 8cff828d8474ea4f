"""What every command shares: settings, logging set-up, and turning errors into messages."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kb.core.errors import KBError, StoreMismatchError

__all__ = ["load_settings", "configure_logging", "friendly_errors"]

F = TypeVar("F", bound=Callable[..., Any])


def load_settings(**overrides: Any):  # type: ignore[no-untyped-def]
    """Read settings from the environment; a bad value becomes a usage error naming the variable."""
    from pydantic import ValidationError

    from kb.core.settings import Settings

    try:
        settings = Settings()
        return settings.with_overrides(**overrides) if overrides else settings
    except ValidationError as exc:
        problems = "; ".join(f"CTO_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"invalid setting: {problems}") from exc


def configure_logging(level: str = "WARNING") -> None:
    """Log to stderr as key=value lines; only entry points call this."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.WARNING), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("chromadb", "httpx", "sentence_transformers", "urllib3", "bm25s", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def friendly_errors(func: F) -> F:
    """Show our errors as one clear line (exit 2 for set-up problems, 1 otherwise), never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StoreMismatchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KBError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
