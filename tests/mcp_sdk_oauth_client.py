"""The official MCP Python SDK's OAuth client (`mcp` on PyPI) against the connector.

Run by tests/mcp_auth.rs: `python3 mcp_sdk_oauth_client.py <base>/mcp`. The SDK's
`OAuthClientProvider` meets a 401 at /mcp (a `tools/call` of get_profile), reads the
protected resource metadata it names (RFC 9728), discovers the authorization server
metadata, registers itself (RFC 7591, a public client with a loopback redirect), and sends
the person to the authorization URL: this script prints `AUTHORIZE <url>` and reads the URL
the browser was redirected to from stdin (the Rust test plays the person through the real
pages). The SDK then checks `state` and `iss`, exchanges the code with its PKCE verifier
and `resource` (RFC 8707: the token's audience is /mcp), retries the call with the token, and later refreshes. Each outcome is one line:
`RESULT <json>`.
"""

import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlparse

import anyio
import httpx2
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def redirect_handler(url: str) -> None:
    print(f"AUTHORIZE {url}", flush=True)


async def callback_handler() -> AuthorizationCodeResult:
    line = await anyio.to_thread.run_sync(sys.stdin.readline)
    query = parse_qs(urlparse(line.strip()).query)
    first = lambda name: query.get(name, [None])[0]  # noqa: E731
    return AuthorizationCodeResult(code=first("code") or "", state=first("state"), iss=first("iss"))


# A streamable-HTTP MCP POST: one JSON-RPC message, either answer form accepted.
MCP_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}


def call_get_profile(request_id: int) -> dict:
    """`tools/call` of get_profile: the server is stateless, so no session is needed first."""
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "get_profile", "arguments": {}}}


def result(**fields: object) -> None:
    print("RESULT " + json.dumps(fields), flush=True)


async def main(protected_url: str) -> None:
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=protected_url,
        client_metadata=OAuthClientMetadata(
            client_name="MCP SDK test client",
            redirect_uris=["http://127.0.0.1:33418/callback"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope="mcp:invoke wallet:read profile",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=30) as client:
        response = await client.post(protected_url, json=call_get_profile(1), headers=MCP_HEADERS)
        result(
            step="linked",
            status=response.status_code,
            client_id=storage.client_info.client_id if storage.client_info else None,
            auth_method=storage.client_info.token_endpoint_auth_method if storage.client_info else None,
            body=response.json() if response.status_code == 200 else response.text,
        )
        first_refresh = storage.tokens.refresh_token if storage.tokens else None
        # The access token has expired (as far as the SDK knows): it refreshes first.
        provider.context.token_expiry_time = time.time() - 1
        response = await client.post(protected_url, json=call_get_profile(2), headers=MCP_HEADERS)
        refreshed = storage.tokens.refresh_token if storage.tokens else None
        result(step="refreshed", status=response.status_code, rotated=bool(refreshed and refreshed != first_refresh))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
