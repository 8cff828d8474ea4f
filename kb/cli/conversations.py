"""``kb conversations``: retention and deletion requests for the saved conversations."""

from __future__ import annotations

import click

from kb.cli.common import configure_logging, friendly_errors, load_settings


def _open():  # type: ignore[no-untyped-def]
    from kb.governance.conversations import Conversations

    configure_logging("WARNING")
    settings = load_settings(use_running_server=False)
    return settings, Conversations(settings.data_dir)


@click.group("conversations", epilog="""\b
Examples:
  kb conversations prune                     delete those unused for CTO_CONVERSATION_RETENTION_DAYS
  kb conversations prune --older-than 30
  kb conversations users
  kb conversations delete-user pat@district.org --yes
""")
def conversations() -> None:
    """Saved conversations: prune old ones, list users, delete one user's history."""


@conversations.command("prune")
@click.option("--older-than", "days", type=click.IntRange(min=1), default=None,
              help="Days without use; default CTO_CONVERSATION_RETENTION_DAYS.")
@friendly_errors
def prune(days: int | None) -> None:
    """Delete conversations not used for the retention period."""
    settings, store = _open()
    days = days or settings.conversation_retention_days
    count = store.prune(days)
    click.echo(f"deleted {count} conversation{'s' if count != 1 else ''} unused for more than {days} days")


@conversations.command("users")
@friendly_errors
def users() -> None:
    """Every user with saved conversations, and how many."""
    _, store = _open()
    rows = store.users()
    if not rows:
        click.echo("No saved conversations.")
    for user, count in rows:
        click.echo(f"{count:>5}  {user}")


@conversations.command("delete-user")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@friendly_errors
def delete_user(user: str, yes: bool) -> None:
    """Delete every conversation of USER (their sign-in e-mail), with the feedback and audit records of their answers."""
    from kb.governance.conversations import forget_user
    from kb.governance.journal import Journal

    settings, store = _open()
    if not yes:
        click.confirm(f"Delete every saved conversation of {user}?", abort=True)
    done = forget_user(store, Journal(settings.data_dir), user.strip().lower())
    click.echo(f"deleted {done['conversations']} conversations and {done['records']} feedback and audit records of {user}")


COMMANDS = [conversations]
