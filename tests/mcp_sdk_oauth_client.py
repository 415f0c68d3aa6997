"""The official MCP Python SDK (`mcp` on PyPI) as an agent that links a Dexter account.

Run by tests/mcp_auth.rs:

    python mcp_sdk_oauth_client.py <base>/mcp register
    python mcp_sdk_oauth_client.py <base>/mcp document <client metadata document URL>

The SDK's `OAuthClientProvider` meets a 401 at /mcp, reads the protected resource metadata
the challenge names (RFC 9728), discovers the authorization server metadata and then either
registers itself (`register`: RFC 7591, a public client with a loopback redirect) or names
itself by the URL of its client ID metadata document (`document`: no registration). It runs
PKCE S256 with `resource=<base>/mcp` (RFC 8707) through the real pages and checks `state`
and `iss` (RFC 9207). Then, through the SDK's `ClientSession` over streamable HTTP, the agent
initializes, lists the tools and calls every one of them; it refreshes; and after the person
revokes the link in Dexter it finds itself sent back to sign in.

The conversation with the Rust test is line by line. The script prints:

    AUTHORIZE <url>       the person should authorize; the test answers with the URL the
                          browser was sent back to, or `STOP` to refuse
    APPROVAL <id>         swap_execute asked for an approval; the test answers `APPROVED`
                          once the person approved it in Dexter
    LINKED                every tool was called; the test answers `REVOKED` once the person
                          revoked the link in Dexter
    RESULT <json>         one outcome for the test to judge

The SDK accepts only `https` client ID metadata document URLs. The test serves its document
from `http://127.0.0.1` (which only `connector serve`'s local mode fetches), so that one URL
check is widened to loopback http; everything else is the SDK as shipped.
"""

import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlparse

import anyio
import httpx2
import mcp.client.auth.oauth2 as sdk_oauth
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
REDIRECT_URI = "http://127.0.0.1:33418/callback"
CLIENT_NAME = "MCP SDK test client"

_sdk_url_check = sdk_oauth.is_valid_client_metadata_url
sdk_oauth.is_valid_client_metadata_url = lambda url: _sdk_url_check(url) or (
    url is not None and url.startswith("http://127.0.0.1:") and urlparse(url).path not in ("", "/")
)


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


class Refused(Exception):
    """The person did not authorize (the test answered STOP)."""


def say(line: str) -> None:
    print(line, flush=True)


async def hear() -> str:
    return (await anyio.to_thread.run_sync(sys.stdin.readline)).strip()


def result(**fields: object) -> None:
    say("RESULT " + json.dumps(fields))


async def redirect_handler(url: str) -> None:
    say(f"AUTHORIZE {url}")


async def callback_handler() -> AuthorizationCodeResult:
    line = await hear()
    if line == "STOP":
        raise Refused()
    query = parse_qs(urlparse(line).query)
    first = lambda name: query.get(name, [None])[0]  # noqa: E731
    return AuthorizationCodeResult(code=first("code") or "", state=first("state"), iss=first("iss"))


def outcome(call_result) -> dict:
    return {"is_error": bool(call_result.is_error), "structured": call_result.structured_content}


async def call_every_tool(session: ClientSession) -> dict:
    """Calls every tool the server lists, in an order where each can use what came before."""
    called: dict[str, dict] = {}

    async def call(name: str, arguments: dict) -> dict:
        called[name] = outcome(await session.call_tool(name, arguments))
        return called[name]["structured"] or {}

    await call("get_profile", {})
    await call("get_portfolio", {})
    resolved = await call("resolve_token", {"query": "SOL", "limit": 2})
    await call("search", {"query": "solana validators"})
    await call("create_alert", {"mint": SOL, "kind": "price", "direction": "above", "threshold": 250.0})
    await call("get_alerts", {})
    await call("get_receipt", {"receipt_id": resolved["receipt_ids"][0]})
    swap = {"input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 0.5}
    await call("swap_preview", swap)
    pending = await call("swap_execute", {**swap, "idempotency_key": "sdk-agent-swap-1"})
    say(f"APPROVAL {pending['approval_id']}")
    if await hear() != "APPROVED":
        raise RuntimeError("the test did not approve the swap")
    await call("get_swap_status", {"approval_id": pending["approval_id"]})
    await call("handoff_voice", {"context": "Walk me through my portfolio.", "topic": "portfolio"})
    return called


async def main(protected_url: str, mode: str, document_url: str | None) -> None:
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=protected_url,
        client_metadata=OAuthClientMetadata(
            client_name=CLIENT_NAME,
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope="mcp:invoke wallet:read profile",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=document_url if mode == "document" else None,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with streamable_http_client(protected_url, http_client=http, terminate_on_close=False) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                init = await session.initialize()
                tools = await session.list_tools()
                called = await call_every_tool(session)
                result(
                    step="linked",
                    client_id=storage.client_info.client_id if storage.client_info else None,
                    auth_method=storage.client_info.token_endpoint_auth_method if storage.client_info else None,
                    protocol_version=init.protocol_version,
                    tools=[tool.name for tool in tools.tools],
                    called=called,
                )

                # As far as the SDK knows the access token has expired: it refreshes first.
                first_refresh = storage.tokens.refresh_token if storage.tokens else None
                provider.context.token_expiry_time = time.time() - 1
                profile = outcome(await session.call_tool("get_profile", {}))
                refreshed = storage.tokens.refresh_token if storage.tokens else None
                result(step="refreshed", rotated=bool(refreshed and refreshed != first_refresh), profile=profile)

    say("LINKED")
    if await hear() != "REVOKED":
        raise RuntimeError("the test did not revoke the link")
    # The revoked token meets a 401; the SDK cannot refresh a revoked grant either, so it
    # sends the person back to sign in (the test answers STOP).
    asked_again = False
    try:
        async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
            async with streamable_http_client(protected_url, http_client=http, terminate_on_close=False) as streams:
                async with ClientSession(streams[0], streams[1]) as session:
                    await session.initialize()
                    await session.call_tool("get_profile", {})
    except BaseException as error:  # the transport wraps the refusal in task-group errors
        asked_again = "Refused" in repr(error) or isinstance(error, Refused)
    result(step="revoked", asked_to_sign_in_again=asked_again)


if __name__ == "__main__":
    mode = sys.argv[2] if len(sys.argv) > 2 else "register"
    asyncio.run(main(sys.argv[1], mode, sys.argv[3] if len(sys.argv) > 3 else None))
