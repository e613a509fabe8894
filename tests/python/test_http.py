"""smooth-mcp over Streamable HTTP, driven by the official Python MCP SDK.

Starts the binary (env SMOOTH_MCP_BIN, default target/debug/smooth-mcp) with
`--transport http` against its own mock (`smooth-mcp mock --listen ...`), in session
mode and in stateless mode, and checks: initialize, tools/list, a run_browser_task ->
get_task round trip, and progress notifications. Also the 2026-07-28 `server/discover`
lifecycle (mcp.Client in auto mode), and that the bearer token is required.

Process helpers are shared with the other interop tests (helpers.py); this file's fixtures
start with http_.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from mcp import ClientSession
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from helpers import free_port, minimal_env, mock_api, serving

TOKEN = "py-test-token-0b9c7d5e3f1a"


@pytest.fixture(scope="module")
def http_mock_url(bin_path):
    with mock_api(bin_path) as url:
        yield url


@pytest.fixture(scope="module", params=["sessions", "stateless"])
def http_server(request, bin_path, http_mock_url):
    port = free_port()
    args = [
        bin_path,
        "--transport", "http",
        "--listen", f"127.0.0.1:{port}",
        "--auth-token", TOKEN,
        "--poll-interval", "0.1",
        "--heartbeat-seconds", "0.2",
    ]
    if request.param == "stateless":
        args.append("--stateless")
    env = minimal_env(SMOOTH_BASE_URL=http_mock_url, SMOOTH_API_KEY="py-key")
    with serving(args, f"http://127.0.0.1:{port}/healthz", env):
        yield f"http://127.0.0.1:{port}/mcp"


def _http(token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return create_mcp_http_client(headers=headers)


def _structured(result) -> dict:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def _task_round_trip(call_tool) -> list[tuple[float, str | None]]:
    """run_browser_task returns at once with a task id; get_task waits for the result."""
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    started = _structured(
        await call_tool(
            "run_browser_task",
            {"task": "Find the title of https://example.com", "wait_seconds": 0},
        )
    )
    assert started["status"] in ("waiting", "running"), started
    task_id = started["task_id"]
    assert "get_task" in started.get("next_step", ""), started

    done = _structured(
        await call_tool(
            "get_task",
            {"task_id": task_id, "wait_seconds": 30},
            progress_callback=on_progress,
        )
    )
    assert done["task_id"] == task_id
    assert done["status"] == "done", done
    assert done.get("output"), done
    return progress


def test_session_initialize_list_task_and_progress(http_server):
    async def main():
        async with _http() as http, streamable_http_client(http_server, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                assert init.server_info.name == "smooth-mcp"
                tools = {t.name for t in (await session.list_tools()).tools}
                assert {"run_browser_task", "get_task", "cancel_task", "open_session", "session_action"} <= tools
                progress = await _task_round_trip(session.call_tool)
        assert progress, "no progress notifications arrived"
        values = [v for v, _ in progress]
        assert values == sorted(values), f"progress must not go backwards: {values}"
        assert any(m and "task" in m.lower() for _, m in progress), progress

    asyncio.run(main())


def test_discover_lifecycle_round_trip(http_server):
    """mcp.Client in auto mode probes server/discover (2026-07-28), served statelessly."""

    async def main():
        async with _http() as http:
            transport = streamable_http_client(http_server, http_client=http)
            async with Client(transport, mode="auto") as client:
                tools = {t.name for t in (await client.list_tools()).tools}
                assert "run_browser_task" in tools
                progress = await _task_round_trip(client.call_tool)
        assert progress, "no progress notifications arrived"

    asyncio.run(main())


def test_token_is_required(http_server):
    async def main():
        async with _http(token="not-the-token-000000") as http:
            r = await http.post(
                http_server,
                content=b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
                headers={"content-type": "application/json", "accept": "application/json, text/event-stream"},
            )
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Bearer")

    asyncio.run(main())
