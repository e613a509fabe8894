"""A third, independent client: the MCP Inspector CLI (TypeScript SDK).

`.ci/run` installs it under target/npm; the test is skipped only when it is not installed
and this is not CI (a developer running pytest by hand without it)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT

INSPECTOR = Path(os.environ.get("SMOOTH_MCP_INSPECTOR", ROOT / "target" / "npm" / "node_modules" / ".bin" / "mcp-inspector"))

pytestmark = pytest.mark.skipif(
    not INSPECTOR.exists() and not os.environ.get("CI"),
    reason="MCP Inspector not installed (see .ci/run)",
)


def inspector(bin_path, *args):
    done = subprocess.run(
        [str(INSPECTOR), "--cli", bin_path, "--mock", "--mcp-tasks", "off", *args, "--format", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def test_inspector_lists_tools_and_runs_a_task(bin_path):
    code, listed, err = inspector(bin_path, "--method", "tools/list")
    assert code == 0, err
    names = {t["name"] for t in listed["result"]["tools"]}
    assert {"run_browser_task", "get_task", "session_action"} <= names

    code, result, err = inspector(
        bin_path,
        "--method", "tools/call",
        "--tool-name", "run_browser_task",
        "--tool-args-json", json.dumps({"task": "inspected [mock:duration=500ms]", "wait_seconds": 20}),
    )
    assert code == 0, err
    assert result["result"]["structuredContent"]["status"] == "done"


def test_inspector_sees_bad_input_as_a_tool_error(bin_path):
    code, result, err = inspector(
        bin_path,
        "--method", "tools/call",
        "--tool-name", "session_action",
        "--tool-args-json", json.dumps({"session_id": "s", "action": "goto"}),
    )
    # Exit code 5 is the inspector's "tool error".
    assert code == 5, (code, err)
    assert result["result"]["isError"] is True
    assert "needs `url`" in result["result"]["content"][0]["text"]
