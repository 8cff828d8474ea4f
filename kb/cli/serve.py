"""``kb serve`` (the HTTP API) and ``kb token create|list|revoke`` (who may call it)."""

from __future__ import annotations

import json

import click

from kb.cli.common import configure_logging, friendly_errors, load_settings


@click.command("serve", epilog="""\b
Examples:
  kb token create helpdesk-bot
  kb serve --port 8080
  kb serve --host 127.0.0.1 --port 8080 --workers 4
  curl -H "Authorization: Bearer $TOKEN" -d '{"question": "What is E-Rate?"}' http://127.0.0.1:8080/v1/ask
""")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (keep 127.0.0.1 behind a reverse proxy).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes; each loads the model once (~300 MB) and answers one question at a time.")
@click.option("--worker-timeout", default=60, show_default=True, type=click.IntRange(1, 3600),
              help="Seconds a busy worker may take to answer the supervisor's health check before it is restarted.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="Server log level.")
@friendly_errors
def serve(host: str, port: int, workers: int, worker_timeout: int, log_level: str) -> None:
    """Serve the knowledge base over HTTP: /v1/ask, OpenAI-compatible /v1/chat/completions, /v1/documents,
    /healthz and /metrics. Every /v1/ request needs a token from `kb token create`."""
    import uvicorn

    from kb.governance.tokens import TokenStore

    settings = load_settings()
    configure_logging(log_level)
    if not any(not r.revoked for r in TokenStore(settings.data_dir).records()):
        click.echo("warning: no live API token yet, so every /v1/ request will get 401: make one with "
                   "`kb token create NAME`", err=True)
    click.echo(f"serving on http://{host}:{port} with {workers} worker(s); Ctrl-C stops", err=True)
    uvicorn.run("kb.server.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=log_level in ("info", "debug"), proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", server_header=False,
                # uvicorn's default of 5 s restarted workers that were busy answering on loaded CPUs,
                # dropping their requests (measured: 21 errors of 256 under 32 clients)
                timeout_worker_healthcheck=worker_timeout,
                # Ctrl-C or systemd's stop waited for ever while a worker was still busy (a question on a loaded
                # machine): in-flight requests get this long to finish, then the workers are stopped
                timeout_graceful_shutdown=30)


@click.group("token")
def token() -> None:
    """Make, list and revoke the tokens of the HTTP API (only their hashes are stored)."""


@token.command("create")
@click.argument("name")
@click.option("--rate", type=click.IntRange(1, 100_000), help="Requests per minute (default: CTO_API_RATE_PER_MINUTE).")
@friendly_errors
def token_create(name: str, rate: int | None) -> None:
    """Make a token called NAME; it is printed once, alone on the last line: copy it now."""
    from kb.governance.tokens import TokenStore

    settings = load_settings()
    store = TokenStore(settings.data_dir)
    secret = store.create(name, rate_per_minute=rate or settings.api_rate_per_minute)
    click.echo(f"token {name!r} created ({rate or settings.api_rate_per_minute} requests a minute). It is shown "
               "only now; send it as 'Authorization: Bearer <token>':", err=True)
    click.echo(secret)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
@friendly_errors
def token_list(as_json: bool) -> None:
    """List the tokens: name, created, rate, revoked (never the tokens themselves)."""
    from dataclasses import asdict

    from kb.governance.tokens import TokenStore

    records = TokenStore(load_settings().data_dir).records()
    if as_json:
        click.echo(json.dumps([{k: v for k, v in asdict(r).items() if k != "sha256"} for r in records], indent=2))
        return
    if not records:
        click.echo("No API tokens. Make one with: kb token create NAME")
    for r in records:
        state = f"revoked {r.revoked_at}" if r.revoked else "live"
        click.echo(f"{r.name}  created {r.created_at}  {r.rate_per_minute}/min  {state}")


@token.command("revoke")
@click.argument("name")
@friendly_errors
def token_revoke(name: str) -> None:
    """Revoke the token NAME: its requests get 403 from the next request on, in every worker."""
    from kb.governance.tokens import TokenStore

    record = TokenStore(load_settings().data_dir).revoke(name)
    click.echo(f"token {name!r} revoked at {record.revoked_at}")


COMMANDS = [serve, token]
