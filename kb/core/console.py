"""What every entry point shares (``kb``, ``ingest``, ``python -m eval``, the seed script): settings, logging, errors.

No command-line library here: errors are written to stderr as one line and the process
exits 2 for set-up problems (a bad setting, a store built another way) and 1 otherwise.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from kb.core.errors import ConfigError, KBError, StoreMismatchError
from kb.core.settings import Settings

__all__ = ["load_settings", "configure_logging", "friendly_errors"]

F = TypeVar("F", bound=Callable[..., Any])


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and .env), with some fields overridden.

    Raises:
        ConfigError: naming each bad variable and what is wrong with it.
    """
    from pydantic import ValidationError

    try:
        settings = Settings()
        return settings.with_overrides(**overrides) if overrides else settings
    except ValidationError as exc:
        problems = "; ".join(f"CTO_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid setting: {problems}") from exc


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
        except (ConfigError, StoreMismatchError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except KBError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
