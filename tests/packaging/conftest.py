"""Fixtures: what scripts/dist built, and one MCP round trip through an installed package."""

import json
import os
import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[2]
# The interop tests' process helpers (free ports, the mock Smooth API).
sys.path.insert(0, str(ROOT / "tests" / "python"))

DEFAULT_TOOLS = {
    "run_browser_task", "get_task", "answer_tool_call", "cancel_task", "open_session",
    "session_action", "list_sessions", "usage", "upload_file", "delete_file", "download_files",
    "create_profile", "list_profiles", "delete_profile",
}


@pytest.fixture(scope="session")
def dist() -> Path:
    path = Path(os.environ.get("SMOOTH_MCP_DIST", ROOT / "target" / "dist"))
    if not (path / "server.json").exists():
        pytest.fail(f"{path} holds no packages: run tests/packaging/run (it runs scripts/dist first)")
    return path


@pytest.fixture(scope="session")
def version(dist) -> str:
    return json.loads((dist / "server.json").read_text())["version"]


def only(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


async def initialize_and_list(command: str, args: list[str], env: dict[str, str], cwd: Path | None = None):
    """Starts an installed server as an MCP host would and returns (serverInfo, tool names)."""
    params = StdioServerParameters(command=command, args=args, env=env, cwd=cwd)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            return init.server_info, tools
