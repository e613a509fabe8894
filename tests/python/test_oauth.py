"""OAuth sign-in with the Python MCP SDK's own OAuth client, end to end.

A local authorization server made here (RFC 8414 metadata, dynamic client registration,
authorization code with PKCE, RS256 JWTs, a JWKS) signs users in; smooth-mcp runs with
`--oauth-issuer` pointing at it. The SDK's `OAuthClientProvider` starts with no token, gets
401, reads the protected resource metadata smooth-mcp serves, discovers the authorization
server, registers, authorizes (the "browser" is an HTTP GET that reads the redirect), trades
the code for a token and retries — as a hosted MCP client would. smooth-mcp then checks that
token against the issuer's keys.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from helpers import free_port, minimal_env, serving

SCOPE = "mcp:tools"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never reached: the test reads the redirect itself


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AuthorizationServer:
    """Just enough of an OAuth 2.1 authorization server for one MCP client to sign in."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.calls: list[str] = []
        self.clients: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.tokens: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def metadata(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "registration_endpoint": f"{self.issuer}/register",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": [SCOPE],
        }

    def jwks(self) -> dict:
        numbers = self.key.public_key().public_numbers()

        def b64int(n: int) -> str:
            return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {"keys": [{"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
                          "n": b64int(numbers.n), "e": b64int(numbers.e)}]}

    def register(self, body: dict) -> tuple[int, dict]:
        client_id = secrets.token_hex(8)
        client = {**body, "client_id": client_id, "client_id_issued_at": int(time.time()),
                  "token_endpoint_auth_method": "none"}
        self.clients[client_id] = client
        return 201, client

    def authorize(self, query: dict[str, str]) -> str:
        """The user "approves" at once: the redirect back to the client, with a code."""
        client = self.clients[query["client_id"]]
        assert query["redirect_uri"] in client["redirect_uris"]
        assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def token(self, form: dict[str, str]) -> tuple[int, dict]:
        asked = self.codes.pop(form.get("code", ""), None)
        if asked is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if _b64url(hashlib.sha256(form["code_verifier"].encode()).digest()) != asked["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier mismatch"}
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "ada", "aud": asked.get("resource") or form.get("resource"),
                  "scope": asked.get("scope", ""), "iat": now, "nbf": now, "exp": now + 600}
        access = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        self.tokens.append(access)
        return 200, {"access_token": access, "token_type": "Bearer", "expires_in": 600,
                     "scope": claims["scope"]}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                server.calls.append(f"GET {url.path}")
                if url.path in ("/.well-known/oauth-authorization-server",
                                "/.well-known/openid-configuration"):
                    self._json(200, server.metadata())
                elif url.path == "/jwks":
                    self._json(200, server.jwks())
                elif url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    self.send_response(302)
                    self.send_header("Location", server.authorize(query))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                server.calls.append(f"POST {url.path}")
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                if url.path == "/register":
                    self._json(*server.register(json.loads(raw)))
                elif url.path == "/token":
                    self._json(*server.token({k: v[0] for k, v in parse_qs(raw).items()}))
                else:
                    self._json(404, {"error": "not_found"})

        return Handler


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@pytest.fixture
def authorization_server():
    server = AuthorizationServer()
    yield server
    server.close()


def test_the_sdk_signs_in_through_the_issuer_and_calls_a_tool(bin_path, authorization_server, tmp_path):
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    args = [bin_path, "--mock", "--transport", "http", "--listen", f"127.0.0.1:{port}",
            "--oauth-issuer", authorization_server.issuer, "--public-url", public,
            "--oauth-required-scope", SCOPE]
    log = tmp_path / "server.log"
    redirects: list[str] = []

    async def open_in_browser(url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False) as browser:
            answer = await browser.get(url)
        assert answer.status_code == 302, answer.text
        redirects.append(answer.headers["location"])

    async def come_back() -> AuthorizationCodeResult:
        query = {k: v[0] for k, v in parse_qs(urlparse(redirects[-1]).query).items()}
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"))

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=f"{public}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="smooth-mcp interop test",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=open_in_browser,
        callback_handler=come_back,
    )

    async def main() -> None:
        async with create_mcp_http_client(auth=provider) as http, \
                streamable_http_client(f"{public}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {t.name for t in (await session.list_tools()).tools}
                assert "run_browser_task" in tools
                result = await session.call_tool("list_profiles", {})
                assert not result.is_error, result.content

    with open(log, "w") as stderr, serving(args, f"{public}/healthz", minimal_env(), stderr=stderr):
        asyncio.run(main())

    # The client went through the whole flow, once: discovery, registration, authorization, token.
    calls = authorization_server.calls
    for step in ("GET /.well-known/oauth-authorization-server", "POST /register", "GET /authorize",
                 "POST /token", "GET /jwks"):
        assert step in calls, calls
    assert calls.count("POST /token") == 1, calls
    assert storage.tokens is not None and storage.tokens.scope == SCOPE
    assert len(redirects) == 1
    # The token the server accepted never reached its log.
    text = log.read_text()
    assert authorization_server.tokens and all(t not in text for t in authorization_server.tokens)
