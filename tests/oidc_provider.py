"""A small, real OpenID Connect provider on 127.0.0.1 for the sign-in tests.

It speaks what ``st.login`` (Authlib) uses: discovery
(``/.well-known/openid-configuration``), the authorization endpoint (a sign-in form where
the test types an e-mail address), authorization code + PKCE (S256 required: a request
without a code challenge, or a token request with the wrong verifier, is refused), the
token endpoint (client_secret_basic or _post) and JWKS. ID tokens are RS256 JWTs signed
with an RSA key generated for each run; they carry ``iss``, ``aud``, ``sub``, ``email``,
``email_verified``, ``name``, ``nonce``, ``iat`` and ``exp``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["OIDCProvider", "oidc_provider"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class OIDCProvider:
    """The provider's address, its one client, and what happened (for assertions)."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)
    key: Any = None
    kid: str = "test-key-1"
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": ["sub", "email", "email_verified", "name"],
        }

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                          "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}]}

    def id_token(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def claims_for(self, email: str, nonce: str | None) -> dict[str, Any]:
        now = int(time.time())
        name = email.split("@")[0].replace(".", " ").title()
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": hashlib.sha256(email.encode()).hexdigest()[:20],
                  "email": email, "email_verified": True, "name": name, "iat": now, "exp": now + 600}
        if nonce:
            claims["nonce"] = nonce
        return claims


_FORM = """<!doctype html><html><head><title>Test identity provider</title></head><body>
<h1>Sign in to the test identity provider</h1>
<form method="post" action="/authorize">{hidden}
<label for="email">E-mail address</label> <input id="email" name="email" type="email" autocomplete="off">
<button type="submit">Continue</button></form></body></html>"""


def _handler(provider: OIDCProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the test asserts on events
            return

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: dict[str, Any]) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif url.path == "/jwks":
                self._json(200, provider.jwks())
            elif url.path == "/authorize":
                self._authorize_form(query)
            else:
                self._json(404, {"error": "not_found"})

        def _authorize_form(self, query: dict[str, str]) -> None:
            problem = self._check_authorize(query)
            provider.events.append({"at": "authorize", "query": query, "problem": problem})
            if problem:
                self._send(400, f"bad authorization request: {problem}".encode(), "text/plain")
                return
            keep = ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "scope")
            hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(query.get(k, ""))}">' for k in keep)
            self._send(200, _FORM.format(hidden=hidden).encode(), "text/html; charset=utf-8")

        @staticmethod
        def _check_authorize(query: dict[str, str]) -> str:
            if query.get("response_type") != "code":
                return "response_type must be code"
            if query.get("client_id") != provider.client_id:
                return "unknown client"
            if query.get("redirect_uri") not in provider.redirect_uris:
                return "redirect_uri not registered"
            if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
                return "PKCE with S256 is required"
            if "openid" not in query.get("scope", "").split():
                return "scope must include openid"
            return ""

        def do_POST(self) -> None:  # noqa: N802
            path = urlparse(self.path).path
            form = self._form()
            if path == "/authorize":
                self._issue_code(form)
            elif path == "/token":
                self._token(form)
            else:
                self._json(404, {"error": "not_found"})

        def _issue_code(self, form: dict[str, str]) -> None:
            if form.get("redirect_uri") not in provider.redirect_uris or not form.get("email"):
                self._send(400, b"bad sign-in form", "text/plain")
                return
            code = secrets.token_urlsafe(24)
            provider.codes[code] = {**form, "issued": time.time()}
            target = f"{form['redirect_uri']}?{urlencode({'code': code, 'state': form.get('state', '')})}"
            self._send(302, b"", "text/plain", {"Location": target})

        def _client_ok(self, form: dict[str, str]) -> bool:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            else:
                client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            from urllib.parse import unquote

            return unquote(client_id) == provider.client_id and unquote(secret) == provider.client_secret

        def _token(self, form: dict[str, str]) -> None:
            grant = provider.codes.pop(form.get("code", ""), None)  # one use only
            verifier = form.get("code_verifier", "")
            challenge = _b64url(hashlib.sha256(verifier.encode()).digest()) if verifier else ""
            checks = {"client": self._client_ok(form), "grant_type": form.get("grant_type") == "authorization_code",
                      "code": grant is not None and time.time() - grant["issued"] < 120,
                      "redirect_uri": grant is not None and form.get("redirect_uri") == grant["redirect_uri"],
                      "pkce": grant is not None and bool(verifier) and challenge == grant["code_challenge"]}
            provider.events.append({"at": "token", "checks": checks})
            if not all(checks.values()) or grant is None:
                self._json(400, {"error": "invalid_grant", "error_description": ", ".join(k for k, ok in checks.items() if not ok)})
                return
            token = provider.id_token(provider.claims_for(grant["email"], grant.get("nonce") or None))
            self._json(200, {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 600,
                             "id_token": token, "scope": grant.get("scope", "openid")})

    return Handler


@pytest.fixture
def oidc_provider() -> Iterator[OIDCProvider]:
    """A running provider on a free port of 127.0.0.1 (the test registers its redirect URI)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    provider = OIDCProvider(issuer=f"http://127.0.0.1:{port}", client_id="cto-assistant-test",
                            client_secret=secrets.token_urlsafe(24),
                            key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    server.RequestHandlerClass = _handler(provider)
    thread = threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
