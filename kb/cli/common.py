"""What every command shares: settings, logging set-up, and turning errors into messages."""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kb.core.errors import KBError, StoreMismatchError

__all__ = ["load_settings", "configure_logging", "friendly_errors", "verbose_requested", "settings_problems"]

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
        raise click.UsageError(f"invalid setting: {settings_problems(exc)}") from exc


def settings_problems(exc: Any) -> str:
    """A pydantic validation error of the settings as one line naming each variable and the value read."""
    problems = []
    for e in exc.errors():
        message = str(e["msg"]).removeprefix("Value error, ")
        if e["loc"]:
            name = "CTO_" + "_".join(str(p) for p in e["loc"]).upper()
            problems.append(f"{name}={e.get('input')!r}: {message}")
        else:  # a rule across fields: its message names the variables
            problems.append(message)
    return "; ".join(problems)


def verbose_requested() -> bool:
    """True when the user asked for tracebacks: ``--verbose`` on the command, or ``CTO_LOG_LEVEL=DEBUG``."""
    if os.environ.get("CTO_LOG_LEVEL", "").upper() == "DEBUG":
        return True
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("verbose"):
            return True
        ctx = ctx.parent
    return False


def configure_logging(level: str = "WARNING") -> None:
    """Log to stderr as key=value lines; only entry points call this."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.WARNING), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("chromadb", "httpx", "sentence_transformers", "urllib3", "bm25s", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str, code: int) -> None:
    if verbose_requested():
        traceback.print_exc(file=sys.stderr)
    click.echo(f"error: {' '.join(message.split())}", err=True)  # one line, whatever the message held
    sys.exit(code)


def friendly_errors(func: F) -> F:
    """Show every error as one clear line (exit 2 for set-up problems, 1 otherwise), never a traceback.

    ``--verbose`` or ``CTO_LOG_LEVEL=DEBUG`` prints the traceback above the line, for a bug report.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
            raise
        except StoreMismatchError as exc:
            _fail(str(exc), 2)
        except KBError as exc:
            _fail(str(exc), 1)
        except UnicodeDecodeError as exc:
            _fail(f"an input is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 and try again", 1)
        except Exception as exc:  # a bug or an unforeseen input: one line, the traceback on request
            logging.getLogger(__name__).debug("unexpected error", exc_info=True)
            _fail(f"unexpected {type(exc).__name__}: {exc}. Run the command again with --verbose (or "
                  "CTO_LOG_LEVEL=DEBUG) to see the traceback, and report it", 1)

    return wrapper  # type: ignore[return-value]
