"""What every entry point shares (``kb``, ``ingest``, ``python -m eval``, the seed script): settings, logging, errors.

No command-line library here: errors are written to stderr as one line and the process
exits 2 for set-up problems (a bad setting, a store built another way) and 1 otherwise.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from kb.core.errors import ConfigError, KBError, StoreMismatchError
from kb.core.settings import Settings

__all__ = ["load_settings", "configure_logging", "friendly_errors", "guarded", "settings_problems", "debug_requested"]

F = TypeVar("F", bound=Callable[..., Any])


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


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and .env), with some fields overridden.

    Raises:
        ConfigError: naming each bad variable, the value read and what is wrong with it.
    """
    from pydantic import ValidationError

    try:
        settings = Settings()
        return settings.with_overrides(**overrides) if overrides else settings
    except ValidationError as exc:
        raise ConfigError(f"invalid setting: {settings_problems(exc)}") from exc


def configure_logging(level: str = "WARNING") -> None:
    """Log to stderr as key=value lines; only entry points call this."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.WARNING), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("chromadb", "httpx", "sentence_transformers", "urllib3", "bm25s", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def debug_requested() -> bool:
    """True when ``CTO_LOG_LEVEL=DEBUG`` asks for tracebacks."""
    return os.environ.get("CTO_LOG_LEVEL", "").upper() == "DEBUG"


def _fail(message: str, code: int, *, verbose: bool) -> None:
    if verbose:
        traceback.print_exc(file=sys.stderr)
    print(f"error: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever the message held
    sys.exit(code)


def _speaks_for_itself(exc: BaseException) -> bool:
    """The command-line library's own exceptions (usage errors, exits, aborts) print themselves."""
    return type(exc).__module__.split(".")[0] == "click"


def guarded(func: F, *, verbose: Callable[[dict[str, Any]], bool]) -> F:
    """``func`` with every error shown as one clear line (exit 2 for set-up problems, 1 otherwise).

    ``verbose(kwargs)`` says whether to print the traceback above the line, for a bug report.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (SystemExit, KeyboardInterrupt):
            raise
        except (ConfigError, StoreMismatchError) as exc:
            _fail(str(exc), 2, verbose=verbose(kwargs))
        except KBError as exc:
            _fail(str(exc), 1, verbose=verbose(kwargs))
        except UnicodeDecodeError as exc:
            _fail(f"an input is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 and try again", 1,
                  verbose=verbose(kwargs))
        except Exception as exc:  # a bug or an unforeseen input: one line, the traceback on request
            if _speaks_for_itself(exc):
                raise
            logging.getLogger(__name__).debug("unexpected error", exc_info=True)
            _fail(f"unexpected {type(exc).__name__}: {exc}. Run the command again with --verbose (or "
                  "CTO_LOG_LEVEL=DEBUG) to see the traceback, and report it", 1, verbose=verbose(kwargs))

    return wrapper  # type: ignore[return-value]


def friendly_errors(func: F) -> F:
    """One clear line per error, never a traceback unless asked (the command's ``verbose`` option or CTO_LOG_LEVEL=DEBUG)."""
    return guarded(func, verbose=lambda kwargs: bool(kwargs.get("verbose")) or debug_requested())
