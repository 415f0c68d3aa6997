"""The official MCP Python SDK (`mcp` on PyPI) as a client of the connector's /mcp.

Run by tests/mcp_server.rs: `python tests/mcp_client.py <base>/mcp` with the access token
in MCP_TOKEN. Initializes over streamable HTTP, lists the tools, calls every read tool
(and swap_execute, whose approval get_swap_status then reads), makes one call with bad
arguments, and prints a JSON report on stdout for the Rust test to judge.
"""

import asyncio
import importlib.metadata
import json
import os
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

# The SDK's 1.x line runs on httpx and names fields in camel case; 2.x on httpx2, in snake
# case. Either may be what .venv holds.
SDK_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])
if SDK_MAJOR >= 2:
    import httpx2 as httpx
else:
    import httpx

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def field(model, snake, camel):
    return getattr(model, snake) if hasattr(model, snake) else getattr(model, camel)


def outcome(result):
    return {
        "is_error": bool(field(result, "is_error", "isError")),
        "structured": field(result, "structured_content", "structuredContent"),
    }


async def main(url: str, token: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http, terminate_on_close=False) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                tools = await session.list_tools()
                called = {}

                async def call(name, arguments):
                    called[name] = outcome(await session.call_tool(name, arguments))
                    return called[name]["structured"]

                await call("get_profile", {})
                await call("get_portfolio", {})
                resolved = await call("resolve_token", {"query": "SOL", "limit": 2})
                await call("search", {"query": "solana validators"})
                await call("get_alerts", {})
                await call("get_receipt", {"receipt_id": resolved["receipt_ids"][0]})
                swap = {"input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1.0}
                pending = await call("swap_execute", swap)
                await call("get_swap_status", {"approval_id": pending["approval_id"]})
                refused = outcome(await session.call_tool("resolve_token", {"query": "SOL", "limit": 99}))
                return {
                    "sdk": importlib.metadata.version("mcp"),
                    "protocol_version": field(init, "protocol_version", "protocolVersion"),
                    "tools": [tool.name for tool in tools.tools],
                    "called": called,
                    "refused": refused,
                }


if __name__ == "__main__":
    report = asyncio.run(main(sys.argv[1], os.environ["MCP_TOKEN"]))
    json.dump(report, sys.stdout)
