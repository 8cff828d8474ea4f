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


def load_settings(*, use_running_server: bool = True, **overrides: Any):  # type: ignore[no-untyped-def]
    """Read settings from the environment; a bad value becomes a usage error naming the variable.

    When no Chroma server is configured but ``kb run --server`` is serving this data
    directory, the command uses that server (and says so on stderr): the embedded store
    is locked by it, and writing through the server is what server mode is for.
    """
    from pydantic import ValidationError

    from kb.core.settings import Settings
    from kb.index.lock import running_server

    try:
        settings = Settings()
        settings = settings.with_overrides(**overrides) if overrides else settings
        found = running_server(settings.data_dir) if use_running_server and not settings.server_mode else None
        if found:
            click.echo(f"note: using the Chroma server of the running app at {found[0]}:{found[1]} "
                       f"(`kb run --server` serves {settings.data_dir})", err=True)
            settings = settings.with_overrides(chroma_host=found[0], chroma_port=found[1])
        return settings
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
