"""Interop: the official Python MCP SDK drives smooth-mcp over stdio."""

import json
import urllib.request

import jsonschema
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

CORE = {"run_browser_task", "get_task", "cancel_task", "open_session", "session_action", "upload_file"}


def params(bin_path, *args, env=None):
    return StdioServerParameters(
        command=bin_path, args=["--poll-interval", "0.1", *args], env=env or {}
    )


def structured(result):
    assert not result.is_error, result.content
    return result.structured_content


async def test_initialize_list_and_a_task_round_trip(bin_path):
    async with stdio_client(params(bin_path, "--mock")) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.server_info.name == "smooth-mcp"
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert CORE <= set(tools), set(tools)
            schema = tools["run_browser_task"].output_schema

            first = structured(
                await session.call_tool(
                    "run_browser_task",
                    {"task": "interop [mock:duration=2s]", "wait_seconds": 0},
                )
            )
            jsonschema.validate(first, schema)
            assert first["status"] in ("waiting", "running")
            assert "get_task" in first["next_step"]

            done = first
            for _ in range(30):
                done = structured(
                    await session.call_tool(
                        "get_task", {"task_id": first["task_id"], "wait_seconds": 5}
                    )
                )
                jsonschema.validate(done, tools["get_task"].output_schema)
                if done["status"] == "done":
                    break
            assert done["status"] == "done"
            assert "interop" in done["output"]
            # The text block carries the same JSON for clients that ignore structured content.
            assert json.loads(
                next(c.text for c in (await session.call_tool(
                    "get_task", {"task_id": first["task_id"], "wait_seconds": 0}
                )).content if c.type == "text")
            )["task_id"] == first["task_id"]


async def test_progress_reaches_a_progress_callback(bin_path):
    # Its absence without a progress token is checked in tests/long_running.rs (raw JSON-RPC).
    async with stdio_client(params(bin_path, "--mock", "--heartbeat-seconds", "0.3")) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            seen = []

            async def on_progress(progress, total, message):
                seen.append((progress, message))

            result = await session.call_tool(
                "run_browser_task",
                {"task": "with progress [mock:duration=1500ms]", "wait_seconds": 20},
                progress_callback=on_progress,
            )
            assert structured(result)["status"] == "done"
            assert len(seen) >= 2, seen
            assert [p for p, _ in seen] == sorted({p for p, _ in seen}), "strictly increasing"
            assert "live.mock.smooth.sh" in seen[0][1]


async def test_session_against_an_external_mock(bin_path, mock_url):
    env = {"SMOOTH_BASE_URL": mock_url, "SMOOTH_API_KEY": "py-key"}
    async with stdio_client(params(bin_path, env=env)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            opened = structured(await session.call_tool("open_session", {"url": "https://example.com"}))
            sid = opened["session_id"]
            title = structured(
                await session.call_tool(
                    "session_action", {"session_id": sid, "action": "evaluate_js", "js": "document.title"}
                )
            )
            assert "example.com" in title["output"]
            closed = structured(await session.call_tool("session_action", {"session_id": sid, "action": "close"}))
            assert closed["output"] is True
    control = mock_url.replace("/api/v1", "/_mock/requests")
    requests = json.load(urllib.request.urlopen(control))
    assert {r["apikey"] for r in requests} == {"py-key"}
    assert any(r["method"] == "POST" and r["path"] == "/task" for r in requests)


async def test_bad_input_is_a_tool_error_and_the_server_stays_up(bin_path):
    async with stdio_client(params(bin_path, "--mock")) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            bad = await session.call_tool("run_browser_task", {"task": "x", "max_steps": 1000})
            assert bad.is_error
            assert "max_steps" in bad.content[0].text
            bad = await session.call_tool("session_action", {"session_id": "s", "action": "goto"})
            assert bad.is_error and "url" in bad.content[0].text
            ok = await session.call_tool("run_browser_task", {"task": "fine [mock:duration=200ms]"})
            assert structured(ok)["status"] == "done"


async def test_modern_discover_lifecycle(bin_path):
    """mcp 2.x in auto mode tries server/discover (2026-07-28) first."""
    from mcp import Client

    async with Client(params(bin_path, "--mock"), mode="auto") as client:
        tools = await client.list_tools()
        assert CORE <= {t.name for t in tools.tools}
        result = await client.call_tool("run_browser_task", {"task": "modern [mock:duration=200ms]"})
        assert result.structured_content["status"] == "done"
