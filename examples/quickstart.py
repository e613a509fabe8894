"""Drive smooth-mcp with the official Python MCP SDK against the embedded mock.

    pip install mcp
    cargo build
    python examples/quickstart.py [path/to/smooth-mcp]

Runs one browser task and one interactive session; every result is simulated (no account,
nothing billed). Point it at the real API by dropping --mock and setting SMOOTH_API_KEY.
"""

import asyncio
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(binary: str) -> None:
    server = StdioServerParameters(command=binary, args=["--mock"])
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            info = await session.initialize()
            print(f"connected to {info.server_info.name} {info.server_info.version}")
            tools = await session.list_tools()
            print("tools:", ", ".join(t.name for t in tools.tools))

            async def progress(value, total, message):
                print(f"  progress {value:.0f}: {message}")

            task = await session.call_tool(
                "run_browser_task",
                {
                    "task": "Find the top story on Hacker News [mock:duration=3s]",
                    "response_model": {
                        "type": "object",
                        "properties": {"title": {"type": "string"}, "points": {"type": "integer"}},
                    },
                    "wait_seconds": 30,
                },
                progress_callback=progress,
            )
            print("task result:", task.structured_content)

            opened = (await session.call_tool("open_session", {"url": "https://example.com"})).structured_content
            sid = opened["session_id"]
            print("session:", sid, "live view:", opened.get("live_url"))
            for action in (
                {"action": "evaluate_js", "js": "document.title"},
                {"action": "extract", "schema": {"type": "object", "properties": {"heading": {"type": "string"}}}},
                {"action": "run_task", "task": "Click the first link and summarise the page"},
                {"action": "close"},
            ):
                result = await session.call_tool("session_action", {"session_id": sid, **action})
                print(f"{action['action']}:", result.structured_content or result.content[0].text)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/smooth-mcp"))
