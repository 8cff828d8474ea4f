"""The HTTP API (`kb serve`): ask, OpenAI-compatible chat, documents, health and metrics, behind tokens."""

from kb.server.app import create_app

__all__ = ["create_app"]
