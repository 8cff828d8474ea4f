"""``kb hash-password``: make the staff password hash that enables uploads in the app."""

from __future__ import annotations

import sys

import click

__all__ = ["COMMANDS"]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Staff password", hide_input=True, confirmation_prompt=True))


@click.command("hash-password", epilog="""\b
Examples:
  kb hash-password
  printf '%s\\n' "$PASSWORD" | kb hash-password --stdin
""")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from the first line of stdin (no prompt).")
@click.option("--iterations", type=click.IntRange(min=100_000), default=None,
              help="PBKDF2 rounds (default: 600000).")
def hash_password_cmd(from_stdin: bool, iterations: int | None) -> None:
    """Print a hash of the staff password for CTO_STAFF_PASSWORD_HASH.

    The password itself is never stored or printed. Put the printed value in the
    environment (or .env) of the app and restart it; the Library page then offers
    upload and removal to whoever signs in with the password.
    """
    from kb.governance.auth import DEFAULT_ITERATIONS, hash_password

    password = _read_password(from_stdin)
    if len(password) < 8:
        raise click.UsageError("use a password of at least 8 characters")
    hashed = hash_password(password, iterations=iterations or DEFAULT_ITERATIONS)
    click.echo(hashed)
    click.echo("Set CTO_STAFF_PASSWORD_HASH to this value for the app (in a shell, inside single quotes: it "
               "contains $), then restart the app.", err=True)


COMMANDS = [hash_password_cmd]
